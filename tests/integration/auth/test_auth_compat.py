"""Seed 003's ``POST /signup`` and ``POST /login``: each status the seed lists, and petit's additions."""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from petit.app import create_app
from tests.integration.auth.test_auth_api import assert_problem

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    import httpx
    from litestar import Litestar

pytestmark = pytest.mark.integration

MISSING = [
    {},
    {"password": "a-long-enough-password"},
    {"email": "ada@example.com"},
    {"email": "", "password": "a-long-enough-password"},
    {"email": "   ", "password": "a-long-enough-password"},
    {"email": "ada@example.com", "password": ""},
    {"email": None, "password": None},
]
MISSING_IDS = ["nothing", "no-email", "no-password", "empty-email", "blank-email", "empty-password", "nulls"]


def new_email() -> str:
    return f"compat-{uuid.uuid4().hex[:12]}@example.com"


async def test_signup_201_returns_the_user_without_password(client: httpx.AsyncClient) -> None:
    email, password = new_email(), secrets.token_urlsafe(16)
    response = await client.post("/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "email", "createdAt"}
    assert body["email"] == email
    # The account is the one the canonical routes know.
    assert (await client.post("/auth/login", json={"email": email, "password": password})).status_code == 200


@pytest.mark.parametrize("body", MISSING, ids=MISSING_IDS)
async def test_signup_400_when_email_or_password_is_missing(client: httpx.AsyncClient, body: Any) -> None:
    assert_problem(await client.post("/signup", json=body), 400, "missing_credentials")


async def test_signup_409_when_the_email_is_taken(client: httpx.AsyncClient) -> None:
    email = new_email()
    first = await client.post("/signup", json={"email": email, "password": secrets.token_urlsafe(16)})
    assert first.status_code == 201
    again = await client.post("/signup", json={"email": email.upper(), "password": secrets.token_urlsafe(16)})
    assert_problem(again, 409, "email_taken")
    via_canonical = await client.post(
        "/auth/signup", json={"email": new_email(), "password": secrets.token_urlsafe(16)}
    )
    assert via_canonical.status_code == 201
    taken = await client.post(
        "/signup", json={"email": via_canonical.json()["email"], "password": secrets.token_urlsafe(16)}
    )
    assert_problem(taken, 409, "email_taken")


async def test_signup_keeps_petits_password_policy(client: httpx.AsyncClient) -> None:
    # Seed 003 had no policy; petit's still holds on the compatibility route, reported like /auth/signup's.
    short = await client.post("/signup", json={"email": new_email(), "password": "short"})
    body = assert_problem(short, 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["password"]
    bad_email = await client.post("/signup", json={"email": "not-an-email", "password": "long-enough-pw"})
    assert_problem(bad_email, 422, "validation_failed")


async def test_signup_ignores_fields_it_does_not_know(client: httpx.AsyncClient) -> None:
    body = {"email": new_email(), "password": secrets.token_urlsafe(16), "emporiaUsername": "ada"}
    assert (await client.post("/signup", json=body)).status_code == 201


async def test_login_200_returns_a_token(client: httpx.AsyncClient) -> None:
    email, password = new_email(), secrets.token_urlsafe(16)
    assert (await client.post("/signup", json={"email": email, "password": password})).status_code == 201
    response = await client.post("/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"] == body["accessToken"]
    assert body["tokenType"] == "Bearer"
    assert body["refreshToken"]
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == email


@pytest.mark.parametrize("body", MISSING, ids=MISSING_IDS)
async def test_login_400_when_email_or_password_is_missing(client: httpx.AsyncClient, body: Any) -> None:
    assert_problem(await client.post("/login", json=body), 400, "missing_credentials")


async def test_login_401_for_wrong_credentials(client: httpx.AsyncClient) -> None:
    email, password = new_email(), secrets.token_urlsafe(16)
    assert (await client.post("/signup", json={"email": email, "password": password})).status_code == 201
    wrong_password = await client.post("/login", json={"email": email, "password": "not-the-password"})
    assert_problem(wrong_password, 401, "invalid_credentials")
    unknown = await client.post("/login", json={"email": new_email(), "password": password})
    assert_problem(unknown, 401, "invalid_credentials")
    # An address that cannot be an email cannot be an account either: the seed answered 401, so does this.
    malformed = await client.post("/login", json={"email": "ada", "password": password})
    assert_problem(malformed, 401, "invalid_credentials")


async def test_login_shares_the_login_throttle(
    make_settings: Any, serve: Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]]
) -> None:
    settings = make_settings(auth={"login_max_failures_per_client": 2, "login_window_s": 60})
    async with serve(create_app(settings)) as client:
        email, password = new_email(), secrets.token_urlsafe(16)
        assert (await client.post("/signup", json={"email": email, "password": password})).status_code == 201
        for path in ("/login", "/auth/login"):
            response = await client.post(path, json={"email": email, "password": "wrong-password"})
            assert response.status_code == 401
        assert_problem(
            await client.post("/login", json={"email": email, "password": password}), 429, "login_throttled"
        )


async def test_compat_routes_are_documented_as_such(client: httpx.AsyncClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    for path, operation_id, canonical in (
        ("/signup", "SignupCompat", "/auth/signup"),
        ("/login", "LoginCompat", "/auth/login"),
    ):
        operation = document["paths"][path]["post"]
        assert operation["operationId"] == operation_id
        assert operation["tags"] == ["Compatibility"]
        assert canonical in operation["description"]
        assert "400" in operation["responses"]
