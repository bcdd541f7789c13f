"""``airbyte-source-faker`` from PyPI, in an environment of its own: what lands is what the connector
emits when run alone, and a second run passes the saved state back."""

from __future__ import annotations

import collections
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.sources.connector.env import resolve
from tests import connectors
from tests.integration.airbyte.conftest import query

FAKER = connectors.requirement("source-faker")
CONFIG = {"count": 7, "seed": 11, "parallelism": 1, "always_updated": False}


def oracle(folder: Path, state: list[dict[str, Any]] | None) -> dict[str, int]:
    """RECORD messages per stream of ``source-faker read`` run by hand, every stream incremental."""
    exe = resolve(FAKER, executable=connectors.command("source-faker")).argv[0]
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CONFIG))
    found = subprocess.run([exe, "discover", "--config", "config.json"], cwd=folder, capture_output=True, check=True)
    streams = next(json.loads(line)["catalog"]["streams"] for line in found.stdout.splitlines() if b'"CATALOG"' in line)
    catalog = {
        "streams": [
            {
                "stream": s,
                "sync_mode": "incremental",
                "cursor_field": s["default_cursor_field"],
                "destination_sync_mode": "append_dedup",
                "primary_key": s["source_defined_primary_key"],
            }
            for s in streams
        ]
    }
    (folder / "catalog.json").write_text(json.dumps(catalog))
    args = [exe, "read", "--config", "config.json", "--catalog", "catalog.json"]
    if state is not None:
        (folder / "state.json").write_text(json.dumps(state))
        args += ["--state", "state.json"]
    out = subprocess.run(args, cwd=folder, capture_output=True, check=True).stdout
    counts: collections.Counter[str] = collections.Counter()
    for line in out.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            counts[message["record"]["stream"]] += 1
    return dict(counts)


@pytest.mark.slow
def test_faker_rows_and_state_match_the_connector_run_alone(
    tmp_path: Path, make_pipeline: Callable[[str], Any]
) -> None:
    source = hw.sources.airbyte(FAKER, config=CONFIG)
    assert source.name == "faker"
    p = make_pipeline("faker")
    info = p.run(source)
    alone = oracle(tmp_path / "first", None)
    assert set(alone) == {"users", "products", "purchases"} and alone["users"] == CONFIG["count"]
    assert info.table_rows() == alone
    assert query(p, "select count(distinct id) as n from raw.users") == [{"n": CONFIG["count"]}]

    saved = p.state.resource_state("faker", "faker")["airbyte"]["streams"]
    assert set(saved) == {"users", "products", "purchases"}
    assert saved["users"]["stream"]["stream_state"]["loop_offset"] == CONFIG["count"]
    # what the connector itself does with that state is what the second run loads
    again = oracle(tmp_path / "second", list(saved.values()))
    info = p.run(source)
    assert {t: n for t, n in info.table_rows().items() if n} == {t: n for t, n in again.items() if n}
    assert sum(again.values()) < sum(alone.values())  # the state was taken: no full re-read
    assert query(p, "select count(*) as n from raw.users") == [{"n": CONFIG["count"]}]


def test_streams_select_and_full_refresh_replaces(make_pipeline: Callable[[str], Any]) -> None:
    source = hw.sources.airbyte(FAKER, config=CONFIG, streams=["users"], full_refresh=True, check=False)
    p = make_pipeline("faker_users")
    assert p.run(source).table_rows() == {"users": CONFIG["count"]}
    assert p.run(source).table_rows() == {"users": CONFIG["count"]}  # no state: read in full again
    assert query(p, "select count(*) as n from raw.users") == [{"n": CONFIG["count"]}]  # replaced, not appended
