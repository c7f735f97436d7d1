"""``/ws`` (seed 003's protocol, extended compatibly) and ``GET /devices/stream`` (Server-Sent Events).

The same WebSocket also answers at the server root (``ws://host:port``), where seed 003 put it, so clients
written against the original API connect unchanged.

WebSocket close codes: 1003 binary frame, 1008 policy (authentication failed or timed out, flood,
slow client), 1009 frame too large, 1011 dependency down (retry), 1013 too many streams for the account,
4001 session revoked or token expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, WebSocket, get, websocket
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromQuery, HeaderParameter, QueryParameter, SkipValidation
from litestar.response import ServerSentEvent, ServerSentEventMessage

from petit.auth.deps import provide_access_claims
from petit.auth.errors import NotAuthenticatedError
from petit.errors import MalformedJsonError, PetitError, problem_responses
from petit.lib.jsonguard import INT64_MAX, check_json
from petit.lib.security import AccessClaims
from petit.realtime.errors import StreamUnavailableError, TooManyStreamsError
from petit.realtime.session import Session
from petit.runtime import Runtime

if TYPE_CHECKING:
    from petit.realtime.hub import Hub

AUTH_FAILED = "Invalid or expired token."
AUTH_FIRST = "Please authenticate first."
UNAVAILABLE = "Streaming is temporarily unavailable; try again."

log = logging.getLogger(__name__)


class _Reject(Exception):  # noqa: N818 - a control-flow signal, not an error
    def __init__(self, code: int, reason: str, message: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.message = message


class _Bucket:
    """Token bucket for client frames: bursts are fine, a sustained flood is not."""

    __slots__ = ("_at", "_rate", "_tokens")  # one per open stream

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._tokens = rate
        self._at = asyncio.get_running_loop().time()

    def take(self) -> bool:
        now = asyncio.get_running_loop().time()
        self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def _parse_uuids(raw: Any) -> frozenset[uuid.UUID] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > 1000:
        raise ValueError("devices must be a list of ids")
    return frozenset(uuid.UUID(str(item)) for item in raw)


def _parse_keys(raw: Any) -> frozenset[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > 1000 or not all(isinstance(k, str) for k in raw):
        raise ValueError("keys must be a list of strings")
    return frozenset(raw)


async def _receive_json(socket: WebSocket[Any, Any, Any], hub: Hub, bucket: _Bucket) -> dict[str, Any]:
    event = await socket.receive()
    if event["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(detail="client left")
    if not bucket.take():
        raise _Reject(1008, "Too many messages.", "Too many messages.")
    if event.get("bytes") is not None and event.get("text") is None:
        raise _Reject(1003, "Binary frames are not supported.", "Binary frames are not supported.")
    raw = str(event.get("text") or "").encode(errors="surrogatepass")
    if len(raw) > hub.limits.max_message_bytes:
        raise _Reject(1009, "Message too large.", "Message too large.")
    try:
        # The same rules as HTTP bodies: json.loads recurses and a frame of "[[[[..." would kill the reader.
        message = check_json(raw)
    except MalformedJsonError:
        return {"type": None, "_invalid": "Message is not JSON."}
    except PetitError as exc:
        return {"type": None, "_invalid": exc.title}
    if not isinstance(message, dict):
        return {"type": None, "_invalid": "Message must be a JSON object."}
    return message


async def _authenticate(
    hub: Hub, socket: WebSocket[Any, Any, Any], message: dict[str, Any], session: Session | None
) -> Session:
    token = message.get("token")
    if not isinstance(token, str) or not token:
        raise _Reject(1008, "Authentication failed.", AUTH_FAILED)
    try:
        claims: AccessClaims = await hub.authenticate(token)
    except NotAuthenticatedError:
        raise _Reject(1008, "Authentication failed.", AUTH_FAILED) from None
    except Exception:
        # The revocation cache is unreachable: refuse for now rather than stream unchecked.
        log.warning("realtime.authenticate_failed", exc_info=True)
        raise _Reject(1011, "Try again later.", UNAVAILABLE) from None
    if session is not None:
        if claims.user_id != session.user_id:
            raise _Reject(1008, "Token belongs to another account.", AUTH_FAILED)
        # Same account, fresh token: the stream continues where it paused.
        session.claims, session.token, session.expired = claims, token, False
        session.wake()
        return session
    try:
        devices, keys = _parse_uuids(message.get("devices")), _parse_keys(message.get("keys"))
    except ValueError as exc:
        raise _Reject(1008, "Bad authenticate message.", str(exc)) from None
    session = Session(claims=claims, token=token, max_pending_control=hub.limits.max_pending_control)
    try:
        session.own(await hub.directory.owned_devices(claims.user_id))
    except Exception:
        log.warning("realtime.directory_failed", exc_info=True)
        raise _Reject(1011, "Try again later.", UNAVAILABLE) from None
    session.selected, session.keys = session.resolve(devices), keys
    try:
        await hub.attach(session)
    except TooManyStreamsError:
        raise _Reject(1013, "Too many streams.", "Too many open streams for this account.") from None
    return session


async def _after_auth(hub: Hub, socket: WebSocket[Any, Any, Any], session: Session, last_seq: Any) -> None:
    await socket.send_json({"type": "authenticated", "message": "Authentication successful."})
    if isinstance(last_seq, int) and not isinstance(last_seq, bool) and last_seq >= 0:
        session.replay(await hub.replay(session, last_seq))


async def _sender(socket: WebSocket[Any, Any, Any], session: Session) -> None:
    try:
        while (frame := await session.next_frame()) is not None:
            await socket.send_text(frame)
    except Exception:
        # The client left (the receiver hears that too) or a frame could not be sent: end the stream.
        log.debug("realtime.send_failed", exc_info=True)
        session.close(1011, "Try again later.")
    closing = session.closing
    if closing is not None:
        # uvicorn answers the close with a disconnect on the receiving side, which ends the receiver.
        with contextlib.suppress(Exception):
            await socket.close(code=closing.code, reason=closing.reason)


async def _receiver(socket: WebSocket[Any, Any, Any], hub: Hub, session: Session, bucket: _Bucket) -> None:
    while session.closing is None:
        try:
            message = await _receive_json(socket, hub, bucket)
        except _Reject as reject:
            if reject.message:
                session.control({"type": "error", "message": reject.message})
            session.close(reject.code, reject.reason)
            return
        kind = message.get("type")
        if "_invalid" in message:
            session.control({"type": "error", "message": message["_invalid"]})
        elif kind == "authenticate":
            try:
                await _authenticate(hub, socket, message, session)
            except _Reject as reject:
                session.control({"type": "error", "message": reject.message or AUTH_FAILED})
                session.close(reject.code, reject.reason)
                return
            session.control({"type": "authenticated", "message": "Authentication successful."})
        elif kind == "subscribe":
            try:
                devices, keys = _parse_uuids(message.get("devices")), _parse_keys(message.get("keys"))
            except ValueError as exc:
                session.control({"type": "error", "message": str(exc)})
                continue
            await hub.reselect(session, session.resolve(devices), keys)
            session.control(
                {
                    "type": "subscribed",
                    "devices": sorted(str(session.public(d)) for d in session.watching),
                    "keys": sorted(keys) if keys is not None else None,
                }
            )
        elif kind == "ping":
            session.control({"type": "pong"})
        else:
            session.control({"type": "error", "message": "Unknown message type."})


async def _handshake(hub: Hub, socket: WebSocket[Any, Any, Any], bucket: _Bucket) -> Session:
    """Frames until a valid ``authenticate``; the session it opens (``_Reject`` or a disconnect otherwise)."""
    deadline = asyncio.get_running_loop().time() + hub.limits.auth_timeout_s
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                message = await _receive_json(socket, hub, bucket)
        except TimeoutError:
            raise _Reject(1008, "Authentication timed out.", "Authentication timed out.") from None
        if "_invalid" in message:
            await socket.send_json({"type": "error", "message": message["_invalid"]})
        elif message.get("type") != "authenticate":
            await socket.send_json({"type": "error", "message": AUTH_FIRST})
        else:
            session = await _authenticate(hub, socket, message, None)
            try:
                await _after_auth(hub, socket, session, message.get("lastSeq"))
            except BaseException:
                await hub.detach(session)
                raise
            return session


@websocket(["/ws", "/"])
async def stream_socket(
    socket: WebSocket[Any, Any, Any], runtime: NamedDependency[SkipValidation[Runtime]]
) -> None:
    hub = runtime.hub
    await socket.accept()
    bucket = _Bucket(hub.limits.max_client_messages_per_s)
    try:
        session = await _handshake(hub, socket, bucket)
    except _Reject as reject:
        with contextlib.suppress(Exception):
            if reject.message:
                await socket.send_json({"type": "error", "message": reject.message})
            await socket.close(code=reject.code, reason=reject.reason)
        return
    except WebSocketDisconnect:
        return
    # One task per stream besides this one: thousands of streams share a process, and each task costs memory.
    # This coroutine reads the client; the sender writes and, once the session closes, sends the close frame.
    sender = asyncio.create_task(_sender(socket, session))
    try:
        with contextlib.suppress(WebSocketDisconnect):
            await _receiver(socket, hub, session, bucket)
        if session.closing is not None and not sender.done():
            # Let the sender flush the final error frame and the close.
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(sender), 1.0)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
            await sender
        if session.closing is not None and sender.cancelled():
            # The sender did not get to close (a client too slow to take the last frames).
            with contextlib.suppress(Exception):
                await socket.close(code=session.closing.code, reason=session.closing.reason)
        await hub.detach(session)


def _split(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


class StreamController(Controller):
    path = "/devices/stream"
    tags = ["Streaming"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {  # noqa: RUF012
        "access_claims": Provide(provide_access_claims),
    }

    @get(
        "/",
        operation_id="StreamDevices",
        summary="Stream device data as Server-Sent Events",
        description=(
            "Same events as the /ws WebSocket (deviceData, deviceStatus, deviceRevoked, pairingProgress, "
            "warning, error), one JSON object per `data:` line, `event:` set to its type and `id:` to its "
            "sequence. Reconnect with Last-Event-ID (or lastSeq) to receive what was missed."
        ),
        security=[{"BearerAuth": []}],
        media_type="text/event-stream",
        responses=problem_responses(NotAuthenticatedError, TooManyStreamsError, StreamUnavailableError),
    )
    async def stream(  # noqa: PLR0917 - Litestar passes handler parameters by name
        self,
        request: Request[object, object, State],
        access_claims: NamedDependency[AccessClaims],
        runtime: NamedDependency[SkipValidation[Runtime]],
        devices: FromQuery[str | None] = None,
        keys: FromQuery[str | None] = None,
        last_seq: Annotated[int | None, QueryParameter(name="lastSeq", ge=0, le=INT64_MAX)] = None,
        last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID")] = None,
    ) -> ServerSentEvent:
        hub = runtime.hub
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        session = Session(
            claims=access_claims, token=token, max_pending_control=hub.limits.max_pending_control
        )
        session.own(await hub.directory.owned_devices(access_claims.user_id))
        try:
            device_ids = _split(devices)
            chosen = frozenset(uuid.UUID(d) for d in device_ids) if device_ids is not None else None
        except ValueError:
            chosen = frozenset()
        session.selected = session.resolve(chosen)
        key_list = _split(keys)
        session.keys = frozenset(key_list) if key_list is not None else None
        await hub.attach(session)
        resume = last_seq
        if resume is None and last_event_id is not None and last_event_id.isdigit():
            resume = int(last_event_id)
        if resume is not None:
            session.replay(await hub.replay(session, resume))
        return ServerSentEvent(_sse_events(hub, session))


async def _sse_events(hub: Hub, session: Session) -> AsyncGenerator[ServerSentEventMessage, None]:
    try:
        yield ServerSentEventMessage(
            data=json.dumps({"type": "authenticated", "message": "Authentication successful."}),
            event="authenticated",
        )
        while True:
            message = await session.next_message(timeout_s=hub.limits.sse_keepalive_s)
            if message is None:
                if session.closing is not None:
                    return
                yield ServerSentEventMessage(comment="keep-alive")
                continue
            seq = message.get("seq")
            yield ServerSentEventMessage(
                data=json.dumps(message),
                event=str(message.get("type")),
                id=str(seq) if seq else None,
            )
    finally:
        await hub.detach(session)
