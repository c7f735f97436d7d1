"""The emulator's own control endpoints (``/__emulator/**``): fault injection from other processes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask

from thingsboard_emulator.core.errors import bad_request
from thingsboard_emulator.faults import CONTROL_PREFIX
from thingsboard_emulator.rest.common import empty, json_object, json_response

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from thingsboard_emulator.runner import Emulator


def handlers(emu: Emulator) -> list[HTTPRouteHandler]:
    @post(CONTROL_PREFIX + "/faults")
    async def set_fault(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = await json_object(request)
        try:
            emu.faults.validate_json(body)
        except (TypeError, ValueError) as exc:
            raise bad_request(str(exc)) from exc
        if body.get("mode") != "unavailable":
            emu.faults.apply_json(body)
            return empty()
        # Applied after the answer is sent: "unavailable" aborts open connections, this one included.
        return Response(content=b"", status_code=200, background=BackgroundTask(emu.faults.apply_json, body))

    @get(CONTROL_PREFIX + "/faults")
    async def get_fault() -> Response[bytes]:
        state = emu.faults.current()
        return json_response({"mode": state.mode, "delay_s": state.delay_s, "status": state.status})

    @post(CONTROL_PREFIX + "/mqtt/drop-sessions")
    async def drop_sessions() -> Response[bytes]:
        emu.drop_mqtt_sessions()
        return empty()

    @get(CONTROL_PREFIX + "/health")
    async def health() -> Response[bytes]:
        return json_response({"status": "UP", "httpPort": emu.http_port, "mqttPort": emu.mqtt_port})

    return [set_fault, get_fault, drop_sessions, health]
