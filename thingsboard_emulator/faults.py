"""Fault injection: make the REST side unavailable, slow or failing for a while, without a restart.

State changes may come from any thread (sync tests drive ``run_in_thread`` emulators), so a lock guards
themand the listener is opened/closed on the emulator's loop through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

FaultMode = Literal["none", "unavailable", "slow", "error"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Asgi = Callable[..., Awaitable[None]]

CONTROL_PREFIX = "/__emulator"


@dataclass(frozen=True, slots=True)
class FaultState:
    mode: FaultMode = "none"
    until: float | None = None  # time.monotonic() deadline; None = until cleared
    delay_s: float = 0.0
    status: int = 503

    def active(self, now: float) -> FaultMode:
        if self.until is not None and now >= self.until:
            return "none"
        return self.mode


class Faults:
    """The public fault switchboard (``emu.faults``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = FaultState()
        self._generation = 0
        # Set by the runner: closes/reopens the HTTP listener on the emulator loop.
        self._set_listening: Callable[[bool], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop, set_listening: Callable[[bool], None]) -> None:
        self._loop = loop
        self._set_listening = set_listening

    @property
    def state(self) -> FaultState:
        return self._state

    def current(self) -> FaultState:
        state = self._state
        if state.active(time.monotonic()) == "none":
            return FaultState()
        return state

    def rest_unavailable(self, seconds: float | None = None) -> None:
        self._set(FaultState("unavailable", self._deadline(seconds)), seconds)

    def rest_slow(self, delay_s: float, seconds: float | None = None) -> None:
        self._set(FaultState("slow", self._deadline(seconds), delay_s=delay_s), seconds)

    def rest_errors(self, status: int = 503, seconds: float | None = None) -> None:
        self._set(FaultState("error", self._deadline(seconds), status=status), seconds)

    def clear(self) -> None:
        self._set(FaultState(), None)

    @staticmethod
    def _deadline(seconds: float | None) -> float | None:
        return None if seconds is None else time.monotonic() + seconds

    def _set(self, state: FaultState, seconds: float | None) -> None:
        with self._lock:
            was_unavailable = self._state.mode == "unavailable"
            self._state = state
            self._generation += 1
            generation = self._generation
        loop, set_listening = self._loop, self._set_listening
        if loop is None or set_listening is None or loop.is_closed():
            return
        now_unavailable = state.mode == "unavailable"
        if now_unavailable != was_unavailable:
            loop.call_soon_threadsafe(set_listening, not now_unavailable)
        if seconds is not None:
            # The listener must come back by itself once the window ends, even if nobody calls clear().
            loop.call_soon_threadsafe(loop.call_later, seconds, self._expire, generation)

    def _expire(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
        self.clear()

    @staticmethod
    def validate_json(body: dict[str, Any]) -> None:
        """Raise ``ValueError``/``TypeError`` if ``apply_json`` would refuse ``body``."""
        if body.get("mode", "none") not in ("none", "unavailable", "slow", "error"):
            raise ValueError(f"unknown fault mode {body.get('mode')!r}")
        for key in ("seconds", "delay_s"):
            if body.get(key) is not None:
                float(body[key])
        if body.get("status") is not None:
            int(body["status"])

    def apply_json(self, body: dict[str, Any]) -> None:
        """Apply the ``POST /__emulator/faults`` body."""
        mode = body.get("mode", "none")
        seconds = body.get("seconds")
        seconds = None if seconds is None else float(seconds)
        if mode == "unavailable":
            self.rest_unavailable(seconds)
        elif mode == "slow":
            self.rest_slow(float(body.get("delay_s", 1.0)), seconds)
        elif mode == "error":
            self.rest_errors(int(body.get("status", 503)), seconds)
        elif mode == "none":
            self.clear()
        else:
            raise ValueError(f"unknown fault mode {mode!r}")


def fault_middleware(app: Asgi, faults: Faults) -> Asgi:
    """Wrap the ASGI app so slow/error faults apply to every REST request except the control endpoints."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(CONTROL_PREFIX):
            state = faults.current()
            if state.mode == "slow":
                await asyncio.sleep(state.delay_s)
            elif state.mode == "error":
                await _send_error(send, state.status)
                return
        await app(scope, receive, send)

    return wrapped


async def _send_error(send: Send, status: int) -> None:
    body = json.dumps(
        {
            "status": status,
            "message": "Service unavailable (injected fault)",
            "errorCode": 2,
            "timestamp": int(time.time() * 1000),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
