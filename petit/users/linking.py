"""The link between a petit user and their ThingsBoard side (one customer and its customer user).

Signup tries to link at once; when ThingsBoard is down the user is stored ``pending`` and the link is
completed later, on the next device request (``ensure_linked``) or by the background ``PlatformLinkTask``.
The port's ``ensure_owner`` finds by title before creating, so a link attempt that died half-way is
finished, never duplicated, by the next one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from sqlmodel import col, select

from petit.db.models import PlatformLinkState, User
from petit.lib.reconnect import stop_task
from petit.thingsboard.errors import ThingsBoardError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from petit.lib.clock import Clock
    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)


class PlatformLinker:
    def __init__(self, thingsboard: ThingsBoardPort, clock: Clock) -> None:
        self._thingsboard = thingsboard
        self._clock = clock

    async def ensure_linked(self, user: User) -> User:
        """Return ``user`` with both ThingsBoard ids set; raise ``ThingsBoardError`` when not possible now.

        The caller's unit of work persists the change.
        """
        if user.platform_link_state == PlatformLinkState.LINKED and user.platform_owner_id is not None:
            return user
        owner = await self._thingsboard.ensure_owner(user.email)
        user.platform_owner_id = owner.owner_id
        user.platform_account_id = owner.account_id
        user.platform_link_state = PlatformLinkState.LINKED
        user.updated_at = self._clock.now()
        log.info("platform.user_linked user_id=%s", user.id)
        return user

    async def try_link(self, user: User, *, timeout_s: float) -> bool:
        """Link now if ThingsBoard answers within ``timeout_s``; otherwise leave the user pending."""
        try:
            await asyncio.wait_for(self.ensure_linked(user), timeout=timeout_s)
        except (ThingsBoardError, TimeoutError) as exc:
            log.warning("platform.link_deferred user_id=%s reason=%s", user.id, type(exc).__name__)
            return False
        return True


async def pending_users(session: AsyncSession, *, limit: int) -> list[User]:
    result = await session.execute(
        select(User)
        .where(col(User.platform_link_state) != PlatformLinkState.LINKED)
        .order_by(col(User.created_at))
        .limit(limit)
    )
    return list(result.scalars().all())


async def link_pending_users(
    sessionmaker: async_sessionmaker[AsyncSession], linker: PlatformLinker, *, batch_size: int = 50
) -> tuple[int, int]:
    """One pass over users still pending: return (linked, still pending). Stops at the first ThingsBoard
    failure, since the rest of the batch would fail the same way."""
    linked = 0
    async with sessionmaker() as session:
        users = await pending_users(session, limit=batch_size)
        for user in users:
            try:
                await linker.ensure_linked(user)
            except ThingsBoardError as exc:
                log.warning("platform.link_pass_stopped reason=%s", type(exc).__name__)
                break
            # Commit each link on its own so a later failure does not undo earlier work.
            await session.commit()
            linked += 1
    return linked, len(users) - linked


class PlatformLinkTask:
    """Completes pending links in the background: one bounded pass every ``interval_s`` seconds."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        linker: PlatformLinker,
        *,
        interval_s: float = 30.0,
        batch_size: int = 50,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._linker = linker
        self._interval_s = interval_s
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="petit-platform-link")

    async def stop(self) -> None:
        if self._task is None:
            return
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                linked, pending = await link_pending_users(
                    self._sessionmaker, self._linker, batch_size=self._batch_size
                )
                if linked or pending:
                    log.info("platform.link_pass linked=%d pending=%d", linked, pending)
            except Exception:
                # The database may be briefly away too; the loop must outlive any one pass.
                log.exception("platform.link_pass_failed")
            await asyncio.sleep(self._interval_s)
