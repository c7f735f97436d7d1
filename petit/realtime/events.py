"""What other features call to reach open streams. Safe to call when no stream is open anywhere.

``device_id`` is always the platform id (``Device.platform_device_id``): streams key devices by it and show
clients petit's id.

Devices: call ``publish_device_revoked`` after an unpair or a transfer commits (for the losing user) and
``publish_device_added`` after a pairing or transfer (for the gaining one). Pairing:
``publish_pairing_progress`` at each step. Auth: ``publish_session_revoked`` after a password change
ends every session of a user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.background_tasks import BackgroundTask

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from petit.realtime.hub import Hub


async def publish_device_revoked(hub: Hub, user_id: uuid.UUID, device_id: uuid.UUID) -> None:
    await hub.publish_user_event(user_id, {"type": "deviceRevoked", "data": {"deviceId": str(device_id)}})


async def publish_device_added(hub: Hub, user_id: uuid.UUID, device_id: uuid.UUID) -> None:
    await hub.publish_user_event(user_id, {"type": "deviceAdded", "data": {"deviceId": str(device_id)}})


async def publish_access_changes(
    hub: Hub,
    device_id: uuid.UUID,
    *,
    granted: Sequence[tuple[uuid.UUID, str]] = (),
    revoked: Sequence[tuple[uuid.UUID, str]] = (),
) -> None:
    """Sharing and transfers: ``granted`` (user, role) streams start to carry the device, ``revoked``
    (user, reason: revoke, leave, transferred) stop at once."""
    for user_id, reason in revoked:
        message = {"type": "shareRevoked", "data": {"deviceId": str(device_id), "reason": reason}}
        await hub.publish_user_event(user_id, message)
    for user_id, role in granted:
        await hub.publish_user_event(
            user_id, {"type": "shareGranted", "data": {"deviceId": str(device_id), "role": role}}
        )


def access_changes_task(
    hub: Hub,
    device_id: uuid.UUID,
    *,
    granted: Sequence[tuple[uuid.UUID, str]] = (),
    revoked: Sequence[tuple[uuid.UUID, str]] = (),
) -> BackgroundTask:
    """Like :func:`device_revoked_task`: runs after the response, hence after the commit."""
    return BackgroundTask(
        publish_access_changes, hub, device_id, granted=list(granted), revoked=list(revoked)
    )


async def publish_session_revoked(hub: Hub, user_id: uuid.UUID) -> None:
    await hub.publish_user_event(user_id, {"type": "sessionRevoked"})


async def publish_pairing_progress(
    hub: Hub,
    user_id: uuid.UUID,
    *,
    pairing_id: str,
    stage: str,
    device_id: uuid.UUID | None = None,
    **extra: Any,
) -> None:
    data: dict[str, Any] = {"pairingId": pairing_id, "stage": stage, **extra}
    if device_id is not None:
        data["deviceId"] = str(device_id)
    await hub.publish_user_event(user_id, {"type": "pairingProgress", "data": data})


def device_revoked_task(hub: Hub, user_id: uuid.UUID, device_id: uuid.UUID) -> BackgroundTask:
    """A response background task telling ``user_id``'s streams they lost ``device_id``.

    Background tasks run after the response is sent, hence after the request's commit: a stream never drops
    a device whose removal a rollback undid.
    """
    return BackgroundTask(publish_device_revoked, hub, user_id, device_id)
