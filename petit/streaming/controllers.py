from __future__ import annotations

from datetime import UTC, datetime

from litestar import Controller, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency, Provide

from petit.auth.deps import provide_access_claims
from petit.auth.errors import NotAuthenticatedError
from petit.errors import PlatformUnavailableError, problem_responses
from petit.lib.security import AccessClaims
from petit.streaming.deps import provide_stream_service
from petit.streaming.schemas import StreamDeviceRead, StreamTokenRead
from petit.streaming.services import StreamService


class StreamingController(Controller):
    path = "/streaming"
    tags = ["Streaming"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {  # noqa: RUF012
        "access_claims": Provide(provide_access_claims),
        "stream_service": Provide(provide_stream_service),
    }

    @get(
        "/token",
        operation_id="GetStreamToken",
        summary="A short-lived token to stream your devices' telemetry straight from the platform",
        description=(
            'Open `wsUrl`, send `{"authCmd": {"cmdId": 0, "token": <token>}, "cmds": [...]}` and subscribe '
            "by a device's `streamId`. The token is scoped to the devices you own; others are refused, "
            "including devices shared with you (ThingsBoard CE cannot scope a token to them). "
            "`sharedDevices` lists those: stream them through `/ws` or `GET /devices/stream`. "
            "A device you transferred away is refused from then on for new subscriptions."
        ),
        security=[{"BearerAuth": []}],
        # A bearer credential: no cache may keep it.
        cache_control=CacheControlHeader(no_store=True),
        responses=problem_responses(NotAuthenticatedError, PlatformUnavailableError, body=False),
    )
    async def stream_token(
        self,
        *,
        access_claims: NamedDependency[AccessClaims],
        stream_service: NamedDependency[StreamService],
    ) -> StreamTokenRead:
        grant = await stream_service.grant(access_claims.user_id)
        return StreamTokenRead(
            token=grant.access.token,
            ws_url=grant.access.ws_url,
            expires_at=datetime.fromtimestamp(grant.access.expires_at, tz=UTC),
            devices=[StreamDeviceRead(device_id=d, stream_id=s) for d, s in grant.devices],
            shared_devices=grant.shared,
        )
