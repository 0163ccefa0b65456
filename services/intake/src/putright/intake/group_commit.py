"""Group commit: concurrent requests that each write a few rows share one transaction.

Each write waits until the transaction holding its rows has committed, so an answer of
success still means stored. While one transaction is committing, the writes that
arrive queue up and go together in the next. If a shared transaction fails, each of
its writes is retried in a transaction of its own, so one bad write fails only itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """Batches `write` calls into calls of `store(items)`, at most `max_batch` at a time."""

    def __init__(
        self, store: Callable[[Sequence[T]], Awaitable[None]], *, max_batch: int = 100
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def write(self, item: T) -> None:
        """Store `item`; returns once the transaction holding it has committed."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        batch: list[tuple[T, asyncio.Future[None]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                await self._store_batch(batch)
        except BaseException:
            # Cancelled (the service is stopping): nobody may wait for ever.
            for _, done in [*batch, *self._waiting]:
                done.cancel()
            self._waiting.clear()
            raise
        finally:
            self._flushing = None

    async def _store_batch(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        try:
            await self.store([item for item, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error)
                return
            for item, done in batch:
                try:
                    await self.store([item])
                except Exception as alone:
                    _settle(done, alone)
                else:
                    _settle(done, None)
            return
        for _, done in batch:
            _settle(done, None)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    # A waiter whose request was cancelled no longer listens.
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
