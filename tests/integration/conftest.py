"""Integration fixtures shared by petit's features: a real ThingsBoard emulator over HTTP and MQTT."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.emulated import thingsboard_settings
from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from petit.settings import Settings


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """A fresh emulator on OS-chosen ports; options by indirect parametrisation."""
    options: dict[str, Any] = getattr(request, "param", {})
    async with Emulator(**options) as emu:
        yield emu


@pytest.fixture
def tb_settings(make_settings: Callable[..., Settings], emulator: Emulator) -> Settings:
    """This test's settings, pointed at the emulator as petit's tenant administrator."""
    return make_settings(thingsboard=thingsboard_settings(emulator, request_timeout_s=1.0))
