"""uvicorn as petit runs it: the options every entry point shares, and the lean WebSocket protocol's parts."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import uvicorn

from petit.serving import LeanWebSocketProtocol, _Flag, _Inbox, uvicorn_options, websocket_options
from petit.settings import ServerSettings, Settings

pytestmark = pytest.mark.unit


def test_the_default_is_the_lean_protocol_without_compression() -> None:
    options = websocket_options(ServerSettings())
    assert options == {"ws": LeanWebSocketProtocol, "ws_per_message_deflate": False}
    config = uvicorn.Config(app=lambda: None, **uvicorn_options(Settings(environment="development")))  # type: ignore[arg-type]
    config.load()
    assert config.ws_protocol_class is LeanWebSocketProtocol
    assert config.proxy_headers is False


def test_uvicorns_own_implementations_stay_selectable() -> None:
    server = ServerSettings(ws_implementation="websockets-sansio", ws_per_message_deflate=True)
    assert websocket_options(server) == {"ws": "websockets-sansio", "ws_per_message_deflate": True}


async def test_inbox_hands_items_over_in_order_and_wakes_its_reader() -> None:
    inbox = _Inbox()
    assert inbox.empty()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert await inbox.get() == 1
    reader = asyncio.ensure_future(asyncio.gather(inbox.get(), inbox.get()))
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(3)
    assert await asyncio.wait_for(reader, 5) == [2, 3]
    assert inbox.empty()


async def test_a_cancelled_reader_loses_nothing() -> None:
    inbox = _Inbox()
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("kept")
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    assert await asyncio.wait_for(inbox.get(), 5) == "kept"


async def test_flag_blocks_while_clear_and_releases_every_waiter_on_set() -> None:
    flag = _Flag(value=True)
    assert await asyncio.wait_for(flag.wait(), 5)
    flag.clear()
    waiters = asyncio.ensure_future(asyncio.gather(flag.wait(), flag.wait()))
    await asyncio.sleep(0)
    assert not waiters.done()
    flag.set()
    assert await asyncio.wait_for(waiters, 5) == [True, True]
    assert flag.is_set()
