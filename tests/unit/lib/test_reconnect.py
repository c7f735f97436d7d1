"""The reconnect backoff: jittered within a doubling bound, capped, back to the start after a success."""

from __future__ import annotations

import asyncio

import pytest

from petit.lib.reconnect import Backoff

pytestmark = pytest.mark.unit


async def test_delays_double_up_to_the_cap_and_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    bounds: list[float] = []
    monkeypatch.setattr("petit.lib.reconnect.random.uniform", lambda low, high: bounds.append(high) or 0.0)
    sleeps: list[float] = []

    async def no_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    backoff = Backoff(0.1, 0.5)
    for _ in range(5):
        await backoff.wait()
    backoff.reset()
    await backoff.wait()
    assert bounds == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5, 0.1])
    assert sleeps == [0.0] * 6
