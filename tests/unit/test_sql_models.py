"""SQL models resolved at the edge (no database): the forms ``models=`` takes, the tables a query reads
(DuckDB's parser), the order and the cycles, each mistake a ConfigError saying what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.pipelines.models import resolve_models, table_reads


def resolve(given: object) -> list[tuple[str, list[str]]]:
    made = resolve_models(given, destination=hw.destinations.duckdb("x.duckdb"), dataset="raw")
    return [(m.name, sorted(m.reads)) for m in made]


def test_reads_tables_not_ctes_nor_other_schemas() -> None:
    sql = (
        "WITH recent AS (SELECT * FROM orders WHERE day > now() - INTERVAL 7 DAY) "
        "SELECT r.*, c.name FROM recent r JOIN raw.customers c USING (customer_id) "
        "LEFT JOIN other.lookup l ON l.id = r.id "
        "WHERE EXISTS (SELECT 1 FROM refunds f WHERE f.order_id = r.id) "
        "UNION ALL SELECT * FROM read_csv('x.csv')"
    )
    assert table_reads(sql, "raw", model="m") == {"orders", "customers", "refunds"}
    # PostgreSQL's own spellings parse too
    pg = "SELECT DISTINCT ON (a) a, b::text, c ILIKE 'x%' FROM \"Orders\" o, LATERAL (SELECT 1) s ORDER BY a"
    assert table_reads(pg, "raw", model="m") == {"orders"}


def test_the_forms_and_the_order(tmp_path: Path) -> None:
    (tmp_path / "base.sql").write_text("SELECT * FROM orders;\n")
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "top.sql").write_text("SELECT * FROM mid LIMIT 1")
    models = [
        str(folder),
        {"mid": "SELECT * FROM base"},
        tmp_path / "base.sql",
        {"name": "extra", "sql": "SELECT 1 AS x", "depends_on": ["top"]},
    ]
    assert resolve(models) == [
        ("base", ["orders"]),
        ("mid", ["base"]),
        ("top", ["mid"]),
        ("extra", ["top"]),
    ]
    long_one_line = "SELECT " + ", ".join(f"{i} AS c{i}" for i in range(200)) + " FROM orders"
    assert resolve({"wide": long_one_line}) == [("wide", ["orders"])]  # not taken for a path
    assert resolve({"name": "self_ref", "sql": "SELECT * FROM self_ref"}) == [("self_ref", [])]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("SELECT 1", "needs a table name"),
        ([{"a": "SELECT 1"}, {"a": "SELECT 2"}], "two SQL models make the table"),
        ({"name": "a", "sql": "SELECT 1", "path": "a.sql"}, "exactly one of 'sql' and 'path'"),
        ({"name": "a", "sql": "SELECT 1", "depends_on": "b"}, "depends_on must be a list"),
        ({"a": "SELECT 1; SELECT 2"}, "not one SELECT query"),
        ({"a": "INSERT INTO t VALUES (1)"}, "not one SELECT query"),
        ({"a": "  "}, "has no SQL"),
        ({"bad name": "SELECT 1"}, "not a plain table name"),
        ([{"a": "SELECT * FROM a2"}, {"a2": "SELECT * FROM a"}], "cycle: a -> a2 -> a"),
        (42, "not a SQL model"),
    ],
)
def test_mistakes_are_config_errors(given: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(given)


def test_sql_only_the_database_reads_needs_depends_on() -> None:
    odd = "SELECT a FROM orders ORDER BY a FETCH FIRST 1 ROWS WITH TIES"  # PostgreSQL's, not DuckDB's
    with pytest.raises(ConfigError, match="depends_on"):
        resolve({"odd": odd})
    assert resolve({"name": "odd", "sql": odd, "depends_on": ["orders"]}) == [("odd", ["orders"])]
