"""Small typed FastAPI dependencies every service's HTTP API uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.shared.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    """The service's runtime, set on the app when it was built."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """A session in one transaction for a request that changes state."""
    async with get_runtime(request).unit_of_work() as session:
        yield session


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for a request that only reads."""
    async with get_runtime(request).sessions() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# Commit before the response is sent (FastAPI's default ends a yield dependency after
# it): a 201 must mean the change and its events are stored, and a client's next
# request must see them.
SessionDep = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(read_session)]
