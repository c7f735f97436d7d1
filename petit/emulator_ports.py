"""Where ``petit dev``'s embedded ThingsBoard emulator listens, kept the same from one run to the next.

A device paired against the emulator stores its MQTT host and port; if a restart moved the port, every such
device would lose its broker. So the ports are chosen once, written next to the emulator's data, and reused.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# Out of the way of a real ThingsBoard (8080 HTTP, 1883 MQTT) or a local Mosquitto someone may also run.
DEFAULT_HTTP_PORT = 18080
DEFAULT_MQTT_PORT = 18883

HTTP_FLAG = "--tb-http-port"
MQTT_FLAG = "--tb-mqtt-port"


_WHY_IT_STAYS = {
    "HTTP": "The emulator keeps its address across restarts so its UI and REST links stay valid.",
    "MQTT": "Devices paired with this emulator connect there; moving it means pairing them again.",
}


class PortsError(Exception):
    """The emulator cannot listen where it must; the message tells the user what to do."""


@dataclass(frozen=True)
class EmulatorPorts:
    http: int
    mqtt: int


def load(path: Path) -> EmulatorPorts | None:
    """The ports a previous run used, or None on a first run."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        ports = EmulatorPorts(http=data["http"], mqtt=data["mqtt"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PortsError(
            f"{path} is not a ports file ({exc}); delete it, or pass {HTTP_FLAG} and {MQTT_FLAG}"
        ) from None
    for port in (ports.http, ports.mqtt):
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise PortsError(
                f"{path} holds {port!r}, not a port; delete it, or pass {HTTP_FLAG} and {MQTT_FLAG}"
            )
    return ports


def save(path: Path, ports: EmulatorPorts) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"http": ports.http, "mqtt": ports.mqtt}) + "\n", encoding="utf-8")
    # A crash mid-write must not leave half a file that the next start refuses.
    tmp.replace(path)


def is_free(host: str, port: int) -> bool:
    """Whether the emulator could listen on ``port`` now (bound the way it binds: SO_REUSEADDR, so a
    previous run's connections lingering in TIME_WAIT do not count as taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            probe.listen(1)
        except OSError:
            return False
    return True


def choose(
    host: str,
    *,
    http: int | None,
    mqtt: int | None,
    remembered: EmulatorPorts | None,
    path: Path,
) -> EmulatorPorts:
    """The ports to ask the emulator for (0: any free port). ``http``/``mqtt`` are the flags, None if unset.

    A flag wins; then what ``path`` remembers; then the defaults, or any free port if a default is taken.
    A flagged or remembered port that is taken is an error, never a silent move.
    """
    http_port = _choose_one(
        host, "HTTP", http, remembered.http if remembered else None, DEFAULT_HTTP_PORT, HTTP_FLAG, path, set()
    )
    mqtt_port = _choose_one(
        host,
        "MQTT",
        mqtt,
        remembered.mqtt if remembered else None,
        DEFAULT_MQTT_PORT,
        MQTT_FLAG,
        path,
        {http_port},
    )
    return EmulatorPorts(http=http_port, mqtt=mqtt_port)


def _choose_one(  # noqa: PLR0917 - one port's whole context
    host: str,
    name: str,
    flagged: int | None,
    remembered: int | None,
    default: int,
    flag: str,
    path: Path,
    others: set[int],
) -> int:
    if flagged is not None:
        if flagged and (flagged in others or not is_free(host, flagged)):
            raise PortsError(
                f"ThingsBoard emulator {name} port {flagged} ({flag}) is in use; "
                "pass another, or 0 for any free port"
            )
        return flagged
    if remembered is not None:
        if remembered in others or not is_free(host, remembered):
            raise PortsError(
                f"ThingsBoard emulator {name} port {remembered}, remembered in {path}, is in use by "
                f"something else. {_WHY_IT_STAYS[name]} Stop whatever holds {host}:{remembered}, "
                f"or pass {flag} PORT to move the emulator for good."
            )
        return remembered
    return default if default not in others and is_free(host, default) else 0
