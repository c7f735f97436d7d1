"""The streaming hub's construction: channels backend, journal, device directory."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis

from petit.realtime.directory import NoDevices, ThingsBoardDirectory
from petit.realtime.hub import DeviceDirectory, Hub
from petit.realtime.journal import Journal, MemoryJournal, RedisJournal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar.channels.backends.base import ChannelsBackend
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from petit.auth.services import AccessTokenVerifier
    from petit.lib.security import AccessClaims
    from petit.realtime.config import StreamLimits
    from petit.settings import Settings
    from petit.thingsboard.port import ThingsBoardPort

#: Events a process's channel subscriber may hold before dropping the oldest (sessions coalesce anyway).
_SUBSCRIBER_BACKLOG = 10_000
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
    backend: ChannelsBackend
    journal: Journal
    if shared is not None:
        backend = RedisChannelsPubSubBackend(redis=shared)
        journal = RedisJournal(shared, prefix=prefix, window=limits.resume_window, ttl_s=limits.resume_ttl_s)
    else:
        backend = MemoryChannelsBackend()
        journal = MemoryJournal(window=limits.resume_window, ttl_s=limits.resume_ttl_s)
    channels = ChannelsPlugin(
        backend,
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=_SUBSCRIBER_BACKLOG,
        subscriber_backlog_strategy="dropleft",
    )

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
        async with channels:
            hub = Hub(
                thingsboard=thingsboard,
                channels=channels,
                journal=journal,
                directory=directory,
                authenticate=authenticate,
                limits=limits,
                prefix=prefix,
                # RedisChannelsPubSubBackend subscribes to the plain channel names on the journal's Redis.
                journal_publishes=shared is not None,
            )
            await hub.start()
            try:
                yield hub
            finally:
                await hub.aclose()
    finally:
        if owned_redis is not None:
            await owned_redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose()
