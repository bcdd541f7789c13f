"""Flows run for real: TOML and YAML files through ``headwater run``, secrets, parallel flows, failures.

Sources are a real SQLite file (SQLAlchemy) and a real HTTP server on 127.0.0.1; destinations are real
DuckDB files and the test PostgreSQL server.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import headwater as hw
from headwater.cli import main
from tests.apiserver import APIServer, Reply

TOKEN = "tok-9f8e7d6c5b4a3210"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A SQLite database with two tables."""
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.execute("create table Customer (CustomerId integer primary key, Name text)")
    con.execute("create table Invoice (InvoiceId integer primary key, CustomerId integer, Total real)")
    con.executemany("insert into Customer values (?, ?)", [(i, f"c{i}") for i in range(1, 6)])
    con.executemany("insert into Invoice values (?, ?, ?)", [(i, i % 5 + 1, i * 1.5) for i in range(1, 21)])
    con.commit()
    con.close()
    return path


@pytest.fixture
def api() -> Iterator[APIServer]:
    with APIServer() as server:

        @server.route("/orders")
        def orders(request: Any) -> Reply:
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return Reply(401, {"message": "bad token"})
            page = int(request.query.get("page", "1"))
            rows = [{"id": i, "amount": i * 10, "who": {"name": f"n{i}"}} for i in range((page - 1) * 3, page * 3)]
            return Reply(200, rows if page <= 3 else [])

        yield server


def toml_file(tmp_path: Path, text: str, name: str = "flows.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


SHOP = """
[sources.shop]
type = "sql_database"
config = {{ credentials = "sqlite:///${{here}}/shop.sqlite" }}

[destinations.warehouse]
type = "duckdb"
config = {{ path = "{db}" }}

[[flows]]
name = "shop_raw"
from = "shop"
to = "warehouse"
dataset = "raw"
resources = ["invoice", "customer"]
write_disposition = "merge"
"""


def run(*args: str) -> int:
    return main(["run", *args])


def count(db: Path, table: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def test_headwater_run_loads_a_toml_flow_and_merges_on_rerun(shop: Path, tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    flows = toml_file(tmp_path, SHOP.format(db=db))
    assert run(str(flows), "--pipelines-dir", str(tmp_path / "p")) == 0
    assert count(db, "raw.invoice") == 20 and count(db, "raw.customer") == 5
    assert run(str(flows), "--pipelines-dir", str(tmp_path / "p")) == 0  # merge: no doubles
    assert count(db, "raw.invoice") == 20


def test_yaml_converted_from_toml_runs_the_same(shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "warehouse.duckdb"
    flows = toml_file(tmp_path, SHOP.format(db=db))
    yaml_path = tmp_path / "flows.yaml"
    assert main(["flows", "convert", str(flows), "--to", "yaml", "--output", str(yaml_path)]) == 0
    assert hw.flows.load(yaml_path).model == hw.flows.load(flows).model
    assert run(str(yaml_path), "--pipelines-dir", str(tmp_path / "p")) == 0
    assert count(db, "raw.invoice") == 20


def test_rest_flow_with_token_from_secrets_toml_never_writes_it(
    api: APIServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "w.duckdb"
    flows = toml_file(
        tmp_path,
        f"""
[sources.api]
type = "rest_api"
[sources.api.config]
client = {{ base_url = "{api.url}", auth = {{ type = "bearer" }}, paginator = {{ type = "page_number" }} }}
resources = ["orders"]

[destinations.local]
type = "duckdb"
config = {{ path = "{db}" }}

[[flows]]
from = "api"
to = "local"
dataset = "raw"
""",
    )
    (tmp_path / "secrets.toml").write_text(f'[sources.api.config.client.auth]\ntoken = "{TOKEN}"\n')
    with caplog.at_level(logging.DEBUG):
        assert run(str(flows), "--pipelines-dir", str(tmp_path / "p")) == 0
    assert count(db, "raw.orders") == 9
    # the token reached the server, and nothing written down or logged holds it
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api.requests)
    for path in (tmp_path / "p").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN.encode() not in db.read_bytes()
    assert TOKEN not in caplog.text
    # flows show merges secrets.toml, masked
    capsys.readouterr()
    assert main(["flows", "show", str(flows)]) == 0
    shown = capsys.readouterr().out
    assert TOKEN not in shown and '"token": "***"' in shown


@pytest.mark.parametrize("how", ["env", "file"])
def test_placeholders_resolve_env_and_file(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    db = tmp_path / "w.duckdb"
    if how == "env":
        monkeypatch.setenv("SHOP_DB", str(shop))
        value = "sqlite:///${env:SHOP_DB}"
    else:
        (tmp_path / "url.txt").write_text(f"sqlite:///{shop}\n")
        value = "${file:url.txt}"
    text = SHOP.format(db=db).replace("sqlite:///${here}/shop.sqlite", value)
    assert run(str(toml_file(tmp_path, text)), "--pipelines-dir", str(tmp_path / "p")) == 0
    assert count(db, "raw.customer") == 5


def test_a_missing_secret_stops_everything_before_anything_runs(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    db = tmp_path / "w.duckdb"
    text = SHOP.format(db=db) + (
        '\n[destinations.pg]\ntype = "postgres"\n'
        'config = { url = "postgresql://u:${env:NOT_SET_ANYWHERE}@127.0.0.1/x" }\n'
        '\n[[flows]]\nname = "second"\nfrom = "shop"\nto = "pg"\n'
    )
    assert run(str(toml_file(tmp_path, text)), "--pipelines-dir", str(tmp_path / "p")) == 2
    err = capsys.readouterr().err
    assert "destinations.pg.config.url: environment variable 'NOT_SET_ANYWHERE' is not set" in err
    assert not db.exists() and not (tmp_path / "p").exists()  # the first flow did not run either


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            ('to = "warehouse"', 'to = "warehose"'),
            "flows[0].to: unknown destination 'warehose'; did you mean 'warehouse'?",
        ),
        (('type = "duckdb"', 'type = "duckbd"'), "destinations.warehouse.type: unknown destination 'duckbd'"),
        (('dataset = "raw"', 'dataset = "raw"\nprimary_kee = "id"'), "flows[0].primary_kee: unknown key"),
        (("${here}", "${hereabouts}"), "sources.shop.config.credentials: unknown placeholder"),
        (('"invoice", "customer"', '"invoices"'), "flows[0]: source 'sql_database' has no resource(s) ['invoices']"),
        (("[[flows]]", "[[flows]\n"), "not valid TOML"),
    ],
)
def test_mistakes_in_a_file_exit_2_with_their_location(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], where: str
) -> None:
    db = tmp_path / "w.duckdb"
    text = SHOP.format(db=db).replace(*change)
    assert run(str(toml_file(tmp_path, text)), "--pipelines-dir", str(tmp_path / "p")) == 2
    assert where in capsys.readouterr().err
    assert not db.exists()


def test_flow_selection_and_unknown_flow(shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "w.duckdb"
    text = (
        SHOP.format(db=db)
        + '\n[[flows]]\nname = "only_customers"\nfrom = "shop"\nto = "warehouse"\n'
        + 'dataset = "c"\nresources = ["customer"]\n'
    )
    flows = toml_file(tmp_path, text)
    assert run(str(flows), "--flow", "only_customers", "--pipelines-dir", str(tmp_path / "p")) == 0
    assert count(db, "c.customer") == 5
    with duckdb.connect(str(db), read_only=True) as con:
        assert not con.execute("select * from information_schema.tables where table_schema = 'raw'").fetchall()
    assert run(str(flows), "--flow", "only_customer", "--pipelines-dir", str(tmp_path / "p")) == 2
    assert "did you mean 'only_customers'" in capsys.readouterr().err
    assert main(["flows", "list", str(flows)]) == 0
    listed = capsys.readouterr().out
    assert "shop_raw: shop -> warehouse dataset raw (invoice, customer)" in listed
    assert "only_customers: shop -> warehouse dataset c (customer)" in listed


# -- parallel flows, and flows failing -----------------------------------------------------------------
class Tracker:
    """Which flows are inside their source at once; two flows meet at a barrier to prove concurrency."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside: dict[str, int] = {}
        self.max_together: dict[str, int] = {}
        self.barrier = threading.Barrier(2, timeout=20)

    def rows(self, group: str, *, meet: bool) -> Iterator[dict[str, Any]]:
        with self.lock:
            self.inside[group] = self.inside.get(group, 0) + 1
            self.max_together[group] = max(self.max_together.get(group, 0), self.inside[group])
        try:
            if meet:
                self.barrier.wait()  # raises BrokenBarrierError unless the other flow runs at the same time
            time.sleep(0.2)
            yield from ({"id": i} for i in range(3))
        finally:
            with self.lock:
                self.inside[group] -= 1


def test_parallel_flows_run_together_but_one_duckdb_file_is_written_by_one_flow_at_a_time(tmp_path: Path) -> None:
    tracker = Tracker()

    def source(group: str, meet: bool) -> Any:
        return hw.resource(lambda: tracker.rows(group, meet=meet), name="items")()

    shared = tmp_path / "shared.duckdb"
    model = {
        "sources": {
            "a": {"type": lambda: source("free", True)},
            "b": {"type": lambda: source("free", True)},
            "c": {"type": lambda: source("shared", False)},
            "d": {"type": lambda: source("shared", False)},
        },
        "destinations": {
            "one": {"type": "duckdb", "config": {"path": str(tmp_path / "one.duckdb")}},
            "two": {"type": "duckdb", "config": {"path": str(tmp_path / "two.duckdb")}},
            "shared": {"type": "duckdb", "config": {"path": str(shared)}},
            "shared_again": {"type": "duckdb", "config": {"path": str(shared)}},
        },
        "flows": [
            {"from": "a", "to": "one"},
            {"from": "b", "to": "two"},
            {"from": "c", "to": "shared", "dataset": "c"},
            {"from": "d", "to": "shared_again", "dataset": "d"},
        ],
    }
    infos = hw.flows.load(model).run(parallel=4, pipelines_dir=tmp_path / "p")
    assert [i.pipeline for i in infos] == ["a_to_one", "b_to_two", "c_to_shared", "d_to_shared_again"]
    assert tracker.max_together == {"free": 2, "shared": 1}
    assert count(shared, "c.items") == 3 and count(shared, "d.items") == 3


def test_a_failed_flow_exits_1_with_a_summary_of_every_flow(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.duckdb"
    module = tmp_path / "flaky_source.py"
    module.write_text(
        "import headwater as hw\n\n"
        "def broken():\n"
        "    @hw.resource(name='items')\n"
        "    def items():\n"
        "        yield {'id': 1}\n"
        "        raise RuntimeError('the upstream API broke')\n"
        "    return items()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    text = SHOP.format(db=db) + (
        '\n[sources.flaky]\ntype = "flaky_source:broken"\n'
        '\n[[flows]]\nname = "flaky_flow"\nfrom = "flaky"\nto = "warehouse"\ndataset = "f"\n'
    )
    assert run(str(toml_file(tmp_path, text)), "--pipelines-dir", str(tmp_path / "p")) == 1
    err = capsys.readouterr().err
    assert "1 of 2 flow(s) failed" in err
    assert "shop_raw: ok (25 rows)" in err
    assert "flaky_flow: FAILED" in err and "the upstream API broke" in err
    assert count(db, "raw.invoice") == 20  # the good flow landed
    with pytest.raises(hw.flows.FlowsFailed) as caught:
        hw.flows.load(tmp_path / "flows.toml").run(pipelines_dir=tmp_path / "p")
    assert [r.ok for r in caught.value.results] == [True, False]


def test_postgres_destination_from_a_flow(
    shop: Path, tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import pg_query

    text = SHOP.format(db=tmp_path / "w.duckdb").replace(
        '[destinations.warehouse]\ntype = "duckdb"', '[destinations.warehouse]\ntype = "postgres"'
    )
    text = text.replace(f'config = {{ path = "{tmp_path / "w.duckdb"}" }}', 'config = { url = "${env:FLOW_PG_URL}" }')
    monkeypatch.setenv("FLOW_PG_URL", pg_database)
    assert run(str(toml_file(tmp_path, text)), "--pipelines-dir", str(tmp_path / "p")) == 0
    assert pg_query(pg_database, "select count(*) from raw.invoice")[0][0] == 20


def test_a_source_that_cannot_connect_fails_its_flow_and_the_others_run(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "w.duckdb"
    text = SHOP.format(db=db) + (
        '\n[sources.down]\ntype = "sql_database"\nconfig = { credentials = "postgresql://u:pw@127.0.0.1:1/db" }\n'
        '\n[[flows]]\nname = "from_down"\nfrom = "down"\nto = "warehouse"\ndataset = "d"\n'
    )
    assert run(str(toml_file(tmp_path, text)), "--pipelines-dir", str(tmp_path / "p")) == 1
    err = capsys.readouterr().err
    assert "shop_raw: ok (25 rows)" in err
    assert "from_down: FAILED: cannot connect to postgresql://u:***@127.0.0.1:1/db" in err
    assert count(db, "raw.invoice") == 20
