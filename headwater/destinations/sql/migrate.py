"""Schema changes in SQL: create the tables and columns a load needs and widen widened columns.

A column whose type in the database differs from the package's is widened only where the widening
is exact (:data:`~headwater.schema.types.WIDENINGS`, a wider decimal); anything else means another
writer changed the column after extraction, and is refused with the way out (:func:`type_conflict`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater.destinations.common import type_conflict
from headwater.destinations.sql.types import type_key
from headwater.errors import LoadError
from headwater.schema.model import Column, Schema, Table
from headwater.schema.types import WIDENINGS, widen_decimal

if TYPE_CHECKING:
    from headwater.destinations.sql.client import SqlClient


def migrate(client: SqlClient, schema: Schema) -> None:
    """Create missing tables and columns and widen widened columns of ``schema``."""
    existing = client.existing_columns()
    for table in schema.tables.values():
        have = existing.get(client.ident(table.name))
        if have is None:
            cols = ", ".join(client.column_ddl(c) for c in table.columns.values())
            client.execute(f"CREATE TABLE {client.qualified(table.name)} ({cols})")
            continue
        for col in table.columns.values():
            current = have.get(client.ident(col.name))
            if current is None:
                ddl = client.column_ddl(col, create=False)
                client.execute(f"ALTER TABLE {client.qualified(table.name)} ADD COLUMN {ddl}")
                continue
            if col.foreign or type_key(current) == type_key(client.sql_type(col)):
                continue
            if _widens(client, table, col, current):
                wanted = client.sql_type(col)
                client.execute(
                    f"ALTER TABLE {client.qualified(table.name)} ALTER COLUMN {client.quote(col.name)} TYPE {wanted}"
                )
    client.changed_catalog()


def _widens(client: SqlClient, table: Table, col: Column, current: str) -> bool:
    """Whether the column's type in the destination (``current``) may become the package's: False when
    it already holds the package's values exactly (a wider decimal). Anything else would make the
    database cast every value implicitly: a type conflict, refused with the way out."""
    have = client.data_type(current)
    wanted = col.type
    if have == wanted:
        return False  # the same type spelled otherwise (a jsonb column for json)
    if have is not None and have.name == "decimal" and wanted.name in ("decimal", "bigint"):
        wider = widen_decimal(have, wanted)
        if wider == have:
            return False  # the stored column is wider: the values fit as they are
        if wider == wanted:
            return True
    elif have is not None and (have.name, wanted.name) in WIDENINGS:
        if (have.name, wanted.name) == ("bigint", "double"):
            _check_exact_in_double(client, table, col)
        return True
    raise type_conflict(table.name, col.name, current, client.sql_type(col))


def _check_exact_in_double(client: SqlClient, table: Table, col: Column) -> None:
    """Widening bigint to double rounds integers beyond 2^53: refuse if the column holds any (another
    writer may have written them; Headwater's own are tracked in the schema)."""
    rows = client.execute(
        f"SELECT count(*) FROM {client.qualified(table.name)} WHERE abs({client.quote(col.name)}) > 9007199254740992"
    )
    if rows[0][0]:
        raise LoadError(
            f"column {col.name!r} of table {table.name!r} holds {rows[0][0]} integer(s) beyond 2^53 that widening "
            "it to double would round",
            hint=f"drop the pending package and run again with columns={{{col.name!r}: 'bigint'}} on the resource: "
            "a hinted column is never widened, values that do not fit go to a variant column",
            table=table.name,
            column=col.name,
        )
