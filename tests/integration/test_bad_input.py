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


DEVICE = "00000000-0000-4000-8000-000000000001"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# Every route that takes free-form JSON, including the one that needs no login: the rules are enforced for
# every route before authentication, so none of these needs an account or a device.
FREE_FORM = [
    ("POST", "/devices", '{"name": "a", "metadata": {"a": %s}}'),
    ("PATCH", f"/devices/{DEVICE}", '{"metadata": {"a": %s}}'),
    ("PUT", f"/devices/{DEVICE}/settings", '{"values": {"a": %s}}'),
    ("PATCH", f"/devices/{DEVICE}/settings", '{"values": {"a": %s}}'),
    ("POST", f"/devices/{DEVICE}/commands", '{"function": "x", "params": %s}'),
    ("POST", "/gateway/device-data/ingest", '{"a": %s}'),
]


@pytest.mark.parametrize(("method", "path", "template"), FREE_FORM)
@pytest.mark.parametrize(("depth", "status", "code"), [(1_000, 400, "json_too_deep"), (20_000, 413, "")])
async def test_deep_json_is_refused_before_anything_parses_it(
    client: httpx.AsyncClient, method: str, path: str, template: str, depth: int, status: int, code: str
) -> None:
    body = (template % nested(depth)).encode()
    response = await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, status, code or "json_too_many_elements")


async def test_too_many_values_is_413(client: httpx.AsyncClient) -> None:
    values = ",".join("0" * 12_000)
    body = f'{{"name": "a", "metadata": {{"a": [{values}]}}}}'
    response = await client.post("/devices", content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 413, "json_too_many_elements")


async def test_body_that_is_not_utf8_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/devices", content=b'{"name": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a\u0000b@example.com", "password": "0123456789abc"}, "email"),
        ({"email": "a@example.com", "password": "0123456789\u0000abc"}, "password"),
        ({"email": "a@example.com", "password": "0123456789abc", "x": {"k\u0000": 1}}, "x.k\ufffd"),
        ({"email": "a@example.com", "password": "0123456789abc", "x": [1, 2**63]}, "x[1]"),
        ({"email": "a@example.com", "password": "0123456789abc", "x": -(2**63) - 1}, "x"),
    ],
)
async def test_values_the_database_cannot_store_are_422_naming_the_field(
    client: httpx.AsyncClient, body: Any, field: str
) -> None:
    response = await client.post("/auth/signup", json=body)
    problem = assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == [field]


async def test_a_number_no_decoder_can_hold_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/signup",
        content=b'{"email": "a@example.com", "x": 1e400}',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 422, "validation_failed")


@pytest.mark.parametrize("query", ["limit=1%00", "startTs=99999999999999999999", "startTs=" + "9" * 5000])
async def test_query_values_the_database_cannot_store_are_422(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/devices/{DEVICE}/telemetry/history?{query}")
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"][0]["field"] == query.split("=", maxsplit=1)[0]


async def test_nul_in_an_email_is_refused_before_the_database(client: httpx.AsyncClient) -> None:
    # PostgreSQL refuses NUL in text: this used to reach the INSERT and answer 500.
    body = {"email": "victim\u0000@example.com", "password": "0123456789abc"}
    assert_problem(await client.post("/auth/signup", json=body), 422, "validation_failed")
    assert_problem(await client.post("/auth/login", json=body), 422, "validation_failed")
