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
    # Seed 003's bodies ignore extras; what they may hold is still bounded by the body guard.
    assert DOC["components"]["schemas"]["CompatCredentials"]["additionalProperties"] == {
        "$ref": "#/components/schemas/JsonValue"
    }


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


def _schema(name: str) -> dict[str, object]:
    schema: dict[str, object] = DOC["components"]["schemas"][name]
    return schema


def test_free_json_in_requests_is_bounded_and_responses_stay_open() -> None:
    json_value = _schema("JsonValue")
    numbers = [s for s in json_value["anyOf"] if s.get("type") == "number"]  # type: ignore[attr-defined]
    assert numbers == [{"type": "number", "minimum": -(2**63), "maximum": 2**63 - 1}]
    ref = {"$ref": "#/components/schemas/JsonValue"}
    assert _schema("DeviceCreate")["properties"]["metadata"]["additionalProperties"] == ref  # type: ignore[index]
    assert _schema("CommandCreate")["properties"]["params"]["$ref"] == ref["$ref"]  # type: ignore[index]
    ingest = DOC["paths"]["/gateway/device-data/ingest"]["post"]["requestBody"]["content"]["application/json"]
    # A reading is bounded JSON and never null (ThingsBoard drops a null reading).
    assert ingest["schema"]["additionalProperties"] == {"allOf": [ref], "not": {"type": "null"}}
    # What ThingsBoard hands back (an operator's double, a device's reply) is not petit's to bound.
    assert _schema("DeviceSettingsRead")["properties"]["values"]["additionalProperties"] == {}  # type: ignore[index]
    assert "$ref" not in _schema("CommandResultRead")["properties"]["response"]  # type: ignore[operator,index]


def test_commands_name_exactly_one_function() -> None:
    branches = _schema("CommandCreate")["oneOf"]
    assert [b["required"] for b in branches] == [["function"], ["method"]]  # type: ignore[attr-defined]


def test_nullable_text_fields_keep_their_pattern() -> None:
    for model, field in (("DeviceUpdate", "name"), ("DeviceUpdate", "label"), ("PairingCreate", "label")):
        assert "pattern" in _schema(model)["properties"][field], (model, field)  # type: ignore[index]
    assert "pattern" in _schema("CommandCreate")["properties"]["function"]  # type: ignore[index]


def test_settings_keys_and_replacement_values_are_stated() -> None:
    for name in ("DeviceSettingsReplace", "DeviceSettingsUpdate"):
        values = _schema(name)["properties"]["values"]  # type: ignore[index]
        assert values["propertyNames"] == {"pattern": "^[A-Za-z0-9_.:\\-]{1,64}$"}, name
    replace = _schema("DeviceSettingsReplace")["properties"]["values"]["additionalProperties"]  # type: ignore[index]
    assert replace["not"] == {"type": "null"}
    ingest = DOC["paths"]["/gateway/device-data/ingest"]["post"]["requestBody"]["content"]["application/json"]
    assert ingest["schema"]["minProperties"] == 1


def test_compat_credentials_are_documented_as_required_strings() -> None:
    for name in ("CompatCredentials", "CompatSignupCredentials"):
        schema = _schema(name)
        assert schema["required"] == ["email", "password"]
        assert schema["properties"]["email"]["type"] == "string"  # type: ignore[index]
    assert _schema("CompatSignupCredentials")["properties"]["password"]["minLength"] == 10  # type: ignore[index]
