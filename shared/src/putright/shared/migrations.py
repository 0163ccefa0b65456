"""Alembic, driven from code: each service keeps its own migrations in its own schema.

A service's `migrations/env.py` calls `run_env(metadata)`; `upgrade()` runs them on an
async engine inside one transaction, holding an advisory lock so that two replicas
starting at once do not migrate twice.
"""

from __future__ import annotations

import zlib

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from putright.shared.db import create_engine, is_postgres


def run_env(metadata: MetaData) -> None:
    """Body of every service's `env.py`: migrate on the connection `upgrade()` passes in."""
    connection: Connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def upgrade(package: str, *, url: str, schema: str, revision: str = "head") -> None:
    """Bring a service's schema up to `revision` (creating the schema if need be)."""
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    engine = create_engine(url, schema=schema, pool_size=1)
    try:
        async with engine.begin() as connection:
            if is_postgres(url):
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(schema.encode())}
                )
                await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await connection.run_sync(_upgrade, config, revision)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def create_delivery_tables_v1() -> None:
    """Create the outbox and processed-event tables, as every service's first migration does."""
    from alembic import op

    from putright.shared.consumer import processed_event_table
    from putright.shared.outbox import outbox_table

    metadata = MetaData()
    outbox_table(metadata)
    processed_event_table(metadata)
    metadata.create_all(op.get_bind())
