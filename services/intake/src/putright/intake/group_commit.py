"""Group commit: concurrent requests that each write a few rows share one transaction.

Each write waits until the transaction holding its rows has committed, so an answer of
success still means stored. While transactions are committing, the writes that arrive
queue up and go together in the next. A few transactions may be in flight at once, so
the rate is not bounded by one transaction's round trips when the database is slow to
answer. If a shared transaction fails, each of its writes is retried in a transaction
of its own, so one bad write fails only itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """Batches `write` calls into calls of `store(items)` of at most `max_batch` items,
    with at most `in_flight` calls running at once."""

    def __init__(
        self,
        store: Callable[[Sequence[T]], Awaitable[None]],
        *,
        max_batch: int = 100,
        in_flight: int = 1,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.in_flight = in_flight
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._flushers: set[asyncio.Task[None]] = set()

    async def write(self, item: T) -> None:
        """Store `item`; returns once the transaction holding it has committed."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if len(self._flushers) < self.in_flight:
            self._flushers.add(asyncio.create_task(self._flush()))
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
            # At once, not in a done callback: a write arriving between the two would
            # count this flusher as running and wait for ever.
            self._flushers.discard(asyncio.current_task())

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
