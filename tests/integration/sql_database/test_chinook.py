"""The Chinook sample (SQLite) into DuckDB and PostgreSQL (a conformance module), with each backend:
every table, every row, exact decimals, primary keys."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa

import headwater as hw
from tests.conftest import column_types, scalar, shared_data

TABLES = {
    "Album": "album",
    "Artist": "artist",
    "Customer": "customer",
    "Employee": "employee",
    "Genre": "genre",
    "Invoice": "invoice",
    "InvoiceLine": "invoice_line",
    "MediaType": "media_type",
    "Playlist": "playlist",
    "PlaylistTrack": "playlist_track",
    "Track": "track",
}


def chinook_url() -> tuple[str, dict[str, int]]:
    path = shared_data("chinook", "Chinook_Sqlite.sqlite")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    counts = {t: conn.execute(f"select count(*) from [{t}]").fetchone()[0] for t in TABLES}
    conn.close()
    return f"sqlite:///{path}", counts


def test_chinook_loads_every_table_exactly(make_pipeline: Callable[..., Any], backend: str) -> None:
    url, counts = chinook_url()
    source = hw.sources.sql_database(url, backend=backend)
    assert sorted(source.resources) == sorted(TABLES)
    p = make_pipeline(f"chinook_{backend}")
    info = p.run(source)
    assert info.table_rows() == {TABLES[t]: n for t, n in counts.items()}
    for table, n in counts.items():
        assert scalar(p, f"select count(*) from raw.{TABLES[table]}") == n
    assert scalar(p, "select sum(total) from raw.invoice") == Decimal("2328.60")
    assert scalar(p, "select sum(unit_price * quantity) from raw.invoice_line") == Decimal("2328.60")
    types = column_types(p, "invoice")
    assert types["total"] == "decimal(10,2)"
    assert types["invoice_date"] == "timestamp"
    assert types["invoice_id"] == "bigint"
    assert types["billing_city"] == "text"
    schema = p.schema()
    assert schema.tables["invoice_line"].primary_key == ["invoice_line_id"]
    assert schema.tables["playlist_track"].primary_key == ["playlist_id", "track_id"]
    assert schema.tables["invoice"].columns["customer_id"].nullable is False
    assert schema.tables["invoice"].columns["billing_state"].nullable is True
    assert scalar(p, "select min(invoice_date) from raw.invoice").isoformat() == "2021-01-01T00:00:00+00:00"


def test_both_backends_yield_the_same_arrow_tables() -> None:
    url, _ = chinook_url()
    read = {}
    for backend in ("adbc", "sqlalchemy"):
        source = hw.sources.sql_database(url, tables=["Invoice", "Employee", "Track"], backend=backend)
        read[backend] = {name: pa.concat_tables(list(r)) for name, r in source.resources.items()}
    for name, table in read["adbc"].items():
        other = read["sqlalchemy"][name]
        assert table.schema.equals(other.schema), name
        assert table.equals(other), name
    invoice = read["adbc"]["Invoice"]
    assert invoice.schema.field("Total").type == pa.decimal128(10, 2)
    assert invoice.schema.field("InvoiceDate").type == pa.timestamp("us", tz="UTC")


def test_a_query_is_a_stream(make_pipeline: Callable[..., Any], backend: str) -> None:
    url, _ = chinook_url()
    source = hw.sources.sql_database(
        url,
        query={"big_invoices": "select InvoiceId, Total from Invoice where Total > 20"},
        table_hints={"big_invoices": {"primary_key": "InvoiceId", "columns": {"Total": "decimal(10,2)"}}},
        backend=backend,
    )
    assert list(source.resources) == ["big_invoices"]
    p = make_pipeline(f"query_{backend}")
    p.run(source)
    expected = (
        sqlite3.connect(url.removeprefix("sqlite:///"))
        .execute("select count(*), sum(Total) from Invoice where Total > 20")
        .fetchone()
    )
    assert scalar(p, "select count(*) from raw.big_invoices") == expected[0]
    assert scalar(p, "select sum(total) from raw.big_invoices") == Decimal(str(round(expected[1], 2)))
    assert column_types(p, "big_invoices")["total"] == "decimal(10,2)"
