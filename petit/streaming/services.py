"""Stream tokens: the user's ThingsBoard customer-user token, so the platform itself enforces ownership."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from petit.auth.errors import InvalidAccessTokenError
from petit.devices.roles import Role

if TYPE_CHECKING:
    import uuid

    from petit.devices.repositories import DeviceRepository
    from petit.thingsboard.models import StreamAccess
    from petit.thingsboard.port import ThingsBoardPort
    from petit.users.repositories import UserRepository


#: More devices than one account plausibly owns; the list is a convenience, the token is what matters.
MAX_LISTED_DEVICES = 1000


@dataclass(frozen=True, slots=True)
class StreamGrant:
    access: StreamAccess
    #: (petit device id, platform device id) of each owned device.
    devices: list[tuple[uuid.UUID, uuid.UUID]]
    #: petit ids of devices shared with the user: the token cannot reach them (one customer per device in CE).
    shared: list[uuid.UUID]


class StreamService:
    def __init__(
        self, *, users: UserRepository, devices: DeviceRepository, thingsboard: ThingsBoardPort
    ) -> None:
        self._users = users
        self._devices = devices
        self._thingsboard = thingsboard

    async def grant(self, user_id: uuid.UUID) -> StreamGrant:
        user = await self._users.get(user_id)
        if user is None:
            # The account was deleted after the petit token was issued.
            raise InvalidAccessTokenError
        account_id = user.platform_account_id
        if account_id is None:
            # Not linked yet (ThingsBoard was down at signup). ensure_owner is idempotent, so this finds or
            # finishes the same customer the linker will record; the linker stays the one that persists it.
            account_id = (await self._thingsboard.ensure_owner(user.email)).account_id
        access = await self._thingsboard.stream_access(account_id)
        owned, _ = await self._devices.list_owned(user_id, limit=MAX_LISTED_DEVICES, offset=0)
        reachable, _ = await self._devices.list_accessible(user_id, limit=MAX_LISTED_DEVICES, offset=0)
        shared = [d.id for d, role, _ in reachable if role is not Role.OWNER]
        return StreamGrant(
            access=access, devices=[(d.id, d.platform_device_id) for d in owned], shared=shared
        )
