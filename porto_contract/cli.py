"""``porto``: what the app does, from a terminal.

Tokens live in $XDG_CONFIG_HOME/porto/config.json (else ~/.config/porto/config.json), mode 600.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import httpx

from porto_contract.client import (
    DeviceClient,
    PairingFailedError,
    PortoClient,
    ProblemError,
    espprov,
    pair_device,
)
from porto_contract.client.models import TokenPair
from porto_contract.client.stream import follow as follow_stream

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_URL = "http://127.0.0.1:8000"


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "porto" / "config.json"


def load_config() -> dict[str, Any]:
    path = config_path()
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def save_config(data: dict[str, Any]) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created 600 from the start: the refresh token must never be readable by others, not even briefly.
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    path.with_suffix(".tmp").chmod(0o600)
    path.with_suffix(".tmp").replace(path)


class Context:
    def __init__(self, url: str | None) -> None:
        self.config = load_config()
        self.url: str = url or self.config.get("url") or DEFAULT_URL

    def client(self, *, logged_in: bool = True) -> PortoClient:
        tokens = None
        if logged_in:
            stored = self.config.get("tokens")
            if not stored or self.config.get("url") != self.url:
                raise click.ClickException(f"not logged in to {self.url}: run `porto login` first")
            tokens = TokenPair.model_validate(stored)
        return PortoClient(self.url, tokens=tokens, on_tokens=self.remember)

    def remember(self, tokens: TokenPair) -> None:
        self.config["url"] = self.url
        self.config["tokens"] = tokens.model_dump(mode="json", by_alias=True)
        save_config(self.config)


def emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def run(action: Callable[[], Any]) -> Any:
    """Turn petit's problems and connection failures into one readable line and exit status 1."""
    try:
        return action()
    except ProblemError as problem:
        detail = f" ({problem.detail})" if problem.detail else ""
        raise click.ClickException(f"{problem.status} {problem.code}: {problem.title}{detail}") from None
    except httpx.TransportError as error:
        raise click.ClickException(f"cannot reach the server: {type(error).__name__}: {error}") from None


@click.group()
@click.option(
    "--url", envvar="PORTO_URL", help=f"petit's base URL (default: the last used, else {DEFAULT_URL})."
)
@click.pass_context
def main(ctx: click.Context, url: str | None) -> None:
    """porto: the app's reference client for petit."""
    ctx.obj = Context(url)


@main.command()
@click.option("--email", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.pass_obj
def signup(obj: Context, email: str, password: str) -> None:
    """Create an account and log in to it."""
    with obj.client(logged_in=False) as client:
        user = run(lambda: client.signup(email, password))
        run(lambda: client.login(email, password))
    click.echo(f"signed up and logged in as {user.email} ({user.id})")


@main.command()
@click.option("--email", prompt=True)
@click.option("--password", prompt=True, hide_input=True)
@click.pass_obj
def login(obj: Context, email: str, password: str) -> None:
    """Log in; the tokens are kept in the config file and refreshed as needed."""
    with obj.client(logged_in=False) as client:
        run(lambda: client.login(email, password))
    click.echo(f"logged in to {obj.url} as {email}")


@main.command()
@click.pass_obj
def logout(obj: Context) -> None:
    """End the session on the server and forget the tokens."""
    with obj.client() as client:
        run(client.logout)
    obj.config.pop("tokens", None)
    save_config(obj.config)
    click.echo("logged out")


@main.command()
@click.option("--device", "device_url", required=True, help="The device's local API, e.g. http://192.168.4.1")
@click.option("--name", required=True, help="The name the device gets in your account.")
@click.option("--ssid", required=True, help="Your Wi-Fi network.")
@click.option("--wifi-password", default="", help="Its password (empty for an open network).")
@click.option("--mqtt-host", help="Override the broker address petit reports (the device must reach it).")
@click.option("--mqtt-port", type=int)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the outcome.")
@click.pass_obj
def pair(  # noqa: PLR0917 - one per option
    obj: Context,
    device_url: str,
    name: str,
    ssid: str,
    wifi_password: str,
    mqtt_host: str | None,
    mqtt_port: int | None,
    timeout: float,
) -> None:
    """Pair a device in setup mode: StartPairing, send it Wi-Fi and keys, wait until petit says completed."""
    with obj.client() as client, DeviceClient(device_url) as device:
        try:
            done = run(
                lambda: pair_device(
                    client,
                    device,
                    name=name,
                    ssid=ssid,
                    password=wifi_password,
                    mqtt_host=mqtt_host,
                    mqtt_port=mqtt_port,
                    timeout_s=timeout,
                    on_progress=click.echo,
                )
            )
        except PairingFailedError as failure:
            raise click.ClickException(f"pairing failed: {failure}") from None
    click.echo(f"paired: device {done.device_id} ({name})")


def _transport(
    transport: str, service_name: str, console_command: str | None, device_name: str | None
) -> Any:
    if transport == "softap":
        click.echo(f"Connecting to {service_name}")
        return espprov.HttpTransport(service_name)
    if transport == "console":
        if not console_command:
            raise click.UsageError("--transport console needs --console_command (the device's console)")
        click.echo(f"Connecting to console: {console_command}")
        return espprov.ConsoleTransport(shlex.split(console_command))
    click.echo(f"Looking for BLE device: {device_name or '(any)'}")
    raise click.ClickException("BLE transport is not available in porto; use --transport softap or console")


def _step(label: str, action: Callable[[], Any]) -> Any:
    try:
        result = action()
    except espprov.ProvError as error:
        click.echo(f"{label} - Failed")
        if error.kind == "handshake":
            raise click.ClickException(
                f"security handshake failed: {error}; verify PoP (or the sec2 username/password) "
                "and the security scheme (--sec_ver 0, 1 or 2)"
            ) from None
        raise click.ClickException(str(error)) from None
    click.echo(f"{label} - Successful")
    return result


def _choose_network(prov: espprov.Provisioner) -> tuple[str, str]:
    while True:
        click.echo("Scanning Wi-Fi AP's...")
        try:
            networks = prov.scan()
        except espprov.ProvError as error:
            raise click.ClickException(f"Wi-Fi scan failed: {error}") from None
        click.echo("Select the Wi-Fi network from the following list:")
        click.echo(f"{'S.N.':<5}{'SSID':<34}{'BSSID':<14}{'CHN':<4}{'RSSI':<5}AUTH")
        for index, network in enumerate(networks, 1):
            bssid = ":".join(network["bssid"][i : i + 2] for i in range(0, len(network["bssid"]), 2))
            click.echo(
                f"[{index:>2}] {network['ssid']:<33} {bssid:<13} {network['channel']:<3} "
                f"{network['rssi']:<4} {network['auth']}"
            )
        click.echo(f"[{len(networks) + 1:>2}] Join another network")
        choice = click.prompt("Select AP by number (0 to rescan) ", type=int, prompt_suffix=": ")
        if choice == 0:
            continue
        if 1 <= choice <= len(networks):
            ssid = networks[choice - 1]["ssid"]
            if networks[choice - 1]["auth"] == "Open":
                return ssid, ""
        elif choice == len(networks) + 1:
            ssid = click.prompt("Enter SSID ", prompt_suffix=": ")
        else:
            click.echo("Invalid selection")
            continue
        passphrase = click.prompt(
            f"Enter passphrase for {ssid} ",
            hide_input=True,
            default="",
            show_default=False,
            prompt_suffix=": ",
        )
        return ssid, passphrase


def _wait_wifi(prov: espprov.Provisioner, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            state = prov.wifi_status()
        except espprov.ProvError as error:
            raise click.ClickException(f"lost the device while it joined Wi-Fi: {error}") from None
        if state["state"] in ("connected", "failed"):
            return state
        if time.monotonic() > deadline:
            raise click.ClickException(f"Wi-Fi connection failed: no outcome within {timeout_s:g} s")
        time.sleep(0.2)


@main.command()
@click.option("--pop", default="", help="Proof of possession (security 1; security 2's password by default).")
@click.option(
    "--transport", type=click.Choice(["softap", "ble", "console"]), default="softap", show_default=True
)
@click.option("--sec_ver", type=click.IntRange(0, 2), help="Security scheme (default: what the device says).")
@click.option("--sec2_username", default="wifiprov", show_default=True)
@click.option("--sec2_password", default=None, help="Security 2 password (default: --pop).")
@click.option("--device_name", help="BLE device name (BLE only).")
@click.option("--service_name", default="192.168.4.1:80", show_default=True, help="SoftAP: HOST:PORT.")
@click.option("--console_command", help="Console transport: the command whose stdio is the device's console.")
@click.option("--ssid", help="Wi-Fi network (default: scan and choose).")
@click.option("--passphrase", help="Its passphrase (asked for when --ssid is given without it).")
@click.option("--name", help="The name the device gets in your account (default: its device id).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for Wi-Fi and for petit.")
@click.pass_obj
def provision(  # noqa: PLR0917 - one per option
    obj: Context,
    pop: str,
    transport: str,
    sec_ver: int | None,
    sec2_username: str,
    sec2_password: str | None,
    device_name: str | None,
    service_name: str,
    console_command: str | None,
    ssid: str | None,
    passphrase: str | None,
    name: str | None,
    timeout: float,
) -> None:
    """Provision an ESP-IDF-compatible device (wifi_provisioning, security 0/1/2) and pair it with petit."""
    channel = _transport(transport, service_name, console_command, device_name)
    with obj.client() as client:
        try:
            _provision(
                client, channel, pop, sec_ver, sec2_username, sec2_password, ssid, passphrase, name, timeout
            )
        finally:
            channel.close()


def _provision(  # noqa: PLR0917 - the command's options, passed on
    client: PortoClient,
    channel: Any,
    pop: str,
    sec_ver: int | None,
    sec2_username: str,
    sec2_password: str | None,
    ssid: str | None,
    passphrase: str | None,
    name: str | None,
    timeout: float,
) -> None:
    try:
        channel.connect()
        prov = espprov.Provisioner(channel)
        info = prov.version()
        security, detected = espprov.security_for(info, sec_ver, pop, sec2_username, sec2_password or pop)
    except espprov.ProvError as error:
        raise click.ClickException(f"device not found or not in provisioning mode: {error}") from None
    if detected:
        click.echo(f"==== Auto-detected Security Scheme: {security.version} ====")
    _step("Establishing session", lambda: prov.establish(security))
    started = run(lambda: client.start_pairing(name or "ESP device"))
    _step(
        "Sending user information to node",
        lambda: prov.set_pairing(
            started.pair_key, started.owner_key, started.access_token, started.mqtt_host, started.mqtt_port
        ),
    )
    if ssid is None:
        ssid, passphrase = _choose_network(prov)
    elif passphrase is None:
        passphrase = click.prompt(
            f"Enter passphrase for {ssid} ",
            hide_input=True,
            default="",
            show_default=False,
            prompt_suffix=": ",
        )
    _step("Sending Wi-Fi credentials to node", lambda: prov.set_config(ssid, passphrase or ""))
    _step("Applying Wi-Fi config to node", prov.apply_config)
    state = _wait_wifi(prov, timeout)
    if state["state"] == "failed":
        hint = (
            "check the Wi-Fi password"
            if state["reason"] == "auth error"
            else "check the SSID and the network"
        )
        raise click.ClickException(f"Wi-Fi connection failed: {state['reason']} ({hint})")
    click.echo("Wi-Fi Provisioning Successful")
    _wait_petit(client, prov, started.pairing_id, timeout)


def _wait_petit(client: PortoClient, prov: espprov.Provisioner, pairing_id: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    device_ok = True
    while True:
        if device_ok:
            try:
                status = prov.pair_status()
            except espprov.ProvError:
                # The device may close its access point once online; petit stays the source of truth.
                device_ok = False
            else:
                if status["statusCode"] in (5, 6):
                    raise click.ClickException(f"pairing failed: {status['title']}: {status['description']}")
        pairing = run(lambda: client.get_pairing(pairing_id))
        if pairing.state == "completed":
            click.echo(f"Pairing with petit - Successful: device {pairing.device_id} ({pairing.name})")
            return
        if pairing.finished:
            raise click.ClickException(f"pairing failed: {pairing.failure_reason or pairing.state}")
        if time.monotonic() > deadline:
            raise click.ClickException(f"pairing failed: petit saw no device within {timeout:g} s")
        time.sleep(0.2)


@main.command("claim-code")
@click.pass_obj
def claim_code(obj: Context) -> None:
    """Create a one-time claim code to give to a pre-provisioned device."""
    with obj.client() as client:
        code = run(client.create_claim_code)
    click.echo(f"{code.claim_code}  (expires {code.expires_at.isoformat()})")


@main.command()
@click.argument("device_name")
@click.argument("code")
@click.pass_obj
def claim(obj: Context, device_name: str, code: str) -> None:
    """Claim the device DEVICE_NAME, which has sent CODE to the platform."""
    with obj.client() as client:
        device = run(lambda: client.claim_device(device_name, code))
    click.echo(f"claimed: device {device.id} ({device.name})")


@main.group()
def devices() -> None:
    """Your devices."""


@devices.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def devices_list(obj: Context, as_json: bool) -> None:
    """List your devices."""
    with obj.client() as client:
        page = run(lambda: client.list_devices(limit=100))
    if as_json:
        emit(page.to_json())
        return
    for device in page.items:
        click.echo(f"{device.id}  {device.name}")
    click.echo(f"{page.total} device(s)")


@main.group()
def telemetry() -> None:
    """A device's readings."""


@telemetry.command("latest")
@click.argument("device_id")
@click.option("--keys", help="Comma-separated keys (default: all).")
@click.pass_obj
def telemetry_latest(obj: Context, device_id: str, keys: str | None) -> None:
    """The latest value of each key."""
    with obj.client() as client:
        latest = run(lambda: client.latest_telemetry(device_id, keys.split(",") if keys else None))
    emit(latest.to_json()["values"])


@telemetry.command("history")
@click.argument("device_id")
@click.option("--keys", required=True, help="Comma-separated keys.")
@click.option("--limit", default=100, show_default=True)
@click.pass_obj
def telemetry_history(obj: Context, device_id: str, keys: str, limit: int) -> None:
    """Recent readings per key, newest first."""
    with obj.client() as client:
        history = run(lambda: client.telemetry_history(device_id, keys.split(","), limit=limit))
    emit(history.to_json()["series"])


@main.command()
@click.argument("device_id")
@click.argument("function")
@click.option("--params", default="null", help="JSON value to pass.")
@click.option("--oneway", is_flag=True, help="Do not wait for the device's reply.")
@click.pass_obj
def command(obj: Context, device_id: str, function: str, params: str, oneway: bool) -> None:
    """Call FUNCTION on the device."""
    try:
        value = json.loads(params)
    except ValueError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--params") from None
    with obj.client() as client:
        result = run(lambda: client.send_command(device_id, function, value, oneway=oneway))
    emit(result.to_json())


@main.command()
@click.option("--device", "device_ids", multiple=True, help="Only this device (repeat).")
@click.option("--keys", help="Comma-separated keys.")
@click.option("--count", type=int, help="Stop after this many deviceData frames.")
@click.option("--timeout", type=float, help="Stop after this many seconds.")
@click.pass_obj
def follow(
    obj: Context, device_ids: tuple[str, ...], keys: str | None, count: int | None, timeout: float | None
) -> None:
    """Print live readings (deviceData) as JSON lines until interrupted."""
    with obj.client() as client:
        # A fresh access token: the stream checks it once at authenticate time.
        tokens = run(client.refresh)
    seen = 0
    frames = follow_stream(
        obj.url,
        tokens.access_token,
        devices=list(device_ids) or None,
        keys=keys.split(",") if keys else None,
        timeout_s=timeout,
    )
    try:
        for frame in run(lambda: frames):
            if frame.get("type") != "deviceData":
                continue
            click.echo(json.dumps(frame))
            sys.stdout.flush()
            seen += 1
            if count is not None and seen >= count:
                break
    except ProblemError as problem:
        raise click.ClickException(f"stream refused: {problem.title}") from None
    except KeyboardInterrupt:
        pass
