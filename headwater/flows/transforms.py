"""A flow's ``transform`` applied to the resources of its source (``from = "<source id>"``).

The transform is checked once (:func:`headwater.transform.make_transform`; a ``function`` may be named
``"package.module:function"``, a ``query_path`` is relative to the flows file's folder) and set on
every selected resource of the source: each resource's own rows are its ``records``. The engine that
runs it is the pipeline's (:mod:`headwater.pipelines.transforming`), as for ``@hw.resource(transform=...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError
from headwater.flows.reader import Problems
from headwater.flows.values import Resolver
from headwater.streams.resource import Resource
from headwater.streams.source import Source
from headwater.transform import Transform, make_transform


def checked_transform(spec: Mapping[str, Any], base_dir: Path | None) -> Transform:
    """The :class:`Transform` of a flow's ``transform`` table (a function named by reference resolved).

    Raises:
        ConfigError: what :func:`make_transform` refuses, or a function reference that does not import.
    """
    from headwater.flows.hippo import resolve_object

    table = dict(spec)
    if isinstance(table.get("function"), str):
        table["function"] = resolve_object(table["function"], "transform function")
    return make_transform(table, base_dir=base_dir)


def check_query(spec: Mapping[str, Any], base_dir: Path | None, where: str, problems: Problems) -> None:
    """Check a query transform without running it (``flows validate``): its file, its text and its
    parameters; placeholders in ``params`` must resolve. A function is checked by importing it, elsewhere."""
    if "function" in spec:
        return
    resolved = Resolver(base_dir).resolve(spec, where, problems)
    try:
        make_transform(resolved, base_dir=base_dir)
    except ConfigError as exc:
        problems.add(where, exc.message, exc.hint)


def with_transform(
    data: Any, spec: Mapping[str, Any] | None, base_dir: Path | None, where: str, problems: Problems
) -> Any:
    """``data`` (a source or a resource) with ``spec`` on each selected resource; None after a problem.

    A source's resources are replaced by transformed copies (the source is the flow's own); a resource
    is copied, so an object given in a Python dict is not changed.
    """
    if spec is None or data is None:
        return data
    try:
        transform = checked_transform(spec, base_dir)
    except ConfigError as exc:
        problems.add(where, exc.message, exc.hint)
        return None
    if isinstance(data, Source):
        for name, resource in list(data.resources.items()):
            if resource.selected:
                data.resources[name] = resource.with_transform(transform)
        return data
    if isinstance(data, Resource):
        return data.with_transform(transform)
    return data
