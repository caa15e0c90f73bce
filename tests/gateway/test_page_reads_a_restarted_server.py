"""The operator page shows a restarted server's state once its stream is back. The page reads the
kernel on a stream's first open and counts on the stream after that: a reconnect with
Last-Event-ID replays what it missed, or a `reset` makes it read again when the server is
another run. A stream that has given no event yet reconnects without Last-Event-ID and gets
neither, so the page reads again on every reopen of such a stream: here `dita serve` restarts
while the kernel was quiet, and the new run books a fill before the page is back."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.helpers import AUTH, CHROMIUM, CHROMIUM_ARGS, ENTER_ONE, start_server

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def browser_page() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.fail("neither chromium nor chromium-browser is on PATH: run `make chromium`")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_the_page_shows_the_restarted_servers_state_after_it_reconnects(browser_page: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    page = browser_page
    first = start_server(max_slots=4, port=port)
    page.goto(first.url + "/")
    sync_api.expect(page.locator("#conn")).to_have_text("connected")
    sync_api.expect(page.locator("#slot-0 td.stage")).to_have_text("IDLE")
    first.stop()  # a restart of `dita serve` while the kernel was quiet (no event yet)
    sync_api.expect(page.locator("#conn")).to_have_text("offline")
    second = start_server(max_slots=4, port=port)
    try:
        # The new run books a fill before the page's stream is back (a reconciliation at start).
        answer = second.client.post("/v1/intents", json={**ENTER_ONE, "slot_id": 0}, headers=AUTH)
        assert answer.json()["state"] == "POSITION_OPEN"
        sync_api.expect(page.locator("#conn")).to_have_text("connected", timeout=15_000)
        time.sleep(1.5)  # a read would have been answered by now
        sync_api.expect(page.locator("#slot-0 td.stage")).to_have_text("POSITION_OPEN", timeout=3_000)
    finally:
        second.stop()
