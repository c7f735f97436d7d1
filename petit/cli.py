"""The ``petit`` console script: development server, production server, migrations, contract export."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import click
import uvicorn
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from petit.db.engine import is_sqlite
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
def dev(host: str, port: int) -> None:
    """Run petit on its embedded defaults: SQLite file, in-process cache unless PETIT_REDIS__URL is set."""
    from petit.app import create_app  # noqa: PLC0415 - keep `petit --help` fast
    from petit.db.migrate import upgrade  # noqa: PLC0415

    base = _load_settings(environment=Environment.DEVELOPMENT)
    settings = base.model_copy(
        update={"thingsboard": base.thingsboard.model_copy(update={"embedded_emulator": True})}
    )
    _ensure_sqlite_dir(settings.db.url)
    upgrade(settings.db.url)

    # Embedded ThingsBoard emulator: start `thingsboard_emulator.Emulator(...).run_in_thread()` here, pass an
    # adapter for it as `thingsboard=` below and print its http_url / mqtt_port. Until then readiness reports
    # ThingsBoard as unavailable.
    thingsboard = None
    thingsboard_line = "not running (embedded emulator not wired yet; /health/ready reports it unavailable)"

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

    app = create_app(settings, thingsboard=thingsboard)
    server = uvicorn.Server(uvicorn.Config(app, log_level=settings.log.level.lower()))
    server.run(sockets=[sock])


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
        log_level=settings.log.level.lower(),
        proxy_headers=False,
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
