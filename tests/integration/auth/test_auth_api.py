"""Accounts over HTTP on real PostgreSQL and Redis: the happy paths and every refusal the issue lists."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest

from petit.app import create_app
from petit.lib.security import AccessTokenCodec

if TYPE_CHECKING:
    from litestar import Litestar

pytestmark = pytest.mark.integration

Client = httpx.AsyncClient


def new_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def new_password() -> str:
    return secrets.token_urlsafe(18)


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:petit:problem:{code}"
    assert body["title"]
    return body


async def signup(client: Client, email: str, password: str) -> dict[str, Any]:
    response = await client.post("/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(client: Client, email: str, password: str) -> dict[str, Any]:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_signup_login_and_me(client: Client) -> None:
    email, password = new_email(), new_password()
    created = await signup(client, f"  {email.upper()} ", password)
    assert created["email"] == email
    assert set(created) == {"id", "email", "createdAt"}

    tokens = await login(client, email, password)
    assert tokens["tokenType"] == "Bearer"
    assert tokens["expiresIn"] == 15 * 60
    assert len(tokens["refreshToken"]) >= 43  # 256 bits, base64url

    me = await client.get("/users/me", headers=bearer(tokens["accessToken"]))
    assert me.status_code == 200
    assert me.json()["id"] == created["id"]
    assert me.json()["email"] == email


async def test_access_token_claims(client: Client, app: Litestar) -> None:
    email, password = new_email(), new_password()
    user = await signup(client, email, password)
    tokens = await login(client, email, password)
    claims = jwt.decode(tokens["accessToken"], options={"verify_signature": False})
    assert claims["sub"] == user["id"]
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert claims["jti"]


async def test_duplicate_signup_is_409_whatever_the_case(client: Client) -> None:
    email, password = new_email(), new_password()
    await signup(client, email, password)
    response = await client.post("/auth/signup", json={"email": email.upper(), "password": new_password()})
    assert_problem(response, 409, "email_taken")


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@example.com", "sp ace@example.com", ""])
async def test_malformed_email_is_422(client: Client, email: str) -> None:
    response = await client.post("/auth/signup", json={"email": email, "password": new_password()})
    body = assert_problem(response, 422, "validation_failed")
    assert any(e["field"] == "email" for e in body["errors"])


@pytest.mark.parametrize("password", ["short", "123456789", "x" * 257])
async def test_password_length_policy(client: Client, password: str) -> None:
    response = await client.post("/auth/signup", json={"email": new_email(), "password": password})
    body = assert_problem(response, 422, "validation_failed")
    assert any(e["field"] == "password" for e in body["errors"])


async def test_password_may_not_be_the_email(client: Client) -> None:
    email = new_email()
    response = await client.post("/auth/signup", json={"email": email, "password": email.upper()})
    assert_problem(response, 422, "validation_failed")


async def test_password_at_the_limits_is_accepted(client: Client) -> None:
    for password in ("p" * 10, "p" * 256):
        await signup(client, new_email(), password)


async def test_wrong_password_and_unknown_email_answer_the_same(client: Client) -> None:
    email, password = new_email(), new_password()
    await signup(client, email, password)
    wrong = await client.post("/auth/login", json={"email": email, "password": new_password()})
    unknown = await client.post("/auth/login", json={"email": new_email(), "password": password})
    wrong_body = assert_problem(wrong, 401, "invalid_credentials")
    unknown_body = assert_problem(unknown, 401, "invalid_credentials")
    assert wrong_body == unknown_body
    assert wrong.headers.keys() == unknown.headers.keys()


async def test_missing_malformed_and_wrong_scheme_authorization(client: Client) -> None:
    assert_problem(await client.get("/users/me"), 401, "not_authenticated")
    assert_problem(
        await client.get("/users/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}),
        401,
        "not_authenticated",
    )
    assert_problem(await client.get("/users/me", headers=bearer("not.a.jwt")), 401, "invalid_token")


async def test_tampered_access_token_is_refused(client: Client) -> None:
    email, password = new_email(), new_password()
    await signup(client, email, password)
    token = (await login(client, email, password))["accessToken"]
    header, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["sub"] = str(uuid.uuid4())
    forged_payload = jwt.encode(claims, "x" * 32, algorithm="HS256").split(".")[1]
    response = await client.get("/users/me", headers=bearer(f"{header}.{forged_payload}.{signature}"))
    body = assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"
    assert "detail" not in body or "sub" not in body["detail"]

    # Re-signed with a key that is not ours.
    resigned = jwt.encode(claims, secrets.token_urlsafe(32), algorithm="HS256")
    assert_problem(await client.get("/users/me", headers=bearer(resigned)), 401, "invalid_token")


async def test_expired_access_token_is_refused(client: Client, settings: Any) -> None:
    email, password = new_email(), new_password()
    user = await signup(client, email, password)
    codec = AccessTokenCodec(
        secret=settings.auth.jwt_secret.get_secret_value(),
        issuer=settings.auth.jwt_issuer,
        ttl=timedelta(minutes=15),
    )
    issued = datetime.now(UTC) - timedelta(minutes=16)
    token, _ = codec.encode(user_id=uuid.UUID(user["id"]), family_id=uuid.uuid4(), now=issued)
    assert_problem(await client.get("/users/me", headers=bearer(token)), 401, "token_expired")

    # The same token one minute before its expiry is fine: the refusal above is about time, not the token.
    fresh, _ = codec.encode(user_id=uuid.UUID(user["id"]), family_id=uuid.uuid4(), now=datetime.now(UTC))
    assert (await client.get("/users/me", headers=bearer(fresh))).status_code == 200


async def test_refresh_rotates_and_reuse_revokes_the_family(client: Client) -> None:
    email, password = new_email(), new_password()
    await signup(client, email, password)
    first = await login(client, email, password)

    second = await client.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refreshToken"] != first["refreshToken"]
    assert rotated["accessToken"] != first["accessToken"]
    assert (await client.get("/users/me", headers=bearer(rotated["accessToken"]))).status_code == 200

    replay = await client.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert_problem(replay, 401, "refresh_token_reused")

    # The replay killed the whole session: the newest refresh token and the access tokens issued from it.
    after = await client.post("/auth/refresh", json={"refreshToken": rotated["refreshToken"]})
    assert_problem(after, 401, "invalid_refresh_token")
    assert_problem(
        await client.get("/users/me", headers=bearer(rotated["accessToken"])), 401, "token_revoked"
    )


async def test_reuse_revokes_only_that_family(client: Client) -> None:
    email, password = new_email(), new_password()
    await signup(client, email, password)
    phone = await login(client, email, password)
    laptop = await login(client, email, password)
    await client.post("/auth/refresh", json={"refreshToken": phone["refreshToken"]})
    await client.post("/auth/refresh", json={"refreshToken": phone["refreshToken"]})
    still = await client.post("/auth/refresh", json={"refreshToken": laptop["refreshToken"]})
    assert still.status_code == 200


async def test_unknown_refresh_token_is_401(client: Client) -> None:
    response = await client.post("/auth/refresh", json={"refreshToken": secrets.token_urlsafe(32)})
    assert_problem(response, 401, "invalid_refresh_token")


async def test_logout_revokes_access_token_at_once(client: Client) -> None:
    email, password = new_email(), new_password()
    await signup(client, email, password)
    tokens = await login(client, email, password)
    headers = bearer(tokens["accessToken"])
    assert (await client.get("/users/me", headers=headers)).status_code == 200

    assert (await client.post("/auth/logout", headers=headers)).status_code == 204

    assert_problem(await client.get("/users/me", headers=headers), 401, "token_revoked")
    assert_problem(await client.post("/auth/logout", headers=headers), 401, "token_revoked")
    refresh = await client.post("/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert_problem(refresh, 401, "invalid_refresh_token")
    # Another session of the same user is untouched.
    other = await login(client, email, password)
    assert (await client.get("/users/me", headers=bearer(other["accessToken"]))).status_code == 200


async def test_revocation_is_shared_through_redis(client: Client, settings: Any, serve: Any) -> None:
    """A second petit process (another app, its own Redis connection) refuses a token the first revoked."""
    email, password = new_email(), new_password()
    await signup(client, email, password)
    headers = bearer((await login(client, email, password))["accessToken"])
    async with serve(create_app(settings)) as other:
        assert (await other.get("/users/me", headers=headers)).status_code == 200
        assert (await client.post("/auth/logout", headers=headers)).status_code == 204
        assert_problem(await other.get("/users/me", headers=headers), 401, "token_revoked")


async def test_concurrent_refreshes_with_one_token_cannot_both_win(client: Client) -> None:
    email, password = new_email(), new_password()
    await signup(client, email, password)
    token = (await login(client, email, password))["refreshToken"]
    responses = await asyncio.gather(
        *(client.post("/auth/refresh", json={"refreshToken": token}) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401]


async def test_revocation_markers_live_in_redis_until_expiry(
    settings: Any, serve: Any, redis_client: Any, redis_prefix: str
) -> None:
    # The app is handed the test's own Redis client here (create_app's `redis=` seam) instead of a URL.
    async with serve(create_app(settings, redis=redis_client)) as client:
        email, password = new_email(), new_password()
        await signup(client, email, password)
        token = (await login(client, email, password))["accessToken"]
        assert (await client.post("/auth/logout", headers=bearer(token))).status_code == 204
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    ttl = await redis_client.ttl(f"{redis_prefix}auth:revoked:jti:{jti}")
    assert 0 < ttl <= 15 * 60
