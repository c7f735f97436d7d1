from __future__ import annotations

from petit.errors import PetitError


class PairingNotFoundError(PetitError):
    # Also for someone else's pairing: a 403 would confirm the id exists.
    code = "pairing_not_found"
    status = 404
    title = "No such pairing"


class PairingClosedError(PetitError):
    code = "pairing_closed"
    status = 409
    title = "This pairing has already finished"


class ClaimCodeInvalidError(PetitError):
    code = "invalid_claim_code"
    status = 400
    title = "The claim code is wrong"


class ClaimCodeUsedError(PetitError):
    code = "claim_code_used"
    status = 409
    title = "The claim code was already used; create a new one"


class ClaimCodeExpiredError(PetitError):
    code = "claim_code_expired"
    status = 410
    title = "The claim code has expired; create a new one"


class ClaimDeviceNotFoundError(PetitError):
    code = "claim_device_not_found"
    status = 404
    title = "No device with this name is waiting to be claimed"


class ClaimRejectedError(PetitError):
    code = "claim_rejected"
    status = 400
    title = "The device has not asked to be claimed with this code (or its request expired)"
    # The code is spent even though the claim failed: a code may be tried against the platform only once.
    keeps_changes = True


class DeviceAlreadyOwnedError(PetitError):
    code = "device_already_owned"
    status = 409
    title = "This device already has an owner; its owner must release it first"


class ClaimInProgressError(PetitError):
    code = "claim_in_progress"
    status = 409
    title = "Someone is claiming this device right now"
