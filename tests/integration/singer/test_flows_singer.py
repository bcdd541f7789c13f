"""A Singer tap in a flows file, with VDK's names for its options (tap_name, tap_config,
tap_auto_discover_schema)."""

from __future__ import annotations

from pathlib import Path

import pytest

import headwater as hw
from headwater.cli import main
from tests.integration.singer.conftest import fake_tap, stream

BODY = """
assert config == {"greeting": "hello"}, config
for name in selected:
    emit(type="SCHEMA", stream=name, schema=CATALOG["streams"][0]["schema"], key_properties=["id"])
    emit(type="RECORD", stream=name, record={"id": 1, "name": config["greeting"]})
"""

FLOWS = """
[sources.fake]
type = "singer"
config = {{ tap_name = "{tap}", tap_config = {{ greeting = "hello" }}, tap_auto_discover_schema = true }}

[destinations.warehouse]
type = "duckdb"
config = {{ path = "{db}" }}

[[flows]]
from = "fake"
to = "warehouse"
dataset = "raw"
"""


def test_a_flow_runs_a_singer_tap_named_the_vdk_way(tmp_path: Path) -> None:
    import duckdb

    tap = fake_tap(tmp_path, BODY, [stream("users", ["id"], id="integer", name="string"), stream("teams", None)])
    db = tmp_path / "w.duckdb"
    flows = tmp_path / "flows.toml"
    flows.write_text(FLOWS.format(tap=tap, db=db))
    assert main(["run", str(flows), "--pipelines-dir", str(tmp_path / "p")]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select id, name from raw.users").fetchall() == [(1, "hello")]
        assert con.execute("select count(*) from raw.teams").fetchall() == [(1,)]


def test_a_misspelled_singer_option_is_reported_where_it_is(tmp_path: Path) -> None:
    flows = tmp_path / "flows.toml"
    flows.write_text(FLOWS.format(tap="tap-x", db=tmp_path / "w.duckdb").replace("tap_config", "tap_confg"))
    with pytest.raises(hw.errors.HeadwaterError) as err:
        hw.flows.load(flows)
    assert "sources.fake.config" in str(err.value) and "tap_config" in str(err.value)
