from __future__ import annotations

from petit.errors import PetitError


class DeviceNotFoundError(PetitError):
    # Also for someone else's device: answering 403 would confirm that the id exists.
    code = "device_not_found"
    status = 404
    title = "No such device"


class DeviceNameTakenError(PetitError):
    code = "device_name_taken"
    status = 409
    title = "You already have a device with this name"


class IdempotencyKeyReusedError(PetitError):
    code = "idempotency_key_reused"
    status = 409
    title = "This Idempotency-Key was already used with a different request body"


class IdempotencyKeyInFlightError(PetitError):
    code = "idempotency_key_in_flight"
    status = 409
    title = "A request with this Idempotency-Key is still being processed; retry later"


class DeviceStepInterruptedError(PetitError):
    code = "device_step_interrupted"
    status = 503
    title = "The request took too long and its device step was undone; retry"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class DeviceRoleForbiddenError(PetitError):
    # 403, not 404: a member or viewer already knows the device exists.
    code = "device_role_forbidden"
    status = 403
    title = "Your role on this device does not allow this"
