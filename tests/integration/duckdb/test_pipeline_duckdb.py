"""Pipelines into real DuckDB files: item kinds, dispositions, evolution, system tables."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import headwater as hw
from headwater.errors import ConfigError
from tests.conftest import column_types, rows, scalar


def github_source():
    @hw.resource(table_name="events", write_disposition="append", primary_key="id")
    def events():
        for page in range(3):
            yield [
                {
                    "id": page * 10 + i,
                    "type": "PushEvent",
                    "actor": {"login": f"user{i}", "url": "https://x"},
                    "payload": {"commits": [{"sha": f"{i}{j}", "message": "m"} for j in range(i % 3)]},
                    "labels": [{"name": "bug"}] if i % 2 else [],
                    "created_at": "2024-01-02T03:04:05Z",
                }
                for i in range(10)
            ]

    @hw.source
    def github():
        return [events]

    return github


def test_readme_example_runs_and_lands_nested_data(make_pipeline: Any, tmp_path: Path) -> None:
    p = make_pipeline("github")
    info = p.run(github_source()())
    assert info.table_rows() == {"events": 30, "events__payload__commits": 27, "events__labels": 15}
    assert "events" in str(info) and info.load_id
    assert scalar(p, "select count(*) from raw.events") == 30
    assert scalar(p, "select count(*) from raw.events__payload__commits") == 27
    # children join back to their parents
    joined = scalar(
        p,
        "select count(*) from raw.events e join raw.events__payload__commits c on c._hw_parent_id = e._hw_id",
    )
    assert joined == 27
    types = column_types(p, "events")
    assert types["created_at"] == "timestamp"
    assert types["actor__login"] == "text"
    assert types["id"] == "bigint"
    assert types["_hw_id"] == "uuid" and types["_hw_load_id"] == "text"
    new_cols = info.loads[0].tables["events"].new_columns
    assert "actor__login" in new_cols


def test_default_destination_writes_pipeline_name_duckdb_in_cwd(tmp_path: Path) -> None:
    p = hw.pipeline("defaults", progress=False)
    p.run([{"a": 1}], table_name="t")
    assert (tmp_path / "defaults.duckdb").exists()
    assert p.dataset == "defaults_dataset"
    assert scalar(p, "select a from t") == 1
    assert scalar(p, "select a from defaults.defaults_dataset.t") == 1


def test_destination_uri_and_object(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.duckdb"
    p = hw.pipeline("u", destination=f"duckdb://{target}", progress=False)
    p.run([{"a": 1}], table_name="t")
    assert target.exists()
    rel = hw.pipeline("r", destination="duckdb:rel.duckdb", progress=False)
    rel.run([{"a": 1}], table_name="t")
    assert (tmp_path / "rel.duckdb").exists()


def test_unknown_destination_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as err:
        hw.pipeline("x", destination="duckbd")
    assert "unknown destination 'duckbd'" in str(err.value)
    assert "did you mean 'duckdb'" in str(err.value)
    with pytest.raises(ConfigError, match="not a destination"):
        hw.pipeline("x", destination=42)


def test_append_twice_accumulates_and_records_loads(make_pipeline: Any) -> None:
    p = make_pipeline()
    first = p.run([{"a": 1}, {"a": 2}], table_name="t")
    second = p.run([{"a": 3}], table_name="t")
    assert scalar(p, "select count(*) from raw.t") == 3
    loads = rows(p, "select load_id, status, rows, table_rows from raw._hw_loads order by load_id")
    assert [r[0] for r in loads] == [first.load_id, second.load_id]
    assert [r[1] for r in loads] == ["completed", "completed"]
    assert json.loads(loads[0][3]) == {"t": 2}
    by_load = rows(p, "select _hw_load_id, count(*) from raw.t group by 1 order by 1")
    assert by_load == [(first.load_id, 2), (second.load_id, 1)]


def test_replace_replaces_root_and_child_tables_atomically(make_pipeline: Any) -> None:
    p = make_pipeline()

    def data(n: int, with_tags: bool):
        return [{"id": i, "tags": ["x", "y"] if with_tags else []} for i in range(n)]

    p.run(data(5, True), table_name="t", write_disposition="replace")
    assert scalar(p, "select count(*) from raw.t__tags") == 10
    p.run(data(2, False), table_name="t", write_disposition="replace")
    assert scalar(p, "select count(*) from raw.t") == 2
    assert scalar(p, "select count(*) from raw.t__tags") == 0  # children of the replaced root too


def test_replace_with_no_rows_empties_the_table(make_pipeline: Any) -> None:
    p = make_pipeline()

    @hw.resource(write_disposition="replace")
    def things(n: int):
        yield from ({"i": i} for i in range(n))

    p.run(things(3))
    assert scalar(p, "select count(*) from raw.things") == 3
    info = p.run(things(0))
    assert scalar(p, "select count(*) from raw.things") == 0
    assert info.table_rows() == {"things": 0}


def test_schema_evolves_with_new_columns_and_widening(make_pipeline: Any) -> None:
    p = make_pipeline()
    p.run([{"id": 1, "v": 1}], table_name="t")
    info = p.run([{"id": 2, "v": 2.5, "extra": "new"}], table_name="t")
    assert info.loads[0].tables["t"].new_columns == ["extra"]
    assert rows(p, "select id, v, extra from raw.t order by id") == [(1, 1.0, None), (2, 2.5, "new")]
    assert column_types(p, "t")["v"] == "double"
    p.run([{"id": 3, "v": "n/a"}], table_name="t")
    assert rows(p, "select v, v__v_text from raw.t where id = 3") == [(None, "n/a")]
    versions = rows(p, "select version from raw._hw_schemas order by version")
    assert [v[0] for v in versions] == [1, 2, 3]


def test_every_item_kind(make_pipeline: Any) -> None:
    import duckdb
    import pandas as pd
    import polars as pl

    @hw.resource(table_name="mixed")
    def items():
        yield {"k": "dict"}
        yield [{"k": "list"}, {"k": "list"}]
        yield pa.table({"k": ["arrow"]})
        yield pa.record_batch({"k": ["batch"]})
        yield pd.DataFrame({"k": ["pandas"]})
        yield pl.DataFrame({"k": ["polars"]})
        yield duckdb.sql("select 'duckdb' as k")
        yield "scalar"
        yield None

    p = make_pipeline()
    p.run(items())
    got = rows(p, "select k, value from raw.mixed")
    ks = sorted(r[0] for r in got if r[0])
    assert ks == sorted(["dict", "list", "list", "arrow", "batch", "pandas", "polars", "duckdb"])
    assert [r[1] for r in got if r[1]] == ["scalar"]


def test_pandas_frame_with_mixed_object_column_takes_the_careful_path(make_pipeline: Any) -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": [1, "a", None], "n": [1.5, 2.5, None]})
    p = make_pipeline()
    p.run(frame, table_name="f")
    assert rows(p, "select x, x__v_text, n from raw.f") == [(1, None, 1.5), (None, "a", 2.5), (None, None, None)]


def test_dynamic_table_names(make_pipeline: Any) -> None:
    events = [{"type": "Push", "n": 1}, {"type": "Watch", "n": 2}, {"type": "Push", "n": 3}]
    p = make_pipeline()
    info = p.run(hw.resource(events, name="events", table_name=lambda e: e["type"] + "Event"))
    assert info.table_rows() == {"push_event": 2, "watch_event": 1}


def test_async_resources_in_a_source(make_pipeline: Any) -> None:
    @hw.resource
    async def slow_a():
        for i in range(3):
            await asyncio.sleep(0.01)
            yield {"i": i}

    @hw.resource
    async def slow_b():
        for i in range(4):
            await asyncio.sleep(0.01)
            yield [{"i": i}]

    @hw.source
    def both():
        return [slow_a, slow_b]

    p = make_pipeline()
    info = p.run(both())
    assert info.table_rows() == {"slow_a": 3, "slow_b": 4}


def test_transformers_load_into_their_own_tables(make_pipeline: Any) -> None:
    @hw.resource
    def repos():
        yield [{"name": "a"}, {"name": "b"}]

    @hw.transformer(data_from=repos)
    def issues(page: list[dict[str, Any]]):
        for repo in page:
            yield {"repo": repo["name"], "title": "t"}

    @hw.source
    def gh():
        return [repos, issues]

    p = make_pipeline()
    assert p.run(gh()).table_rows() == {"repos": 2, "issues": 2}
    p2 = make_pipeline("only_issues")
    assert p2.run(gh().with_resources("issues")).table_rows() == {"issues": 2}


def test_column_hints_create_typed_columns(make_pipeline: Any) -> None:
    @hw.resource(columns={"price": "decimal(12,2)", "raw": "json", "seen": "timestamp"})
    def sales():
        yield {"price": "10.10", "raw": {"a": [1, {"b": None}]}, "seen": "2024-05-01T00:00:00+02:00"}

    p = make_pipeline()
    p.run(sales())
    types = column_types(p, "sales")
    assert types["price"] == "decimal(12,2)"
    assert types["raw"] == "json"
    path = "raw->>'$.a[1].b'" if p.destination.name == "duckdb" else "raw->'a'->1->>'b'"
    assert rows(p, f"select price::varchar, {path}, seen from raw.sales") == [
        ("10.10", None, dt.datetime(2024, 4, 30, 22, tzinfo=dt.UTC))
    ]


def test_schema_is_restored_from_the_destination_on_a_new_machine(make_pipeline: Any, tmp_path: Path) -> None:
    p = make_pipeline("restore")
    p.run([{"userId": 1, "user_id": 2}], table_name="t")
    assert {c for c in p.schema().tables["t"].columns if not c.startswith("_hw")} == {"user_id", "user_id_2"}
    # a new working folder, same destination: names stay stable because the schema comes back
    fresh = make_pipeline("restore", pipelines_dir=tmp_path / "elsewhere")
    fresh.run([{"user_id": 3, "userId": 4}], table_name="t")
    got = rows(fresh, "select user_id, user_id_2 from raw.t order by user_id")
    assert got == [(1, 2), (4, 3)]


def test_system_tables_hold_the_schema_json(make_pipeline: Any) -> None:
    p = make_pipeline()
    p.run([{"a": {"b": 1}}], table_name="t")
    stored = scalar(p, "select schema from raw._hw_schemas")
    body = json.loads(stored)
    assert body["tables"][0]["columns"][0]["name"] == "a__b"


def test_parquet_packages_load_the_same(make_pipeline: Any, tmp_path: Path) -> None:
    docs = [{"id": i, "v": {"x": i * 1.5}, "tags": ["a"] * (i % 3)} for i in range(1000)]
    arrow_p = make_pipeline("with_arrow")
    parquet_p = make_pipeline("with_parquet", package_format="parquet", keep_packages=True)
    assert arrow_p.run(docs, table_name="t").table_rows() == parquet_p.run(docs, table_name="t").table_rows()
    assert list((tmp_path / "pipelines" / "with_parquet" / "completed").rglob("*.parquet"))
    query = "select id, v__x, (select count(*) from t__tags c where c._hw_parent_id = t._hw_id) from t order by id"
    assert rows(arrow_p, query) == rows(parquet_p, query)


def test_progress_on_a_terminal_shows_rows_per_table_and_a_summary(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    from tests.conftest import env_with_path

    script = tmp_path / "progress.py"
    script.write_text(
        "import headwater as hw, time\n"
        "def slow():\n"
        "    for i in range(4):\n"
        "        yield [{'id': i * 10 + j, 'tags': ['a']} for j in range(10)]\n"
        "        time.sleep(0.4)\n"
        "hw.pipeline('tty', dataset='tty', batch_size=10).run(slow(), table_name='events')\n"
    )
    env = env_with_path()
    env["COLUMNS"] = "120"
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, env=env, stdin=secondary, stdout=secondary, stderr=secondary
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(primary)
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", b"".join(chunks).decode(errors="replace"))
    assert proc.returncode == 0, text
    assert "tty: extract + normalize" in text  # the live table, while rows arrive
    assert "events__tags" in text
    assert "Pipeline 'tty' -> duckdb" in text and "40 rows" in text  # the summary at the end


def test_plain_data_with_a_table_name_function_is_named_after_the_pipeline(make_pipeline: Any) -> None:
    p = make_pipeline("routed")
    events = ({"kind": k, "n": i} for i, k in enumerate(["a", "b", "a"]))  # a generator expression
    info = p.run(events, table_name=lambda e: f"kind_{e['kind']}")
    assert info.table_rows() == {"kind_a": 2, "kind_b": 1}
    assert {p.schema().tables[t].resource for t in ("kind_a", "kind_b")} == {"routed"}


@pytest.mark.duckdb_only(reason="DuckDB's loader memory cap")
def test_huge_strings_load_into_duckdb_beyond_the_loader_memory_cap(make_pipeline: Any, caplog: Any) -> None:
    big = "y" * (48 * 1024 * 1024)
    p = make_pipeline("huge", batch_size=4)
    with caplog.at_level("WARNING", logger="headwater"):
        info = p.run(({"i": i, "s": big + str(i)} for i in range(8)), table_name="h")
    assert info.table_rows() == {"h": 8}
    assert "retrying once with DuckDB's default limit" in caplog.text  # 8 x 48 MB is beyond 128 MB
    got = rows(p, "select i, length(s), right(s, 1), left(s, 3) from h order by i")
    assert got == [(i, len(big) + 1, str(i), "yyy") for i in range(8)]


def test_a_connection_passed_in_is_used_as_it_is(tmp_path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(tmp_path / "mine.duckdb"))
    con.execute("SET memory_limit = '3GB'")
    con.execute("select current_setting('memory_limit'), current_setting('preserve_insertion_order')")
    before = con.fetchall()[0]
    p = hw.pipeline("mine", destination=hw.destinations.duckdb(connection=con), dataset="raw", progress=False)
    p.run([{"a": 1}], table_name="t")
    p.query("select 1")
    con.execute("select current_setting('memory_limit'), current_setting('preserve_insertion_order')")
    assert con.fetchall()[0] == before  # neither the load nor a query changed the user's settings
    con.execute("select count(*) from raw.t")
    assert con.fetchall()[0][0] == 1
