from __future__ import annotations

import uuid

from litestar import Controller, Response, get, patch, post, put
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from petit.auth.deps import provide_access_claims
from petit.auth.errors import NotAuthenticatedError
from petit.commands import errors
from petit.commands.deps import provide_command_service, provide_device_settings_service
from petit.commands.schemas import (
    CommandCreate,
    CommandMode,
    CommandResultRead,
    DeviceSettingsRead,
    DeviceSettingsReplace,
    DeviceSettingsUpdate,
)
from petit.commands.services import CommandService, DeviceSettingsService
from petit.devices.errors import DeviceNotFoundError, DeviceRoleForbiddenError
from petit.errors import PlatformUnavailableError, problem_responses
from petit.lib.security import AccessClaims

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]
_DEPENDENCIES = {
    "access_claims": Provide(provide_access_claims),
}


class CommandController(Controller):
    path = "/devices/{device_id:uuid}/commands"
    tags = ["Commands"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {**_DEPENDENCIES, "command_service": Provide(provide_command_service)}  # noqa: RUF012

    @post(
        "/",
        operation_id="SendDeviceCommand",
        summary="Call a function on the device",
        description=(
            "twoway waits for the device's reply (200); oneway returns once the call is handed to the device "
            "(202). A device that is offline or silent past timeoutMs gives a 504 device_timeout problem."
        ),
        status_code=HTTP_200_OK,
        security=BEARER,
        responses={
            HTTP_202_ACCEPTED: ResponseSpec(
                data_container=CommandResultRead, description="One-way command handed to the device"
            ),
            **problem_responses(
                NotAuthenticatedError,
                DeviceNotFoundError,
                DeviceRoleForbiddenError,
                errors.CommandTooLargeError,
                errors.InvalidCommandTimeoutError,
                errors.DeviceTimeoutError,
                PlatformUnavailableError,
            ),
        },
    )
    async def send(
        self,
        *,
        device_id: FromPath[uuid.UUID],
        data: JSONBody[CommandCreate],
        access_claims: NamedDependency[AccessClaims],
        command_service: NamedDependency[CommandService],
    ) -> Response[CommandResultRead]:
        result = await command_service.send(
            access_claims.user_id,
            device_id,
            data.name,
            data.params,
            expect_reply=data.mode is CommandMode.TWOWAY,
            timeout_ms=data.timeout_ms,
        )
        body = CommandResultRead(
            device_id=result.device_id, function=result.function, mode=data.mode, response=result.response
        )
        return Response(body, status_code=HTTP_200_OK if result.expect_reply else HTTP_202_ACCEPTED)


class DeviceSettingsController(Controller):
    path = "/devices/{device_id:uuid}/settings"
    tags = ["Device settings"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {  # noqa: RUF012
        **_DEPENDENCIES,
        "device_settings_service": Provide(provide_device_settings_service),
    }

    @get(
        "/",
        operation_id="GetDeviceSettings",
        summary="The device's desired settings",
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            DeviceNotFoundError,
            DeviceRoleForbiddenError,
            PlatformUnavailableError,
            body=False,
        ),
    )
    async def get_settings(
        self,
        *,
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        device_settings_service: NamedDependency[DeviceSettingsService],
    ) -> DeviceSettingsRead:
        values = await device_settings_service.get(access_claims.user_id, device_id)
        return DeviceSettingsRead(device_id=device_id, values=values)

    @patch(
        "/",
        operation_id="UpdateDeviceSettings",
        summary="Change some desired settings (JSON merge patch: null removes a key)",
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            DeviceNotFoundError,
            DeviceRoleForbiddenError,
            errors.InvalidSettingsError,
            errors.SettingsTooLargeError,
            PlatformUnavailableError,
        ),
    )
    async def update_settings(
        self,
        *,
        device_id: FromPath[uuid.UUID],
        data: JSONBody[DeviceSettingsUpdate],
        access_claims: NamedDependency[AccessClaims],
        device_settings_service: NamedDependency[DeviceSettingsService],
    ) -> DeviceSettingsRead:
        values = await device_settings_service.update(access_claims.user_id, device_id, data.values)
        return DeviceSettingsRead(device_id=device_id, values=values)

    @put(
        "/",
        operation_id="ReplaceDeviceSettings",
        summary="Replace all desired settings (keys left out are removed)",
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            DeviceNotFoundError,
            DeviceRoleForbiddenError,
            errors.InvalidSettingsError,
            errors.SettingsTooLargeError,
            PlatformUnavailableError,
        ),
    )
    async def replace_settings(
        self,
        *,
        device_id: FromPath[uuid.UUID],
        data: JSONBody[DeviceSettingsReplace],
        access_claims: NamedDependency[AccessClaims],
        device_settings_service: NamedDependency[DeviceSettingsService],
    ) -> DeviceSettingsRead:
        values = await device_settings_service.replace(access_claims.user_id, device_id, data.values)
        return DeviceSettingsRead(device_id=device_id, values=values)
