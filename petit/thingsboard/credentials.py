"""Device credentials: the access token a device connects with."""

from __future__ import annotations

import secrets
import string
from typing import TYPE_CHECKING, Any

from petit.thingsboard import mapping
from petit.thingsboard.transport import Endpoints, checked, device_ref

if TYPE_CHECKING:
    from uuid import UUID

    from tb_rest_client.rest_client_ce import RestClientCE

    from petit.thingsboard.models import DeviceCredentials

_TOKEN_ALPHABET = string.ascii_letters + string.digits


def _random_token() -> str:
    # Same shape as the tokens ThingsBoard generates itself: 20 alphanumerics.
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(20))


class CredentialEndpoints(Endpoints):
    def _credentials(self, raw: Any) -> DeviceCredentials:
        config = self._transport.config
        return mapping.credentials_from_tb(raw, mqtt_host=config.mqtt_host, mqtt_port=config.mqtt_port)

    async def get_credentials(self, device_id: UUID) -> DeviceCredentials:
        raw = await self._transport.call(
            lambda rc: rc.get_device_credentials_by_device_id(device_ref(device_id)), idempotent=True
        )
        return self._credentials(raw)

    async def rotate_credentials(self, device_id: UUID, access_token: str | None = None) -> DeviceCredentials:
        # Chosen once, before any retry, so a repeated attempt writes the same value.
        token = access_token or _random_token()

        def rotate(rc: RestClientCE) -> Any:
            current = checked(rc.get_device_credentials_by_device_id(device_ref(device_id)))
            current.credentials_type = "ACCESS_TOKEN"
            current.credentials_id = token
            current.credentials_value = None
            return rc.update_device_credentials(current)

        return self._credentials(await self._transport.call(rotate, idempotent=True))


__all__ = ["CredentialEndpoints"]
