"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored as UTC and always read back as an aware UTC ``datetime``.

    PostgreSQL's ``timestamptz`` already does this; SQLite has no time zones, so its driver stores the wall
    clock digits and hands back naive values, which then fail every comparison with petit's aware clock.
    Converting to UTC before storing also keeps SQLite's text ordering (and so ``<``, ``ORDER BY``) right
    for values given in another zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # Guessing a zone would store a wrong instant without anyone noticing.
            raise ValueError(f"naive datetime {value!r}: petit stores timezone-aware datetimes only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite's DATETIME writes the digits only; drop the zone explicitly now that they are UTC's.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def render_alembic_type(type_: str, obj: Any, _autogen_context: Any) -> str | bool:
    """Alembic ``render_item`` hook: migrations spell ``UTCDateTime`` as the plain SQLAlchemy type it stores,
    so they never import petit (a later refactor of this module must not break old revisions)."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


__all__ = ("UTCDateTime", "render_alembic_type")
