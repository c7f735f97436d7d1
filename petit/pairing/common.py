"""What the flows share: the platform's view of ownership (server attributes operators read in TB's UI)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from petit.thingsboard.errors import ThingsBoardError
from petit.thingsboard.models import AttributeScope, Value

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)

#: Reserved devices are named apart from ``petit-<row id>`` so reconcile never mistakes one for an orphan.
RESERVED_NAME_PREFIX = "petit-pairing-"
#: Client attribute the device publishes, fixed by porto_contract/device/pairing.md.
PAIR_KEY_ATTRIBUTE = "pairKey"


def reserved_device_name(pairing_id: uuid.UUID) -> str:
    return f"{RESERVED_NAME_PREFIX}{pairing_id}"


def ownership_attributes(
    *, state: str, owner: str, flow: str | None = None, at: datetime | None = None
) -> dict[str, Value]:
    """SERVER_SCOPE attributes that show operators, in ThingsBoard's UI, where the device stands."""
    values: dict[str, Value] = {"pairingState": state, "owner": owner}
    if flow is not None and at is not None:
        values["lastProvisioning"] = {"flow": flow, "at": at.isoformat()}
    return values


async def show_ownership(
    thingsboard: ThingsBoardPort, device_id: uuid.UUID, values: dict[str, Value]
) -> None:
    """Best effort: the attributes are for operators' eyes; ownership itself is already settled."""
    try:
        await thingsboard.save_attributes(device_id, AttributeScope.SERVER, values)
    except ThingsBoardError as exc:
        log.warning("ownership.attributes_not_saved device=%s reason=%s", device_id, type(exc).__name__)
