"""A damaged working folder: every file it holds, every kind of damage.

Each case commits a first load (ids 0-9), leaves a second package waiting (ids 10-19), damages one
file, and then checks the class: the next run fails with a ``StateError`` that names the damaged
file and gives a command that recovers (in backquotes); nothing already committed changes; the
test runs that command as a user would (a real subprocess, answering the CLI's question); and the
next run works, ending with every id exactly once.

Permissions are damaged for real: as root (who ignores permission bits) the pipeline runs in a
subprocess as ``nobody``, in a folder that user owns.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import headwater as hw
from headwater.cli.app import describe_pipeline
from headwater.errors import StateError
from headwater.pipelines.workdir import WorkDir
from tests.conftest import env_with_path
from tests.forked import run_python

NAME = "damaged"
FILES = (
    "pipeline.json",
    "schemas/<schema>.json",
    "state.json",
    "packages/<id>/manifest.json",
    "packages/<id>/schema.json",
    "packages/<id>/state.json",
    "packages/<id>/data file",
    ".lock",
)
DAMAGES = ("truncated", "garbled", "empty", "wrong JSON type", "bad version", "folder", "permissions")
#: what a "bad version" means in each JSON file (files without a version field are not versioned)
BAD_VERSION: dict[str, tuple[str, Any]] = {
    "schemas/<schema>.json": ("version", "seven"),
    "state.json": ("version", -3),
    "packages/<id>/manifest.json": ("schema_version", "x"),
    "packages/<id>/schema.json": ("version", 1.5),
    "packages/<id>/state.json": ("version", "12"),
}


def cases() -> Iterator[Any]:
    for file in FILES:
        formats = ("arrow", "parquet") if file == "packages/<id>/data file" else ("arrow",)
        for damage in DAMAGES:
            if damage == "bad version" and file not in BAD_VERSION:
                continue
            for fmt in formats:
                yield pytest.param(file, damage, fmt, id=f"{file}-{damage}-{fmt}".replace("/", "|"))


def phase(folder: str, step: str, fmt: str) -> dict[str, Any]:
    """One step of the pipeline: ``setup`` commits ids 0-9 and leaves ids 10-19 in a package
    waiting; ``run`` runs it over ids 0-19. Returns the error, if any, as data."""
    from headwater.errors import HeadwaterError

    def items(upto: int) -> Any:
        @hw.resource(primary_key="id", name="items")
        def rows(cursor: Any = hw.incremental("id")) -> Any:
            yield [{"id": i, "name": f"n{i}"} for i in range(upto)]

        return rows()

    def pipeline() -> Any:
        return hw.pipeline(
            NAME,
            destination=hw.destinations.duckdb(folder + "/damaged.duckdb"),
            dataset="raw",
            pipelines_dir=folder + "/pipelines",
            progress=False,
            package_format=fmt,
        )

    out: dict[str, Any] = {}
    try:
        if step == "setup":
            pipeline().run(items(10))
            out["pending"] = pipeline().extract(items(20))
        else:
            pipeline().run(items(20))
    except HeadwaterError as exc:
        out["error"] = type(exc).__name__
        out["text"] = str(exc)
        out["hint"] = exc.hint
    return out


SCRIPT = """
import json, sys
from tests.integration.duckdb.test_workdir_damage import phase
print(json.dumps(phase(*sys.argv[1:4])))
"""


class Workspace:
    """A folder with the pipeline's DuckDB file and working folder; runs the pipeline in a
    subprocess as ``user`` (None: this process's user)."""

    def __init__(self, root: Path, fmt: str, unprivileged: bool) -> None:
        self.root = root
        self.fmt = fmt
        self.unprivileged = unprivileged and os.geteuid() == 0
        self.script = root / "pipeline_script.py"
        self.script.write_text(SCRIPT)

    @property
    def workdir(self) -> Path:
        return self.root / "pipelines" / NAME

    def _as_user(self) -> list[str]:
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    def env(self) -> dict[str, str]:
        env = env_with_path()
        env["HEADWATER_HOME"] = str(self.root / "home")
        env["HOME"] = str(self.root / "home")
        return env

    def pipeline_phase(self, step: str) -> dict[str, Any]:
        if not self.unprivileged:
            return phase(str(self.root), step, self.fmt)
        out = subprocess.run(
            [*self._as_user(), sys.executable, str(self.script), str(self.root), step, self.fmt],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.root,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    def command(self, command: str) -> subprocess.CompletedProcess[str]:
        """Run a recovery command from a hint as the user would type it."""
        argv = shlex.split(command)
        if argv[0] == "headwater":
            if not self.unprivileged:  # a new process, forked from one that has imported Headwater
                return run_python(module="headwater", args=argv[1:], input="y\n", env=self.env(), cwd=self.root)
            argv[0] = str(Path(sys.executable).parent / "headwater")
        return subprocess.run(
            [*(self._as_user() if self.unprivileged else []), *argv],
            input="y\n",
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.root,
            timeout=300,
        )

    def rows(self) -> list[tuple[Any, ...]]:
        import duckdb

        con = duckdb.connect(str(self.root / "damaged.duckdb"), read_only=True)
        try:
            return con.execute("SELECT id, name, _hw_load_id FROM raw.items ORDER BY id, _hw_load_id").fetchall()
        finally:
            con.close()


@pytest.fixture
def workspace_factory() -> Iterator[Callable[[str, bool], Workspace]]:
    made: list[Path] = []

    def make(fmt: str, unprivileged: bool) -> Workspace:
        # not under pytest's tmp_path: its parents are closed to other users
        root = Path(tempfile.mkdtemp(prefix="hw-damage-"))
        made.append(root)
        root.chmod(0o755)
        if unprivileged and os.geteuid() == 0:
            os.chown(root, 65534, 65534)
        return Workspace(root, fmt, unprivileged)

    yield make
    for root in made:
        shutil.rmtree(root, ignore_errors=True)


def locate(workspace: Workspace, file: str) -> Path:
    wd = workspace.workdir
    (package,) = sorted((wd / "packages").iterdir())
    if file == "schemas/<schema>.json":
        (path,) = sorted((wd / "schemas").glob("*.json"))
        return path
    if file == "packages/<id>/data file":
        (path,) = sorted(p for p in (package / "data").rglob("*") if p.is_file())
        return path
    return wd / file.replace("packages/<id>", f"packages/{package.name}")


def damage(path: Path, kind: str, file: str) -> None:
    raw = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif kind == "garbled":
        # the same size, bytes changed in the middle (an Arrow file keeps its magic bytes at both ends)
        mid = len(raw) // 3
        path.write_bytes(raw[:mid] + bytes(b ^ 0xA5 for b in raw[mid : 2 * mid]) + raw[2 * mid :])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "wrong JSON type":
        path.write_bytes(b"[1, 2, 3]")
    elif kind == "bad version":
        key, value = BAD_VERSION[file]
        data = orjson.loads(raw)
        data[key] = value
        path.write_bytes(orjson.dumps(data))
    elif kind == "folder":
        path.unlink()
        path.mkdir()
        (path / "something").write_text("x")
    elif kind == "permissions":
        path.chmod(0)
    else:  # pragma: no cover
        raise AssertionError(kind)


def command_of(hint: str | None) -> str:
    assert hint, "the error has no hint"
    found = re.search(r"`([^`]+)`", hint)
    assert found, f"no command in the hint: {hint}"
    return found.group(1)


@pytest.mark.parametrize(("file", "kind", "fmt"), list(cases()))
def test_damaged_file_names_itself_and_the_command_that_recovers(
    file: str, kind: str, fmt: str, workspace_factory: Callable[[str, bool], Workspace]
) -> None:
    ws = workspace_factory(fmt, kind == "permissions")
    setup = ws.pipeline_phase("setup")
    assert "error" not in setup and setup["pending"], setup
    committed = ws.rows()
    assert [r[0] for r in committed] == list(range(10))
    path = locate(ws, file)
    damage(path, kind, file)

    failed = ws.pipeline_phase("run")
    if file == ".lock" and kind not in ("folder", "permissions"):
        # what the lock file says does not matter: the lock is the file's flock
        assert "error" not in failed, failed
    else:
        assert failed.get("error") == "StateError", failed
        assert str(path) in failed["text"], failed["text"]
        # committed rows are never touched by a failure (the waiting package may have loaded first)
        after = ws.rows()
        assert [r for r in after if r[0] < 10] == committed
        if kind != "permissions" and file != ".lock" and (file, kind) != ("packages/<id>/data file", "garbled"):
            # `pipeline info` still works, and lists the damaged file with its way out (a data file
            # garbled in place keeps its size: only the load, which reads it, sees the checksum)
            problems = describe_pipeline(WorkDir(ws.workdir))["problems"]
            assert str(path) in [x["path"] for x in problems], problems
        command = command_of(failed["hint"])
        done = ws.command(command)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        again = ws.pipeline_phase("run")
        assert "error" not in again, again

    final = ws.rows()
    assert [r[0] for r in final] == list(range(20)), "every id exactly once"
    assert [r for r in final if r[0] < 10] == committed


def test_a_damaged_package_never_reaches_the_destination(tmp_path: Path) -> None:
    """A data file garbled in place (same size, Arrow magic bytes intact) is refused by its checksum
    before the load starts, instead of being read with lengths taken from garbage."""
    p = hw.pipeline(
        "garbled",
        destination=hw.destinations.duckdb(str(tmp_path / "g.duckdb")),
        dataset="raw",
        pipelines_dir=tmp_path / "pl",
        progress=False,
    )
    p.run([{"id": 0}], table_name="t")
    load_id = p.extract([{"id": i, "s": "x" * 50} for i in range(1, 5000)], table_name="t")
    assert load_id is not None
    (path,) = (p.workdir.packages / load_id / "data" / "t").iterdir()
    raw = bytearray(path.read_bytes())
    for i in range(len(raw) // 3, len(raw) // 2):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(StateError, match="garbled") as err:
        p.load()
    assert str(path) in str(err.value) and "drop-pending garbled --load-id" in str(err.value)
    assert p.query("SELECT count(*) AS n FROM t").to_pylist() == [{"n": 1}]
    assert p.drop_pending(load_id) == [load_id]
    assert p.pending_packages() == []
