"""What time it is, injected: the real clock in service, a hand-moved one in tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from putright.shared.events.envelope import utc_now


class TimeSource(Protocol):
    """The Clock protocol: everything that depends on "now" asks one of these."""

    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemTime:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return utc_now()


class ManualTime:
    """A clock that only moves when told to, so tests cross months without sleeping."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = start

    def now(self) -> datetime:
        """The instant the test last set."""
        return self._now

    def set(self, instant: datetime) -> None:
        """Jump to `instant` (forwards or back)."""
        self._now = instant

    def advance(self, by: timedelta) -> None:
        """Move forwards by `by`."""
        self._now += by
