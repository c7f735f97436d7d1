"""petit's live device stream (`/ws`, porto_contract/schemas/ws): authenticate, then read frames."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from porto_contract.client.errors import ProblemError

if TYPE_CHECKING:
    from collections.abc import Iterator


def ws_url(base_url: str) -> str:
    scheme, _, rest = base_url.rstrip("/").partition("://")
    return ("wss" if scheme == "https" else "ws") + "://" + rest + "/ws"


def follow(
    base_url: str,
    access_token: str,
    *,
    devices: list[str] | None = None,
    keys: list[str] | None = None,
    timeout_s: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield every frame after ``authenticated`` until the server closes or ``timeout_s`` passes."""
    hello: dict[str, Any] = {"type": "authenticate", "token": access_token}
    if devices:
        hello["devices"] = devices
    if keys:
        hello["keys"] = keys
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with connect(ws_url(base_url), open_timeout=10) as socket:
        socket.send(json.dumps(hello))
        first = json.loads(socket.recv(timeout=10))
        if first.get("type") != "authenticated":
            raise ProblemError(401, "stream_refused", str(first.get("message") or first), body=first)
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            try:
                frame = socket.recv(timeout=remaining)
            except TimeoutError:
                return
            except ConnectionClosed:
                return
            yield json.loads(frame)
