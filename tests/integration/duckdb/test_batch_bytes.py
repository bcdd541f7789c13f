"""``batch_bytes``: large rows are normalized in smaller batches, into the same tables.

The byte bound is counted where it shows on disk: every normalized batch is one or more record batches
of the package's Arrow IPC file (the package is kept, ``keep_packages=True``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.ipc as ipc
import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.flows import FlowsError


def pages() -> Iterator[list[dict[str, Any]]]:
    """500 records of about 2 KB as JSON, in pages of 25 (what a REST source yields)."""
    for start in range(0, 500, 25):
        yield [
            {"id": i, "text": "x" * 2000, "labels": [{"name": "a"}, {"name": f"b{i % 5}"}]}
            for i in range(start, start + 25)
        ]


def run(tmp_path: Path, name: str, **options: Any) -> tuple[int, dict[str, list[tuple[Any, ...]]]]:
    """One run of :func:`pages`: the record batches of the root table's package files, and the tables."""
    db = tmp_path / f"{name}.duckdb"
    p = hw.pipeline(
        name,
        destination=hw.destinations.duckdb(str(db)),
        dataset="d",
        pipelines_dir=tmp_path / "p",
        progress=False,
        keep_packages=True,
        **options,
    )
    p.run(hw.resource(pages, name="records")())
    files = list(p.workdir.completed.glob("*/data/records/*"))
    assert files
    batches = 0
    for path in files:
        with ipc.open_file(str(path)) as reader:
            batches += reader.num_record_batches
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {
            "records": con.execute("select id, text from d.records order by id").fetchall(),
            "labels": con.execute(
                "select r.id, l.name, l._hw_list_idx from d.records__labels l join d.records r "
                "on l._hw_parent_id = r._hw_id order by 1, 3"
            ).fetchall(),
        }
    return batches, tables


def test_a_byte_bound_cuts_large_rows_into_more_batches_of_the_same_tables(tmp_path: Path) -> None:
    by_rows, expected = run(tmp_path, "by_rows")
    by_bytes, tables = run(tmp_path, "by_bytes", batch_bytes=64 * 1024)
    assert by_rows == 1  # 500 rows, about 1 MB as JSON: one batch under the default bounds
    assert by_bytes >= 500 * 2_050 // (64 * 1024)  # about 31 rows a batch
    assert tables == expected
    assert len(tables["records"]) == 500 and len(tables["labels"]) == 1000


@pytest.mark.parametrize("value", [0, -1, 1.5, "16MB", True, None])
def test_batch_bytes_must_be_a_positive_integer(value: Any) -> None:
    with pytest.raises(ConfigError, match="batch_bytes must be a positive integer") as caught:
        hw.pipeline("ok", batch_bytes=value)
    assert "whichever comes first" in (caught.value.hint or "")


def test_a_flow_sets_batch_bytes_and_a_wrong_value_names_its_place(tmp_path: Path) -> None:
    flows = {
        "sources": {
            "api": {"type": "rest_api", "config": {"client": {"base_url": "http://127.0.0.1:9"}, "resources": ["r"]}}
        },
        "destinations": {"local": {"type": "duckdb", "config": {"path": str(tmp_path / "f.duckdb")}}},
        "flows": [{"name": "f", "from": "api", "to": "local", "pipeline": {"batch_bytes": 1_000_000}}],
    }
    [built] = hw.flows.load(flows).build(pipelines_dir=tmp_path / "p", claim=False)
    assert built.pipeline.batch_bytes == 1_000_000
    flows["flows"][0]["pipeline"] = {"batch_bytes": "1MB"}
    with pytest.raises(FlowsError, match=r"flows\[0\]\.pipeline\.batch_bytes: expected a positive integer, got '1MB'"):
        hw.flows.load(flows)
