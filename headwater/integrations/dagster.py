"""Dagster assets from flows: one asset per flow, or one asset per table (docs/scale.md#dagster).

::

    from headwater.dagster import flow_assets, flow_definitions

    defs = flow_definitions("flows.toml")                  # one asset per flow
    defs = flow_definitions("flows.toml", per="table")     # one multi-asset per flow, one asset per table

Materializing an asset runs its flow, as ``headwater run FLOWS --flow NAME`` does, and reports what the
run loaded as the materialization's metadata (:mod:`headwater.integrations.dagster_metadata`): rows per
table, the run and load ids, the schema and its version, the tables' columns, and the data-quality
checks' results (per table, also as Dagster asset checks). A flow that fails fails the step with the
flow's own error.

Per flow (Hippo's "one pipeline is one data asset"), nothing is built when Dagster loads the
definitions: the flows file is read and checked, no source is made. Per table, each flow is built then
(its source made, a SQL database reflected; nothing is extracted or written) to learn the table of each
selected resource. A table's child tables (``orders__items``, made from lists) belong to its asset: they
load with it in one transaction, and its materialization lists them (``child_tables``, ``columns/...``).
They are not assets of their own because they are known only once a run has made them, and Dagster
needs the same assets in every process of a run: definitions that grew when a run made a child table
would fail the steps that run after it (each step loads the definitions again).
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from headwater import names as hw_names
from headwater.errors import ConfigError, did_you_mean
from headwater.flows.model import Flow
from headwater.flows.runner import Flows, FlowsFailed, load
from headwater.optional import require
from headwater.pipelines.info import LoadInfo
from headwater.schema.checks import Check
from headwater.streams.partitions import only_partitions, partition_key

require("dagster", "headwater.dagster (Dagster assets from flows)", extra="dagster")

import dagster as dg  # noqa: E402

from headwater.integrations.dagster_metadata import (  # noqa: E402
    check_result,
    flow_metadata,
    merged_checks,
    stored_tables,
    table_metadata,
)

__all__ = ["Per", "flow_assets", "flow_definitions"]

#: one asset per flow, or one asset per table the flow writes
Per = Literal["flow", "table"]
PER: Final = ("flow", "table")
#: what Dagster takes as an asset, op or group name, whatever its version
_DAGSTER_NAME: Final = re.compile(r"^[A-Za-z0-9_]+$")
#: the op tag shared by flows that write one DuckDB file (DuckDB allows one writer at a time)
WRITER_TAG: Final = "headwater/writer"


def flow_assets(
    flows: Flows | str | os.PathLike[str] | Mapping[str, Any],
    names: Iterable[str] | str | None = None,
    *,
    per: Per = "flow",
    pipelines_dir: str | os.PathLike[str] | None = None,
    group_name: str | None = None,
    key_prefix: str | Sequence[str] | None = None,
    asset_names: Mapping[str, str] | None = None,
    partitions_def: dg.PartitionsDefinition | Literal["flow"] | None = None,
) -> list[dg.AssetsDefinition]:
    """Dagster assets that run flows: one per flow (``per="flow"``), or one per table (``per="table"``).

    Args:
        flows: a :class:`~headwater.flows.Flows`, or what :func:`headwater.flows.load` takes (a TOML,
            YAML or ``config.py`` path, or a dict).
        names: the flows to make assets of (default: all), in the file's order.
        per: ``"flow"``: one ``@asset`` per flow, keyed by the flow's name; ``"table"``: one
            ``@multi_asset`` per flow with one asset per table, keyed ``[flow, table]``.
        pipelines_dir: where the flows' pipelines keep their working folders (default
            ``~/.headwater/pipelines``, or ``$HEADWATER_HOME/pipelines``).
        group_name: the Dagster asset group (default: Dagster's ``default``).
        key_prefix: a prefix of every asset key (``"raw"`` or ``["warehouse", "raw"]``).
        asset_names: the asset name of a flow whose name Dagster does not take (``{"shop-raw": "shop_raw"}``);
            Dagster names hold letters, digits and ``_`` only.
        partitions_def: ``"flow"``: each asset is partitioned by its flow's partitions (the keys of its
            partitioned resources, ``@hw.resource(partitions=...)``, as a ``StaticPartitionsDefinition``);
            or any Dagster partitions definition whose keys are partition keys of the flows. A
            materialization of one partition runs the flow reading only that partition.

    Raises:
        ConfigError: an unknown flow (with a "did you mean"), a name Dagster does not take, an unknown
            ``per``; with ``per="table"``, a flow whose tables cannot be known before it runs.
        FlowsError: a mistake in the flows file, with its location.
    """
    if per not in PER:
        raise ConfigError(f"unknown per={per!r}", hint=did_you_mean(per, PER, listing="choices"))
    if (
        partitions_def is not None
        and partitions_def != "flow"
        and not isinstance(partitions_def, dg.PartitionsDefinition)
    ):
        raise ConfigError(
            f"partitions_def must be 'flow' or a Dagster partitions definition, got {partitions_def!r}",
            hint="partitions_def='flow' maps each flow's partitions to a StaticPartitionsDefinition",
        )
    made = flows if isinstance(flows, Flows) else load(flows)
    selected = made.select([names] if isinstance(names, str) else names)
    prefix = _prefix(key_prefix)
    if group_name is not None:
        _check_name(group_name, "group_name")
    chosen = _asset_names(made, selected, asset_names or {})
    plan = _Plan(made, pipelines_dir, prefix, group_name, partitions_def)
    return [
        plan.table_assets(flow, chosen[flow.name]) if per == "table" else plan.flow_asset(flow, chosen[flow.name])
        for flow in selected
    ]


def flow_definitions(
    flows: Flows | str | os.PathLike[str] | Mapping[str, Any],
    names: Iterable[str] | str | None = None,
    *,
    per: Per = "flow",
    pipelines_dir: str | os.PathLike[str] | None = None,
    group_name: str | None = None,
    key_prefix: str | Sequence[str] | None = None,
    asset_names: Mapping[str, str] | None = None,
) -> dg.Definitions:
    """A ``dagster.Definitions`` holding :func:`flow_assets` (same arguments), for ``dagster dev -f``.

    Its executor is Dagster's multiprocess executor with one limit: steps of flows that write one
    DuckDB file run one at a time (DuckDB allows one writer), as ``headwater run`` runs them. Add
    schedules, sensors or jobs with ``dagster.Definitions.merge(defs, dagster.Definitions(...))``.
    """
    assets = flow_assets(
        flows,
        names,
        per=per,
        pipelines_dir=pipelines_dir,
        group_name=group_name,
        key_prefix=key_prefix,
        asset_names=asset_names,
    )
    executor = dg.multiprocess_executor.configured(
        {"tag_concurrency_limits": [{"key": WRITER_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]}
    )
    return dg.Definitions(assets=assets, executor=executor)


# -- building ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _TableAsset:
    """One table a flow writes, as one asset of its multi-asset."""

    table: str
    #: the table's data-quality checks, each with its Dagster name (see :func:`_check_names`)
    checks: tuple[tuple[str, Check], ...] = ()


@dataclass(frozen=True)
class _Plan:
    """What every asset of one :func:`flow_assets` call shares."""

    flows: Flows
    pipelines_dir: str | os.PathLike[str] | None
    prefix: tuple[str, ...]
    group_name: str | None
    partitions: dg.PartitionsDefinition | Literal["flow"] | None = None

    def partitions_of(self, flow: Flow) -> dg.PartitionsDefinition | None:
        """The asset's partitions definition: the flow's own partitions for ``"flow"``."""
        if self.partitions != "flow":
            return self.partitions
        keys = flow_partition_keys(self.flows, flow.name, self.pipelines_dir)
        if not keys:
            raise ConfigError(
                f"flow {flow.name!r} has no partitioned resource, so partitions_def='flow' gives it no partitions",
                hint="declare partitions on its resource (@hw.resource(partitions=...)) or leave partitions_def out",
            )
        return dg.StaticPartitionsDefinition(keys)

    def flow_asset(self, flow: Flow, asset_name: str) -> dg.AssetsDefinition:
        """One asset for the whole flow."""
        flows, name, pipelines_dir = self.flows, flow.name, self.pipelines_dir

        partitions = self.partitions_of(flow)

        def materialize(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            info = _run(flows, name, pipelines_dir, context.partition_key if context.has_partition_key else None)
            context.log.info(str(info))
            return dg.MaterializeResult(metadata=flow_metadata(info, stored_tables(info.working_folder)))

        return _dagster(
            flow,
            lambda: dg.asset(
                name=asset_name,
                key_prefix=list(self.prefix) or None,
                group_name=self.group_name,
                description=_describe(flow),
                metadata=_flow_info(flow),
                kinds=_kinds(self.flows, flow),
                op_tags=_op_tags(self.flows, flow),
                partitions_def=partitions,
            )(_resolved(materialize)),
        )

    def table_assets(self, flow: Flow, asset_name: str) -> dg.AssetsDefinition:
        """One multi-asset for the flow: one asset per table it writes."""
        dataset, tables = _flow_tables(self.flows, flow, self.pipelines_dir)
        for t in tables:
            _check_name(t.table, f"flow {flow.name!r}: table")
        keys = {t.table: dg.AssetKey([*self.prefix, asset_name, t.table]) for t in tables}
        kinds = _kinds(self.flows, flow)
        specs = [
            dg.AssetSpec(
                keys[t.table],
                description=f"table {dataset}.{t.table} of flow {flow.name!r}, with its child tables",
                metadata={**_flow_info(flow), "dagster/table_name": f"{dataset}.{t.table}"},
                group_name=self.group_name,
                kinds=kinds,
            )
            for t in tables
        ]
        check_specs = [
            dg.AssetCheckSpec(
                check_name,
                asset=keys[t.table],
                description=f"Headwater check {c.name!r}: {c.describe()} ({c.severity})",
                metadata={"check": c.name, "severity": c.severity},
            )
            for t in tables
            for check_name, c in t.checks
        ]
        flows, name, pipelines_dir = self.flows, flow.name, self.pipelines_dir

        partitions = self.partitions_of(flow)

        def materialize(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
            info = _run(flows, name, pipelines_dir, context.partition_key if context.has_partition_key else None)
            context.log.info(str(info))
            stored = stored_tables(info.working_folder)
            results = merged_checks(info)
            for t in tables:
                found = {r.check: r for r in results if r.table == t.table}
                yield dg.MaterializeResult(
                    asset_key=keys[t.table],
                    metadata=table_metadata(info, t.table, stored),
                    check_results=[check_result(keys[t.table], n, c, found.get(c.name)) for n, c in t.checks],
                )

        return _dagster(
            flow,
            lambda: dg.multi_asset(
                name="__".join([*self.prefix, asset_name]),
                specs=specs,
                check_specs=check_specs,
                can_subset=False,
                description=_describe(flow),
                op_tags=_op_tags(self.flows, flow),
                partitions_def=partitions,
            )(_resolved(materialize)),
        )


def _resolved(fn: Any) -> Any:
    """``fn`` with its annotations as objects: Dagster reads the ``context`` parameter's annotation, which
    ``from __future__ import annotations`` leaves as text."""
    fn.__annotations__ = typing.get_type_hints(fn)
    return fn


def _run(
    flows: Flows, name: str, pipelines_dir: str | os.PathLike[str] | None, partition: str | None = None
) -> LoadInfo:
    """Run one flow (only ``partition`` of its partitioned resources when given); its load info, or the
    flow's own error (not the ``FlowsFailed`` around it)."""
    if partition is not None:
        built = flows.build([name], pipelines_dir=pipelines_dir, progress="log")[0]
        if built.error is not None:
            raise built.error
        assert built.pipeline is not None
        result: LoadInfo = built.pipeline.run(only_partitions(built.data, [partition]))
        return result
    try:
        info: LoadInfo = flows.run([name], pipelines_dir=pipelines_dir, progress="log")[0]
    except FlowsFailed as exc:
        error = exc.results[0].error if exc.results else None
        if error is None:
            raise
        raise error from None
    return info


def flow_partition_keys(flows: Flows, name: str, pipelines_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The partition keys of a flow's partitioned resources, in order (the flow is built, not run)."""
    from headwater.streams.resource import Resource
    from headwater.streams.source import Source

    built = flows.build([name], pipelines_dir=pipelines_dir, progress=False, claim=False)[0]
    if built.error is not None:
        raise built.error
    data = built.data
    resources = data.selected_resources if isinstance(data, Source) else [data] if isinstance(data, Resource) else []
    keys: dict[str, None] = {}
    for r in resources:
        if r.partitions is not None:
            keys.update(dict.fromkeys(partition_key(v) for v in r.partition_values()))
    return list(keys)


def _flow_tables(
    flows: Flows, flow: Flow, pipelines_dir: str | os.PathLike[str] | None
) -> tuple[str, list[_TableAsset]]:
    """The dataset and the tables a flow writes, known before it runs: the flow is built (nothing is
    extracted or written) for the table of each selected resource and its checks."""
    from headwater.streams.source import Source

    built = flows.build([flow.name], pipelines_dir=pipelines_dir, progress=False, claim=False)[0]
    if built.error is not None:  # the source could not be made (a database that does not answer...)
        built.error.add_note(
            f"while building flow {flow.name!r} to list its tables: per='table' builds each flow when Dagster "
            "loads the definitions (per='flow' does not)"
        )
        raise built.error
    data = built.data
    roots: dict[str, dict[str, Check]] = {}
    for r in data.selected_resources if isinstance(data, Source) else [data]:
        if r.hints.table_name is not None and not isinstance(r.hints.table_name, str):
            raise ConfigError(
                f"flow {flow.name!r}: resource {r.name!r} names its tables from its items (table_name is a "
                "function), so they are known only once it runs",
                hint="make this flow's asset with per='flow'",
            )
        table = hw_names.table_name(r.hints.table_name or r.name, resource=r.name)
        roots.setdefault(table, {}).update({c.name: c for c in r.hints.checks})
    tables = [
        _TableAsset(table, tuple(zip(_check_names(list(checks.values())), checks.values(), strict=True)))
        for table, checks in roots.items()
    ]
    return built.pipeline.dataset_name, tables


# -- names and descriptions ----------------------------------------------------------------------
def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not _DAGSTER_NAME.match(name):
        raise ConfigError(
            f"{what} {name!r} cannot name a Dagster asset: Dagster names hold letters, digits and '_' only",
            hint=f"e.g. {re.sub(r'[^A-Za-z0-9_]', '_', str(name))!r}",
        )


def _prefix(key_prefix: str | Sequence[str] | None) -> tuple[str, ...]:
    parts = (key_prefix,) if isinstance(key_prefix, str) else tuple(key_prefix or ())
    for part in parts:
        _check_name(part, "key_prefix")
    return parts


def _asset_names(flows: Flows, selected: list[Flow], asset_names: Mapping[str, str]) -> dict[str, str]:
    """Each selected flow's asset name: its own, or the one ``asset_names`` gives it; all valid, none twice."""
    for flow_name in asset_names:
        if flow_name not in flows.names:
            raise ConfigError(
                f"asset_names: no flow {flow_name!r}", hint=did_you_mean(flow_name, flows.names, listing="flows")
            )
    out: dict[str, str] = {}
    for flow in selected:
        name = asset_names.get(flow.name, flow.name)
        if not isinstance(name, str) or not _DAGSTER_NAME.match(name):
            fixed = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
            if flow.name in asset_names:
                raise ConfigError(
                    f"asset_names[{flow.name!r}]: {name!r} cannot name a Dagster asset (letters, digits and '_' only)",
                    hint=f"e.g. {fixed!r}",
                )
            raise ConfigError(
                f"flow {flow.name!r}: its name cannot name a Dagster asset (letters, digits and '_' only)",
                hint=f"name its asset with asset_names={{{flow.name!r}: {fixed!r}}} (renaming the flow would also "
                "rename its pipeline, and so its state and run history)",
            )
        twice = next((f for f, n in out.items() if n == name), None)
        if twice is not None:
            raise ConfigError(
                f"flows {twice!r} and {flow.name!r} would both be the asset {name!r}",
                hint="give one of them another name with asset_names",
            )
        out[flow.name] = name
    return out


def _check_names(checks: Sequence[Check]) -> list[str]:
    """Dagster names for a table's checks: Headwater's (``not_null(id)``) with what Dagster does not take
    made ``_`` (``not_null_id``), unique per table."""
    out: list[str] = []
    for c in checks:
        base = re.sub(r"[^A-Za-z0-9_]+", "_", c.name).strip("_") or "check"
        name, n = base, 2
        while name in out:
            name, n = f"{base}_{n}", n + 1
        out.append(name)
    return out


def _dagster(flow: Flow, make: Any) -> dg.AssetsDefinition:
    """``make()``, with what Dagster refuses (a reserved name such as ``input``) as a ConfigError naming the flow."""
    try:
        made: dg.AssetsDefinition = make()
    except dg.DagsterInvalidDefinitionError as exc:
        raise ConfigError(
            f"flow {flow.name!r}: Dagster refuses its asset: {exc}",
            hint="a reserved word (such as 'input') may not name an asset: choose another with asset_names",
        ) from exc
    return made


def _describe(flow: Flow) -> str:
    source = flow.source or "its extractor"
    target = flow.destination or "its loader"
    dataset = f", dataset {flow.dataset}" if flow.dataset else ""
    return f"Headwater flow {flow.name!r}: {source} into {target}{dataset}"


def _flow_info(flow: Flow) -> dict[str, Any]:
    """What the definitions say of the flow, before it runs."""
    out: dict[str, Any] = {"flow": flow.name}
    if flow.source is not None:
        out["source"] = flow.source
    if flow.destination is not None:
        out["destination"] = flow.destination
    if flow.resources is not None:
        out["resources"] = dg.MetadataValue.json(list(flow.resources))
    return out


def _kinds(flows: Flows, flow: Flow) -> set[str]:
    """``headwater``, and the destination's type when it is a registered name (``duckdb``, ``postgres``)."""
    kinds = {"headwater"}
    if flow.destination is not None:
        kind = flows.model.destinations[flow.destination].type
        if isinstance(kind, str) and _DAGSTER_NAME.match(kind):
            kinds.add(kind)
    return kinds


def _op_tags(flows: Flows, flow: Flow) -> dict[str, str]:
    """``headwater/writer`` for flows that write one DuckDB file, which :func:`flow_definitions`'s executor
    runs one at a time (as ``Flows.run`` does in one process)."""
    key = _writer(flows, flow)
    return {WRITER_TAG: key} if key is not None else {}


def _writer(flows: Flows, flow: Flow) -> str | None:
    if flow.hippo or flow.loader is not None:
        return "hippo"  # Hippo's extractors and loaders share DuckDB's default connection
    if flow.destination is None:
        return None
    component = flows.model.destinations[flow.destination]
    kind = component.type
    if kind == "duckdb":
        path = component.config.get("path")
        # without a path each pipeline writes its own <name>.duckdb
        return f"duckdb:{path}" if isinstance(path, str | os.PathLike) and str(path) != ":memory:" else None
    path = getattr(kind, "path", None)
    if getattr(kind, "name", None) == "duckdb" and path is not None:
        return f"duckdb:{Path(path).resolve()}"
    return None
