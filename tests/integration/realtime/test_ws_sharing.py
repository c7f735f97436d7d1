"""Streams follow sharing and transfers: a new share appears on an open stream, a revoked one or a completed
transfer leaves it within a second, with the reason first (``shareGranted`` / ``shareRevoked``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from petit.app import create_app
from petit.realtime.config import StreamLimits
from tests.integration.realtime.conftest import authed_socket, new_account, recv_until, run_server

if TYPE_CHECKING:
    from petit.settings import Settings

pytestmark = pytest.mark.integration


async def test_share_accept_revoke_and_transfer_reach_open_streams(tb_settings: Settings) -> None:
    app = create_app(tb_settings, stream_limits=StreamLimits(recheck_interval_s=0.2, auth_timeout_s=1.0))
    async with run_server(app) as server:
        owner, member, heir = [await new_account(server) for _ in range(3)]

        def client(account: object) -> httpx.AsyncClient:
            token = account.access  # type: ignore[attr-defined]
            return httpx.AsyncClient(
                base_url=server.http_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
            )

        async with client(owner) as o, client(member) as m, client(heir) as h:
            device_id = (await o.post("/devices", json={"name": "kitchen lamp"})).json()["id"]
            async with authed_socket(server, member.access) as ws:
                invited = await o.post(
                    f"/devices/{device_id}/shares", json={"email": member.email, "role": "viewer"}
                )
                assert invited.status_code == 201, invited.text
                assert (await m.post(f"/shares/{invited.json()['id']}/accept")).status_code == 200
                granted = await recv_until(ws, "shareGranted", within=2.0)
                assert granted["data"] == {"deviceId": device_id, "role": "viewer"}

                revoked = await o.delete(f"/devices/{device_id}/shares/{invited.json()['id']}")
                assert revoked.status_code == 204, revoked.text
                why = await recv_until(ws, "shareRevoked", within=1.0)
                gone = await recv_until(ws, "deviceRevoked", within=1.0)
            assert why["data"] == {"deviceId": device_id, "reason": "revoke"}
            assert gone["data"]["deviceId"] == device_id

            async with authed_socket(server, owner.access) as old, authed_socket(server, heir.access) as new:
                offer = await o.post(f"/devices/{device_id}/transfer", json={"email": heir.email})
                assert offer.status_code == 202, offer.text
                accepted = await h.post(f"/transfers/{offer.json()['id']}/accept", json={})
                assert accepted.status_code == 200, accepted.text
                lost = await recv_until(old, "shareRevoked", within=1.0)
                await recv_until(old, "deviceRevoked", within=1.0)
                won = await recv_until(new, "shareGranted", within=2.0)
            assert lost["data"] == {"deviceId": device_id, "reason": "transferred"}
            assert won["data"] == {"deviceId": device_id, "role": "owner"}
            assert (await o.get(f"/devices/{device_id}")).status_code == 404
            assert (await h.get(f"/devices/{device_id}")).json()["role"] == "owner"
