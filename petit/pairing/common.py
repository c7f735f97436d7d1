"""What the flows share: the platform's view of ownership (server attributes operators read in TB's UI)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from petit.devices.naming import RESERVED_NAME_PREFIX, reserved_device_name
from petit.thingsboard.errors import ThingsBoardError

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from petit.thingsboard.models import Value
    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)

__all__ = ["RESERVED_NAME_PREFIX", "ownership_attributes", "reserved_device_name", "show_ownership"]


def ownership_attributes(
    *, state: str, owner: str, flow: str | None = None, at: datetime | None = None
) -> dict[str, Value]:
    """The status that shows operators, in ThingsBoard's UI, where the device stands."""
    values: dict[str, Value] = {"pairingState": state, "owner": owner}
    if flow is not None and at is not None:
        values["lastProvisioning"] = {"flow": flow, "at": at.isoformat()}
    return values


async def show_ownership(
    thingsboard: ThingsBoardPort, device_id: uuid.UUID, values: dict[str, Value]
) -> None:
    """Best effort: the attributes are for operators' eyes; ownership itself is already settled."""
    try:
        await thingsboard.show_status(device_id, values)
    except ThingsBoardError as exc:
        log.warning("ownership.attributes_not_saved device=%s reason=%s", device_id, type(exc).__name__)
