from __future__ import annotations

from petit.errors import PetitError


class ShareWithSelfError(PetitError):
    code = "share_with_self"
    status = 422
    title = "You own this device; share it with someone else"


class ShareExistsError(PetitError):
    code = "share_exists"
    status = 409
    title = "This e-mail already has access to the device or an open invitation; change its role instead"


class ShareLimitReachedError(PetitError):
    code = "share_limit_reached"
    status = 409
    title = "This device already has as many users as allowed"


class ShareNotFoundError(PetitError):
    # Also for someone else's invitation, and one the owner revoked: which one it was is not the caller's.
    code = "share_not_found"
    status = 404
    title = "No such share or invitation"


class ShareAlreadyAcceptedError(PetitError):
    code = "share_already_accepted"
    status = 409
    title = "This invitation was already accepted"


class ShareExpiredError(PetitError):
    code = "share_expired"
    status = 410
    title = "This invitation has expired; ask the owner for a new one"


class TransferToSelfError(PetitError):
    code = "transfer_to_self"
    status = 422
    title = "You already own this device"


class TransferNotFoundError(PetitError):
    # Also for an offer addressed to someone else, or cancelled: the caller learns nothing about it.
    code = "transfer_not_found"
    status = 404
    title = "No such transfer offer"


class TransferExpiredError(PetitError):
    code = "transfer_expired"
    status = 410
    title = "This transfer offer has expired; ask the owner to offer it again"
