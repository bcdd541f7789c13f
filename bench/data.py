"""Deterministic benchmark data, the same for every tool in a run."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any


def flat_row(i: int) -> dict[str, Any]:
    """One flat row with 20 columns of mixed types (ints, floats, bools, text, ISO timestamps, nulls)."""
    return {
        "id": i,
        "name": f"user_{i}",
        "score": i * 0.5,
        "active": i % 2 == 0,
        "created_at": f"2024-01-{1 + i % 28:02d}T03:04:05Z",
        "category": i % 7,
        "code": f"C{i % 1000:04d}",
        "maybe": None if i % 10 == 0 else i,
        "ratio": 1.25 + (i % 3),
        "country": ("DE", "FR", "US", "BR")[i % 4],
        "amount": i * 3,
        "status": ("open", "closed")[i % 2],
        "verified": i % 3 == 0,
        "weight": 3.5 * (i % 11),
        "day": f"2024-05-{1 + i % 28:02d}",
        "views": i * 2,
        "tag": "t",
        "deleted": False,
        "rank": i % 100,
        "note": "zz" if i % 5 else None,
    }


def flat_rows(n: int) -> list[dict[str, Any]]:
    return [flat_row(i) for i in range(n)]


def flat_stream(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield flat_row(i)


def event_doc(i: int, rnd: random.Random, version: int = 1) -> dict[str, Any]:
    """A GitHub-event-like document: nested actor/repo/payload, lists of commits and labels."""
    n_commits = rnd.randint(0, 4)
    n_labels = rnd.randint(0, 3)
    return {
        "id": str(10_000_000_000 + i),
        "type": ("PushEvent", "IssuesEvent", "WatchEvent")[i % 3],
        "actor": {
            "id": i % 5000,
            "login": f"user{i % 5000}" if version == 1 else f"user{i % 5000}-v{version}",
            "display_login": f"user{i % 5000}",
            "url": f"https://api.github.com/users/user{i % 5000}",
            "avatar_url": "https://avatars.githubusercontent.com/u/1?",
        },
        "repo": {"id": i % 999, "name": f"org/repo{i % 999}", "url": "https://api.github.com/repos/org/repo"},
        "payload": {
            "push_id": 1_000_000_000 + i,
            "size": n_commits,
            "ref": "refs/heads/main",
            "head": f"{i:040x}",
            "commits": [
                {
                    "sha": f"{i * 10 + c:040x}",
                    "author": {"email": f"dev{c}@example.com", "name": f"Dev {c}"},
                    "message": "fix: things " * (1 + c),
                    "distinct": c % 2 == 0,
                }
                for c in range(n_commits)
            ],
        },
        "labels": [{"id": j, "name": f"label{j}", "color": "ff0000", "default": j == 0} for j in range(n_labels)],
        "public": True,
        "created_at": f"2024-02-{1 + i % 28:02d}T10:11:12Z",
    }


def event_docs(n: int, seed: int = 7, version: int = 1) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    return [event_doc(i, rnd, version) for i in range(n)]


def arrow_tables(n: int, chunk: int = 100_000) -> list[Any]:
    """``n`` rows of the flat shape as Arrow tables of ``chunk`` rows (typed, no strings to parse)."""
    import numpy as np
    import pyarrow as pa

    out = []
    for start in range(0, n, chunk):
        idx = np.arange(start, min(start + chunk, n), dtype=np.int64)
        out.append(
            pa.table(
                {
                    "id": idx,
                    "name": pa.array([f"user_{i}" for i in idx]),
                    "score": idx * 0.5,
                    "active": idx % 2 == 0,
                    "created_at": pa.array(idx * 1_000_000, type=pa.timestamp("us", tz="UTC")),
                    "category": idx % 7,
                    "ratio": 1.25 + (idx % 3),
                    "amount": idx * 3,
                    "verified": idx % 3 == 0,
                    "weight": 3.5 * (idx % 11),
                    "views": idx * 2,
                    "rank": idx % 100,
                }
            )
        )
    return out


def api_record(i: int) -> dict[str, Any]:
    """One record as a REST API returns it: a nested user, a timestamp string, and 2-3 labels."""
    return {
        "id": i,
        "created_at": f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z",
        "user": {"id": i % 5000, "login": f"user{i % 5000}"},
        "title": f"Issue {i}: something about component {i % 37} does not work as expected",
        "score": round((i % 1000) * 0.37, 2),
        "open": i % 3 != 0,
        "labels": [{"id": j, "name": f"label{j}", "color": "ff0000"} for j in range(2 + i % 2)],
    }


def api_pages(total: int, limit: int) -> dict[int, bytes]:
    """The JSON bodies of ``/records?offset=N&limit=<limit>``, by offset: ``{"total": ..., "items": [...]}``."""
    import json

    return {
        offset: json.dumps(
            {"total": total, "items": [api_record(i) for i in range(offset, min(offset + limit, total))]}
        ).encode()
        for offset in range(0, total, limit)
    }


# The 20 columns of the SQL cases, one SQL expression each over ``i`` (0, 1, 2, ...), valid in both
# PostgreSQL and DuckDB: the same rows whether PostgreSQL or DuckDB makes them.
SQL_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "bigint", "i"),
    ("name", "text", "'user_' || i"),
    ("score", "float8", "i * 0.5"),
    ("active", "boolean", "i % 2 = 0"),
    ("created_at", "timestamptz", "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second'"),
    ("category", "integer", "i % 7"),
    ("code", "text", "'C' || lpad((i % 1000)::text, 4, '0')"),
    ("maybe", "bigint", "case when i % 10 = 0 then null else i end"),  # 10% nulls
    ("ratio", "float8", "1.25 + i % 3"),
    ("country", "text", "case i % 4 when 0 then 'DE' when 1 then 'FR' when 2 then 'US' else 'BR' end"),
    ("amount", "numeric(12,2)", "i * 3 + 0.25"),
    ("status", "text", "case when i % 2 = 0 then 'open' else 'closed' end"),
    ("verified", "boolean", "i % 3 = 0"),
    ("weight", "float8", "3.5 * (i % 11)"),
    ("day", "date", "date '2024-01-01' + (i % 365)::integer"),
    ("views", "bigint", "i * 2"),
    ("note", "text", "repeat('x', (i % 50)::integer)"),  # 0 to 49 characters
    ("deleted", "boolean", "i % 13 = 0"),
    ("rank", "smallint", "i % 100"),
    ("digest", "text", "md5(i::text)"),
)


def pg_table_sql(schema: str, table: str, n: int) -> list[str]:
    """Statements that create ``schema.table`` in PostgreSQL and fill it with ``n`` rows of :data:`SQL_COLUMNS`."""
    columns = ", ".join(f"{name} {kind}" for name, kind, _ in SQL_COLUMNS)
    values = ", ".join(f"({expr})::{kind}" for _, kind, expr in SQL_COLUMNS)
    return [
        f"create schema if not exists {schema}",
        f"drop table if exists {schema}.{table}",
        f"create table {schema}.{table} ({columns}, primary key (id))",
        f"insert into {schema}.{table} select {values} from generate_series(0::bigint, {n - 1}) as g(i)",
        f"analyze {schema}.{table}",
    ]


def duckdb_arrow_table(n: int) -> Any:
    """``n`` rows of :data:`SQL_COLUMNS` made by DuckDB, as one Arrow table (timestamps in UTC)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        values = ", ".join(f"({expr})::{kind} as {name}" for name, kind, expr in SQL_COLUMNS)
        return con.sql(f"select {values} from range({n}) as r(i)").to_arrow_table()
    finally:
        con.close()


def write_files(folder: Any, n: int, stem: str = "rows") -> tuple[Any, Any]:
    """``n`` rows of :data:`SQL_COLUMNS` made by DuckDB and written into ``folder`` twice: as
    ``<stem>.csv`` (with a header line, timestamps in UTC) and as ``<stem>.parquet`` (DuckDB's
    defaults: snappy, row groups of 122,880 rows). Returns the two paths."""
    from pathlib import Path

    import duckdb

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = folder / f"{stem}.csv", folder / f"{stem}.parquet"
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        values = ", ".join(f"({expr})::{kind} as {name}" for name, kind, expr in SQL_COLUMNS)
        query = f"select {values} from range({n}) as r(i) order by i"
        con.execute(f"copy ({query}) to '{csv_path}' (format csv, header true)")
        con.execute(f"copy ({query}) to '{parquet_path}' (format parquet)")
    finally:
        con.close()
    return csv_path, parquet_path
