"""The one error translation: every failure leaves as problem+json, and internals never leak."""

from __future__ import annotations

import pytest
from litestar import Litestar, get
from litestar.exceptions import InternalServerException
from litestar.testing import TestClient

from petit.errors import PetitError, exception_handlers, problem_responses

pytestmark = pytest.mark.unit


class TeapotError(PetitError):
    code = "teapot"
    status = 418
    title = "I am a teapot"


@get("/boom", sync_to_thread=False)
def boom() -> None:
    raise RuntimeError("database password is hunter2")


@get("/http500", sync_to_thread=False)
def http500() -> None:
    raise InternalServerException("stack details")


@get("/teapot", sync_to_thread=False)
def teapot() -> None:
    raise TeapotError("short and stout", headers={"X-Tea": "earl-grey"})


def client() -> TestClient[Litestar]:
    return TestClient(Litestar([boom, http500, teapot], exception_handlers=exception_handlers()))


@pytest.mark.parametrize("path", ["/boom", "/http500"])
def test_unexpected_failures_are_opaque_500_problems(path: str) -> None:
    with client() as http:
        response = http.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json() == {
        "type": "urn:petit:problem:internal_error",
        "title": "Internal server error",
        "status": 500,
        "code": "internal_error",
        "instance": path,
    }
    assert "hunter2" not in response.text


def test_petit_error_carries_its_code_detail_and_headers() -> None:
    with client() as http:
        response = http.get("/teapot")
    assert response.status_code == 418
    assert response.headers["x-tea"] == "earl-grey"
    body = response.json()
    assert body["code"] == "teapot"
    assert body["type"] == "urn:petit:problem:teapot"
    assert body["detail"] == "short and stout"


def test_problem_responses_group_codes_by_status() -> None:
    responses = problem_responses(TeapotError)
    assert set(responses) == {400, 413, 415, 418, 422}
    assert "teapot" in (responses[418].description or "")
    assert set(problem_responses(TeapotError, body=False)) == {418}
