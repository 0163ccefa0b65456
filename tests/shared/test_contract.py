"""The event contract: committed schemas match the models; envelopes round-trip."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from putright.shared.events import (
    ComplaintReceived,
    ComplaintWithdrawn,
    Event,
    EventData,
    ExtensionNotified,
    UnknownEventTypeError,
    new_event,
    parse_event,
)
from putright.shared.events.envelope import UPCASTERS, register_upcaster
from putright.shared.events.schemas import SCHEMA_DIR, event_schemas, render
from putright.shared.events.values import Channel, Resident, Stage, header_safe
from putright.shared.topics import Stream, Topics, stream_of

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


def test_committed_schemas_match_the_models() -> None:
    expected = event_schemas()
    committed = {path.name: path.read_text() for path in SCHEMA_DIR.glob("*.json")}
    assert sorted(committed) == sorted(expected), "run: python -m putright.shared.events.schemas"
    for name, schema in expected.items():
        assert committed[name] == render(schema), (
            f"{name} changed: add optional fields, or a .vN type"
        )


def test_every_event_type_is_versioned_and_routed_to_a_stream() -> None:
    for event_type in EventData.registry:
        assert event_type.startswith("uk.putright.")
        assert event_type.rsplit(".", 1)[1].startswith("v")
        assert stream_of(event_type) in Stream


def received() -> ComplaintReceived:
    return ComplaintReceived(
        reference="C-1",
        channel=Channel.PHONE,
        received_at=NOW,
        description="Damp in the bedroom",
        category="repairs",
        handling_organisation_id=uuid4(),
        resident=Resident(name="Sam", email="sam@example.org"),
    )


def test_an_envelope_round_trips_through_json_with_its_typed_payload() -> None:
    event = new_event(
        received(), source="putright/intake", subject=uuid4(), organisation_id=uuid4()
    )
    parsed = parse_event(event.model_dump_json().encode())
    assert parsed == event
    assert isinstance(parsed.data, ComplaintReceived)
    assert parsed.type == "uk.putright.complaint.received.v1"
    assert parsed.correlation_id == event.id
    assert parsed.causation_id is None


def test_a_caused_event_continues_the_correlation_chain() -> None:
    first = new_event(
        received(), source="putright/intake", subject=uuid4(), organisation_id=uuid4()
    )
    second = new_event(
        ComplaintWithdrawn(withdrawn_at=NOW),
        source="putright/intake",
        subject=first.subject,
        organisation_id=first.organisation_id,
        caused_by=first,
    )
    assert second.correlation_id == first.id
    assert second.causation_id == first.id


def test_an_unknown_type_is_refused_by_name() -> None:
    document = json.loads(
        new_event(
            received(), source="x", subject=uuid4(), organisation_id=uuid4()
        ).model_dump_json()
    )
    document["type"] = "uk.putright.complaint.received.v99"
    with pytest.raises(UnknownEventTypeError, match=r"v99"):
        parse_event(json.dumps(document))


def test_a_payload_missing_a_required_field_is_refused() -> None:
    document = json.loads(
        new_event(
            received(), source="x", subject=uuid4(), organisation_id=uuid4()
        ).model_dump_json()
    )
    del document["data"]["channel"]
    with pytest.raises(ValidationError, match="channel"):
        parse_event(json.dumps(document))


def test_an_older_consumer_ignores_a_newer_optional_field() -> None:
    document = json.loads(
        new_event(
            received(), source="x", subject=uuid4(), organisation_id=uuid4()
        ).model_dump_json()
    )
    document["data"]["added_in_a_later_release"] = "ignored"
    assert isinstance(parse_event(json.dumps(document)).data, ComplaintReceived)


def test_an_upcaster_turns_an_old_version_into_the_current_one() -> None:
    old_type = "uk.putright.complaint.extension.notified.v0"

    def from_v0(document: dict[str, object]) -> dict[str, object]:
        data = dict(document["data"])  # type: ignore[call-overload]
        data["extension_working_days"] = data.pop("days")
        return {**document, "type": ExtensionNotified.full_type(), "data": data}

    register_upcaster(old_type, from_v0)
    try:
        event = new_event(
            ExtensionNotified(
                stage=Stage.ONE,
                notified_at=NOW,
                extension_working_days=5,
                previous_due_on=date(2026, 12, 1),
                new_due_on=date(2026, 12, 8),
                reason="Survey needed",
            ),
            source="x",
            subject=uuid4(),
            organisation_id=uuid4(),
        )
        document = json.loads(event.model_dump_json())
        document["type"] = old_type
        document["data"]["days"] = document["data"].pop("extension_working_days")
        upcast = parse_event(json.dumps(document))
        assert isinstance(upcast.data, ExtensionNotified)
        assert upcast.data.extension_working_days == 5
    finally:
        UPCASTERS.pop(old_type)


def test_topics_live_under_a_prefix_with_a_dead_letter_topic_beside_each() -> None:
    topics = Topics("putright")
    assert topics.topic(Stream.COMPLAINTS) == "putright.complaints.v1"
    assert topics.dead_letter(Stream.COMPLAINTS) == "putright.complaints.v1.dlt"
    assert len(topics.all()) == 2 * len(Stream)


@pytest.mark.parametrize("value", ["a\r\nBcc: x@example.org", "a\nb", "nul\x00"])
def test_header_injection_characters_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        header_safe(value)


def test_envelope_is_generic_over_its_payload() -> None:
    event: Event[ComplaintWithdrawn] = new_event(
        ComplaintWithdrawn(withdrawn_at=NOW), source="x", subject=uuid4(), organisation_id=uuid4()
    )
    assert event.data.withdrawn_at == NOW
