"""Revocation checks without a Redis round trip, and logout still cutting every process within a second.

Two petit instances (two uvicorn servers, two runtimes) share PostgreSQL and Redis, as two workers do.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from petit.app import create_app
from petit.auth.revocations import RevocationView
from petit.realtime.config import StreamLimits
from petit.runtime import runtime_of
from tests.integration.realtime.conftest import new_account, recv_json, run_server
from tests.redis_tools import kill_pubsub_connections, slowest_stop

if TYPE_CHECKING:
    from litestar import Litestar
    from websockets.asyncio.client import ClientConnection

    from petit.lib.security import AccessClaims
    from petit.settings import Settings

pytestmark = pytest.mark.integration

#: The promise: a logout answered by one process is honoured by every process within this.
CUTOFF_S = 1.0


async def test_checks_are_local_and_logout_cuts_the_other_instance_mid_burst_and_mid_stream(
    settings: Settings,
) -> None:
    app_a = create_app(settings)
    app_b = create_app(settings, stream_limits=StreamLimits(recheck_interval_s=0.2))
    async with run_server(app_a) as a, run_server(app_b) as b:
        account = await new_account(a, "revoke")
        headers = {"Authorization": f"Bearer {account.access}"}
        verifier_b = runtime_of(app_b).token_verifier
        assert verifier_b.revocations is not None
        assert await verifier_b.revocations.wait_current(5)
        async with (
            httpx.AsyncClient(base_url=b.http_url, timeout=10) as on_b,
            connect(b.ws_url, open_timeout=5) as ws,
        ):
            await ws.send(json.dumps({"type": "authenticate", "token": account.access}))
            assert (await recv_json(ws))["type"] == "authenticated"
            remote_before = verifier_b.remote_checks
            assert (await on_b.get("/users/me", headers=headers)).status_code == 200
            assert verifier_b.remote_checks == remote_before, "the check went to Redis"

            # Mid-burst: requests on B keep going while A logs the token out.
            results: list[tuple[float, int]] = []
            stop = asyncio.Event()

            async def burst() -> None:
                while not stop.is_set():
                    started = time.monotonic()
                    response = await on_b.get("/users/me", headers=headers)
                    results.append((started, response.status_code))

            burst_task = asyncio.create_task(burst())
            await asyncio.sleep(0.2)
            async with httpx.AsyncClient(base_url=a.http_url, timeout=10) as on_a:
                response = await on_a.post("/auth/logout", headers=headers)
                assert response.status_code == 204
            logged_out = time.monotonic()

            # Mid-stream: B's socket is closed as revoked.
            with pytest.raises(ConnectionClosed) as closed:
                await _drain(ws, CUTOFF_S + 1)
            closed_after = time.monotonic() - logged_out
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4001
            assert closed_after < CUTOFF_S, closed_after

            await asyncio.sleep(CUTOFF_S + 0.2)
            stop.set()
            await burst_task
        before = [code for started, code in results if started < logged_out - 0.05]
        after = [code for started, code in results if started > logged_out + CUTOFF_S]
        assert before
        assert set(before) == {200}
        assert after
        assert set(after) == {401}, after
        assert verifier_b.remote_checks == remote_before, "B asked Redis while its view was current"


async def test_a_view_that_is_not_current_fails_closed_to_redis(
    settings: Settings, redis_client: Redis, redis_prefix: str
) -> None:
    app = create_app(settings)
    async with run_server(app) as server:
        account = await new_account(server, "stale")
        headers = {"Authorization": f"Bearer {account.access}"}
        verifier = runtime_of(app).token_verifier
        view = verifier.revocations
        assert view is not None
        assert await view.wait_current(5)
        # The subscription dies (as when Redis or the link to it does): the view stops vouching at once.
        await view.aclose()
        await asyncio.sleep(0.8)
        assert not view.current()
        # A marker set behind the view's back (no message) is still honoured: the check goes to Redis.
        family = (await _claims(app, account.access)).family_id
        await redis_client.set(f"{redis_prefix}auth:revoked:family:{family}", "1", px=60_000)
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
            remote = verifier.remote_checks
            response = await client.get("/users/me", headers=headers)
            assert response.status_code == 401
            assert verifier.remote_checks == remote + 1


async def test_reconnect_reloads_markers_set_while_away(
    settings: Settings, redis_client: Redis, redis_url: str, redis_prefix: str
) -> None:
    name = f"petit-test-view-{uuid.uuid4().hex[:12]}"
    own = Redis.from_url(redis_url, client_name=name)
    view = RevocationView(own, prefix=redis_prefix)
    gone = uuid.uuid4().hex
    await redis_client.set(f"{redis_prefix}auth:revoked:jti:{gone}", "1", px=60_000)
    await view.start()
    try:
        assert await view.wait_current(5)
        assert view.revoked(gone, "x")
        assert not view.revoked("other", "x")
        # Published markers arrive without a reload.
        family = str(uuid.uuid4())
        await redis_client.publish(
            f"{redis_prefix}auth:revocations", json.dumps({"kind": "family", "id": family, "ttl": 30})
        )
        deadline = time.monotonic() + 2
        while not view.revoked("y", family):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        loads = view.loads
        # Kill the subscription's connection: the view reconnects and loads again.
        assert await kill_pubsub_connections(redis_client, name) == 1
        deadline = time.monotonic() + 5
        while view.loads == loads or not view.current():
            assert time.monotonic() < deadline, "no reload after the connection dropped"
            await asyncio.sleep(0.02)
    finally:
        await view.aclose()
        await own.aclose()


@pytest.mark.parametrize("after_s", [0.0, 0.001, 0.005])
async def test_the_view_stops_at_once_even_while_connecting(
    redis_client: Redis, redis_prefix: str, after_s: float
) -> None:
    # Stopped right after starting, many times over: the teardown hangs CI saw (tests/redis_tools.py).
    view = functools.partial(RevocationView, redis_client, prefix=redis_prefix)
    assert await slowest_stop(view, after_s=after_s) < 1.0


async def _drain(ws: ClientConnection, within: float) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), within)


async def _claims(app: Litestar, token: str) -> AccessClaims:
    return runtime_of(app).token_codec.decode(token, now=runtime_of(app).clock.now())
