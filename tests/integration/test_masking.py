"""Masked columns end to end: the clear values appear in no file of the working folder (packages kept,
a quarantined row included), in no table of the destination (DuckDB's file and tables, PostgreSQL's
text columns) and in no log record; hashes are stable across runs and processes and merge by key."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

import headwater as hw
from tests.pgserver import pg_query

CLEAR = ["alice@example.com", "bob@example.com", "carol@example.com", "Alice Liddell", "+33612345678", "a-secret-pet"]
COLUMNS: dict[str, Any] = {
    "email": {"mask": "hash"},
    "name": {"mask": "redact"},
    "phone": {"mask": {"partial": 4}},
    "customer__email": {"mask": "hash"},
    "pets__name": {"mask": "redact"},
}
REPO = Path(__file__).resolve().parents[2]
#: checks that fail on the masked values: their sample rows (manifest, _hw_checks, logs) must be masked too
CHECKS = [
    hw.checks.matches("email", "@example", severity="warn"),
    hw.checks.max_length("name", 1, severity="warn"),
    hw.checks.unique("customer__email", severity="warn"),
]


def _rows(first: int, email: str) -> list[dict[str, Any]]:
    return [
        {
            "id": first,
            "email": email,
            "name": "Alice Liddell",
            "phone": "+33612345678",
            "customer": {"email": "bob@example.com", "tier": "gold"},
            "pets": [{"name": "a-secret-pet", "kind": "cat"}],
        }
    ]


def _run_scenario(destination: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Any:
    """Two runs: the first creates the tables, the second quarantines a row with a new column."""
    p = hw.pipeline(
        "masked",
        destination=destination,
        dataset="raw",
        pipelines_dir=tmp_path / "pipes",
        progress=False,
        keep_packages=True,
        mask_key="k-1",
    )
    caplog.set_level(logging.DEBUG)
    first = p.run(_rows(1, "alice@example.com"), table_name="people", columns=COLUMNS, checks=CHECKS)
    late = _rows(2, "carol@example.com")
    late[0]["extra"] = "unmasked"  # a new column: quarantined with the whole row
    second = p.run(
        _rows(3, "carol@example.com") + late,
        table_name="people",
        columns=COLUMNS,
        schema_contract={"columns": "quarantine"},
        checks=CHECKS,
    )
    failed = {c.check for c in second.checks if not c.passed}
    assert failed == {"matches(email)", "max_length(name)", "unique(customer__email)"}
    assert all(c.samples for c in second.checks)
    for text in (str(first), str(second), caplog.text):
        assert not [c for c in CLEAR if c in text]
    return p


def _file_texts(root: Path) -> dict[Path, bytes]:
    """Every file under ``root``: its bytes, and for Arrow IPC and JSON files their decoded values too."""
    out: dict[Path, bytes] = {}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".arrow":
            with ipc.open_file(pa.OSFile(str(path))) as reader:
                data += json.dumps(reader.read_all().to_pylist(), default=str, ensure_ascii=False).encode()
        out[path] = data
    return out


def _leaks(texts: dict[Path, bytes]) -> list[tuple[str, str]]:
    return [(str(p), c) for p, data in texts.items() for c in CLEAR if c.encode() in data]


def test_clear_values_appear_nowhere_in_duckdb_and_the_working_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "masked.duckdb"
    p = _run_scenario(f"duckdb:///{db}", tmp_path, caplog)
    files = _file_texts(tmp_path / "pipes")
    assert any(f.suffix == ".arrow" for f in files), "keep_packages keeps the package files"
    assert _leaks(files) == []
    assert not [c for c in CLEAR if c.encode() in db.read_bytes()]
    quarantined = p.query("select row from _hw_quarantine").to_pylist()
    assert len(quarantined) == 1
    row = json.loads(quarantined[0]["row"])
    assert row["name"] == "***" and row["phone"] == "********5678" and len(row["email"]) == 64
    assert row["extra"] == "unmasked"  # an unmasked column keeps its value
    with duckdb.connect(str(db), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type in ('VARCHAR', 'JSON')"
        ).fetchall()
        assert len(columns) > 10
        for schema, table, col in columns:
            values = con.execute(f'select "{col}"::varchar from "{schema}"."{table}"').fetchall()
            found = [c for (v,) in values if v for c in CLEAR if c in v]
            assert found == [], (table, col)
    people = p.query("select email, name, phone, customer__email from people order by id").to_pylist()
    assert people[0]["name"] == "***" and people[0]["phone"] == "********5678"
    assert people[0]["customer__email"] != "bob@example.com" and len(people[0]["customer__email"]) == 64
    assert p.query("select name from people__pets").to_pylist() == [{"name": "***"}] * 2


def test_the_check_finds_clear_values_when_nothing_is_masked(tmp_path: Path) -> None:
    p = hw.pipeline("plain", dataset="raw", pipelines_dir=tmp_path / "pipes", progress=False, keep_packages=True)
    p.run(_rows(1, "alice@example.com"), table_name="people")
    assert _leaks(_file_texts(tmp_path / "pipes"))


def test_clear_values_appear_in_no_postgresql_column(
    pg_database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _run_scenario(pg_database, tmp_path, caplog)
    assert _leaks(_file_texts(tmp_path / "pipes")) == []
    columns = pg_query(
        pg_database,
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema = 'raw' and data_type in ('text', 'json', 'jsonb', 'character varying')",
    )
    assert len(columns) > 10
    for schema, table, col in columns:
        for (value,) in pg_query(pg_database, f'select "{col}"::text from "{schema}"."{table}"'):
            leaked = [c for c in CLEAR if value and c in value]
            assert leaked == [], (table, col)


_HASH_IN_A_PROCESS = """
import sys, headwater as hw
p = hw.pipeline("proc", destination="duckdb:///" + sys.argv[1] + "/p.duckdb", pipelines_dir=sys.argv[1], progress=False)
p.run([{"email": "alice@example.com"}], table_name="t", columns={"email": {"mask": "hash"}})
print(p.query("select email from t").to_pylist()[0]["email"])
"""


def _hash_in_a_process(folder: Path, key: str) -> str:
    env = {**os.environ, "HEADWATER_MASK_KEY": key, "PYTHONPATH": str(REPO)}
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _HASH_IN_A_PROCESS, str(folder)], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_hashes_are_stable_across_runs_and_processes(tmp_path: Path) -> None:
    p = hw.pipeline("stable", dataset="raw", pipelines_dir=tmp_path / "pipes", progress=False, mask_key="k-1")
    for _ in range(2):
        p.run([{"email": "alice@example.com"}], table_name="t", columns={"email": {"mask": "hash"}})
    ours = {r["email"] for r in p.query("select email from t").to_pylist()}
    assert len(ours) == 1
    assert _hash_in_a_process(tmp_path / "a", "k-1") == next(iter(ours))
    assert _hash_in_a_process(tmp_path / "b", "k-2") not in ours


def test_merge_on_a_hashed_primary_key_keeps_one_row_per_key(tmp_path: Path) -> None:
    p = hw.pipeline("merged", dataset="raw", pipelines_dir=tmp_path / "pipes", progress=False, mask_key="k-1")
    hints: dict[str, Any] = {
        "primary_key": "email",
        "write_disposition": "merge",
        "columns": {"email": {"mask": "hash"}},
    }
    p.run([{"email": "alice@example.com", "n": 1}, {"email": "bob@example.com", "n": 1}], table_name="t", **hints)
    p.run([{"email": "alice@example.com", "n": 2}], table_name="t", **hints)
    rows = p.query("select email, n from t order by n").to_pylist()
    assert [r["n"] for r in rows] == [1, 2]
    assert all(len(r["email"]) == 64 for r in rows)


def test_the_key_never_shows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key = "a-very-secret-mask-key"
    p = hw.pipeline("shown", dataset="raw", pipelines_dir=tmp_path / "pipes", progress=False, mask_key=key)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("headwater").warning("the key is %s", key)
    p.run([{"email": "alice@example.com"}], table_name="t", columns={"email": {"mask": "hash"}})
    assert key not in caplog.text
    assert not [f for f, data in _file_texts(tmp_path / "pipes").items() if key.encode() in data]


def test_flows_carry_the_hint_and_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    @hw.resource(name="people")
    def people() -> Any:
        yield {"email": "alice@example.com", "phone": "+33612345678"}

    monkeypatch.setenv("MY_MASK_KEY", "k-1")
    flows = hw.flows.load(
        {
            "sources": {"src": {"type": people}},
            "destinations": {"db": {"type": "duckdb", "config": {"path": str(tmp_path / "f.duckdb")}}},
            "flows": [
                {
                    "name": "masked",
                    "from": "src",
                    "to": "db",
                    "dataset": "raw",
                    "columns": {"email": {"mask": "hash"}, "phone": {"mask": {"partial": 2}}},
                    "pipeline": {"mask_key": "${env:MY_MASK_KEY}", "progress": False},
                }
            ],
        }
    )
    flows.run(pipelines_dir=tmp_path / "pipes")
    with duckdb.connect(str(tmp_path / "f.duckdb"), read_only=True) as con:
        email, phone = con.execute("select email, phone from raw.people").fetchone() or (None, None)
    assert phone == "**********78"
    assert email == _hash_in_a_process(tmp_path / "proc", "k-1")


def test_a_masked_cursor_given_as_an_argument_is_refused_before_extracting(tmp_path: Path) -> None:
    pulled: list[int] = []

    @hw.resource(columns={"seen": {"mask": {"partial": 2}}})
    def events(seen: Any = hw.incremental("seen")) -> Any:
        pulled.append(1)
        yield {"seen": "2024-01-01"}

    p = hw.pipeline("cursor", dataset="raw", pipelines_dir=tmp_path / "pipes", progress=False)
    with pytest.raises(hw.errors.ConfigError, match="'seen' is the incremental cursor"):
        p.run(events())
    assert not pulled


def test_a_contract_message_quotes_the_masked_value(tmp_path: Path) -> None:
    p = hw.pipeline("frozen", dataset="raw", pipelines_dir=tmp_path / "pipes", progress=False, mask_key="k-1")
    p.run([{"id": 1, "code": 7}], table_name="t")  # code is a bigint column
    with pytest.raises(hw.errors.ContractViolation) as exc:
        p.run(
            [{"id": 2, "code": "alice@example.com"}],
            table_name="t",
            columns={"code": {"mask": "hash"}},
            schema_contract={"data_type": "freeze"},
        )
    assert "alice" not in str(exc.value) and "first offending value" in str(exc.value)


@pytest.mark.parametrize("kind", ["polars", "relation", "batch", "reader", "categorical"])
def test_every_item_kind_is_masked(kind: str, tmp_path: Path) -> None:
    import pandas as pd

    table = pa.table({"email": ["alice@example.com", None]})
    if kind == "polars":
        pl = pytest.importorskip("polars")
        item: Any = pl.DataFrame({"email": ["alice@example.com", None]})
    elif kind == "relation":
        item = duckdb.connect().sql("select * from (values ('alice@example.com'), (null)) v(email)")
    elif kind == "batch":
        item = table.to_batches()[0]
    elif kind == "reader":
        item = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    else:
        item = pd.DataFrame({"email": pd.Categorical(["alice@example.com", None])})
    p = hw.pipeline(kind, dataset="raw", pipelines_dir=tmp_path / "pipes", progress=False, mask_key="k-1")
    p.run(item, table_name="t", columns={"email": {"mask": "hash"}})
    values = sorted(p.query("select email from t").to_pylist(), key=lambda r: r["email"] is None)
    assert values[0]["email"] == _hash_in_a_process(tmp_path / "proc", "k-1") and values[1]["email"] is None
