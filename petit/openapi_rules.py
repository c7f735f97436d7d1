"""Rules that make the generated OpenAPI document say exactly what the server does.

Litestar builds the document from the handlers; a few facts live elsewhere and are added here, in one pass,
so the served ``/schema/openapi.json`` and ``porto_contract/openapi.json`` state them on every operation:

* request and response models that refuse unknown fields (pydantic ``extra="forbid"``) say
  ``additionalProperties: false``, and a model's own ``json_schema_extra`` (rules across fields) is applied;
* every operation that needs a bearer token can answer 503 ``redis_unavailable`` (token revocation is checked
  in Redis, and petit refuses rather than skip the check);
* every operation with parameters can answer 422 ``validation_failed`` (the query guard and the parameter
  decoder), and one with path parameters 404;
* Litestar's own 400 "Validation Exception" entry is dropped: petit never answers with that shape (validation
  failures are 422 problems, see :mod:`petit.errors`);
* a free-form JSON value in a request (device metadata, settings, command params, ingested telemetry) is a
  ``JsonValue``: any JSON whose numbers lie in the signed 64-bit range, the bound :mod:`petit.lib.jsonguard`
  enforces on every body. Responses keep "any JSON": what ThingsBoard hands back (a double set by an operator,
  a device's reply) is not petit's to bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Reference, Schema
from pydantic import BaseModel

from petit.errors import PROBLEM_MEDIA_TYPE, CacheUnavailableError, ValidationFailedError
from petit.lib.jsonguard import INT64_MAX, INT64_MIN
from petit.lib.schema import JSON_VALUE_REF

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar.openapi.spec import OpenAPI, Operation

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PROBLEM_REF = Reference(ref="#/components/schemas/ProblemDetail")
_NOT_FOUND = "not_found: Resource not found"


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """petit's pydantic models by name; a name two classes share is left out (it would be ambiguous).

    Only petit's own: what else the process imported (tests, the emulator) must not change the document.
    """
    found: dict[str, type[BaseModel] | None] = {}
    stack = list(root.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not cls.__module__.startswith("petit."):
            continue
        name = cls.__name__
        found[name] = None if name in found and found[name] is not cls else cls
    return {name: cls for name, cls in found.items() if cls is not None}


def _problem(description: str) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=description, content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=_PROBLEM_REF)}
    )


def _add_problem(operation: Operation, status: int, description: str) -> None:
    responses = operation.responses if operation.responses is not None else {}
    operation.responses = responses
    key = str(status)
    existing = responses.get(key)
    if existing is None:
        responses[key] = _problem(description)
    elif isinstance(existing, OpenAPIResponse) and description not in existing.description:
        existing.description = f"{existing.description}; {description}"


def _is_litestar_validation_400(response: object) -> bool:
    if not isinstance(response, OpenAPIResponse) or not response.content:
        return False
    media = response.content.get("application/json")
    schema = media.schema if media is not None else None
    return getattr(schema, "description", None) == "Validation Exception"


def _finish_operation(operation: Operation) -> None:
    responses = operation.responses or {}
    if _is_litestar_validation_400(responses.get("400")):
        del responses["400"]
    parameters = [p for p in operation.parameters or [] if not isinstance(p, Reference)]
    if parameters:
        _add_problem(
            operation,
            ValidationFailedError.status,
            f"{ValidationFailedError.code}: {ValidationFailedError.title}",
        )
    if any(p.param_in == "path" for p in parameters):
        _add_problem(operation, 404, _NOT_FOUND)
    if operation.security:
        _add_problem(
            operation,
            CacheUnavailableError.status,
            f"{CacheUnavailableError.code}: {CacheUnavailableError.title}",
        )


def _finish_component(name: str, schema: Schema, models: dict[str, type[BaseModel]]) -> None:
    model = models.get(name)
    if model is None:
        return
    if model.model_config.get("extra") == "forbid" and schema.type is not None:
        schema.additional_properties = False
    # A model-wide rule (say, "exactly one of function or method") as pydantic states it; Litestar reads only
    # field-level extras, so the model's are applied here, in JSON Schema's own words.
    extra = model.model_config.get("json_schema_extra")
    if isinstance(extra, dict):
        aliases = schema.field_aliases()
        for key, value in extra.items():
            setattr(schema, aliases.get(key, key), value)


JSON_VALUE = JSON_VALUE_REF.rsplit("/", 1)[-1]


def _json_value_schema() -> Schema:
    ref = Reference(ref=JSON_VALUE_REF)
    return Schema(
        description="Any JSON value; numbers (integers and floats) within the signed 64-bit range",
        any_of=[
            Schema(type=OpenAPIType.STRING),
            Schema(type=OpenAPIType.BOOLEAN),
            Schema(type=OpenAPIType.NULL),
            Schema(type=OpenAPIType.NUMBER, minimum=INT64_MIN, maximum=INT64_MAX),
            Schema(type=OpenAPIType.ARRAY, items=ref),
            Schema(type=OpenAPIType.OBJECT, additional_properties=ref),
        ],
    )


_ANY_KEEPS = frozenset({"description", "title", "examples"})


def _is_any(schema: object) -> bool:
    """An empty schema (``{}``, perhaps with a description): pydantic's ``Any``."""
    if not isinstance(schema, Schema):
        return False
    return all(
        getattr(schema, name) is None for name in Schema.__dataclass_fields__ if name not in _ANY_KEEPS
    )


def _as_json_value(schema: Schema) -> Reference:
    return Reference(ref=JSON_VALUE_REF, description=schema.description)


def _children(schema: Schema) -> Iterator[Schema | Reference]:
    # Raw dicts (a model's own json_schema_extra) are JSON Schema already and hold no pydantic ``Any``.
    candidates: list[object] = [
        *(schema.properties or {}).values(),
        schema.items,
        schema.additional_properties,
    ]
    for name in ("all_of", "any_of", "one_of"):
        candidates.extend(getattr(schema, name) or ())
    yield from (child for child in candidates if isinstance(child, Schema | Reference))


def _bound_json_values(schema: Schema) -> None:
    """Replace each ``Any`` directly under ``schema`` by a ``JsonValue`` reference, in place.

    Not recursive: :func:`_request_schemas` already lists every nested schema of a request.
    """
    for name in ("items", "additional_properties"):
        if _is_any(getattr(schema, name)):
            setattr(schema, name, _as_json_value(getattr(schema, name)))
    if schema.type == OpenAPIType.OBJECT and schema.additional_properties is None:
        # An open object (a model that ignores extras): the extras still pass the body guard.
        schema.additional_properties = Reference(ref=JSON_VALUE_REF)
    if schema.properties:
        for key, child in schema.properties.items():
            if _is_any(child):
                schema.properties[key] = _as_json_value(child)  # type: ignore[arg-type]
    for name in ("all_of", "any_of", "one_of"):
        members = getattr(schema, name)
        if members:
            setattr(schema, name, [_as_json_value(m) if _is_any(m) else m for m in members])


def _request_schemas(openapi: OpenAPI) -> list[Schema]:
    """Every schema a request body uses: inline ones and the components they reach."""
    components = openapi.components.schemas if openapi.components and openapi.components.schemas else {}
    found: list[Schema] = []
    seen: set[str] = set()
    stack: list[Schema | Reference] = []
    for path_item in (openapi.paths or {}).values():
        for method in _METHODS:
            operation = getattr(path_item, method, None)
            body = getattr(operation, "request_body", None)
            for media in (getattr(body, "content", None) or {}).values():
                if media.schema is not None:
                    stack.append(media.schema)
    while stack:
        item = stack.pop()
        if isinstance(item, Reference):
            name = item.ref.rsplit("/", 1)[-1]
            if name in seen or name not in components:
                continue
            seen.add(name)
            item = components[name]
        found.append(item)
        stack.extend(_children(item))
    return found


def finish_openapi(openapi: OpenAPI) -> OpenAPI:
    """Apply the rules above to ``openapi`` in place (and return it)."""
    models = _models(BaseModel)
    components = openapi.components.schemas if openapi.components else None
    for name, schema in (components or {}).items():
        _finish_component(name, schema, models)
    request_schemas = _request_schemas(openapi)
    for schema in request_schemas:
        _bound_json_values(schema)
    if components is not None and request_schemas:
        components[JSON_VALUE] = _json_value_schema()
    for path_item in (openapi.paths or {}).values():
        for method in _METHODS:
            operation = getattr(path_item, method, None)
            if operation is not None:
                _finish_operation(operation)
    return openapi
