"""``porto``: what the app does, from a terminal.

Tokens live in $XDG_CONFIG_HOME/porto/config.json (else ~/.config/porto/config.json), mode 600.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
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
    espprov_ble,
    pair_device,
)
from porto_contract.client.models import ConfigData, PairingRead, TokenPair
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


def as_json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` on every command: the answer as JSON on stdout, progress moved to stderr."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(command)


def progress(as_json: bool) -> Callable[[str], None]:
    """Where waiting commands say what they are waiting for: stderr when stdout is for JSON."""
    return lambda text: click.echo(text, err=as_json)


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
@as_json_option
@click.pass_obj
def signup(obj: Context, email: str, password: str, as_json: bool) -> None:
    """Create an account and log in to it."""
    with obj.client(logged_in=False) as client:
        user = run(lambda: client.signup(email, password))
        run(lambda: client.login(email, password))
    if as_json:
        emit(user.to_json())
        return
    click.echo(f"signed up and logged in as {user.email} ({user.id})")


@main.command()
@click.option("--email", prompt=True)
@click.option("--password", prompt=True, hide_input=True)
@as_json_option
@click.pass_obj
def login(obj: Context, email: str, password: str, as_json: bool) -> None:
    """Log in; the tokens are kept in the config file and refreshed as needed."""
    with obj.client(logged_in=False) as client:
        run(lambda: client.login(email, password))
    if as_json:
        emit({"url": obj.url, "email": email})
        return
    click.echo(f"logged in to {obj.url} as {email}")


@main.command()
@as_json_option
@click.pass_obj
def logout(obj: Context, as_json: bool) -> None:
    """End the session on the server and forget the tokens."""
    with obj.client() as client:
        run(client.logout)
    obj.config.pop("tokens", None)
    save_config(obj.config)
    if as_json:
        emit({"loggedOut": True})
        return
    click.echo("logged out")


@main.command()
@click.option("--device", "device_url", required=True, help="The device's local API, e.g. http://192.168.4.1")
@click.option("--name", required=True, help="The name the device gets in your account.")
@click.option("--ssid", required=True, help="Your Wi-Fi network.")
@click.option("--wifi-password", default="", help="Its password (empty for an open network).")
@click.option("--mqtt-host", help="Override the broker address petit reports (the device must reach it).")
@click.option("--mqtt-port", type=int)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the outcome.")
@as_json_option
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
    as_json: bool,
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
                    on_progress=progress(as_json),
                )
            )
        except PairingFailedError as failure:
            raise click.ClickException(f"pairing failed: {failure}") from None
    if as_json:
        emit(done.to_json())
        return
    click.echo(f"paired: device {done.device_id} ({name})")


def _transport(
    transport: str,
    service_name: str,
    console_command: str | None,
    device_name: str | None,
    service_uuid: str | None = None,
) -> Any:
    if transport == "softap":
        click.echo(f"Connecting to {service_name}")
        return espprov.HttpTransport(service_name)
    if transport == "console":
        if not console_command:
            raise click.UsageError("--transport console needs --console_command (the device's console)")
        click.echo(f"Connecting to console: {console_command}")
        return espprov.ConsoleTransport(shlex.split(console_command))
    if not device_name:
        raise click.UsageError(
            "--transport ble needs --device_name (what the device advertises, e.g. PROV_1a2b3c)"
        )
    click.echo(f"Looking for BLE device: {device_name}")
    return espprov_ble.BleTransport(device_name, service_uuid)


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
@click.option("--service_uuid", help="BLE: the provisioning service UUID (default: the advertised one).")
@click.option("--service_name", default="192.168.4.1:80", show_default=True, help="SoftAP: HOST:PORT.")
@click.option("--console_command", help="Console transport: the command whose stdio is the device's console.")
@click.option("--ssid", help="Wi-Fi network (default: scan and choose).")
@click.option("--passphrase", help="Its passphrase (asked for when --ssid is given without it).")
@click.option("--name", help="The name the device gets in your account (default: its device id).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for Wi-Fi and for petit.")
@as_json_option
@click.pass_obj
def provision(  # noqa: PLR0917 - one per option
    obj: Context,
    pop: str,
    transport: str,
    sec_ver: int | None,
    sec2_username: str,
    sec2_password: str | None,
    device_name: str | None,
    service_uuid: str | None,
    service_name: str,
    console_command: str | None,
    ssid: str | None,
    passphrase: str | None,
    name: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Provision an ESP-IDF-compatible device (wifi_provisioning, security 0/1/2) and pair it with petit."""
    out = sys.stdout
    # esp_prov's step lines and prompts stay on the terminal; only the outcome goes to stdout as JSON.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        channel = _transport(transport, service_name, console_command, device_name, service_uuid)
        with obj.client() as client:
            try:
                done = _provision(
                    client,
                    channel,
                    pop,
                    sec_ver,
                    sec2_username,
                    sec2_password,
                    ssid,
                    passphrase,
                    name,
                    timeout,
                )
            finally:
                channel.close()
    if as_json:
        click.echo(json.dumps(done.to_json(), indent=2), file=out)


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
) -> PairingRead:
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
    return _wait_petit(client, prov, started.pairing_id, timeout)


def _wait_petit(
    client: PortoClient, prov: espprov.Provisioner, pairing_id: Any, timeout: float
) -> PairingRead:
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
        pairing: PairingRead = run(lambda: client.get_pairing(pairing_id))
        if pairing.state == "completed":
            click.echo(f"Pairing with petit - Successful: device {pairing.device_id} ({pairing.name})")
            return pairing
        if pairing.finished:
            raise click.ClickException(f"pairing failed: {pairing.failure_reason or pairing.state}")
        if time.monotonic() > deadline:
            raise click.ClickException(f"pairing failed: petit saw no device within {timeout:g} s")
        time.sleep(0.2)


@main.command("claim-code")
@as_json_option
@click.pass_obj
def claim_code(obj: Context, as_json: bool) -> None:
    """Create a one-time claim code to give to a pre-provisioned device."""
    with obj.client() as client:
        code = run(client.create_claim_code)
    if as_json:
        emit(code.to_json())
        return
    click.echo(f"{code.claim_code}  (expires {code.expires_at.isoformat()})")


@main.command()
@click.argument("device_name")
@click.argument("code")
@as_json_option
@click.pass_obj
def claim(obj: Context, device_name: str, code: str, as_json: bool) -> None:
    """Claim the device DEVICE_NAME, which has sent CODE to the platform."""
    with obj.client() as client:
        device = run(lambda: client.claim_device(device_name, code))
    if as_json:
        emit(device.to_json())
        return
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
@as_json_option
@click.pass_obj
def telemetry_latest(obj: Context, device_id: str, keys: str | None, as_json: bool) -> None:
    """The latest value of each key (JSON either way: a reading is {ts, value})."""
    with obj.client() as client:
        latest = run(lambda: client.latest_telemetry(device_id, keys.split(",") if keys else None))
    emit(latest.to_json()["values"])


@main.command()
@click.argument("device_id")
@click.argument("function")
@click.option("--params", default="null", help="JSON value to pass.")
@click.option("--oneway", is_flag=True, help="Do not wait for the device's reply.")
@as_json_option
@click.pass_obj
def command(  # noqa: PLR0917 - one per option
    obj: Context, device_id: str, function: str, params: str, oneway: bool, as_json: bool
) -> None:
    """Call FUNCTION on the device (JSON either way); a device's error answer exits 1."""
    try:
        value = json.loads(params)
    except ValueError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--params") from None
    with obj.client() as client:
        result = run(lambda: client.send_command(device_id, function, value, oneway=oneway))
    emit(result.to_json())
    failure = device_error(result.response)
    if failure is not None:
        raise click.ClickException(f"the device answered an error: {failure}")


@main.command()
@click.option("--device", "device_ids", multiple=True, help="Only this device (repeat).")
@click.option("--keys", help="Comma-separated keys.")
@click.option("--count", type=int, help="Stop after this many deviceData frames.")
@click.option("--timeout", type=float, help="Stop after this many seconds.")
@click.option("--sse", is_flag=True, help="Read Server-Sent Events (StreamDevices) instead of the WebSocket.")
@as_json_option
@click.pass_obj
def follow(  # noqa: PLR0917 - one per option
    obj: Context,
    device_ids: tuple[str, ...],
    keys: str | None,
    count: int | None,
    timeout: float | None,
    sse: bool,
    as_json: bool,
) -> None:
    """Print live readings (deviceData) as JSON lines (with or without --json) until interrupted."""
    client = obj.client()
    # A fresh access token: the stream checks it once at authenticate time.
    tokens = run(client.refresh)
    seen = 0
    device_list = list(device_ids) or None
    key_list = keys.split(",") if keys else None
    if sse:
        frames = client.stream_events(devices=device_list, keys=key_list, timeout_s=timeout)
    else:
        client.close()
        frames = follow_stream(
            obj.url, tokens.access_token, devices=device_list, keys=key_list, timeout_s=timeout
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
    finally:
        client.close()


# --- Device answers ---------------------------------------------------------------------------------------


def device_error(response: Any) -> str | None:
    """The error a device put in its RPC answer (the firmware answers ``{"error": text}``), if any."""
    if isinstance(response, dict) and response.get("error"):
        return str(response["error"])
    return None


# --- Telemetry history, listed and plotted ----------------------------------------------------------------

SPARKS = "▁▂▃▄▅▆▇█"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def sparkline(values: list[float], width: int = 60) -> str:
    """Values (oldest first) as one line of block characters; more values than ``width`` are averaged."""
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [
            sum(chunk) / len(chunk)
            for chunk in (
                values[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)] for i in range(width)
            )
        ]
    low, high = min(values), max(values)
    span = high - low
    if span == 0:
        return SPARKS[len(SPARKS) // 2] * len(values)
    return "".join(SPARKS[min(int((v - low) / span * len(SPARKS)), len(SPARKS) - 1)] for v in values)


def _clock(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts / 1000))


def render_history(series: dict[str, list[dict[str, Any]]], *, chart: bool = True) -> list[str]:
    """Per key: a sparkline with its range, then every reading, newest first (as petit answers)."""
    lines: list[str] = []
    for key, readings in series.items():
        if not readings:
            lines.append(f"{key}: no readings")
            continue
        numbers = [n for n in (_number(r["value"]) for r in reversed(readings)) if n is not None]
        head = (
            f"{key}: {len(readings)} reading(s), {_clock(readings[-1]['ts'])} .. {_clock(readings[0]['ts'])}"
        )
        lines.append(head)
        if chart and len(numbers) == len(readings):
            lines.append(f"  {sparkline(numbers)}  min {min(numbers):g}  max {max(numbers):g}")
        lines.extend(f"  {_clock(r['ts'])}  {json.dumps(r['value'])}" for r in readings)
    return lines


@telemetry.command("history")
@click.argument("device_id")
@click.option("--keys", help="Comma-separated keys (default: every key the device reported).")
@click.option("--limit", default=100, show_default=True, help="Readings per key.")
@click.option("--no-chart", is_flag=True, help="List the readings without the sparkline.")
@as_json_option
@click.pass_obj
def telemetry_history(  # noqa: PLR0917 - one per option
    obj: Context, device_id: str, keys: str | None, limit: int, no_chart: bool, as_json: bool
) -> None:
    """Recent readings per key, plotted as a sparkline (oldest to newest) and listed newest first."""
    with obj.client() as client:
        if keys:
            wanted = keys.split(",")
        else:
            # GetLatestTelemetry without keys names every key the device ever reported.
            latest = run(lambda: client.latest_telemetry(device_id))
            wanted = sorted(latest.values)
        if not wanted:
            series: dict[str, Any] = {}
        else:
            history = run(lambda: client.telemetry_history(device_id, wanted, limit=limit))
            series = history.to_json()["series"]
    if as_json:
        emit(series)
        return
    if not series:
        click.echo("no telemetry yet")
        return
    for line in render_history(series, chart=not no_chart):
        click.echo(line)


# --- Account ----------------------------------------------------------------------------------------------


@main.command()
@as_json_option
@click.pass_obj
def me(obj: Context, as_json: bool) -> None:
    """Who you are logged in as."""
    with obj.client() as client:
        user = run(client.me)
    if as_json:
        emit(user.to_json())
        return
    click.echo(f"{user.email} ({user.id}) on {obj.url}")


@main.command()
@as_json_option
@click.pass_obj
def token(obj: Context, as_json: bool) -> None:
    """Refresh the session and print a fresh access token, e.g. for curl -H "Authorization: Bearer …"."""
    with obj.client() as client:
        pair = run(client.refresh)
    if as_json:
        emit({"accessToken": pair.access_token, "expiresIn": pair.expires_in})
        return
    click.echo(pair.access_token)


@main.command("stream-token")
@as_json_option
@click.pass_obj
def stream_token(obj: Context, as_json: bool) -> None:
    """A token for ThingsBoard's own WebSocket (GetStreamToken), with the ids to subscribe to."""
    with obj.client() as client:
        grant = run(client.stream_token)
    if as_json:
        emit(grant.to_json())
        return
    click.echo(f"{grant.ws_url}  (expires {grant.expires_at.isoformat()})")
    click.echo(grant.token)
    for item in grant.devices:
        click.echo(f"  device {item.device_id}  stream id {item.stream_id}")


# --- Pairings ---------------------------------------------------------------------------------------------


@main.group()
def pairing() -> None:
    """A pairing started by `porto pair` (or an app)."""


@pairing.command("show")
@click.argument("pairing_id")
@as_json_option
@click.pass_obj
def pairing_show(obj: Context, pairing_id: str, as_json: bool) -> None:
    """Where a pairing stands."""
    with obj.client() as client:
        found = run(lambda: client.get_pairing(pairing_id))
    if as_json:
        emit(found.to_json())
        return
    reason = f" ({found.failure_reason})" if found.failure_reason else ""
    device = f" device {found.device_id}" if found.device_id else ""
    click.echo(f"{found.id}  {found.name}  {found.state}{reason}{device}")


@pairing.command("cancel")
@click.argument("pairing_id")
@as_json_option
@click.pass_obj
def pairing_cancel(obj: Context, pairing_id: str, as_json: bool) -> None:
    """Cancel an open pairing; the device it reserved is deleted."""
    with obj.client() as client:
        run(lambda: client.cancel_pairing(pairing_id))
    if as_json:
        emit({"pairingId": pairing_id, "cancelled": True})
        return
    click.echo(f"cancelled: pairing {pairing_id}")


# --- One device -------------------------------------------------------------------------------------------


def _device_line(device: Any) -> str:
    label = f" [{device.label}]" if device.label else ""
    return f"{device.id}  {device.name}{label}"


@devices.command("show")
@click.argument("device_id")
@as_json_option
@click.pass_obj
def devices_show(obj: Context, device_id: str, as_json: bool) -> None:
    """One device."""
    with obj.client() as client:
        device = run(lambda: client.get_device(device_id))
    if as_json:
        emit(device.to_json())
        return
    click.echo(_device_line(device))
    click.echo(f"  created {device.created_at.isoformat()}  updated {device.updated_at.isoformat()}")
    if device.metadata:
        click.echo(f"  metadata {json.dumps(device.metadata)}")


@devices.command("create")
@click.argument("name")
@click.option("--label")
@as_json_option
@click.pass_obj
def devices_create(obj: Context, name: str, label: str | None, as_json: bool) -> None:
    """Register a device by hand (for one that will join through the gateway: see `porto gateway`)."""
    with obj.client() as client:
        device = run(lambda: client.create_device(name, label))
    if as_json:
        emit(device.to_json())
        return
    click.echo(f"created: device {device.id} ({device.name})")


@devices.command("rename")
@click.argument("device_id")
@click.argument("name", required=False)
@click.option("--label", help="Also set (or, with --label '', keep empty) the label.")
@as_json_option
@click.pass_obj
def devices_rename(obj: Context, device_id: str, name: str | None, label: str | None, as_json: bool) -> None:
    """Give the device a new NAME and/or --label."""
    if name is None and label is None:
        raise click.UsageError("give a NAME, a --label, or both")
    with obj.client() as client:
        device = run(lambda: client.update_device(device_id, name=name, label=label))
    if as_json:
        emit(device.to_json())
        return
    click.echo(f"renamed: {_device_line(device)}")


@devices.command("delete")
@click.argument("device_id")
@as_json_option
@click.pass_obj
def devices_delete(obj: Context, device_id: str, as_json: bool) -> None:
    """Delete the device, on ThingsBoard too."""
    with obj.client() as client:
        run(lambda: client.delete_device(device_id))
    if as_json:
        emit({"deviceId": device_id, "deleted": True})
        return
    click.echo(f"deleted: device {device_id}")


@devices.command("release")
@click.argument("device_id")
@as_json_option
@click.pass_obj
def devices_release(obj: Context, device_id: str, as_json: bool) -> None:
    """Give the device up: it leaves your account and its credentials are rotated."""
    with obj.client() as client:
        run(lambda: client.release_device(device_id))
    if as_json:
        emit({"deviceId": device_id, "released": True})
        return
    click.echo(f"released: device {device_id} (factory-reset it before anyone claims it again)")


@devices.command("events")
@click.argument("device_id")
@click.option("--limit", default=50, show_default=True)
@as_json_option
@click.pass_obj
def devices_events(obj: Context, device_id: str, limit: int, as_json: bool) -> None:
    """Pairing, claim, provisioning and release attempts on the device, newest first."""
    with obj.client() as client:
        page = run(lambda: client.device_events(device_id, limit=limit))
    if as_json:
        emit(page.to_json())
        return
    for event in page.items:
        reason = f" ({event.reason})" if event.reason else ""
        click.echo(f"{event.occurred_at.isoformat()}  {event.flow} {event.action}: {event.outcome}{reason}")
    click.echo(f"{page.total} event(s)")


@devices.command("credentials")
@click.argument("device_id")
@click.option("--rotate", is_flag=True, help="Replace the access token first; the old one stops working.")
@as_json_option
@click.pass_obj
def devices_credentials(obj: Context, device_id: str, rotate: bool, as_json: bool) -> None:
    """The device's access token and the broker it connects to (for flashing a device by hand)."""
    with obj.client() as client:
        if rotate:
            found = run(lambda: client.rotate_device_credentials(device_id))
        else:
            found = run(lambda: client.device_credentials(device_id))
    if as_json:
        emit(found.to_json())
        return
    click.echo(f"{found.access_token}  mqtt://{found.mqtt_host}:{found.mqtt_port}")


@devices.command("allow-reprovision")
@click.argument("device_id")
@as_json_option
@click.pass_obj
def devices_allow_reprovision(obj: Context, device_id: str, as_json: bool) -> None:
    """Let your factory-reset device register its MAC address again, once, for the next 30 minutes."""
    with obj.client() as client:
        approval = run(lambda: client.allow_reprovision(device_id))
    if as_json:
        emit(approval.to_json())
        return
    click.echo(
        f"allowed: {approval.mac_address} may provision again until {approval.allowed_until.isoformat()}"
    )


# --- Desired settings -------------------------------------------------------------------------------------


def _setting(pair: str) -> tuple[str, Any]:
    key, sep, raw = pair.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="KEY=VALUE")
    try:
        return key, json.loads(raw)
    except ValueError:
        # A bare word is meant as a string: `mode=eco` rather than `mode='"eco"'`.
        return key, raw


@main.group()
def settings() -> None:
    """A device's desired settings (pushed to it as shared attributes)."""


def _show_settings(found: Any, as_json: bool) -> None:
    if as_json:
        emit(found.to_json())
        return
    for key in sorted(found.values):
        click.echo(f"{key} = {json.dumps(found.values[key])}")
    if not found.values:
        click.echo("no settings")


@settings.command("show")
@click.argument("device_id")
@as_json_option
@click.pass_obj
def settings_show(obj: Context, device_id: str, as_json: bool) -> None:
    """The device's desired settings."""
    with obj.client() as client:
        found = run(lambda: client.device_settings(device_id))
    _show_settings(found, as_json)


@settings.command("set")
@click.argument("device_id")
@click.argument("values", nargs=-1, metavar="KEY=VALUE...")
@click.option("--unset", "removed", multiple=True, metavar="KEY", help="Remove this key (repeat).")
@as_json_option
@click.pass_obj
def settings_set(
    obj: Context, device_id: str, values: tuple[str, ...], removed: tuple[str, ...], as_json: bool
) -> None:
    """Change some settings; VALUE is JSON (telemetryInterval=5, led=true) or else a string."""
    patch: dict[str, Any] = dict(_setting(v) for v in values)
    patch.update(dict.fromkeys(removed))
    if not patch:
        raise click.UsageError("give KEY=VALUE or --unset KEY")
    with obj.client() as client:
        found = run(lambda: client.update_device_settings(device_id, patch))
    _show_settings(found, as_json)


@settings.command("replace")
@click.argument("device_id")
@click.argument("values", nargs=-1, metavar="KEY=VALUE...")
@as_json_option
@click.pass_obj
def settings_replace(obj: Context, device_id: str, values: tuple[str, ...], as_json: bool) -> None:
    """Replace every setting with these (none given: remove them all)."""
    with obj.client() as client:
        found = run(lambda: client.replace_device_settings(device_id, dict(_setting(v) for v in values)))
    _show_settings(found, as_json)


# --- Waiting on a device's local API ----------------------------------------------------------------------


def _configure_and_wait(
    device: DeviceClient, config: ConfigData, timeout: float, say: Callable[[str], None]
) -> None:
    """Send the configuration, then report each status change until the device is online (4) or fails."""
    run(lambda: device.configure(config))
    deadline = time.monotonic() + timeout
    last = -1
    while True:
        status = run(device.status)
        if status.status_code != last:
            last = status.status_code
            say(f"device: {status.status_code} {status.description}")
        if status.failed:
            raise click.ClickException(f"the device failed: {status.title} ({status.description})")
        if status.status_code == 4:
            return
        if time.monotonic() > deadline:
            raise click.ClickException(f"the device did not come online within {timeout:g} s")
        time.sleep(0.2)


def _remember_owner_key(obj: Context, device_id: str, owner_key: str) -> None:
    # The device asks for it before a factory reset over its local API; the app keeps it, so porto does too.
    obj.config.setdefault("ownerKeys", {})[device_id] = owner_key
    save_config(obj.config)


# --- Claim codes and MAC provisioning, the way the app does them ------------------------------------------


@main.command("claim-device")
@click.option("--device", "device_url", required=True, help="The device's local API, e.g. http://192.168.4.1")
@click.option("--ssid", required=True, help="Your Wi-Fi network.")
@click.option("--wifi-password", default="", help="Its password (empty for an open network).")
@click.option("--name", help="Rename the device in your account once claimed.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the device.")
@as_json_option
@click.pass_obj
def claim_device(  # noqa: PLR0917 - one per option
    obj: Context,
    device_url: str,
    ssid: str,
    wifi_password: str,
    name: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Claim a factory-made device: a claim code to it with your Wi-Fi, then ClaimDevice.

    Works for a device flashed with its own access token and for one flashed with the provisioning key
    (it registers itself on first connect, MAC provisioning): either way it asks ThingsBoard to be
    claimed with the code, under its device id.
    """
    say = progress(as_json)
    owner_key = secrets.token_urlsafe(18)
    with obj.client() as client, DeviceClient(device_url) as device:
        info = run(device.info)
        say(f"device {info.device_id} ({info.mac}) found")
        code = run(client.create_claim_code)
        say(f"claim code {code.claim_code} (expires {code.expires_at.isoformat()})")
        config = ConfigData(
            ssid=ssid,
            password=wifi_password,
            owner_key=owner_key,
            claim_secret=code.claim_code,
            # The device's claim request should not outlive the code.
            claim_duration_ms=max(1000, int((code.expires_at.timestamp() - time.time()) * 1000)),
        )
        _configure_and_wait(device, config, timeout, say)
        claimed = run(lambda: client.claim_device(info.device_id, code.claim_code))
        if name:
            claimed = run(lambda: client.update_device(claimed.id, name=name))
    _remember_owner_key(obj, str(claimed.id), owner_key)
    if as_json:
        emit(claimed.to_json())
        return
    click.echo(f"claimed: device {claimed.id} ({claimed.name})")


# --- Seed 004's gateway -----------------------------------------------------------------------------------


@main.group()
def gateway() -> None:
    """Devices that send their data to petit's HTTP gateway with a one-time provisioning token."""


@gateway.command("token")
@click.argument("device_id")
@click.option(
    "--lifetime-minutes", type=int, help="How long the token stays claimable (petit's default if unset)."
)
@click.option("--never-expires", is_flag=True)
@click.option("--notes", help="Kept with the claim, e.g. where the device is.")
@as_json_option
@click.pass_obj
def gateway_token(  # noqa: PLR0917 - one per option
    obj: Context,
    device_id: str,
    lifetime_minutes: int | None,
    never_expires: bool,
    notes: str | None,
    as_json: bool,
) -> None:
    """Issue a one-time provisioning token for DEVICE_ID (IssueProvisioningToken)."""
    with obj.client() as client:
        issued = run(
            lambda: client.issue_provisioning_token(
                device_id, lifetime_minutes=lifetime_minutes, never_expires=never_expires or None, notes=notes
            )
        )
    if as_json:
        emit(issued.to_json())
        return
    expiry = issued.expires_at.isoformat() if issued.expires_at else "never"
    click.echo(f"{issued.token}  (expires {expiry})")


@gateway.command("claims")
@click.argument("device_id")
@as_json_option
@click.pass_obj
def gateway_claims(obj: Context, device_id: str, as_json: bool) -> None:
    """Who claimed DEVICE_ID's provisioning tokens, newest first."""
    with obj.client() as client:
        found = run(lambda: client.provisioning_claims(device_id))
    if as_json:
        emit(found.to_json())
        return
    for item in found.items:
        notes = f"  notes {item.notes!r}" if item.notes else ""
        click.echo(
            f"{item.claimed_at.isoformat()}  token {item.token_id}  from {item.claim_ip or '?'}  "
            f"{json.dumps(item.device_metadata or {})}{notes}"
        )
    click.echo(f"{len(found.items)} claim(s)")


@gateway.command("latest")
@click.argument("device_id")
@as_json_option
@click.pass_obj
def gateway_latest(obj: Context, device_id: str, as_json: bool) -> None:
    """The latest value of every key DEVICE_ID sent through the gateway."""
    with obj.client() as client:
        found = run(lambda: client.gateway_latest_telemetry(device_id))
    if as_json:
        emit(found.to_json())
        return
    when = found.timestamp.isoformat() if found.timestamp else "nothing reported yet"
    click.echo(f"device {found.device_id}: {when}")
    for key in sorted(found.payload):
        click.echo(f"  {key} = {json.dumps(found.payload[key])}")


@gateway.command("connect")
@click.option("--device", "device_url", required=True, help="The device's local API, e.g. http://192.168.4.1")
@click.option("--name", required=True, help="The name the device gets in your account.")
@click.option("--ssid", required=True, help="Your Wi-Fi network.")
@click.option("--wifi-password", default="", help="Its password (empty for an open network).")
@click.option("--gateway-url", help="petit's address as the device reaches it (default: porto's --url).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the device.")
@as_json_option
@click.pass_obj
def gateway_connect(  # noqa: PLR0917 - one per option
    obj: Context,
    device_url: str,
    name: str,
    ssid: str,
    wifi_password: str,
    gateway_url: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Add a device that uses the gateway: CreateDevice, a provisioning token to it with your Wi-Fi,
    then wait until petit has seen it claim the token."""
    say = progress(as_json)
    owner_key = secrets.token_urlsafe(18)
    with obj.client() as client, DeviceClient(device_url) as device:
        info = run(device.info)
        say(f"device {info.device_id} ({info.mac}) found")
        created = run(lambda: client.create_device(name))
        say(f"created device {created.id} ({created.name})")
        issued = run(lambda: client.issue_provisioning_token(created.id, notes=f"porto: {info.device_id}"))
        say("provisioning token issued")
        config = ConfigData(
            ssid=ssid,
            password=wifi_password,
            owner_key=owner_key,
            gateway_url=gateway_url or obj.url,
            gateway_token=issued.token,
        )
        _configure_and_wait(device, config, timeout, say)
        claims = run(lambda: client.provisioning_claims(created.id))
        if not claims.items:
            raise click.ClickException("the device says it is online, but petit has no claim of its token")
        say(f"petit: token claimed from {claims.items[0].claim_ip or '?'}")
    _remember_owner_key(obj, str(created.id), owner_key)
    if as_json:
        emit(created.to_json())
        return
    click.echo(f"connected: device {created.id} ({created.name})")


# --- Sharing and ownership transfer --------------------------------------------------------------------


@main.command()
@click.argument("device_id")
@click.argument("email", required=False)
@click.option("--role", type=click.Choice(["member", "viewer"]), required=True, help="What they may do.")
@click.option("--share", "share_id", help="Change the role of this existing share instead of inviting.")
@as_json_option
@click.pass_obj
def share(  # noqa: PLR0917 - one per option
    obj: Context, device_id: str, email: str | None, role: str, share_id: str | None, as_json: bool
) -> None:
    """Invite EMAIL to your device as a member (use it) or viewer (watch it); or change a share's role."""
    if (email is None) == (share_id is None):
        raise click.UsageError("give an EMAIL to invite, or --share SHARE_ID to change a role")
    with obj.client() as client:
        if share_id is not None:
            result = run(lambda: client.update_device_share(device_id, share_id, role))
        else:
            assert email is not None
            result = run(lambda: client.share_device(device_id, email, role))
    if as_json:
        emit(result.to_json())
        return
    click.echo(f"share {result.id}: {result.email} as {result.role} ({result.status})")


@main.command()
@click.argument("device_id", required=False)
@as_json_option
@click.pass_obj
def shares(obj: Context, device_id: str | None, as_json: bool) -> None:
    """Who your device is shared with; without DEVICE_ID, the invitations and transfers waiting for you."""
    with obj.client() as client:
        if device_id is not None:
            listed = run(lambda: client.list_device_shares(device_id))
            if as_json:
                emit(listed.to_json())
                return
            for item in listed.items:
                click.echo(f"{item.id}  {item.role:<7} {item.status:<9} {item.email}")
            click.echo(f"{len(listed.items)} of at most {listed.max_users - 1} users besides you")
            return
        incoming = run(client.incoming_shares)
    if as_json:
        emit(incoming.to_json())
        return
    if not incoming.items:
        click.echo("nothing waiting for you")
    for offer in incoming.items:
        what = "ownership" if offer.kind == "transfer" else offer.role
        click.echo(
            f"{offer.id}  {offer.kind:<8} {what:<9} {offer.device_name!r} from {offer.owner_email}"
            f" (until {offer.expires_at:%Y-%m-%d %H:%M})"
        )


@main.command()
@click.argument("offer_id")
@click.option("--keep-shares", is_flag=True, help="For a transfer: keep the users the device is shared with.")
@as_json_option
@click.pass_obj
def accept(obj: Context, offer_id: str, keep_shares: bool, as_json: bool) -> None:
    """Accept an invitation or a transfer listed by `porto shares`."""
    with obj.client() as client:
        incoming = run(client.incoming_shares)
        offer = next((o for o in incoming.items if str(o.id) == offer_id), None)
        if offer is not None and offer.kind == "transfer":
            moved = run(lambda: client.accept_transfer(offer_id, keep_shares=keep_shares))
            if as_json:
                emit(moved.to_json())
                return
            click.echo(f"device {moved.device.id} ({moved.device.name}) is yours")
            click.echo(f"new access token for the device: {moved.credentials.access_token}")
            return
        accepted = run(lambda: client.accept_share(offer_id))
    if as_json:
        emit(accepted.to_json())
        return
    click.echo(f"device {accepted.device_id} shared with you as {accepted.role}")


@main.command()
@click.argument("share_id")
@as_json_option
@click.pass_obj
def decline(obj: Context, share_id: str, as_json: bool) -> None:
    """Decline an invitation listed by `porto shares`."""
    with obj.client() as client:
        run(lambda: client.decline_share(share_id))
    if as_json:
        emit({"shareId": share_id, "declined": True})
        return
    click.echo(f"declined: {share_id}")


@main.command()
@click.argument("device_id")
@click.argument("email", required=False)
@click.option("--cancel", is_flag=True, help="Withdraw the open offer instead.")
@as_json_option
@click.pass_obj
def transfer(obj: Context, device_id: str, email: str | None, cancel: bool, as_json: bool) -> None:
    """Offer your device to EMAIL; it moves when they accept (within the window petit states)."""
    if cancel == (email is not None):
        raise click.UsageError("give the new owner's EMAIL, or --cancel")
    with obj.client() as client:
        if cancel:
            run(lambda: client.cancel_transfer(device_id))
            if as_json:
                emit({"deviceId": device_id, "cancelled": True})
                return
            click.echo(f"transfer of {device_id} cancelled")
            return
        assert email is not None
        offered = run(lambda: client.offer_transfer(device_id, email))
    if as_json:
        emit(offered.to_json())
        return
    click.echo(
        f"offered: transfer {offered.id} until {offered.expires_at:%Y-%m-%d %H:%M}; they run `porto accept`"
    )


@main.command()
@click.argument("device_id")
@click.argument("share_id")
@as_json_option
@click.pass_obj
def revoke(obj: Context, device_id: str, share_id: str, as_json: bool) -> None:
    """Take a share back (or leave a device shared with you): access ends at once."""
    with obj.client() as client:
        run(lambda: client.revoke_device_share(device_id, share_id))
    if as_json:
        emit({"deviceId": device_id, "shareId": share_id, "revoked": True})
        return
    click.echo(f"revoked: {share_id}")
