from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import SkipValidation
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from petit.health.schemas import Liveness, Readiness
from petit.runtime import Runtime


class HealthController(Controller):
    path = "/health"
    tags = ["Health"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes

    @get("/live", operation_id="GetLiveness", summary="The process is up", cache=False)
    async def get_liveness(self) -> Liveness:
        return Liveness()

    @get(
        "/ready",
        operation_id="GetReadiness",
        summary="Database, Redis and ThingsBoard are reachable",
        cache=False,
        responses={
            HTTP_503_SERVICE_UNAVAILABLE: ResponseSpec(
                data_container=Readiness,
                generate_examples=False,
                description="At least one dependency is unavailable",
            )
        },
    )
    async def get_readiness(self, runtime: NamedDependency[SkipValidation[Runtime]]) -> Response[Readiness]:
        readiness = await runtime.health.readiness()
        status = HTTP_200_OK if readiness.status == "ok" else HTTP_503_SERVICE_UNAVAILABLE
        return Response(readiness, status_code=status)
