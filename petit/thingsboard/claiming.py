"""Claiming: a customer user takes a device the device itself offered, and the tenant takes it back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from petit.thingsboard import mapping
from petit.thingsboard.errors import ThingsBoardProtocolError
from petit.thingsboard.transport import Endpoints

if TYPE_CHECKING:
    from uuid import UUID

    from petit.thingsboard.models import DeviceRecord


class ClaimingEndpoints(Endpoints):
    async def claim_device(self, account_id: UUID, device_name: str, secret_key: str = "") -> DeviceRecord:
        # TB answers a claim with no body with a 500; always send the secret, even empty.
        body = {"secretKey": secret_key}
        raw = await self._transport.call(
            lambda rc: rc.device_controller.claim_device_using_post1(device_name, body=body),
            idempotent=False,
            account_id=account_id,
        )
        if not isinstance(raw, dict) or "device" not in raw:
            raise ThingsBoardProtocolError("claim answer without device")
        return mapping.device_from_tb(raw["device"])

    async def release_device(self, device_name: str) -> None:
        await self._transport.call(lambda rc: rc.re_claim_device(device_name), idempotent=True)


__all__ = ["ClaimingEndpoints"]
