"""Providers for the machinery every ownership flow shares."""

from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from petit.audit.services import DeviceEventService
from petit.runtime import Runtime


async def provide_device_events(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> DeviceEventService:
    return DeviceEventService(session=db_session, clock=runtime.clock)
