"""The one envelope every Putright event travels in, modelled on CloudEvents 1.0.

Each event type is an `EventData` subclass that names its versioned type. The
envelope is generic over that payload, so `Event[ComplaintReceived]` is fully typed.
Evolution rule: add optional fields to a payload freely; any other change is a new
`.vN` type, and an upcaster turns stored older versions into the new one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

TYPE_PREFIX = "uk.putright."


class EventData(BaseModel):
    """Base of every event payload; subclasses set `event_type` (without the prefix)."""

    # Unknown fields are ignored so an older consumer accepts a newer optional field.
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    registry: ClassVar[dict[str, type[EventData]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "event_type" in cls.__dict__:
            full_type = TYPE_PREFIX + cls.event_type
            if full_type in EventData.registry:
                raise ValueError(f"event type {full_type} is defined twice")
            EventData.registry[full_type] = cls

    @classmethod
    def full_type(cls) -> str:
        """The CloudEvents `type` of this payload, e.g. `uk.putright.complaint.received.v1`."""
        return TYPE_PREFIX + cls.event_type


DataT = TypeVar("DataT", bound=EventData)


def utc_now() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


class Event(BaseModel, Generic[DataT]):
    """A CloudEvents-shaped envelope with Putright's tenancy and tracing attributes."""

    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: UUID = Field(default_factory=uuid4)
    type: str
    source: str = Field(description="The service or external system that emitted the event.")
    time: AwareDatetime = Field(default_factory=utc_now)
    subject: UUID = Field(description="The complaint (or organisation) the event is about.")
    organisation_id: UUID = Field(description="The landlord that owns the subject.")
    correlation_id: UUID = Field(description="The id of the first event of the chain.")
    causation_id: UUID | None = Field(default=None, description="The event that caused this one.")
    datacontenttype: Literal["application/json"] = "application/json"
    data: DataT


def new_event(
    data: DataT,
    *,
    source: str,
    subject: UUID,
    organisation_id: UUID,
    caused_by: Event[Any] | None = None,
    time: datetime | None = None,
    event_id: UUID | None = None,
) -> Event[DataT]:
    """Wrap a payload in an envelope, continuing the correlation chain of `caused_by`."""
    identity = event_id or uuid4()
    envelope: Event[DataT] = envelope_class(type(data))(
        id=identity,
        type=data.full_type(),
        source=source,
        time=time or utc_now(),
        subject=subject,
        organisation_id=organisation_id,
        correlation_id=caused_by.correlation_id if caused_by else identity,
        causation_id=caused_by.id if caused_by else None,
        data=data,
    )
    return envelope


class UnknownEventTypeError(ValueError):
    """The message names an event type this build does not know."""


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[str, Upcaster] = {}


def register_upcaster(old_type: str, upcaster: Upcaster) -> None:
    """Teach `parse_event` to turn a stored `old_type` envelope into its successor."""
    UPCASTERS[old_type] = upcaster


def parse_event(raw: bytes | str | dict[str, Any]) -> Event[EventData]:
    """Validate a serialised envelope into its typed event, upcasting old versions first."""
    document = dict(raw) if isinstance(raw, dict) else _load(raw)
    while document.get("type") in UPCASTERS:
        document = UPCASTERS[document["type"]](document)
    data_class = EventData.registry.get(str(document.get("type")))
    if data_class is None:
        raise UnknownEventTypeError(f"unknown event type {document.get('type')!r}")
    return envelope_class(data_class).model_validate(document)


@functools.cache
def envelope_class(data_class: type[EventData]) -> type[Event[Any]]:
    """`Event[data_class]`, looked up once: pydantic's own lookup costs more than a
    small envelope's validation."""
    return Event[data_class]  # type: ignore[valid-type]


def _load(raw: bytes | str) -> dict[str, Any]:
    loaded = json.loads(raw)
    if not isinstance(loaded, dict):
        raise ValueError("an event must be a JSON object")
    return loaded
