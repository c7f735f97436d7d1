"""``python -m thingsboard_emulator --host H --http-port P --mqtt-port Q [--data FILE] [--tb-version V]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from thingsboard_emulator.runner import Emulator
from thingsboard_emulator.versions import DEFAULT_VERSION, VERSIONS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m thingsboard_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--http-port", type=int, default=8080, help="REST, device HTTP API and WebSocket (0 = any)"
    )
    parser.add_argument("--mqtt-port", type=int, default=1883, help="device MQTT (0 = any)")
    parser.add_argument("--data", default=None, help="SQLite file that keeps state across restarts")
    parser.add_argument(
        "--inactivity-timeout", type=float, default=600, help="seconds before a device is inactive"
    )
    parser.add_argument("--rpc-timeout-ms", type=int, default=10000, help="default server-side RPC timeout")
    parser.add_argument(
        "--tb-version",
        choices=sorted(VERSIONS),
        default=DEFAULT_VERSION,
        help="ThingsBoard CE release to behave like (default %(default)s)",
    )
    parser.add_argument("--log-level", default="WARNING")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    emu = Emulator(
        args.host,
        args.http_port,
        args.mqtt_port,
        data_file=args.data,
        inactivity_timeout_s=args.inactivity_timeout,
        rpc_default_timeout_ms=args.rpc_timeout_ms,
        version=args.tb_version,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with emu:
        print(
            f"ThingsBoard emulator (CE {emu.version}): http={emu.http_url} ws={emu.ws_url} "
            f"mqtt={emu.host}:{emu.mqtt_port}",
            flush=True,
        )
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
