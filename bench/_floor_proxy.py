"""The least any petit could do for GetLatestTelemetry, as a yardstick for bench_telemetry_overhead.py.

One Litestar route on the same uvicorn, forwarding to ThingsBoard through RestClientCE on a thread (as
petit's adapter does) and returning its JSON: no authentication, no ownership check, no mapping, no database.
What this costs over the direct read is the price of being an HTTP service in front of ThingsBoard in Python
on this machine; petit's own overhead is what it costs beyond that.

    FLOOR_TB_URL=http://127.0.0.1:8080 uv run uvicorn --factory --app-dir bench _floor_proxy:create_app
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from litestar import Litestar, get
from litestar.params import FromPath, FromQuery  # noqa: TC002 - Litestar reads the annotations at runtime
from tb_rest_client.models.models_ce import DeviceId
from tb_rest_client.rest_client_ce import RestClientCE


def create_app() -> Litestar:
    rest = RestClientCE(os.environ["FLOOR_TB_URL"])
    rest.login(
        os.environ.get("FLOOR_TB_USERNAME", "tenant@thingsboard.org"),
        os.environ.get("FLOOR_TB_PASSWORD", "tenant"),
    )

    @get("/latest/{device_id:str}")
    async def latest(device_id: FromPath[str], keys: FromQuery[str]) -> Any:
        return await asyncio.to_thread(
            rest.get_latest_timeseries, DeviceId(device_id, "DEVICE"), keys=keys, use_strict_data_types=True
        )

    @get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([latest, live])
