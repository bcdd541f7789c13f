"""Layers point down: no module imports a module of a higher layer (docs/architecture.md, "Layers").

Every module under ``headwater/`` is parsed; every import counts, at any level (function-local ones
too), except those under ``if TYPE_CHECKING:``, which exist for the type checker only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "headwater"

#: lowest first; a module may import its own layer and the layers below it
LAYERS: list[tuple[str, ...]] = [
    ("headwater.redact", "headwater._failpoints"),
    ("headwater.errors",),
    ("headwater.optional",),
    # observe: metrics, run records, progress; anything above may import it (it raises Headwater errors
    # and imports OpenTelemetry through optional)
    ("headwater.observe",),
    # the rate limits the workers of a run share (files, a Ray actor): the REST source waits on them,
    # the executors above make the workers share them
    ("headwater.executors.ratelimit",),
    # names.py builds on the naming convention (schema/naming.py) and the model checks names with it
    ("headwater.names", "headwater.schema"),
    ("headwater.packages", "headwater._callable_module"),
    ("headwater.normalize", "headwater.cursors", "headwater.transform"),
    ("headwater.streams",),
    ("headwater.sources",),
    ("headwater.destinations",),
    ("headwater.pipelines",),
    # executors: where the partitions of a run execute (threads, processes, Ray)
    ("headwater.executors",),
    # flows: configuration (dicts, TOML, YAML) made into pipelines; above the engine, below the CLI
    ("headwater.flows",),
    # the dashboard: an application beside the command line over pipelines and destinations (observe is
    # lowest so the engine can record metrics; the dashboard reads them from the top)
    ("headwater.cli", "headwater.__main__", "headwater", "headwater.observe.dashboard"),  # "headwater": the facade
    ("headwater.testing",),  # the conformance suite: uses the facade like any user
]

#: imports that point up and are known, as (importing module, imported module), each with the reason
#: it is kept; none today
EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching prefix, layer)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module.startswith(prefix + ".") and prefix != "headwater"  # the facade is one module
            if (module == prefix or inside) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module or package under headwater/ (not a name defined in one)."""
    path = ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (their ``else`` runs)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                for statement in node.body:
                    skipped.update(id(n) for n in ast.walk(statement))
    return skipped


def imports(path: Path) -> Iterator[tuple[str, int]]:
    """The modules ``path`` imports, with the line of each import."""
    source = path.read_text(encoding="utf-8")
    yield from imports_of(_module_name(path), source, is_package=path.name == "__init__.py")


def imports_of(module: str, source: str, *, is_package: bool) -> Iterator[tuple[str, int]]:
    """The modules the source of ``module`` imports, with the line of each import."""
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(source)
    skipped = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found = []
            for alias in node.names:  # `from headwater import names` imports the module headwater.names
                candidate = f"{target}.{alias.name}"
                found.append(candidate if _is_module(candidate) else target)
            for name in dict.fromkeys(found):
                yield name, node.lineno


def _modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    missing = [_module_name(p) for p in _modules() if _layer(_module_name(p)) is None]
    assert not missing, f"modules in no layer (add them to LAYERS and to docs/architecture.md): {missing}"


def test_layers_point_down() -> None:
    violations: list[str] = []
    for path in _modules():
        module = _module_name(path)
        own = _layer(module)
        assert own is not None
        for target, line in imports(path):
            if target != "headwater" and not target.startswith("headwater."):
                continue
            theirs = _layer(target)
            assert theirs is not None, f"{module} imports {target}, which is in no layer"
            if theirs > own and (module, target) not in EXCEPTIONS:
                violations.append(
                    f"{module} (layer {own}: {', '.join(LAYERS[own])}) imports {target} "
                    f"(layer {theirs}: {', '.join(LAYERS[theirs])}) at {path.relative_to(ROOT.parent)}:{line}"
                )
    assert not violations, "imports that point up:\n  " + "\n  ".join(violations)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import headwater.pipelines.pipeline\n", ["headwater.pipelines.pipeline"]),
        ("from headwater import names\n", ["headwater.names"]),
        ("from headwater import __version__\n", ["headwater"]),
        ("from headwater.errors import ConfigError, DataError\n", ["headwater.errors"]),
        ("def f():\n    from headwater.cli.app import app\n", ["headwater.cli.app"]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import headwater.cli\n", ["typing"]),
        (
            "from . import engine\nfrom .resource import Resource\n",
            ["headwater.streams.engine", "headwater.streams.resource"],
        ),
    ],
)
def test_the_checker_sees_every_import(source: str, expected: list[str]) -> None:
    found = [target for target, _ in imports_of("headwater.streams.probe", source, is_package=False)]
    assert found == expected


def test_the_facade_is_one_module() -> None:
    assert _layer("headwater") == _layer("headwater.cli") == len(LAYERS) - 2  # below the suite only
    assert _layer("headwater.somewhere_new") is None  # a new module must be given its layer


#: the size past which a module is doing more than one job (issue 11: split by job, not by line count)
MAX_MODULE_LINES = 500


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in ROOT.rglob("*.py")}
    too_big = sorted(f"{path.relative_to(ROOT.parent)}: {n} lines" for path, n in sizes.items() if n > MAX_MODULE_LINES)
    assert not too_big, f"split these by job (docs/architecture.md): {too_big}"
