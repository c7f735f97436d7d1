from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter, SkipValidation
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from petit.auth.deps import client_ip, current_user, provide_access_claims
from petit.auth.errors import NotAuthenticatedError
from petit.devices import errors
from petit.devices.deps import provide_device_service
from petit.devices.idempotency import IDEMPOTENCY_KEY_MAX_LENGTH
from petit.devices.schemas import DeviceCreate, DeviceCredentialsRead, DevicePage, DeviceRead, DeviceUpdate
from petit.devices.services import DeviceService
from petit.errors import NO_CONTENT_RESPONSE, PlatformUnavailableError, problem_responses
from petit.lib.security import AccessClaims
from petit.realtime.events import device_revoked_task
from petit.runtime import Runtime

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        description="Retry-safe create: the same key and body return the first response again; "
        "the same key with another body is refused (409). Kept for 24 hours, per user.",
    ),
]


class DeviceController(Controller):
    path = "/devices"
    tags = ["Devices"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {  # noqa: RUF012
        "access_claims": Provide(provide_access_claims),
        "device_service": Provide(provide_device_service),
    }

    @post(
        "/",
        operation_id="CreateDevice",
        summary="Register a new device",
        description="Creates the device on the device platform, owned by you; fetch its credentials next.",
        status_code=HTTP_201_CREATED,
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            errors.DeviceNameTakenError,
            errors.IdempotencyKeyReusedError,
            PlatformUnavailableError,
        ),
    )
    async def create_device(
        self,
        *,
        data: JSONBody[DeviceCreate],
        idempotency_key: IdempotencyKey = None,
        access_claims: NamedDependency[AccessClaims],
        device_service: NamedDependency[DeviceService],
        db_session: NamedDependency[AsyncSession],
    ) -> DeviceRead:
        user = await current_user(db_session, access_claims)
        return await device_service.create(user, data, idempotency_key=idempotency_key)

    @get(
        "/",
        operation_id="ListDevices",
        summary="Your devices, oldest first",
        security=BEARER,
        responses=problem_responses(NotAuthenticatedError, body=False),
    )
    async def list_devices(
        self,
        *,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=100)] = 50,
        offset: Annotated[int, QueryParameter(name="offset", ge=0, le=1_000_000)] = 0,
        access_claims: NamedDependency[AccessClaims],
        device_service: NamedDependency[DeviceService],
    ) -> DevicePage:
        return await device_service.list_owned(access_claims.user_id, limit=limit, offset=offset)

    @get(
        "/{device_id:uuid}",
        operation_id="GetDevice",
        summary="One of your devices",
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError, errors.DeviceNotFoundError, errors.DeviceRoleForbiddenError, body=False
        ),
    )
    async def get_device(
        self,
        *,
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        device_service: NamedDependency[DeviceService],
    ) -> DeviceRead:
        return await device_service.get(access_claims.user_id, device_id)

    @patch(
        "/{device_id:uuid}",
        operation_id="UpdateDevice",
        summary="Rename a device or change its label or metadata",
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            errors.DeviceNotFoundError,
            errors.DeviceRoleForbiddenError,
            errors.DeviceNameTakenError,
            PlatformUnavailableError,
        ),
    )
    async def update_device(
        self,
        *,
        device_id: FromPath[uuid.UUID],
        data: JSONBody[DeviceUpdate],
        access_claims: NamedDependency[AccessClaims],
        device_service: NamedDependency[DeviceService],
    ) -> DeviceRead:
        return await device_service.update(access_claims.user_id, device_id, data)

    @delete(
        "/{device_id:uuid}",
        operation_id="DeleteDevice",
        summary="Delete a device, on the device platform too",
        status_code=HTTP_204_NO_CONTENT,
        security=BEARER,
        responses=NO_CONTENT_RESPONSE
        | problem_responses(
            NotAuthenticatedError,
            errors.DeviceNotFoundError,
            errors.DeviceRoleForbiddenError,
            PlatformUnavailableError,
            body=False,
        ),
    )
    async def delete_device(
        self,
        *,
        request: Request[object, object, State],
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        device_service: NamedDependency[DeviceService],
        runtime: NamedDependency[SkipValidation[Runtime]],
    ) -> Response[None]:
        platform_id = await device_service.delete(
            access_claims.user_id, device_id, client_ip=client_ip(request, runtime.settings)
        )
        return Response(
            None,
            status_code=HTTP_204_NO_CONTENT,
            background=device_revoked_task(runtime.hub, access_claims.user_id, platform_id),
        )

    @get(
        "/{device_id:uuid}/credentials",
        operation_id="GetDeviceCredentials",
        summary="The device's access token and the MQTT endpoint it connects to",
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            errors.DeviceNotFoundError,
            errors.DeviceRoleForbiddenError,
            PlatformUnavailableError,
            body=False,
        ),
    )
    async def get_device_credentials(
        self,
        *,
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        device_service: NamedDependency[DeviceService],
    ) -> DeviceCredentialsRead:
        return await device_service.credentials(access_claims.user_id, device_id)

    @post(
        "/{device_id:uuid}/credentials/rotate",
        operation_id="RotateDeviceCredentials",
        summary="Replace the device's access token; the old one stops working at once",
        status_code=HTTP_200_OK,
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            errors.DeviceNotFoundError,
            errors.DeviceRoleForbiddenError,
            PlatformUnavailableError,
            body=False,
        ),
    )
    async def rotate_device_credentials(
        self,
        *,
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        device_service: NamedDependency[DeviceService],
    ) -> DeviceCredentialsRead:
        return await device_service.rotate_credentials(access_claims.user_id, device_id)
