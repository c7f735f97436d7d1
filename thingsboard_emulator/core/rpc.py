"""Server-side RPC (reference §6.2): pending until the device subscribes, one-way/two-way, expiry outcomes."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from thingsboard_emulator.contracts import DeviceSession, JsonValue, RpcRequest

MIN_TIMEOUT_MS = 5000

RpcStatus = Literal["ok", "no_connection", "timeout", "bad_reply"]


@dataclass(frozen=True, slots=True)
class RpcOutcome:
    status: RpcStatus
    payload: JsonValue = None
    empty: bool = False  # the device answered with an empty payload


@dataclass(slots=True)
class _Pending:
    request: RpcRequest
    future: asyncio.Future[RpcOutcome]
    delivered: bool = False
    on_delivered: Callable[[], None] | None = None


@dataclass(slots=True)
class _DeviceRpc:
    seq: itertools.count[int] = field(default_factory=itertools.count)
    pending: dict[int, _Pending] = field(default_factory=dict)


SessionsOf = Callable[[str], Iterable[DeviceSession]]


class RpcEngine:
    def __init__(self, subscribed_sessions: SessionsOf) -> None:
        self._sessions = subscribed_sessions
        self._devices: dict[str, _DeviceRpc] = {}

    async def call(
        self,
        device_id: str,
        method: str,
        params: JsonValue,
        *,
        one_way: bool,
        timeout_ms: int,
        on_delivered: Callable[[], None] | None = None,
    ) -> RpcOutcome:
        state = self._devices.setdefault(device_id, _DeviceRpc())
        request = RpcRequest(next(state.seq), method, params, one_way)
        pending = _Pending(request, asyncio.get_running_loop().create_future(), on_delivered=on_delivered)
        state.pending[request.request_id] = pending
        self._deliver(device_id, pending)
        try:
            return await asyncio.wait_for(asyncio.shield(pending.future), timeout_ms / 1000)
        except TimeoutError:
            return RpcOutcome("timeout" if pending.delivered else "no_connection")
        finally:
            state.pending.pop(request.request_id, None)

    def _deliver(self, device_id: str, pending: _Pending) -> None:
        sessions = list(self._sessions(device_id))
        if not sessions:
            return
        for session in sessions:
            session.deliver_rpc_request(pending.request)
        pending.delivered = True
        if pending.on_delivered is not None:
            pending.on_delivered()
        if pending.request.one_way and not pending.future.done():
            pending.future.set_result(RpcOutcome("ok", None, empty=True))

    def on_subscribe(self, device_id: str) -> None:
        """Requests queued while the device was not listening go out now, oldest first."""
        state = self._devices.get(device_id)
        if state is None:
            return
        for pending in sorted(state.pending.values(), key=lambda p: p.request.request_id):
            if not pending.delivered and not pending.future.done():
                self._deliver(device_id, pending)

    def on_reply(self, device_id: str, request_id: int, payload: Any) -> None:
        state = self._devices.get(device_id)
        pending = None if state is None else state.pending.get(request_id)
        if pending is None or pending.future.done():
            return
        pending.future.set_result(_reply_outcome(payload))

    def forget(self, device_id: str) -> None:
        state = self._devices.pop(device_id, None)
        if state is None:
            return
        for pending in state.pending.values():
            if not pending.future.done():
                pending.future.set_result(RpcOutcome("timeout" if pending.delivered else "no_connection"))


def _reply_outcome(payload: Any) -> RpcOutcome:
    """Transports pass parsed JSON, or ``bytes``/``bytearray`` when they did not parse the raw reply."""
    if isinstance(payload, bytes | bytearray):
        if not payload.strip():
            return RpcOutcome("ok", None, empty=True)
        try:
            return RpcOutcome("ok", json.loads(payload))
        except ValueError:
            return RpcOutcome("bad_reply")
    return RpcOutcome("ok", payload)
