"""Base class for API schemas: camelCase on the wire, unknown fields refused."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

#: The OpenAPI component every free-form JSON value in a request refers to (built by petit.openapi_rules):
#: any JSON whose numbers fit the signed 64-bit range the body guard enforces.
JSON_VALUE_REF = "#/components/schemas/JsonValue"


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=False
    )
