"""How petit is served by uvicorn: one set of options for ``petit run``, ``petit dev``, the benches and tests.

A petit process may hold thousands of ``/ws`` streams, so what uvicorn keeps per WebSocket matters as much as
what petit keeps. ``LeanWebSocketProtocol`` is uvicorn's sans-I/O WebSocket protocol with less of it: its
receive queue and its writable flag without asyncio's deques, and no copy of the handshake kept once answered.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

if TYPE_CHECKING:
    from uvicorn._types import ASGISendEvent

    from petit.settings import ServerSettings, Settings


class _Inbox:
    """The part of ``asyncio.Queue`` uvicorn uses (``put_nowait``, ``get``, ``empty``), in a list.

    asyncio.Queue allocates four deques (about 2.9 KiB) before anything is queued; a socket's inbox is
    almost always empty."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiters: list[asyncio.Future[None]] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            await _park(self)
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items


class _Flag:
    """``asyncio.Event`` without a deque of waiters allocated up front."""

    __slots__ = ("_value", "_waiters")

    def __init__(self, *, value: bool) -> None:
        self._value = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        self._value = True
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        while not self._value:
            await _park(self)
        return True


async def _park(owner: _Inbox | _Flag) -> None:
    waiter = asyncio.get_running_loop().create_future()
    if owner._waiters is None:  # noqa: SLF001 - the two classes above share this helper
        owner._waiters = []  # noqa: SLF001
    owner._waiters.append(waiter)  # noqa: SLF001
    try:
        await waiter
    finally:
        owner._waiters.remove(waiter)  # noqa: SLF001


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol, holding less per open socket (about 7 KiB less)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag(value=True)  # type: ignore[assignment]

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The upgrade request and its answer (headers and all) are only needed until the answer is sent;
            # the app reads the request from its scope.
            self.request = self.response = None  # type: ignore[assignment]


#: ``PETIT_SERVER__WS_IMPLEMENTATION`` values beyond uvicorn's own names.
_PROTOCOLS: dict[str, type[WebSocketsSansIOProtocol]] = {"lean": LeanWebSocketProtocol}


def websocket_options(server: ServerSettings) -> dict[str, Any]:
    """uvicorn's WebSocket options."""
    implementation = server.ws_implementation
    return {
        "ws": _PROTOCOLS.get(implementation, implementation),
        "ws_per_message_deflate": server.ws_per_message_deflate,
    }


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    # Client addresses come from PETIT_APP__CLIENT_IP_HEADER, never from uvicorn trusting X-Forwarded-For.
    return {
        **websocket_options(settings.server),
        "log_level": settings.log.level.lower(),
        "proxy_headers": False,
    }
