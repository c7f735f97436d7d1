"""The reference client calls only what the OpenAPI documents say exist, with bodies that match them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from porto_contract.client import api, device
from porto_contract.client import models as m

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2] / "porto_contract"
PETIT = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
LOCAL = json.loads((ROOT / "device" / "local-api.openapi.json").read_text(encoding="utf-8"))


def _operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    found = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            found[operation["operationId"]] = (method.upper(), path, operation)
    return found


def _schema_name(ref_holder: dict[str, Any] | None) -> str | None:
    if not ref_holder:
        return None
    schema = ref_holder.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    if schema.get("type") == "array":
        schema = schema["items"]
    if "$ref" not in schema:
        return "inline"
    return str(schema["$ref"]).rsplit("/", 1)[-1]


def _response_schemas(operation: dict[str, Any]) -> set[str | None]:
    return {_schema_name(r) for code, r in operation["responses"].items() if code.startswith("2")}


def _fields(model: type[m.Body]) -> tuple[set[str], set[str]]:
    """(every JSON name, the JSON names the model cannot do without)."""
    names = {info.alias or name for name, info in model.model_fields.items()}
    required = {info.alias or name for name, info in model.model_fields.items() if info.is_required()}
    return names, required


def _route_mismatches(operations: dict[str, tuple[str, str]], document: dict[str, Any]) -> list[str]:
    documented = _operations(document)
    return [
        operation_id
        for operation_id, route in operations.items()
        if operation_id not in documented or documented[operation_id][:2] != route
    ]


DOCUMENTS = [
    pytest.param(api.OPERATIONS, api.BODIES, PETIT, id="petit"),
    pytest.param(device.OPERATIONS, device.BODIES, LOCAL, id="device-local"),
]


@pytest.mark.parametrize(("operations", "bodies", "document"), DOCUMENTS)
def test_every_operation_the_client_calls_exists_with_its_method_and_path(
    operations: dict[str, tuple[str, str]], bodies: dict[str, Any], document: dict[str, Any]
) -> None:
    assert set(bodies) == set(operations)
    assert _route_mismatches(operations, document) == []


@pytest.mark.parametrize(("operations", "bodies", "document"), DOCUMENTS)
def test_request_and_response_models_name_the_documented_schemas(
    operations: dict[str, tuple[str, str]], bodies: dict[str, Any], document: dict[str, Any]
) -> None:
    documented = _operations(document)
    for operation_id, (request, response) in bodies.items():
        operation = documented[operation_id][2]
        sent = _schema_name(operation.get("requestBody"))
        assert sent == (request.schema_name if request else None), operation_id
        answers = _response_schemas(operation)
        expected = response.schema_name if response else None
        untyped = expected is None and answers <= {None, "inline"}
        assert expected in answers or untyped, (operation_id, answers)


def _all_models(bodies: dict[str, Any]) -> set[type[m.Body]]:
    models = {model for pair in bodies.values() for model in pair if model is not None}
    # Nested shapes the operations return.
    return models | {m.DeviceRead, m.ReadingRead, m.StreamDeviceRead}


@pytest.mark.parametrize(("operations", "bodies", "document"), DOCUMENTS)
def test_models_match_the_schemas_required_fields(
    operations: dict[str, tuple[str, str]], bodies: dict[str, Any], document: dict[str, Any]
) -> None:
    del operations
    schemas = document["components"]["schemas"]
    requests = {pair[0] for pair in bodies.values() if pair[0] is not None}
    for model in _all_models(bodies):
        if model.schema_name not in schemas:
            continue  # a nested model of the other document
        schema = schemas[model.schema_name]
        properties = set(schema.get("properties", {}))
        required = set(schema.get("required", []))
        names, model_required = _fields(model)
        assert names <= properties, (model.__name__, names - properties)
        if model in requests:
            # What the client may omit, the server must not demand, and the other way round.
            assert model_required == required, (model.__name__, model_required ^ required)
        else:
            # Every field the server always sends is read; nothing the server may omit is demanded.
            assert required <= names, (model.__name__, required - names)
            assert model_required <= required, (model.__name__, model_required - required)


def test_the_documented_examples_parse_into_the_client_models() -> None:
    example = LOCAL["components"]["examples"]["ConfigData"]["value"]
    assert m.ConfigData.model_validate(example).to_json() == example


def test_the_check_catches_a_moved_or_removed_route() -> None:
    moved = copy.deepcopy(PETIT)
    moved["paths"]["/pairing"] = moved["paths"].pop("/pairings")
    del moved["paths"]["/claims"]["post"]
    assert _route_mismatches(api.OPERATIONS, moved) == ["StartPairing", "ClaimDevice"]
