"""The operator page in headless Chromium keeps the newer of a read and a streamed event: it
opens /v1/events before it reads the slots, and a read answered after the stream told of a
later change (its X-Last-Event-Id below the event's id) leaves the row as the event painted
it. Here slot 0 is read IDLE, then an ENTER fills it (the stream's `slot` event shows
POSITION_OPEN), then the read's answer arrives."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.helpers import AUTH, CHROMIUM, CHROMIUM_ARGS, ENTER_ONE, LiveServer, start_server

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


@pytest.fixture
def server() -> Iterator[LiveServer]:
    srv = start_server(max_slots=4)
    try:
        yield srv
    finally:
        srv.stop()


def test_a_slots_read_older_than_a_streamed_fill_does_not_repaint_the_slot(
    server: LiveServer, browser_page: Any
) -> None:
    page = browser_page
    entered: dict[str, Any] = {}

    def fill_before_the_read_is_answered(route: Any) -> None:
        read = route.fetch()  # slot 0 read now: IDLE
        if not entered:
            deadline = time.monotonic() + 10
            while server.client.get("/healthz").json()["sse_clients"] < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            answer = server.client.post("/v1/intents", json={**ENTER_ONE, "slot_id": 0}, headers=AUTH)
            entered["state"] = answer.json()["state"]
            entered["read_id"] = int(read.headers["x-last-event-id"])
            time.sleep(1.0)  # the page paints the streamed slot event meanwhile
        route.fulfill(response=read)

    page.route("**/v1/slots?*", fill_before_the_read_is_answered)
    page.goto(server.url + "/")
    sync_api.expect(page.locator("#conn")).to_have_text("connected")
    sync_api.expect(page.locator("#slots tbody tr")).to_have_count(4)
    assert entered["state"] == "POSITION_OPEN"
    assert server.client.get("/healthz").json()["last_event_id"] > entered["read_id"]
    # The page got the newer state (its feed lists the slot event) and keeps it.
    feed = page.locator("#feed li[data-type='slot']").first
    sync_api.expect(feed).to_contain_text("POSITION_OPEN")
    time.sleep(0.5)
    sync_api.expect(page.locator("#slot-0 td.stage")).to_have_text("POSITION_OPEN")
    sync_api.expect(page.locator("#slot-0 button.exit")).to_be_enabled()
    sync_api.expect(page.locator("#slot-1 td.stage")).to_have_text("IDLE")
