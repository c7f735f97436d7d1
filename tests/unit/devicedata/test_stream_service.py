from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from petit.auth.errors import InvalidAccessTokenError
from petit.db.models import User
from petit.streaming.services import StreamService
from tests.unit.devicedata.conftest import NOW, World

pytestmark = pytest.mark.unit


class MemoryUsers:
    def __init__(self, *users: User) -> None:
        self.users = {u.id: u for u in users}

    async def get(self, user_id: uuid.UUID) -> User | None:
        return self.users.get(user_id)


def user(**fields: Any) -> User:
    now = datetime.now(UTC)
    return User(
        email=f"{uuid.uuid4().hex}@example.com", password_hash="x", created_at=now, updated_at=now, **fields
    )


def stream(world: World, *users: User) -> StreamService:
    return StreamService(
        users=MemoryUsers(*users),  # type: ignore[arg-type]
        devices=world.repo,  # type: ignore[arg-type]
        thingsboard=world.thingsboard,
    )


async def test_grant_is_the_linked_accounts_token_with_owned_devices(world: World) -> None:
    someone = user()
    account = await world.thingsboard.ensure_owner(someone.email)
    someone.platform_owner_id, someone.platform_account_id = account.owner_id, account.account_id
    mine = await world.device(someone.id)
    await world.device(uuid.uuid4())

    grant = await stream(world, someone).grant(someone.id)
    assert grant.access.token == f"fake-{account.account_id}"
    assert grant.access.ws_url == "ws://thingsboard.invalid/api/ws"
    assert grant.access.expires_at > NOW.timestamp()
    assert grant.devices == [(mine.id, mine.platform_device_id)]


async def test_an_unlinked_user_gets_their_account_found_or_finished(world: World) -> None:
    pending = user()
    grant = await stream(world, pending).grant(pending.id)
    account = await world.thingsboard.find_owner(pending.email)
    assert account is not None
    assert grant.access.token == f"fake-{account.account_id}"


async def test_a_deleted_user_gets_no_token(world: World) -> None:
    with pytest.raises(InvalidAccessTokenError):
        await stream(world).grant(uuid.uuid4())
