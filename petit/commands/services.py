"""Commands and desired settings of owned devices. A command never outlives its deadline."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from petit.commands.errors import (
    CommandTooLargeError,
    DeviceTimeoutError,
    InvalidCommandTimeoutError,
    InvalidSettingsError,
    SettingsTooLargeError,
)
from petit.commands.schemas import MAX_SETTINGS_KEYS, SETTINGS_KEY_PATTERN
from petit.errors import PlatformUnavailableError
from petit.telemetry.services import platform_device
from petit.thingsboard.errors import ThingsBoardTimeoutError

if TYPE_CHECKING:
    import uuid
    from collections.abc import Mapping

    from petit.devices.services import DeviceLookup
    from petit.settings import CommandSettings
    from petit.thingsboard.models import Value
    from petit.thingsboard.port import ThingsBoardPort

_KEY = re.compile(SETTINGS_KEY_PATTERN)


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass(frozen=True, slots=True)
class CommandResult:
    device_id: uuid.UUID
    function: str
    expect_reply: bool
    response: Any


class CommandService:
    def __init__(
        self, *, devices: DeviceLookup, thingsboard: ThingsBoardPort, settings: CommandSettings
    ) -> None:
        self._devices = devices
        self._thingsboard = thingsboard
        self._settings = settings

    async def send(
        self,
        user_id: uuid.UUID,
        device_id: uuid.UUID,
        function: str,
        params: Any,
        *,
        expect_reply: bool,
        timeout_ms: int,
    ) -> CommandResult:
        if timeout_ms > self._settings.max_timeout_ms:
            raise InvalidCommandTimeoutError(f"at most {self._settings.max_timeout_ms} ms")
        if json_size(params) > self._settings.params_max_bytes:
            raise CommandTooLargeError(f"params are at most {self._settings.params_max_bytes} bytes of JSON")
        device = await self._devices.get_owned(user_id, device_id)
        timeout_s = timeout_ms / 1000
        try:
            # Our own deadline on top of ThingsBoard's, so a platform that never answers cannot hang us.
            async with asyncio.timeout(timeout_s + self._settings.timeout_margin_s):
                with platform_device(device.id):
                    response = await self._thingsboard.call_device(
                        device.platform_device_id,
                        function,
                        params,
                        expect_reply=expect_reply,
                        timeout_s=timeout_s,
                    )
        except ThingsBoardTimeoutError:
            # ThingsBoard answered, and its answer is that the device did not: only then is it the device.
            raise DeviceTimeoutError(f"no answer from the device within {timeout_ms} ms") from None
        except TimeoutError:
            # Our deadline passed with no answer from ThingsBoard at all: the platform is what is slow.
            raise PlatformUnavailableError(
                f"The device platform did not answer within {timeout_ms} ms plus its margin"
            ) from None
        return CommandResult(
            device_id=device.id,
            function=function,
            expect_reply=expect_reply,
            response=response if expect_reply else None,
        )


class DeviceSettingsService:
    """Desired settings: what the owner wants the device to apply; the device is told of every change."""

    def __init__(
        self, *, devices: DeviceLookup, thingsboard: ThingsBoardPort, settings: CommandSettings
    ) -> None:
        self._devices = devices
        self._thingsboard = thingsboard
        self._settings = settings

    async def get(self, user_id: uuid.UUID, device_id: uuid.UUID) -> dict[str, Value]:
        device = await self._devices.get_owned(user_id, device_id)
        with platform_device(device.id):
            return await self._thingsboard.get_settings(device.platform_device_id)

    async def replace(
        self, user_id: uuid.UUID, device_id: uuid.UUID, values: Mapping[str, Any]
    ) -> dict[str, Value]:
        """PUT: the given map becomes the whole settings; keys not in it are removed."""
        if any(v is None for v in values.values()):
            raise InvalidSettingsError("null is not a setting value; leave the key out to remove it")
        self._check(values)
        device = await self._devices.get_owned(user_id, device_id)
        platform_id = device.platform_device_id
        with platform_device(device.id):
            current = await self._thingsboard.get_settings(platform_id)
        # Save before deleting: if the second step fails the device has extra keys, never missing ones.
        if values:
            await self._thingsboard.save_settings(platform_id, dict(values))
        stale = [k for k in current if k not in values]
        if stale:
            await self._thingsboard.delete_settings(platform_id, stale)
        return dict(values)

    async def update(
        self, user_id: uuid.UUID, device_id: uuid.UUID, patch: Mapping[str, Any]
    ) -> dict[str, Value]:
        """PATCH with JSON merge-patch rules: set the listed keys, a null removes its key."""
        self._check(patch)
        device = await self._devices.get_owned(user_id, device_id)
        platform_id = device.platform_device_id
        with platform_device(device.id):
            current = await self._thingsboard.get_settings(platform_id)
        merged = {**current, **patch}
        merged = {k: v for k, v in merged.items() if v is not None}
        if json_size(merged) > self._settings.settings_max_bytes:
            raise SettingsTooLargeError(f"at most {self._settings.settings_max_bytes} bytes of JSON")
        if len(merged) > MAX_SETTINGS_KEYS:
            raise SettingsTooLargeError(f"at most {MAX_SETTINGS_KEYS} keys")
        to_set = {k: v for k, v in patch.items() if v is not None}
        to_remove = [k for k, v in patch.items() if v is None and k in current]
        if to_set:
            await self._thingsboard.save_settings(platform_id, to_set)
        if to_remove:
            await self._thingsboard.delete_settings(platform_id, to_remove)
        return merged

    def _check(self, values: Mapping[str, Any]) -> None:
        if len(values) > MAX_SETTINGS_KEYS:
            raise SettingsTooLargeError(f"at most {MAX_SETTINGS_KEYS} keys")
        bad = next((k for k in values if not _KEY.fullmatch(k)), None)
        if bad is not None:
            raise InvalidSettingsError(f"invalid key: {bad[:64]!r}")
        if json_size(dict(values)) > self._settings.settings_max_bytes:
            raise SettingsTooLargeError(f"at most {self._settings.settings_max_bytes} bytes of JSON")
