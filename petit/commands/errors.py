from __future__ import annotations

from petit.errors import PetitError


class DeviceTimeoutError(PetitError):
    code = "device_timeout"
    status = 504
    title = "The device did not answer in time; it may be offline"


class CommandTooLargeError(PetitError):
    code = "command_too_large"
    status = 422
    title = "The command's params are larger than a device accepts"


class InvalidCommandTimeoutError(PetitError):
    code = "invalid_command_timeout"
    status = 422
    title = "timeoutMs is longer than petit waits for a device"


class InvalidSettingsError(PetitError):
    code = "invalid_settings"
    status = 422
    title = "Settings keys must be 1-64 of A-Z a-z 0-9 _ . - : and values JSON"


class SettingsTooLargeError(PetitError):
    code = "settings_too_large"
    status = 422
    title = "The device's settings would be larger than allowed"
