"""Optional SQLite persistence (``--data FILE``): write-behind from the in-memory state.

Changes are queued as they happen and written in batches by a background task, off the event loop, so device
traffic never waits on disk. ``flush()`` on stop makes a clean shutdown lose nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entity (
    kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS attr (
    entity_id TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL, ts INTEGER NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (entity_id, scope, key));
CREATE TABLE IF NOT EXISTS ts_kv (
    entity_id TEXT NOT NULL, key TEXT NOT NULL, ts INTEGER NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (entity_id, key, ts));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SqlitePersistence:
    def __init__(self, path: str, flush_interval_s: float = 0.2) -> None:
        self._path = path
        self._interval = flush_interval_s
        self._ops: list[tuple[str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()  # one writer at a time (flush task vs. final flush)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._task: asyncio.Task[None] | None = None

    # --- reading at start -----------------------------------------------------------------------------------

    def entities(self, kind: str) -> Iterator[dict[str, Any]]:
        for (body,) in self._conn.execute("SELECT body FROM entity WHERE kind = ?", (kind,)):
            yield json.loads(body)

    def attributes(self) -> Iterator[tuple[str, str, str, int, Any]]:
        for entity_id, scope, key, ts, value in self._conn.execute(
            "SELECT entity_id, scope, key, ts, value FROM attr"
        ):
            yield entity_id, scope, key, ts, json.loads(value)

    def timeseries(self) -> Iterator[tuple[str, str, int, Any]]:
        rows = self._conn.execute("SELECT entity_id, key, ts, value FROM ts_kv ORDER BY entity_id, key, ts")
        for entity_id, key, ts, value in rows:
            yield entity_id, key, ts, json.loads(value)

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- writing --------------------------------------------------------------------------------------------

    def record(self, op: str, args: tuple[Any, ...]) -> None:
        self._ops.append((op, args))

    def put_entity(self, kind: str, entity_id: str, body: dict[str, Any]) -> None:
        self._ops.append(("entity", (kind, entity_id, body)))

    def delete_entity(self, kind: str, entity_id: str) -> None:
        self._ops.append(("entity_delete", (kind, entity_id)))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if self._ops:
                ops, self._ops = self._ops, []
                try:
                    await asyncio.to_thread(self._write, ops)
                except Exception:  # keep the emulator alive; the next batch may still succeed
                    log.exception("persisting %d changes failed", len(ops))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        ops, self._ops = self._ops, []
        await asyncio.to_thread(self._write, ops)
        self._conn.close()

    def _write(self, ops: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN")
            try:
                for op, args in ops:
                    self._apply(cur, op, args)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    @staticmethod
    def _apply(cur: sqlite3.Cursor, op: str, args: tuple[Any, ...]) -> None:
        if op == "ts":
            entity_id, key, ts, value = args
            cur.execute(
                "INSERT OR REPLACE INTO ts_kv (entity_id, key, ts, value) VALUES (?, ?, ?, ?)",
                (entity_id, key, ts, json.dumps(value)),
            )
        elif op == "ts_delete":
            entity_id, key, start_ts, end_ts = args
            cur.execute(
                "DELETE FROM ts_kv WHERE entity_id = ? AND key = ? AND ts >= ? AND ts < ?",
                (entity_id, key, start_ts, end_ts),
            )
        elif op == "attr":
            entity_id, scope, key, ts, value = args
            cur.execute(
                "INSERT OR REPLACE INTO attr (entity_id, scope, key, ts, value) VALUES (?, ?, ?, ?, ?)",
                (entity_id, scope, key, ts, json.dumps(value)),
            )
        elif op == "attr_delete":
            cur.execute("DELETE FROM attr WHERE entity_id = ? AND scope = ? AND key = ?", args)
        elif op == "forget":
            cur.execute("DELETE FROM attr WHERE entity_id = ?", args)
            cur.execute("DELETE FROM ts_kv WHERE entity_id = ?", args)
        elif op == "entity":
            kind, entity_id, body = args
            cur.execute(
                "INSERT OR REPLACE INTO entity (kind, id, body) VALUES (?, ?, ?)",
                (kind, entity_id, json.dumps(body)),
            )
        elif op == "entity_delete":
            cur.execute("DELETE FROM entity WHERE kind = ? AND id = ?", args)
