"""Commands: server-side RPC to a device, held open by ThingsBoard until the device answers or expires."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from petit.thingsboard.transport import Endpoints, call_json

if TYPE_CHECKING:
    from uuid import UUID

    from tb_rest_client.rest_client_ce import RestClientCE


class RpcEndpoints(Endpoints):
    async def call_device(
        self,
        device_id: UUID,
        method: str,
        params: Any = None,
        *,
        expect_reply: bool = True,
        timeout_s: float = 10.0,
    ) -> Any:
        body = {
            "method": method,
            "params": params if params is not None else {},
            "timeout": int(timeout_s * 1000),
            # TB stretches "timeout" to at least 5 s; an explicit expiry is honoured as given.
            "expirationTime": int((time.time() + timeout_s) * 1000),
        }
        path = "/api/rpc/twoway/{deviceId}" if expect_reply else "/api/rpc/oneway/{deviceId}"
        request_timeout_s = self._transport.config.request_timeout_s
        # ThingsBoard holds the request until the device answers or the RPC expires; wait a little longer.
        read_timeout = timeout_s + request_timeout_s

        def send(rc: RestClientCE) -> Any:
            return call_json(
                rc.api_client,
                path,
                "POST",
                path_params={"deviceId": str(device_id)},
                body=body,
                request_timeout=(request_timeout_s, read_timeout),
            )

        # Commands act on the world: never repeated unless the request provably never left.
        result = await self._transport.call(send, idempotent=False, rpc=True, budget_s=read_timeout)
        return None if result in (b"", "") else result


__all__ = ["RpcEndpoints"]
