"""``headwater sources list/show`` and ``headwater init``, run through ``headwater.cli.main`` as the
command runs them: output, exit codes, and the files ``init`` writes (parsed with tomllib)."""

from __future__ import annotations

import json
import tomllib
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.cli import main
from headwater.sources import registry

BUILTINS = ("rest_api", "sql_database", "filesystem")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sources_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sources", "list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(registry.available())
    sql = next(line for line in lines if line.startswith("sql_database"))
    assert "built-in" in sql
    assert "A source that reads tables (and queries) of a SQL database" in sql
    assert "``" not in out  # docstring markup is made plain


def test_sources_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sources", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    by_name = {r["name"]: r for r in rows}
    assert set(BUILTINS) <= set(by_name)
    assert by_name["rest_api"]["factory"] == "headwater.sources.rest_api.config:rest_api_source"
    assert by_name["filesystem"]["provider"] == "built-in"
    if find_spec("headwater_github") is not None:
        assert by_name["github"]["provider"].startswith("headwater-github ")


@pytest.mark.parametrize("name", BUILTINS)
def test_sources_show_prints_every_option(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, _ = run(capsys, "sources", "show", name)
    assert code == 0
    assert out.startswith(f"{name} (built-in, {registry.available()[name]})")
    for opt in registry.options(name):
        head = next(line for line in out.splitlines() if line.split()[:1] in ([opt.name], [f"**{opt.name}"]))
        assert head.endswith("required") == opt.required
        if opt.default is not None:
            assert f"default {opt.default}" in head
        assert opt.type in head


def test_sources_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sources", "show", "sql_database", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["name"] == "sql_database"
    first = info["options"][0]
    assert first == {
        "name": "credentials",
        "type": "Any",
        "required": True,
        "default": None,
        "description": first["description"],
        "variadic": False,
    }
    assert first["description"].startswith("a SQLAlchemy URL")


@pytest.mark.parametrize("command", [["sources", "show", "sql_databse"], ["sources", "show", "sql_databse", "--json"]])
def test_sources_show_unknown_is_a_usage_error(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, err = run(capsys, *command)
    assert code == 2
    assert out == ""
    assert "unknown source 'sql_databse'" in err
    assert "did you mean 'sql_database'?" in err


def test_sources_without_a_command_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sources")
    assert code in (0, 2)
    assert "list" in out + err and "show" in out + err


# -- headwater init ---------------------------------------------------------------------------------
def init(capsys: pytest.CaptureFixture[str], folder: Path, *args: str) -> tuple[int, str, str]:
    return run(capsys, "init", *args, "--dir", str(folder))


def load(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        tomllib.loads((folder / "flows.toml").read_text()),
        tomllib.loads((folder / "secrets.toml").read_text()),
    )


@pytest.mark.parametrize("destination", ["duckdb", "postgres"])
@pytest.mark.parametrize("source", BUILTINS)
def test_init_writes_flows_and_secrets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, destination: str
) -> None:
    code, out, err = init(capsys, tmp_path, source, destination)
    assert code == 0, err
    assert "headwater run" in out
    flows, secrets = load(tmp_path)
    assert set(flows) == {"sources", "destinations", "flows"}
    assert flows["sources"][source]["type"] == source
    assert flows["destinations"]["warehouse"]["type"] == destination
    assert flows["flows"] == [{"name": f"{source}_raw", "from": source, "to": "warehouse", "dataset": "raw"}]
    # every required option is set, in flows.toml or (a secret) in secrets.toml; optional ones are comments
    config = {**flows["sources"][source]["config"], **secrets["sources"][source]["config"]}
    required = {o.name for o in registry.options(source) if o.required}
    assert set(config) == required
    text = (tmp_path / "flows.toml").read_text()
    for opt in registry.options(source):
        if not opt.required and not opt.variadic:
            assert f"\n# {opt.name} = " in text
    destination_config = {
        **flows["destinations"]["warehouse"]["config"],
        **secrets["destinations"]["warehouse"]["config"],
    }
    # a README line on how to run it, and secrets.toml kept out of version control; once, however often
    readme = (tmp_path / "README.md").read_text()
    assert "`headwater run flows.toml`" in readme
    assert (tmp_path / ".gitignore").read_text().splitlines() == ["secrets.toml"]
    assert init(capsys, tmp_path, source, destination, "--force")[0] == 0
    assert (tmp_path / "README.md").read_text() == readme
    assert (tmp_path / ".gitignore").read_text().splitlines() == ["secrets.toml"]
    if destination == "duckdb":
        assert flows["destinations"]["warehouse"]["config"] == {"path": "warehouse.duckdb"}
        assert secrets["destinations"]["warehouse"]["config"] == {}
    else:  # a PostgreSQL URL carries a password: a secret
        assert flows["destinations"]["warehouse"]["config"] == {}
        assert destination_config["url"].startswith("postgresql://")


def test_init_puts_secrets_in_secrets_toml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert init(capsys, tmp_path, "sql_database", "duckdb")[0] == 0
    flows, secrets = load(tmp_path)
    assert "credentials" not in flows["sources"]["sql_database"]["config"]
    assert secrets["sources"]["sql_database"]["config"] == {"credentials": "sqlite:///<file>.sqlite"}
    assert "# credentials: in secrets.toml" in (tmp_path / "flows.toml").read_text()


def test_init_of_the_plugin_source(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    if find_spec("headwater_github") is None:
        pytest.skip("the example plugin is not installed (scripts/setup dev installs examples/plugin)")
    assert init(capsys, tmp_path, "github", "duckdb")[0] == 0
    flows, secrets = load(tmp_path)
    assert flows["sources"]["github"]["config"] == {"owner": "<owner>", "repo": "<repo>"}
    assert secrets["sources"]["github"]["config"] == {}  # the token is optional: a comment
    assert '# token = "<your token>"' in (tmp_path / "secrets.toml").read_text()


def test_init_refuses_to_overwrite_without_force(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "flows.toml").write_text("# mine\n")
    code, _, err = init(capsys, tmp_path, "filesystem", "duckdb")
    assert code == 2
    assert "flows.toml already exists" in err and "--force" in err
    assert (tmp_path / "flows.toml").read_text() == "# mine\n"
    assert not (tmp_path / "secrets.toml").exists()
    code, _, err = init(capsys, tmp_path, "filesystem", "duckdb")
    assert code == 2
    code, _, err = run(capsys, "init", "filesystem", "duckdb", "--dir", str(tmp_path), "--force")
    assert code == 0, err
    assert load(tmp_path)[0]["sources"]["filesystem"]["config"] == {"url": "data/"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sql_databse", "duckdb"), "unknown source 'sql_databse'\n  hint: did you mean 'sql_database'?"),
        (("sql_database", "duckbd"), "unknown destination 'duckbd'\n  hint: did you mean 'duckdb'?"),
    ],
)
def test_init_of_an_unknown_name_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, str], message: str
) -> None:
    code, _, err = init(capsys, tmp_path, *args)
    assert code == 2
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_init_writes_into_the_current_folder_by_default(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "init", "filesystem", "duckdb")  # the autouse fixture chdir'ed to tmp_path
    assert code == 0
    assert (Path.cwd() / "flows.toml").is_file() and (Path.cwd() / "secrets.toml").is_file()
    assert "headwater run flows.toml" in out


def test_an_init_file_filled_in_makes_a_source_that_loads(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The files are what a loader needs: flows.toml merged with secrets.toml gives make()'s config."""
    assert init(capsys, tmp_path, "filesystem", "duckdb")[0] == 0
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cities.csv").write_text("id,name\n1,Lyon\n2,Porto\n")
    flows, _ = load(tmp_path)
    spec = flows["sources"]["filesystem"]
    source = registry.make(spec["type"], {**spec["config"], "url": str(tmp_path / "data")})
    destination = flows["destinations"]["warehouse"]
    flow = flows["flows"][0]
    p = hw.pipeline(
        flow["name"],
        destination=hw.destinations.duckdb(str(tmp_path / destination["config"]["path"])),
        dataset=flow["dataset"],
        progress=False,
    )
    p.run(source)
    assert p.query("select name from raw.data order by id").to_pylist() == [{"name": "Lyon"}, {"name": "Porto"}]


@pytest.mark.parametrize("destination", sorted(hw.destinations.available()))
def test_init_for_every_destination_sets_where_the_data_goes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, destination: str
) -> None:
    code, _, err = init(capsys, tmp_path, "rest_api", destination)
    assert code == 0, err
    flows, secrets = load(tmp_path)
    config = {**flows["destinations"]["warehouse"]["config"], **secrets["destinations"]["warehouse"]["config"]}
    assert len(config) == 1  # the file, URL, warehouse or location; the other options are comments
    assert flows["sources"]["rest_api"]["config"] == {
        "client": {"base_url": "https://api.example.com/v1/"},
        "resources": ["<endpoint>"],
    }
