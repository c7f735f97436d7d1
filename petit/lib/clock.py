"""Time as a collaborator, so expiry logic can be tested without sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything petit stores is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
