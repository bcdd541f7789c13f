"""A flow's ``models``: SQL models run in the destination after each load (see :mod:`headwater.pipelines.models`).

::

    [[flows]]
    from = "shop"
    to = "warehouse"
    models = ["models/daily_orders.sql", { name = "top_customers", sql = "SELECT ..." }]

Each entry is a ``.sql`` file or a folder of them (relative to the flows file; the table is the file's
stem), or a table with ``name`` and ``sql`` or ``path`` (and optionally ``depends_on``). The reader
checks the shape and the names; the SQL is read and parsed when the flow's pipeline is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater import names
from headwater.errors import ConfigError, did_you_mean

_KEYS = ("name", "sql", "path", "depends_on")


def read_models(value: Any, where: str, problems: Any) -> tuple[Any, ...] | None:
    """The ``models`` of a flow as written (paths unresolved), each mistake added to ``problems``."""
    if value is None:
        return None
    items = [value] if isinstance(value, str | Mapping) else value
    if not isinstance(items, list | tuple):
        problems.add(where, f"expected a list of .sql files or tables (name, sql or path), got {value!r}")
        return None
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if isinstance(item, str):
            if "\n" in item or not item.strip():
                problems.add(
                    at,
                    f"expected a .sql file or a folder, got {item[:60]!r}",
                    "SQL text needs a name: {name = ..., sql = ...}",
                )
        elif isinstance(item, Mapping):
            for key in item:
                if key not in _KEYS:
                    problems.add(f"{at}.{key}", f"unknown key {key!r}", did_you_mean(key, _KEYS, listing="keys"))
            if "name" not in item:
                problems.add(at, "missing: 'name' (the table the model makes)")
            else:
                try:
                    names.table_name(item["name"])
                except ConfigError as exc:
                    problems.error(exc, f"{at}.name")
            if ("sql" in item) == ("path" in item):
                problems.add(at, "give exactly one of 'sql' and 'path'")
        else:
            problems.add(at, f"expected a .sql file or a table (name, sql or path), got {item!r}")
    return tuple(dict(item) if isinstance(item, Mapping) else item for item in items)


def pipeline_models(models: tuple[Any, ...] | None, here: Path | None) -> dict[str, Any]:
    """The ``models=`` option of the flow's pipeline: paths made relative to the flows file's folder."""
    if models is None:
        return {}
    base = here or Path.cwd()

    def located(path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else base / p

    out: list[Any] = []
    for item in models:
        if isinstance(item, str):
            out.append(located(item))
        elif "path" in item:
            out.append({**item, "path": located(item["path"])})
        else:
            out.append(dict(item))
    return {"models": out}
