"""``type = "airbyte"`` in a flows file runs like any registered source, its config checked once."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from headwater.cli import main
from tests.apiserver import APIServer
from tests.integration.airbyte.test_declarative import CDK, KEY, MANIFEST, Items, api  # noqa: F401

FLOWS = """
[sources.shop]
type = "airbyte"
[sources.shop.config]
name = "shop"
manifest = "${{here}}/manifest.yaml"
cdk = "{cdk}"
config = {{ base_url = "{url}", api_key = "${{env:SHOP_KEY}}", start_date = "2023-01-01T00:00:00Z" }}

[destinations.local]
type = "duckdb"
config = {{ path = "{db}" }}

[[flows]]
from = "shop"
to = "local"
dataset = "raw"
"""


@pytest.mark.slow
def test_a_flow_of_an_airbyte_manifest_loads_and_then_reads_only_new_rows(
    api: APIServer,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = Items(api)
    monkeypatch.setenv("SHOP_KEY", KEY)
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    db = tmp_path / "w.duckdb"
    flows = tmp_path / "flows.toml"
    flows.write_text(FLOWS.format(cdk=CDK, url=api.url, db=db))
    assert main(["run", str(flows), "--pipelines-dir", str(tmp_path / "p")]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from raw.items").fetchone() == (5,)
    items.rows.append(items.row(6) | {"updated_at": "2024-02-02T00:00:00Z"})
    api.requests.clear()
    assert main(["run", str(flows), "--pipelines-dir", str(tmp_path / "p")]) == 0
    # the state came back (check, run when the flow is built, still starts from start_date)
    assert any(c.query["since"].startswith("2024-01-05") for c in api.calls("/items"))
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from raw.items").fetchone() == (6,)


def test_flows_validate_names_a_misspelled_option_of_the_airbyte_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flows = tmp_path / "flows.toml"
    flows.write_text(
        '[sources.s]\ntype = "airbyte"\nconfig = { name = "source-faker", stream = ["users"] }\n'
        '[destinations.d]\ntype = "duckdb"\n[[flows]]\nfrom = "s"\nto = "d"\n'
    )
    assert main(["flows", "validate", str(flows)]) != 0
    assert "unknown option 'stream' of source 'airbyte'; did you mean 'streams'?" in capsys.readouterr().err
