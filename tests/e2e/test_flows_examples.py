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
