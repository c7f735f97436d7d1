"""Errors the REST layer turns into ThingsBoard's responses."""

from __future__ import annotations

import time


class TbError(Exception):
    """A ThingsBoard error answered with ``{status, message, errorCode, timestamp}``."""

    def __init__(self, status: int, message: str, error_code: int) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code

    def body(self) -> dict[str, object]:
        return {
            "status": self.status,
            "message": self.message,
            "errorCode": self.error_code,
            "timestamp": int(time.time() * 1000),
        }


class RawError(Exception):
    """An error TB answers with a non-TB-JSON body: plain text, a bare JSON string, or nothing."""

    def __init__(self, status: int, body: bytes = b"", media_type: str = "text/plain") -> None:
        super().__init__(f"{status} {body!r}")
        self.status = status
        self.raw = body
        self.media_type = media_type


def bad_request(message: str) -> TbError:
    return TbError(400, message, 31)


def not_found(message: str = "Requested item wasn't found!") -> TbError:
    return TbError(404, message, 32)


def entity_not_found(type_name: str, entity_id: str) -> TbError:
    return TbError(404, f"{type_name} with id [{entity_id}] is not found", 32)


def forbidden() -> TbError:
    return TbError(403, "You don't have permission to perform this operation!", 20)


def unauthorized(message: str = "Authentication failed", code: int = 10) -> TbError:
    return TbError(401, message, code)
