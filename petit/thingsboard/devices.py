"""Devices: create (owned or not), read, rename, delete, and move between owners."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from petit.thingsboard import mapping
from petit.thingsboard.errors import ThingsBoardBadRequestError, ThingsBoardError, ThingsBoardNotFoundError
from petit.thingsboard.models import DeviceRecord, Page
from petit.thingsboard.transport import Endpoints, call_json, checked, customer_ref, device_ref

if TYPE_CHECKING:
    from uuid import UUID

    from tb_rest_client.rest_client_ce import RestClientCE

log = logging.getLogger(__name__)


class DeviceEndpoints(Endpoints):
    #: Compensating deletes still running after their caller gave up; set up by ``ThingsBoardClient``.
    _background: set[asyncio.Future[None]]

    async def create_device(
        self,
        name: str,
        *,
        owner_id: UUID | None,
        label: str | None = None,
        profile: str = "default",
        access_token: str | None = None,
    ) -> DeviceRecord:
        # tb-rest-client's Device model insists on a profile id; TB itself resolves the profile from ``type``.
        body: dict[str, Any] = {"name": name, "type": profile}
        if label is not None:
            body["label"] = label
        query = [("accessToken", access_token)] if access_token else []

        def create(rc: RestClientCE) -> Any:
            return call_json(rc.api_client, "/api/device", "POST", query=query, body=body)

        # Not retried: a lost answer may mean the device exists; callers find it by name to compensate.
        created = await self._transport.call(create, idempotent=False)
        device = mapping.device_from_tb(created)
        if owner_id is None:
            return device
        try:
            return await self.assign_device(device.id, owner_id)
        except BaseException:
            # Never leave a device nobody owns: undo the create, even if our caller is being cancelled
            # (the shielded delete carries on after the cancellation propagates).
            cleanup = asyncio.ensure_future(self._delete_quietly(device.id))
            # The loop keeps only weak references to tasks: hold this one until it is done.
            self._background.add(cleanup)
            cleanup.add_done_callback(self._background.discard)
            await asyncio.shield(cleanup)
            raise

    async def _delete_quietly(self, device_id: UUID) -> None:
        try:
            await self.delete_device(device_id)
        except ThingsBoardError:
            log.warning("thingsboard.device.compensation_failed", extra={"device_id": str(device_id)})

    async def get_device(self, device_id: UUID) -> DeviceRecord:
        raw = await self._transport.call(
            lambda rc: rc.get_device_by_id(device_ref(device_id)), idempotent=True
        )
        return mapping.device_from_tb(raw)

    async def find_device(self, name: str) -> DeviceRecord | None:
        try:
            raw = await self._transport.call(lambda rc: rc.get_tenant_device(name), idempotent=True)
        except ThingsBoardNotFoundError:
            return None
        return mapping.device_from_tb(raw)

    async def list_devices(
        self, *, page: int = 0, page_size: int = 100, owner_id: UUID | None = None
    ) -> Page[DeviceRecord]:
        def fetch(rc: RestClientCE) -> Any:
            if owner_id is None:
                return rc.get_tenant_devices(page_size, page, sort_property="createdTime", sort_order="ASC")
            return rc.get_customer_devices(
                customer_ref(owner_id), page_size, page, sort_property="createdTime", sort_order="ASC"
            )

        raw = await self._transport.call(fetch, idempotent=True)
        return Page(
            items=tuple(mapping.device_from_tb(d) for d in raw.data or []),
            total=int(raw.total_elements or 0),
            has_next=bool(raw.has_next),
        )

    async def update_device(
        self, device_id: UUID, *, name: str | None = None, label: str | None = None
    ) -> DeviceRecord:
        def update(rc: RestClientCE) -> Any:
            device = checked(rc.get_device_by_id(device_ref(device_id)))
            if name is not None:
                device.name = name
            if label is not None:
                device.label = label
            return rc.save_device(device)

        # Setting fields to given values is idempotent, so a retry is harmless.
        return mapping.device_from_tb(await self._transport.call(update, idempotent=True))

    async def delete_device(self, device_id: UUID) -> None:
        try:
            await self._transport.call(lambda rc: rc.delete_device(device_ref(device_id)), idempotent=True)
        except ThingsBoardNotFoundError:
            return

    async def assign_device(self, device_id: UUID, owner_id: UUID) -> DeviceRecord:
        raw = await self._transport.call(
            lambda rc: rc.assign_device_to_customer(customer_ref(owner_id), device_ref(device_id)),
            idempotent=True,
        )
        return mapping.device_from_tb(raw)

    async def unassign_device(self, device_id: UUID) -> DeviceRecord:
        try:
            raw = await self._transport.call(
                lambda rc: rc.unassign_device_from_customer(device_ref(device_id)), idempotent=True
            )
        except ThingsBoardBadRequestError:
            # "Device isn't assigned to any customer!": already where we want it.
            return await self.get_device(device_id)
        return mapping.device_from_tb(raw)


__all__ = ["DeviceEndpoints"]
