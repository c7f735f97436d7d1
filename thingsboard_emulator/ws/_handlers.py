"""Litestar route handlers for ``/api/ws`` and the legacy ``/api/ws/plugins/telemetry``.

The socket is always accepted first and refused afterwards with a close code, because that is what TB does
(its authentication runs after the upgrade):

* ``?token=`` that is expired or badly signed → 1011 ``JWT Token expired``; not a JWT → 1011
  ``Invalid JWT token: ``;
* no token and no first message within ``auth_timeout_s`` → 1008;
* a first message without ``authCmd`` → 1008 ``Auth cmd is missing``; a bad ``authCmd`` token → 1007;
* an unknown ``/api/ws/plugins/<type>`` → 1007 ``Unknown session type``;
* a text frame over 32768 characters → 1009; a binary frame → 1003.

Tokens are checked when a session starts, as TB does; a session outlives its token's expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath  # noqa: TC002 - Litestar resolves handler annotations at runtime

from thingsboard_emulator.ws._session import (
    CLOSE_BAD_DATA,
    CLOSE_POLICY_VIOLATION,
    CLOSE_SERVER_ERROR,
    DEFAULT_MAX_QUEUE,
    WsSession,
    token_failure_reason,
)

if TYPE_CHECKING:
    from litestar.handlers import WebsocketRouteHandler

    from thingsboard_emulator.contracts import TelemetryReader

MAX_TEXT_MESSAGE = 32768
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_TOO_BIG = 1009


def create_ws_handlers(
    reader: TelemetryReader,
    *,
    max_queue: int = DEFAULT_MAX_QUEUE,
    auth_timeout_s: float = 10.0,
    api_key_auth: bool = False,
    token_query_param: bool = False,
) -> list[WebsocketRouteHandler]:
    """Route handlers for both WebSocket endpoints, bound to ``reader``.

    ``max_queue`` bounds each socket's pending updates (see ``_session`` for the policy);
    ``auth_timeout_s`` is TB's ``server.ws.auth_timeout_ms``. ``api_key_auth`` (TB 4.4) accepts
    ``authCmd.apiKey``; ``token_query_param`` (TB 4.4) reads ``?token=`` as one parameter rather than, as 4.3
    does, everything after the first ``token=`` in the query.
    """

    async def serve(socket: WebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        closer = _Closer(socket)
        session = WsSession(
            reader, socket.send_text, closer.close, max_queue=max_queue, api_key_auth=api_key_auth
        )
        sender = asyncio.create_task(session.run_sender())
        try:
            token = query_token(socket.scope.get("query_string", b""), as_parameter=token_query_param)
            if token:
                principal = reader.authenticate_jwt(token)
                if principal is None:
                    session.request_close(CLOSE_SERVER_ERROR, token_failure_reason(token))
                    await sender
                    return
                session.principal = principal
            await _receive_loop(socket, session, auth_timeout_s)
            if session.close_requested and not sender.done():
                # The sender performs the close; give a stalled peer a bounded time to take the frame.
                await asyncio.wait({sender}, timeout=5)
        finally:
            session.cancel_all()
            if not sender.done():
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
            await closer.close(1000, "")

    async def serve_until_shutdown(socket: WebSocket[Any, Any, Any]) -> None:
        try:
            await serve(socket)
        except asyncio.CancelledError:
            # The server cancels open connections when it stops; the session is already cleaned up, and
            # ending normally keeps uvicorn from reporting the cancellation as an application crash.
            return

    @websocket("/api/ws", name="tb-ws-api")
    async def ws_api(socket: WebSocket[Any, Any, Any]) -> None:
        await serve_until_shutdown(socket)

    @websocket("/api/ws/plugins/{plugin:str}", name="tb-ws-plugins")
    async def ws_plugins(socket: WebSocket[Any, Any, Any], plugin: FromPath[str]) -> None:
        if plugin.lower() != "telemetry":
            await socket.accept()
            await _Closer(socket).close(CLOSE_BAD_DATA, "Unknown session type")
            return
        await serve_until_shutdown(socket)

    return [ws_api, ws_plugins]


def query_token(raw_query: bytes | str, *, as_parameter: bool) -> str | None:
    """The JWT a WebSocket URL carries, read the way TB 4.4 (``as_parameter``) or TB 4.3 reads it.

    Both work on the decoded query (``URI.getQuery()``). 4.3: ``StringUtils.substringAfter(query, "token=")``;
    4.4: the first ``&``-separated parameter that starts with ``token=``.
    """
    text = raw_query.decode("utf-8", "replace") if isinstance(raw_query, bytes) else raw_query
    query = unquote(text)
    if as_parameter:
        for param in query.split("&"):
            if param.startswith("token="):
                return param[len("token=") :] or None
        return None
    _, found, rest = query.partition("token=")
    return rest or None if found else None


async def _receive_loop(socket: WebSocket[Any, Any, Any], session: WsSession, auth_timeout_s: float) -> None:
    while not session.closed.is_set():
        receive = asyncio.ensure_future(socket.receive())
        closed = asyncio.ensure_future(session.closed.wait())
        timeout = auth_timeout_s if session.principal is None else None
        try:
            done, _ = await asyncio.wait(
                {receive, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closed.cancel()
            if not receive.done():
                receive.cancel()
        if receive not in done:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await receive
            if not done:
                # TB closes a session still unauthenticated after server.ws.auth_timeout_ms.
                session.request_close(CLOSE_POLICY_VIOLATION, "")
            return
        try:
            event = receive.result()
        except WebSocketDisconnect:
            return
        if event["type"] != "websocket.receive":
            return
        text = event.get("text")
        if text is None:
            session.request_close(CLOSE_UNSUPPORTED_DATA, "Binary messages not supported")
            return
        if len(text) > MAX_TEXT_MESSAGE:
            session.request_close(CLOSE_TOO_BIG, "Text message too big")
            return
        await session.handle_text(text)


class _Closer:
    """Sends the close frame once; later closes (and closes after the peer left) are no-ops."""

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self._socket = socket
        self._done = False

    async def close(self, code: int, reason: str) -> None:
        if self._done or self._socket.connection_state == "disconnect":
            return
        self._done = True
        with contextlib.suppress(Exception):
            await self._socket.close(code=code, reason=reason)
