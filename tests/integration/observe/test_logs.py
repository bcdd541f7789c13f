"""Logs of real runs: the command line's JSON lines, access records of the REST, SQL and file sources
(secrets hidden), and the progress lines a run writes off a terminal."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.pipelines.logsetup import logging_configured
from tests.apiserver import APIServer, Reply, Request
from tests.conftest import env_with_path

RUN_ID = re.compile(r"\d{8}T\d{6}\.\d{6}Z")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = env_with_path()
    env["HEADWATER_HOME"] = str(cwd / "home")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_command_line_writes_json_lines_tagged_with_the_run(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "orders.csv").write_text("id,amount\n" + "".join(f"{i},{i * 1.5}\n" for i in range(250)))
    (tmp_path / "flows.toml").write_text(
        textwrap.dedent(
            f"""
            [sources.files]
            type = "filesystem"
            config = {{ url = "{tmp_path / "in"}", glob = "*.csv", name = "orders" }}

            [destinations.wh]
            type = "duckdb"
            config = {{ path = "{tmp_path / "wh.duckdb"}" }}

            [[flows]]
            name = "orders_flow"
            from = "files"
            to = "wh"
            """
        )
    )
    out = run([sys.executable, "-m", "headwater", "--log-format", "json", "run", "flows.toml"], tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stderr.splitlines()]  # every line of stderr is a JSON object
    progress = [x for x in lines if x["logger"] == "headwater.progress"]
    access = [x for x in lines if x["logger"] == "headwater.access"]
    assert len(progress) == 1 and progress[0]["message"].startswith("table orders (resource orders): 250 rows")
    assert len(access) == 1 and access[0]["access"]["url"] == str(tmp_path / "in" / "orders.csv")
    assert access[0]["access"]["rows"] == 250 and access[0]["access"]["host"] == "localhost"
    for x in progress + access:
        assert x["pipeline"] == "orders_flow" and x["level"] == "INFO"
        assert RUN_ID.fullmatch(x["run_id"]) and RUN_ID.fullmatch(x["load_id"]) and x["run_id"] < x["load_id"]
    assert len({x["run_id"] for x in lines if x["run_id"]}) == 1
    bad = run([sys.executable, "-m", "headwater", "--log-level", "verbose", "flows", "list", "flows.toml"], tmp_path)
    assert (
        bad.returncode == 1 and "unknown log level 'verbose'" in bad.stderr and "levels: CRITICAL, DEBUG" in bad.stderr
    )


def test_rest_access_records_one_per_page_without_the_token_or_the_api_key(tmp_path: Path) -> None:
    token, key = "bearer-tok-5f2a9c", "qkey-77e1d0"
    with APIServer() as api:

        @api.route("/items")
        def items(req: Request) -> Reply:
            assert req.headers.get("authorization") == f"Bearer {token}" and req.query.get("key") == key
            page = int(req.query.get("page", "1"))
            return Reply(json=[{"id": page * 10 + i} for i in range(3)] if page <= 2 else [])

        source = hw.sources.rest_api(
            {
                "client": {
                    "base_url": api.url,
                    "auth": {"type": "bearer", "token": token},
                    "paginator": {"type": "page_number", "base_page": 1, "stop_after_empty_page": True},
                },
                "resources": [{"name": "items", "endpoint": {"path": "items", "params": {"key": key}}}],
            }
        )
        stream = io.StringIO()
        p = hw.pipeline("rest_logs", dataset="raw", pipelines_dir=tmp_path / "p", progress=False)
        with logging_configured("INFO", "json", stream=stream):
            info = p.run(source)
    assert info.rows == 6
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [x["access"] for x in lines if x["logger"] == "headwater.access"]
    assert [a["rows"] for a in access] == [3, 3, 0]
    assert all(a["method"] == "GET" and a["host"] == "127.0.0.1" and a["resource"] == "items" for a in access)
    assert all(
        re.fullmatch(rf"{re.escape(api.url)}/items\?(key=\*\*\*&page=\d|page=\d&key=\*\*\*)", a["url"]) for a in access
    )
    assert token not in stream.getvalue() and key not in stream.getvalue()
    # the records come from the source's event loop thread: they still carry the run
    assert {x["pipeline"] for x in lines} == {"rest_logs"} and all(RUN_ID.fullmatch(x["run_id"]) for x in lines)


def test_sql_access_records_name_the_table_and_the_database(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "shop.sqlite")
    con.execute("create table orders (id integer primary key, total real)")
    con.executemany("insert into orders values (?, ?)", [(i, i * 2.0) for i in range(40)])
    con.commit()
    con.close()
    stream = io.StringIO()
    p = hw.pipeline("sql_logs", dataset="raw", pipelines_dir=tmp_path / "p", progress=False)
    with logging_configured("INFO", "json", stream=stream):
        p.run(hw.sources.sql_database(f"sqlite:///{tmp_path / 'shop.sqlite'}", tables=["orders"]))
    (access,) = [json.loads(x)["access"] for x in stream.getvalue().splitlines() if "headwater.access" in x]
    assert access["source"] == "sql_database" and access["what"] == "table 'orders'" and access["rows"] == 40
    assert access["url"].startswith("sqlite:///") and access["url"].endswith("shop.sqlite")


SCRIPT = """
import sys
import headwater as hw

hw.configure_logging()  # INFO, text, on stderr
progress = {"auto": "auto", "off": False}[sys.argv[1]]
p = hw.pipeline("lines", dataset="raw", progress=progress)
p.run([{"id": i, "tags": [i, i + 1]} for i in range(1000)], table_name="items")
"""


@pytest.mark.parametrize("setting", ["auto", "off"])
def test_off_a_terminal_a_run_logs_one_line_per_table_unless_progress_is_off(tmp_path: Path, setting: str) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    out = run([sys.executable, "script.py", setting], tmp_path)
    assert out.returncode == 0, out.stderr
    lines: list[Any] = [x for x in out.stderr.splitlines() if "headwater.progress" in x]
    if setting == "off":
        assert lines == []
        return
    assert len(lines) == 2
    assert re.search(
        r"INFO headwater.progress \[lines \S+ \S+\]: table items \(resource items\): 1,000 rows, ", lines[0]
    )
    assert "table items__tags (resource items): 2,000 rows" in lines[1] and "rows/s)" in lines[1]
    assert "\x1b[" not in out.stderr  # no live display off a terminal


def _access(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [x["access"] for x in lines if x["logger"] == "headwater.access"]


def _orders() -> Any:
    yield [{"id": i, "lines": [{"sku": f"s{i}"}]} for i in range(7)]


def test_python_resources_and_transformers_get_one_access_record_each_with_their_rows(tmp_path: Path) -> None:
    orders = hw.resource(_orders, name="orders")

    @hw.transformer(data_from=orders, name="order_ids")
    def order_ids(page: list[dict[str, Any]]) -> Any:
        yield [{"order": o["id"]} for o in page if o["id"] % 2 == 0]

    kinds = hw.resource([{"kind": "a"}, {"kind": "b"}], name="kinds")
    stream = io.StringIO()
    p = hw.pipeline("py_logs", dataset="raw", pipelines_dir=tmp_path / "p", progress=False)
    with logging_configured("INFO", "json", stream=stream):
        p.run([orders, order_ids, kinds])
    access = {a["resource"]: a for a in _access(stream)}
    assert set(access) == {"orders", "order_ids", "kinds"}  # one each: no duplicate per batch
    assert len(_access(stream)) == 3
    assert access["orders"]["url"] == f"{__name__}._orders" and access["orders"]["what"] == "resource 'orders'"
    assert access["order_ids"]["what"] == "transformer 'order_ids'" and access["order_ids"]["url"].endswith("order_ids")
    assert access["kinds"]["url"] == "list"
    # rows are the resource's rows (its items' rows, before child tables)
    assert (access["orders"]["rows"], access["order_ids"]["rows"], access["kinds"]["rows"]) == (7, 4, 2)
    assert all(a["source"] == "python" and a["host"] == "localhost" and a["by_user"] for a in access.values())


def test_a_failing_python_resource_still_gets_its_access_record(tmp_path: Path) -> None:
    def broken() -> Any:
        yield {"id": 1}
        raise RuntimeError("upstream went away")

    stream = io.StringIO()
    p = hw.pipeline("py_fail", dataset="raw", pipelines_dir=tmp_path / "p", progress=False)
    with logging_configured("INFO", "json", stream=stream), pytest.raises(hw.errors.ExtractError):
        p.run(hw.resource(broken, name="broken"))
    (access,) = _access(stream)
    assert access["resource"] == "broken" and access["rows"] == 1 and access["url"].endswith("broken")


def test_rest_resources_get_no_generic_record_beside_their_own(tmp_path: Path) -> None:
    with APIServer() as api:

        @api.route("/things")
        def things(req: Request) -> Reply:
            return Reply(json=[{"id": 1}, {"id": 2}])

        source = hw.sources.rest_api(
            {"client": {"base_url": api.url, "paginator": "single_page"}, "resources": ["things"]}
        )
        stream = io.StringIO()
        p = hw.pipeline("rest_one", dataset="raw", pipelines_dir=tmp_path / "p", progress=False)
        with logging_configured("INFO", "json", stream=stream):
            p.run(source)
    (access,) = _access(stream)
    assert access["source"] == "rest_api" and access["rows"] == 2
