"""Every Kafka topic, named in one place, each with its dead-letter topic beside it.

Messages are keyed by the subject (the complaint id, or the organisation id on the
organisations topic), so each complaint's events stay in order on one partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEAD_LETTER_SUFFIX = ".dlt"


class Stream(StrEnum):
    """The streams of events, one topic each; the value is the topic's base name."""

    ORGANISATIONS = "organisations.v1"
    COMPLAINTS = "complaints.v1"
    DEADLINES = "deadlines.v1"
    LETTERS = "letters.v1"
    CONTRACTOR_INBOUND = "contractor-inbound.v1"


@dataclass(frozen=True)
class Topics:
    """Topic names under a prefix, so tests and environments can keep theirs apart."""

    prefix: str = "putright"

    def topic(self, stream: Stream) -> str:
        """The topic a stream is published on."""
        return f"{self.prefix}.{stream.value}"

    def dead_letter(self, stream: Stream) -> str:
        """Where messages of a stream go when they cannot be processed."""
        return self.topic(stream) + DEAD_LETTER_SUFFIX

    def all(self) -> list[str]:
        """Every topic and dead-letter topic, e.g. for provisioning."""
        return [
            name for stream in Stream for name in (self.topic(stream), self.dead_letter(stream))
        ]


def stream_of(data_type: str) -> Stream:
    """The stream an event type belongs on, from its type name."""
    family = data_type.removeprefix("uk.putright.").split(".", 1)[0]
    return {
        "organisation": Stream.ORGANISATIONS,
        "complaint": Stream.COMPLAINTS,
        "deadline": Stream.DEADLINES,
        "letter": Stream.LETTERS,
    }[family]
