"""ESP-IDF provisioning end to end: N simulated devices in provisioning mode (protocomm over SoftAP HTTP)
provisioned and paired by porto's client through a real petit and the ThingsBoard emulator.

For each device an "app" lane does what ``porto provision`` does: proto-ver, the security handshake,
StartPairing, the pairing material through ``petit-pair``, Wi-Fi config, apply, wait for Wi-Fi, then poll
GetPairing until ``completed``. Same processes and cleanup as bench_fleet_pairing.py (its runner is reused).
Reported: devices provisioned and paired per second, p50/p99 from the first byte to the device to completed.

    uv run python bench/bench_fleet_provisioning.py --devices 100 --sec-ver 1
    uv run python bench/bench_fleet_provisioning.py --devices 100 --sec-ver 2 --lanes 4

Measured on the 2-core box (other work running, load ~2.5), 100 devices, 10 lanes, all paired, no errors:
- security 0: 18.8 devices/s, p50 448 ms, p99 642 ms;
- security 1: 23.7 devices/s, p50 341 ms, p99 629 ms;
- security 2: 9.9 devices/s, p50 980 ms, p99 1,645 ms (SRP-3072 on both sides of one process dominates).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
import uuid
from typing import TYPE_CHECKING

import bench_fleet_pairing as fleet_bench

from porto_contract.client import PortoClient, espprov

if TYPE_CHECKING:
    from firmware.sim.fleet import SimDevice

POP, SEC2_USER = "abcd1234", "wifiprov"


def provision(porto: PortoClient, port: int, name: str, args: argparse.Namespace) -> None:
    channel = espprov.HttpTransport(f"127.0.0.1:{port}")
    try:
        channel.connect()
        prov = espprov.Provisioner(channel)
        security, _ = espprov.security_for(prov.version(), args.sec_ver, POP, SEC2_USER, POP)
        prov.establish(security)
        started = porto.start_pairing(name)
        prov.set_pairing(
            started.pair_key, started.owner_key, started.access_token, started.mqtt_host, started.mqtt_port
        )
        prov.set_config(fleet_bench.SSID, fleet_bench.WIFI_PASSWORD)
        prov.apply_config()
        deadline = time.monotonic() + args.limit_s
        while prov.wifi_status()["state"] != "connected":
            if time.monotonic() > deadline:
                raise TimeoutError("Wi-Fi not connected")
            time.sleep(args.poll_s)
        while (pairing := porto.get_pairing(started.pairing_id)).state != "completed":
            if pairing.finished or time.monotonic() > deadline:
                raise RuntimeError(f"pairing ended {pairing.state} {pairing.failure_reason}")
            time.sleep(args.poll_s)
    finally:
        channel.close()


def lane(url: str, devices: list[SimDevice], args: argparse.Namespace) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    with PortoClient(url, timeout_s=30) as porto:
        email = f"prov-{uuid.uuid4().hex[:12]}@example.com"
        password = secrets.token_urlsafe(16)
        porto.signup(email, password)
        porto.login(email, password)
        for device in devices:
            started = time.perf_counter()
            try:
                provision(porto, device.port, f"dev-{device.identity['index']}", args)
                latencies.append(time.perf_counter() - started)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
    return latencies, errors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument(
        "--lanes", type=int, default=10, help="app clients provisioning at once (one user each)"
    )
    parser.add_argument("--sec-ver", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--poll-s", type=float, default=0.25)
    parser.add_argument("--limit-s", type=float, default=90.0)
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    options = {"sec_ver": args.sec_ver, "pop": POP}
    if args.sec_ver == 2:
        options |= {"sec2_username": SEC2_USER, "sec2_password": POP}
    print(f"ESP-IDF provisioning, security {args.sec_ver}")
    sys.exit(fleet_bench.run(args, lane_fn=lane, spawn_options={"provisioning": options}))
