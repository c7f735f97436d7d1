"""Real petit servers (uvicorn on OS ports) for WebSocket and SSE tests, plus account and device helpers."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from petit.runtime import runtime_of
from petit.serving import websocket_options
from petit.settings import ServerSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from litestar import Litestar

    from petit.thingsboard.port import ThingsBoardPort


@dataclass
class Server:
    app: Litestar
    http_url: str
    ws_url: str

    @property
    def thingsboard(self) -> ThingsBoardPort:
        port: ThingsBoardPort = runtime_of(self.app).thingsboard
        return port


@dataclass
class Account:
    email: str
    password: str
    access: str
    refresh: str
    user_id: uuid.UUID


#: How long a test waits for a frame that should come: generous, because a loaded CI box is slow, and
#: bounded, so a missing frame still fails the test.
DEFAULT_WAIT_S = 15.0


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def run_server(app: Litestar) -> AsyncIterator[Server]:
    # WebSockets served as `petit run` serves them (implementation, compression).
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **websocket_options(ServerSettings()))
    config.load()
    server = uvicorn.Server(config)
    # startup()/shutdown() rather than serve(): serve() would take over the process's signal handlers.
    server.lifespan = config.lifespan_class(config)
    sock = _free_socket()
    await server.startup(sockets=[sock])
    port = sock.getsockname()[1]
    try:
        yield Server(app, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws")
    finally:
        await asyncio.wait_for(server.shutdown(), 15)
        sock.close()


@pytest.fixture
def serve_real() -> Callable[[Litestar], Any]:
    return run_server


async def new_account(server: Server, tag: str = "rt") -> Account:
    email = f"{tag}-{uuid.uuid4().hex[:10]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
        signed = await client.post("/auth/signup", json={"email": email, "password": password})
        assert signed.status_code == 201, signed.text
        logged = await client.post("/auth/login", json={"email": email, "password": password})
        assert logged.status_code == 200, logged.text
        tokens = logged.json()
    user_id = uuid.UUID(signed.json()["id"])
    return Account(email, password, tokens["accessToken"], tokens["refreshToken"], user_id)


async def login_again(server: Server, account: Account) -> str:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
        logged = await client.post("/auth/login", json={"email": account.email, "password": account.password})
        assert logged.status_code == 200, logged.text
        token: str = logged.json()["accessToken"]
        return token


async def logout(server: Server, token: str) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
        response = await client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 204, response.text


async def give_device(server: Server, account: Account) -> tuple[uuid.UUID, str]:
    """A ThingsBoard device assigned to the account's customer: ``(device id, MQTT access token)``."""
    tb = server.thingsboard
    owner = await tb.ensure_owner(account.email)
    token = uuid.uuid4().hex[:20]
    name = f"rt-{uuid.uuid4().hex[:10]}"
    record = await tb.create_device(name, owner_id=owner.owner_id, access_token=token)
    return record.id, token


async def recv_json(ws: ClientConnection, within: float = DEFAULT_WAIT_S) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), within)
    message = json.loads(raw)
    assert isinstance(message, dict)
    return message


async def recv_until(ws: ClientConnection, kind: str, within: float = DEFAULT_WAIT_S) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no {kind} message within {within}s"
        message = await recv_json(ws, remaining)
        if message.get("type") == kind:
            return message


async def close_code(ws: ClientConnection, within: float = DEFAULT_WAIT_S) -> int | None:
    """Read (and discard) until the server closes; its close code."""
    deadline = asyncio.get_running_loop().time() + within
    try:
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"not closed within {within}s"
            await asyncio.wait_for(ws.recv(), remaining)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


async def collect(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every message that arrives within ``seconds``."""
    found: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            found.append(await recv_json(ws, remaining))
        except TimeoutError:
            break
    return found


@asynccontextmanager
async def authed_socket(server: Server, token: str, **extra: Any) -> AsyncIterator[ClientConnection]:
    async with connect(server.ws_url, open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "authenticate", "token": token, **extra}))
        assert await recv_json(ws) == {"type": "authenticated", "message": "Authentication successful."}
        yield ws


__all__ = [
    "Account",
    "Server",
    "authed_socket",
    "close_code",
    "collect",
    "give_device",
    "login_again",
    "logout",
    "new_account",
    "recv_json",
    "recv_until",
    "run_server",
]
