"""Every ```python block of the README and of docs/ runs as written (```py blocks are illustrations).

Each file's blocks run in order, each as a script in a new process (tests/forked.py), in an empty folder
with its own HEADWATER_HOME, as a reader pasting them one after another would run them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import env_with_path
from tests.forked import run_python

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), re.S | re.M)


def test_docs_have_runnable_examples() -> None:
    assert sum(len(python_blocks(p)) for p in DOCS) >= 10


#: the guides test_docs_one_home.py runs in reading order, in a fresh folder and home (the README first, as
#: here); run once there rather than twice (each block is a process of its own)
IN_ORDER = [ROOT / "README.md"] + [
    ROOT / "docs" / f"{n}.md" for n in ("getting-started", "incremental-and-merge", "normalization", "operations")
]


@pytest.mark.parametrize("doc", [p for p in DOCS if python_blocks(p) and p not in IN_ORDER], ids=lambda p: p.name)
def test_doc_examples_run(doc: Path, tmp_path: Path) -> None:
    env = env_with_path()
    env["HEADWATER_HOME"] = str(tmp_path / "home")
    for i, block in enumerate(python_blocks(doc)):
        script = tmp_path / f"block{i}.py"
        script.write_text(block)
        out = run_python(script, cwd=tmp_path, env=env)
        assert out.returncode == 0, f"{doc.name} block {i} failed:\n{block}\n--- stderr ---\n{out.stderr}"
