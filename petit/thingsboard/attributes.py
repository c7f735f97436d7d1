"""Attributes: a device's key-value state in ThingsBoard's three scopes, and the capabilities built on them.

Features ask for settings, connection time, pairing proof or operator status; which scope and key holds each
is decided here (and in ``mapping``) only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from petit.thingsboard import mapping
from petit.thingsboard.errors import ThingsBoardBadRequestError
from petit.thingsboard.models import AttributeScope
from petit.thingsboard.transport import Endpoints, device_ref

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from uuid import UUID

    from petit.thingsboard.models import Value


class AttributeEndpoints(Endpoints):
    async def get_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str] | None = None
    ) -> dict[str, Value]:
        joined = ",".join(keys) if keys else None
        raw = await self._transport.call(
            lambda rc: rc.get_attributes_by_scope(
                device_ref(device_id), mapping.SCOPE_TO_TB[scope], keys=joined
            ),
            idempotent=True,
        )
        return mapping.attributes_from_tb(raw)

    async def save_attributes(
        self, device_id: UUID, scope: AttributeScope, values: Mapping[str, Value]
    ) -> None:
        if scope is AttributeScope.REPORTED:
            raise ThingsBoardBadRequestError("reported attributes are written by the device only")
        body = dict(values)
        await self._transport.call(
            lambda rc: rc.save_entity_attributes_v2(
                device_ref(device_id), mapping.SCOPE_TO_TB[scope], body=body
            ),
            idempotent=True,
        )

    async def delete_attributes(self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]) -> None:
        if not keys:
            return
        joined = ",".join(keys)
        await self._transport.call(
            lambda rc: rc.delete_entity_attributes(
                device_ref(device_id), mapping.SCOPE_TO_TB[scope], keys=joined
            ),
            idempotent=True,
        )

    async def connected_since(self, device_id: UUID) -> datetime | None:
        server = await self.get_attributes(device_id, AttributeScope.SERVER, [mapping.LAST_CONNECT_TIME])
        return mapping.connected_since_from_tb(server.get(mapping.LAST_CONNECT_TIME))

    async def pairing_proof(self, device_id: UUID) -> Value | None:
        reported = await self.get_attributes(device_id, AttributeScope.REPORTED, [mapping.PAIRING_PROOF])
        return reported.get(mapping.PAIRING_PROOF)

    async def clear_pairing_proof(self, device_id: UUID) -> None:
        await self.delete_attributes(device_id, AttributeScope.REPORTED, [mapping.PAIRING_PROOF])

    async def show_status(self, device_id: UUID, values: Mapping[str, Value]) -> None:
        await self.save_attributes(device_id, AttributeScope.SERVER, values)

    async def get_settings(self, device_id: UUID) -> dict[str, Value]:
        return await self.get_attributes(device_id, AttributeScope.SETTINGS)

    async def save_settings(self, device_id: UUID, values: Mapping[str, Value]) -> None:
        await self.save_attributes(device_id, AttributeScope.SETTINGS, values)

    async def delete_settings(self, device_id: UUID, keys: Sequence[str]) -> None:
        await self.delete_attributes(device_id, AttributeScope.SETTINGS, keys)


__all__ = ["AttributeEndpoints"]
