"""The operator page in headless Chromium (the system's Debian package, driven by Playwright).

Loads the page, sees a slot change after an intent is posted from outside, switches the mode
to HALTED through the page's confirmation, and sees the next entry refused; closes the book
from the page (a slot's exit and cancel, refused on a row the slot has moved on from, flatten
all through its confirmation), reads a refusal as a sentence, an unmarked position as unknown,
the journal switch only with a journal, and every page of a large kernel's slots. Screenshots
go to tests/gateway/artifacts/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.helpers import (
    ARTIFACTS,
    AUTH,
    CHROMIUM,
    CHROMIUM_ARGS,
    TOKEN,
    LimitsRest,
    LiveServer,
    enter,
    serving_an_order_in_doubt,
    start_server,
)

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


# --- closing the book from the page --------------------------------------------------------


@dataclass
class Book:
    """A server whose kernel holds slot 0 long 0.5 BTCUSDT and slot 2 short 2 SOLUSDT (neither
    marked yet), slot 1 an ETHUSDT limit entry resting, slot 3 idle; its total notional is
    capped at 100,000 (max_notional_total)."""

    server: LiveServer
    venue: LimitsRest


@pytest.fixture
def book() -> Iterator[Book]:
    venues: list[LimitsRest] = []

    def venue() -> LimitsRest:
        venues.append(LimitsRest())
        return venues[0]

    srv = start_server(
        max_slots=4, venue=venue, setup=lambda kernel: kernel.set_risk_limits({"max_notional_total": 100_000})
    )
    try:
        c = srv.client
        assert enter(c, asset="BTCUSDT")["state"] == "POSITION_OPEN"
        rest = enter(c, asset="ETHUSDT", order_type="LIMIT", limit_price=2_000.0, reference_price=2_100.0)
        assert rest["state"] == "ENTRY_WORKING"
        assert enter(c, asset="SOLUSDT", side="SHORT", target_size=2.0, reference_price=150.0)["accepted"]
        yield Book(srv, venues[0])
    finally:
        srv.stop()


def open_page(page: Any, server: LiveServer) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(server.url + "/")
    sync_api.expect(page.locator("#conn")).to_have_text("connected")
    sync_api.expect(page.locator("#slot-0 td.stage")).to_have_text("POSITION_OPEN")
    page.fill("#token", TOKEN)
    page.dispatch_event("#token", "change")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    assert (ARTIFACTS / name).stat().st_size > 10_000


def test_the_exit_button_closes_a_position_at_market(book: Book, browser_page: Any) -> None:
    expect, page = sync_api.expect, browser_page
    open_page(page, book.server)
    # Slot 1's entry still works: it has no position to exit, only an order to cancel.
    expect(page.locator("#slot-1 button.exit")).to_be_disabled()
    page.click("#slot-0 button.exit")
    expect(page.locator("#slot-0 td.stage")).to_have_text("CLOSED")
    expect(page.locator("#slot-result")).to_contain_text("exit on slot 0 accepted")
    expect(page.locator("#slot-0 button.exit")).to_be_disabled()
    shot(page, "04-exit.png")
    assert list(book.venue.reduce_only.values()).count(True) == 1  # the close went reduce-only
    assert book.server.client.get("/v1/slots/0").json()["size"] == 0.0


def test_the_cancel_button_cancels_a_working_order(book: Book, browser_page: Any) -> None:
    expect, page = sync_api.expect, browser_page
    open_page(page, book.server)
    expect(page.locator("#slot-0 button.cancel")).to_be_disabled()  # nothing works on slot 0
    page.click("#slot-1 button.cancel")
    expect(page.locator("#slot-1 td.stage")).to_have_text("IDLE")
    expect(page.locator("#slot-result")).to_contain_text("cancel on slot 1 accepted")
    expect(page.locator("#slot-1 button.cancel")).to_be_disabled()
    shot(page, "05-cancel.png")
    assert book.server.client.get("/v1/orders").json() == []


def test_a_click_on_a_stale_row_leaves_the_slots_newer_trade_alone(book: Book, browser_page: Any) -> None:
    expect, page = sync_api.expect, browser_page
    c = book.server.client
    page.route("**/v1/events", lambda route: route.abort())  # the page hears of no change
    page.goto(book.server.url + "/")
    expect(page.locator("#slot-1 td.stage")).to_have_text("ENTRY_WORKING")
    page.fill("#token", TOKEN)
    page.dispatch_event("#token", "change")
    # Meanwhile slots 0 and 1 move on to new trades: the page still shows the old ones.
    assert c.post("/v1/slots/0/exit", headers=AUTH).json()["accepted"] is True
    assert enter(c, asset="BTCUSDT", slot_id=0, trade_id="newer-0")["state"] == "POSITION_OPEN"
    assert c.post("/v1/slots/1/cancel", headers=AUTH).json()["accepted"] is True
    rest = enter(c, asset="ETHUSDT", order_type="LIMIT", limit_price=2_000.0, reference_price=2_100.0,
                 slot_id=1, trade_id="newer-1")  # fmt: skip
    assert rest["state"] == "ENTRY_WORKING"
    for slot_id, action in ((1, "cancel"), (0, "exit")):
        page.click(f"#slot-{slot_id} button.{action}")
        expect(page.locator("#slot-result")).to_contain_text("409: trade_id")
        expect(page.locator("#slot-result")).to_contain_text(f"holds trade 'newer-{slot_id}'")
    assert [o["trade_id"] for o in c.get("/v1/orders").json()] == ["newer-1"]
    assert c.get("/v1/slots/0").json()["size"] == 0.5


def test_flatten_all_says_what_it_will_do_then_does_it(book: Book, browser_page: Any) -> None:
    expect, page = sync_api.expect, browser_page
    c = book.server.client
    open_page(page, book.server)
    page.click("#flatten")
    expect(page.locator("#flatten-confirm")).to_be_visible()
    confirm = page.locator("#flatten-text")
    expect(confirm).to_contain_text("set the mode HALTED")
    expect(confirm).to_contain_text("cancel 1 working order (slot 1)")
    expect(confirm).to_contain_text("close 2 positions (slots 0, 2) by reduce-only market orders")
    shot(page, "06-flatten-confirm.png")
    # Nothing is done until the operator confirms.
    assert c.get("/v1/control").json()["mode"] != "HALTED"
    assert c.get("/v1/account").json()["open_positions"] == 2
    page.click("#flatten-yes")
    expect(page.locator("#mode-badge")).to_have_text("HALTED")
    expect(page.locator("#flatten-result")).to_have_text(
        "1 order cancelled, 2 exits placed at market, 0 refused; mode HALTED."
    )
    expect(page.locator("#flatten-steps li")).to_have_count(3)
    for slot_id, stage in ((0, "CLOSED"), (1, "IDLE"), (2, "CLOSED"), (3, "IDLE")):
        expect(page.locator(f"#slot-{slot_id} td.stage")).to_have_text(stage)
    expect(page.locator("#flatten-confirm")).to_be_hidden()
    shot(page, "07-flattened.png")
    assert c.get("/v1/account").json()["open_positions"] == 0
    assert c.get("/v1/orders").json() == []


def test_a_refusal_reads_as_a_sentence_with_rule_limit_and_value(book: Book, browser_page: Any) -> None:
    expect, page = sync_api.expect, browser_page
    open_page(page, book.server)
    page.fill("#enter-form input[name=target_size]", "10")  # 10 BTC at 50,000: over the 100,000 cap
    page.click("#enter-btn")
    result = page.locator("#enter-result")
    expect(result).to_have_attribute("data-diagnostic", "RISK_REJECTED")
    text = result.inner_text()
    assert text.startswith("Refused (RISK_REJECTED): rule max_notional_total: value "), text
    assert text.endswith("exceeds the limit 100000."), text
    assert "{" not in text
    expect(page.locator("#feed li.refused").first).to_contain_text("rule max_notional_total")
    shot(page, "08-refusal.png")


def test_unknown_marks_show_as_unknown_not_zero(book: Book, browser_page: Any) -> None:
    expect, page = sync_api.expect, browser_page
    open_page(page, book.server)
    for cell in (6, 7):  # mark, unrealized
        expect(page.locator("#slot-0 td").nth(cell)).to_have_text("unknown")
        expect(page.locator("#slot-2 td").nth(cell)).to_have_text("unknown")
    expect(page.locator("#slot-3 td").nth(6)).to_have_text("\u2013")  # a dash: no position, no mark to know
    expect(page.locator("#unrealized")).to_have_text("unknown (2 positions unmarked)")
    shot(page, "09-unknown-mark.png")
    mark = book.server.client.post("/v1/marks", json={"asset": "BTCUSDT", "price": 51_000}, headers=AUTH)
    assert mark.status_code == 200
    expect(page.locator("#slot-0 td").nth(6)).to_have_text("51000.00")
    expect(page.locator("#slot-0 td").nth(7)).to_have_text("500.00")
    expect(page.locator("#unrealized")).to_have_text("unknown (1 position unmarked)")


class NoJournal:
    """Takes the kernel as a journal does and writes nothing: enough for the page to know one
    is attached."""

    def attach(self, kernel: Any) -> None:
        pass

    def close(self) -> None:
        pass


def test_the_journal_switch_shows_only_with_a_journal(browser_page: Any) -> None:
    expect, page = sync_api.expect, browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    bare = start_server(max_slots=2)
    try:
        page.goto(bare.url + "/")
        expect(page.locator("#conn")).to_have_text("connected")
        expect(page.locator("#control-mode")).not_to_have_text("…")
        expect(page.locator("#journal-switch")).to_be_hidden()
        shot(page, "10-journal-switch-hidden.png")
    finally:
        bare.stop()
    journaled = start_server(max_slots=2, journal=NoJournal)
    try:
        page.goto(journaled.url + "/")
        expect(page.locator("#conn")).to_have_text("connected")
        expect(page.locator("#journal-switch")).to_be_visible()
        expect(page.locator("#control-debug")).to_have_text("on")
        page.fill("#token", TOKEN)
        page.dispatch_event("#token", "change")
        page.click("#debug-toggle")
        expect(page.locator("#control-debug")).to_have_text("off")
        expect(page.locator("#debug-toggle")).to_have_text("Turn on")
        shot(page, "11-journal-switch-shown.png")
        assert journaled.client.get("/v1/control").json()["debug_clickhouse_enabled"] is False
    finally:
        journaled.stop()


def test_the_operator_page_lists_every_page_of_slots(browser_page: object) -> None:
    """GET /v1/slots answers at most 5,000 slots at once: the page reads every page."""
    page: sync_api.Page = browser_page  # type: ignore[assignment]
    srv = start_server(max_slots=5_001)
    try:
        page.goto(srv.url + "/")
        sync_api.expect(page.locator("#slots tbody tr")).to_have_count(5_001, timeout=30_000)
        sync_api.expect(page.locator("#slot-5000 td.stage")).to_have_text("IDLE")
    finally:
        srv.stop()


def test_the_cancel_button_cancels_an_order_in_doubt_again(browser_page: Any) -> None:
    """An order in doubt may still work at the venue: its slot is idle, with no working order,
    and its Cancel sends the cancel again; the venue throttling that one too, the page says so."""
    expect, page = sync_api.expect, browser_page
    with serving_an_order_in_doubt() as (srv, venue, coid):
        ARTIFACTS.mkdir(exist_ok=True)
        page.goto(srv.url + "/")
        expect(page.locator("#conn")).to_have_text("connected")
        expect(page.locator("#slot-0 td.stage")).to_have_text("IDLE")
        page.fill("#token", TOKEN)
        page.dispatch_event("#token", "change")
        expect(page.locator("#slot-0 button.cancel")).to_be_enabled()
        expect(page.locator("#slot-0 button.cancel")).to_have_attribute(
            "title", f"order {coid} in doubt: cancel it again"
        )
        expect(page.locator("#slot-1 button.cancel")).to_be_disabled()
        page.click("#slot-0 button.cancel")
        expect(page.locator("#slot-result")).to_contain_text(
            "Refused (RATE_LIMITED): the venue throttled the cancel; the order may still work"
        )
        expect(page.locator("#slot-result")).to_have_attribute("data-diagnostic", "RATE_LIMITED")
        assert venue.cancels == [coid, coid]


def test_an_edge_freeze_shows_as_frozen_beside_the_mode(browser_page: Any) -> None:
    expect, page = sync_api.expect, browser_page
    srv = start_server(max_slots=2)
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        page.goto(srv.url + "/")
        expect(page.locator("#conn")).to_have_text("connected")
        expect(page.locator("#mode-badge")).to_have_text("PAPER")
        expect(page.locator("#frozen-badge")).to_be_hidden()
        kernel = srv.app.state.kernel
        kernel.set_risk_limits({"edge_freeze_threshold_bps": 10.0})
        assert kernel.on_edge_update("BTCUSDT", 1.0).details["frozen"] is True
        # The control event the gateway sends of a change made another way brings it, unreloaded.
        expect(page.locator("#mode-badge")).to_have_text("PAPER")
        expect(page.locator("#frozen-badge")).to_be_visible()
        expect(page.locator("#frozen-badge")).to_have_text("FROZEN")
        reason = kernel.control()["freeze_reason"]
        expect(page.locator("#frozen-badge")).to_have_attribute(
            "title", f"entries frozen: {reason} (BTCUSDT)"
        )
        shot(page, "12-frozen.png")
    finally:
        srv.stop()
