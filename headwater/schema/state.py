"""Pipeline state: what resources remember between runs, committed together with the data.

A pipeline's state is one JSON document with a version::

    {"version": 12,
     "load_id": "20261122T101500.000000Z",       # the load that produced this version
     "sources": {"github": {
         "source": {...},                        # hw.state("source")
         "resources": {"issues": {...}},         # hw.state() inside the resource "issues"
         "incremental": {"issues": {"updated_at": {...}}},
         "last_load": {"issues": "20261122T101500.000000Z"}}}}   # the newest package of each resource

It travels with each load package and is written to the destination's ``_hw_state`` in the same
transaction as the package's data and its ``_hw_loads`` record, so the destination never holds rows
without the state that produced them, nor state without its rows. The working folder keeps a copy
(``state.json``) for the next extraction; on a new machine it is restored from the destination.

``last_load`` names, per resource, the newest package extracted for it: a package of a resource
older than that one holds rows the newer one extracted again, so it must not be loaded after it
(a *stale* partial package). A package loaded after other loads of the pipeline brings only the
state of its own resources into the newest committed state (:meth:`PipelineState.rebased`), so a
version is never committed twice and nothing newer is undone.

Inside a running resource, :func:`state` returns that resource's dictionary; changes are saved with
the load. Values must be JSON-compatible, plus ``datetime``, ``date`` and ``Decimal``, which keep
their type.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import decimal
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson

from headwater.errors import ConfigError, StateError, closest


def encode_value(value: Any) -> Any:
    """A value as JSON-compatible data, keeping the type of datetimes, dates and decimals."""
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dict):
        return {k: encode_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    return value


def decode_value(value: Any) -> Any:
    """The inverse of :func:`encode_value`."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "$datetime":
                return dt.datetime.fromisoformat(inner)
            if key == "$date":
                return dt.date.fromisoformat(inner)
            if key == "$decimal":
                return decimal.Decimal(inner)
        return {k: decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


class PipelineState:
    """The state document of one pipeline (see the module docstring)."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = data if data is not None else {"version": 0, "load_id": None, "sources": {}}
        self.data.setdefault("sources", {})

    @property
    def version(self) -> int:
        """The state's version, counted up by each commit."""
        return int(self.data.get("version", 0))

    @property
    def load_id(self) -> str | None:
        """The id of the load that committed this state (None before the first)."""
        return self.data.get("load_id")

    def advance(self, load_id: str | None) -> None:
        """The state after ``load_id`` (None: a change without data, such as a reset): one version more."""
        self.data["version"] = self.version + 1
        self.data["load_id"] = load_id

    def _source(self, source: str) -> dict[str, Any]:
        src = self.data["sources"].setdefault(source, {})
        src.setdefault("source", {})
        src.setdefault("resources", {})
        src.setdefault("incremental", {})
        return src

    def mark_extracted(self, source: str, resources: list[str], load_id: str) -> None:
        """Record that package ``load_id`` is the newest extraction of ``resources``."""
        marks = self._source(source).setdefault("last_load", {})
        for name in resources:
            marks[name] = load_id

    def last_load(self, source: str, resource: str) -> str | None:
        """The newest package extracted for a resource, as far as this state knows."""
        value = self.data["sources"].get(source, {}).get("last_load", {}).get(resource)
        return value if isinstance(value, str) else None

    def rebased(self, onto: PipelineState, source: str, resources: list[str], *, version: int) -> PipelineState:
        """This state's ``resources`` of ``source`` (their ``hw.state()``, cursors and marks) on top of
        ``onto``, a newer state: what a package extracted before ``onto`` was committed commits
        instead of its own, older, document. Everything else, including the source-level state, is
        ``onto``'s."""
        out = onto.copy()
        mine = self._source(source)
        theirs = out._source(source)
        for part in ("resources", "incremental", "last_load"):
            target = theirs.setdefault(part, {})
            for name in resources:
                if name in mine.get(part, {}):
                    target[name] = copy.deepcopy(mine[part][name])
                else:
                    target.pop(name, None)
        out.data["version"] = version
        out.data["load_id"] = self.load_id
        return out

    def source_state(self, source: str) -> dict[str, Any]:
        """The state of source ``source``, shared by its resources."""
        return self._source(source)["source"]

    def resource_state(self, source: str, resource: str) -> dict[str, Any]:
        """The state of a resource of ``source`` (created empty if missing)."""
        return self._source(source)["resources"].setdefault(resource, {})

    def incremental_state(self, source: str, resource: str) -> dict[str, Any]:
        """The incremental cursor state of a resource of ``source`` (created empty if missing)."""
        return self._source(source)["incremental"].setdefault(resource, {})

    def reset(self, source: str | None = None, resource: str | None = None) -> list[str]:
        """Forget what resources remember (all of them, a source's, or one resource's).

        Returns what was reset, as ``source.resource`` names.
        """
        done = []
        for src_name, src in self.data["sources"].items():
            if source is not None and src_name != source:
                continue
            names = set(src.get("resources", {})) | set(src.get("incremental", {}))
            for name in sorted(names):
                if resource is not None and name != resource:
                    continue
                src.get("resources", {}).pop(name, None)
                src.get("incremental", {}).pop(name, None)
                done.append(f"{src_name}.{name}")
            if resource is None:
                src["source"] = {}
        return done

    def resource_names(self) -> dict[str, set[str]]:
        """The resources this state knows, by source (those with state, cursors or a mark)."""
        out: dict[str, set[str]] = {}
        for name, src in self.data["sources"].items():
            known = out.setdefault(name, set())
            for part in ("resources", "incremental", "last_load"):
                known.update(src.get(part, {}))
        return out

    def check_names(
        self, source: str | None, resource: str | None, *, also: dict[str, set[str]], pipeline: str
    ) -> None:
        """Refuse a source or resource name that neither this state nor ``also`` (resources seen in
        the pipeline's loads, by source) knows, with a "did you mean"."""
        known = self.resource_names()
        for name, resources in also.items():
            known.setdefault(name, set()).update(resources)
        if source is not None and source not in known:
            raise ConfigError(
                f"pipeline {pipeline!r} has no source {source!r}{_did_you_mean(source, known)}",
                hint=f"its sources: {', '.join(sorted(known)) or 'none yet'}",
                source=source,
            )
        if resource is None:
            return
        pool = known[source] if source is not None else set().union(*known.values())
        if resource not in pool:
            raise ConfigError(
                f"pipeline {pipeline!r} has no resource {resource!r}{_did_you_mean(resource, pool)}",
                hint=f"its resources: {', '.join(sorted(pool)) or 'none yet'}",
                resource=resource,
            )

    def copy(self) -> PipelineState:
        """A deep copy of the state."""
        return PipelineState(copy.deepcopy(self.data))

    def to_json(self, *, indent: bool = True) -> bytes:
        """The state as JSON (indented unless ``indent`` is false).

        Raises:
            StateError: the state holds a value that JSON cannot hold.
        """
        try:
            return orjson.dumps(encode_value(self.data), option=orjson.OPT_INDENT_2 if indent else 0)
        except TypeError as exc:
            raise StateError(
                f"the pipeline state holds a value that cannot be saved: {exc}",
                hint="keep hw.state() to JSON values, datetimes, dates and decimals",
            ) from exc

    @classmethod
    def from_json(cls, raw: bytes | str) -> PipelineState:
        """A state from the JSON :meth:`to_json` made.

        Raises:
            StateError: ``raw`` is not valid JSON, or not a state.
        """
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise StateError(f"the pipeline state is not valid JSON: {exc}") from exc
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Any) -> PipelineState:
        """A state from its parsed JSON, checked: a document of the wrong shape (a version that is not
        a number, a source that is not an object, a datetime that does not parse) is a
        :class:`StateError` saying what is wrong, never a ``ValueError`` later in a run."""
        if not isinstance(data, dict):
            raise StateError(f"the pipeline state is not a JSON object but {type(data).__name__}")
        version = data.get("version", 0)
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise StateError(f"the pipeline state has an invalid version {version!r} (a whole number >= 0)")
        load_id = data.get("load_id")
        if load_id is not None and not isinstance(load_id, str):
            raise StateError(f"the pipeline state has an invalid load_id {load_id!r}")
        sources = data.get("sources", {})
        if not isinstance(sources, dict):
            raise StateError("the pipeline state's 'sources' is not a JSON object")
        for name, src in sources.items():
            if not isinstance(src, dict):
                raise StateError(f"the state of source {name!r} is not a JSON object")
            for part in ("source", "resources", "incremental", "last_load"):
                if not isinstance(src.get(part, {}), dict):
                    raise StateError(f"the {part!r} state of source {name!r} is not a JSON object")
        try:
            decoded = decode_value(data)
        except (ValueError, TypeError, ArithmeticError) as exc:  # a $datetime, $date or $decimal that does not parse
            raise StateError(f"the pipeline state holds a value that does not parse: {exc}") from exc
        return cls(decoded)


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = closest(name, known, cutoff=0.5)
    return f"; did you mean {close!r}?" if close else ""


# -- the state of the running resource ------------------------------------------------------------


@dataclass(frozen=True)
class Running:
    """Which resource of which source is running, and the state it belongs to."""

    state: PipelineState
    source: str
    resource: str


_RUNNING: ContextVar[Running | None] = ContextVar("headwater_running", default=None)


@contextlib.contextmanager
def running(run: Running) -> Iterator[None]:
    """Make ``run`` the running resource (what ``hw.state()`` reads) inside the ``with`` block."""
    token = _RUNNING.set(run)
    try:
        yield
    finally:
        _RUNNING.reset(token)


def current() -> Running | None:
    """The resource running in this thread or task, if any."""
    return _RUNNING.get()


def state(scope: str = "resource") -> dict[str, Any]:
    """The state dictionary of the running resource (or, with ``"source"``, of its source).

    Change it in place; the changes are saved with the load that carries the resource's rows::

        @hw.resource
        def pages():
            st = hw.state()
            page = st.get("next_page", 1)
            ...
            st["next_page"] = page + 1
    """
    run = _RUNNING.get()
    if run is None:
        raise ConfigError(
            "hw.state() is only available while a resource runs in a pipeline",
            hint="call it inside the resource function, not at import time",
        )
    if scope == "resource":
        return run.state.resource_state(run.source, run.resource)
    if scope == "source":
        return run.state.source_state(run.source)
    raise ConfigError(f"unknown state scope {scope!r}", hint="use 'resource' or 'source'")
