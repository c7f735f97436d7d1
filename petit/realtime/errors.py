from __future__ import annotations

from petit.errors import PetitError


class TooManyStreamsError(PetitError):
    code = "too_many_streams"
    status = 429
    title = "Too many open streams for this account"


class StreamUnavailableError(PetitError):
    code = "stream_unavailable"
    status = 503
    title = "Streaming is not available"
