"""The options of a factory (a source function, a destination class), read from its signature and the
``Args:`` section of its google-style docstring.

Reading is cheap when it can be: the factory's module is found on disk and parsed (:mod:`ast`), not
imported, so listing sources and their options imports neither httpx nor SQLAlchemy. A factory that
cannot be read that way (decorated, defined by an assignment, in a compiled module) is imported and
inspected instead.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FactoryInfo", "SourceOption", "parse_args_section", "read_factory", "read_object"]

#: docstring section headers whose entries are the arguments
_ARGS_HEADERS = ("Args", "Arguments", "Parameters", "Keyword Args", "Keyword Arguments")
_HEADER = re.compile(rf"^(\s*)({'|'.join(_ARGS_HEADERS)}):\s*$")
_ENTRY = re.compile(r"^(\*{0,2}[A-Za-z_]\w*)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")


@dataclass(frozen=True)
class SourceOption:
    """One keyword a factory takes.

    Args:
        name: the keyword (``"credentials"``); for a ``**hints`` catch-all, ``"hints"`` with
            ``variadic`` set.
        type: the annotation as written in the source (``"str | None"``), or ``""`` when there is none.
        required: whether the option has no default.
        default: the default as Python source text (``"'auto'"``, ``"50000"``, ``"None"``); ``None``
            when required. A module-level constant is shown as its value.
        description: the option's entry in the docstring's ``Args:`` section, on one line.
        variadic: a ``**keywords`` catch-all: any other keyword the factory checks itself.
    """

    name: str
    type: str
    required: bool
    default: str | None
    description: str
    variadic: bool = False

    def default_value(self) -> Any:
        """The default as a Python value.

        Raises:
            ValueError: the option is required, or its default is not a literal (an expression).
        """
        if self.default is None:
            raise ValueError(f"option {self.name!r} has no default")
        return ast.literal_eval(self.default)

    def to_dict(self) -> dict[str, Any]:
        """The option as plain data (for ``--json``)."""
        return asdict(self)


@dataclass(frozen=True)
class FactoryInfo:
    """What :func:`read_factory` found: the docstring's first paragraph, the whole docstring, the options."""

    summary: str
    doc: str
    options: list[SourceOption] = field(default_factory=list)


def parse_args_section(doc: str) -> dict[str, tuple[str, str]]:
    """The entries of a google-style docstring's ``Args:`` section: ``{name: (type, description)}``.

    ``name (type): text`` and ``name: text`` entries are read, ``*args`` and ``**kwargs`` as ``args``
    and ``kwargs``; continuation lines (indented deeper) are joined to their entry with a space. The
    type is ``""`` unless written in parentheses.
    """
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    found: dict[str, tuple[str, str]] = {}
    i = 0
    while i < len(lines):
        header = _HEADER.match(lines[i])
        i += 1
        if not header:
            continue
        base = len(header.group(1))
        entry_indent: int | None = None
        current: str | None = None
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
                continue
            indent = len(line) - len(line.lstrip())
            if indent <= base:
                break
            if entry_indent is None:
                entry_indent = indent
            text = line.strip()
            match = _ENTRY.match(text) if indent <= entry_indent else None
            if match:
                current = match.group(1).lstrip("*")
                found[current] = ((match.group(2) or "").strip(), match.group(3).strip())
            elif current is not None:
                kind, description = found[current]
                found[current] = (kind, f"{description} {text}".strip())
            i += 1
    return found


def _summary(doc: str) -> str:
    first = inspect.cleandoc(doc).split("\n\n", 1)[0] if doc else ""
    return " ".join(first.split())


# -- reading without importing ---------------------------------------------------------------------
def _module_file(module: str) -> Path | None:
    """The source file of ``module``, found without importing it or its parent packages."""
    parts = module.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not spec.submodule_search_locations:
        return Path(spec.origin) if len(parts) == 1 and spec.origin and spec.origin.endswith(".py") else None
    folders = [Path(p) for p in spec.submodule_search_locations]
    found: Path | None = None
    for part in parts[1:]:
        found = None
        for folder in folders:
            if (folder / part / "__init__.py").is_file():
                found, folders = folder / part / "__init__.py", [folder / part]
                break
            if (folder / f"{part}.py").is_file():
                found, folders = folder / f"{part}.py", []
                break
        if found is None:
            return None
    if found is None:  # the top-level package itself
        init = folders[0] / "__init__.py" if folders else None
        return init if init is not None and init.is_file() else None
    return found


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to literals (``DEFAULT_CHUNK_SIZE: Final = 50_000``), as source text."""
    out: dict[str, str] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name) and value is not None:
                try:
                    out[target.id] = repr(ast.literal_eval(value))
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    pass
    return out


def _find(module: str, attr: str, depth: int = 0) -> tuple[ast.AST, ast.Module] | None:
    """The definition of ``module:attr`` in the source, following ``from x import attr`` re-exports."""
    path = _module_file(module)
    if path is None or depth > 5:
        return None
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    found: ast.AST | None = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == attr:
            found = node
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == attr:
                    found = None
                    if node.level:
                        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                        base = package.split(".")
                        base = base[: len(base) - (node.level - 1)]
                        source = ".".join([*base, node.module] if node.module else base)
                    else:
                        source = node.module or ""
                    chained = _find(source, alias.name, depth + 1)
                    if chained is not None:
                        return chained
    return (found, tree) if found is not None else None


def _from_ast(node: ast.AST, tree: ast.Module) -> FactoryInfo | None:
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return None
    doc = ast.get_docstring(node) or ""
    if isinstance(node, ast.ClassDef):
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if init is None or init.decorator_list or node.decorator_list:
            return None
        function: ast.FunctionDef | ast.AsyncFunctionDef = init
        skip = 1  # self
    else:
        if node.decorator_list:
            return None
        function, skip = node, 0
    entries = parse_args_section(doc)
    constants = _constants(tree)

    def text(default: ast.expr | None) -> str | None:
        if default is None:
            return None
        if isinstance(default, ast.Name) and default.id in constants:
            return constants[default.id]
        return ast.unparse(default)

    def option(arg: ast.arg, default: ast.expr | None, *, variadic: bool = False) -> SourceOption:
        written, description = entries.get(arg.arg, ("", ""))
        kind = ast.unparse(arg.annotation) if arg.annotation is not None else written
        required = default is None and not variadic
        return SourceOption(arg.arg, kind, required, text(default), description, variadic)

    args = function.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    found = [
        option(arg, default)
        for index, (arg, default) in enumerate(zip(positional, defaults, strict=True))
        if index >= skip and index >= len(args.posonlyargs)  # positional-only ones cannot be keywords
    ]
    found += [option(arg, default) for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    if args.kwarg is not None:
        found.append(option(args.kwarg, None, variadic=True))
    return FactoryInfo(_summary(doc), doc, found)


# -- reading an imported object --------------------------------------------------------------------
def read_object(obj: Any) -> FactoryInfo:
    """The options of an imported function or class, from :func:`inspect.signature` and its docstring."""
    doc = inspect.getdoc(obj) or ""
    entries = parse_args_section(doc)
    found: list[SourceOption] = []
    for param in inspect.signature(obj).parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.VAR_POSITIONAL):
            continue
        written, description = entries.get(param.name, ("", ""))
        annotation = param.annotation
        if annotation is param.empty:
            kind = written
        else:
            kind = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        variadic = param.kind is param.VAR_KEYWORD
        required = param.default is param.empty and not variadic
        default = None if param.default is param.empty else repr(param.default)
        found.append(SourceOption(param.name, kind, required, default, description, variadic))
    return FactoryInfo(_summary(doc), doc, found)


def read_factory(target: str, load: Callable[[], Any] | None = None) -> FactoryInfo | None:
    """The options of ``target`` (``"module:attr"``), read from its source file without importing it.

    Args:
        target: where the factory is, ``module:attr``.
        load: imports the factory when its source cannot be read; without it, ``None`` is returned then.
    """
    module, _, attr = target.partition(":")
    found = _find(module, attr) if attr else None
    if found is not None:
        info = _from_ast(*found)
        if info is not None:
            return info
    if load is None:
        return None
    return read_object(load())


def load_target(target: str) -> Any:
    """Import ``module:attr`` and return the attribute."""
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj
