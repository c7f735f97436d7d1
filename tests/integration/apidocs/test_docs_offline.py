"""The API docs render in a real browser with the network closed: every asset comes from petit itself.

Debian's Chromium (scripts/ensure-services.sh installs it), driven by Playwright. Two locks keep the page
offline: Chromium resolves no host name but the loopback ones, and every request for another host is aborted
and recorded, so the test fails if the page so much as asks for the internet.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from petit.app import create_app
from petit.settings import Environment, Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import Litestar
    from playwright.async_api import Route

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def _docs_app() -> Litestar:
    settings = Settings(environment=Environment.TEST, auth={"jwt_secret": secrets.token_urlsafe(32)})  # type: ignore[arg-type]
    return create_app(settings)


@pytest.fixture
async def docs_url() -> AsyncIterator[str]:
    # The docs need no database, Redis or ThingsBoard: without a lifespan nothing connects.
    config = uvicorn.Config(_docs_app(), log_level="warning", lifespan="off")
    config.load()
    server = uvicorn.Server(config)
    # startup()/shutdown() rather than serve(): serve() would take over the process's signal handlers.
    server.lifespan = config.lifespan_class(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        await server.startup(sockets=[sock])
    except BaseException:
        sock.close()
        raise
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await asyncio.wait_for(server.shutdown(), 15)
        sock.close()


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is missing and scripts/ensure-services.sh could not install it (needs root and apt-get)",
)
@pytest.mark.timeout(60)
@pytest.mark.parametrize("page_path", ["/schema", "/schema/swagger"])
async def test_docs_render_offline(docs_url: str, page_path: str, tmp_path: object) -> None:
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only where a browser runs

    blocked: list[str] = []

    async def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            await context.route("**/*", loopback_only)
            page = await context.new_page()
            failed: list[str] = []
            page.on("requestfailed", lambda request: failed.append(request.url))
            await page.goto(docs_url + page_path, wait_until="load")
            # CreateDevice, with its summary, proves the document was read and rendered, not just that a page
            # arrived.
            operation = page.locator(".opblock", has_text="Register a new device")
            await operation.first.wait_for(state="visible", timeout=15_000)
            shown_id = operation.locator(".opblock-summary-operation-id")
            assert await shown_id.all_inner_texts() == ["CreateDevice"]
            listed = await page.locator(".opblock-summary-operation-id").all_inner_texts()
            assert {"Signup", "SignupCompat", "Login", "LoginCompat"} <= set(listed)
            assert await page.locator(".opblock").count() > 20
            assert await page.locator("h1.title", has_text="petit").count() == 1
        finally:
            await context.close()

    assert blocked == [], f"the docs page asked for the internet: {blocked}"
    assert failed == [], f"requests failed: {failed}"


@pytest.mark.parametrize("page_path", ["/schema", "/schema/swagger"])
async def test_docs_page_links_only_petit_assets(page_path: str) -> None:
    # The browser-free half of the proof, so a machine without Chromium still catches a CDN link.
    transport = httpx.ASGITransport(app=_docs_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://petit.test") as http:
        page = await http.get(page_path)
        assert page.status_code == 200
        links = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert links, page.text[:500]
        assert all(link.startswith("/schema/assets/") for link in links), links
        for link in links:
            asset = await http.get(link)
            assert asset.status_code == 200, link
            assert "max-age" in asset.headers.get("cache-control", "")
