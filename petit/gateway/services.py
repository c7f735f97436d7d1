"""Provisioning tokens (seed 004).

Secrets and what they are for:
* the provisioning token: one-time, 192-bit, expiring (30 min unless the owner asks otherwise), stored as a
  keyed digest; redeeming it is the "claim";
* ``api_key``: petit's own 192-bit secret for the HTTP ingest route, stored as a keyed digest; one per device,
  each claim replaces it;
* the ThingsBoard access token: each claim also rotates it (the previous one stops working at once) and
  returns it with the MQTT host and port, so the device may use MQTT directly; petit never stores it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from petit.audit.services import Outcome
from petit.db.models import ProvisioningToken
from petit.devices.roles import Capability
from petit.devices.services import require_access
from petit.gateway.errors import (
    InvalidApiKeyError,
    InvalidProvisioningTokenError,
    InvalidTelemetryError,
    InvalidTokenLifetimeError,
    ProvisioningTokenExpiredError,
    ProvisioningTokenUsedError,
)
from petit.gateway.schemas import (
    GatewayLatestTelemetry,
    ProvisioningClaimList,
    ProvisioningClaimRead,
    ProvisioningClaimResult,
    ProvisioningTokenCreate,
    ProvisioningTokenIssued,
)
from petit.lib.clock import as_utc
from petit.lib.secrets import new_secret
from petit.lib.throttle import Subjects, TooManyAttemptsError, credential_digest
from petit.thingsboard.errors import ThingsBoardBadRequestError

if TYPE_CHECKING:
    import uuid

    from petit.audit.services import DeviceEventService
    from petit.db.models import Device
    from petit.devices.lifecycle import DeviceLifecycle
    from petit.devices.repositories import DeviceRepository
    from petit.gateway.repositories import GatewayApiKeyRepository, ProvisioningTokenRepository
    from petit.lib.clock import Clock
    from petit.lib.secrets import SecretHasher
    from petit.lib.throttle import AttemptThrottle
    from petit.settings import ProvisioningSettings
    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)

FLOW = "provisioning_token"
#: Seed 004: "review the last 50 claims".
CLAIMS_SHOWN = 50


class GatewayService:
    def __init__(
        self,
        *,
        tokens: ProvisioningTokenRepository,
        api_keys: GatewayApiKeyRepository,
        devices: DeviceRepository,
        lifecycle: DeviceLifecycle,
        thingsboard: ThingsBoardPort,
        events: DeviceEventService,
        throttle: AttemptThrottle,
        hasher: SecretHasher,
        clock: Clock,
        settings: ProvisioningSettings,
    ) -> None:
        self._tokens = tokens
        self._api_keys = api_keys
        self._devices = devices
        self._lifecycle = lifecycle
        self._tb = thingsboard
        self._events = events
        self._throttle = throttle
        self._hasher = hasher
        self._clock = clock
        self._settings = settings

    async def _owned(
        self, user_id: uuid.UUID, device_id: uuid.UUID, capability: Capability = Capability.MANAGE
    ) -> Device:
        return (await require_access(self._devices, user_id, device_id, capability))[0]

    def _lifetime(self, request: ProvisioningTokenCreate) -> timedelta | None:
        if request.never_expires:
            if request.lifetime_minutes is not None:
                raise InvalidTokenLifetimeError("give lifetime_minutes or never_expires, not both")
            return None
        minutes = request.lifetime_minutes or self._settings.token_lifetime_min
        if minutes > self._settings.token_max_lifetime_min:
            raise InvalidTokenLifetimeError(f"at most {self._settings.token_max_lifetime_min} minutes")
        return timedelta(minutes=minutes)

    async def issue(
        self, *, user_id: uuid.UUID, device_id: uuid.UUID, request: ProvisioningTokenCreate, client_ip: str
    ) -> ProvisioningTokenIssued:
        device = await self._owned(user_id, device_id)
        lifetime = self._lifetime(request)
        now = self._clock.now()
        token = new_secret()
        row = await self._tokens.add(
            ProvisioningToken(
                device_id=device.id,
                token_digest=self._hasher.digest(token),
                notes=request.notes,
                issued_by=user_id,
                issued_at=now,
                expires_at=None if lifetime is None else now + lifetime,
            )
        )
        await self._events.record(
            flow=FLOW,
            action="issue",
            outcome=Outcome.SUCCEEDED,
            platform_device_id=device.platform_device_id,
            actor_user_id=user_id,
            client_ip=client_ip,
            details={"token_id": str(row.id), "never_expires": lifetime is None},
        )
        return ProvisioningTokenIssued(token=token, expires_at=row.expires_at, device_id=device.id)

    async def claim(
        self, *, token: str, device_metadata: dict[str, Any], client_ip: str, ingest_url: str
    ) -> ProvisioningClaimResult:
        # The token is the only identifier: the client is this address presenting this token.
        presenting = Subjects(client_ip=client_ip, credential=credential_digest(token))
        try:
            await self._throttle.check(presenting)
        except TooManyAttemptsError:
            await self._claim_event(Outcome.THROTTLED, None, client_ip, "too_many_attempts", keep=True)
            raise
        row = await self._tokens.by_digest(self._hasher.digest(token))
        if row is None or not self._hasher.matches(token, row.token_digest):
            wait = await self._throttle.failed(presenting)
            await self._claim_event(Outcome.FAILED, None, client_ip, "wrong_token", keep=True)
            if wait:
                await self._claim_event(Outcome.THROTTLED, None, client_ip, "too_many_attempts", keep=True)
                raise TooManyAttemptsError(wait)
            raise InvalidProvisioningTokenError
        device = await self._devices.get(row.device_id)
        if device is None:  # pragma: no cover - the foreign key cascades; only a race with deletion gets here
            raise InvalidProvisioningTokenError
        subjects = Subjects(device=f"device:{device.id}", client_ip=client_ip)
        now = self._clock.now()
        if row.claimed_at is not None:
            # A replay: someone holds a used token. Counted as a failure, like a wrong one.
            await self._throttle.failed(subjects)
            await self._claim_event(
                Outcome.REFUSED, device, client_ip, "token_already_used", row.id, keep=True
            )
            raise ProvisioningTokenUsedError
        if row.expires_at is not None and as_utc(row.expires_at) <= now:
            await self._claim_event(Outcome.EXPIRED, device, client_ip, "token_expired", row.id, keep=True)
            raise ProvisioningTokenExpiredError
        if not await self._tokens.redeem(row.id, now=now, client_ip=client_ip, metadata=device_metadata):
            await self._claim_event(Outcome.REFUSED, device, client_ip, "token_already_used", row.id)
            raise ProvisioningTokenUsedError
        api_key = new_secret()
        await self._api_keys.replace(device.id, self._hasher.digest(api_key), now=now)
        await self._claim_event(Outcome.SUCCEEDED, device, client_ip, None, row.id)
        # Last, so a ThingsBoard failure rolls back the redemption, the API key and the event above: the old
        # token keeps working or, had ThingsBoard rotated before failing, the same provisioning token gets
        # fresh credentials on the device's retry.
        credentials = await self._lifecycle.rekey(
            device,
            access_token=new_secret(),
            status={
                "lastProvisioning": {
                    "at": now.isoformat(),
                    "via": "provisioning-token",
                    "clientIp": client_ip,
                }
            },
        )
        return ProvisioningClaimResult(
            device_id=device.id,
            api_key=api_key,
            ingest_url=ingest_url,
            token_expires_at=None,
            access_token=credentials.access_token,
            mqtt_host=credentials.mqtt_host,
            mqtt_port=credentials.mqtt_port,
        )

    async def ingest(self, *, api_key: str | None, payload: Any, client_ip: str) -> None:
        # Keyed by the presented key too: one device retrying a stale key behind a NAT is locked out alone.
        subjects = Subjects(client_ip=client_ip, credential=credential_digest(api_key))
        # Ingest is frequent: only a locked client is refused up front; attempts count against no rate.
        if await self._throttle.locked(subjects):
            raise TooManyAttemptsError(self._throttle.limits.lockout_s)
        key = await self._api_keys.by_digest(self._hasher.digest(api_key)) if api_key else None
        if key is None or api_key is None or not self._hasher.matches(api_key, key.key_digest):
            wait = await self._throttle.failed(subjects)
            if wait:
                raise TooManyAttemptsError(wait)
            raise InvalidApiKeyError
        if (
            not isinstance(payload, dict)
            or not payload
            or not all(isinstance(k, str) and k.strip() and v is not None for k, v in payload.items())
        ):
            raise InvalidTelemetryError
        device = await self._devices.get(key.device_id)
        if device is None:  # pragma: no cover - the foreign key cascades
            raise InvalidApiKeyError
        try:
            await self._tb.save_readings(device.platform_device_id, payload)
        except ThingsBoardBadRequestError as exc:
            # The platform refused the data itself (say, a malformed {"ts", "values"} entry): the device's
            # mistake, not an upstream failure.
            raise InvalidTelemetryError(f"the device platform refused it: {str(exc)[:200]}") from exc

    async def latest(self, *, user_id: uuid.UUID, device_id: uuid.UUID) -> GatewayLatestTelemetry:
        device = await self._owned(user_id, device_id, Capability.READ)
        keys = await self._tb.telemetry_keys(device.platform_device_id)
        readings = await self._tb.latest_readings(device.platform_device_id, keys) if keys else {}
        present = {k: r for k, r in readings.items() if r is not None}
        newest = max((r.ts_ms for r in present.values()), default=None)
        return GatewayLatestTelemetry(
            device_id=device.id,
            payload={k: r.value for k, r in present.items()},
            timestamp=None if newest is None else _from_ms(newest),
        )

    async def claims(self, *, user_id: uuid.UUID, device_id: uuid.UUID) -> ProvisioningClaimList:
        device = await self._owned(user_id, device_id)
        rows = await self._tokens.claims(device.id, limit=CLAIMS_SHOWN)
        return ProvisioningClaimList(
            device_id=device.id,
            items=[
                ProvisioningClaimRead(
                    token_id=r.id,
                    notes=r.notes,
                    issued_at=r.issued_at,
                    claimed_at=r.claimed_at,
                    claim_ip=r.claim_ip,
                    device_metadata=r.device_metadata,
                )
                for r in rows
            ],
        )

    async def _claim_event(
        self,
        outcome: Outcome,
        device: Device | None,
        client_ip: str,
        reason: str | None,
        token_id: uuid.UUID | None = None,
        *,
        keep: bool = False,
    ) -> None:
        await self._events.record(
            keep=keep,
            flow=FLOW,
            action="claim",
            outcome=outcome,
            platform_device_id=device.platform_device_id if device else None,
            client_ip=client_ip,
            reason=reason,
            details={"token_id": str(token_id)} if token_id else None,
        )


def _from_ms(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
