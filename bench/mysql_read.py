"""Reading a MariaDB table: Headwater's sql_database source against the driver alone, on the same table.

    .venv/bin/python -m bench.mysql_read                 # a throwaway server (tests/mysqlserver.py), 200k rows
    .venv/bin/python -m bench.mysql_read --rows 500000 --url mysql+pymysql://root@127.0.0.1:3306/db

The table has 12 columns (bigint key, int, bigint, double, decimal(12,2), varchar of 0-40 characters,
tinyint(1), datetime(6), timestamp, date, time, a nullable int with 10% NULLs), made by SQL before any
timing. Measured, each --repeat times (the fastest counts), each reading every row:

  pymysql          the driver alone: a server-side cursor (SSCursor), fetchmany(50,000), rows discarded
  pymysql+arrow    the same, each chunk transposed and made into Arrow arrays column by column (no types given)
  mysqlclient      MySQLdb's SSCursor, when mysqlclient is installed
  connectorx       connectorx.read_sql(..., return_type="arrow"), when connectorx is installed
  headwater        hw.sources.sql_database(url).resources["bench"]: every chunk, typed and checked
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

COLUMNS = (
    "id bigint primary key, i int, b bigint, d double, amount decimal(12,2), name varchar(40), flag tinyint(1), "
    "at datetime(6), ts timestamp null, day date, tm time, maybe int"
)


def fill(url: str, rows: int) -> None:
    from tests.mysqlserver import mysql_query

    mysql_query(url, "drop table if exists bench")
    mysql_query(url, f"create table bench ({COLUMNS})")
    mysql_query(url, "drop table if exists seq")
    mysql_query(url, "create table seq (n int primary key)")
    mysql_query(url, "insert into seq select seq from seq_0_to_999")  # MariaDB's sequence engine
    mysql_query(
        url,
        "insert into bench select a.n * 1000 + b.n, b.n - 500, (a.n * 1000 + b.n) * 1000003, (a.n + b.n) / 7, "
        "(a.n * 1000 + b.n) / 100, repeat('x', (a.n + b.n) % 41), (a.n + b.n) % 2, "
        "timestamp '2024-01-01 00:00:00' + interval (a.n * 1000 + b.n) second, "
        "timestamp '2024-01-01 00:00:00' + interval (a.n * 1000 + b.n) minute, "
        "date '2000-01-01' + interval b.n day, sec_to_time(b.n * 37), if(b.n % 10 = 0, null, b.n) "
        f"from seq a join seq b where a.n * 1000 + b.n < {rows}",
    )


def connect(url: str, module: str = "pymysql") -> Any:
    import sqlalchemy as sa

    u = sa.make_url(url)
    if module == "pymysql":
        import pymysql

        return pymysql.connect(
            host=u.host, port=u.port or 3306, user=u.username, password=u.password or "", database=u.database
        )
    import MySQLdb

    return MySQLdb.connect(
        host=u.host, port=u.port or 3306, user=u.username, password=u.password or "", database=u.database
    )


def driver(url: str, module: str, arrow: bool) -> int:
    conn = connect(url, module)
    cursors = __import__("pymysql.cursors" if module == "pymysql" else "MySQLdb.cursors", fromlist=["SSCursor"])
    count = 0
    try:
        cur = conn.cursor(cursors.SSCursor)
        cur.execute("select * from bench")
        while rows := cur.fetchmany(50_000):
            count += len(rows)
            if arrow:
                import pyarrow as pa

                pa.table([pa.array(list(c)) for c in zip(*rows, strict=True)], names=[d[0] for d in cur.description])
    finally:
        conn.close()
    return count


def connectorx(url: str) -> int:
    import connectorx as cx

    table = cx.read_sql(url.replace("mysql+pymysql://", "mysql://"), "select * from bench", return_type="arrow")
    return int(table.num_rows)


def headwater(url: str) -> int:
    import headwater as hw

    source = hw.sources.sql_database(url, tables=["bench"], backend="sqlalchemy")
    return sum(chunk.num_rows for chunk in source.resources["bench"])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", help="an existing MariaDB/MySQL database (default: a throwaway server)")
    args = parser.parse_args(argv)
    server = None
    url = args.url
    if url is None:
        from tests.mysqlserver import MySQLServer

        server = MySQLServer.start(install=True)
        url = server.url
    try:
        fill(url, args.rows)
        cases: dict[str, Callable[[], int]] = {
            "pymysql": lambda: driver(url, "pymysql", arrow=False),
            "pymysql+arrow": lambda: driver(url, "pymysql", arrow=True),
            "headwater": lambda: headwater(url),
        }
        try:
            import MySQLdb  # noqa: F401

            cases["mysqlclient"] = lambda: driver(url, "mysqldb", arrow=False)
        except ImportError:
            pass
        try:
            import connectorx as _

            cases["connectorx"] = lambda: connectorx(url)
        except ImportError:
            pass
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            for name, run in cases.items():
                start = time.perf_counter()
                count = run()
                elapsed = time.perf_counter() - start
                assert count == args.rows, f"{name} read {count} rows, not {args.rows}"
                best[name] = min(best.get(name, elapsed), elapsed)
        print(f"{args.rows:,} rows x 12 columns, fastest of {args.repeat}")
        print(f"{'reader':<15} {'seconds':>8} {'rows/s':>10}")
        for name, seconds in best.items():
            print(f"{name:<15} {seconds:8.2f} {args.rows / seconds:10,.0f}")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
