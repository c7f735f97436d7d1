"""The hub over the in-memory platform and channels: reference counting, fan-out, revocation."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from petit.auth.errors import RevokedAccessTokenError
from petit.lib.security import AccessClaims
from petit.realtime.channels import MemoryChannels
from petit.realtime.config import StreamLimits
from petit.realtime.errors import TooManyStreamsError
from petit.realtime.events import publish_device_revoked
from petit.realtime.hub import Hub
from petit.realtime.journal import MemoryJournal
from petit.realtime.session import Session
from tests.fakes.thingsboard import FakeThingsBoard

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.unit


class Directory:
    def __init__(self) -> None:
        self.owned: dict[uuid.UUID, dict[uuid.UUID, uuid.UUID]] = {}

    async def owned_devices(self, user_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
        return dict(self.owned.get(user_id, {}))


class Tokens:
    def __init__(self) -> None:
        self.revoked: set[str] = set()

    async def __call__(self, token: str) -> AccessClaims:
        if token in self.revoked:
            raise RevokedAccessTokenError
        now = datetime.now(UTC)
        return AccessClaims(uuid.uuid4(), token, uuid.uuid4(), now, now + timedelta(minutes=5))


@pytest.fixture
async def world() -> AsyncIterator[tuple[Hub, FakeThingsBoard, Tokens]]:
    tb = FakeThingsBoard()
    tokens = Tokens()
    channels = MemoryChannels()
    await channels.start()
    try:
        hub = Hub(
            thingsboard=tb,
            channels=channels,
            journal=MemoryJournal(window=10, ttl_s=60),
            directory=Directory(),
            authenticate=tokens,
            limits=StreamLimits(recheck_interval_s=0.05, max_streams_per_user=2),
            prefix="t:",
        )
        await hub.start()
        yield hub, tb, tokens
        await hub.aclose()
    finally:
        await channels.aclose()


def _session(user: uuid.UUID, token: str, *devices: uuid.UUID) -> Session:
    now = datetime.now(UTC)
    session = Session(
        claims=AccessClaims(user, token, uuid.uuid4(), now, now + timedelta(minutes=5)),
        token=token,
        max_pending_control=8,
    )
    session.owned = set(devices)
    return session


async def _device(tb: FakeThingsBoard) -> uuid.UUID:
    return (await tb.create_device(f"d-{uuid.uuid4().hex[:8]}", owner_id=None)).id


async def test_one_upstream_watch_per_device_and_release_on_last_leave(
    world: tuple[Hub, FakeThingsBoard, Tokens],
) -> None:
    hub, tb, _ = world
    device = await _device(tb)
    user = uuid.uuid4()
    one, two = _session(user, "a", device), _session(user, "b", device)
    await hub.attach(one)
    await hub.attach(two)
    assert hub.upstream_subscriptions == 1
    tb.record_reading(device, "power", 5)
    got = [await asyncio.wait_for(s.next_message(), 2) for s in (one, two)]
    assert got[0] == got[1]
    assert got[0] is not None
    assert got[0]["data"]["readings"]["power"]["value"] == 5
    await hub.detach(one)
    assert hub.upstream_subscriptions == 1
    await hub.detach(two)
    assert hub.upstream_subscriptions == 0


async def test_streams_per_user_are_capped(world: tuple[Hub, FakeThingsBoard, Tokens]) -> None:
    hub, _, _ = world
    user = uuid.uuid4()
    await hub.attach(_session(user, "a"))
    await hub.attach(_session(user, "b"))
    with pytest.raises(TooManyStreamsError):
        await hub.attach(_session(user, "c"))
    await hub.attach(_session(uuid.uuid4(), "d"))


async def test_revocations_reach_the_open_streams(world: tuple[Hub, FakeThingsBoard, Tokens]) -> None:
    hub, tb, tokens = world
    device = await _device(tb)
    user = uuid.uuid4()
    session = _session(user, "tok", device)
    await hub.attach(session)
    await publish_device_revoked(hub, user, device)
    revoked = await asyncio.wait_for(session.next_message(), 2)
    assert revoked == {"type": "deviceRevoked", "data": {"deviceId": str(device)}}
    assert hub.upstream_subscriptions == 0
    tokens.revoked.add("tok")
    error = await asyncio.wait_for(session.next_message(), 2)
    assert error == {"type": "error", "message": "Session revoked."}
    assert session.closing is not None
    assert session.closing.code == 4001


async def test_latest_known_vouches_only_for_delivered_keys_of_streamed_devices(
    world: tuple[Hub, FakeThingsBoard, Tokens],
) -> None:
    hub, tb, _ = world
    device = await _device(tb)
    assert hub.latest_known(device, ["power"]) is None  # not streamed here
    session = _session(uuid.uuid4(), "a", device)
    await hub.attach(session)
    assert hub.latest_known(device, ["power"]) is None  # nothing delivered yet
    tb.record_reading(device, "power", 5, ts_ms=1000)
    # Delivered but still on its way through the hub: not vouched for, the caller reads ThingsBoard.
    assert hub.latest_known(device, ["power"]) is None
    assert await asyncio.wait_for(session.next_message(), 2) is not None
    known = hub.latest_known(device, ["power"])
    assert known is not None
    assert known["power"].value == 5
    tb.record_reading(device, "power", 4, ts_ms=500)  # an older sample does not win
    await asyncio.sleep(0.05)
    known = hub.latest_known(device, ["power"])
    assert known is not None
    assert known["power"].value == 5
    assert hub.latest_known(device, ["power", "never"]) is None
    await hub.detach(session)
    assert hub.latest_known(device, ["power"]) is None


async def test_after_a_channel_reconnect_access_is_read_again(
    world: tuple[Hub, FakeThingsBoard, Tokens],
) -> None:
    # Access changes published while the channel connection was down are gone; the catch-up re-reads them.
    hub, tb, _ = world
    kept, lost, gained = await _device(tb), await _device(tb), await _device(tb)
    user = uuid.uuid4()
    directory = hub.directory
    assert isinstance(directory, Directory)
    directory.owned[user] = {kept: kept, gained: gained}
    session = _session(user, "tok", kept, lost)
    await hub.attach(session)
    assert hub.upstream_subscriptions == 2
    await hub.catch_up()
    revoked = await asyncio.wait_for(session.next_message(), 2)
    assert revoked == {"type": "deviceRevoked", "data": {"deviceId": str(lost)}}
    deadline = asyncio.get_running_loop().time() + 2
    while session.owned != {kept, gained}:
        assert asyncio.get_running_loop().time() < deadline, session.owned
        await asyncio.sleep(0.01)
    assert hub.upstream_subscriptions == 2
