"""Who may do what with a device: the owner, and the members and viewers it is shared with.

Every device route names the capability it needs; :class:`petit.devices.services.DeviceLookup` resolves the
caller's role and refuses the rest. No role at all answers 404 (the device's existence is not confirmed); a
role that is not enough answers 403, since the caller already knows the device.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    OWNER = "owner"
    MEMBER = "member"
    VIEWER = "viewer"


class Capability(enum.StrEnum):
    #: The device itself, telemetry (latest and history), the live stream.
    READ = "read"
    #: Commands and device settings.
    OPERATE = "operate"
    #: Everything else: rename, credentials, delete, release, share, transfer, provisioning, the full audit.
    MANAGE = "manage"


ALLOWED: dict[Role, frozenset[Capability]] = {
    Role.OWNER: frozenset(Capability),
    Role.MEMBER: frozenset({Capability.READ, Capability.OPERATE}),
    Role.VIEWER: frozenset({Capability.READ}),
}


def allows(role: Role, capability: Capability) -> bool:
    return capability in ALLOWED[role]
