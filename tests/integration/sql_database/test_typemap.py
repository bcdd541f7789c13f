"""The type mapping for dialects without a server here (MySQL, SQL Server, Oracle): a pure function of the
reflected SQLAlchemy type."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.dialects import mssql, mysql, oracle, postgresql, sqlite
from sqlalchemy.sql.sqltypes import NullType

from headwater.sources.sql_database import headwater_type


@pytest.mark.parametrize(
    ("sa_type", "dialect", "expected", "fallback"),
    [
        (mysql.BIGINT(unsigned=True), "mysql", "decimal(20,0)", False),
        (mysql.TINYINT(1), "mysql", "bool", False),  # BOOLEAN
        (mysql.TINYINT(), "mysql", "bigint", False),
        (mysql.BIT(), "mysql", "bool", False),
        (mysql.BIT(1), "mysql", "bool", False),
        (mysql.BIT(8), "mysql", "binary", False),
        (mysql.SET("a", "b"), "mysql", "text", False),
        (mysql.TIME(), "mysql", "time", False),
        (mysql.TIMESTAMP(), "mariadb", "timestamp", False),
        (mysql.FLOAT(), "mysql", "double", False),
        (mysql.DECIMAL(10, 2), "mysql", "decimal(10,2)", False),
        (mysql.DOUBLE(), "mysql", "double", False),
        (mysql.JSON(), "mysql", "json", False),
        (mysql.ENUM("a", "b"), "mysql", "text", False),
        (mysql.LONGBLOB(), "mysql", "binary", False),
        (mysql.DATETIME(), "mysql", "timestamp", False),
        (mysql.YEAR(), "mysql", "bigint", False),
        (mssql.UNIQUEIDENTIFIER(), "mssql", "uuid", False),
        (mssql.MONEY(), "mssql", "decimal(19,4)", False),
        (mssql.BIT(), "mssql", "bool", False),
        (mssql.DATETIMEOFFSET(), "mssql", "timestamp", False),
        (mssql.NVARCHAR(), "mssql", "text", False),
        (mssql.VARBINARY(), "mssql", "binary", False),
        (oracle.NUMBER(10, 0), "oracle", "bigint", False),
        (oracle.NUMBER(12, 2), "oracle", "decimal(12,2)", False),
        (oracle.NUMBER(), "oracle", "decimal(38,9)", False),
        (postgresql.NUMERIC(), "postgresql", "decimal(38,9)", False),
        (postgresql.NUMERIC(50, 10), "postgresql", "text", True),
        (postgresql.NUMERIC(5, -2), "postgresql", "decimal(7,0)", False),
        (postgresql.NUMERIC(2, 5), "postgresql", "decimal(5,5)", False),
        (postgresql.TIME(timezone=True), "postgresql", "text", True),
        (postgresql.TIMESTAMP(timezone=True), "postgresql", "timestamp", False),
        (postgresql.INTERVAL(), "postgresql", "text", True),
        (postgresql.INET(), "postgresql", "text", True),
        (postgresql.MONEY(), "postgresql", "text", True),
        (postgresql.ARRAY(postgresql.INTEGER()), "postgresql", "json", False),
        (postgresql.JSONB(), "postgresql", "json", False),
        (postgresql.BYTEA(), "postgresql", "binary", False),
        (sqlite.DATETIME(), "sqlite", "timestamp", False),
        (NullType(), "sqlite", "text", True),
    ],
)
def test_type_mapping(sa_type: Any, dialect: str, expected: str, fallback: bool) -> None:
    data_type, is_fallback = headwater_type(sa_type, dialect)
    assert (str(data_type), is_fallback) == (expected, fallback)
