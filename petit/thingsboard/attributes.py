"""Attributes: a device's key-value state in ThingsBoard's three scopes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from petit.thingsboard import mapping
from petit.thingsboard.errors import ThingsBoardBadRequestError
from petit.thingsboard.models import AttributeScope
from petit.thingsboard.transport import Endpoints, device_ref

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
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


__all__ = ["AttributeEndpoints"]
