"""Malformed requests get 4xx problem+json with stable codes, never a 500."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

pytestmark = pytest.mark.integration


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"], body["type"]) == (status, code, f"urn:petit:problem:{code}")
    assert body["instance"] == response.request.url.path
    return body


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, settings: Any) -> None:
    big = "x" * (settings.app.request_max_body_bytes + 1)
    response = await client.post("/auth/signup", json={"email": "a@example.com", "password": big})
    assert_problem(response, 413, "payload_too_large")


async def test_body_over_the_limit_without_content_length_is_413(
    client: httpx.AsyncClient, settings: Any
) -> None:
    chunk = b"x" * 4096
    chunks = settings.app.request_max_body_bytes // len(chunk) + 2

    async def stream() -> Any:
        for _ in range(chunks):
            yield chunk

    response = await client.post(
        "/auth/login", content=stream(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_wrong_content_type_is_415(client: httpx.AsyncClient, content_type: str) -> None:
    body = b'{"email": "a@example.com", "password": "0123456789"}'
    response = await client.post("/auth/login", content=body, headers={"Content-Type": content_type})
    assert_problem(response, 415, "unsupported_media_type")


async def test_missing_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", content=b'{"email": "a@example.com"}')
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("raw", [b"{", b'{"email": "a@example.com",}', b"\xff\xfe", b"[1, 2"])
async def test_malformed_json_is_400(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post("/auth/login", content=raw, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": 12, "password": "0123456789"}, "email"),
        ({"email": "a@example.com", "password": ["0123456789"]}, "password"),
        ({"email": "a@example.com", "password": "0123456789", "isAdmin": True}, "isAdmin"),
        ({"email": "a@example.com"}, "password"),
        ([], ""),
        ("text", ""),
        (None, ""),
    ],
)
async def test_wrong_types_unknown_and_missing_fields_are_422(
    client: httpx.AsyncClient, body: Any, field: str
) -> None:
    response = await client.post("/auth/signup", json=body)
    problem = assert_problem(response, 422, "validation_failed")
    if field:
        assert field in {error["field"] for error in problem["errors"]}


async def test_empty_json_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/signup", headers={"Content-Type": "application/json"})
    assert_problem(response, 422, "validation_failed")


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/no/such/route"), 404, "not_found")
    assert_problem(await client.put("/auth/login", json={}), 405, "method_not_allowed")
    assert_problem(await client.get("/auth/signup"), 405, "method_not_allowed")
