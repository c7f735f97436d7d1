"""``python -m firmware.sim``: run simulated devices, each serving its local API on its own port.

    python -m firmware.sim --network home:s3cret-pass --mqtt-port 1883            # one device
    python -m firmware.sim --count 500 --base-port 9000 --network home:s3cret-pass  # a fleet
    python -m firmware.sim --factory --network home:s3cret-pass                      # unowned, claimable

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

import httpx

from firmware.core import localapi, protocomm
from firmware.sim import factory
from firmware.sim.fleet import Fleet, SimDevice
from firmware.sim.world import World

MAX_CONSOLE_BODY = localapi.MAX_BODY


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m firmware.sim", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1, help="number of devices")
    parser.add_argument("--base-port", type=int, default=0, help="first local API port (0: OS-chosen)")
    parser.add_argument("--mqtt-host", default="127.0.0.1", help="built-in broker address")
    parser.add_argument(
        "--mqtt-port", type=int, help="built-in broker port (1883; with --factory, ThingsBoard's)"
    )
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
    made = parser.add_argument_group("factory (an unowned device, ready to be claimed)")
    made.add_argument(
        "--factory",
        nargs="?",
        const="token",
        choices=("token", "mac"),
        help="token: registered on ThingsBoard with its token flashed; mac: flashed with the provisioning "
        "key, registers itself by MAC",
    )
    made.add_argument("--tb-url", help="ThingsBoard (default: PETIT_THINGSBOARD__URL, else `petit dev`'s)")
    made.add_argument(
        "--tb-username", help="tenant admin (default: PETIT_THINGSBOARD__USERNAME, else the emulator's)"
    )
    made.add_argument("--tb-password", help="(default: PETIT_THINGSBOARD__PASSWORD, else the emulator's)")
    made.add_argument("--provision-key", help="--factory mac (default: PETIT_PROVISIONING__DEVICE_KEY)")
    made.add_argument("--provision-secret", help="--factory mac (default: PETIT_PROVISIONING__DEVICE_SECRET)")
    prov = parser.add_argument_group("ESP-IDF provisioning (protocomm over the device's HTTP server)")
    prov.add_argument("--sec-ver", type=int, choices=(0, 1, 2), help="security scheme (default 1 with --pop)")
    prov.add_argument("--pop", help="proof of possession (security 1; security 2's password if none given)")
    prov.add_argument("--sec2-username", default="wifiprov")
    prov.add_argument("--sec2-password")
    prov.add_argument("--max-failures", type=int, default=5, help="failed handshakes before a lockout")
    prov.add_argument("--lockout", type=float, default=30.0, help="first lockout, seconds (doubles)")
    prov.add_argument(
        "--console",
        action="store_true",
        help="also serve protocomm on stdin/stdout (one device): lines `<endpoint> <session> <hex>`",
    )
    return parser.parse_args(argv)


def provisioning_options(args: argparse.Namespace) -> dict[str, object] | None:
    if args.sec_ver is None and args.pop is None:
        return None
    return {
        "sec_ver": 1 if args.sec_ver is None else args.sec_ver,
        "pop": args.pop or "",
        "sec2_username": args.sec2_username,
        "sec2_password": args.sec2_password,
        "limits": {"max_failures": args.max_failures, "lockout_s": args.lockout},
    }


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


def serve_console(device: SimDevice, stop: threading.Event) -> int:
    """Protocomm over stdin/stdout: ``<endpoint> <session> <hex>`` in, ``<session> <hex>`` or
    ``ERROR <status> <reason>`` out (``-`` for an empty body). The device's own lines go to stderr."""
    comm = device.comm
    assert comm is not None
    identity = device.identity
    print(f"{identity['deviceId']}  {identity['mac']}  {device.local_url}", file=sys.stderr, flush=True)
    print("READY " + identity["deviceId"], flush=True)
    for line in sys.stdin:
        if stop.is_set():
            break
        parts = line.split()
        if not parts:
            continue
        try:
            session = int(parts[1]) if len(parts) > 1 else 0
            body = bytes.fromhex(parts[2]) if len(parts) > 2 and parts[2] != "-" else b""
        except ValueError:
            print(f"ERROR {protocomm.INVALID_PROTO} unparseable line", flush=True)
            continue
        if len(body) > MAX_CONSOLE_BODY:
            print(f"ERROR {protocomm.INVALID_ARGUMENT} body too large", flush=True)
            continue
        try:
            answer, announce = comm.handle(parts[0], body, session)
        except protocomm.ProtocommError as error:
            print(f"ERROR {error.status} {error.reason}", flush=True)
            continue
        print(f"{announce or session} {answer.hex() or '-'}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:  # noqa: C901, PLR0912, PLR0915 - one branch per mode
    args = parse_args(argv)
    tb = None
    try:
        if args.factory == "token":
            tb = factory.locate(args)
            args.mqtt_port = tb.mqtt_port
        elif args.factory == "mac":
            factory.provisioning_keys(args)
            if args.mqtt_port is None:
                args.mqtt_port = factory.locate(args).mqtt_port
    except factory.FactoryError as error:
        print(f"factory: {error}", file=sys.stderr)
        return 2
    if args.mqtt_port is None:
        args.mqtt_port = 1883
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
        "provisioning": provisioning_options(args),
    }
    if args.console and (args.count != 1 or options["provisioning"] is None):
        print("--console needs exactly one device and --sec-ver or --pop", file=sys.stderr)
        return 2
    fleet_display = args.count > 1 and not args.json and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if fleet_display:
            sys.stderr.write("\rstarting " + bar(done, total))
            sys.stderr.flush()

    with Fleet(world, **options) as fleet:
        devices = fleet.spawn(args.count, args.base_port, progress, stop)
        if args.factory:
            try:
                for device in devices:
                    print(factory.make(device, args.factory, args, tb), file=sys.stderr, flush=True)
            except (factory.FactoryError, httpx.HTTPError) as error:
                print(f"factory: {error}", file=sys.stderr)
                return 2
        if args.console:
            return serve_console(devices[0], stop)
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
