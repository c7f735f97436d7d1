from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from petit.commands.errors import (
    CommandTooLargeError,
    DeviceTimeoutError,
    InvalidCommandTimeoutError,
    InvalidSettingsError,
    SettingsTooLargeError,
)
from petit.commands.services import CommandService, DeviceSettingsService
from petit.devices.errors import DeviceNotFoundError
from petit.errors import PlatformUnavailableError
from petit.thingsboard.models import AttributeScope
from tests.fakes.thingsboard import FakeThingsBoard

if TYPE_CHECKING:
    from tests.unit.devicedata.conftest import World

pytestmark = pytest.mark.unit


def commands(world: World) -> CommandService:
    return CommandService(
        devices=world.devices, thingsboard=world.thingsboard, settings=world.command_settings
    )


def device_settings(world: World) -> DeviceSettingsService:
    return DeviceSettingsService(
        devices=world.devices, thingsboard=world.thingsboard, settings=world.command_settings
    )


async def test_two_way_returns_the_reply_and_one_way_returns_nothing(world: World) -> None:
    owner = uuid.uuid4()
    device = await world.device(owner)
    world.thingsboard.online[device.platform_device_id] = lambda method, params: {"m": method, "p": params}

    reply = await commands(world).send(
        owner, device.id, "blink", {"times": 3}, expect_reply=True, timeout_ms=500
    )
    assert reply.response == {"m": "blink", "p": {"times": 3}}
    sent = await commands(world).send(owner, device.id, "blink", [1, 2], expect_reply=False, timeout_ms=500)
    assert sent.response is None
    assert not sent.expect_reply


async def test_an_offline_device_is_a_device_timeout(world: World) -> None:
    owner = uuid.uuid4()
    device = await world.device(owner)
    with pytest.raises(DeviceTimeoutError):
        await commands(world).send(owner, device.id, "blink", None, expect_reply=True, timeout_ms=500)


class HangingThingsBoard(FakeThingsBoard):
    """A platform that accepts the call and never answers."""

    async def call_device(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.Event().wait()


async def test_a_platform_that_never_answers_cannot_hold_the_request(world: World) -> None:
    hanging = HangingThingsBoard()
    hanging.owners, hanging.devices = world.thingsboard.owners, world.thingsboard.devices
    world.thingsboard = hanging
    world.command_settings = world.command_settings.model_copy(update={"timeout_margin_s": 0.1})
    owner = uuid.uuid4()
    device = await world.device(owner)
    started = time.monotonic()
    # ThingsBoard never answered, so nothing says the device is at fault: the platform is unavailable.
    with pytest.raises(PlatformUnavailableError):
        await commands(world).send(owner, device.id, "blink", {}, expect_reply=True, timeout_ms=200)
    assert time.monotonic() - started < 2.0


async def test_commands_are_refused_before_reaching_the_device(world: World) -> None:
    owner = uuid.uuid4()
    device = await world.device(owner)
    world.thingsboard.calls.clear()
    with pytest.raises(CommandTooLargeError):
        await commands(world).send(owner, device.id, "f", "x" * 9000, expect_reply=True, timeout_ms=500)
    with pytest.raises(InvalidCommandTimeoutError):
        await commands(world).send(owner, device.id, "f", {}, expect_reply=True, timeout_ms=60_001)
    with pytest.raises(DeviceNotFoundError):
        await commands(world).send(uuid.uuid4(), device.id, "f", {}, expect_reply=True, timeout_ms=500)
    assert "call_device" not in world.thingsboard.calls


async def test_settings_patch_merges_and_null_removes(world: World) -> None:
    owner = uuid.uuid4()
    device = await world.device(owner)
    service = device_settings(world)
    assert await service.get(owner, device.id) == {}
    assert await service.update(owner, device.id, {"led": True, "rate": 5}) == {"led": True, "rate": 5}
    assert await service.update(owner, device.id, {"rate": None, "mode": "eco"}) == {
        "led": True,
        "mode": "eco",
    }
    assert await service.get(owner, device.id) == {"led": True, "mode": "eco"}
    # Settings are the device's desired (shared) attributes, nothing else.
    stored = world.thingsboard.devices[device.platform_device_id].attributes
    assert stored[AttributeScope.SETTINGS] == {"led": True, "mode": "eco"}


async def test_settings_put_replaces_everything(world: World) -> None:
    owner = uuid.uuid4()
    device = await world.device(owner)
    service = device_settings(world)
    await service.update(owner, device.id, {"led": True, "rate": 5})
    assert await service.replace(owner, device.id, {"rate": 7, "nested": {"a": [1]}}) == {
        "rate": 7,
        "nested": {"a": [1]},
    }
    assert await service.get(owner, device.id) == {"rate": 7, "nested": {"a": [1]}}
    assert await service.replace(owner, device.id, {}) == {}
    assert await service.get(owner, device.id) == {}


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"bad key": 1}, InvalidSettingsError),
        ({"": 1}, InvalidSettingsError),
        ({"k" * 65: 1}, InvalidSettingsError),
        ({f"k{i}": i for i in range(101)}, SettingsTooLargeError),
        ({"big": "x" * 17_000}, SettingsTooLargeError),
    ],
)
async def test_bad_settings_are_refused(world: World, values: dict[str, Any], error: type[Exception]) -> None:
    owner = uuid.uuid4()
    device = await world.device(owner)
    for write in (device_settings(world).update, device_settings(world).replace):
        with pytest.raises(error):
            await write(owner, device.id, values)


async def test_put_refuses_null_values(world: World) -> None:
    owner = uuid.uuid4()
    device = await world.device(owner)
    with pytest.raises(InvalidSettingsError):
        await device_settings(world).replace(owner, device.id, {"a": None})


async def test_settings_of_someone_elses_device_are_not_found(world: World) -> None:
    device = await world.device(uuid.uuid4())
    stranger = uuid.uuid4()
    service = device_settings(world)
    for call in (
        service.get(stranger, device.id),
        service.update(stranger, device.id, {"a": 1}),
        service.replace(stranger, device.id, {"a": 1}),
    ):
        with pytest.raises(DeviceNotFoundError):
            await call


async def test_a_row_whose_platform_device_is_gone_reads_as_not_found(world: World) -> None:
    from petit.telemetry.services import TelemetryService  # noqa: PLC0415 - only this test needs it

    owner = uuid.uuid4()
    device = await world.device(owner)
    await world.thingsboard.delete_device(device.platform_device_id)
    telemetry = TelemetryService(
        devices=world.devices,
        thingsboard=world.thingsboard,
        clock=world.clock,
        settings=world.telemetry_settings,
    )
    for call in (
        telemetry.latest(owner, device.id, ("t",)),
        telemetry.latest(owner, device.id, None),
        commands(world).send(owner, device.id, "f", {}, expect_reply=True, timeout_ms=500),
        device_settings(world).get(owner, device.id),
        device_settings(world).update(owner, device.id, {"a": 1}),
        device_settings(world).replace(owner, device.id, {"a": 1}),
    ):
        with pytest.raises(DeviceNotFoundError):
            await call
