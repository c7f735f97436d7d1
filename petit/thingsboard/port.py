"""The port feature code depends on; ``ThingsBoardClient`` implements it, ``tests.fakes`` fakes it.

Every method speaks petit's vocabulary and raises only ``petit.thingsboard.errors`` types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from uuid import UUID

    from petit.thingsboard.models import (
        AttributeScope,
        DeviceCredentials,
        DeviceRecord,
        HistoryQuery,
        OwnerAccount,
        Page,
        Reading,
        StreamAccess,
        Value,
    )
    from petit.thingsboard.stream import StreamListener


class TelemetryStreamPort(Protocol):
    """Push of device readings and connectivity; one per petit process, whatever the number of watchers."""

    @property
    def watched(self) -> int:
        """Devices currently subscribed upstream."""

    def watch(self, device_id: UUID) -> None:
        """Start receiving the device's events (idempotent, never blocks)."""

    def unwatch(self, device_id: UUID) -> None: ...

    def is_live(self, device_id: UUID) -> bool:
        """Every update of the device reaches the listener from now on (its subscription is answered on the
        connection that is up), so what it delivered is current up to the push latency."""

    async def aclose(self) -> None: ...


@runtime_checkable
class ThingsBoardPort(Protocol):
    async def check_health(self) -> None:
        """Return when ThingsBoard answers an authenticated call; raise ``ThingsBoardError`` otherwise."""

    # Owners (one ThingsBoard customer and customer user per petit user)

    async def ensure_owner(self, email: str) -> OwnerAccount:
        """Find or create the customer and customer user for ``email``; safe to call again after a failure."""

    async def find_owner(self, email: str) -> OwnerAccount | None: ...

    async def delete_owner(self, owner_id: UUID) -> None:
        """Delete the customer and its users; its devices fall back to the tenant."""

    async def stream_access(self, account_id: UUID) -> StreamAccess:
        """A token scoped to the account's customer, for apps that stream straight from ThingsBoard."""

    # Devices

    async def create_device(
        self,
        name: str,
        *,
        owner_id: UUID | None,
        label: str | None = None,
        profile: str = "default",
        access_token: str | None = None,
    ) -> DeviceRecord:
        """Create a device and assign it to ``owner_id``; a failed assignment deletes the device again."""

    async def get_device(self, device_id: UUID) -> DeviceRecord: ...

    async def find_device(self, name: str) -> DeviceRecord | None: ...

    async def list_devices(
        self, *, page: int = 0, page_size: int = 100, owner_id: UUID | None = None
    ) -> Page[DeviceRecord]:
        """Devices of one owner, or of the whole tenant when ``owner_id`` is None (reconciliation)."""

    async def update_device(
        self, device_id: UUID, *, name: str | None = None, label: str | None = None
    ) -> DeviceRecord: ...

    async def delete_device(self, device_id: UUID) -> None:
        """Delete; a device that is already gone is not an error."""

    async def assign_device(self, device_id: UUID, owner_id: UUID) -> DeviceRecord: ...

    async def unassign_device(self, device_id: UUID) -> DeviceRecord: ...

    # Credentials

    async def get_credentials(self, device_id: UUID) -> DeviceCredentials: ...

    async def rotate_credentials(self, device_id: UUID, access_token: str | None = None) -> DeviceCredentials:
        """Replace the device's access token with ``access_token`` or a fresh random one."""

    # Telemetry

    async def latest_readings(self, device_id: UUID, keys: Sequence[str]) -> dict[str, Reading | None]:
        """Latest sample per key; a key that never reported maps to None."""

    async def reading_history(self, device_id: UUID, query: HistoryQuery) -> dict[str, list[Reading]]: ...

    async def telemetry_keys(self, device_id: UUID) -> list[str]: ...

    # Device state, named for what features need rather than where ThingsBoard keeps it

    async def connected_since(self, device_id: UUID) -> datetime | None:
        """When the device last connected (aware, UTC); None if it never has."""

    async def pairing_proof(self, device_id: UUID) -> Value | None:
        """What the device published to prove it holds the pairing key (porto_contract/device/pairing.md);
        None until it has. Not checked here: comparing it with the key is the caller's business."""

    async def clear_pairing_proof(self, device_id: UUID) -> None:
        """Forget the published proof, so the next one the device sends is a fresh attempt."""

    async def show_status(self, device_id: UUID, values: Mapping[str, Value]) -> None:
        """Merge ``values`` into what operators see about the device in ThingsBoard's UI (pairing state,
        owner, last provisioning...); the device itself never sees them."""

    async def get_settings(self, device_id: UUID) -> dict[str, Value]:
        """The desired settings the device is told to apply (all of them)."""

    async def save_settings(self, device_id: UUID, values: Mapping[str, Value]) -> None:
        """Set the given settings, leaving others as they are; the device is notified."""

    async def delete_settings(self, device_id: UUID, keys: Sequence[str]) -> None:
        """Remove the given settings; unknown keys are ignored."""

    # Attributes (ThingsBoard's scopes; prefer the capabilities above)

    async def get_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str] | None = None
    ) -> dict[str, Value]: ...

    async def save_attributes(
        self, device_id: UUID, scope: AttributeScope, values: Mapping[str, Value]
    ) -> None: ...

    async def delete_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> None: ...

    # Commands

    async def call_device(
        self,
        device_id: UUID,
        method: str,
        params: Any = None,
        *,
        expect_reply: bool = True,
        timeout_s: float = 10.0,
    ) -> Any:
        """Call a function on the device; ``ThingsBoardTimeoutError`` when it is offline or silent."""

    # Claiming (device-initiated ownership transfer)

    async def claim_device(self, account_id: UUID, device_name: str, secret_key: str = "") -> DeviceRecord:
        """Claim as the account's customer user; ``ThingsBoardClaimRejectedError`` or
        ``ThingsBoardConflictError`` (already owned) when refused."""

    async def release_device(self, device_name: str) -> None:
        """Undo a claim: the device returns to the tenant and may be claimed again."""

    # Provisioning and device-side writes

    async def ensure_provisioning_profile(self, name: str, *, key: str, secret: str) -> None:
        """Make the device profile ``name`` let devices holding ``key``/``secret`` register themselves
        (create or update; safe to repeat)."""

    async def save_readings(
        self, device_id: UUID, values: Mapping[str, Value], *, ts_ms: int | None = None
    ) -> None:
        """Store readings for the device as if it had sent them (``ts_ms`` defaults to now)."""

    # Push

    def open_stream(self, listener: StreamListener) -> TelemetryStreamPort:
        """A stream delivering watched devices' events to ``listener``; the caller closes it."""


__all__ = ["TelemetryStreamPort", "ThingsBoardPort"]
