from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, SkipValidation
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from petit.auth.deps import client_ip, current_user, provide_access_claims
from petit.auth.errors import NotAuthenticatedError
from petit.devices.errors import DeviceNameTakenError, DeviceNotFoundError, DeviceRoleForbiddenError
from petit.devices.repositories import DeviceRepository
from petit.devices.roles import Capability
from petit.devices.schemas import DeviceRead
from petit.devices.services import require_access
from petit.errors import NO_CONTENT_RESPONSE, PlatformUnavailableError, problem_responses
from petit.lib.security import AccessClaims
from petit.lib.throttle import TooManyAttemptsError
from petit.pairing import errors
from petit.pairing.claims import ClaimService, ReleaseService
from petit.pairing.deps import provide_claim_service, provide_pairing_service, provide_release_service
from petit.pairing.schemas import ClaimCodeCreated, ClaimRequest, PairingCreate, PairingRead, PairingStarted
from petit.pairing.services import PairingService
from petit.realtime.events import device_revoked_task
from petit.runtime import Runtime
from petit.settings import Settings

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]
_DEPENDENCIES = {
    "access_claims": Provide(provide_access_claims),
}


class PairingController(Controller):
    path = "/pairings"
    tags = ["Pairing"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {**_DEPENDENCIES, "pairing_service": Provide(provide_pairing_service)}  # noqa: RUF012

    @post(
        "/",
        operation_id="StartPairing",
        summary="Reserve a device for app-assisted pairing and get the secrets the app gives it",
        description="The app sends pairKey, ownerKey and accessToken to the device's local API; the device "
        "then publishes pairKey over MQTT (porto_contract/device/pairing.md). GetPairing shows the outcome.",
        status_code=HTTP_201_CREATED,
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError, DeviceNameTakenError, TooManyAttemptsError, PlatformUnavailableError
        ),
    )
    async def start_pairing(
        self,
        *,
        request: Request[object, object, State],
        data: JSONBody[PairingCreate],
        access_claims: NamedDependency[AccessClaims],
        db_session: NamedDependency[AsyncSession],
        pairing_service: NamedDependency[PairingService],
        settings: NamedDependency[Settings],
    ) -> PairingStarted:
        user = await current_user(db_session, access_claims)
        return await pairing_service.start(user, data, client_ip=client_ip(request, settings))

    @get(
        "/{pairing_id:uuid}",
        operation_id="GetPairing",
        summary="Progress of a pairing: pending, device_connected, completed, expired, failed or cancelled",
        security=BEARER,
        responses=problem_responses(NotAuthenticatedError, errors.PairingNotFoundError, body=False),
    )
    async def get_pairing(
        self,
        pairing_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        pairing_service: NamedDependency[PairingService],
    ) -> PairingRead:
        return await pairing_service.get(access_claims.user_id, pairing_id)

    @delete(
        "/{pairing_id:uuid}",
        operation_id="CancelPairing",
        summary="Cancel an open pairing; its reserved device is deleted",
        status_code=HTTP_204_NO_CONTENT,
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError, errors.PairingNotFoundError, errors.PairingClosedError, body=False
        ),
    )
    async def cancel_pairing(
        self,
        *,
        request: Request[object, object, State],
        pairing_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        pairing_service: NamedDependency[PairingService],
        settings: NamedDependency[Settings],
    ) -> None:
        await pairing_service.cancel(
            access_claims.user_id, pairing_id, client_ip=client_ip(request, settings)
        )


class ClaimController(Controller):
    path = "/claims"
    tags = ["Pairing"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {**_DEPENDENCIES, "claim_service": Provide(provide_claim_service)}  # noqa: RUF012

    @post(
        "/codes",
        operation_id="CreateClaimCode",
        summary="A single-use claim code for a device made and provisioned beforehand",
        status_code=HTTP_201_CREATED,
        security=BEARER,
        responses=problem_responses(NotAuthenticatedError, TooManyAttemptsError, body=False),
    )
    async def create_claim_code(
        self,
        *,
        request: Request[object, object, State],
        access_claims: NamedDependency[AccessClaims],
        db_session: NamedDependency[AsyncSession],
        claim_service: NamedDependency[ClaimService],
        settings: NamedDependency[Settings],
    ) -> ClaimCodeCreated:
        user = await current_user(db_session, access_claims)
        return await claim_service.create_code(user, client_ip=client_ip(request, settings))

    @post(
        "/",
        operation_id="ClaimDevice",
        summary="Make a device yours with the claim code it sent to the platform",
        status_code=HTTP_201_CREATED,
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            errors.ClaimCodeInvalidError,
            errors.ClaimCodeUsedError,
            errors.ClaimCodeExpiredError,
            errors.ClaimDeviceNotFoundError,
            errors.ClaimRejectedError,
            errors.DeviceAlreadyOwnedError,
            errors.ClaimInProgressError,
            DeviceNameTakenError,
            TooManyAttemptsError,
            PlatformUnavailableError,
        ),
    )
    async def claim_device(
        self,
        *,
        request: Request[object, object, State],
        data: JSONBody[ClaimRequest],
        access_claims: NamedDependency[AccessClaims],
        db_session: NamedDependency[AsyncSession],
        claim_service: NamedDependency[ClaimService],
        settings: NamedDependency[Settings],
    ) -> DeviceRead:
        user = await current_user(db_session, access_claims)
        return await claim_service.claim(
            user, data.device_name, data.claim_code, client_ip=client_ip(request, settings)
        )


class ReleaseController(Controller):
    path = "/devices/{device_id:uuid}/release"
    tags = ["Devices"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {**_DEPENDENCIES, "release_service": Provide(provide_release_service)}  # noqa: RUF012

    @post(
        "/",
        operation_id="ReleaseDevice",
        summary="Give up a device: unassigned on the platform, its credentials rotated, no longer yours",
        status_code=HTTP_204_NO_CONTENT,
        security=BEARER,
        responses=NO_CONTENT_RESPONSE
        | problem_responses(
            NotAuthenticatedError,
            DeviceNotFoundError,
            DeviceRoleForbiddenError,
            PlatformUnavailableError,
            body=False,
        ),
    )
    async def release_device(
        self,
        *,
        request: Request[object, object, State],
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        db_session: NamedDependency[AsyncSession],
        release_service: NamedDependency[ReleaseService],
        settings: NamedDependency[Settings],
        runtime: NamedDependency[SkipValidation[Runtime]],
    ) -> Response[None]:
        user = await current_user(db_session, access_claims)
        device, _ = await require_access(DeviceRepository(db_session), user.id, device_id, Capability.MANAGE)
        platform_id = device.platform_device_id
        await release_service.release(user, device, client_ip=client_ip(request, settings))
        return Response(
            None,
            status_code=HTTP_204_NO_CONTENT,
            background=device_revoked_task(runtime.hub, user.id, platform_id),
        )
