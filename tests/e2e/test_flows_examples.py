"""The flows examples run as a user runs them: VDK's TOML shape through ``headwater run`` (Chinook from
../shared/data and the orders stand-in, into DuckDB and PostgreSQL), and Hippo's config.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from tests.conftest import env_with_path, shared_data
from tests.pgserver import pg_query

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "examples" / "flows"


def headwater(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "headwater", *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_vdk_style_flows_file_loads_chinook_and_the_api_into_duckdb_and_postgres(
    tmp_path: Path, pg_database: str
) -> None:
    shared_data("chinook", "Chinook_Sqlite.sqlite")
    sys.path.insert(0, str(FLOWS))
    try:
        import standin  # type: ignore[import-not-found]  # examples/flows/standin.py, not a package
    finally:
        sys.path.remove(str(FLOWS))
    server = standin.serve()
    host, port = server.server_address[:2]
    env = env_with_path()
    env.update(
        HEADWATER_HOME=str(tmp_path / "home"),
        ORDERS_API_URL=f"http://{host}:{port}",
        ORDERS_API_TOKEN=standin.TOKEN,
        WAREHOUSE_PG_URL=pg_database,
    )
    try:
        validated = headwater(tmp_path, env, "flows", "validate", str(FLOWS / "flows.toml"))
        assert validated.returncode == 0, validated.stderr
        assert "ok: 4 flow(s)" in validated.stdout
        for _ in range(2):  # a second run merges: the same rows
            out = headwater(tmp_path, env, "run", str(FLOWS / "flows.toml"), "--parallel", "2")
            assert out.returncode == 0, out.stderr + out.stdout
    finally:
        server.shutdown()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*), sum(total)::varchar from chinook.invoice").fetchone() == (412, "2328.60")
        assert con.execute("select count(*) from chinook.invoice_line").fetchone() == (2240,)
        assert con.execute("select count(*), count(distinct id) from shop.orders").fetchone() == (47, 47)
        assert con.execute("select count(*) from shop.orders__lines").fetchone() == (
            sum(1 + i % 3 for i in range(1, 48)),
        )
    assert pg_query(pg_database, "select count(*), sum(total)::text from chinook.invoice") == [(412, "2328.60")]
    assert pg_query(
        pg_database,
        "select data_type, numeric_scale from information_schema.columns "
        "where table_schema = 'chinook' and table_name = 'invoice' and column_name = 'total'",
    ) == [("numeric", 2)]
    assert pg_query(pg_database, "select count(*) from chinook.customer") == [(59,)]
    assert pg_query(pg_database, "select count(*), count(distinct id) from shop.orders") == [(47, 47)]


HIPPO = ROOT / "examples" / "hippo"


def test_hippo_config_py_runs_from_python_and_from_the_command_line(tmp_path: Path) -> None:
    env = env_with_path()
    env["HEADWATER_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, str(HIPPO / "run.py")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    # the transformer's {min_total} was bound: orders of 10 or more, written by the custom loader
    assert "big orders: [(1, 12.5), (3, 30.0), (5, 19.99), (6, 55.0), (8, 61.3)]" in out.stdout
    assert "by country: [('BR', 1, 19.99), ('DE', 3, 77.9), ('FR', 2, 16.25), ('US', 2, 85.0)]" in out.stdout
    # the same config.py is a flows file: run again by the CLI, the merge keeps one row per country
    again = headwater(tmp_path, env, "run", str(HIPPO / "config.py"))
    assert again.returncode == 0, again.stderr
    with duckdb.connect(str(tmp_path / "hippo.duckdb"), read_only=True) as con:
        rows = con.execute("select country, orders, currency from shop.orders_by_country order by 1").fetchall()
    assert rows == [("BR", 1, "EUR"), ("DE", 3, "EUR"), ("FR", 2, "EUR"), ("US", 2, "EUR")]
    assert duckdb.sql(f"select count(*) from '{tmp_path / 'big_orders.parquet'}'").fetchall() == [(5,)]
    listed = headwater(tmp_path, env, "flows", "list", str(HIPPO / "config.py"))
    assert "big_orders: LocalFileExtractor -> LocalFileLoader" in listed.stdout
