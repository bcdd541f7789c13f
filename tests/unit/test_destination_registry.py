"""The destination registry: built-ins from one list, other packages' destinations from entry points."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import headwater as hw
from headwater import destinations
from headwater.destinations import Destination, available, resolve
from headwater.errors import ConfigError

PLUGIN = """
from headwater.destinations.protocol import Capabilities


class PluginDestination:
    name = "plugindb"
    capabilities = Capabilities(name="plugindb")

    def __init__(self, where=None):
        self.where = where

    @classmethod
    def from_uri(cls, uri):
        return cls(uri.partition(":")[2])

    def for_pipeline(self, pipeline_name):
        return self if self.where else PluginDestination(pipeline_name)

    def describe(self):
        return f"plugindb ({self.where})"

    def to_uri(self):
        return f"plugindb:{self.where}"

    def client(self, dataset):
        raise NotImplementedError


class Impostor(PluginDestination):
    pass
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed distribution declaring destinations in the ``headwater.destinations`` group."""
    (tmp_path / "hw_plugin_dest.py").write_text(PLUGIN)
    info = tmp_path / "hw_plugin_dest-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hw-plugin-dest\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [headwater.destinations]
            plugindb = hw_plugin_dest:PluginDestination
            duckdb = hw_plugin_dest:Impostor
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("hw_plugin_dest", None)


@pytest.mark.usefixtures("plugin")
def test_a_destination_of_another_package_is_found_by_its_entry_point() -> None:
    assert available()["plugindb"] == "hw_plugin_dest:PluginDestination"
    by_name = resolve("plugindb", "orders")
    assert type(by_name).__name__ == "PluginDestination" and isinstance(by_name, Destination)
    assert by_name.describe() == "plugindb (orders)"  # for_pipeline was applied
    assert resolve("plugindb:/data/x", "orders").describe() == "plugindb (/data/x)"  # from_uri


@pytest.mark.usefixtures("plugin")
def test_an_entry_point_cannot_take_a_built_in_name() -> None:
    assert available()["duckdb"] == "headwater.destinations.duckdb:DuckDBDestination"
    assert type(resolve("duckdb", "orders")).__name__ == "DuckDBDestination"


def test_every_built_in_resolves_and_is_a_callable_package() -> None:
    for name, target in destinations._BUILTIN.items():
        module, _, cls = target.partition(":")
        assert getattr(importlib.import_module(module), cls).name in (name, "postgres")
    for folder in destinations._FOLDERS:
        assert folder in destinations.__all__ and folder in dir(destinations)
        package = getattr(hw.destinations, folder)
        assert package.__name__ == f"headwater.destinations.{folder}" and callable(package)
    assert sorted(destinations._FOLDERS) == ["delta", "duckdb", "filesystem", "iceberg", "postgres"]
    assert type(hw.destinations.duckdb(":memory:")).__name__ == "DuckDBDestination"


def test_an_unknown_destination_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown destination 'duckbd'") as err:
        resolve("duckbd", "orders")
    assert "duckdb" in str(err.value.hint)
    with pytest.raises(AttributeError):
        _ = hw.destinations.nosuch
