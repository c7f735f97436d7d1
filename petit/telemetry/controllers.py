from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.datastructures import ResponseHeader, State
from litestar.params import FromPath, QueryParameter

from petit.auth.deps import provide_access_claims
from petit.auth.errors import NotAuthenticatedError
from petit.devices.errors import DeviceNotFoundError, DeviceRoleForbiddenError
from petit.errors import PlatformUnavailableError, problem_responses
from petit.lib.text import WHITESPACE
from petit.runtime import runtime_of
from petit.telemetry import errors
from petit.telemetry.deps import telemetry_reads
from petit.telemetry.schemas import (
    Aggregation,
    LatestTelemetryRead,
    ReadingRead,
    SortOrder,
    TelemetryHistoryRead,
)
from petit.telemetry.services import MAX_KEYS, parse_keys
from petit.thingsboard.models import Reading

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]

_KEY_PATTERN = rf"[{WHITESPACE}]*[A-Za-z0-9_.:\-]{{1,64}}[{WHITESPACE}]*"
_KEY_LIST = rf"{_KEY_PATTERN}(?:,{_KEY_PATTERN}){{0,{MAX_KEYS - 1}}}"
#: What ``parse_keys`` accepts, for the OpenAPI document (the service checks it, with its own error code).
KEYS_PATTERN = rf"^(?:[{WHITESPACE}]*|{_KEY_LIST})$"
REQUIRED_KEYS_PATTERN = rf"^{_KEY_LIST}$"
_KEYS_DESCRIPTION = "Comma-separated telemetry keys (1-50, each 1-64 of A-Z a-z 0-9 _ . - :)"

KeysParam = Annotated[
    str | None,
    QueryParameter(
        name="keys",
        description=_KEYS_DESCRIPTION,
        max_length=50 * 65,
        schema_extra={"pattern": KEYS_PATTERN},
    ),
]
RequiredKeysParam = Annotated[
    str,
    QueryParameter(
        name="keys",
        description=_KEYS_DESCRIPTION,
        max_length=50 * 65,
        schema_extra={"pattern": REQUIRED_KEYS_PATTERN},
    ),
]


SOURCE_HEADER = "X-Petit-Source"


def _reading(reading: Reading) -> ReadingRead:
    return ReadingRead(ts=reading.ts_ms, value=reading.value)


class TelemetryController(Controller):
    path = "/devices/{device_id:uuid}/telemetry"
    tags = ["Telemetry"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    # No injected dependencies: each batch costs a task group per request, and a database session is opened
    # only when the ownership cache does not know the device (see petit.telemetry.deps.telemetry_reads).

    @get(
        "/latest",
        operation_id="GetLatestTelemetry",
        summary="Latest value of each telemetry key",
        description=(
            "Without `keys`, all keys ever reported; a key it never reported maps to null. "
            f"`{SOURCE_HEADER}` says where the answer came from: `stream` when this petit process holds a "
            "live subscription to the device that delivered every requested key (it reflects every update "
            "pushed before the request), `thingsboard` when it read ThingsBoard."
        ),
        security=BEARER,
        response_headers=[
            ResponseHeader(
                name=SOURCE_HEADER,
                description="`stream` or `thingsboard`",
                documentation_only=True,
            )
        ],
        responses=problem_responses(
            NotAuthenticatedError,
            DeviceNotFoundError,
            DeviceRoleForbiddenError,
            errors.InvalidTelemetryKeysError,
            PlatformUnavailableError,
            body=False,
        ),
    )
    async def latest(
        self,
        *,
        request: Request[object, object, State],
        device_id: FromPath[uuid.UUID],
        keys: KeysParam = None,
    ) -> Response[LatestTelemetryRead]:
        runtime = runtime_of(request.app)
        access_claims = await provide_access_claims(request, runtime)
        latest = await telemetry_reads(runtime).latest(
            access_claims.user_id, device_id, parse_keys(keys, required=False)
        )
        body = LatestTelemetryRead(
            device_id=latest.device_id,
            values={k: _reading(r) if r is not None else None for k, r in latest.values.items()},
        )
        return Response(body, headers={SOURCE_HEADER: latest.source.value})

    @get(
        "/history",
        operation_id="GetTelemetryHistory",
        summary="Telemetry history by keys and time range, raw or aggregated",
        description=(
            "Samples in [startTs, endTs) (epoch ms; defaults: the last 24 hours). With an aggregation "
            "other than NONE, each intervalMs bucket yields one value stamped at its midpoint. "
            "Unknown keys give empty series."
        ),
        security=BEARER,
        responses=problem_responses(
            NotAuthenticatedError,
            DeviceNotFoundError,
            DeviceRoleForbiddenError,
            errors.InvalidTelemetryKeysError,
            errors.InvalidTimeRangeError,
            errors.TimeRangeTooLargeError,
            errors.InvalidAggregationError,
            PlatformUnavailableError,
            body=False,
        ),
    )
    async def history(
        self,
        *,
        request: Request[object, object, State],
        device_id: FromPath[uuid.UUID],
        keys: RequiredKeysParam,
        start_ts: Annotated[int | None, QueryParameter(name="startTs", ge=0)] = None,
        end_ts: Annotated[int | None, QueryParameter(name="endTs", ge=0)] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=10_000)] = 100,
        aggregation: Annotated[Aggregation, QueryParameter(name="aggregation")] = Aggregation.NONE,
        interval_ms: Annotated[int | None, QueryParameter(name="intervalMs", ge=1)] = None,
        order: Annotated[SortOrder, QueryParameter(name="order")] = SortOrder.DESC,
    ) -> TelemetryHistoryRead:
        runtime = runtime_of(request.app)
        access_claims = await provide_access_claims(request, runtime)
        telemetry_service = telemetry_reads(runtime)
        query = telemetry_service.history_query(
            parse_keys(keys, required=True) or (),
            start_ms=start_ts,
            end_ms=end_ts,
            limit=limit,
            aggregation=aggregation,
            interval_ms=interval_ms,
            order=order,
        )
        history = await telemetry_service.history(access_claims.user_id, device_id, query)
        return TelemetryHistoryRead(
            device_id=history.device_id,
            start_ts=query.start_ms,
            end_ts=query.end_ms,
            aggregation=query.aggregation,
            interval_ms=query.interval_ms or None,
            series={k: [_reading(r) for r in rs] for k, rs in history.series.items()},
        )
