"""The machine's HTTP port (seed 004 gateway: claim, ingest) over httpx, with the slow-server fault."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx

from firmware.core import status as st

if TYPE_CHECKING:
    from firmware.sim.world import World


class HttpxWeb:
    def __init__(self, world: World, timeout_s: float = 5.0) -> None:
        self.world = world
        self.timeout_s = timeout_s

    def post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        delay = self.world.server_delay_s
        if delay >= self.timeout_s:
            time.sleep(self.timeout_s)
            raise st.MqttFailure(st.SERVER_REQUEST_TIMEOUT, "no answer in time")
        time.sleep(delay)
        try:
            response = httpx.post(url, json=body, headers=headers, timeout=self.timeout_s - delay)
        except httpx.TimeoutException:
            raise st.MqttFailure(st.SERVER_REQUEST_TIMEOUT, "no answer in time") from None
        except httpx.HTTPError as error:
            raise st.MqttFailure(st.SERVER_ERROR, type(error).__name__) from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return response.status_code, answer if isinstance(answer, dict) else {}
