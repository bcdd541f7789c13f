"""The configured catalog and the hints made from discovered streams, and the config checked against a
spec: what the connector tests rely on, without starting a connector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headwater.errors import ConfigError
from headwater.schema.state import PipelineState, Running, running
from headwater.sources.airbyte.catalog import check_config, configured_catalog, plan, select
from headwater.sources.airbyte.protocol import spec_secrets
from headwater.sources.airbyte.reading import keep_state, saved_state
from headwater.sources.airbyte.source import _resolve
from headwater.sources.connector import env

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "number", "airbyte_type": "integer"},
        "updated_at": {"type": "string", "airbyte_type": "timestamp_without_timezone"},
        "day": {"type": ["null", "string"], "format": "date"},
        "owner": {"type": "object", "properties": {"id": {"type": "integer"}}},
    },
}


def stream(**over: Any) -> dict[str, Any]:
    return {
        "name": "orders",
        "json_schema": SCHEMA,
        "supported_sync_modes": ["full_refresh", "incremental"],
        "source_defined_cursor": True,
        "default_cursor_field": ["updated_at"],
        "source_defined_primary_key": [["id"]],
        **over,
    }


def test_an_incremental_stream_with_a_key_is_merged_on_it_newest_cursor_first() -> None:
    p = plan(stream(), resource="shop")
    assert p.incremental and p.hints.write_disposition == "merge" and p.hints.primary_key == ("id",)
    assert p.hints.dedup_sort == ("updated_at", "desc")
    assert {n: str(h.data_type) for n, h in p.hints.columns.items() if h.data_type} == {
        "id": "bigint",
        "updated_at": "timestamp",
        "day": "date",
        "owner__id": "bigint",
    }
    entry = configured_catalog([p])["streams"][0]
    assert entry["sync_mode"] == "incremental" and entry["cursor_field"] == ["updated_at"]
    assert entry["destination_sync_mode"] == "append_dedup" and entry["primary_key"] == [["id"]]


def test_full_refresh_streams_replace_and_keyless_incremental_ones_append() -> None:
    full = plan(stream(supported_sync_modes=["full_refresh"]), resource="shop")
    assert not full.incremental and full.hints.write_disposition == "replace"
    assert configured_catalog([full])["streams"][0]["sync_mode"] == "full_refresh"
    assert plan(stream(), resource="shop", full_refresh=True).hints.write_disposition == "replace"
    keyless = plan(stream(source_defined_primary_key=None), resource="shop")
    assert keyless.incremental and keyless.hints.write_disposition == "append"
    nested = plan(stream(source_defined_primary_key=[["owner", "id"]]), resource="shop")
    assert nested.hints.primary_key == ("owner__id",)


def test_unknown_streams_and_config_keys_are_named_with_the_closest_one() -> None:
    with pytest.raises(ConfigError, match="no stream 'ordrs'") as info:
        select([stream()], ["ordrs"], "here")
    assert "did you mean 'orders'" in (info.value.hint or "")
    spec = {
        "connectionSpecification": {
            "type": "object",
            "required": ["api_key"],
            "properties": {"api_key": {"type": "string"}, "count": {"type": "integer", "description": "how many"}},
        }
    }
    with pytest.raises(ConfigError, match="unknown config key 'api_kye'") as info:
        check_config({"api_kye": "x"}, spec, "here")
    assert "api_key" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="lacks the required key"):
        check_config({"count": 3}, spec, "here")
    with pytest.raises(ConfigError, match="'count' must be integer, got str"):
        check_config({"api_key": "x", "count": "3"}, spec, "here")
    check_config({"api_key": "x", "count": 3, "unrelated_extra": 1}, spec, "here")  # additionalProperties


def test_state_messages_are_kept_per_stream_global_and_legacy() -> None:
    saved: dict[str, Any] = {}
    descriptor = {"name": "orders", "namespace": "public"}
    keep_state(
        saved,
        {
            "type": "STATE",
            "state": {
                "type": "STREAM",
                "stream": {"stream_descriptor": descriptor, "stream_state": {"c": 1}},
                "sourceStats": {"recordCount": 3.0},
            },
        },
    )
    keep_state(saved, {"type": "STATE", "state": {"type": "GLOBAL", "global": {"shared_state": {"lsn": 9}}}})
    keep_state(saved, {"type": "STATE", "state": {"data": {"orders": {"c": 2}}}})
    assert saved["streams"] == {
        "public.orders": {"type": "STREAM", "stream": {"stream_descriptor": descriptor, "stream_state": {"c": 1}}}
    }
    assert saved["global"] == {"type": "GLOBAL", "global": {"shared_state": {"lsn": 9}}}
    assert saved["legacy"] == {"orders": {"c": 2}}


def test_values_the_spec_marks_airbyte_secret_are_found_in_nested_and_one_of_branches() -> None:
    schema = {
        "properties": {
            "host": {"type": "string"},
            "pin": {"type": "string", "airbyte_secret": True},
            "auth": {
                "oneOf": [
                    {"properties": {"kind": {"const": "none"}}},
                    {"properties": {"kind": {"const": "oauth"}, "refresh": {"airbyte_secret": True}}},
                ]
            },
        }
    }
    config = {"host": "h", "pin": "1234-x", "auth": {"kind": "oauth", "refresh": "r-77"}}
    assert sorted(spec_secrets(config, schema)) == ["1234-x", "r-77"]


def test_the_state_passed_back_is_that_of_incremental_streams_and_legacy_stays_a_plain_object() -> None:
    orders, full = (
        plan(stream(), resource="shop"),
        plan(stream(name="refunds", supported_sync_modes=["full_refresh"]), resource="shop"),
    )
    st = PipelineState()
    with running(Running(st, "shop", "shop")):
        saved, given = saved_state([orders, full])
        assert given is None  # the first run: no --state
        for name in ("orders", "refunds"):
            keep_state(
                saved,
                {
                    "type": "STATE",
                    "state": {
                        "type": "STREAM",
                        "stream": {"stream_descriptor": {"name": name}, "stream_state": {"c": name}},
                    },
                },
            )
        _, given = saved_state([orders, full])
        assert given == [
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders"}, "stream_state": {"c": "orders"}}}
        ]
    legacy = PipelineState()
    with running(Running(legacy, "old", "old")):
        saved, _ = saved_state([orders])
        keep_state(saved, {"type": "STATE", "state": {"type": "LEGACY", "data": {"orders": {"c": 5}}}})
        assert saved_state([orders])[1] == {"orders": {"c": 5}}


@pytest.mark.parametrize(
    ("name", "requirement", "command"),
    [
        ("source-tiny", "airbyte-source-tiny", "source-tiny"),
        ("source-tiny==1.2.0", "airbyte-source-tiny==1.2.0", "source-tiny"),
        ("airbyte-source-tiny==1.2.0", "airbyte-source-tiny==1.2.0", "source-tiny"),
    ],
)
def test_a_short_name_means_the_airbyte_package_and_its_command(
    name: str, requirement: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env.CACHE_ENV, str(tmp_path))
    folder = env.env_folder(requirement)  # an environment already built for that requirement
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / command).write_text("#!/bin/sh\n")
    (folder / "bin" / command).chmod(0o755)
    (folder / "headwater-env.json").write_text("{}")
    assert _resolve(name, None, None).argv == (str(folder / "bin" / command),)
