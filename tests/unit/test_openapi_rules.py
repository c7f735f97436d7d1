"""The OpenAPI document states what the server enforces (issue item 2)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from petit.contract import OPENAPI_PATH
from petit.devices.schemas import DeviceCreate
from petit.gateway.schemas import ProvisioningTokenCreate

pytestmark = pytest.mark.unit

DOC = json.loads(OPENAPI_PATH.read_text())


@pytest.mark.parametrize("value", [0, 1, "true", "false"])
def test_never_expires_takes_only_booleans(value: object) -> None:
    with pytest.raises(ValidationError):
        ProvisioningTokenCreate.model_validate({"never_expires": value})


def test_closed_models_say_so() -> None:
    for name in ("DeviceCreate", "ProvisioningTokenCreate", "SignupRequest", "DeviceSettingsReplace"):
        assert DOC["components"]["schemas"][name]["additionalProperties"] is False, name
    assert "additionalProperties" not in DOC["components"]["schemas"]["CompatCredentials"]


def test_every_bearer_route_documents_redis_unavailable() -> None:
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            if operation.get("security"):
                assert "redis_unavailable" in operation["responses"]["503"]["description"], (method, path)


@pytest.mark.parametrize(
    ("name", "accepted"),
    [("  Kitchen lamp ", "Kitchen lamp"), ("a\u00a0b", "a\u00a0b"), ("x" * 64, "x" * 64)],
)
def test_device_names_the_pattern_allows_are_accepted(name: str, accepted: str) -> None:
    assert DeviceCreate(name=name).name == accepted


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "x" * 65, "a\x00"])
def test_device_names_the_pattern_refuses_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        DeviceCreate(name=name)
