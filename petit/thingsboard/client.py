"""``ThingsBoardClient``: the port over tb-rest-client's synchronous ``RestClientCE``.

The endpoint modules (owners, devices, credentials, telemetry, attributes, rpc, claiming, provisioning) say
what to ask ThingsBoard; ``transport`` is the only place that says how (thread pool, deadlines, retries,
tokens, error translation). This class assembles them into one object per petit worker process.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from petit.thingsboard import mapping
from petit.thingsboard.attributes import AttributeEndpoints
from petit.thingsboard.claiming import ClaimingEndpoints
from petit.thingsboard.credentials import CredentialEndpoints
from petit.thingsboard.devices import DeviceEndpoints
from petit.thingsboard.owners import OwnerEndpoints
from petit.thingsboard.provisioning import ProvisioningEndpoints
from petit.thingsboard.rpc import RpcEndpoints
from petit.thingsboard.stream import StreamListener, ThingsBoardStream
from petit.thingsboard.telemetry import TelemetryEndpoints
from petit.thingsboard.transport import Transport

if TYPE_CHECKING:
    from collections.abc import Callable

    from redis.asyncio import Redis

    from petit.thingsboard.models import ThingsBoardConfig
    from petit.thingsboard.port import ThingsBoardPort
    from petit.thingsboard.tokens import TokenStats, TokenStore


class ThingsBoardClient(
    OwnerEndpoints,
    DeviceEndpoints,
    CredentialEndpoints,
    TelemetryEndpoints,
    AttributeEndpoints,
    RpcEndpoints,
    ClaimingEndpoints,
    ProvisioningEndpoints,
):
    """The ThingsBoard port over tb-rest-client; one instance per petit worker process."""

    def __init__(
        self,
        config: ThingsBoardConfig,
        *,
        token_store: TokenStore | None = None,
        redis: Redis[Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._transport = Transport(config, token_store=token_store, redis=redis, clock=clock)
        self._background = set()

    @property
    def token_stats(self) -> TokenStats:
        return self._transport.token_stats

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def check_health(self) -> None:
        await self._transport.call(lambda rc: rc.get_user(), idempotent=True)

    def open_stream(self, listener: StreamListener) -> ThingsBoardStream:
        async def token() -> str:
            return (await self._transport.tenant_pair()).access

        return ThingsBoardStream(
            mapping.ws_url(self._transport.base_url),
            token=token,
            invalidate_token=self._transport.invalidate_tenant,
            listener=listener,
        )


if TYPE_CHECKING:
    # runtime_checkable only compares method names; this makes mypy hold the client to the port's signatures.
    def _conforms(implementation: ThingsBoardClient) -> ThingsBoardPort:
        return implementation


__all__ = ["ThingsBoardClient"]
