"""The streaming hub's construction: channels backend, journal, device directory."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from petit.realtime.channels import Channels, MemoryChannels, RedisChannels
from petit.realtime.directory import NoDevices, ThingsBoardDirectory
from petit.realtime.hub import DeviceDirectory, Hub
from petit.realtime.journal import Journal, MemoryJournal, RedisJournal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from petit.auth.services import AccessTokenVerifier
    from petit.lib.security import AccessClaims
    from petit.realtime.config import StreamLimits
    from petit.settings import Settings
    from petit.thingsboard.port import ThingsBoardPort

#: Token checks against the cache in flight at once per process (the pool holds 100 connections).
_AUTH_CONCURRENCY = 32


@asynccontextmanager
async def open_hub(
    settings: Settings,
    *,
    redis: Redis[Any] | None,
    sessionmaker: async_sessionmaker[AsyncSession],
    thingsboard: ThingsBoardPort | None,
    verifier: AccessTokenVerifier,
    limits: StreamLimits,
) -> AsyncIterator[Hub]:
    """The process's hub with its channels backend and journal: Redis when configured, memory otherwise."""
    prefix = settings.redis.key_prefix
    owned_redis = None
    shared = redis
    if shared is None and settings.redis.url:
        # Pub/sub holds a connection of its own; a separate client keeps it off the cache's pool.
        owned_redis = shared = Redis.from_url(settings.redis.url)
    journal: Journal
    # The hub exists only once the channels do; a reconnect before then has nothing to catch up.
    hub_slot: list[Hub] = []

    async def catch_up() -> None:
        if hub_slot:
            await hub_slot[0].catch_up()

    channels: Channels
    if shared is not None:
        channels = RedisChannels(shared, on_reconnect=catch_up, home_prefix=prefix)
        journal = RedisJournal(shared, prefix=prefix, window=limits.resume_window, ttl_s=limits.resume_ttl_s)
    else:
        channels = MemoryChannels()
        journal = MemoryJournal(window=limits.resume_window, ttl_s=limits.resume_ttl_s)
    # A burst of reconnecting phones must not exhaust the cache's connection pool (shared with every
    # request): token checks wait their turn instead.
    gate = asyncio.Semaphore(_AUTH_CONCURRENCY)

    async def authenticate(token: str) -> AccessClaims:
        async with gate:
            return await verifier.verify(token)

    directory: DeviceDirectory = (
        ThingsBoardDirectory(sessionmaker, thingsboard) if thingsboard is not None else NoDevices()
    )
    try:
        await channels.start()
        hub = Hub(
            thingsboard=thingsboard,
            channels=channels,
            journal=journal,
            directory=directory,
            authenticate=authenticate,
            limits=limits,
            prefix=prefix,
            # RedisChannels subscribes to the plain channel names on the journal's Redis.
            journal_publishes=shared is not None,
        )
        hub_slot.append(hub)
        await hub.start()
        try:
            yield hub
        finally:
            await hub.aclose()
    finally:
        await channels.aclose()
        if owned_redis is not None:
            await owned_redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose()
