import enum
import uuid
from typing import Any, Self

from pydantic import ConfigDict, Field, model_validator

from petit.lib.schema import JSON_VALUE_REF, CamelModel

#: Function (RPC method) names: what a firmware can dispatch on without escaping.
FUNCTION_PATTERN = r"^[A-Za-z][A-Za-z0-9_.:\-]{0,63}$"
#: Settings keys: shared attribute names a firmware can look up without escaping.
SETTINGS_KEY_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
MAX_SETTINGS_KEYS = 100
DEFAULT_MAX_TIMEOUT_MS = 60_000


class CommandMode(enum.StrEnum):
    #: Fire and forget: petit answers 202 once ThingsBoard has handed the call to the device.
    ONEWAY = "oneway"
    #: Wait for the device's reply, at most timeoutMs.
    TWOWAY = "twoway"


class CommandCreate(CamelModel):
    model_config = ConfigDict(
        json_schema_extra={
            # Exactly one of the two names, stated so a client (or a fuzzer) following the document is not
            # refused by the validator below.
            "oneOf": [
                {
                    "required": ["function"],
                    "properties": {"function": {"type": "string"}, "method": {"type": "null"}},
                },
                {
                    "required": ["method"],
                    "properties": {"method": {"type": "string"}, "function": {"type": "null"}},
                },
            ]
        }
    )

    # The pattern twice: pydantic checks ``pattern``; Litestar drops it from a nullable field's schema, so the
    # document gets it from json_schema_extra.
    function: str | None = Field(
        default=None,
        pattern=FUNCTION_PATTERN,
        json_schema_extra={"pattern": FUNCTION_PATTERN},
        description="Name of the device function to call",
    )
    method: str | None = Field(
        default=None,
        pattern=FUNCTION_PATTERN,
        json_schema_extra={"pattern": FUNCTION_PATTERN},
        description="Alias of function",
    )
    params: Any = Field(default=None, description="Any JSON value the function takes (size-limited)")
    mode: CommandMode = CommandMode.TWOWAY
    timeout_ms: int = Field(
        default=5_000,
        ge=100,
        # The limit is the deployment's (PETIT_COMMANDS__MAX_TIMEOUT_MS); the document states the default.
        json_schema_extra={"maximum": DEFAULT_MAX_TIMEOUT_MS},
        description=f"How long to wait for the device (at most {DEFAULT_MAX_TIMEOUT_MS} ms by default)",
    )

    @model_validator(mode="after")
    def _one_name(self) -> Self:
        if (self.function is None) == (self.method is None):
            raise ValueError("give exactly one of function or method")
        return self

    @property
    def name(self) -> str:
        name = self.function or self.method
        assert name is not None  # the validator guarantees one of them
        return name


class CommandResultRead(CamelModel):
    device_id: uuid.UUID
    function: str
    mode: CommandMode
    response: Any = Field(default=None, description="The device's reply (two-way only)")


# The map is called "values", not "settings": Litestar reports a body field that shares a dependency's name
# ("settings" is app-wide) as a server error instead of a validation failure.


def _settings_map(description: str, *, nulls: bool) -> Any:
    extra: dict[str, Any] = {
        "propertyNames": {"pattern": SETTINGS_KEY_PATTERN},
        "maxProperties": MAX_SETTINGS_KEYS,
    }
    if not nulls:
        # A complete replacement has no use for null (leaving a key out removes it), and refuses it.
        extra["additionalProperties"] = {"allOf": [{"$ref": JSON_VALUE_REF}], "not": {"type": "null"}}
    return Field(description=description, json_schema_extra=extra)


class DeviceSettingsRead(CamelModel):
    device_id: uuid.UUID
    values: dict[str, Any] = Field(description="Desired settings the device receives and keeps in sync")


class DeviceSettingsReplace(CamelModel):
    values: dict[str, Any] = _settings_map(
        "The complete new settings; keys left out are removed", nulls=False
    )


class DeviceSettingsUpdate(CamelModel):
    values: dict[str, Any] = _settings_map(
        "JSON merge patch: listed keys are set, a null value removes the key, others stay", nulls=True
    )
