"""``python -m firmware.sim --factory``: make devices the way a manufacturer does, unowned and ready to claim.

Two ways, as ``porto_contract/device/claiming.md`` and petit's provisioning settings describe them:

- ``token`` (the default): register the device on ThingsBoard as the tenant, in petit's provisioning
  profile, under its device id, and flash the access token into it. It waits for a claim code.
- ``mac``: flash the provisioning key and secret petit was given (``PETIT_PROVISIONING__DEVICE_KEY`` /
  ``__DEVICE_SECRET``); the device registers itself on first connect, then asks to be claimed.

A device made either way takes a claim code from the app (``porto claim-device``); any simulated device,
factory-made or not, can join through petit's gateway (``porto gateway connect``).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    import argparse

    from firmware.sim.fleet import SimDevice

# Where `petit dev` keeps its embedded emulator's ports; relative to the repository root, as `make dev` runs.
PORTS_FILE = Path("var/thingsboard-emulator.ports.json")
DEFAULT_PROFILE = "petit-provisioning"


class FactoryError(Exception):
    """The factory cannot make a device; the message says what to set."""


@dataclass(frozen=True)
class ThingsBoard:
    url: str
    mqtt_port: int
    username: str
    password: str


def _dev_ports() -> dict[str, int] | None:
    try:
        data = json.loads(PORTS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def locate(args: argparse.Namespace) -> ThingsBoard:
    """ThingsBoard from the flags, else petit's own settings (PETIT_THINGSBOARD__*), else `petit dev`'s
    embedded emulator, so the factory needs no flags next to `make dev`."""
    env = os.environ
    ports = _dev_ports()
    url = args.tb_url or env.get("PETIT_THINGSBOARD__URL")
    if not url and ports:
        url = f"http://127.0.0.1:{ports['http']}"
    if not url:
        raise FactoryError(
            f"no ThingsBoard: start `make dev` first (it writes {PORTS_FILE}), or pass --tb-url"
        )
    mqtt = args.mqtt_port or env.get("PETIT_THINGSBOARD__MQTT_PORT") or (ports or {}).get("mqtt") or 1883
    return ThingsBoard(
        url=url.rstrip("/"),
        mqtt_port=int(mqtt),
        username=args.tb_username or env.get("PETIT_THINGSBOARD__USERNAME") or "tenant@thingsboard.org",
        password=args.tb_password or env.get("PETIT_THINGSBOARD__PASSWORD") or "tenant",
    )


def provisioning_keys(args: argparse.Namespace) -> tuple[str, str]:
    key = args.provision_key or os.environ.get("PETIT_PROVISIONING__DEVICE_KEY")
    secret = args.provision_secret or os.environ.get("PETIT_PROVISIONING__DEVICE_SECRET")
    if not key or not secret:
        raise FactoryError(
            "--factory mac needs the provisioning key and secret petit runs with: set "
            "PETIT_PROVISIONING__DEVICE_KEY and PETIT_PROVISIONING__DEVICE_SECRET "
            "(or --provision-key / --provision-secret)"
        )
    return key, secret


def profile_name() -> str:
    return os.environ.get("PETIT_PROVISIONING__PROFILE_NAME") or DEFAULT_PROFILE


def register(tb: ThingsBoard, name: str, profile: str) -> str:
    """Create the unowned device on ThingsBoard as the tenant; return the access token it was given."""
    token = secrets.token_urlsafe(15)
    with httpx.Client(base_url=tb.url, timeout=15) as http:
        login = http.post("/api/auth/login", json={"username": tb.username, "password": tb.password})
        if login.status_code != 200:
            raise FactoryError(f"ThingsBoard at {tb.url} refused the tenant login: HTTP {login.status_code}")
        headers = {"X-Authorization": f"Bearer {login.json()['token']}"}
        # ThingsBoard files a device under the profile its `type` names, creating the profile if needed.
        created = http.post(
            "/api/device",
            params={"accessToken": token},
            json={"name": name, "type": profile},
            headers=headers,
        )
        if created.status_code != 200:
            raise FactoryError(
                f"ThingsBoard refused device {name}: HTTP {created.status_code} {created.text}"
            )
    return token


def make(device: SimDevice, mode: str, args: argparse.Namespace, tb: ThingsBoard | None) -> str:
    """Flash ``device`` for ``mode``; return one line saying what the factory did."""
    name = device.identity["deviceId"]
    if mode == "mac":
        key, secret = provisioning_keys(args)
        device.factory.update({"provisionDeviceKey": key, "provisionDeviceSecret": secret})
        return f"factory: {name} flashed with the provisioning key; it registers itself on first connect"
    assert tb is not None
    profile = profile_name()
    device.factory["accessToken"] = register(tb, name, profile)
    return f"factory: {name} registered on ThingsBoard ({tb.url}, profile {profile}), unowned, token flashed"
