"""porto_contract/openapi.json is what petit serves; any drift fails here."""

from __future__ import annotations

import json

import pytest

from petit.contract import OPENAPI_PATH, REGENERATE_COMMAND, render_openapi

pytestmark = pytest.mark.contract


def test_committed_openapi_matches_the_app() -> None:
    assert OPENAPI_PATH.exists(), f"{OPENAPI_PATH} is missing; run `{REGENERATE_COMMAND}`"
    committed = OPENAPI_PATH.read_text(encoding="utf-8")
    assert committed == render_openapi(), (
        f"{OPENAPI_PATH.name} differs from the API petit serves; "
        f"run `{REGENERATE_COMMAND}` and commit the result"
    )


def test_operation_ids_are_the_agreed_ones() -> None:
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    operation_ids = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {
        "Signup",
        "Login",
        "RefreshToken",
        "Logout",
        "GetMe",
        "GetLiveness",
        "GetReadiness",
    } <= operation_ids


def test_errors_are_documented_as_problem_json() -> None:
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    login = document["paths"]["/auth/login"]["post"]["responses"]
    for status in ("400", "401", "413", "415", "422", "429"):
        assert "application/problem+json" in login[status]["content"], status
    assert "ProblemDetail" in document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"


def test_no_content_responses_document_no_body() -> None:
    # A generated client would otherwise try to parse JSON out of an empty 204.
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    with_body = [
        op["operationId"]
        for path in document["paths"].values()
        for op in path.values()
        if "content" in op["responses"].get("204", {})
    ]
    no_content = [
        op["operationId"]
        for path in document["paths"].values()
        for op in path.values()
        if "204" in op["responses"]
    ]
    assert {"DeleteDevice", "ReleaseDevice", "Logout"} <= set(no_content)
    assert with_body == []


def test_rendering_twice_in_one_process_gives_the_same_document() -> None:
    # Litestar extends a shared field's examples list in place; a document that grows with every app built in
    # the process (as in this test run) would drift from the committed one for no reason.
    from petit.contract import render_openapi  # noqa: PLC0415

    first = render_openapi()
    assert render_openapi() == first
    assert '"Kitchen lamp",\n              "Kitchen lamp"' not in first
