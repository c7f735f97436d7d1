"""Fixtures for device tests: users signed up and logged in over HTTP, and direct looks at the database."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool


@dataclass
class Account:
    id: uuid.UUID
    email: str
    headers: dict[str, str]


SignUp = Callable[[httpx.AsyncClient], Awaitable[Account]]


async def sign_up(client: httpx.AsyncClient, tag: str = "dev") -> Account:
    email = f"{tag}-{uuid.uuid4().hex[:12]}@example.com"
    password = secrets.token_urlsafe(18)
    response = await client.post("/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    user_id = uuid.UUID(response.json()["id"])
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return Account(user_id, email, {"Authorization": f"Bearer {response.json()['accessToken']}"})


@pytest.fixture
def signup() -> SignUp:
    return sign_up


@pytest.fixture
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()
