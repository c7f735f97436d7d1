"""The in-process runner: HTTP (REST, device HTTP API, WebSocket) on uvicorn plus MQTT, on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

import uvicorn

from thingsboard_emulator.app import build_app
from thingsboard_emulator.core.service import Core, CoreConfig
from thingsboard_emulator.faults import Faults, fault_middleware
from thingsboard_emulator.versions import DEFAULT_VERSION

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

log = logging.getLogger(__name__)


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on accepted sockets whose proto is TCP;
    # without it every response split into headers + body waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    try:
        # Re-binding the same port after an "unavailable" fault must not wait for TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)  # noqa: FBT003 - the socket API
    except OSError:
        sock.close()
        raise
    return sock


class Emulator:
    """A ThingsBoard CE look-alike: REST + WebSocket on ``http_port``, device MQTT on ``mqtt_port``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        http_port: int = 0,
        mqtt_port: int = 0,
        *,
        data_file: str | None = None,
        inactivity_timeout_s: float = 600,
        rpc_default_timeout_ms: int = 10000,
        claim_duration_ms: int = 86400000,
        max_payload_bytes: int = 65536,
        jwt_expiration_s: int = 9000,
        refresh_expiration_s: int = 604800,
        version: str = DEFAULT_VERSION,
    ) -> None:
        """``version`` picks the ThingsBoard CE release to behave like: ``"4.3"`` (default) or ``"4.4"``."""
        self.host = host
        self._requested_http_port = http_port
        self._requested_mqtt_port = mqtt_port
        self.max_payload_bytes = max_payload_bytes
        self.config = CoreConfig(
            data_file=data_file,
            inactivity_timeout_s=inactivity_timeout_s,
            rpc_default_timeout_ms=rpc_default_timeout_ms,
            claim_duration_ms=claim_duration_ms,
            max_payload_bytes=max_payload_bytes,
            jwt_expiration_s=jwt_expiration_s,
            refresh_expiration_s=refresh_expiration_s,
            version=version,
        )
        self.core = Core(self.config)
        self.version = self.core.behaviour.version
        self.faults = Faults()
        self.http_port = 0
        self.mqtt_port = 0
        self._server: uvicorn.Server | None = None
        self._mqtt: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listening = False

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.http_port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.core.start()
        app = fault_middleware(build_app(self), self.faults)
        config = uvicorn.Config(
            app,
            host=self.host,
            lifespan="off",
            log_level="warning",
            access_log=False,
            ws="websockets-sansio",
            ws_max_size=max(self.max_payload_bytes * 4, 1 << 20),
            date_header=False,
            timeout_graceful_shutdown=1,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        sock = _bind(self.host, self._requested_http_port)
        self.http_port = sock.getsockname()[1]
        await server.startup(sockets=[sock])
        self._server = server
        self._listening = True
        self.faults.bind(self._loop, self._set_listening)
        await self._start_mqtt()

    async def _start_mqtt(self) -> None:
        try:
            from thingsboard_emulator.mqtt import MqttServer  # noqa: PLC0415 - lands in parallel; optional until then
        except ImportError:
            log.warning("thingsboard_emulator.mqtt is not available; MQTT is disabled")
            return
        self._mqtt = MqttServer(
            self.core.device_api,
            self.host,
            self._requested_mqtt_port,
            max_payload_bytes=self.max_payload_bytes,
        )
        await self._mqtt.start()
        self.mqtt_port = int(self._mqtt.port)

    def _abort_http_connections(self) -> None:
        if self._server is None:
            return
        for conn in list(self._server.server_state.connections):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()

    def _set_listening(self, listening: bool) -> None:  # noqa: FBT001 - a plain switch used as a callback
        """Close or reopen the HTTP listener: "unavailable" means refused connections, like a stopped TB."""
        server = self._server
        if server is None or listening == self._listening:
            return
        self._listening = listening
        if not listening:
            for srv in server.servers:
                srv.close()
            self._abort_http_connections()
            return
        try:
            sock = _bind(self.host, self.http_port)
        except OSError:
            # Someone grabbed the port meanwhile; keep trying rather than stay down for good.
            log.warning("port %d is busy; retrying to reopen the HTTP listener", self.http_port)
            self._listening = False
            asyncio.get_running_loop().call_later(0.2, self._retry_reopen)
            return
        task = asyncio.get_running_loop().create_task(server.startup(sockets=[sock]))
        task.add_done_callback(_log_failure)

    def _retry_reopen(self) -> None:
        if self._server is not None and self.faults.current().mode != "unavailable":
            self._set_listening(listening=True)

    async def stop(self) -> None:
        if self._mqtt is not None:
            await self._mqtt.stop()
            self._mqtt = None
        server = self._server
        if server is not None:
            self._server = None
            server.force_exit = True
            for srv in server.servers:
                srv.close()
            self._abort_http_connections_of(server)
            for srv in server.servers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(srv.wait_closed(), 2)
        await self.core.stop()

    @staticmethod
    def _abort_http_connections_of(server: uvicorn.Server) -> None:
        for conn in list(server.server_state.connections):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()
        for task in list(server.server_state.tasks):
            task.cancel()

    def drop_mqtt_sessions(self) -> None:
        """Drop every MQTT session (thread-safe)."""
        mqtt, loop = self._mqtt, self._loop
        if mqtt is None or loop is None:
            return
        if _on_loop(loop):
            mqtt.drop_all_sessions()
        else:
            asyncio.run_coroutine_threadsafe(_call(mqtt.drop_all_sessions), loop).result(10)

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[Emulator]:
        """Run on a private thread and loop, for synchronous callers (tb-rest-client tests, petit dev)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()

        thread = threading.Thread(target=main, name="tb-emulator", daemon=True)
        thread.start()
        started.wait()
        if failure:
            loop.close()
            raise failure[0]
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            loop.close()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the emulator loop and return its result (for sync callers of the core)."""
        loop = self._loop
        if loop is None or _on_loop(loop):
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(_call(fn, *args), loop).result(30)


async def _call(fn: Any, *args: Any) -> Any:
    return fn(*args)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("reopening the HTTP listener failed", exc_info=task.exception())
