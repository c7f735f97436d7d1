"""ThingsBoard's WebSocket updates become petit events: values as sent (typed later), nulls skipped,
connectivity."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from petit.thingsboard.stream import DeviceConnectivity, DeviceReadings, StreamEvent, ThingsBoardStream

pytestmark = pytest.mark.unit


async def _token() -> str:
    return "t"


async def _invalidate(token: str) -> None:
    return None


def _stream(events: list[StreamEvent]) -> ThingsBoardStream:
    return ThingsBoardStream(
        "ws://127.0.0.1:9/api/ws", token=_token, invalidate_token=_invalidate, listener=events.append
    )


async def test_telemetry_updates_keep_the_sockets_strings() -> None:
    events: list[StreamEvent] = []
    stream = _stream(events)
    device = uuid.uuid4()
    stream.watch(device)
    await stream.aclose()  # no socket needed: frames are fed directly
    frame = {
        "subscriptionId": 2,
        "errorCode": 0,
        "errorMsg": None,
        "data": {"t": [[1000, "21.5"]], "n": [[1000, "3"]], "s": [[1000, "eco"]], "none": [[1000, None]]},
    }
    assert stream.answered == 0
    stream._on_frame(json.dumps(frame))
    assert stream.answered == 1
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, DeviceReadings)
    assert event.device_id == device
    # Typing needs a strict read (petit.thingsboard.keytypes): "21.5" may be a number or a string.
    assert {k: r.value for k, r in event.readings.items()} == {"t": "21.5", "n": "3", "s": "eco"}


async def test_unknown_subscriptions_errors_and_junk_are_ignored() -> None:
    events: list[StreamEvent] = []
    stream = _stream(events)
    stream.watch(uuid.uuid4())
    await stream.aclose()
    for frame in ["not json", "[]", json.dumps({"subscriptionId": 77, "data": {"t": [[1, "1"]]}})]:
        stream._on_frame(frame)
    stream._on_frame(
        json.dumps({"subscriptionId": 2, "errorCode": 3, "errorMsg": "Unauthorized", "data": None})
    )
    assert events == []
    assert stream.stats.errors == 2


async def test_connectivity_from_connect_and_disconnect_times() -> None:
    events: list[StreamEvent] = []
    stream = _stream(events)
    device = uuid.uuid4()
    stream.watch(device)
    await stream.aclose()

    def attrs(**values: int) -> str:
        return json.dumps({"subscriptionId": 3, "data": {k: [[v, str(v)]] for k, v in values.items()}})

    # Snapshot of a device that is not connected: nothing to announce.
    stream._on_frame(attrs(lastConnectTime=100, lastDisconnectTime=200))
    assert events == []
    stream._on_frame(attrs(lastConnectTime=300))
    stream._on_frame(attrs(lastDisconnectTime=400))
    stream._on_frame(attrs(lastDisconnectTime=400))
    assert events == [
        DeviceConnectivity(device_id=device, online=True, ts_ms=300),
        DeviceConnectivity(device_id=device, online=False, ts_ms=400),
    ]


async def test_unwatched_devices_stop_emitting() -> None:
    events: list[StreamEvent] = []
    stream = _stream(events)
    device = uuid.uuid4()
    stream.watch(device)
    stream.unwatch(device)
    await stream.aclose()
    stream._on_frame(json.dumps({"subscriptionId": 2, "data": {"t": [[1, "1"]]}}))
    assert events == []
    assert stream.watched == 0


class _SlowSocket:
    """Holds the first frame (auth + subscriptions) until released, then records what is sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []
        self.release = asyncio.Event()
        self.holding = asyncio.Event()
        self.done = asyncio.Event()

    async def send(self, text: str) -> None:
        if not self.sent:
            self.holding.set()
            await self.release.wait()
        self.sent.append(json.loads(text))

    def __aiter__(self) -> _SlowSocket:
        return self

    async def __anext__(self) -> str:
        await self.done.wait()
        raise StopAsyncIteration


def _subscribed_devices(frames: list[dict[str, object]]) -> set[str]:
    return {
        str(cmd["entityId"])
        for frame in frames
        for cmd in frame.get("cmds", [])  # type: ignore[attr-defined]
        if not cmd.get("unsubscribe")
    }


async def test_a_device_watched_while_the_socket_authenticates_is_still_subscribed() -> None:
    stream = _stream([])
    first, second = uuid.uuid4(), uuid.uuid4()
    # Stand in for the connect loop, so the session below is the only one.
    stream._task = asyncio.create_task(asyncio.Event().wait())
    stream.watch(first)
    socket = _SlowSocket()
    session = asyncio.create_task(stream._session(socket, "token"))  # type: ignore[arg-type]
    await asyncio.wait_for(socket.holding.wait(), 5)
    stream.watch(second)  # arrives while the first frame is still on its way
    socket.release.set()
    deadline = asyncio.get_running_loop().time() + 5
    while str(second) not in _subscribed_devices(socket.sent):
        assert asyncio.get_running_loop().time() < deadline, f"never subscribed: {socket.sent}"
        await asyncio.sleep(0.01)
    assert _subscribed_devices(socket.sent) == {str(first), str(second)}
    socket.done.set()
    await asyncio.wait_for(session, 5)
    await stream.aclose()
