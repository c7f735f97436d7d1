"""Device ownership: the rules every device route (and the telemetry/command features) go through."""

from __future__ import annotations

from typing import TYPE_CHECKING

from petit.devices.errors import DeviceNotFoundError

if TYPE_CHECKING:
    import uuid

    from petit.db.models import Device
    from petit.devices.repositories import DeviceRepository


class DeviceService:
    def __init__(self, *, devices: DeviceRepository) -> None:
        self._devices = devices

    async def get_owned(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> Device:
        """The device if ``owner_id`` owns it; ``DeviceNotFoundError`` when missing or someone else's."""
        device = await self._devices.get_owned(owner_id, device_id)
        if device is None:
            raise DeviceNotFoundError
        return device
