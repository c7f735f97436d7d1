"""Run Alembic migrations from petit's own code (CLI, ``petit dev``, tests)."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

#: The repository root, which holds ``alembic.ini`` and ``migrations/`` (also inside the container image).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["url"] = url
    return config


def _in_own_thread(fn: object, *args: object) -> None:
    # env.py drives the async engine with asyncio.run(), which cannot nest inside a running loop; a fresh
    # thread gives it one of its own whatever the caller is.
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            errors.append(exc)

    thread = threading.Thread(target=target, name="petit-migrate")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def upgrade(url: str, revision: str = "head") -> None:
    _in_own_thread(command.upgrade, alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    _in_own_thread(command.downgrade, alembic_config(url), revision)
