"""The flows commands as a user types them: init then run, validate, show (secrets masked), convert,
Hippo flows named in TOML, and a config.py with FLOWS."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import pytest

import headwater as hw
from headwater.cli import main


def make_db(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("create table Track (TrackId integer primary key, Name text, Milliseconds integer)")
    con.executemany("insert into Track values (?, ?, ?)", [(i, f"t{i}", i * 1000) for i in range(1, 8)])
    con.commit()
    con.close()


def test_init_then_fill_in_then_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """dlt users' `dlt init`: the files `headwater init` writes run once their placeholders are filled."""
    make_db(tmp_path / "music.sqlite")
    assert main(["init", "sql_database", "duckdb", "--dir", str(tmp_path)]) == 0
    secrets = (tmp_path / "secrets.toml").read_text()
    assert 'credentials = "sqlite:///<file>.sqlite"' in secrets
    (tmp_path / "secrets.toml").write_text(secrets.replace("<file>.sqlite", str(tmp_path / "music.sqlite")))
    assert main(["flows", "validate", str(tmp_path / "flows.toml")]) == 0
    assert main(["run", str(tmp_path / "flows.toml"), "--pipelines-dir", str(tmp_path / "p")]) == 0
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.track").fetchone() == (7,)


def test_validate_reports_a_missing_secret_and_an_unimportable_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MISSING_TOKEN", raising=False)
    (tmp_path / "flows.toml").write_text(
        """
[sources.s]
type = "no_such_package.module:factory"
config = { token = "${env:MISSING_TOKEN}" }

[destinations.d]
type = "duckdb"
config = { path = "${file:nowhere.txt}" }

[[flows]]
from = "s"
to = "d"
"""
    )
    capsys.readouterr()
    assert main(["flows", "validate", str(tmp_path / "flows.toml")]) == 2
    err = capsys.readouterr().err
    assert "sources.s.config.token: environment variable 'MISSING_TOKEN' is not set" in err
    assert "destinations.d.config.path: cannot read the file" in err
    assert "sources.s.type: cannot import 'no_such_package.module'" in err


def test_show_masks_secrets_written_in_the_file_and_in_secrets_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "flows.toml").write_text(
        """
[sources.db]
type = "sql_database"
config = { credentials = "${env:DB_URL}" }

[destinations.pg]
type = "postgres"
config = { url = "postgresql://app:hunter2-literal@db.internal/shop" }

[[flows]]
from = "db"
to = "pg"
"""
    )
    (tmp_path / "secrets.toml").write_text(
        '[sources.db.config]\ncredentials = "postgresql://u:from-secrets-file@h/db"\n'
    )
    for fmt in ("json", "toml", "yaml"):
        capsys.readouterr()
        assert main(["flows", "show", str(tmp_path / "flows.toml"), "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert "hunter2-literal" not in out and "from-secrets-file" not in out, out
        assert "db.internal/shop" in out  # only the secret is masked
    capsys.readouterr()
    main(["flows", "show", str(tmp_path / "flows.toml")])
    shown = json.loads(capsys.readouterr().out)
    assert shown["sources"]["db"]["config"]["credentials"] == "***"
    # convert never merges secrets.toml in
    assert main(["flows", "convert", str(tmp_path / "flows.toml"), "--to", "yaml"]) == 0
    converted = capsys.readouterr().out
    assert "from-secrets-file" not in converted and "${env:DB_URL}" in converted


def test_hippo_flow_named_in_toml_with_class_references(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_hippo.py").write_text(
        "import duckdb\n"
        "class Squares:\n"
        "    def __init__(self, config):\n"
        "        self.config = config\n"
        "    def extract(self):\n"
        "        return duckdb.sql(f\"select range as n, range * range as sq from range({self.config['upto']})\")\n"
    )
    (tmp_path / "q.sql").write_text("select n, sq from records where sq > {least}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "flows.toml").write_text(
        f"""
[[flows]]
name = "squares"
dataset = "math"
extractor = {{ class = "my_hippo:Squares", upto = 6 }}
transformer = {{ query_path = "q.sql", kwargs = {{ least = 4 }} }}
loader = {{ destination = "duckdb", config = {{ path = "{tmp_path / "m.duckdb"}" }} }}
"""
    )
    assert main(["run", str(tmp_path / "flows.toml"), "--pipelines-dir", str(tmp_path / "p")]) == 0
    with duckdb.connect(str(tmp_path / "m.duckdb"), read_only=True) as con:
        assert con.execute("select n from math.squares order by n").fetchall() == [(3,), (4,), (5,)]
    text = (tmp_path / "flows.toml").read_text().replace("my_hippo:Squares", "my_hippo:Square")
    (tmp_path / "flows.toml").write_text(text)
    capsys.readouterr()
    assert main(["run", str(tmp_path / "flows.toml"), "--pipelines-dir", str(tmp_path / "p")]) == 2
    assert "did you mean 'Squares'" in capsys.readouterr().err


def test_a_config_py_with_flows(tmp_path: Path) -> None:
    make_db(tmp_path / "music.sqlite")
    (tmp_path / "config.py").write_text(
        "from pathlib import Path\n"
        "HERE = Path(__file__).parent\n"
        "FLOWS = {\n"
        "    'sources': {'music': {'type': 'sql_database', 'config': {'credentials': f'sqlite:///{HERE}/music.sqlite'}}},\n"
        "    'destinations': {'local': {'type': 'duckdb', 'config': {'path': HERE / 'music.duckdb'}}},\n"
        "    'flows': [{'from': 'music', 'to': 'local', 'dataset': 'raw', 'resources': ['track']}],\n"
        "}\n"
    )
    infos = hw.flows.load(tmp_path / "config.py").run(pipelines_dir=tmp_path / "p")
    assert infos[0].pipeline == "music_to_local" and infos[0].rows == 7
    # a Path in a dict is written to a file as text
    assert main(["flows", "convert", str(tmp_path / "config.py"), "--to", "toml", "-o", str(tmp_path / "f.toml")]) == 0
    assert hw.flows.load(tmp_path / "f.toml").model.destinations["local"].config == {
        "path": str(tmp_path / "music.duckdb")
    }


def test_options_a_source_or_destination_refuses_are_located_at_their_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The factories' own checks (beyond option names) are mistakes of the file too: every one is
    reported, at the table that holds it, once even when several flows use it, with exit code 2."""
    (tmp_path / "flows.toml").write_text(
        """
[sources.api]
type = "rest_api"
[sources.api.config]
client = { base_url = "http://127.0.0.1:1", paginator = { type = "page_number", total_path = "" } }
resources = ["orders"]

[sources.db]
type = "sql_database"
config = { credentials = "sqlite:///x.sqlite", chunk_size = -5 }

[destinations.d]
type = "duckdb"
config = { path = 3 }

[[flows]]
from = "api"
to = "d"

[[flows]]
name = "again"
from = "api"
to = "d"

[[flows]]
from = "db"
to = "d"
"""
    )
    capsys.readouterr()
    assert main(["run", str(tmp_path / "flows.toml"), "--pipelines-dir", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "3 problems" in err
    assert "sources.api.config: client: paginator 'page_number': total_path: a JSON path must be" in err
    assert "sources.db.config: chunk_size must be a positive integer, got -5" in err
    assert "destinations.d.config: " in err
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("flows.toml", "[[flows]\nfrom = 'a'\n", "flows.toml: not valid TOML"),
        ("flows.yaml", "flows:\n  - from: a\n   to: b\n", "flows.yaml:3:"),
        ("flows.yml", "- just\n- a list\n", "flows.yml: expected a mapping at the top, got list"),
    ],
)
def test_a_file_that_does_not_parse_exits_2_with_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, where: str
) -> None:
    (tmp_path / name).write_text(text)
    capsys.readouterr()
    assert main(["flows", "validate", str(tmp_path / name)]) == 2
    assert where in capsys.readouterr().err
