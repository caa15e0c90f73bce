"""The operator page in headless Chromium (the system's Debian package, driven by Playwright).

Loads the page, sees a slot change after an intent is posted from outside, switches the mode
to HALTED through the page's confirmation, and sees the next entry refused. Screenshots go
to tests/gateway/artifacts/ (git-ignored).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from gateway.helpers import ARTIFACTS, AUTH, TOKEN, LiveServer, enter, start_server

# Debian names it chromium, Ubuntu chromium-browser (as `make chromium` accepts).
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Running as root in a container: no sandbox; and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def browser_page() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.fail("neither chromium nor chromium-browser is on PATH: run `make chromium`")
    with sync_api.sync_playwright() as pw:
        # launch() gives every run a fresh temporary profile (user-data-dir) and removes it after.
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            yield page
        finally:
            browser.close()


@pytest.fixture
def server() -> Iterator[LiveServer]:
    srv = start_server(max_slots=4)
    try:
        yield srv
    finally:
        srv.stop()


def test_operator_page_follows_the_kernel(server: LiveServer, browser_page: object) -> None:
    expect = sync_api.expect
    page: sync_api.Page = browser_page  # type: ignore[assignment]
    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(server.url) else None)

    page.goto(server.url + "/")
    expect(page.locator("#conn")).to_have_text("connected")
    expect(page.locator("#slots tbody tr")).to_have_count(4)
    expect(page.locator("#slot-0 td.stage")).to_have_text("IDLE")
    expect(page.locator("#reconcile")).not_to_have_text("…")
    page.fill("#token", TOKEN)
    page.dispatch_event("#token", "change")

    # An intent posted by someone else shows up through the event stream, without a reload.
    out = enter(server.client, asset="BTCUSDT", intent_id="browser-1")
    assert out["accepted"] is True and out["slot_id"] == 0
    expect(page.locator("#slot-0 td.stage")).to_have_text("POSITION_OPEN")
    expect(page.locator("#slot-0")).to_contain_text("BTCUSDT")
    expect(page.locator("#feed li[data-type='outcome']").first).to_contain_text("accepted")
    # A mark moves the slot's unrealized PnL on the page: 0.5 BTC long from 50,000, marked 51,000.
    mark = server.client.post("/v1/marks", json={"asset": "BTCUSDT", "price": 51_000}, headers=AUTH)
    assert mark.status_code == 200
    expect(page.locator("#slot-0 td").nth(6)).to_have_text("51000.00")
    expect(page.locator("#slot-0 td").nth(7)).to_have_text("500.00")
    expect(page.locator("#unrealized")).to_have_text("500.00")
    page.screenshot(path=str(ARTIFACTS / "01-slot-opened.png"), full_page=True)

    # Mode switch: nothing is sent until the operator confirms.
    before = page.locator("#control-mode").inner_text()
    page.select_option("#mode-select", "HALTED")
    page.click("#mode-switch")
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text(f"from {before} to HALTED")
    page.screenshot(path=str(ARTIFACTS / "02-confirm-halt.png"), full_page=True)
    assert server.client.get("/v1/control").json()["mode"] == before
    page.click("#confirm-yes")
    expect(page.locator("#mode-badge")).to_have_text("HALTED")
    expect(page.locator("#confirm")).to_be_hidden()
    assert server.client.get("/v1/control").json()["mode"] == "HALTED"

    # An entry from the page is refused by the kernel, and the page says why.
    page.fill("#enter-form input[name=asset]", "ETHUSDT")
    page.click("#enter-btn")
    expect(page.locator("#enter-result")).to_contain_text("MODE_BLOCKED")
    expect(page.locator("#feed li.refused").first).to_have_attribute("data-diagnostic", "MODE_BLOCKED")
    expect(page.locator("#slot-1 td.stage")).to_have_text("IDLE")
    page.screenshot(path=str(ARTIFACTS / "03-entry-refused.png"), full_page=True)
    assert server.client.get("/v1/slots/1").json()["fsm_state"] == "IDLE"

    # The page loaded nothing from anywhere else.
    assert outside == []
    for name in ("01-slot-opened.png", "02-confirm-halt.png", "03-entry-refused.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000


def test_the_page_connects_once_a_refused_stream_has_room(browser_page: object) -> None:
    """A browser gives up on an event stream answered 503 (sse_max_clients streams open): the
    page tries again, and once in, shows what changed while it was out."""
    import httpx

    expect = sync_api.expect
    page: sync_api.Page = browser_page  # type: ignore[assignment]
    srv = start_server(max_slots=2, sse_max_clients=1)
    try:
        with httpx.Client(timeout=30) as other, other.stream("GET", srv.url + "/v1/events") as held:
            assert held.status_code == 200
            page.goto(srv.url + "/")
            expect(page.locator("#conn")).to_have_text("offline")
            expect(page.locator("#slot-0 td.stage")).to_have_text("IDLE")
            assert enter(srv.client, asset="BTCUSDT", intent_id="while-out")["accepted"] is True
        # The held stream is closed: within the page's retry the page is in, up to date.
        expect(page.locator("#conn")).to_have_text("connected", timeout=20_000)
        expect(page.locator("#slot-0 td.stage")).to_have_text("POSITION_OPEN")
    finally:
        srv.stop()
