"""Pipelines into real DuckDB files: item kinds, dispositions, evolution, system tables."""

from __future__ import annotations

from pathlib import Path

import pytest

import headwater as hw
from headwater.errors import ConfigError
from tests.conftest import scalar


def test_default_destination_writes_pipeline_name_duckdb_in_cwd(tmp_path: Path) -> None:
    p = hw.pipeline("defaults", progress=False)
    p.run([{"a": 1}], table_name="t")
    assert (tmp_path / "defaults.duckdb").exists()
    assert p.dataset_name == "defaults_dataset"
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
