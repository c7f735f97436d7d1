"""The ``petit`` console script: development server, production server, migrations, contract export."""

from __future__ import annotations

import signal
import socket
import sys
from contextlib import ExitStack
from pathlib import Path

import click
import uvicorn
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import make_url

from petit import emulator_ports
from petit.db.engine import is_sqlite
from petit.emulator_ports import DEFAULT_HTTP_PORT, DEFAULT_MQTT_PORT, HTTP_FLAG, MQTT_FLAG
from petit.serving import uvicorn_options
from petit.settings import Environment, Settings


def _load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        # Refusing to start is the point (a placeholder JWT secret in production, say): explain, no traceback.
        raise click.ClickException(f"invalid configuration:\n{exc}") from None


def _ensure_sqlite_dir(url: str) -> None:
    if is_sqlite(url) and (database := make_url(url).database) and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _bind(host: str, port: int) -> socket.socket:
    # Binding here, before uvicorn starts, lets us print the real port when --port 0 asks the OS for one.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@click.group()
def main() -> None:
    """petit: accounts, device ownership and telemetry on ThingsBoard CE."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=int, help="Port to listen on (0: any free port)."
)
@click.option(
    "--tb-http-port",
    type=click.IntRange(0, 65535),
    help="Embedded ThingsBoard emulator's REST/WebSocket port, remembered for later runs "
    f"(0: any free port). First run default: {DEFAULT_HTTP_PORT}.",
)
@click.option(
    "--tb-mqtt-port",
    type=click.IntRange(0, 65535),
    help="Embedded ThingsBoard emulator's device MQTT port, remembered for later runs "
    f"(0: any free port). First run default: {DEFAULT_MQTT_PORT}.",
)
def dev(host: str, port: int, tb_http_port: int | None, tb_mqtt_port: int | None) -> None:
    """Run petit on its embedded defaults: SQLite file, in-process cache unless PETIT_REDIS__URL is set, and
    the ThingsBoard emulator in-process unless PETIT_THINGSBOARD__URL is set.

    The emulator's ports are kept in var/thingsboard-emulator.ports.json, so devices paired with it find
    their MQTT broker again after a restart."""
    from petit.db.migrate import upgrade  # noqa: PLC0415

    base = _load_settings(environment=Environment.DEVELOPMENT)
    settings = base.model_copy(
        update={"thingsboard": base.thingsboard.model_copy(update={"embedded_emulator": True})}
    )
    if settings.thingsboard.url and (tb_http_port is not None or tb_mqtt_port is not None):
        raise click.UsageError(
            f"{HTTP_FLAG} and {MQTT_FLAG} place the embedded emulator, which PETIT_THINGSBOARD__URL replaces"
        )
    _ensure_sqlite_dir(settings.db.url)
    upgrade(settings.db.url)

    # After a graceful shutdown uvicorn raises the signal that asked for it again, under the handler it
    # found. The default one would end the process right there, before this ExitStack stops the embedded
    # emulator, whose last writes would then never reach its data file. Installed before the emulator
    # starts, so a signal during startup unwinds the same way.
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ExitStack() as stack:
            if settings.thingsboard.url:
                thingsboard_line = f"{settings.thingsboard.url} (PETIT_THINGSBOARD__URL)"
            else:
                settings, thingsboard_line = _start_embedded_emulator(
                    stack, settings, tb_http_port, tb_mqtt_port
                )
            _serve_dev(settings, host, port, thingsboard_line)
    except _StopSignalError:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_embedded_emulator(
    stack: ExitStack, settings: Settings, http_port: int | None, mqtt_port: int | None
) -> tuple[Settings, str]:
    from thingsboard_emulator import Emulator  # noqa: PLC0415 - only dev mode needs it

    host = "127.0.0.1"
    # Beside the SQLite database, so devices petit knows survive a restart on the ThingsBoard side too.
    data_file = Path("var/thingsboard-emulator.sqlite3")
    data_file.parent.mkdir(parents=True, exist_ok=True)
    ports_file = data_file.with_suffix(".ports.json")
    try:
        remembered = emulator_ports.load(ports_file)
        wanted = emulator_ports.choose(
            host, http=http_port, mqtt=mqtt_port, remembered=remembered, path=ports_file
        )
    except emulator_ports.PortsError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        emulator = stack.enter_context(
            Emulator(host, wanted.http, wanted.mqtt, data_file=str(data_file)).run_in_thread()
        )
    except OSError as exc:
        # Taken between the check and the bind.
        raise click.ClickException(
            f"the ThingsBoard emulator could not listen on {host} (HTTP {wanted.http or 'any'}, MQTT "
            f"{wanted.mqtt or 'any'}): {exc}; pick other ports with {HTTP_FLAG} / {MQTT_FLAG}"
        ) from None
    bound = emulator_ports.EmulatorPorts(http=emulator.http_port, mqtt=emulator.mqtt_port)
    if bound != remembered:
        emulator_ports.save(ports_file, bound)
    thingsboard = settings.thingsboard.model_copy(
        update={
            "url": emulator.http_url,
            "username": "tenant@thingsboard.org",
            "password": SecretStr("tenant"),
            "mqtt_host": host,
            "mqtt_port": emulator.mqtt_port,
        }
    )
    line = (
        f"emulator in-process: REST {emulator.http_url}  MQTT {host}:{emulator.mqtt_port}  "
        f"WebSocket {emulator.ws_url}/api/ws  (data: {data_file}; UI logins tenant@thingsboard.org/tenant)\n"
        f"               ports kept in {ports_file} for paired devices; "
        f"move them with {HTTP_FLAG} / {MQTT_FLAG}"
    )
    return settings.model_copy(update={"thingsboard": thingsboard}), line


def _serve_dev(settings: Settings, host: str, port: int, thingsboard_line: str) -> None:
    from petit.app import create_app  # noqa: PLC0415 - keep `petit --help` fast

    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    base_url = f"http://{host}:{bound_port}"
    redacted_db = make_url(settings.db.url).render_as_string(hide_password=True)
    cache = settings.redis.url or "in-process (set PETIT_REDIS__URL to use Redis)"
    click.echo(f"petit {settings.environment.value} server")
    click.echo(f"  API          {base_url}")
    click.echo(f"  OpenAPI UI   {base_url}/schema  (document: {base_url}/schema/openapi.json)")
    click.echo(f"  health       {base_url}/health/live  {base_url}/health/ready")
    click.echo(f"  database     {redacted_db}  (migrated to head)")
    click.echo(f"  cache        {cache}")
    click.echo(f"  ThingsBoard  {thingsboard_line}")
    sys.stdout.flush()

    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(settings)))
    server.run(sockets=[sock])


class _StopSignalError(Exception):
    """SIGINT or SIGTERM, once uvicorn is done with it."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _StopSignalError


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface to listen on.")  # noqa: S104
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", default=1, show_default=True, type=int, envvar="WEB_CONCURRENCY", help="Processes."
)
def run(host: str, port: int, workers: int) -> None:
    """Serve petit for production, configured only by PETIT_* variables. Does not migrate."""
    settings = _load_settings()  # fail here, once, rather than in every worker
    uvicorn.run(
        "petit.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        **uvicorn_options(settings),
    )


@main.group()
def db() -> None:
    """Database migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head) on PETIT_DB__URL."""
    from petit.db.migrate import upgrade  # noqa: PLC0415

    settings = _load_settings()
    _ensure_sqlite_dir(settings.db.url)
    upgrade(settings.db.url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (``base`` empties the schema)."""
    from petit.db.migrate import downgrade  # noqa: PLC0415

    downgrade(_load_settings().db.url, revision)
    click.echo(f"database at {revision}")


@main.command()
@click.option("--check", is_flag=True, help="Fail if the committed document differs instead of writing it.")
def openapi(check: bool) -> None:
    """Export the OpenAPI document to porto_contract/openapi.json."""
    from petit.contract import OPENAPI_PATH, render_openapi  # noqa: PLC0415

    document = render_openapi()
    if check:
        current = OPENAPI_PATH.read_text(encoding="utf-8") if OPENAPI_PATH.exists() else ""
        if current != document:
            raise click.ClickException(f"{OPENAPI_PATH} is out of date; run `uv run petit openapi`")
        click.echo(f"{OPENAPI_PATH} is up to date")
        return
    OPENAPI_PATH.write_text(document, encoding="utf-8")
    click.echo(f"wrote {OPENAPI_PATH}")


@main.command()
@click.option("--dry-run", is_flag=True, help="Report drift without repairing anything.")
@click.option(
    "--grace",
    "grace_s",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Leave ThingsBoard devices younger than this many seconds alone (their create may be in flight).",
)
def reconcile(dry_run: bool, grace_s: float) -> None:
    """Find and repair drift between petit's devices and users and ThingsBoard."""
    import asyncio  # noqa: PLC0415

    from petit.devices.reconcile import reconcile_with_settings  # noqa: PLC0415

    settings = _load_settings()
    if not settings.thingsboard.url:
        raise click.ClickException("ThingsBoard is not configured (PETIT_THINGSBOARD__URL is unset)")
    report = asyncio.run(reconcile_with_settings(settings, dry_run=dry_run, grace_s=grace_s))
    click.echo(f"reconcile{' (dry run)' if dry_run else ''}: {report.drift} drift item(s)")
    for line in report.lines():
        click.echo(f"  {line}")
    if report.errors:
        raise SystemExit(1)
