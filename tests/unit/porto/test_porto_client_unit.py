"""The reference client and the CLI's token store, over a scripted transport (no network)."""

from __future__ import annotations

import json
import stat
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from porto_contract import cli
from porto_contract.client import PortoClient, ProblemError
from porto_contract.client.models import TokenPair

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.unit


def tokens(n: int) -> dict[str, Any]:
    return {"accessToken": f"a{n}", "refreshToken": f"r{n}", "expiresIn": 900, "refreshExpiresIn": 9000}


PAGE = {"items": [], "total": 0, "limit": 50, "offset": 0}


def test_an_expired_access_token_is_refreshed_once_and_the_new_pair_handed_over() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization")))
        if request.url.path == "/auth/refresh":
            assert json.loads(request.content) == {"refreshToken": "r1"}
            return httpx.Response(200, json=tokens(2))
        if request.headers.get("authorization") == "Bearer a1":
            return httpx.Response(
                401, json={"code": "invalid_token", "status": 401, "title": "expired", "type": "x"}
            )
        return httpx.Response(200, json=PAGE)

    saved: list[TokenPair] = []
    client = PortoClient(
        "http://petit.test",
        tokens=TokenPair.model_validate(tokens(1)),
        on_tokens=saved.append,
        transport=httpx.MockTransport(handler),
    )
    assert client.list_devices().total == 0
    assert [path for path, _ in seen] == ["/devices", "/auth/refresh", "/devices"]
    assert seen[-1][1] == "Bearer a2"
    assert [t.refresh_token for t in saved] == ["r2"]


def test_problems_become_typed_errors() -> None:
    problem = {
        "type": "urn:petit:problem:pairing_not_found",
        "code": "pairing_not_found",
        "status": 404,
        "title": "No such pairing",
        "detail": "it may have expired",
    }
    transport = httpx.MockTransport(lambda _request: httpx.Response(404, json=problem))
    client = PortoClient("http://petit.test", tokens=TokenPair.model_validate(tokens(1)), transport=transport)
    with pytest.raises(ProblemError) as raised:
        client.get_pairing("7d0f8f4e-3b8c-4f5e-9a57-3f1d2c4b5a69")
    assert (raised.value.status, raised.value.code, raised.value.title) == (
        404,
        "pairing_not_found",
        "No such pairing",
    )
    assert raised.value.detail == "it may have expired"


def test_a_device_error_body_becomes_a_problem_too() -> None:
    error = ProblemError.from_response(422, {"error": "out_of_range", "message": "ssid: 1..32 bytes"}, "x")
    assert (error.code, error.title) == ("out_of_range", "ssid: 1..32 bytes")
    assert ProblemError.from_response(502, "<html>", "Bad Gateway").code == "http_502"


def test_the_token_store_is_private_and_under_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    context = cli.Context("http://petit.test")
    context.remember(TokenPair.model_validate(tokens(3)))
    path = tmp_path / "porto" / "config.json"
    assert cli.config_path() == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["tokens"]["refreshToken"] == "r3"
    # The tokens belong to the server they came from: another URL asks for a login.
    assert cli.Context(None).client().tokens is not None
    with pytest.raises(cli.click.ClickException):
        cli.Context("http://elsewhere.test").client()


def test_without_xdg_config_home_the_store_is_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli.config_path() == tmp_path / ".config" / "porto" / "config.json"
