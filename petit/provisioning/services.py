"""Self-provisioning by MAC, and the owner's approval to provision a factory-reset device again."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from petit.audit.services import Outcome
from petit.db.models import ProvisionedDevice
from petit.devices.roles import Capability
from petit.devices.services import require_access
from petit.lib.secrets import new_secret
from petit.lib.throttle import Subjects, TooManyAttemptsError
from petit.provisioning.errors import (
    InvalidMacAddressError,
    InvalidProvisionCredentialsError,
    NotProvisionedDeviceError,
    ProvisioningDisabledError,
    ReprovisionNotAllowedError,
)
from petit.provisioning.schemas import ProvisionedCredentials, ReprovisionApproval
from petit.thingsboard.errors import ThingsBoardConflictError

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from petit.audit.services import DeviceEventService
    from petit.devices.lifecycle import DeviceLifecycle
    from petit.devices.repositories import DeviceRepository
    from petit.lib.cache import Cache
    from petit.lib.clock import Clock
    from petit.lib.secrets import SecretHasher
    from petit.lib.throttle import AttemptThrottle
    from petit.provisioning.repositories import ProvisionedDeviceRepository
    from petit.settings import ProvisioningSettings
    from petit.thingsboard.models import DeviceCredentials, DeviceRecord, Value
    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)

FLOW = "provisioning"
_MAC = re.compile(r"[0-9A-F]{12}")
#: How long a worker trusts that the profile is set up before checking ThingsBoard again.
_PROFILE_CHECK_TTL_S = 3600.0


def _provisioned_status(now: datetime, client_ip: str, *, count: int) -> dict[str, Value]:
    """What operators see on the device in ThingsBoard's UI; never a secret."""
    return {
        "provisionState": "provisioned",
        "lastProvisioning": {
            "at": now.isoformat(),
            "via": "petit-mac",
            "clientIp": client_ip,
            "count": count,
        },
    }


def normalize_mac(value: str) -> str:
    """``a4:b7:2c:cd:ff:33``, ``A4-B7-...`` and ``a4b72ccdff33`` all name ``A4B72CCDFF33``."""
    mac = value.strip().upper().replace(":", "").replace("-", "")
    if not _MAC.fullmatch(mac):
        raise InvalidMacAddressError
    return mac


async def ensure_provisioning_profile(
    thingsboard: ThingsBoardPort, cache: Cache, profile_name: str, key: str, secret: str
) -> None:
    """Make ThingsBoard's profile accept the configured key and secret, so devices may also provision
    through ThingsBoard's own ``/provision``; remembered in the shared cache for an hour."""
    fingerprint = hashlib.sha256(f"{profile_name}\0{key}\0{secret}".encode()).hexdigest()[:16]
    marker = f"provisioning:profile:{fingerprint}"
    if await cache.get(marker) is not None:
        return
    await thingsboard.ensure_provisioning_profile(profile_name, key=key, secret=secret)
    await cache.set(marker, "1", ttl_s=_PROFILE_CHECK_TTL_S)


class ProvisioningService:
    def __init__(
        self,
        *,
        provisioned: ProvisionedDeviceRepository,
        devices: DeviceRepository,
        lifecycle: DeviceLifecycle,
        thingsboard: ThingsBoardPort,
        events: DeviceEventService,
        throttle: AttemptThrottle,
        hasher: SecretHasher,
        cache: Cache,
        clock: Clock,
        settings: ProvisioningSettings,
    ) -> None:
        self._provisioned = provisioned
        self._devices = devices
        self._lifecycle = lifecycle
        self._tb = thingsboard
        self._events = events
        self._throttle = throttle
        self._hasher = hasher
        self._cache = cache
        self._clock = clock
        self._settings = settings

    def _credentials(self) -> tuple[str, str]:
        key, secret = self._settings.device_key, self._settings.device_secret
        if not key or secret is None:
            raise ProvisioningDisabledError
        return key, secret.get_secret_value()

    async def ensure_profile(self) -> None:
        key, secret = self._credentials()
        await ensure_provisioning_profile(self._tb, self._cache, self._settings.profile_name, key, secret)

    async def provision(
        self,
        *,
        mac_address: str,
        provision_key: str,
        provision_secret: str,
        device_secret: str | None,
        client_ip: str,
    ) -> ProvisionedCredentials:
        key, secret = self._credentials()
        mac = normalize_mac(mac_address)
        subjects = Subjects(device=f"mac:{mac}", client_ip=client_ip)
        try:
            await self._throttle.check(subjects)
        except TooManyAttemptsError:
            await self._record(
                "provision", Outcome.THROTTLED, mac, client_ip, reason="too_many_attempts", keep=True
            )
            raise
        # Both comparisons always run (no short-circuit), so timing tells nothing about which one failed.
        key_ok = hmac.compare_digest(provision_key.encode(), key.encode())
        secret_ok = hmac.compare_digest(provision_secret.encode(), secret.encode())
        if not (key_ok & secret_ok):
            await self._throttle.failed(subjects)
            await self._record(
                "provision", Outcome.FAILED, mac, client_ip, reason="wrong_provision_credentials", keep=True
            )
            raise InvalidProvisionCredentialsError
        await self.ensure_profile()
        row = await self._provisioned.by_mac(mac)
        if row is None:
            return await self._provision_new(mac, client_ip)
        return await self._provision_again(row, device_secret, subjects, client_ip)

    async def _provision_new(self, mac: str, client_ip: str) -> ProvisionedCredentials:
        # An earlier attempt of petit's that failed half-way was undone at once (or, when ThingsBoard was
        # away, is undone by the sweeper within a minute), so it does not lock the device out.
        existing = await self._tb.find_device(mac)
        if existing is not None:
            # Registered through ThingsBoard's own /provision (or by hand): petit never issued a device secret
            # for it, so it cannot tell the real device from someone who read the MAC off a label.
            await self._record(
                "provision",
                Outcome.REFUSED,
                mac,
                client_ip,
                reason="registered_elsewhere",
                device_id=existing.id,
                keep=True,
            )
            raise ReprovisionNotAllowedError
        device_secret = new_secret()
        now = self._clock.now()

        async def write(record: DeviceRecord) -> None:
            await self._provisioned.add(
                ProvisionedDevice(
                    mac=mac,
                    platform_device_id=record.id,
                    device_secret_digest=self._hasher.digest(device_secret),
                    created_at=now,
                    updated_at=now,
                )
            )
            await self._record("provision", Outcome.SUCCEEDED, mac, client_ip, device_id=record.id)

        try:
            created = await self._lifecycle.provision(
                mac,
                profile=self._settings.profile_name,
                access_token=new_secret(),
                status=_provisioned_status(now, client_ip, count=1),
                write=write,
            )
        except ThingsBoardConflictError:
            # Another request registered this MAC a moment ago; that one got the credentials.
            await self._record(
                "provision", Outcome.REFUSED, mac, client_ip, reason="registered_concurrently", keep=True
            )
            raise ReprovisionNotAllowedError from None
        except IntegrityError:
            # The same race, lost at petit's row instead (the session is spent: no event for this one).
            raise ReprovisionNotAllowedError from None
        return self._answer(mac, created.credentials, device_secret, reprovisioned=False)

    async def _provision_again(
        self, row: ProvisionedDevice, device_secret: str | None, subjects: Subjects, client_ip: str
    ) -> ProvisionedCredentials:
        now = self._clock.now()
        new_device_secret = new_secret()
        new_digest = self._hasher.digest(new_device_secret)
        via = "device_secret"
        allowed = False
        if device_secret and self._hasher.matches(device_secret, row.device_secret_digest):
            allowed = await self._provisioned.consume_secret(
                row.id, row.device_secret_digest, new_digest=new_digest, now=now
            )
        if not allowed:
            via = "owner_approval"
            allowed = await self._provisioned.consume_approval(row.id, new_digest=new_digest, now=now)
        if not allowed:
            if device_secret:
                await self._throttle.failed(subjects)
            reason = "wrong_device_secret" if device_secret else "not_approved"
            await self._record(
                "reprovision",
                Outcome.REFUSED,
                row.mac,
                client_ip,
                reason=reason,
                device_id=row.platform_device_id,
            )
            raise ReprovisionNotAllowedError
        await self._record(
            "reprovision", Outcome.SUCCEEDED, row.mac, client_ip, device_id=row.platform_device_id, via=via
        )
        # Last: a failure here rolls the request back, so the secret or approval just used stays usable for
        # the device's retry, which then gets fresh credentials.
        credentials = await self._lifecycle.rekey(
            row.platform_device_id,
            access_token=new_secret(),
            status=_provisioned_status(now, client_ip, count=row.provision_count + 1),
        )
        return self._answer(row.mac, credentials, new_device_secret, reprovisioned=True)

    async def allow_reprovision(
        self, *, user_id: uuid.UUID, device_id: uuid.UUID, client_ip: str
    ) -> ReprovisionApproval:
        """The owner vouches for the next registration of this device's MAC (after a factory reset)."""
        device, _ = await require_access(self._devices, user_id, device_id, Capability.MANAGE)
        row = await self._provisioned.by_platform_id(device.platform_device_id)
        if row is None:
            raise NotProvisionedDeviceError
        now = self._clock.now()
        row.reprovision_armed_until = now + timedelta(seconds=self._settings.reprovision_window_s)
        row.updated_at = now
        await self._provisioned.save(row)
        await self._events.record(
            flow=FLOW,
            action="allow_reprovision",
            outcome=Outcome.SUCCEEDED,
            platform_device_id=row.platform_device_id,
            device_ref=row.mac,
            actor_user_id=user_id,
            client_ip=client_ip,
        )
        return ReprovisionApproval(
            device_id=device.id, mac_address=row.mac, allowed_until=row.reprovision_armed_until
        )

    @staticmethod
    def _answer(
        mac: str, credentials: DeviceCredentials, device_secret: str, *, reprovisioned: bool
    ) -> ProvisionedCredentials:
        return ProvisionedCredentials(
            device_name=mac,
            access_token=credentials.access_token,
            device_secret=device_secret,
            mqtt_host=credentials.mqtt_host,
            mqtt_port=credentials.mqtt_port,
            reprovisioned=reprovisioned,
        )

    async def _record(
        self,
        action: str,
        outcome: Outcome,
        mac: str,
        client_ip: str,
        *,
        reason: str | None = None,
        device_id: uuid.UUID | None = None,
        via: str | None = None,
        keep: bool = False,
    ) -> None:
        await self._events.record(
            keep=keep,
            flow=FLOW,
            action=action,
            outcome=outcome,
            platform_device_id=device_id,
            device_ref=mac,
            client_ip=client_ip,
            reason=reason,
            details={"via": via} if via else None,
        )
