"""Database engines: each service works only in its own PostgreSQL schema.

Connections set `search_path` to the service's schema, so SQL and models never name
a schema and the same models run on SQLite in the embedded mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def is_postgres(url: str) -> bool:
    """Whether a database URL points at PostgreSQL."""
    return make_url(url).get_backend_name() == "postgresql"


def create_engine(url: str, *, schema: str, pool_size: int = 10) -> AsyncEngine:
    """An async engine whose connections see only `schema` (on PostgreSQL)."""
    if is_postgres(url):
        return create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            # No ping on checkout: SQLAlchemy's asyncpg ping is three round trips on every
            # checkout of every relay round, consumer batch and request. After a database
            # restart the first use of a dead connection fails once and the pool drops
            # every older connection; the relay and consumers retry, a request gets a 503.
            pool_pre_ping=False,
            pool_recycle=300,
            connect_args={"server_settings": {"search_path": schema, "timezone": "UTC"}},
        )
    return create_async_engine(url)


def session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session in one transaction: committed on success, rolled back on error."""
    async with sessions() as session, session.begin():
        yield session
