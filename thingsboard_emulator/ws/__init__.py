"""ThingsBoard's WebSocket telemetry API (``/api/ws`` and ``/api/ws/plugins/telemetry``)."""

from thingsboard_emulator.ws._handlers import create_ws_handlers
from thingsboard_emulator.ws._session import DEFAULT_MAX_QUEUE, WsSession

__all__ = ["DEFAULT_MAX_QUEUE", "WsSession", "create_ws_handlers"]
