"""Handshake time per protocomm security scheme against the simulator over loopback HTTP (client: porto's
espprov), p50/p99 of N sessions each. Each session ends idle so the next one may replace it at once.

    uv run python bench/bench_prov_handshake.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time

from firmware.sim.fleet import Fleet
from firmware.sim.world import World
from porto_contract.client import espprov

SCHEMES = {
    0: ({"sec_ver": 0}, espprov.ClientSecurity0),
    1: ({"sec_ver": 1, "pop": "abcd1234"}, lambda: espprov.ClientSecurity1("abcd1234")),
    2: (
        {"sec_ver": 2, "sec2_username": "wifiprov", "sec2_password": "abcd1234"},
        lambda: espprov.ClientSecurity2("wifiprov", "abcd1234"),
    ),
}


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    world = World()
    for sec_ver, (options, client) in SCHEMES.items():
        with Fleet(world, mqtt_port=1, provisioning=dict(options, limits={"idle_s": 0.0})) as fleet:
            dev = fleet.spawn(1)[0]
            times = []
            for _ in range(runs):
                transport = espprov.HttpTransport(f"127.0.0.1:{dev.port}")
                start = time.perf_counter()
                espprov.Provisioner(transport).establish(client())
                times.append((time.perf_counter() - start) * 1000)
                transport.close()
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"sec{sec_ver}: n={runs} p50={statistics.median(times):.1f} ms p99={p99:.1f} ms")


if __name__ == "__main__":
    main()
