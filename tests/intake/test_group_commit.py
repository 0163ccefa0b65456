"""Group commit: concurrent writes share transactions, and one bad write fails only itself."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from putright.intake.group_commit import GroupCommit
from tests.intake.conftest import Intake


class Store:
    """Commits a batch only if none of its items is bad, like one database transaction."""

    def __init__(self) -> None:
        self.committed: list[str] = []
        self.batches: list[list[str]] = []

    async def __call__(self, items: Sequence[str]) -> None:
        self.batches.append(list(items))
        await asyncio.sleep(0)  # a round trip, during which other writes queue up
        if any(item.startswith("bad") for item in items):
            raise ValueError("rejected")
        self.committed.extend(items)


async def test_concurrent_writes_share_a_transaction() -> None:
    store = Store()
    writer = GroupCommit(store)
    await asyncio.gather(*(writer.write(f"item {n}") for n in range(10)))
    assert sorted(store.committed) == sorted(f"item {n}" for n in range(10))
    assert len(store.batches) < 10


async def test_a_bad_write_fails_alone() -> None:
    store = Store()
    writer = GroupCommit(store)
    results = await asyncio.gather(
        *(writer.write(item) for item in ("a", "b", "bad c", "d")), return_exceptions=True
    )
    assert isinstance(results[2], ValueError)
    assert [r for i, r in enumerate(results) if i != 2] == [None, None, None]
    assert sorted(store.committed) == ["a", "b", "d"]


async def test_batches_are_bounded() -> None:
    store = Store()
    writer = GroupCommit(store, max_batch=3)
    await asyncio.gather(*(writer.write(str(n)) for n in range(7)))
    assert max(len(batch) for batch in store.batches) <= 3
    assert len(store.committed) == 7


async def test_several_transactions_may_be_in_flight() -> None:
    store = Store()
    writer = GroupCommit(store, max_batch=2, in_flight=3)
    await asyncio.gather(*(writer.write(str(n)) for n in range(9)))
    assert sorted(store.committed, key=int) == [str(n) for n in range(9)]
    await writer.write("after")  # the flushers have finished; a new one starts
    assert store.committed[-1] == "after"


@pytest.mark.connected
async def test_every_accepted_concurrent_complaint_is_stored(intake: Intake) -> None:
    landlord = await intake.organisation()
    accepted = await asyncio.gather(*(intake.submit(landlord) for _ in range(20)))
    for complaint in accepted:
        record = await intake.client.get(
            f"/v1/complaints/{complaint['id']}", headers=landlord.headers
        )
        assert record.status_code == 200
        assert [event["type"] for event in record.json()["events"]] == [
            "uk.putright.complaint.received.v1"
        ]
    for complaint in accepted:
        [event] = await intake.events_about(complaint["id"], 1)
        assert event.data.reference == complaint["reference"]  # type: ignore[attr-defined]
