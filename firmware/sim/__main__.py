"""``python -m firmware.sim``: run simulated devices, each serving its local API on its own port.

    python -m firmware.sim --network home:s3cret-pass --mqtt-port 1883            # one device
    python -m firmware.sim --count 500 --base-port 9000 --network home:s3cret-pass  # a fleet

Faults: --broker-unreachable, --bad-token, --server-delay S, --ap-gone SSID (the network is listed
but down). Wrong password needs no flag: send a password the network does not have.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sys
import threading
import time

from firmware.sim.fleet import Fleet
from firmware.sim.world import World


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m firmware.sim", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1, help="number of devices")
    parser.add_argument("--base-port", type=int, default=0, help="first local API port (0: OS-chosen)")
    parser.add_argument("--mqtt-host", default="127.0.0.1", help="built-in broker address")
    parser.add_argument("--mqtt-port", type=int, default=1883)
    parser.add_argument(
        "--network", action="append", default=[], metavar="SSID[:PASSWORD]", help="a Wi-Fi network (repeat)"
    )
    parser.add_argument("--state-dir", help="keep credentials here across simulator restarts")
    parser.add_argument("--telemetry-interval", type=float, default=10.0)
    parser.add_argument("--broker-unreachable", action="store_true")
    parser.add_argument("--bad-token", action="store_true")
    parser.add_argument("--server-delay", type=float, default=0.0)
    parser.add_argument("--ap-gone", action="append", default=[], metavar="SSID")
    parser.add_argument("--json", action="store_true", help="print one JSON line per device, no display")
    return parser.parse_args(argv)


def build_world(args: argparse.Namespace) -> World:
    world = World()
    for spec in args.network or ["petit-home:petit-pass-123"]:
        ssid, _, password = spec.partition(":")
        world.add(ssid, password)
    for ssid in args.ap_gone:
        if ssid not in world.networks:
            world.add(ssid, "")
        world.set_up(ssid, up=False)
    world.broker_unreachable = args.broker_unreachable
    world.bad_token = args.bad_token
    world.server_delay_s = args.server_delay
    return world


def bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // max(total, 1)
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    world = build_world(args)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            # Asked twice: whatever the clean shutdown is waiting for, do not make the user reach for kill -9.
            os._exit(128 + signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    options = {
        "mqtt_host": args.mqtt_host,
        "mqtt_port": args.mqtt_port,
        "state_dir": args.state_dir,
        "settings": {"telemetry_interval_s": args.telemetry_interval},
    }
    fleet_display = args.count > 1 and not args.json and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if fleet_display:
            sys.stderr.write("\rstarting " + bar(done, total))
            sys.stderr.flush()

    with Fleet(world, **options) as fleet:
        devices = fleet.spawn(args.count, args.base_port, progress, stop)
        if fleet_display:
            sys.stderr.write("\n")
        for device in devices if len(devices) <= 20 or args.json else devices[:5]:
            identity = device.identity
            line = {"deviceId": identity["deviceId"], "mac": identity["mac"], "url": device.local_url}
            text = f"{identity['deviceId']}  {identity['mac']}  {device.local_url}"
            print(json.dumps(line) if args.json else text, flush=True)
        if len(devices) > 20 and not args.json:
            rest = f"... and {len(devices) - 5} more (--json lists them all)"
            print(rest, flush=True)
        while not stop.wait(1.0):
            if args.count > 1 and not args.json:
                counts = collections.Counter(d.device.status()["statusCode"] for d in fleet.devices)
                summary = " ".join(f"s{code}={counts[code]}" for code in sorted(counts))
                paired = sum(1 for d in fleet.devices if d.device.paired())
                stream = sys.stderr if fleet_display else sys.stdout
                status_line = (
                    time.strftime("%H:%M:%S") + " paired " + bar(paired, args.count) + "  " + summary
                )
                stream.write(("\r" if fleet_display else "") + status_line + ("" if fleet_display else "\n"))
                stream.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
