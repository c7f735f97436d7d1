import enum
import uuid
from typing import Any, Self

from pydantic import Field, model_validator

from petit.lib.schema import CamelModel

#: Function (RPC method) names: what a firmware can dispatch on without escaping.
FUNCTION_PATTERN = r"^[A-Za-z][A-Za-z0-9_.:\-]{0,63}$"


class CommandMode(enum.StrEnum):
    #: Fire and forget: petit answers 202 once ThingsBoard has handed the call to the device.
    ONEWAY = "oneway"
    #: Wait for the device's reply, at most timeoutMs.
    TWOWAY = "twoway"


class CommandCreate(CamelModel):
    function: str | None = Field(
        default=None, pattern=FUNCTION_PATTERN, description="Name of the device function to call"
    )
    method: str | None = Field(default=None, pattern=FUNCTION_PATTERN, description="Alias of function")
    params: Any = Field(default=None, description="Any JSON value the function takes (size-limited)")
    mode: CommandMode = CommandMode.TWOWAY
    timeout_ms: int = Field(default=5_000, ge=100, description="How long to wait for the device")

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


class DeviceSettingsRead(CamelModel):
    device_id: uuid.UUID
    values: dict[str, Any] = Field(description="Desired settings the device receives and keeps in sync")


class DeviceSettingsReplace(CamelModel):
    values: dict[str, Any] = Field(description="The complete new settings; keys left out are removed")


class DeviceSettingsUpdate(CamelModel):
    values: dict[str, Any] = Field(
        description="JSON merge patch: listed keys are set, a null value removes the key, others stay"
    )
