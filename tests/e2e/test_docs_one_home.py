"""The guides followed in order by one user, in one folder and one home (the way the issue found that
pipelines with the same name inherited each other's keys and tables): every ``python`` block of the
README and of the DuckDB guides, one file after another, in one folder with one HEADWATER_HOME.

Then the same again from a second folder with the same home: the pipelines of the second pass have
the same names but other DuckDB files (the default file is in the current folder), so they get
working folders of their own and must not see the first pass's schemas, keys or cursors.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import env_with_path
from tests.e2e.test_docs import DOCS, IN_ORDER, python_blocks
from tests.forked import run_python

#: the guides whose examples load into DuckDB files named after their pipelines, in reading order (the
#: only run of their examples: test_docs.py leaves them to this test)
GUIDES = IN_ORDER


#: what the second pass runs again: the guides whose pipelines keep cursors, keys and schemas (the
#: operations guide's pipelines only add more of the same, at ten processes)
AGAIN = [g for g in GUIDES if g.stem != "operations"]


def _run_all(folder: Path, home: Path, guides: list[Path] = GUIDES) -> None:
    env = env_with_path()
    env["HEADWATER_HOME"] = str(home)
    folder.mkdir(parents=True, exist_ok=True)
    for doc in guides:
        assert doc in DOCS
        for i, block in enumerate(python_blocks(doc)):
            script = folder / f"{doc.stem}_{i}.py"
            script.write_text(block)
            out = run_python(script, cwd=folder, env=env)
            assert out.returncode == 0, (
                f"{doc.name} block {i} failed in {folder}:\n{block}\n--- stderr ---\n{out.stderr}"
            )


@pytest.mark.slow
def test_docs_in_order_in_one_home_then_from_another_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _run_all(tmp_path / "first", home)
    _run_all(tmp_path / "second", home, AGAIN)
    folders = sorted(p.name for p in (home / "pipelines").iterdir())
    plain = [f for f in folders if "@" not in f]
    # every pipeline of the second pass has a folder of its own, beside the first pass's
    assert {f.split("@", 1)[0] for f in folders if "@" in f} <= set(plain)
    assert any("@" in f for f in folders)
