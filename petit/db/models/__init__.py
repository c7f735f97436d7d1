"""Every table, importable from one place so Alembic and the mappers see them all."""

from petit.db.base import metadata
from petit.db.models.claim import ClaimCode
from petit.db.models.device import Device
from petit.db.models.device_event import DeviceEvent
from petit.db.models.device_intent import DeviceIntent, IntentKind
from petit.db.models.device_share import DeviceShare, DeviceTransfer, ShareRole, ShareState
from petit.db.models.idempotency import IdempotencyRecord
from petit.db.models.pairing import OPEN_PAIRING_STATES, Pairing, PairingState
from petit.db.models.provisioning import GatewayApiKey, ProvisionedDevice, ProvisioningToken
from petit.db.models.refresh_token import RefreshToken
from petit.db.models.user import PlatformLinkState, User

__all__ = (
    "OPEN_PAIRING_STATES",
    "ClaimCode",
    "Device",
    "DeviceEvent",
    "DeviceIntent",
    "DeviceShare",
    "DeviceTransfer",
    "GatewayApiKey",
    "IdempotencyRecord",
    "IntentKind",
    "Pairing",
    "PairingState",
    "PlatformLinkState",
    "ProvisionedDevice",
    "ProvisioningToken",
    "RefreshToken",
    "ShareRole",
    "ShareState",
    "User",
    "metadata",
)
