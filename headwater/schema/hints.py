"""Hints a resource gives about the table it writes, validated once, when they are declared.

``columns`` accepts what users write most naturally::

    columns={"price": "decimal(18,2)", "payload": "json"}
    columns={"price": {"data_type": "decimal", "precision": 18, "scale": 2, "nullable": False}}
    columns={"deleted": {"data_type": "bool", "hard_delete": True}}
    columns=[{"name": "price", "data_type": "double"}]

``write_disposition`` is ``append``, ``replace`` or ``merge``; merge takes ``merge_strategy``
(``delete-insert``, ``upsert``, ``scd2``), or the dict form
``{"disposition": "merge", "strategy": "scd2", "validity_column_names": ["from", "to"]}``.

A hint that cannot be right (an unknown type, an unknown key, a bad precision) raises
:class:`~headwater.errors.ConfigError` naming the resource and the column.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, ParamSpec, TypedDict, TypeVar

from headwater import names
from headwater.errors import ConfigError, check_keywords
from headwater.schema.checks import Check, parse_checks
from headwater.schema.contract import Contract, parse_contract
from headwater.schema.masks import Mask, mask_of, parse_mask
from headwater.schema.naming import PATH_SEPARATOR, join_path, snake_case
from headwater.schema.types import DataType, parse_data_type
from headwater.schema.vocabulary import MERGE_STRATEGIES, WRITE_DISPOSITIONS

DEFAULT_VALIDITY: Final = ("_hw_valid_from", "_hw_valid_to")
_COLUMN_KEYS: Final = frozenset(
    {"name", "data_type", "type", "precision", "scale", "nullable", "primary_key", "hard_delete", "mask"}
)
_DISPOSITION_KEYS: Final = frozenset({"disposition", "strategy", "validity_column_names"})


class HintArgs(TypedDict, total=False):
    """The hints a resource takes (in ``@hw.resource``, ``apply_hints`` and ``pipeline.run``).

    Attributes:
        table_name: the table, a string or a function of each item.
        write_disposition: ``append`` (default), ``replace``, ``merge`` (or the dict form).
        merge_strategy: ``delete-insert`` (default), ``upsert`` or ``scd2``.
        primary_key: a column or columns identifying a row.
        merge_key: a column or columns whose values select what a merge replaces (partitions).
        dedup_sort: among rows with the same key in one load, keep the one with the highest
            (``"col"``, ``{"col": "desc"}``) or lowest (``{"col": "asc"}``) value; default: the last.
        columns: column hints: types, ``nullable``, ``primary_key``, ``hard_delete``, ``mask``
            (``"hash"``, ``"redact"``, ``{"partial": N}``: see :mod:`headwater.schema.masks`).
        max_nesting: levels of objects and lists unpacked before values are stored as JSON.
        schema_contract: ``evolve``/``freeze``/``discard_row``/``discard_value``/``quarantine``, for
            all changes or per kind (``{"columns": "freeze"}``).
        incremental: a cursor (``hw.incremental(...)``) applied as a filter to the resource's items.
        partition_by: a column or columns (or, for Iceberg, transforms such as ``"day(created_at)"``)
            the root table is partitioned by where the destination partitions (files, Iceberg, Delta).
        checks: data-quality checks on the root table (``hw.checks.not_null("id")``, or mappings
            ``{"check": "between", "column": "amount", "min": 0}``); see :mod:`headwater.schema.checks`.
    """

    table_name: str | Callable[[Any], str] | None
    write_disposition: str | Mapping[str, Any] | None
    merge_strategy: str | None
    primary_key: str | Sequence[str] | None
    merge_key: str | Sequence[str] | None
    dedup_sort: str | Sequence[str] | Mapping[str, str] | None
    columns: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
    max_nesting: int | None
    schema_contract: str | Mapping[str, str] | None
    incremental: Any
    partition_by: str | Sequence[str] | None
    checks: Any


HINT_NAMES: Final = frozenset(HintArgs.__annotations__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def check_arguments(fn: Callable[_P, _R], label: str | None = None) -> Callable[_P, _R]:
    """Make a misspelled keyword argument of ``fn`` a ConfigError with a "did you mean", instead of
    Python's bare ``TypeError`` (``**hints: Unpack[HintArgs]`` accepts the hint names only).
    ``label`` names the function in the message (default: its qualified name)."""
    params = inspect.signature(fn).parameters.values()
    var_kw = next((p for p in params if p.kind == p.VAR_KEYWORD), None)
    if var_kw is not None and "HintArgs" not in str(var_kw.annotation):
        return fn  # open keyword arguments: nothing to check
    label = label or fn.__qualname__.replace("Pipeline.", "pipeline.").replace("Resource.", "resource.")
    return check_keywords(fn, label, also=HINT_NAMES if var_kw is not None else ())


@dataclass(frozen=True)
class ColumnHint:
    """What a user declared about one column."""

    name: str
    data_type: DataType | None = None
    nullable: bool | None = None
    primary_key: bool = False
    hard_delete: bool = False
    mask: Mask | None = None


@dataclass(frozen=True)
class TableHints:
    """What a resource declares about its table(s)."""

    table_name: str | Callable[[Any], str] | None = None
    write_disposition: str = "append"
    merge_strategy: str = "delete-insert"
    primary_key: tuple[str, ...] = ()
    source_primary_key: tuple[str, ...] = ()  # as written (source keys), for hashing rows
    merge_key: tuple[str, ...] = ()
    dedup_sort: tuple[str, str] | None = None  # (column, "asc" | "desc")
    validity_columns: tuple[str, str] = DEFAULT_VALIDITY
    columns: Mapping[str, ColumnHint] = field(default_factory=dict)
    max_nesting: int | None = None
    contract: Contract = field(default_factory=Contract)
    incremental: Any = None  # an Incremental applied as a filter when the function takes none
    partition_by: tuple[str, ...] = ()  # columns or transforms like "day(created_at)"
    checks: tuple[Check, ...] = ()

    @property
    def row_checks(self) -> tuple[Check, ...]:
        """The checks run on each batch of rows."""
        return tuple(c for c in self.checks if c.is_row)

    @property
    def table_checks(self) -> tuple[Check, ...]:
        """The checks run on the table as it would be after the load."""
        return tuple(c for c in self.checks if not c.is_row)

    def masks(self) -> dict[str, Mask]:
        """The masked columns (flattened names from the root table) and their masks."""
        return {n: h.mask for n, h in self.columns.items() if h.mask is not None}

    def json_columns(self) -> frozenset[str]:
        """The columns hinted as JSON."""
        return frozenset(n for n, h in self.columns.items() if h.data_type and h.data_type.name == "json")

    @property
    def hard_delete_column(self) -> str | None:
        """The column hinted as ``hard_delete``, if any."""
        return next((n for n, h in self.columns.items() if h.hard_delete), None)

    @property
    def is_merge(self) -> bool:
        """Whether the write disposition is ``merge``."""
        return self.write_disposition == "merge"


@check_arguments
def build_hints(
    *,
    resource: str,
    table_name: str | Callable[[Any], str] | None = None,
    write_disposition: str | Mapping[str, Any] | None = None,
    merge_strategy: str | None = None,
    primary_key: str | Sequence[str] | None = None,
    merge_key: str | Sequence[str] | None = None,
    dedup_sort: str | Sequence[str] | Mapping[str, str] | None = None,
    columns: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    max_nesting: int | None = None,
    schema_contract: str | Mapping[str, str] | None = None,
    incremental: Any = None,
    partition_by: str | Sequence[str] | None = None,
    checks: Any = None,
    base: TableHints | None = None,
) -> TableHints:
    """Validate hints given to a resource and merge them over ``base`` (None keeps the base value)."""
    base = base or TableHints()
    if table_name is not None and not (isinstance(table_name, str) or callable(table_name)):
        raise ConfigError(
            f"table_name must be a string or a function of the item, got {type(table_name).__name__}",
            resource=resource,
        )
    if isinstance(table_name, str):
        names.table_name(table_name, resource=resource)  # refused here when it can never be a table
    disposition, strategy, validity = _disposition(write_disposition, merge_strategy, base, resource)
    if max_nesting is not None and (not isinstance(max_nesting, int) or max_nesting < 0):
        raise ConfigError(f"max_nesting must be a non-negative integer, got {max_nesting!r}", resource=resource)
    if primary_key is None:
        pk, raw_pk = base.primary_key, base.source_primary_key
    else:
        raw_pk = _raw_names(primary_key, resource, "primary_key")
        pk = tuple(column_name(n) for n in raw_pk)
    col_hints = dict(base.columns)
    if columns is not None:
        col_hints.update(_parse_columns(columns, resource))
    if not pk:
        pk = tuple(n for n, h in col_hints.items() if h.primary_key)
        raw_pk = pk
    for key in pk:
        hint = col_hints.get(key)
        col_hints[key] = ColumnHint(
            name=key,
            data_type=hint.data_type if hint else None,
            nullable=False,
            primary_key=True,
            hard_delete=hint.hard_delete if hint else False,
            mask=hint.mask if hint else None,
        )
    hard = [n for n, h in col_hints.items() if h.hard_delete]
    if len(hard) > 1:
        raise ConfigError(f"only one column can be the hard_delete column, got {hard}", resource=resource)
    mk = (
        base.merge_key
        if merge_key is None
        else tuple(column_name(n) for n in _raw_names(merge_key, resource, "merge_key"))
    )
    cursor = base.incremental if incremental is None else _incremental(incremental, resource)
    _check_masks(col_hints, pk, mk, cursor, resource)
    return TableHints(
        table_name=base.table_name if table_name is None else table_name,
        write_disposition=disposition,
        merge_strategy=strategy,
        primary_key=pk,
        source_primary_key=raw_pk,
        merge_key=mk,
        dedup_sort=base.dedup_sort if dedup_sort is None else _dedup_sort(dedup_sort, resource),
        validity_columns=validity,
        columns=col_hints,
        max_nesting=base.max_nesting if max_nesting is None else max_nesting,
        contract=base.contract if schema_contract is None else parse_contract(schema_contract, resource=resource),
        incremental=cursor,
        partition_by=base.partition_by if partition_by is None else _partition_by(partition_by, resource),
        checks=base.checks if checks is None else parse_checks(checks, resource=resource, cursor=cursor),
    )


def _check_masks(
    columns: Mapping[str, ColumnHint], pk: tuple[str, ...], mk: tuple[str, ...], cursor: Any, resource: str
) -> None:
    """A key masked by ``redact`` or ``partial`` would make different rows one; a masked cursor would
    store the clear value in the state: both are refused."""
    for name, hint in columns.items():
        if hint.mask is None:
            continue
        if hint.mask.kind != "hash" and (name in pk or name in mk):
            raise ConfigError(
                f"column {name!r} is a key, and a {hint.mask} mask would make different keys equal",
                hint='mask keys with "hash": the same value always gives the same hash',
                resource=resource,
                column=name,
            )
    check_masked_cursor(columns, cursor, resource)


def check_masked_cursor(columns: Mapping[str, ColumnHint], cursor: Any, resource: str) -> None:
    """Refuse a masked incremental cursor: its last value is stored in the pipeline state, in clear."""
    path = getattr(cursor, "cursor_path", None)
    if not isinstance(path, str):
        return
    name = column_name(path.removeprefix("$.").replace(".", PATH_SEPARATOR))
    if mask_of(name, {n: h.mask for n, h in columns.items() if h.mask is not None}) is not None:
        raise ConfigError(
            f"column {name!r} is the incremental cursor: its last value is stored in the pipeline state, "
            "so it cannot be masked",
            hint="use another column as the cursor, or mask this one in a later step",
            resource=resource,
            column=name,
        )


def check_merge(hints: TableHints, resource: str) -> None:
    """Merge needs keys: raise a ConfigError naming the resource when they are missing."""
    if not hints.is_merge:
        return
    if hints.merge_strategy == "upsert" and not hints.primary_key:
        raise ConfigError(
            "merge strategy 'upsert' needs a primary_key", hint="add primary_key= to the resource", resource=resource
        )
    if hints.merge_strategy == "delete-insert" and not (hints.primary_key or hints.merge_key):
        raise ConfigError(
            "write_disposition 'merge' needs a primary_key or a merge_key",
            hint="add primary_key= (rows replace rows with the same key) or merge_key= (replace partitions)",
            resource=resource,
        )
    if hints.hard_delete_column and not (hints.primary_key or hints.merge_key):
        raise ConfigError("a hard_delete column needs a primary_key or merge_key", resource=resource)


def _disposition(
    value: str | Mapping[str, Any] | None, strategy: str | None, base: TableHints, resource: str
) -> tuple[str, str, tuple[str, str]]:
    validity = base.validity_columns
    if isinstance(value, Mapping):
        unknown = set(value) - _DISPOSITION_KEYS
        if unknown:
            raise ConfigError(
                f"unknown key(s) {sorted(unknown)} in write_disposition",
                hint=f"allowed keys: {', '.join(sorted(_DISPOSITION_KEYS))}",
                resource=resource,
            )
        names = value.get("validity_column_names")
        if names is not None:
            if not (isinstance(names, Sequence) and len(names) == 2 and all(isinstance(n, str) and n for n in names)):
                raise ConfigError(f"validity_column_names must be two column names, got {names!r}", resource=resource)
            validity = (column_name(names[0]), column_name(names[1]))
        strategy = value.get("strategy", strategy)
        value = value.get("disposition", "merge")
    disposition = base.write_disposition if value is None else value
    if disposition not in WRITE_DISPOSITIONS:
        raise ConfigError(
            f"unknown write_disposition {disposition!r}",
            hint=f"use one of: {', '.join(WRITE_DISPOSITIONS)}",
            resource=resource,
        )
    strategy = base.merge_strategy if strategy is None else strategy
    if strategy not in MERGE_STRATEGIES:
        raise ConfigError(
            f"unknown merge strategy {strategy!r}", hint=f"use one of: {', '.join(MERGE_STRATEGIES)}", resource=resource
        )
    return disposition, strategy, validity


_TRANSFORM = re.compile(r"^\s*(\w+)\s*\(\s*(?:(\d+)\s*,\s*)?([^(),]+?)\s*\)\s*$")


def _partition_by(value: str | Sequence[str], resource: str) -> tuple[str, ...]:
    """Partition specs with their column names normalized: ``"createdAt"`` -> ``"created_at"``,
    ``"day(createdAt)"`` -> ``"day(created_at)"``, ``"bucket(16, userId)"`` -> ``"bucket(16, user_id)"``."""
    specs = [value] if isinstance(value, str) else list(value)
    out = []
    for spec in specs:
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(f"partition_by takes column names or transforms, got {spec!r}", resource=resource)
        match = _TRANSFORM.match(spec)
        if match is None:
            if "(" in spec or ")" in spec:
                raise ConfigError(
                    f"partition_by spec {spec!r} is not a column or a transform",
                    hint="e.g. 'created_at', 'day(created_at)', 'bucket(16, user_id)', 'truncate(4, name)'",
                    resource=resource,
                )
            out.append(column_name(spec.strip()))
            continue
        transform, width, column = match.groups()
        args = f"{width}, " if width else ""
        out.append(f"{transform.lower()}({args}{column_name(column)})")
    return tuple(out)


def _dedup_sort(value: str | Sequence[str] | Mapping[str, str], resource: str) -> tuple[str, str]:
    if isinstance(value, str):
        column, order = value, "desc"
    elif isinstance(value, Mapping) and len(value) == 1:
        ((column, order),) = value.items()
    elif isinstance(value, Sequence) and len(value) == 2:
        column, order = value[0], value[1]
    else:
        raise ConfigError(
            f"dedup_sort must be a column, {{column: 'asc'|'desc'}} or (column, order), got {value!r}",
            resource=resource,
        )
    if order not in ("asc", "desc"):
        raise ConfigError(f"dedup_sort order must be 'asc' or 'desc', got {order!r}", resource=resource)
    return column_name(column), order


class CursorHint:
    """What ``incremental=`` takes. :class:`headwater.cursors.cursor.Incremental` (``hw.incremental(...)``)
    is the one kind there is; it derives from this class so that hints are checked here, in the schema
    layer, without importing the cursors above it."""

    __slots__ = ()


def _incremental(value: Any, resource: str) -> Any:
    if not isinstance(value, CursorHint):
        raise ConfigError(f"incremental must be made with hw.incremental(...), got {value!r}", resource=resource)
    return value


def column_name(raw: str) -> str:
    """A hinted column name: each ``__``-separated part of a nested path follows the naming convention."""
    return join_path(snake_case(part) for part in str(raw).split(PATH_SEPARATOR))


def _raw_names(value: str | Sequence[str], resource: str, what: str) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{what} must be a column name or a list of column names, got {value!r}", resource=resource)
    return names


def _parse_columns(columns: Mapping[str, Any] | Sequence[Mapping[str, Any]], resource: str) -> dict[str, ColumnHint]:
    items: list[tuple[str, Any]]
    if isinstance(columns, Mapping):
        items = list(columns.items())
    elif isinstance(columns, Sequence) and not isinstance(columns, str):
        items = []
        for spec in columns:
            if not isinstance(spec, Mapping) or "name" not in spec:
                raise ConfigError(
                    f"each column hint in a list must be a dict with a 'name', got {spec!r}",
                    resource=resource,
                )
            items.append((spec["name"], spec))
    else:
        raise ConfigError(f"columns must be a dict of column hints, got {type(columns).__name__}", resource=resource)
    out: dict[str, ColumnHint] = {}
    for raw_name, spec in items:
        name = column_name(raw_name)
        out[name] = _parse_column(name, spec, resource)
    return out


def _parse_column(name: str, spec: Any, resource: str) -> ColumnHint:
    if isinstance(spec, str):
        return ColumnHint(name=name, data_type=_type(spec, name, resource))
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"the hint for column {name!r} must be a type name or a dict, got {type(spec).__name__}",
            resource=resource,
            column=name,
        )
    unknown = set(spec) - _COLUMN_KEYS
    if unknown:
        raise ConfigError(
            f"unknown key(s) {sorted(unknown)} in the hint for column {name!r}",
            hint=f"allowed keys: {', '.join(sorted(_COLUMN_KEYS))}",
            resource=resource,
            column=name,
        )
    type_spec = spec.get("data_type", spec.get("type"))
    data_type: DataType | None = None
    if type_spec is not None:
        data_type = _type(type_spec, name, resource)
        if data_type.name == "decimal" and ("precision" in spec or "scale" in spec):
            precision = spec.get("precision", data_type.precision)
            scale = spec.get("scale", 0 if "precision" in spec else data_type.scale)
            data_type = _type(f"decimal({precision},{scale})", name, resource)
    for flag in ("nullable", "primary_key", "hard_delete"):
        if flag in spec and not isinstance(spec[flag], bool):
            raise ConfigError(f"{flag} must be true or false, got {spec[flag]!r}", resource=resource, column=name)
    mask = None if spec.get("mask") is None else parse_mask(spec["mask"], column=name, resource=resource)
    if mask is not None and data_type is not None and data_type.name != "text":
        raise ConfigError(
            f"column {name!r} is masked, so its values are text, not {data_type}",
            hint="drop the data_type of a masked column (or make it text)",
            resource=resource,
            column=name,
        )
    return ColumnHint(
        name=name,
        data_type=data_type,
        nullable=spec.get("nullable"),
        primary_key=bool(spec.get("primary_key", False)),
        hard_delete=bool(spec.get("hard_delete", False)),
        mask=mask,
    )


def _type(spec: Any, column: str, resource: str) -> DataType:
    try:
        return parse_data_type(spec, where=column)
    except ConfigError as exc:
        raise ConfigError(exc.message, hint=exc.hint, resource=resource, column=column) from None
