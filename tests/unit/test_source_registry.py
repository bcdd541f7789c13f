"""The registry of sources: names (built-in and entry points), options read from signatures and
docstrings, did-you-mean errors, and sources made from a name and a table of options.

Plugins here are real: a ``*.dist-info`` folder with an ``entry_points.txt`` put on ``sys.path``, the
way an installed package declares its entry points.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.sources import registry
from headwater.sources.signature import SourceOption, parse_args_section, read_factory
from tests.conftest import env_with_path

BUILTINS = ("rest_api", "sql_database", "filesystem")
REST_CONFIG: dict[str, Any] = {"client": {"base_url": "http://127.0.0.1:9/"}, "resources": ["items"]}


def install_plugin(root: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str, modules: dict[str, str]) -> None:
    """A real installed distribution under ``root``: its dist-info with ``entry_points``, and its modules."""
    info = root / "fakeplugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for name, text in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(root))
    for name in modules:
        sys.modules.pop(name, None)


PLUGIN_MODULE = '''
    import headwater as hw

    def numbers(count: int, start: int = 1, *, table: str = "numbers") -> hw.Source:
        """Whole numbers, counted.

        Args:
            count: how many numbers
                to make (a continuation line).
            start (int): the first one.
            table: the table's name.
        """
        @hw.resource(name=table)
        def rows():
            yield from ({"n": n} for n in range(start, start + count))

        return hw.Source("numbers", [rows()])

    def not_a_source(**anything):
        """Returns a number."""
        return 42
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        """
        [headwater.sources]
        numbers = fake_numbers:numbers
        rest_api = fake_numbers:numbers
        nothing = fake_numbers:not_a_source
        broken = fake_missing_module:source
        """,
        {"fake_numbers": PLUGIN_MODULE},
    )


def test_the_builtins_are_listed_first_and_point_at_real_factories() -> None:
    known = registry.available()
    assert list(known)[:3] == list(BUILTINS)
    for name in BUILTINS:
        assert callable(registry.factory(name))
    assert registry.factory("rest_api") is hw.sources.rest_api.rest_api_source
    assert registry.factory("sql_database") is hw.sources.sql_database.sql_database
    assert hw.sources.available() == known
    assert hw.sources.make is registry.make
    assert registry.provider("sql_database") == "built-in"


def test_entry_points_add_sources_but_cannot_take_a_builtin_name(plugin: None) -> None:
    known = registry.available()
    assert known["numbers"] == "fake_numbers:numbers"
    assert known["rest_api"] == "headwater.sources.rest_api.config:rest_api_source"  # still the built-in
    assert registry.provider("numbers") == "fakeplugin 0.1"
    source = registry.make("numbers", {"count": 3, "table": "n"})
    assert [r["n"] for r in source.resources["n"]] == [1, 2, 3]


def test_the_example_plugin_is_registered_when_installed() -> None:
    if find_spec("headwater_github") is None:
        pytest.skip("the example plugin is not installed (scripts/setup dev installs examples/plugin)")
    assert registry.available()["github"] == "headwater_github:github"
    names = [o.name for o in registry.options("github")]
    assert names[:5] == ["owner", "repo", "token", "base_url", "resources"]


@pytest.mark.parametrize(
    ("name", "close"),
    [("sql_databse", "sql_database"), ("restapi", "rest_api"), ("filesytem", "filesystem"), ("file_system", None)],
)
@pytest.mark.parametrize("call", ["factory", "options", "make", "provider"])
def test_an_unknown_source_names_the_closest(name: str, close: str | None, call: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown source '{name}'") as err:
        getattr(registry, call)(name)
    assert err.value.hint is not None
    assert f"known sources: {', '.join(sorted(registry.available()))}" in err.value.hint
    if close:
        assert err.value.hint.startswith(f"did you mean '{close}'?")


@pytest.mark.parametrize(
    ("name", "config", "wrong", "close"),
    [
        ("sql_database", {"credential": "sqlite://"}, "credential", "credentials"),
        ("sql_database", {"credentials": "sqlite://", "tabels": ["a"]}, "tabels", "tables"),
        ("rest_api", {**REST_CONFIG, "resource_default": {}}, "resource_default", "resource_defaults"),
        ("rest_api", {**REST_CONFIG, "clients": {}}, "clients", "client"),
    ],
)
def test_an_unknown_option_names_the_closest(name: str, config: dict[str, Any], wrong: str, close: str) -> None:
    with pytest.raises(ConfigError, match=f"source '{name}' has no option '{wrong}'") as err:
        registry.make(name, config)
    assert err.value.hint is not None
    assert err.value.hint.startswith(f"did you mean '{close}'?")


def test_an_unknown_option_of_a_source_with_catch_all_keywords_is_refused_by_the_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown argument 'globb'") as err:
        registry.make("filesystem", {"url": str(tmp_path), "globb": "*.csv"})
    assert err.value.hint is not None
    assert err.value.hint.startswith("did you mean 'glob'?")


@pytest.mark.parametrize(
    ("name", "config", "missing", "hint"),
    [
        ("sql_database", {}, "credentials", "required options: credentials"),
        ("rest_api", {"client": {"base_url": "http://x/"}}, "resources", "required options: client, resources"),
        ("filesystem", {"urll": "data/"}, "url", "'urll' is not an option: did you mean 'url'?"),
    ],
)
def test_a_missing_required_option_is_named(name: str, config: dict[str, Any], missing: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=f"source '{name}' needs the option '{missing}'") as err:
        registry.make(name, config)
    assert err.value.hint == hint


def test_a_config_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match="must be a table of options, got list"):
        registry.make("sql_database", ["sqlite://"])  # type: ignore[arg-type]


def test_a_broken_plugin_says_how_to_repair_it(plugin: None) -> None:
    with pytest.raises(ConfigError, match="source 'broken' cannot be loaded: fake_missing_module:source") as err:
        registry.factory("broken")
    assert err.value.hint is not None
    assert "pip install --force-reinstall fakeplugin" in err.value.hint
    assert "broken" in registry.available()  # listing does not import it
    assert registry.summary("broken") == ""


def test_a_factory_must_return_a_source(plugin: None) -> None:
    with pytest.raises(ConfigError, match="its factory returned int, not a source"):
        registry.make("nothing", {"anything": 1})


def test_a_plugin_s_options_come_from_its_file(plugin: None) -> None:
    assert registry.summary("numbers") == "Whole numbers, counted."
    assert registry.options("numbers") == [
        SourceOption("count", "int", True, None, "how many numbers to make (a continuation line)."),
        SourceOption("start", "int", False, "1", "the first one."),
        SourceOption("table", "str", False, "'numbers'", "the table's name."),
    ]
    assert registry.options("nothing") == [SourceOption("anything", "", False, None, "", variadic=True)]


#: per built-in: an option and what is expected of it (type, required, default, a word of its description)
EXPECTED_OPTIONS = [
    ("rest_api", "client", "Mapping[str, Any] | RESTClient", True, None, "base_url"),
    ("rest_api", "resources", "list[str | Mapping[str, Any]]", True, None, "endpoints"),
    ("rest_api", "resource_defaults", "Mapping[str, Any] | None", False, "None", "every resource"),
    ("rest_api", "name", "str", False, "'rest_api'", "schema"),
    ("sql_database", "credentials", "Any", True, None, "SQLAlchemy URL"),
    ("sql_database", "tables", "Sequence[str] | None", False, "None", "tables (or views)"),
    ("sql_database", "chunk_size", "int", False, "50000", "rows per Arrow chunk"),
    ("sql_database", "backend", "str", False, "'auto'", "ADBC"),
    ("filesystem", "url", "str | os.PathLike[str]", True, None, "fsspec URL"),
    ("filesystem", "glob", "str", False, "'**/*'", "relative to"),
    ("filesystem", "header", "bool", False, "True", "header line"),
    ("filesystem", "chunk_size", "int", False, "100000", "Arrow batch"),
]


@pytest.mark.parametrize(
    ("source", "option", "kind", "required", "default", "words"),
    EXPECTED_OPTIONS,
    ids=[f"{e[0]}.{e[1]}" for e in EXPECTED_OPTIONS],
)
def test_builtin_options_have_types_defaults_and_descriptions(
    source: str, option: str, kind: str, required: bool, default: str | None, words: str
) -> None:
    found = {o.name: o for o in registry.options(source)}
    opt = found[option]
    assert (opt.type, opt.required, opt.default) == (kind, required, default)
    assert words in opt.description
    assert "\n" not in opt.description


@pytest.mark.parametrize("source", BUILTINS)
def test_every_builtin_option_is_described_and_matches_the_factory(source: str) -> None:
    import inspect

    opts = registry.options(source)
    assert all(o.description for o in opts), [o.name for o in opts if not o.description]
    # the options read from the source file are the keywords of the imported factory
    params = inspect.signature(registry.factory(source)).parameters
    assert [o.name for o in opts] == list(params)
    assert registry.summary(source)


def test_listing_and_options_import_no_heavy_dependency() -> None:
    code = (
        "import sys, headwater as hw\n"
        "for n in hw.sources.available(): hw.sources.options(n)\n"
        "heavy = sorted(m for m in ('httpx', 'sqlalchemy', 'pyarrow', 'duckdb') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env_with_path(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_make_builds_each_builtin(tmp_path: Path) -> None:
    db = tmp_path / "shop.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("create table orders (id integer primary key, total real)")
        con.execute("insert into orders values (1, 9.5), (2, 3.0)")
    sql = registry.make("sql_database", {"credentials": f"sqlite:///{db}", "tables": ["orders"]})
    assert list(sql.resources) == ["orders"]
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.csv").write_text("x,y\n1,2\n")
    files = registry.make("filesystem", {"url": str(tmp_path / "files"), "glob": "*.csv", "name": "a"})
    assert list(files.resources) == ["a"]
    rest = registry.make("rest_api", {**REST_CONFIG, "name": "shop", "resource_defaults": {"primary_key": "id"}})
    assert (rest.name, list(rest.resources)) == ("shop", ["items"])


def test_args_sections_are_parsed_with_types_and_continuation_lines() -> None:
    doc = """Summary line.

    More text.

    Args:
        plain: one line.
        typed (int): with a type
            and a continuation
              deeper still.
        *args: the rest.
        **kwargs: keywords: with a colon.

    Raises:
        ConfigError: not an argument.
    """
    assert parse_args_section(doc) == {
        "plain": ("", "one line."),
        "typed": ("int", "with a type and a continuation deeper still."),
        "args": ("", "the rest."),
        "kwargs": ("", "keywords: with a colon."),
    }
    assert parse_args_section("No sections.") == {}


def test_destination_classes_are_read_too() -> None:
    info = read_factory(hw.destinations.available()["duckdb"])
    assert info is not None
    assert [o.name for o in info.options] == ["path", "connection", "config"]
    assert info.options[0].description.startswith("the database file")
