"""compose.yaml cannot run here (no Docker), so its wiring is checked statically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from petit.settings import env_variable_names
from thingsboard_emulator.versions import VERSIONS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return data


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_every_petit_variable_is_a_setting(compose: dict[str, Any]) -> None:
    env = environment(compose["services"]["petit"])
    petit_vars = {name for name in env if name.startswith("PETIT_")}
    assert petit_vars, "compose sets no PETIT_ variable"
    unknown = petit_vars - env_variable_names()
    assert not unknown, f"compose.yaml sets variables Settings does not read: {sorted(unknown)}"


def test_production_wiring(compose: dict[str, Any]) -> None:
    env = environment(compose["services"]["petit"])
    assert env["PETIT_ENVIRONMENT"] == "production"
    assert env["PETIT_DB__URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:" in env["PETIT_DB__URL"]
    assert env["PETIT_REDIS__URL"].startswith("redis://redis:")
    assert env["PETIT_THINGSBOARD__URL"].startswith("http://thingsboard:")
    # The secret must come from the operator, never from the file.
    assert env["PETIT_AUTH__JWT_SECRET"].startswith("${PETIT_AUTH__JWT_SECRET:?")


def test_services_petit_needs_exist_and_are_awaited_healthy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"petit", "postgres", "redis", "thingsboard"} <= set(services)
    petit = services["petit"]
    assert petit["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    for dependency in ("postgres", "redis", "thingsboard"):
        assert petit["depends_on"][dependency] == {"condition": "service_healthy"}
        assert "healthcheck" in services[dependency], dependency
    assert "healthcheck" in petit
    assert "petit db upgrade" in " ".join(petit["command"])


def test_thingsboard_is_ce_4_4_with_in_memory_queue(compose: dict[str, Any]) -> None:
    thingsboard = compose["services"]["thingsboard"]
    image, _, tag = thingsboard["image"].partition(":")
    assert image in {"thingsboard/tb-postgres", "thingsboard/tb-node"}
    assert tag == "4.4.0.2"
    # The emulator can stand in for the release compose runs.
    assert tag in {b.release for b in VERSIONS.values()}
    assert environment(thingsboard)["TB_QUEUE_TYPE"] == "in-memory"
