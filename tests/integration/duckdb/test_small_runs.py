"""What a small run costs beyond its rows, checked without timing (docs/benchmarks.md, "Small runs").

Each run is a fresh process, as in production (an incremental pull every few minutes): a small run of
Python rows, flat or nested, never imports pandas (0.3 to 0.5 s and 40 MB when it is installed), and
pandas works as before in a process where such a run kept it out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import env_with_path

PLAIN_RUNS = """
import datetime as dt, json, sys
import headwater as hw

work = sys.argv[1]
p = hw.pipeline("plain", destination=hw.destinations.duckdb(work + "/plain.duckdb"), dataset="d",
                pipelines_dir=work + "/w", progress=False)
p.run([{"id": 1}], table_name="one")
rows = [
    {"id": i, "name": f"n{i}", "score": i / 3, "big": 2**40 + i, "active": i % 2 == 0, "note": None,
     "created_at": "2024-01-02T03:04:05Z", "day": "2024-02-03", "on": dt.date(2024, 1, i % 28 + 1),
     "at": dt.datetime(2024, 1, 1, i % 24, tzinfo=dt.timezone.utc), "raw": b"x"}
    for i in range(300)
]
p.run(rows, table_name="t", primary_key="id", write_disposition="merge")
p.run(rows[:10], table_name="t", primary_key="id", write_disposition="merge")

@hw.resource(primary_key="id")
def pulls(cursor=hw.incremental("at")):
    yield [{"id": i, "at": f"2024-03-0{i}T00:00:00Z", "v": i * 1.5} for i in range(1, 4)]

p.run(pulls())
p.run(pulls())
p.run([{"id": 9}], table_name="replaced", write_disposition="replace")
events = [
    {"id": i, "actor": {"login": f"u{i}", "site_admin": False}, "labels": [{"name": "bug"}, {"name": "ui"}],
     "tags": ["a", "b"], "payload": {"commits": [{"sha": "x", "author": {"email": "e"}}], "size": i}}
    for i in range(300)
]
info = p.run(events, table_name="events", primary_key="id", write_disposition="merge")
print(json.dumps({"pandas": sorted(m for m in sys.modules if m.split(".")[0] == "pandas"),
                  "rows": p.dataset().table("t").arrow().num_rows, "events": info.table_rows()}))
"""


def run_script(code: str, work: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code, str(work)], capture_output=True, text=True, env=env_with_path(), timeout=300
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_runs_of_plain_rows_do_not_import_pandas(tmp_path: Path) -> None:
    pytest.importorskip("pandas")  # installed: pyarrow would import it
    result = run_script(PLAIN_RUNS, tmp_path)
    assert result == {
        "pandas": [],
        "rows": 300,
        "events": {"events": 300, "events__labels": 600, "events__tags": 600, "events__payload__commits": 300},
    }


AFTER = """
import json, sys
import headwater as hw
import pyarrow as pa

work = sys.argv[1]
p = hw.pipeline("mixed", destination=hw.destinations.duckdb(work + "/mixed.duckdb"), dataset="d",
                pipelines_dir=work + "/w", progress=False)
p.run([{"id": 1, "name": "a", "tags": ["x"], "who": {"login": "l"}}], table_name="t")
assert "pandas" not in sys.modules
import pandas as pd

frame = pd.DataFrame({"id": [2, 3], "name": pd.Series(["b", pd.NA], dtype=object)})
p.run(frame, table_name="t")
p.run([{"id": 4, "name": "d"}], table_name="t")
names = p.query("select id, name from t order by id").to_pylist()
print(json.dumps({"names": names, "na": pa.array([pd.NA, 1], from_pandas=True).to_pylist(),
                  "table": pa.table(frame).num_rows}))
"""


def test_a_dataframe_loads_after_runs_that_kept_pandas_out(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    result = run_script(AFTER, tmp_path)
    assert result == {
        "names": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": None}, {"id": 4, "name": "d"}],
        "na": [None, 1],
        "table": 2,
    }


PG_READ = """
import json, sys
import headwater as hw

work, url = sys.argv[1], sys.argv[2]
p = hw.pipeline("pg", destination=hw.destinations.duckdb(work + "/pg.duckdb"), dataset="d",
                pipelines_dir=work + "/w", progress=False)
info = p.run(hw.sources.sql_database(url, schema="small_runs_pg", tables=["rows"]))
print(json.dumps({"loaded": sorted({"pandas", "polars"} & {m.split(".")[0] for m in sys.modules}),
                  "rows": info.table_rows()}))
"""


def test_a_postgresql_read_imports_neither_pandas_nor_polars(tmp_path: Path, pg_url: str) -> None:
    """ADBC's DB-API module imports both when installed, and pyarrow imports pandas to infer the type of a
    Python scalar handed to a compute function: 0.8 s of every reading process (each worker of a
    partitioned read). The bench's table: the 20 column types of bench.run's pg_to_duckdb."""
    from bench.data import pg_table_sql
    from tests.pgserver import pg_query

    pytest.importorskip("pandas")
    for statement in pg_table_sql("small_runs_pg", "rows", 500):
        pg_query(pg_url, statement)
    done = subprocess.run(
        [sys.executable, "-c", PG_READ, str(tmp_path), pg_url],
        capture_output=True,
        text=True,
        env=env_with_path(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"loaded": [], "rows": {"rows": 500}}
