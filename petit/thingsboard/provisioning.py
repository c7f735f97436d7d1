"""Device profiles that let devices register themselves (ThingsBoard's device provisioning)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from petit.thingsboard.transport import Endpoints, call_json

if TYPE_CHECKING:
    from tb_rest_client.rest_client_ce import RestClientCE


class ProvisioningEndpoints(Endpoints):
    async def ensure_provisioning_profile(self, name: str, *, key: str, secret: str) -> None:
        def ensure(rc: RestClientCE) -> Any:
            found = call_json(
                rc.api_client,
                "/api/deviceProfiles",
                "GET",
                query=[("pageSize", 100), ("page", 0), ("textSearch", name)],
            )
            rows = found.get("data", []) if isinstance(found, dict) else []
            body: dict[str, Any] = next((dict(r) for r in rows if r.get("name") == name), {"name": name})
            body.setdefault("type", "DEFAULT")
            body.setdefault("transportType", "DEFAULT")
            body["provisionType"] = "ALLOW_CREATE_NEW_DEVICES"
            body["provisionDeviceKey"] = key
            data = dict(body.get("profileData") or {})
            data.setdefault("configuration", {"type": "DEFAULT"})
            data.setdefault("transportConfiguration", {"type": "DEFAULT"})
            data["provisionConfiguration"] = {
                "type": "ALLOW_CREATE_NEW_DEVICES",
                "provisionDeviceSecret": secret,
            }
            body["profileData"] = data
            return call_json(rc.api_client, "/api/deviceProfile", "POST", body=body)

        # Find-then-save converges on the same profile however often it runs.
        await self._transport.call(ensure, idempotent=True)


__all__ = ["ProvisioningEndpoints"]
