"""The ``petit`` console script: migrations, refusal to start unsafely, and the README's `petit dev`."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from petit.cli import main

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETIT_")}
    env.update(extra)
    return env


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


def test_db_upgrade_applies_migrations_on_postgresql(make_database: Any, run_sync: Any) -> None:
    url = make_database("petit_cli")
    runner = CliRunner()
    result = runner.invoke(
        main, ["db", "upgrade"], env={"PETIT_ENVIRONMENT": "development", "PETIT_DB__URL": url}
    )
    assert result.exit_code == 0, result.output
    assert {"users", "refresh_tokens", "alembic_version"} <= run_sync(lambda: table_names(url))

    result = runner.invoke(
        main, ["db", "downgrade", "base"], env={"PETIT_ENVIRONMENT": "development", "PETIT_DB__URL": url}
    )
    assert result.exit_code == 0, result.output
    assert run_sync(lambda: table_names(url)) == {"alembic_version"}


def test_run_refuses_the_placeholder_secret_in_production() -> None:
    result = CliRunner().invoke(
        main, ["run", "--port", "0"], env={"PETIT_ENVIRONMENT": "production", "PETIT_AUTH__JWT_SECRET": ""}
    )
    assert result.exit_code != 0
    assert "JWT_SECRET" in result.output
    assert "Traceback" not in result.output


def test_openapi_check_passes_on_the_committed_document() -> None:
    result = CliRunner().invoke(main, ["openapi", "--check"])
    assert result.exit_code == 0, result.output


def _lines(stream: Any, sink: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):
        sink.put(line)


def test_petit_dev_serves_on_embedded_defaults(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "petit", "dev", "--host", "127.0.0.1", "--port", "0"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(process.stdout, output), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        base_url = None
        deadline = time.monotonic() + 60
        # The banner ends with the ThingsBoard line; read up to it.
        while not any("ThingsBoard" in line for line in seen) and time.monotonic() < deadline:
            assert process.poll() is None, "".join(seen)
            try:
                line = output.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            if match := re.search(r"API\s+(http://\S+)", line):
                base_url = match.group(1)
        assert base_url, f"petit dev printed no API address:\n{''.join(seen)}"
        printed = "".join(seen)
        assert "sqlite" in printed
        assert "in-process" in printed
        assert re.search(r"ThingsBoard\s+emulator in-process: REST http://127\.0\.0\.1:\d+\s+MQTT", printed)

        with httpx.Client(base_url=base_url, timeout=5) as http:
            while True:
                try:
                    if http.get("/health/live").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "".join(seen)
                time.sleep(0.1)
            ready = http.get("/health/ready")
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert {name: check["status"] for name, check in checks.items()} == {
                "database": "ok",
                "redis": "ok",
                "thingsboard": "ok",
            }

            credentials = {"email": "dev@example.com", "password": "a-long-dev-password"}
            assert http.post("/auth/signup", json=credentials).status_code == 201
            assert http.post("/auth/login", json=credentials).status_code == 200
            assert http.get("/schema").status_code == 200
        assert (tmp_path / "var" / "petit.sqlite3").is_file()
        assert (tmp_path / "var" / "thingsboard-emulator.sqlite3").is_file()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=10)  # EOF once the process is gone
        assert process.stdout is not None
        process.stdout.close()
