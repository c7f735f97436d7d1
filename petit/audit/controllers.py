from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from petit.audit.schemas import DeviceEventPage, DeviceEventRead
from petit.audit.services import DeviceEventReader
from petit.auth.deps import provide_access_claims
from petit.auth.errors import NotAuthenticatedError
from petit.devices.errors import DeviceNotFoundError
from petit.devices.repositories import DeviceRepository
from petit.errors import problem_responses
from petit.lib.security import AccessClaims


class DeviceEventController(Controller):
    path = "/devices/{device_id:uuid}/events"
    tags = ["Devices"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {  # noqa: RUF012
        "access_claims": Provide(provide_access_claims),
    }

    @get(
        "/",
        operation_id="ListDeviceEvents",
        summary="What happened to a device (pairing, claim, release, sharing, transfer), newest first",
        description="The owner sees everything since the device became theirs; a member or viewer sees "
        "only what they did themselves.",
        security=[{"BearerAuth": []}],
        responses=problem_responses(NotAuthenticatedError, DeviceNotFoundError, body=False),
    )
    async def list_device_events(
        self,
        device_id: FromPath[uuid.UUID],
        access_claims: NamedDependency[AccessClaims],
        db_session: NamedDependency[AsyncSession],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
    ) -> DeviceEventPage:
        found = await DeviceRepository(db_session).get_accessible(access_claims.user_id, device_id)
        if found is None:
            raise DeviceNotFoundError
        events, total = await DeviceEventReader(db_session).list_for(
            found[0], reader_id=access_claims.user_id, limit=limit, offset=offset
        )
        return DeviceEventPage(
            items=[DeviceEventRead.model_validate(e, from_attributes=True) for e in events],
            total=total,
            limit=limit,
            offset=offset,
        )
