"""A run that dies before its load loses no row and loads no row twice; failures keep extracted rows.
(SIGKILL inside a load and after its commit, on every destination: headwater.testing.scenarios.
test_exactly_once.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import DestinationError, ExtractError
from tests.conftest import env_with_path, scalar

PIPELINE = """
import os, sys
import headwater as hw
p = hw.pipeline("crashy", destination=hw.destinations.duckdb(sys.argv[1]), dataset="raw",
                pipelines_dir=sys.argv[2], progress=False)

def rows(n, start=0):
    for i in range(start, start + n):
        yield {"id": i, "nested": {"v": i}, "tags": [i, i + 1]}
"""


def run_script(tmp_path: Path, body: str, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(PIPELINE + textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "crashy.duckdb"), str(tmp_path / "pipes"), *args],
        capture_output=True,
        text=True,
        env=env_with_path(),
        check=check,
        timeout=300,
    )


def pipeline(tmp_path: Path) -> Any:
    return hw.pipeline(
        "crashy",
        destination=hw.destinations.duckdb(str(tmp_path / "crashy.duckdb")),
        dataset="raw",
        pipelines_dir=tmp_path / "pipes",
        progress=False,
    )


def counts(p: Any) -> tuple[int, int, int]:
    return (
        scalar(p, "select count(*) from raw.rows"),
        scalar(p, "select count(distinct id) from raw.rows"),
        scalar(p, "select count(*) from raw.rows__tags"),
    )


def test_crash_between_packaging_and_loading_is_finished_by_the_next_run(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        load_id = p.extract(rows(1000), table_name="rows")
        print(load_id)
        os._exit(1)  # the process dies before loading
    """,
    )
    assert done.returncode == 1
    load_id = done.stdout.strip()
    p = pipeline(tmp_path)
    assert [pk.load_id for pk in p.pending_packages()] == [load_id]

    def must_not_run():
        raise AssertionError("the pending package must be loaded without extracting again")
        yield

    info = p.run()  # no data: only what is pending
    assert info.load_ids == [load_id]
    assert counts(p) == (1000, 1000, 2000)
    assert p.pending_packages() == []
    info = p.run(rows_gen(1000, 1500), table_name="rows")
    assert counts(p) == (1500, 1500, 3000)


def rows_gen(start: int, stop: int):
    for i in range(start, stop):
        yield {"id": i, "nested": {"v": i}, "tags": [i, i + 1]}


def test_crash_during_extraction_discards_the_incomplete_package(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        def dying():
            yield from rows(250_000)
            os._exit(5)
        p.run(dying(), table_name="rows")
    """,
    )
    assert done.returncode == 5, done.stderr
    p = pipeline(tmp_path)
    assert p.pending_packages() == []  # an open package is never loaded
    p.run(rows_gen(0, 10), table_name="rows")
    assert counts(p) == (10, 10, 20)
    assert not any((tmp_path / "pipes" / "crashy" / "packages").iterdir())


def test_destination_unavailable_at_load_keeps_the_package_for_the_next_run(tmp_path: Path) -> None:
    holders: list[subprocess.Popen[str]] = []

    def rows_then_lock_the_database():
        yield from rows_gen(0, 100)
        # another process grabs the DuckDB file after extraction, before the load
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                # as soon as it can: the run's own connection may still be open for a moment after its state read
                "import duckdb,sys,time\n"
                "for _ in range(200):\n"
                "    try: c=duckdb.connect(sys.argv[1]); break\n"
                "    except duckdb.IOException: time.sleep(0.05)\n"
                "print('ok', flush=True); time.sleep(60)",
                str(tmp_path / "crashy.duckdb"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        holders.append(holder)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"

    p = pipeline(tmp_path)
    try:
        with pytest.raises(DestinationError) as err:
            p.run(rows_then_lock_the_database(), table_name="rows")
        text = str(err.value)
        assert "another process may hold it open" in text
        assert "is kept and the next run loads it" in text
    finally:
        for h in holders:
            h.kill()
            h.wait()
    assert len(p.pending_packages()) == 1
    info = p.run()
    assert info.table_rows() == {"rows": 100, "rows__tags": 200}
    assert counts(p) == (100, 100, 200)


def test_failing_resource_keeps_extracted_rows_in_a_partial_package(make_pipeline: Any) -> None:
    @hw.resource
    def flaky():
        yield from ({"id": i} for i in range(150))
        raise ConnectionError("connection reset by peer")

    p = make_pipeline("flaky", batch_size=100)
    with pytest.raises(ExtractError) as err:
        p.run(flaky())
    text = str(err.value)
    assert "resource 'flaky' failed: ConnectionError: connection reset by peer" in text
    assert "150 rows extracted before the failure are kept in the partial package" in text
    assert Path(err.value.package_path).exists()
    # a normal run does not load the partial package on its own
    info = p.run()
    assert info.loads == [] and len(info.kept_partial) == 1
    loaded = p.load(include_partial=True)
    assert loaded.table_rows() == {"flaky": 150}
    assert scalar(p, "select count(*) from raw.flaky") == 150
