"""What differs between PostgreSQL (the services' database) and SQLite (the embedded mode)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, Table, Uuid, any_, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert(connection: AsyncConnection | Connection, table: Table) -> Any:
    """An INSERT for `connection`'s dialect, so `on_conflict_do_update`/`_nothing` compile."""
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


def among(
    connection: AsyncConnection | Connection, column: ColumnElement[UUID], ids: Iterable[UUID]
) -> ColumnElement[bool]:
    """`column` is one of `ids`: on PostgreSQL one uuid[] parameter, so a batch of any
    size is one statement text (prepared once); elsewhere an IN list."""
    if connection.dialect.name == "postgresql":
        return column == any_(literal(list(ids), postgresql.ARRAY(Uuid)))
    return column.in_(list(ids))
