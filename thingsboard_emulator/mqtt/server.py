"""The MQTT listener the emulator mounts next to its HTTP server."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from thingsboard_emulator.mqtt.session import MqttSession, ReadBudget, TransportSettings

if TYPE_CHECKING:
    from thingsboard_emulator.contracts import DeviceApi

log = logging.getLogger(__name__)


class MqttServer:
    """ThingsBoard's device MQTT transport (3.1, 3.1.1 and 5) over a :class:`DeviceApi`.

    ``port=0`` binds an OS-chosen port, readable from :attr:`port` after :meth:`start`.
    """

    def __init__(
        self,
        device_api: DeviceApi,
        host: str,
        port: int,
        *,
        max_payload_bytes: int = 65536,
        provision_close_delay_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        max_inflight_messages: int = 100,
        packets_per_iteration: int = 256,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._settings = TransportSettings(
            device_api=device_api,
            max_payload_bytes=max_payload_bytes,
            provision_close_delay_s=provision_close_delay_s,
            connect_timeout_s=connect_timeout_s,
            max_inflight_messages=max_inflight_messages,
            budget=ReadBudget(packets_per_iteration),
        )
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        """Listen; returns once the socket is bound."""
        loop = asyncio.get_running_loop()
        settings = self._settings
        self._server = await loop.create_server(
            lambda: MqttSession(settings), self._host, self._requested_port
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("MQTT transport listening on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        """Stop listening and cut every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self.drop_all_sessions()
        await server.wait_closed()

    def drop_all_sessions(self) -> None:
        """Cut every connection without an MQTT goodbye (fault injection: the network went away)."""
        for session in list(self._settings.sessions):
            session.drop()

    @property
    def session_count(self) -> int:
        """Connections whose CONNECT was accepted and that are still open."""
        return sum(1 for session in self._settings.sessions if session.is_established)
