"""Hints a resource gives about the table it writes, validated once, when they are declared.

``columns`` accepts what users write most naturally::

    columns={"price": "decimal(18,2)", "payload": "json"}
    columns={"price": {"data_type": "decimal", "precision": 18, "scale": 2, "nullable": False}}
    columns=[{"name": "price", "data_type": "double"}]

A hint that cannot be right (an unknown type, an unknown key, a bad precision) raises
:class:`~headwater.errors.ConfigError` naming the resource and the column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from headwater.errors import ConfigError
from headwater.schema.naming import PATH_SEPARATOR, join_path, snake_case
from headwater.schema.types import DataType, parse_data_type

WRITE_DISPOSITIONS: Final = ("append", "replace")
_COLUMN_KEYS: Final = frozenset({"name", "data_type", "type", "precision", "scale", "nullable", "primary_key"})


@dataclass(frozen=True)
class ColumnHint:
    """What a user declared about one column."""

    name: str
    data_type: DataType | None = None
    nullable: bool | None = None
    primary_key: bool = False


@dataclass(frozen=True)
class TableHints:
    """What a resource declares about its table(s)."""

    table_name: str | Callable[[Any], str] | None = None
    write_disposition: str = "append"
    primary_key: tuple[str, ...] = ()
    columns: Mapping[str, ColumnHint] = field(default_factory=dict)
    max_nesting: int | None = None

    def json_columns(self) -> frozenset[str]:
        return frozenset(n for n, h in self.columns.items() if h.data_type and h.data_type.name == "json")


def build_hints(
    *,
    resource: str,
    table_name: str | Callable[[Any], str] | None = None,
    write_disposition: str | None = None,
    primary_key: str | Sequence[str] | None = None,
    columns: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    max_nesting: int | None = None,
    base: TableHints | None = None,
) -> TableHints:
    """Validate hints given to a resource and merge them over ``base`` (None keeps the base value)."""
    base = base or TableHints()
    if table_name is not None and not (isinstance(table_name, str) or callable(table_name)):
        raise ConfigError(
            f"table_name must be a string or a function of the item, got {type(table_name).__name__}",
            resource=resource,
        )
    if isinstance(table_name, str) and not table_name.strip():
        raise ConfigError("table_name must not be empty", resource=resource)
    disposition = base.write_disposition if write_disposition is None else write_disposition
    if disposition not in WRITE_DISPOSITIONS:
        advice = f"use one of: {', '.join(WRITE_DISPOSITIONS)}"
        if disposition == "merge":
            advice = "merge is not available yet in this version; use append or replace"
        raise ConfigError(f"unknown write_disposition {disposition!r}", hint=advice, resource=resource)
    if max_nesting is not None and (not isinstance(max_nesting, int) or max_nesting < 0):
        raise ConfigError(f"max_nesting must be a non-negative integer, got {max_nesting!r}", resource=resource)
    pk = base.primary_key if primary_key is None else _as_names(primary_key, resource, "primary_key")
    col_hints = dict(base.columns)
    if columns is not None:
        col_hints.update(_parse_columns(columns, resource))
    if not pk:
        pk = tuple(n for n, h in col_hints.items() if h.primary_key)
    for key in pk:
        hint = col_hints.get(key)
        col_hints[key] = ColumnHint(
            name=key,
            data_type=hint.data_type if hint else None,
            nullable=False,
            primary_key=True,
        )
    return TableHints(
        table_name=base.table_name if table_name is None else table_name,
        write_disposition=disposition,
        primary_key=pk,
        columns=col_hints,
        max_nesting=base.max_nesting if max_nesting is None else max_nesting,
    )


def column_name(raw: str) -> str:
    """A hinted column name: each ``__``-separated part of a nested path follows the naming convention."""
    return join_path(snake_case(part) for part in str(raw).split(PATH_SEPARATOR))


def _as_names(value: str | Sequence[str], resource: str, what: str) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{what} must be a column name or a list of column names, got {value!r}", resource=resource)
    return tuple(column_name(n) for n in names)


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
    nullable = spec.get("nullable")
    if nullable is not None and not isinstance(nullable, bool):
        raise ConfigError(f"nullable must be true or false, got {nullable!r}", resource=resource, column=name)
    return ColumnHint(
        name=name,
        data_type=data_type,
        nullable=nullable,
        primary_key=bool(spec.get("primary_key", False)),
    )


def _type(spec: Any, column: str, resource: str) -> DataType:
    try:
        return parse_data_type(spec, where=column)
    except ConfigError as exc:
        raise ConfigError(exc.message, hint=exc.hint, resource=resource, column=column) from None
