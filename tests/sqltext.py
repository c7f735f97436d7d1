"""Raw SQL in tests that reads the same on PostgreSQL and SQLite.

SQLite stores ``sa.Uuid`` columns as 32 hex digits and asyncpg as native UUIDs: ids are bound and read back
as ``uuid.UUID`` on both, so a test's assertions do not depend on the backend.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_HEX_UUID = re.compile(r"[0-9a-f]{32}")


def _read(value: Any) -> Any:
    if isinstance(value, str) and _HEX_UUID.fullmatch(value):
        return uuid.UUID(value)
    return value


async def fetch(
    conn: AsyncConnection, sql: str, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run ``sql``; rows as tuples with ids as ``uuid.UUID`` on every backend."""
    sqlite = conn.dialect.name == "sqlite"
    bound = {
        key: (value.hex if sqlite and isinstance(value, uuid.UUID) else value)
        for key, value in (params or {}).items()
    }
    result = await conn.execute(text(sql), bound)
    if not result.returns_rows:
        return []
    rows = result.all()
    return [tuple(_read(v) for v in row) if sqlite else tuple(row) for row in rows]


async def scalar(conn: AsyncConnection, sql: str, params: dict[str, Any] | None = None) -> Any:
    rows = await fetch(conn, sql, params)
    return rows[0][0] if rows else None
