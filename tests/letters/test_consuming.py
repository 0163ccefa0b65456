"""A Kafka batch of events becomes complaint files and letters in a few statements, with
the same effects as one event at a time: replays write nothing twice, a complaint
received again refreshes its file, and a step after its receipt in the same batch finds
the file."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlmodel import col, delete, select

from putright.letters.flows import Letters, register
from putright.letters.models import ComplaintFile, Letter, metadata
from putright.shared.consumer import Origin, Outcome
from putright.shared.events import EventData, LetterKind
from putright.shared.runtime import Runtime
from putright.shared.topics import Stream
from tests.letters.harness import settings_for
from tests.letters.samples import envelope, profile, received, refused, resident

pytestmark = [pytest.mark.connected]
ORIGIN = Origin(topic="letters-test", partition=0, offset=0, key=None)


async def test_a_batch_writes_files_and_letters_once(service_env: dict[str, Any]) -> None:
    settings = settings_for(service_env)
    runtime = Runtime("letters", settings, metadata)
    consumer = runtime.consumer(Stream.ORGANISATIONS, Stream.COMPLAINTS, description="test")
    register(consumer, Letters(runtime, settings))
    landlord, first, second = uuid4(), uuid4(), uuid4()

    def message(complaint: UUID, data: EventData) -> tuple[bytes, Origin]:
        event = envelope(data, subject=complaint, organisation_id=landlord)
        return event.model_dump_json().encode(), ORIGIN

    batch = [
        message(landlord, profile()),
        message(first, received("PR-31", resident=resident())),
        message(second, received("PR-32", resident=resident(name="Sam Tenant"))),
        message(first, refused()),
    ]
    assert await consumer.process_batch(batch) == [Outcome.APPLIED] * 4
    assert await consumer.process_batch(batch) == [Outcome.DUPLICATE] * 4
    again = message(first, received("PR-31B", resident=resident(name="Alex Renamed")))
    assert (
        await consumer.process_batch([again, message(second, refused())]) == [Outcome.APPLIED] * 2
    )

    async with runtime.unit_of_work() as session:
        mine = col(Letter.organisation_id) == landlord
        letters = (await session.exec(select(Letter).where(mine))).all()
        refreshed = await session.get(ComplaintFile, first)
        # No other test's sender may pick these up: the database is shared.
        await session.exec(delete(Letter).where(mine))
    kinds = sorted((letter.complaint_id == first, letter.kind) for letter in letters)
    assert kinds == sorted(
        [
            (True, LetterKind.RECEIPT),
            (True, LetterKind.REFUSAL),
            (True, LetterKind.RECEIPT),
            (False, LetterKind.RECEIPT),
            (False, LetterKind.REFUSAL),
        ]
    )
    assert {letter.status for letter in letters} == {"pending"}
    assert len({letter.message_id for letter in letters}) == 5
    assert refreshed is not None
    assert refreshed.reference == "PR-31B"
    assert refreshed.resident["name"] == "Alex Renamed"
    await runtime.engine.dispose()
