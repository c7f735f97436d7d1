from __future__ import annotations

from petit.errors import PetitError


class ProvisioningDisabledError(PetitError):
    code = "provisioning_disabled"
    status = 404
    title = "Self-provisioning is not enabled on this server"


class InvalidMacAddressError(PetitError):
    code = "invalid_mac_address"
    status = 422
    title = "The MAC address is not 12 hexadecimal digits"


class InvalidProvisionCredentialsError(PetitError):
    # One answer for a wrong key and a wrong secret, so neither can be guessed on its own.
    code = "invalid_provision_credentials"
    status = 401
    title = "The provision key or secret is wrong"


class ReprovisionNotAllowedError(PetitError):
    # Knowing a MAC must never earn a token: a registered MAC needs its device secret or the owner's approval.
    code = "reprovision_not_allowed"
    status = 403
    title = "This device is already registered; present its device secret or ask its owner to allow it"


class NotProvisionedDeviceError(PetitError):
    code = "not_a_provisioned_device"
    status = 409
    title = "This device did not register itself by MAC, so there is nothing to re-provision"
