"""How petit names its devices in ThingsBoard, shared by the lifecycle, reconcile and the sweeper."""

from __future__ import annotations

import uuid

#: ThingsBoard device names are ``petit-<row id>``: unique tenant-wide (TB requires it, user names are only
#: unique per owner), and they mark a platform device as petit's and lead reconcile back to its row.
PLATFORM_NAME_PREFIX = "petit-"
#: Reserved devices are named apart from ``petit-<row id>`` so reconcile never mistakes one for an orphan.
RESERVED_NAME_PREFIX = "petit-pairing-"


def platform_device_name(device_id: uuid.UUID) -> str:
    return f"{PLATFORM_NAME_PREFIX}{device_id}"


def reserved_device_name(pairing_id: uuid.UUID) -> str:
    return f"{RESERVED_NAME_PREFIX}{pairing_id}"


def row_id_from_platform_name(name: str) -> uuid.UUID | None:
    """The petit row id a platform device name points to; None when the device is not petit's."""
    if not name.startswith(PLATFORM_NAME_PREFIX) or name.startswith(RESERVED_NAME_PREFIX):
        return None
    try:
        return uuid.UUID(name.removeprefix(PLATFORM_NAME_PREFIX))
    except ValueError:
        return None


def platform_label(name: str, label: str | None) -> str:
    """What operators read in ThingsBoard's device list."""
    return name if not label else f"{name} ({label})"
