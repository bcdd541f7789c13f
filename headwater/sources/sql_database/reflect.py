"""Reflection: the tables of a database schema, their columns, types, nullability and primary keys."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from headwater.errors import ConfigError
from headwater.schema.hints import column_name
from headwater.schema.types import DataType
from headwater.sources.sql_database.connection import Database
from headwater.sources.sql_database.typemap import (
    MYSQL,
    arrow_type,
    headwater_type,
    is_timestamp_tz,
    log,
    native_type,
)


@dataclass(frozen=True)
class ColumnSpec:
    """One reflected column."""

    name: str  # as the database spells it
    data_type: DataType
    nullable: bool
    sa_type: Any  # the reflected SQLAlchemy type
    fallback: bool = False  # an unknown type read as the database's text form
    native: str = ""  # the database's type name when SQLAlchemy does not know it (lower case: "point")
    reflected: DataType | None = None  # the type reflection gave, before a columns= hint declared another

    @property
    def declared(self) -> bool:
        """Whether a hint declared a type other than the reflected one."""
        return self.reflected is not None and self.reflected != self.data_type

    @property
    def tz_aware(self) -> bool:
        """Whether the column is a timestamp with a time zone."""
        return is_timestamp_tz(self.sa_type)


@dataclass(frozen=True)
class TableSpec:
    """One reflected table (or view): what its stream reads and the hints it declares."""

    name: str
    schema: str | None
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...]
    only: bool = False  # PostgreSQL: a parent by inheritance, read with ONLY (without its children's rows)

    @property
    def qualified(self) -> str:
        """``schema.table``, or the table's name without a schema."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def column(self, name: str, what: str) -> ColumnSpec:
        """The column ``name``; a ConfigError naming the table and listing its columns otherwise."""
        for col in self.columns:
            if col.name == name:
                return col
        close = [c.name for c in self.columns if column_name(c.name) == column_name(name)]
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{what}: table {self.qualified!r} has no column {name!r}",
            hint=f"{hint}columns: {', '.join(c.name for c in self.columns)}",
            table=self.name,
        )

    def with_types(self, overrides: Mapping[str, DataType]) -> TableSpec:
        """This table with the column types ``overrides`` declares (by normalized column name)."""
        if not overrides:
            return self
        columns = tuple(
            dataclasses.replace(
                c, data_type=overrides.get(column_name(c.name), c.data_type), reflected=c.reflected or c.data_type
            )
            for c in self.columns
        )
        return dataclasses.replace(self, columns=columns)

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema chunks are yielded with."""
        return pa.schema(pa.field(c.name, arrow_type(c.data_type), nullable=c.nullable) for c in self.columns)

    def column_hints(self) -> dict[str, dict[str, Any]]:
        """``columns=`` hints, keyed by the database's column names (hints normalize them)."""
        return {c.name: {"data_type": str(c.data_type), "nullable": c.nullable} for c in self.columns}

    @functools.cached_property
    def sa_table(self) -> Any:
        """A SQLAlchemy ``Table`` with the reflected columns only (no constraints to resolve), built once."""
        import sqlalchemy as sa

        return sa.Table(
            self.name, sa.MetaData(), *(sa.Column(c.name, c.sa_type) for c in self.columns), schema=self.schema
        )


def table_names(db: Database, schema: str | None) -> tuple[list[str], list[str]]:
    """The tables and the views of ``schema`` (the default schema when None)."""
    import sqlalchemy as sa

    with db.errors("listing tables"):
        inspector = sa.inspect(db.engine)
        return list(inspector.get_table_names(schema=schema)), list(inspector.get_view_names(schema=schema))


def reflect(
    db: Database, names: Sequence[str], schema: str | None, parents: Collection[str] = ()
) -> dict[str, TableSpec]:
    """Reflect ``names`` (tables or views of ``schema``), in that order; ``parents`` are read with ``ONLY``."""
    import sqlalchemy as sa

    if not names:
        return {}
    with db.errors("reflecting tables " + ", ".join(names)), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Did not recognize type", sa.exc.SAWarning)  # read as text, logged below
        inspector = sa.inspect(db.engine)
        columns = inspector.get_multi_columns(schema=schema, filter_names=list(names), kind=sa.engine.ObjectKind.ANY)
        keys = inspector.get_multi_pk_constraint(schema=schema, filter_names=list(names), kind=sa.engine.ObjectKind.ANY)
    out: dict[str, TableSpec] = {}
    for name in names:
        reflected = columns.get((schema, name), [])
        if not reflected:
            raise ConfigError(f"table {name!r} has no columns that could be reflected", table=name)
        pk = tuple((keys.get((schema, name)) or {}).get("constrained_columns") or ())
        natives = _native_names(db, schema, name, reflected)
        specs = []
        for col in reflected:
            data_type, fallback = headwater_type(col["type"], db.dialect)
            native = natives.get(col["name"], "")
            known = native_type(native, db.dialect) if native else None
            if known is not None:
                data_type, fallback = known, False
            if fallback:
                log.info(
                    "sql_database: column %r of table %r has type %s, read as text",
                    col["name"],
                    name,
                    col["type"],
                )
            nullable = bool(col.get("nullable", True)) and col["name"] not in pk
            specs.append(ColumnSpec(col["name"], data_type, nullable, col["type"], fallback, native))
        out[name] = TableSpec(name, schema, tuple(specs), pk, only=name in parents)
    return out


def _native_names(db: Database, schema: str | None, table: str, reflected: Sequence[Any]) -> dict[str, str]:
    """The database's own type names of the columns SQLAlchemy did not recognize (MySQL's spatial types)."""
    import sqlalchemy as sa

    unknown = [c["name"] for c in reflected if isinstance(c["type"], sa.types.NullType)]
    if not unknown or db.dialect not in MYSQL:
        return {}
    sql = sa.text(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = coalesce(:schema, database()) and table_name = :table"
    )
    with db.errors(f"reading the column types of {table}", table=table), db.connect() as conn:
        found = conn.execute(sql, {"schema": schema, "table": table}).all()
    return {str(n): str(t).lower() for n, t in found if n in unknown}


def partitions(db: Database, schema: str | None) -> tuple[set[str], set[str]]:
    """PostgreSQL's partitions of a schema (their rows are read through their parent), and the tables that
    have children by (legacy) inheritance (read with ``ONLY``, so that each child's rows are read once)."""
    import sqlalchemy as sa

    if db.dialect != "postgresql":
        return set(), set()
    sql = sa.text(
        "select c.relname, c.relispartition, c.relkind = 'r' and exists "
        "(select 1 from pg_inherits i where i.inhparent = c.oid) "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = coalesce(:schema, current_schema()) and c.relkind in ('r', 'p')"
    )
    with db.errors("listing partitions"), db.connect() as conn:
        found = conn.execute(sql, {"schema": schema}).all()
    return {str(r[0]) for r in found if r[1]}, {str(r[0]) for r in found if r[2]}
