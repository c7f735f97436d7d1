from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, SkipValidation
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from petit.auth.deps import client_ip, current_user, provide_access_claims
from petit.auth.errors import NotAuthenticatedError
from petit.devices.errors import DeviceNameTakenError, DeviceNotFoundError, DeviceRoleForbiddenError
from petit.devices.lifecycle import Actor
from petit.errors import NO_CONTENT_RESPONSE, PlatformUnavailableError, problem_responses
from petit.lib.security import AccessClaims
from petit.realtime.events import access_changes_task
from petit.runtime import Runtime
from petit.sharing import errors
from petit.sharing.deps import provide_sharing_service, provide_transfer_service
from petit.sharing.schemas import (
    IncomingShareList,
    ShareCreate,
    ShareList,
    ShareRead,
    ShareUpdate,
    TransferAccept,
    TransferAccepted,
    TransferCreate,
    TransferRead,
)
from petit.sharing.services import SHARING_FLOW, TRANSFER_FLOW, SharingService, TransferService

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]
_DEPENDENCIES = {
    "access_claims": Provide(provide_access_claims),
    "sharing_service": Provide(provide_sharing_service),
    "transfer_service": Provide(provide_transfer_service),
}


def _actor(
    flow: str, request: Request[object, object, State], claims: AccessClaims, runtime: Runtime
) -> Actor:
    return Actor(flow=flow, user_id=claims.user_id, client_ip=client_ip(request, runtime.settings))


class DeviceShareController(Controller):
    """The owner's side of sharing one device."""

    path = "/devices/{device_id:uuid}/shares"
    tags = ["Sharing"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = _DEPENDENCIES

    @post(
        "/",
        operation_id="ShareDevice",
        summary="Invite someone by e-mail to use your device as a member or viewer",
        description="The invitee accepts with AcceptShare (an e-mail without an account yet waits until it "
        "signs up); the invitation lapses after `PETIT_SHARING__INVITATION_TTL_S` (7 days). "
        "A device has at most `PETIT_SHARING__MAX_USERS_PER_DEVICE` users (20), "
        "the owner and open invitations included.",
        status_code=HTTP_201_CREATED,
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            DeviceNotFoundError,
            DeviceRoleForbiddenError,
            errors.ShareWithSelfError,
            errors.ShareExistsError,
            errors.ShareLimitReachedError,
        ),
    )
    async def share_device(
        self,
        *,
        request: Request[object, object, State],
        device_id: FromPath[uuid.UUID],
        data: JSONBody[ShareCreate],
        access_claims: NamedDependency[AccessClaims],
        sharing_service: NamedDependency[SharingService],
        runtime: NamedDependency[SkipValidation[Runtime]],
    ) -> ShareRead:
        actor = _actor(SHARING_FLOW, request, access_claims, runtime)
        return await sharing_service.share(actor, device_id, data)

    @get(
        "/",
        operation_id="ListDeviceShares",
        summary="Who your device is shared with, and open invitations",
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError, DeviceNotFoundError, DeviceRoleForbiddenError, body=False
        ),
    )
    async def list_device_shares(
        self,
        *,
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        sharing_service: NamedDependency[SharingService],
    ) -> ShareList:
        return await sharing_service.list_shares(access_claims.user_id, device_id)

    @patch(
        "/{share_id:uuid}",
        operation_id="UpdateDeviceShare",
        summary="Change a share's role (member or viewer)",
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError, DeviceNotFoundError, DeviceRoleForbiddenError, errors.ShareNotFoundError
        ),
    )
    async def update_device_share(
        self,
        *,
        request: Request[object, object, State],
        device_id: FromPath[uuid.UUID],
        share_id: FromPath[uuid.UUID],
        data: JSONBody[ShareUpdate],
        access_claims: NamedDependency[AccessClaims],
        sharing_service: NamedDependency[SharingService],
        runtime: NamedDependency[SkipValidation[Runtime]],
    ) -> ShareRead:
        actor = _actor(SHARING_FLOW, request, access_claims, runtime)
        return await sharing_service.update(actor, device_id, share_id, data.role)

    @delete(
        "/{share_id:uuid}",
        operation_id="RevokeDeviceShare",
        summary="Revoke a share or invitation; a member or viewer may revoke their own (leave the device)",
        description="Open streams of the user who lost access drop the device at once (`shareRevoked`).",
        status_code=HTTP_204_NO_CONTENT,
        security=BEARER,
        responses=NO_CONTENT_RESPONSE
        | problem_responses(
            NotAuthenticatedError,
            DeviceNotFoundError,
            DeviceRoleForbiddenError,
            errors.ShareNotFoundError,
            body=False,
        ),
    )
    async def revoke_device_share(
        self,
        *,
        request: Request[object, object, State],
        device_id: FromPath[uuid.UUID],
        share_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        sharing_service: NamedDependency[SharingService],
        runtime: NamedDependency[SkipValidation[Runtime]],
    ) -> Response[None]:
        actor = _actor(SHARING_FLOW, request, access_claims, runtime)
        change = await sharing_service.revoke(actor, device_id, share_id)
        return Response(
            None,
            status_code=HTTP_204_NO_CONTENT,
            background=access_changes_task(runtime.hub, change.platform_device_id, revoked=change.revoked),
        )


class IncomingShareController(Controller):
    """The invitee's side: invitations and transfer offers addressed to their e-mail."""

    path = "/shares"
    tags = ["Sharing"]  # noqa: RUF012
    dependencies = _DEPENDENCIES

    @get(
        "/incoming",
        operation_id="ListIncomingShares",
        summary="Invitations and ownership transfers waiting for your answer",
        security=BEARER,
        responses=problem_responses(NotAuthenticatedError, body=False),
    )
    async def list_incoming_shares(
        self,
        *,
        access_claims: NamedDependency[AccessClaims],
        sharing_service: NamedDependency[SharingService],
        db_session: NamedDependency[AsyncSession],
    ) -> IncomingShareList:
        return await sharing_service.incoming(await current_user(db_session, access_claims))

    @post(
        "/{share_id:uuid}/accept",
        operation_id="AcceptShare",
        summary="Accept an invitation: the device appears in your list and on your open streams",
        status_code=HTTP_200_OK,
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            errors.ShareNotFoundError,
            errors.ShareAlreadyAcceptedError,
            errors.ShareExpiredError,
            body=False,
        ),
    )
    async def accept_share(
        self,
        *,
        request: Request[object, object, State],
        share_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        sharing_service: NamedDependency[SharingService],
        db_session: NamedDependency[AsyncSession],
        runtime: NamedDependency[SkipValidation[Runtime]],
    ) -> Response[ShareRead]:
        user = await current_user(db_session, access_claims)
        actor = _actor(SHARING_FLOW, request, access_claims, runtime)
        share, change = await sharing_service.accept(actor, user, share_id)
        return Response(
            share,
            status_code=HTTP_200_OK,
            background=access_changes_task(runtime.hub, change.platform_device_id, granted=change.granted),
        )

    @post(
        "/{share_id:uuid}/decline",
        operation_id="DeclineShare",
        summary="Decline an invitation",
        status_code=HTTP_204_NO_CONTENT,
        security=BEARER,
        responses=NO_CONTENT_RESPONSE
        | problem_responses(
            NotAuthenticatedError,
            errors.ShareNotFoundError,
            errors.ShareAlreadyAcceptedError,
            errors.ShareExpiredError,
            body=False,
        ),
    )
    async def decline_share(
        self,
        *,
        request: Request[object, object, State],
        share_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        sharing_service: NamedDependency[SharingService],
        db_session: NamedDependency[AsyncSession],
        runtime: NamedDependency[SkipValidation[Runtime]],
    ) -> Response[None]:
        user = await current_user(db_session, access_claims)
        await sharing_service.decline(_actor(SHARING_FLOW, request, access_claims, runtime), user, share_id)
        return Response(None, status_code=HTTP_204_NO_CONTENT)


class TransferController(Controller):
    path = "/"
    tags = ["Sharing"]  # noqa: RUF012
    dependencies = _DEPENDENCIES

    @post(
        "/devices/{device_id:uuid}/transfer",
        operation_id="OfferTransfer",
        summary="Offer your device to another user; it moves only when they accept",
        description="The recipient accepts with AcceptTransfer within `PETIT_SHARING__TRANSFER_TTL_S` "
        "(10 min). The answer is the same whether or not the e-mail has an account. "
        "A new offer replaces the open one.",
        status_code=HTTP_202_ACCEPTED,
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError, DeviceNotFoundError, DeviceRoleForbiddenError, errors.TransferToSelfError
        ),
    )
    async def offer_transfer(
        self,
        *,
        request: Request[object, object, State],
        device_id: FromPath[uuid.UUID],
        data: JSONBody[TransferCreate],
        access_claims: NamedDependency[AccessClaims],
        transfer_service: NamedDependency[TransferService],
        runtime: NamedDependency[SkipValidation[Runtime]],
    ) -> TransferRead:
        actor = _actor(TRANSFER_FLOW, request, access_claims, runtime)
        return await transfer_service.offer(actor, device_id, data.email)

    @delete(
        "/devices/{device_id:uuid}/transfer",
        operation_id="CancelTransfer",
        summary="Withdraw your open transfer offer",
        status_code=HTTP_204_NO_CONTENT,
        security=BEARER,
        responses=NO_CONTENT_RESPONSE
        | problem_responses(
            NotAuthenticatedError,
            DeviceNotFoundError,
            DeviceRoleForbiddenError,
            errors.TransferNotFoundError,
            body=False,
        ),
    )
    async def cancel_transfer(
        self,
        *,
        request: Request[object, object, State],
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        transfer_service: NamedDependency[TransferService],
        runtime: NamedDependency[SkipValidation[Runtime]],
    ) -> Response[None]:
        await transfer_service.cancel(_actor(TRANSFER_FLOW, request, access_claims, runtime), device_id)
        return Response(None, status_code=HTTP_204_NO_CONTENT)

    @post(
        "/transfers/{transfer_id:uuid}/accept",
        operation_id="AcceptTransfer",
        summary="Become the device's owner",
        description="The device is reassigned to you on the device platform, its credentials are rotated "
        "(the answer carries the new ones, to deliver to the device), the previous owner loses access "
        "at once and its shares are dropped unless `keepShares`. A failure half-way is undone; retry.",
        status_code=HTTP_200_OK,
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            errors.TransferNotFoundError,
            errors.TransferExpiredError,
            DeviceNameTakenError,
            PlatformUnavailableError,
        ),
    )
    async def accept_transfer(
        self,
        *,
        request: Request[object, object, State],
        transfer_id: FromPath[uuid.UUID],
        data: JSONBody[TransferAccept],
        access_claims: NamedDependency[AccessClaims],
        transfer_service: NamedDependency[TransferService],
        db_session: NamedDependency[AsyncSession],
        runtime: NamedDependency[SkipValidation[Runtime]],
    ) -> Response[TransferAccepted]:
        user = await current_user(db_session, access_claims)
        actor = _actor(TRANSFER_FLOW, request, access_claims, runtime)
        result, change, previous_owner = await transfer_service.accept(
            actor, user, transfer_id, keep_shares=data.keep_shares
        )
        return Response(
            result,
            status_code=HTTP_200_OK,
            background=access_changes_task(
                runtime.hub,
                change.platform_device_id,
                granted=change.granted,
                revoked=[(previous_owner, "transferred"), *change.revoked],
            ),
        )
