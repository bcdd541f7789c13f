"""The state of partitions: what a partition runs with, and what the run keeps of it afterwards.

A partition with a state of its own (``partition_state="own"``, the default) runs with the resource's
``hw.state()`` and cursor being its own, kept under the resource as ``partitions.<key>``; partitions of
a ``shared`` resource (key ranges of one table, file sets) and independent resources read whole in a
worker start from the resource's own state, which is merged back from each of them.
"""

from __future__ import annotations

import copy
from typing import Any

from headwater.schema.state import PipelineState, decode_value
from headwater.streams.resource import Resource

#: where a partitioned resource keeps its partitions' states in its ``hw.state()``
STATE_KEY = "partitions"


def partition_view(state: PipelineState, source: str, resource: str, key: str) -> PipelineState:
    """The state a partition runs with: the pipeline's, with the resource's ``hw.state()`` and cursor
    being the partition's own."""
    view = state.copy()
    own = view.resource_state(source, resource).get(STATE_KEY, {}).get(key, {})
    view.data["sources"][source]["resources"][resource] = dict(own.get("resource", {}))
    view.data["sources"][source]["incremental"][resource] = dict(own.get("incremental", {}))
    return view


def keep_partition_state(state: PipelineState, part: PipelineState, source: str, resource: str, key: str) -> None:
    """Store what partition ``key`` left in its state under the resource's partitions."""
    entry = {
        "resource": part.resource_state(source, resource),
        "incremental": part.incremental_state(source, resource),
    }
    state.resource_state(source, resource).setdefault(STATE_KEY, {})[key] = entry


def keep_shared_state(
    state: PipelineState, part: PipelineState, source: str, resource: Resource, *, first: bool
) -> None:
    """Merge what a partition of a ``shared`` resource left: its ``hw.state()`` (mappings merged key by
    key, so the files each file set read are all remembered), and each cursor at the furthest value
    any partition reached (rows on that value remembered from all of them)."""
    name = resource.name
    theirs = {k: v for k, v in part.resource_state(source, name).items() if k != STATE_KEY}
    mine_state = state.resource_state(source, name)
    if first:  # every partition started from the same state: the first one's replaces it
        for key in [k for k in mine_state if k != STATE_KEY]:
            del mine_state[key]
    _deep_update(mine_state, theirs)
    grows = _cursor_grows(resource)
    mine = state.incremental_state(source, name)
    for path, slot in part.incremental_state(source, name).items():
        have = mine.get(path)
        if not isinstance(slot, dict) or "last_value" not in slot:
            continue
        if not isinstance(have, dict) or "last_value" not in have:
            mine[path] = dict(slot)
            continue
        a, b = decode_value(have["last_value"]), decode_value(slot["last_value"])
        if a == b:
            have["boundary"] = sorted(set(have.get("boundary", ())) | set(slot.get("boundary", ())))
        elif (b > a) == grows:
            mine[path] = dict(slot)


def _deep_update(into: dict[str, Any], theirs: dict[str, Any]) -> None:
    for key, value in theirs.items():
        mine = into.get(key)
        if isinstance(mine, dict) and isinstance(value, dict):
            _deep_update(mine, value)
        else:
            into[key] = copy.deepcopy(value)


def _cursor_grows(resource: Resource) -> bool:
    """Whether the resource's cursor moves up (``last_value_func=max``, the default)."""
    from headwater.pipelines.extraction import _argument_cursors

    cursors = [resource.hints.incremental] if resource.hints.incremental is not None else []
    cursors += _argument_cursors(resource)
    return all(getattr(c, "grows", True) for c in cursors)
