from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from pydantic import ValidationError

from petit.auth.deps import client_ip, provide_access_claims
from petit.auth.errors import NotAuthenticatedError
from petit.db.deps import WRITES_OPT
from petit.devices.errors import DeviceNotFoundError, DeviceRoleForbiddenError
from petit.errors import (
    MalformedJsonError,
    PlatformUnavailableError,
    ValidationFailedError,
    problem_responses,
)
from petit.lib.security import AccessClaims
from petit.lib.throttle import TooManyAttemptsError
from petit.provisioning import errors
from petit.provisioning.deps import provide_provisioning_service
from petit.provisioning.schemas import (
    DebugProvisioningRequest,
    DebugProvisioningResponse,
    ProvisionDeviceRequest,
    ProvisionedCredentials,
    ReprovisionApproval,
)
from petit.provisioning.services import ProvisioningService
from petit.settings import Settings

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler


log = logging.getLogger(__name__)

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]


class ProvisioningController(Controller):
    path = "/provisioning"
    tags = ["Provisioning"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {  # noqa: RUF012
        "access_claims": Provide(provide_access_claims),
        "provisioning_service": Provide(provide_provisioning_service),
    }

    @post(
        "/devices",
        operation_id="ProvisionDevice",
        summary="A device registers itself by MAC with its profile's provision key and secret",
        description="The first registration of a MAC creates the device and returns its access token and a "
        "device secret. A later one (after a factory reset) needs that device secret, or the owner's "
        "AllowReprovision; knowing a MAC alone never yields a token. The same key and secret also work with "
        "ThingsBoard's own `/provision` API (MQTT or HTTP).",
        status_code=HTTP_200_OK,
        responses=problem_responses(
            errors.ProvisioningDisabledError,
            errors.InvalidMacAddressError,
            errors.InvalidProvisionCredentialsError,
            errors.ReprovisionNotAllowedError,
            TooManyAttemptsError,
            PlatformUnavailableError,
        ),
    )
    async def provision_device(
        self,
        request: Request[object, object, State],
        data: JSONBody[ProvisionDeviceRequest],
        provisioning_service: NamedDependency[ProvisioningService],
        settings: NamedDependency[Settings],
    ) -> ProvisionedCredentials:
        return await provisioning_service.provision(
            mac_address=data.mac_address,
            provision_key=data.provision_device_key,
            provision_secret=data.provision_device_secret,
            device_secret=data.device_secret,
            client_ip=client_ip(request, settings),
        )

    @post(
        "/devices/{device_id:uuid}/reprovision",
        operation_id="AllowReprovision",
        summary="Let your factory-reset device register its MAC again, once, within the next 30 minutes",
        status_code=HTTP_200_OK,
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            DeviceNotFoundError,
            DeviceRoleForbiddenError,
            errors.NotProvisionedDeviceError,
            body=False,
        ),
    )
    async def allow_reprovision(
        self,
        request: Request[object, object, State],
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        provisioning_service: NamedDependency[ProvisioningService],
        settings: NamedDependency[Settings],
    ) -> ReprovisionApproval:
        return await provisioning_service.allow_reprovision(
            user_id=access_claims.user_id, device_id=device_id, client_ip=client_ip(request, settings)
        )


class DebugProvisioningController(Controller):
    """Seed 001's temporary route, kept for old firmware: GET with a JSON body ``{"mac-address"}``."""

    path = "/debug"
    tags = ["Provisioning"]  # noqa: RUF012
    dependencies = {"provisioning_service": Provide(provide_provisioning_service)}  # noqa: RUF012

    @get(
        "/provisioning",
        operation_id="DebugProvisioning",
        opt={WRITES_OPT: True},
        summary="Seed 001's unauthenticated provisioning (development only)",
        description="Registers a new MAC with the configured provision credentials. A MAC already registered "
        "is refused: this route never hands out an existing device's token. Rate limited.",
        responses=problem_responses(
            errors.ProvisioningDisabledError,
            errors.InvalidMacAddressError,
            errors.ReprovisionNotAllowedError,
            TooManyAttemptsError,
        ),
    )
    async def debug_provisioning(
        self,
        request: Request[object, object, State],
        provisioning_service: NamedDependency[ProvisioningService],
        settings: NamedDependency[Settings],
        mac: Annotated[str | None, QueryParameter(name="mac-address", max_length=17)] = None,
    ) -> DebugProvisioningResponse:
        body = await request.body()
        payload: Any = {"mac-address": mac}
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                raise MalformedJsonError from None
        try:
            parsed = DebugProvisioningRequest.model_validate(payload)
        except ValidationError:
            raise ValidationFailedError('expected {"mac-address": "..."}') from None
        key, secret = settings.provisioning.device_key, settings.provisioning.device_secret
        if not key or secret is None:
            raise errors.ProvisioningDisabledError
        answer = await provisioning_service.provision(
            mac_address=parsed.mac_address,
            provision_key=key,
            provision_secret=secret.get_secret_value(),
            device_secret=None,
            client_ip=client_ip(request, settings),
        )
        return DebugProvisioningResponse(access_token=answer.access_token)


def provisioning_route_handlers(settings: Settings) -> list[ControllerRouterHandler]:
    """The routes of this feature; the debug route only when a setting asks for it, and never quietly."""
    handlers: list[ControllerRouterHandler] = [ProvisioningController]
    if settings.provisioning.debug_endpoint:
        log.warning(
            "SECURITY WARNING: the unauthenticated GET /debug/provisioning is ENABLED "
            "(PETIT_PROVISIONING__DEBUG_ENDPOINT=true); anyone who can reach petit can register devices. "
            "Turn it off outside development."
        )
        handlers.append(DebugProvisioningController)
    return handlers
