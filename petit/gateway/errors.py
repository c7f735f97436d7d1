from __future__ import annotations

from petit.errors import PetitError


class InvalidProvisioningTokenError(PetitError):
    code = "invalid_provisioning_token"
    status = 401
    title = "The provisioning token is not valid"


class ProvisioningTokenExpiredError(PetitError):
    code = "provisioning_token_expired"
    status = 410
    title = "The provisioning token has expired; ask the owner for a new one"


class ProvisioningTokenUsedError(PetitError):
    code = "provisioning_token_used"
    status = 409
    title = "The provisioning token was already used"


class InvalidApiKeyError(PetitError):
    code = "invalid_api_key"
    status = 401
    title = "Missing or invalid API key"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="petit-gateway"'})


class InvalidTelemetryError(PetitError):
    code = "invalid_telemetry"
    status = 422
    title = "Telemetry must be a non-empty JSON object of named values"


class InvalidTokenLifetimeError(PetitError):
    code = "invalid_token_lifetime"
    status = 422
    title = "lifetime_minutes is out of range, or contradicts never_expires"
