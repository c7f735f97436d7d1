"""``petit reconcile`` as operators run it: its own connections, a dry run that changes nothing, a report."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from petit.cli import main
from petit.thingsboard import ThingsBoardClient

if TYPE_CHECKING:
    from petit.settings import Settings
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration


def cli_env(settings: Settings) -> dict[str, str]:
    tb = settings.thingsboard
    return {
        "PETIT_ENVIRONMENT": "test",
        "PETIT_AUTH__JWT_SECRET": settings.auth.jwt_secret.get_secret_value(),
        "PETIT_DB__URL": settings.db.url,
        "PETIT_REDIS__URL": settings.redis.url or "",
        "PETIT_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "PETIT_THINGSBOARD__URL": tb.url or "",
        "PETIT_THINGSBOARD__USERNAME": tb.username or "",
        "PETIT_THINGSBOARD__PASSWORD": tb.password.get_secret_value() if tb.password else "",
        "PETIT_THINGSBOARD__REQUEST_TIMEOUT_S": "1",
    }


async def test_reconcile_command_reports_then_deletes_a_stranded_device(
    tb_settings: Settings, emulator: Emulator
) -> None:
    client = ThingsBoardClient(tb_settings.thingsboard.client_config(tb_settings.redis.key_prefix))
    try:
        stranded = await client.create_device(f"petit-{uuid.uuid4()}", owner_id=None)
        keep = await client.create_device(f"operator-{uuid.uuid4().hex[:8]}", owner_id=None)
        runner = CliRunner()
        env = cli_env(tb_settings)

        # The emulator serves from this test's loop, so the blocking command runs in a thread.
        dry = await asyncio.to_thread(
            runner.invoke, main, ["reconcile", "--dry-run", "--grace", "0"], env=env
        )
        assert dry.exit_code == 0, dry.output
        assert "(dry run): 1 drift item(s)" in dry.output
        assert "orphan platform devices deleted (would fix): 1" in dry.output
        assert await client.find_device(stranded.name) is not None

        fixed = await asyncio.to_thread(runner.invoke, main, ["reconcile", "--grace", "0"], env=env)
        assert fixed.exit_code == 0, fixed.output
        assert "orphan platform devices deleted (fixed): 1" in fixed.output
        assert await client.find_device(stranded.name) is None
        assert await client.find_device(keep.name) is not None

        emulator.faults.rest_errors(status=503)
        down = await asyncio.to_thread(runner.invoke, main, ["reconcile"], env=env)
        assert down.exit_code == 1
        assert "error: ThingsBoard failed" in down.output
    finally:
        emulator.faults.clear()
        await client.aclose()
