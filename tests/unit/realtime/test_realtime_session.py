"""The per-client send queue: bounded by devices, latest value per key, ownership and key filters."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from petit.lib.security import AccessClaims
from petit.realtime.session import DeviceEvent, Session

pytestmark = pytest.mark.unit


def _session(*devices: uuid.UUID) -> Session:
    now = datetime.now(UTC)
    claims = AccessClaims(uuid.uuid4(), "jti", uuid.uuid4(), now, now + timedelta(minutes=5))
    session = Session(claims=claims, token="t", max_pending_control=4)
    session.owned = set(devices)
    return session


def _data(device: uuid.UUID, seq: int, **values: float) -> dict[str, object]:
    readings = {k: {"ts": seq * 1000, "value": v} for k, v in values.items()}
    return {"type": "deviceData", "seq": seq, "data": {"deviceId": str(device), "readings": readings}}


async def test_a_slow_client_gets_the_latest_value_per_key_and_memory_stays_bounded() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    session = _session(a, b)
    for seq in range(1, 10_001):
        session.offer(_data(a if seq % 2 else b, seq, power=seq, **({"temp": seq} if seq % 3 == 0 else {})))
    # However many updates arrived, at most one pending message per device and event type.
    assert session.pending == 2
    first = await session.next_message(timeout_s=0)
    second = await session.next_message(timeout_s=0)
    assert first is not None
    assert second is not None
    by_device = {m["data"]["deviceId"]: m for m in (first, second)}
    assert by_device[str(a)]["data"]["readings"]["power"]["value"] == 9999
    assert by_device[str(b)]["data"]["readings"]["power"]["value"] == 10_000
    assert by_device[str(b)]["seq"] == 10_000
    # temp last changed at 9999 (on a) and 9996 (on b): kept even though later updates lacked it.
    assert by_device[str(a)]["data"]["readings"]["temp"]["value"] == 9999
    assert by_device[str(b)]["data"]["readings"]["temp"]["value"] == 9996
    assert await session.next_message(timeout_s=0) is None


async def test_other_devices_and_unselected_keys_never_reach_the_client() -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    session = _session(mine)
    session.keys = frozenset({"power"})
    session.offer(_data(theirs, 1, power=1))
    session.offer(_data(mine, 2, noise=3))
    assert session.pending == 0
    session.offer(_data(mine, 3, power=4, noise=5))
    message = await session.next_message(timeout_s=0)
    assert message is not None
    assert message["data"]["readings"] == {"power": {"ts": 3000, "value": 4}}


async def test_a_lost_device_is_dropped_with_its_pending_data() -> None:
    device = uuid.uuid4()
    session = _session(device)
    session.offer(_data(device, 1, power=1))
    session.drop_device(device)
    assert await session.next_message(timeout_s=0) is None
    session.offer(_data(device, 2, power=2))
    assert session.pending == 0


async def test_replay_comes_first_uncoalesced_and_live_duplicates_are_skipped() -> None:
    device = uuid.uuid4()
    session = _session(device)
    session.offer(_data(device, 3, n=3))
    session.replay([_data(device, 2, n=2), _data(device, 3, n=3)])
    got = [await session.next_message(timeout_s=0) for _ in range(3)]
    assert [m["seq"] if m else None for m in got] == [2, 3, None]


async def test_control_frames_are_bounded_too() -> None:
    session = _session()
    for _ in range(10):
        session.control({"type": "warning", "message": "x"})
    assert session.closing is not None
    assert session.closing.code == 1008


async def test_an_expired_session_holds_data_until_reauthenticated() -> None:
    device = uuid.uuid4()
    session = _session(device)
    session.expired = True
    session.offer(_data(device, 1, power=1))
    assert await session.next_message(timeout_s=0) is None
    session.expired = False
    message = await session.next_message(timeout_s=0)
    assert message is not None
    assert message["seq"] == 1


async def test_platform_ids_are_shown_as_petit_ids() -> None:
    platform, public = uuid.uuid4(), uuid.uuid4()
    session = _session()
    session.own({platform: public})
    assert session.resolve(frozenset({public})) == frozenset({platform})
    session.offer(_data(platform, 1, power=1))
    message = await session.next_message(timeout_s=0)
    assert message is not None
    assert message["data"]["deviceId"] == str(public)


async def test_one_event_fanned_out_is_encoded_once_per_form_and_still_filtered_per_stream() -> None:
    platform, public = uuid.uuid4(), uuid.uuid4()
    everything, also_everything, power_only, aliased = (_session(platform) for _ in range(4))
    power_only.keys = frozenset({"power"})
    aliased.own({platform: public})
    event = DeviceEvent.parse(_data(platform, 7, power=1, temp=2))
    assert event is not None
    for session in (everything, also_everything, power_only, aliased):
        session.offer(event)
    frames = [await s.next_frame() for s in (everything, also_everything, power_only, aliased)]
    assert all(frame is not None for frame in frames)
    full, same, filtered, renamed = (json.loads(frame or "") for frame in frames)
    assert full == same == _data(platform, 7, power=1, temp=2)
    # Streams that see the event alike share one encoding; the others get their own.
    assert frames[0] is frames[1]
    assert filtered["data"]["readings"] == {"power": {"ts": 7000, "value": 1}}
    assert renamed["data"]["deviceId"] == str(public)
    assert renamed["data"]["readings"] == full["data"]["readings"]


async def test_a_shared_event_coalesces_with_what_a_slow_stream_still_holds() -> None:
    device = uuid.uuid4()
    slow = _session(device)
    slow.keys = frozenset({"power", "temp"})
    for seq, values in ((1, {"power": 1, "noise": 9}), (2, {"temp": 5}), (3, {"power": 3})):
        event = DeviceEvent.parse(_data(device, seq, **values))
        assert event is not None
        slow.offer(event)
    assert slow.pending == 1
    frame = await slow.next_frame()
    message = json.loads(frame or "")
    assert message["seq"] == 3
    assert message["data"]["readings"] == {
        "power": {"ts": 3000, "value": 3},
        "temp": {"ts": 2000, "value": 5},
    }
    assert await slow.next_message(timeout_s=0) is None
