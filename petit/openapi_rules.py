"""Rules that make the generated OpenAPI document say exactly what the server does.

Litestar builds the document from the handlers; a few facts live elsewhere and are added here, in one pass,
so the served ``/schema/openapi.json`` and ``porto_contract/openapi.json`` state them on every operation:

* request and response models that refuse unknown fields (pydantic ``extra="forbid"``) say
  ``additionalProperties: false``;
* every operation that needs a bearer token can answer 503 ``redis_unavailable`` (token revocation is checked
  in Redis, and petit refuses rather than skip the check);
* every operation with parameters can answer 422 ``validation_failed`` (the query guard and the parameter
  decoder), and one with path parameters 404;
* Litestar's own 400 "Validation Exception" entry is dropped: petit never answers with that shape (validation
  failures are 422 problems, see :mod:`petit.errors`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference
from pydantic import BaseModel

from petit.errors import PROBLEM_MEDIA_TYPE, CacheUnavailableError, ValidationFailedError

if TYPE_CHECKING:
    from litestar.openapi.spec import OpenAPI, Operation, Schema

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


def _close_schema(name: str, schema: Schema, models: dict[str, type[BaseModel]]) -> None:
    model = models.get(name)
    if model is not None and model.model_config.get("extra") == "forbid" and schema.type is not None:
        schema.additional_properties = False


def finish_openapi(openapi: OpenAPI) -> OpenAPI:
    """Apply the rules above to ``openapi`` in place (and return it)."""
    models = _models(BaseModel)
    components = openapi.components.schemas if openapi.components else None
    for name, schema in (components or {}).items():
        _close_schema(name, schema, models)
    for path_item in (openapi.paths or {}).values():
        for method in _METHODS:
            operation = getattr(path_item, method, None)
            if operation is not None:
                _finish_operation(operation)
    return openapi
