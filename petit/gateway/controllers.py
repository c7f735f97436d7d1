from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import BodyKwarg, FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from petit.auth.deps import client_ip, provide_access_claims
from petit.auth.errors import NotAuthenticatedError
from petit.devices.errors import DeviceNotFoundError, DeviceRoleForbiddenError
from petit.errors import PlatformUnavailableError, problem_responses
from petit.gateway import errors
from petit.gateway.deps import provide_gateway_service
from petit.gateway.schemas import (
    GatewayLatestTelemetry,
    IngestAccepted,
    ProvisioningClaimList,
    ProvisioningClaimRequest,
    ProvisioningClaimResult,
    ProvisioningTokenCreate,
    ProvisioningTokenIssued,
)
from petit.gateway.services import GatewayService
from petit.lib.schema import JSON_VALUE_REF
from petit.lib.security import AccessClaims
from petit.lib.text import WHITESPACE
from petit.lib.throttle import TooManyAttemptsError
from petit.settings import Settings

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]

INGEST_PATH = "/gateway/device-data/ingest"


#: Telemetry as ThingsBoard takes it: one JSON object of at least one key, none blank and none null (the
#: service checks it; ThingsBoard drops a null reading, and refuses a body left with none).
TELEMETRY_BODY = BodyKwarg(
    media_type=RequestEncodingType.JSON,
    schema_extra={
        "minProperties": 1,
        "propertyNames": {"pattern": f"[^{WHITESPACE}]"},
        "additionalProperties": {"allOf": [{"$ref": JSON_VALUE_REF}], "not": {"type": "null"}},
    },
)


class GatewayController(Controller):
    path = "/gateway"
    tags = ["Gateway"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {  # noqa: RUF012
        "access_claims": Provide(provide_access_claims),
        "gateway_service": Provide(provide_gateway_service),
    }

    @post(
        "/devices/{device_id:uuid}/provision",
        operation_id="IssueProvisioningToken",
        summary="Issue a one-time provisioning token for your device (expires in 30 minutes by default)",
        status_code=HTTP_201_CREATED,
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError, DeviceNotFoundError, errors.InvalidTokenLifetimeError
        ),
    )
    async def issue_provisioning_token(
        self,
        *,
        request: Request[object, object, State],
        device_id: FromPath[uuid.UUID],
        data: JSONBody[ProvisioningTokenCreate],
        access_claims: NamedDependency[AccessClaims],
        gateway_service: NamedDependency[GatewayService],
        settings: NamedDependency[Settings],
    ) -> ProvisioningTokenIssued:
        return await gateway_service.issue(
            user_id=access_claims.user_id,
            device_id=device_id,
            request=data,
            client_ip=client_ip(request, settings),
        )

    @post(
        "/devices/claim",
        operation_id="ClaimProvisioningToken",
        summary="The device exchanges its provisioning token for an API key and fresh MQTT credentials",
        description="Each claim replaces the device's API key and rotates its MQTT access token: the "
        "previous ones stop working.",
        status_code=HTTP_200_OK,
        responses=problem_responses(
            errors.InvalidProvisioningTokenError,
            errors.ProvisioningTokenExpiredError,
            errors.ProvisioningTokenUsedError,
            TooManyAttemptsError,
            PlatformUnavailableError,
        ),
    )
    async def claim_provisioning_token(
        self,
        request: Request[object, object, State],
        data: JSONBody[ProvisioningClaimRequest],
        gateway_service: NamedDependency[GatewayService],
        settings: NamedDependency[Settings],
    ) -> ProvisioningClaimResult:
        return await gateway_service.claim(
            token=data.token,
            device_metadata=data.device_metadata,
            client_ip=client_ip(request, settings),
            ingest_url=str(request.base_url).rstrip("/") + INGEST_PATH,
        )

    @post(
        "/device-data/ingest",
        operation_id="IngestDeviceData",
        summary="The device sends telemetry with `Authorization: Bearer <api_key>`",
        status_code=HTTP_200_OK,
        responses=problem_responses(
            errors.InvalidApiKeyError,
            errors.InvalidTelemetryError,
            TooManyAttemptsError,
            PlatformUnavailableError,
        ),
    )
    async def ingest_device_data(
        self,
        request: Request[object, object, State],
        data: Annotated[dict[str, Any], TELEMETRY_BODY],
        gateway_service: NamedDependency[GatewayService],
        settings: NamedDependency[Settings],
    ) -> IngestAccepted:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        api_key = key.strip() if scheme.lower() == "bearer" and key.strip() else None
        await gateway_service.ingest(api_key=api_key, payload=data, client_ip=client_ip(request, settings))
        return IngestAccepted()

    @get(
        "/devices/{device_id:uuid}/telemetry/latest",
        operation_id="GetGatewayLatestTelemetry",
        summary="The latest value of every key your device reported",
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            DeviceNotFoundError,
            DeviceRoleForbiddenError,
            PlatformUnavailableError,
            body=False,
        ),
    )
    async def get_latest_telemetry(
        self,
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        gateway_service: NamedDependency[GatewayService],
    ) -> GatewayLatestTelemetry:
        return await gateway_service.latest(user_id=access_claims.user_id, device_id=device_id)

    @get(
        "/devices/{device_id:uuid}/claims",
        operation_id="ListProvisioningClaims",
        summary="The last 50 provisioning-token claims of your device, newest first",
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError, DeviceNotFoundError, DeviceRoleForbiddenError, body=False
        ),
    )
    async def list_provisioning_claims(
        self,
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        gateway_service: NamedDependency[GatewayService],
    ) -> ProvisioningClaimList:
        return await gateway_service.claims(user_id=access_claims.user_id, device_id=device_id)
