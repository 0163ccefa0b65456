"""What differs between PostgreSQL (the services' database) and SQLite (the embedded mode)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert(connection: AsyncConnection, table: Table) -> Any:
    """An INSERT for `connection`'s dialect, so `on_conflict_do_update`/`_nothing` compile."""
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)
