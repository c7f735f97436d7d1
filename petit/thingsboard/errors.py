"""Typed failures of the ThingsBoard adapter.

Feature code catches these, never ``tb_rest_client``'s ``ApiException`` or urllib3's errors: the adapter
translates every upstream failure into one of the classes below (``mapping.error_from_tb``).
"""

from __future__ import annotations


class ThingsBoardError(Exception):
    """Base class: ThingsBoard could not do what was asked."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: HTTP status ThingsBoard answered with, when it answered at all.
        self.status = status


class ThingsBoardUnavailableError(ThingsBoardError):
    """ThingsBoard is down, unreachable, too slow, or answered with a server error."""

    def __init__(self, message: str, *, status: int | None = None, request_sent: bool = True) -> None:
        super().__init__(message, status=status)
        #: False when the request never left (connection refused): then even a write is safe to retry.
        self.request_sent = request_sent


class ThingsBoardAuthError(ThingsBoardError):
    """Our credentials were refused (401)."""


class ThingsBoardForbiddenError(ThingsBoardAuthError):
    """The principal may not touch that entity (403), e.g. a customer token on another customer's device."""


class ThingsBoardNotFoundError(ThingsBoardError):
    """The entity does not exist (404)."""


class ThingsBoardConflictError(ThingsBoardError):
    """The entity clashes with existing state: duplicate name or token, already claimed (409, some 400s)."""


class ThingsBoardClaimRejectedError(ThingsBoardConflictError):
    """A claim was refused: no pending claim, wrong secret, or expired (TB's ``FAILURE``)."""


class ThingsBoardRateLimitedError(ThingsBoardError):
    """ThingsBoard throttled us (429) and retries did not get through."""

    def __init__(self, message: str, *, status: int | None = 429, retry_after_s: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class ThingsBoardBadRequestError(ThingsBoardError):
    """ThingsBoard rejected the request's content (400, 413)."""


class ThingsBoardTimeoutError(ThingsBoardError):
    """A device did not answer a command in time: it is offline or never replied (RPC 504/408)."""


class ThingsBoardProtocolError(ThingsBoardError):
    """ThingsBoard answered with something we cannot interpret (unexpected shape, non-JSON RPC reply)."""


__all__ = [
    "ThingsBoardAuthError",
    "ThingsBoardBadRequestError",
    "ThingsBoardClaimRejectedError",
    "ThingsBoardConflictError",
    "ThingsBoardError",
    "ThingsBoardForbiddenError",
    "ThingsBoardNotFoundError",
    "ThingsBoardProtocolError",
    "ThingsBoardRateLimitedError",
    "ThingsBoardTimeoutError",
    "ThingsBoardUnavailableError",
]
