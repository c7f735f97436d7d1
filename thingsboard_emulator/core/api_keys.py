"""API keys (``POST /api/apiKey``): a long-lived secret that stands for one user.

ThingsBoard CE has had them since 4.3 (``ApiKeyController``, ``ApiKeyAuthenticationProvider``): REST takes
them as ``X-Authorization: ApiKey <value>``; 4.4 also accepts ``{"authCmd": {"apiKey": ...}}`` on
``/api/ws``. The value is shown once, when the key is created. Keys live in memory only (``--data``
does not keep them).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thingsboard_emulator.core.errors import TbError, bad_request, entity_not_found, forbidden
from thingsboard_emulator.core.model import new_id, now_ms, ref

if TYPE_CHECKING:
    from thingsboard_emulator.contracts import Principal
    from thingsboard_emulator.core.service import Core

# TB's security.api_key.value_bytes_size default; StringUtils.generateSafeToken makes URL-safe base64 of it.
_VALUE_BYTES = 64


@dataclass(slots=True)
class ApiKey:
    id: str
    tenant_id: str
    user_id: str
    value: str
    description: str | None
    expiration_time: int
    enabled: bool
    created_time: int

    def to_json(self, *, with_value: bool) -> dict[str, Any]:
        return {
            "id": ref("API_KEY", self.id),
            "createdTime": self.created_time,
            "tenantId": ref("TENANT", self.tenant_id),
            "userId": ref("USER", self.user_id),
            "expirationTime": self.expiration_time,
            "description": self.description,
            "enabled": self.enabled,
            "value": self.value if with_value else None,
        }


class ApiKeys:
    def __init__(self, core: Core) -> None:
        self._core = core
        self._by_id: dict[str, ApiKey] = {}
        self._by_value: dict[str, str] = {}

    def _writable_user(self, principal: Principal, user_id: str) -> Any:
        user = self._core.check_entity(principal, "USER", user_id)
        if principal.authority == "CUSTOMER_USER" and principal.user_id != user_id:
            raise forbidden()
        return user

    def save(self, principal: Principal, body: dict[str, Any]) -> ApiKey:
        user_ref = body.get("userId")
        user_id = user_ref.get("id") if isinstance(user_ref, dict) else None
        if not isinstance(user_id, str) or not user_id:
            raise bad_request("Validation error: userId must not be null")
        user = self._writable_user(principal, user_id)
        expiration = body.get("expirationTime") or 0
        if not isinstance(expiration, int) or isinstance(expiration, bool) or expiration < 0:
            raise bad_request("Validation error: expirationTime must be a positive number or 0")
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise bad_request("Validation error: description must be a string")
        key = ApiKey(
            id=new_id(),
            tenant_id=user.tenant_id,
            user_id=user_id,
            value=secrets.token_urlsafe(_VALUE_BYTES),
            description=description,
            expiration_time=expiration,
            enabled=bool(body.get("enabled", True)),
            created_time=now_ms(),
        )
        self._by_id[key.id] = key
        self._by_value[key.value] = key.id
        return key

    def delete(self, principal: Principal, key_id: str) -> None:
        key = self._by_id.get(key_id)
        if key is None:
            raise entity_not_found("Api key", key_id)
        self._writable_user(principal, key.user_id)
        del self._by_id[key_id]
        self._by_value.pop(key.value, None)

    def authenticate(self, value: str) -> Principal:
        """TB's ``ApiKeyAuthenticationProvider.authenticate``: the key's user, or a 401 with TB's message."""
        if not value:
            raise TbError(401, "Empty API key", 10)
        key_id = self._by_value.get(value)
        key = self._by_id.get(key_id) if key_id else None
        if key is None:
            raise TbError(401, "User not found for the provided API key", 10)
        if not key.enabled:
            raise TbError(401, "API key auth is not active", 10)
        if key.expiration_time and key.expiration_time < now_ms():
            raise TbError(401, "API key is expired", 10)
        return self._core.principal_for_user(key.user_id)


__all__ = ["ApiKey", "ApiKeys"]
