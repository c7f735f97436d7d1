"""Fixtures for the ThingsBoard emulator's tests: a fresh emulator per test, in-loop or on its own thread."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

TENANT = ("tenant@thingsboard.org", "tenant")
SYSADMIN = ("sysadmin@thingsboard.org", "sysadmin")


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A fresh emulator on the test's event loop (ports chosen by the OS)."""
    async with Emulator(inactivity_timeout_s=2) as emu:
        yield emu


@pytest.fixture
def sync_emulator() -> Iterator[Emulator]:
    """A fresh emulator on its own thread, for synchronous clients (tb-rest-client, paho, tb-mqtt-client)."""
    with Emulator(inactivity_timeout_s=2).run_in_thread() as emu:
        yield emu


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names that cannot collide across tests or xdist workers."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
