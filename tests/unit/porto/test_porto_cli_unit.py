"""porto's own logic over a scripted petit: exit codes, --json, the history chart."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from click.testing import CliRunner

from porto_contract import cli
from porto_contract.client import PortoClient

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.unit

DEVICE = "8a6f3c1e-0000-4000-8000-000000000001"
URL = "http://petit.test"


@pytest.fixture
def petit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[[Callable[[httpx.Request], Any]], None]:
    """Route porto's requests to ``answer(request) -> (status, body)``, logged in to URL."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    cli.save_config(
        {
            "url": URL,
            "tokens": {"accessToken": "a", "refreshToken": "r", "expiresIn": 900, "refreshExpiresIn": 9000},
        }
    )

    def install(answer: Callable[[httpx.Request], Any]) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            status, body = answer(request)
            return httpx.Response(status, json=body)

        real = PortoClient

        def scripted(base_url: str, **kwargs: Any) -> PortoClient:
            return real(base_url, transport=httpx.MockTransport(handler), **kwargs)

        monkeypatch.setattr(cli, "PortoClient", scripted)

    return install


def porto(*args: str) -> Any:
    return CliRunner().invoke(cli.main, ["--url", URL, *args])


def test_a_device_error_answer_makes_porto_command_exit_1(petit: Any) -> None:
    petit(
        lambda _: (
            200,
            {"deviceId": DEVICE, "function": "fly", "mode": "twoway", "response": {"error": "no"}},
        )
    )
    result = porto("command", DEVICE, "fly", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["response"] == {"error": "no"}
    assert "the device answered an error: no" in result.stderr


def test_a_device_answer_without_error_exits_0(petit: Any) -> None:
    petit(
        lambda _: (
            200,
            {"deviceId": DEVICE, "function": "setLed", "mode": "twoway", "response": {"led": True}},
        )
    )
    assert porto("command", DEVICE, "setLed", "--params", "true").exit_code == 0


def test_a_problem_exits_1_with_its_code(petit: Any) -> None:
    petit(lambda _: (404, {"status": 404, "code": "device_not_found", "title": "No such device"}))
    result = porto("devices", "rename", DEVICE, "x", "--json")
    assert result.exit_code == 1
    assert "404 device_not_found: No such device" in result.stderr


def test_history_without_keys_asks_for_every_reported_key_then_plots_them(petit: Any) -> None:
    asked: list[str | None] = []

    def answer(request: httpx.Request) -> Any:
        if request.url.path.endswith("/latest"):
            reading = {"ts": 1, "value": 1}
            return 200, {"deviceId": DEVICE, "values": {"uptime": reading, "temperature": reading}}
        asked.append(request.url.params.get("keys"))
        series = {
            "uptime": [{"ts": 3000, "value": 3}, {"ts": 2000, "value": 2}, {"ts": 1000, "value": 1}],
            "temperature": [{"ts": 1000, "value": 21.5}],
        }
        return 200, {
            "deviceId": DEVICE, "series": series, "startTs": 0, "endTs": 3000,
            "intervalMs": None, "aggregation": "NONE",
        }  # fmt: skip

    petit(answer)
    result = porto("telemetry", "history", DEVICE)
    assert result.exit_code == 0, result.output
    assert asked == ["temperature,uptime"]
    assert "▁▅█  min 1  max 3" in result.stdout
    assert "uptime: 3 reading(s)" in result.stdout


def test_sparkline_scales_to_its_range_and_width() -> None:
    assert cli.sparkline([0, 7]) == "▁█"
    assert cli.sparkline([5, 5, 5]) == "▅▅▅"
    assert len(cli.sparkline([float(i) for i in range(500)], width=40)) == 40
    assert cli.sparkline([]) == ""


def test_settings_values_are_json_or_else_strings() -> None:
    assert cli._setting("telemetryInterval=5") == ("telemetryInterval", 5)
    assert cli._setting("led=true") == ("led", True)
    assert cli._setting("mode=eco") == ("mode", "eco")
