"""Streaming limits. Defaults suit production; tests shrink them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamLimits:
    #: A socket that has not authenticated by then is closed (ThingsBoard uses the same 10 s).
    auth_timeout_s: float = 10.0
    #: Largest client frame accepted; anything bigger closes the socket with 1009.
    max_message_bytes: int = 4096
    #: Open streams (WebSocket and SSE) per user in one petit process.
    max_streams_per_user: int = 10
    #: Client frames allowed per second (token bucket, burst of the same size); a flood closes with 1008.
    max_client_messages_per_s: float = 20.0
    #: Control frames (errors, warnings, revocations) waiting for a slow client before it is dropped.
    max_pending_control: int = 64
    #: How often each stream re-checks its token (revocation by logout or password change, expiry).
    recheck_interval_s: float = 0.5
    #: After expiry, how long a socket may stay open waiting for a new ``authenticate``.
    reauth_grace_s: float = 60.0
    #: Events kept per device for resume.
    resume_window: int = 500
    #: How long journaled events are kept for resume.
    resume_ttl_s: float = 3600.0
    #: Keep-alive comment interval on Server-Sent Events (WebSockets use the server's ping frames).
    sse_keepalive_s: float = 15.0
