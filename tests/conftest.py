"""Root fixtures. All of them are lazy: nothing touches PostgreSQL or Redis unless a test asks for it.

Every test that uses ``database_url`` (directly or through ``make_settings``, ``settings``, ``app``,
``client``) runs once per database backend: ``[pg]`` on PostgreSQL, production's database, and ``[sqlite]``
on SQLite, the embedded default of ``petit dev``. ``PETIT_TEST_BACKENDS=sqlite`` (or ``--backends sqlite``)
runs only the named ones; ``@pytest.mark.backends("postgresql")`` pins a test that is about one backend.

PostgreSQL: each xdist worker gets a fresh database (``petit_test_<worker>_<random>``), migrated with Alembic,
dropped at the end of the session; every table is truncated after each test that used it.
SQLite: each xdist worker migrates one template file; every test gets its own copy in ``tmp_path``.
Redis: every test gets its own key prefix, deleted afterwards.
Override the servers with ``PETIT_TEST_DATABASE_URL`` (an admin URL) and ``PETIT_TEST_REDIS_URL``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from petit.app import create_app
from petit.db.migrate import upgrade
from petit.db.models import metadata
from petit.settings import Environment, Settings

if TYPE_CHECKING:
    from pathlib import Path

    from litestar import Litestar

T = TypeVar("T")

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

#: Cheap argon2 parameters: hashing cost is not what these tests are about.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 1024, "argon2_parallelism": 1}


#: Database backends the suite knows, with the test id each gets.
BACKENDS = {"postgresql": "pg", "sqlite": "sqlite"}
BACKEND_ALIASES = {"pg": "postgresql", "postgres": "postgresql", **{name: name for name in BACKENDS}}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=os.environ.get("PETIT_TEST_BACKENDS", ",".join(BACKENDS)),
        help="comma-separated database backends to run database tests on (postgresql, sqlite); "
        "default: $PETIT_TEST_BACKENDS or all",
    )


def selected_backends(config: pytest.Config) -> list[str]:
    names = [name.strip().lower() for name in str(config.getoption("backends")).split(",") if name.strip()]
    unknown = [name for name in names if name not in BACKEND_ALIASES]
    if unknown or not names:
        raise pytest.UsageError(
            f"--backends/PETIT_TEST_BACKENDS: unknown {unknown}; choose from {list(BACKENDS)}"
        )
    return list(dict.fromkeys(BACKEND_ALIASES[name] for name in names))


@pytest.hookimpl(hookwrapper=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> Iterator[None]:
    """When pytest-timeout fires, print every asyncio task's stack as well as the threads'.

    A hung test here is nearly always a coroutine awaiting something that never comes; the thread dump alone
    shows only the event loop idling in ``select``."""
    yield
    previous = signal.getsignal(signal.SIGALRM)
    if not callable(previous):
        return

    def dump_tasks_then(signum: int, frame: Any) -> None:
        try:
            tasks = asyncio.all_tasks()
        except RuntimeError:  # no loop running: the thread dump says it all
            tasks = set()
        for task in tasks:
            print(f"~~~~ asyncio task {task.get_name()} ~~~~", file=sys.stderr)
            task.print_stack(limit=30, file=sys.stderr)
        previous(signum, frame)

    signal.signal(signal.SIGALRM, dump_tasks_then)


def pytest_configure(config: pytest.Config) -> None:
    selected_backends(config)  # a typo fails the run once, up front, not in every module's collection


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Parametrising the one fixture every database test depends on doubles exactly those tests; unit,
    # emulator and contract tests never reach it.
    if "db_backend" not in metafunc.fixturenames:
        return
    selected = selected_backends(metafunc.config)
    marker = metafunc.definition.get_closest_marker("backends")
    allowed = [BACKEND_ALIASES[name] for name in marker.args] if marker else list(BACKENDS)
    params = [pytest.param(name, id=BACKENDS[name]) for name in allowed if name in selected]
    if not params:
        reason = f"runs on {', '.join(allowed)}; selected: {', '.join(selected)}"
        params = [pytest.param(allowed[0], id=BACKENDS[allowed[0]], marks=pytest.mark.skip(reason=reason))]
    metafunc.parametrize("db_backend", params, indirect=True)


def run_in_thread(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private loop, whether or not the caller is inside one."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(fn()))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return os.environ.get("PETIT_TEST_DATABASE_URL", DEFAULT_ADMIN_URL)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("PETIT_TEST_REDIS_URL", DEFAULT_REDIS_URL)


async def _admin_execute(admin_url: str, *statements: str) -> None:
    engine = create_async_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def create_database(admin_url: str, prefix: str) -> str:
    """Create an empty database next to ``admin_url``'s and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        run_in_thread(lambda: _admin_execute(admin_url, f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {admin_url} ({exc}); start it or set PETIT_TEST_DATABASE_URL"
        )
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    run_in_thread(lambda: _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def worker_database_url(pg_admin_url: str, worker_id: str) -> Iterator[str]:
    url = create_database(pg_admin_url, f"petit_test_{worker_id}")
    upgrade(url)
    yield url
    drop_database(pg_admin_url, url)


@pytest.fixture
def make_database(pg_admin_url: str) -> Iterator[Callable[[str], str]]:
    """Create extra empty databases (``make_database("prefix")`` returns a URL); dropped after the test."""
    created: list[str] = []

    def factory(prefix: str) -> str:
        created.append(create_database(pg_admin_url, prefix))
        return created[-1]

    yield factory
    for url in created:
        drop_database(pg_admin_url, url)


@pytest.fixture
def run_sync() -> Callable[[Callable[[], Awaitable[T]]], T]:
    """Run a coroutine function to completion from synchronous test code."""
    return run_in_thread


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file per xdist worker; tests copy it rather than migrate again."""
    path = tmp_path_factory.mktemp("sqlite-template") / "petit.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    """The database backend this test runs on (``postgresql`` or ``sqlite``); see the module docstring."""
    backend: str = request.param
    return backend


@pytest.fixture
async def database_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database on this test's backend, for this test alone."""
    if db_backend == "sqlite":
        # Requested here, not as an argument, so a run on one backend never sets up the other.
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "petit.sqlite3"
        # Migrations run on a plain engine, never in WAL mode: the file alone is the whole database.
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    worker_database_url: str = request.getfixturevalue("worker_database_url")
    yield worker_database_url
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    engine = create_async_engine(worker_database_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
def redis_prefix() -> str:
    return f"petit-test:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis_client(redis_url: str, redis_prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        await client.ping()
    except OSError as exc:
        pytest.fail(f"Redis is not reachable at {redis_url} ({exc}); start it or set PETIT_TEST_REDIS_URL")
    yield client
    keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*", count=500)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Redis
) -> SettingsFactory:
    """Settings for this test's database and Redis prefix; keyword groups override (``auth={...}``).

    Depends on ``redis_client`` so that whatever the apps write under the prefix is deleted afterwards.
    """

    def factory(**groups: dict[str, Any]) -> Settings:
        base: dict[str, dict[str, Any]] = {
            "db": {"url": database_url, "pool_size": 2, "max_overflow": 2},
            "redis": {"url": redis_url, "key_prefix": redis_prefix},
            "auth": {"jwt_secret": secrets.token_urlsafe(32), **FAST_ARGON2},
        }
        for group, values in groups.items():
            base[group] = {**base.get(group, {}), **values}
        return Settings(environment=Environment.TEST, **base)  # type: ignore[arg-type]

    return factory


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@asynccontextmanager
async def _serve(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    # The app runs on the test's own event loop (Litestar's TestClient would use a portal thread, which
    # breaks collaborators such as a Redis client created by the test).
    # The lifespan lives in a task of its own because it opens an anyio cancel scope, which must be left by
    # the task that entered it; pytest-asyncio may tear a fixture down from another task.
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    lifespan = asyncio.create_task(run_lifespan())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({lifespan, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if lifespan.done():
        waiter.cancel()
        await lifespan  # startup failed: raise its error
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://petit.test") as http:
            yield http
    finally:
        stop.set()
        await lifespan


@pytest.fixture
def serve() -> Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with serve(app) as client``: run an app's lifespan and talk to it over ASGI."""
    return _serve


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with _serve(app) as http:
        yield http
