"""Venues driven by the real ExecutionKernel: partial fills reach the slot and the account,
cancels after partial fills keep the filled size, timeouts stay in flight until the venue
reports, throttling is a rate-limit edge, and venue market rules reach the kernel."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from recorded_exchange import RecordedExchange
from venue_helpers import API_KEY, API_SECRET, HOLD, ManualClock, closed_part_filled

from dita import (
    AccountEvent,
    ExecutionKernel,
    KernelDiagnosticCode,
    KernelIntent,
    MockVenueAdapter,
    TradeStage,
    VenueEvent,
    VenueOrder,
)
from dita.risk import RiskLimits
from dita.venues import CcxtVenue, PaperVenue, ShadowVenue, VenueRouter, VenueUnavailable


def enter(
    intent_id: str,
    size: float,
    price: float,
    *,
    slot_id: int = 0,
    trade_id: str = "tr-1",
    asset: str = "BTCUSDT",
    side: str = "LONG",
    order_type: str = "MARKET",
    limit_price: float = 0.0,
    ts: float = 1.0,
) -> KernelIntent:
    return KernelIntent(
        intent_id,
        trade_id,
        slot_id,
        asset,
        side,
        "ENTER",
        price,
        size,
        order_type=order_type,
        limit_price=limit_price,
        timestamp=ts,
    )


def leave(
    intent_id: str, size: float, price: float, *, slot_id: int = 0, trade_id: str = "tr-1", ts: float = 1.0
) -> KernelIntent:
    return KernelIntent(intent_id, trade_id, slot_id, "BTCUSDT", "LONG", "EXIT", price, size, timestamp=ts)


def cancel(intent_id: str, *, slot_id: int = 0, trade_id: str = "tr-1", ts: float = 1.0) -> KernelIntent:
    return KernelIntent(intent_id, trade_id, slot_id, "BTCUSDT", "LONG", "CANCEL", 0.0, 0.0, timestamp=ts)


def feed(kernel: ExecutionKernel, events: list) -> None:
    for event in events:
        outcome = kernel.on_venue_event(event)
        assert outcome.accepted, outcome.to_dict()


# -- paper ---------------------------------------------------------------------------------


def test_paper_partial_fills_reach_the_position_and_the_account() -> None:
    venue = PaperVenue(slippage_bps=0, taker_rate=0.001)
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    kernel.set_seed_capital(10_000.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 1.5, ts=1.0)

    outcome = kernel.process_intent(enter("i1", 4.0, 100.0))
    assert outcome.accepted, outcome.to_dict()
    slot = kernel.slot_state(0)
    assert slot.size == pytest.approx(1.5)
    assert slot.fsm_state == TradeStage.ENTRY_WORKING

    feed(kernel, venue.on_quote("BTCUSDT", 100.0, 102.0, 5.0, 2.0, ts=2.0))
    assert kernel.slot_state(0).size == pytest.approx(3.5)
    feed(kernel, venue.on_quote("BTCUSDT", 100.0, 104.0, 5.0, 5.0, ts=3.0))
    slot = kernel.slot_state(0)
    assert slot.size == pytest.approx(4.0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.entry_price == pytest.approx((1.5 * 100 + 2.0 * 102 + 0.5 * 104) / 4.0)
    # The fees the venue charged are the ones the kernel books.
    assert slot.fees_paid == pytest.approx(venue.fees_paid)
    assert kernel.account()["k_fees_paid"] == pytest.approx(venue.fees_paid)

    # Exit into a thin bid: two fills, the slot closes with the realized PnL of both.
    venue.on_quote("BTCUSDT", 110.0, 111.0, 3.0, 5.0, ts=4.0)
    outcome = kernel.process_intent(leave("x1", 4.0, 110.0, ts=4.0))
    assert outcome.accepted, outcome.to_dict()
    assert kernel.slot_state(0).size == pytest.approx(1.0)
    feed(kernel, venue.on_quote("BTCUSDT", 108.0, 109.0, 3.0, 5.0, ts=5.0))
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.CLOSED
    entry = (1.5 * 100 + 2.0 * 102 + 0.5 * 104) / 4.0
    expected_pnl = 3.0 * (110.0 - entry) + 1.0 * (108.0 - entry)
    assert slot.realized_pnl == pytest.approx(expected_pnl)
    account = kernel.account()
    assert account["k_realized_pnl"] == pytest.approx(expected_pnl)
    assert account["k_fees_paid"] == pytest.approx(venue.fees_paid)
    assert venue.positions() == {}


def test_paper_entry_beyond_the_buying_power_is_the_venues_reject_and_frees_the_slot() -> None:
    """With ``leverage`` the paper venue refuses an entry its account cannot carry, as an
    exchange does: the kernel hears an ordinary REJECT, its slot free again, nothing held."""
    venue = PaperVenue(slippage_bps=0, taker_rate=0.001, starting_balance=1_000.0, leverage=1.0)
    kernel = ExecutionKernel(max_slots=1, venue=venue)
    kernel.set_seed_capital(1_000.0)
    venue.on_quote("BTCUSDT", 100.0, 100.0, 50.0, 50.0, ts=1.0)

    outcome = kernel.process_intent(enter("i1", 20.0, 100.0))
    assert outcome.accepted, outcome.to_dict()
    [reject] = [e for e in outcome.emitted_events if e.kind.name == "REJECT"]
    assert reject.reason.startswith("insufficient margin: the order needs 2,002.00 USDT")
    assert "available 1,000.00 USDT" in reject.reason
    assert outcome.state == TradeStage.IDLE
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE and kernel.free_slot_id() == 0
    assert venue.positions() == {} and kernel.account()["open_positions"] == 0

    # The slot takes the next entry, one the balance carries, and its exit even after a loss
    # that leaves no margin for anything else.
    outcome = kernel.process_intent(enter("i2", 9.0, 100.0, trade_id="tr-2", ts=2.0))
    assert outcome.accepted and kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    venue.on_quote("BTCUSDT", 50.0, 50.0, 50.0, 50.0, ts=3.0)
    outcome = kernel.process_intent(leave("x1", 9.0, 50.0, trade_id="tr-2", ts=3.0))
    assert outcome.accepted, outcome.to_dict()
    assert kernel.slot_state(0).fsm_state == TradeStage.CLOSED and venue.positions() == {}


@pytest.mark.parametrize("short_size", [0.5, 1.0], ids=["past-the-net", "net-flat"])
def test_paper_slots_long_and_short_of_one_asset_both_close(short_size: float) -> None:
    """The venue nets the slots of an asset, and caps a reduce-only order at the position it
    reduces. A long of 1 beside a short of 0.5 (or 1: the venue holds nothing) leaves the
    venue less long than the long's exit sells: sent reduce-only, it would be capped (or expire
    whole) and neither slot could ever close. The kernel sends an exit reduce-only only when
    the netted position covers it: the long's exit goes out plain and fills, then
    the short's, reduce-only, closes what is left."""
    sent: list[VenueOrder] = []

    class Recording(PaperVenue):
        def submit(self, order: VenueOrder) -> list[VenueEvent]:
            sent.append(order)
            return super().submit(order)

    venue = Recording(slippage_bps=0, taker_rate=0.001)
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    kernel.set_seed_capital(10_000.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 50.0, 50.0, ts=1.0)
    assert kernel.process_intent(enter("i1", 1.0, 100.0)).accepted
    short = enter("i2", short_size, 99.0, slot_id=1, trade_id="tr-2", side="SHORT")
    assert kernel.process_intent(short).state == TradeStage.POSITION_OPEN
    assert venue.positions() == ({"BTCUSDT": 0.5} if short_size == 0.5 else {})

    outcome = kernel.process_intent(leave("x1", 1.0, 99.0, ts=2.0))
    assert outcome.accepted, outcome.to_dict()
    assert (sent[-1].reduce_only, sent[-1].is_entry) == (False, False)
    assert kernel.slot_state(0).fsm_state == TradeStage.CLOSED
    assert venue.positions() == {"BTCUSDT": -short_size}

    back = kernel.process_intent(leave("x2", short_size, 100.0, slot_id=1, trade_id="tr-2", ts=3.0))
    assert back.accepted, back.to_dict()
    assert (sent[-1].reduce_only, sent[-1].is_entry) == (True, False)
    assert kernel.slot_state(1).fsm_state == TradeStage.CLOSED
    assert venue.positions() == {} and kernel.open_orders() == []
    report = kernel.reconcile_with_venue()
    assert report.clean and report.position_mismatches == []


def test_paper_limit_entry_canceled_after_a_partial_fill_keeps_the_filled_size() -> None:
    venue = PaperVenue(slippage_bps=0, maker_rate=0.0002)
    kernel = ExecutionKernel(max_slots=1, venue=venue)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    outcome = kernel.process_intent(enter("i1", 2.0, 99.0, order_type="LIMIT", limit_price=98.0))
    assert outcome.accepted, outcome.to_dict()
    feed(kernel, venue.on_quote("BTCUSDT", 97.0, 98.0, 5.0, 0.5, ts=2.0))
    assert kernel.slot_state(0).size == pytest.approx(0.5)

    outcome = kernel.process_intent(cancel("c1", ts=3.0))
    assert outcome.accepted, outcome.to_dict()
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.size == pytest.approx(0.5)
    assert slot.entry_price == pytest.approx(98.0)
    assert venue.open_orders() == []
    assert venue.positions() == {"BTCUSDT": 0.5}


def test_edge_freeze_cancels_every_working_paper_order() -> None:
    venue = PaperVenue(slippage_bps=0)
    kernel = ExecutionKernel(max_slots=3, venue=venue)
    kernel.set_risk_limits(RiskLimits(edge_freeze_threshold_bps=1.0).model_dump())
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    for n in range(3):
        outcome = kernel.process_intent(
            enter(f"i{n}", 1.0, 99.0, slot_id=n, trade_id=f"tr-{n}", order_type="LIMIT", limit_price=95.0 + n)
        )
        assert outcome.accepted, outcome.to_dict()
    assert len(venue.open_orders()) == 3

    outcome = kernel.on_edge_update("BTCUSDT", 0.5)
    assert outcome.details["frozen"] is True
    assert [e.kind.name for e in outcome.emitted_events] == ["CANCEL_ACK"] * 3
    assert venue.open_orders() == []
    assert [kernel.slot_state(n).fsm_state for n in range(3)] == [TradeStage.IDLE] * 3
    # Frozen: the next entry is refused and nothing reaches the venue.
    refused = kernel.process_intent(enter("i9", 1.0, 99.0, ts=2.0))
    assert refused.diagnostic_code == KernelDiagnosticCode.RISK_REJECTED
    assert refused.details["rule"] == "edge_freeze"
    assert venue.submitted == 3


def test_a_paper_order_of_the_last_run_ends_at_reconciliation_after_a_restart(tmp_path: Path) -> None:
    """A paper venue's book lives in memory: beside a kernel recovered from its log, a fresh
    venue holds none of the last run's orders, and they can never fill. Reconciliation left
    such an order unresolved (the venue could not be asked about it), its cancel was refused
    as unknown, and it worked on in the kernel for good, its slot taken."""
    venue = PaperVenue(slippage_bps=0)
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="paper-restart", wal_dir=str(tmp_path))
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    outcome = kernel.process_intent(enter("i1", 2.0, 99.0, order_type="LIMIT", limit_price=98.0))
    assert outcome.accepted, outcome.to_dict()
    feed(kernel, venue.on_quote("BTCUSDT", 97.0, 98.0, 5.0, 0.5, ts=2.0))
    kernel.close()

    venue = PaperVenue(slippage_bps=0)
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="paper-restart", wal_dir=str(tmp_path))
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    report = kernel.reconcile_with_venue()
    # The paper venue acknowledged it (and filled part): not a lost submit.
    assert report.unresolved == [] and [o["slot_id"] for o in report.purged_at_venue] == [0]
    assert report.lost_submits == []
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.size == pytest.approx(0.5)
    assert kernel.open_orders() == []
    kernel.close()


def test_reconciliation_books_the_paper_fills_the_kernel_was_not_given() -> None:
    """The venue hands each event over once: fills its caller dropped are still in the
    venue's record of the order, and reconciliation books them and ends the order."""
    venue = PaperVenue(slippage_bps=0)
    kernel = ExecutionKernel(max_slots=1, venue=venue)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    assert kernel.process_intent(enter("i1", 2.0, 99.0, order_type="LIMIT", limit_price=98.0)).accepted
    venue.on_quote("BTCUSDT", 97.0, 98.0, 5.0, 5.0, ts=2.0)  # filled in full; the events are lost
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    report = kernel.reconcile_with_venue()
    assert [f["qty"] for f in report.missed_fills] == [pytest.approx(2.0)] and report.unresolved == []
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.size == pytest.approx(2.0)
    assert slot.entry_price == pytest.approx(98.0)


# -- shadow --------------------------------------------------------------------------------


def test_shadow_round_trip_books_pnl_at_reference_prices() -> None:
    venue = ShadowVenue()
    kernel = ExecutionKernel(max_slots=1, venue=venue)
    kernel.set_exchange_config({"taker_rate": 0.0, "maker_rate": 0.0})
    assert kernel.process_intent(enter("i1", 2.0, 100.0)).accepted
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.process_intent(leave("x1", 2.0, 103.5, ts=2.0)).accepted
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.CLOSED
    assert slot.realized_pnl == pytest.approx(7.0)
    assert venue.positions() == {}


# -- ccxt through the kernel ----------------------------------------------------------------


@pytest.fixture
def spot_venue(make_venue: Callable[..., CcxtVenue]) -> CcxtVenue:
    return make_venue()


def test_ccxt_market_entry_fills_the_slot_with_exchange_fees(
    spot_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    outcome = kernel.process_intent(enter("i1", 0.015, 91000.0))
    assert outcome.accepted, outcome.to_dict()
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    # What the account was credited: the commission (0.1 %) was kept in BTC.
    assert slot.size == pytest.approx(0.015 - 0.000015)
    assert slot.entry_price == pytest.approx((0.01 * 91000.0 + 0.005 * 91000.5) / 0.015)
    assert slot.fees_paid == pytest.approx(0.00001 * 91000.0 + 0.000005 * 91000.5)
    assert outcome.order is not None
    sent = exchange.calls("POST", "/api/v3/order")[0].params["newClientOrderId"]
    assert sent == CcxtVenue.venue_client_id(outcome.order.client_order_id)


def test_ccxt_timeout_keeps_the_order_in_flight_until_the_venue_reports(
    spot_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    kernel.set_journal_enabled(True)
    kernel.update_control(verbosity="DEBUG")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json", delay=HOLD)
    for _ in range(2):
        exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    outcome = kernel.process_intent(enter("i1", 0.5, 3030.0, asset="ETHUSDT"))
    assert outcome.details.get("submit_outcome") == "unknown", outcome.to_dict()
    assert kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT
    assert len(spot_venue.unresolved_orders()) == 1

    exchange.script("GET", "/api/v3/order", "binance/spot_query_timeout_found.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_timeout_found.json")
    feed(kernel, spot_venue.poll_events())
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.size == pytest.approx(0.5)
    assert slot.entry_price == pytest.approx(3030.0)
    assert len(exchange.calls("POST", "/api/v3/order")) == 1
    # The venue error the kernel recorded, and the whole journal, carry no credentials.
    assert "VenueTimeout" in outcome.details["venue_error"]
    assert API_KEY not in repr(outcome.to_dict())
    journal = repr(kernel.drain_journal())
    assert "'i1'" in journal and "ETHUSDT:7301" in journal
    assert API_KEY not in journal and API_SECRET not in journal


def test_ccxt_throttled_entry_is_rate_limited_and_the_slot_can_retry(
    spot_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock
) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    exchange.script(
        "POST",
        "/api/v3/order",
        "binance/error_too_many_requests.json",
        status=429,
        headers={"Retry-After": "7"},
    )
    outcome = kernel.process_intent(enter("i1", 0.015, 91000.0))
    kinds = [e.kind.name for e in outcome.emitted_events]
    assert kinds == ["RATE_LIMITED"]
    assert not outcome.accepted
    assert outcome.diagnostic_code == KernelDiagnosticCode.RATE_LIMITED
    assert outcome.details["retry_after"] == pytest.approx(7.0)
    # The rate-limit edge returns the slot to where the entry came from.
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE
    assert kernel.slot_state(0).size == 0.0

    clock.advance(7.0)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    outcome = kernel.process_intent(enter("i2", 0.015, 91000.0, ts=9.0))
    assert outcome.accepted, outcome.to_dict()
    assert kernel.slot_state(0).size == pytest.approx(0.015 - 0.000015)  # the commission kept in BTC


def test_ccxt_partial_fill_then_cancel_leaves_the_filled_position(
    spot_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new_2.json")
    outcome = kernel.process_intent(enter("i1", 0.02, 89500.0, order_type="LIMIT", limit_price=89000.0))
    assert outcome.accepted, outcome.to_dict()
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING

    exchange.script("DELETE", "/api/v3/order", "binance/spot_cancel_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_cancel_partial.json")
    outcome = kernel.process_intent(cancel("c1", ts=2.0))
    assert outcome.accepted, outcome.to_dict()
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.size == pytest.approx(0.005)
    assert slot.fees_paid == pytest.approx(0.089)


@pytest.mark.parametrize(
    ("trades", "filled_sizes"),
    [
        # The last trade past the filled order; a trade crossing the order's size.
        ([0.008, 0.012, 0.004], [0.008, 0.02, 0.02]),
        ([0.008, 0.016], [0.008, 0.02]),
    ],
)
def test_ccxt_trades_past_the_orders_size_fill_it_and_the_rest_is_named_for_reconciliation(
    spot_venue: CcxtVenue,
    exchange: RecordedExchange,
    caplog: pytest.LogCaptureFixture,
    trades: list[float],
    filled_sizes: list[float],
) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new_2.json")
    outcome = kernel.process_intent(enter("i1", 0.02, 89500.0, order_type="LIMIT", limit_price=89000.0))
    assert outcome.accepted, outcome.to_dict()
    order = kernel.slot_state(0).active_entry_order
    answer = exchange.fixture("binance/spot_query_limit_filled.json")
    answer.update(orderId=28457300, clientOrderId=order.client_order_id, price="89000.00000000")
    answer["executedQty"] = "0.02400000"
    exchange.script("GET", "/api/v3/order", payload=answer)
    trade = exchange.fixture("binance/spot_trades_cancel_partial.json")[0]
    listed = [
        {**trade, "id": 4101 + i, "qty": f"{qty:.8f}", "time": trade["time"] + i}
        for i, qty in enumerate(trades)
    ]
    exchange.script("GET", "/api/v3/myTrades", payload=listed)

    with caplog.at_level(logging.ERROR, logger="dita.venues.ccxt"):
        fills = [e for e in spot_venue.poll_events() if e.kind.name == "FILL"]
    assert [e.size for e in fills] == pytest.approx(trades)
    assert [e.filled_size for e in fills] == pytest.approx(filled_sizes)
    for fill in fills:
        kernel.on_venue_event(fill)
    # The order's 0.02 is booked and the order over; the 0.004 the exchange filled beyond it is
    # in no slot, and named.
    assert kernel.slot_state(0).size == pytest.approx(0.02)
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    [named] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "puts its filled size at 0.024" in named and "past its size 0.02" in named, named


def test_ccxt_a_cancel_that_overtakes_a_timed_out_entry_is_refused_and_the_order_works(
    spot_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """The entry's submit timed out; its cancel reaches the exchange first ("Unknown order
    sent") and the order then rests there. The kernel kept waiting on that cancel, its order
    marked canceling, while the exchange worked the order: the cancel is refused instead."""
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    for _ in range(2):
        exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    entry = enter("i1", 0.5, 2900.0, asset="ETHUSDT", order_type="LIMIT", limit_price=2900.0)
    assert kernel.process_intent(entry).details.get("submit_outcome") == "unknown"
    exchange.script("DELETE", "/api/v3/order", "binance/error_unknown_order_sent.json", status=400)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_timeout_new.json")
    intent = KernelIntent("c1", "tr-1", 0, "ETHUSDT", "LONG", "CANCEL", 0.0, 0.0, timestamp=2.0)
    outcome = kernel.process_intent(intent)
    assert [e.kind.name for e in outcome.emitted_events] == ["ORDER_ACK", "CANCEL_REJECT"]
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.ENTRY_WORKING
    working = slot.active_entry_order
    assert working is not None and working.venue_order_id == "ETHUSDT:19330002"
    assert not working.cancel_requested


def _a_limit_entry_filled_in_part(spot_venue: CcxtVenue, exchange: RecordedExchange) -> ExecutionKernel:
    """A kernel whose LIMIT entry of 0.02 at 90,000 rests, 0.008 of it filled (trade 4101)."""
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    outcome = kernel.process_intent(enter("i1", 0.02, 90000.0, order_type="LIMIT", limit_price=90000.0))
    assert outcome.accepted, outcome.to_dict()
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    feed(kernel, spot_venue.poll_events())
    return kernel


@pytest.mark.parametrize("filled", [None, float("nan")])
def test_ccxt_a_cancel_answer_without_a_filled_size_does_not_bound_the_fills_to_come(
    spot_venue: CcxtVenue, exchange: RecordedExchange, filled: float | None
) -> None:
    """Some exchanges answer a cancel "canceled" and nothing more (HTX spot: ccxt then has no
    filled size). The end says nothing (0) and the order is asked about until it does: ended
    with what the adapter has reported, the order would be dropped and a fill it has not polled
    yet lost, never asked for, and refused by the kernel as beyond the end's figure."""
    kernel = _a_limit_entry_filled_in_part(spot_venue, exchange)

    # What ccxt makes of HTX's answer to a cancel: the order id, and "canceled" (or a filled
    # size that is not a number).
    canceled = {
        "id": "28457200",
        "symbol": "BTC/USDT",
        "status": "canceled",
        "amount": None,
        "filled": filled,
    }
    spot_venue._exchange.cancel_order = lambda *args: dict(canceled)
    outcome = kernel.process_intent(cancel("c1", ts=2.0))
    assert outcome.accepted, outcome.to_dict()
    (end,) = outcome.emitted_events
    assert (end.kind.name, end.filled_size) == ("CANCEL_ACK", 0.0)

    # Trade 4102 (0.004) came before the cancel: the exchange now counts 0.012.
    final = exchange.fixture("binance/spot_query_canceled_2.json")
    final.update(orderId=28457200, price="90000.00000000", executedQty="0.01200000")
    (booked,) = exchange.fixture("binance/spot_trades_limit_partial.json")
    new = dict(booked, id=4102, qty="0.00400000", quoteQty="360.00000000", time=booked["time"] + 1000)
    exchange.script("GET", "/api/v3/order", payload=final)
    exchange.script("GET", "/api/v3/myTrades", payload=[booked, new])
    feed(kernel, spot_venue.poll_events())
    assert kernel.slot_state(0).size == pytest.approx(0.012)
    assert spot_venue.poll_events() == []  # over, and no longer asked about


def test_ccxt_a_self_trades_two_fills_each_wait_for_their_own_settled_fee(
    spot_venue: CcxtVenue,
) -> None:
    """A self-trade (one slot's resting buy matched with another's sell) lists one trade id on
    both orders. Reported under that one id, the second fill's predicted fee replaced the
    first's in the kernel (it keeps them by fill id until FILL_SETTLED): the fees waiting were
    one fill's, and the second FILL_SETTLED was refused as for no unsettled fill."""
    kernel = ExecutionKernel(max_slots=2, venue=spot_venue, kernel_id="k")
    bnb_fee = {"cost": 0.0002, "currency": "BNB"}  # a fee the adapter cannot price: left to the model
    trade = {
        "id": "4200", "symbol": "BTC/USDT", "amount": 0.008, "price": 90000.0,
        "timestamp": 1763679610000, "fee": bnb_fee,
    }  # fmt: skip
    resting = {"id": "28457200", "symbol": "BTC/USDT", "status": "open", "amount": 0.008, "filled": 0.0}
    spot_venue._exchange.create_order = lambda *args: dict(resting)
    outcome = kernel.process_intent(
        enter("i1", 0.008, 90000.0, order_type="LIMIT", limit_price=90000.0, trade_id="t-1")
    )
    assert outcome.accepted, outcome.to_dict()
    taken = {"id": "28457300", "symbol": "BTC/USDT", "status": "closed", "amount": 0.008, "filled": 0.008}
    taker = dict(trade, order="28457300", side="sell", takerOrMaker="taker")
    spot_venue._exchange.create_order = lambda *args: dict(taken, trades=[taker])
    outcome = kernel.process_intent(enter("i2", 0.008, 90000.0, slot_id=1, trade_id="t-2", side="SHORT"))
    assert outcome.accepted, outcome.to_dict()
    fills = [e for e in outcome.emitted_events if e.kind.name == "FILL"]
    spot_venue._exchange.fetch_order = lambda *args: dict(resting, status="closed", filled=0.008)
    maker = dict(trade, order="28457200", side="buy", takerOrMaker="maker")
    spot_venue._exchange.fetch_my_trades = lambda *args: [maker]
    polled = spot_venue.poll_events()
    feed(kernel, polled)
    fills += polled
    assert [(f.venue_client_id, f.fill_id, f.fee) for f in fills] == [
        ("k-2", "BTCUSDT:4200", None),
        ("k-1", "BTCUSDT:4200:28457200", None),
    ]
    assert kernel.slot_state(0).size == kernel.slot_state(1).size == pytest.approx(0.008)
    predicted = kernel.slot_state(0).fees_paid + kernel.slot_state(1).fees_paid
    assert predicted > 0 and kernel.account()["k_unsettled_fees"] == pytest.approx(predicted)
    for fill in fills:
        settled = kernel.on_account_event(
            AccountEvent(f"settle-{fill.fill_id}", "FILL_SETTLED", fill_id=fill.fill_id, fee=0.0)
        )
        assert settled.accepted, settled.to_dict()
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)
    assert kernel.slot_state(0).fees_paid == kernel.slot_state(1).fees_paid == 0.0


def test_ccxt_an_order_the_exchange_purged_ends_in_the_kernel_with_its_fills_kept(
    spot_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """A working entry the exchange no longer knows ends, once it has said so for the grace,
    with its filled size unknown: the kernel keeps the fills it booked and the slot works on."""
    kernel = _a_limit_entry_filled_in_part(spot_venue, exchange)
    for step in (0.0, spot_venue.settings.unknown_order_grace_s):
        clock.advance(step)
        exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
        feed(kernel, spot_venue.poll_events())
    slot = kernel.slot_state(0)
    assert (slot.fsm_state, slot.size) == (TradeStage.POSITION_OPEN, pytest.approx(0.008))
    assert kernel.open_orders() == [] and kernel.awaited_orders() == []


def test_ccxt_market_rules_reach_the_kernel_and_tiny_orders_never_leave(
    spot_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    for asset, limits in spot_venue.market_metadata().items():
        kernel.set_market_limits(asset, limits.model_dump())
    outcome = kernel.process_intent(enter("i1", 0.00005, 91000.0))  # 4.55 USDT < 5 USDT floor
    assert not outcome.accepted
    assert outcome.diagnostic_code == KernelDiagnosticCode.BELOW_MIN_NOTIONAL
    assert exchange.calls("POST", "/api/v3/order") == []


def test_usdm_round_trip_through_the_kernel_with_a_reduce_only_exit(
    make_venue,
    exchange: RecordedExchange,  # type: ignore[no-untyped-def]
) -> None:
    venue = make_venue("linear")
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    exchange.script("POST", "/fapi/v1/order", "binance/usdm_order_market_new.json")
    assert kernel.process_intent(enter("i1", 0.01, 91000.0)).accepted
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING

    exchange.script("GET", "/fapi/v1/order", "binance/usdm_query_market_filled.json")
    exchange.script("GET", "/fapi/v1/userTrades", "binance/usdm_user_trades_market.json")
    feed(kernel, venue.poll_events())
    slot = kernel.slot_state(0)
    entry = (0.006 * 91020.0 + 0.004 * 91020.87) / 0.01
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.entry_price == pytest.approx(entry)

    exchange.script("POST", "/fapi/v1/order", "binance/usdm_order_reduce_only_filled.json")
    exchange.script("GET", "/fapi/v1/userTrades", "binance/usdm_user_trades_reduce_only.json")
    assert kernel.process_intent(leave("x1", 0.01, 91100.0, ts=2.0)).accepted
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.CLOSED
    assert slot.realized_pnl == pytest.approx(0.01 * (91100.0 - entry))
    assert slot.fees_paid == pytest.approx(0.273021 + 0.1820407 + 0.4555)
    # The kernel's exit is reduce-only, and the exchange is told so.
    assert exchange.calls("POST", "/fapi/v1/order")[1].params["reduceOnly"] == "true"


def test_native_mock_partial_fill_reaches_the_position() -> None:
    venue = MockVenueAdapter(seed=3, partial_fill_rate=1.0, partial_fill_ratio=0.25)
    kernel = ExecutionKernel(max_slots=1, venue=venue)
    outcome = kernel.process_intent(enter("i1", 4.0, 100.0))
    assert outcome.accepted, outcome.to_dict()
    assert kernel.slot_state(0).size == pytest.approx(1.0)
    assert outcome.order is not None
    feed(kernel, venue.fill_open_order(outcome.order.client_order_id))
    slot = kernel.slot_state(0)
    assert slot.size == pytest.approx(4.0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN


def test_ccxt_throttled_cancel_keeps_the_order_working_and_its_fills_reach_the_slot(
    spot_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """A 429 on a cancel means the cancel was not carried out: the order still works at the
    exchange. The kernel must keep it, or the fills it gets later are for an unknown order."""
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    outcome = kernel.process_intent(enter("i1", 0.02, 90000.0, order_type="LIMIT", limit_price=90000.0))
    assert outcome.accepted, outcome.to_dict()
    exchange.script(
        "DELETE", "/api/v3/order", "binance/error_too_many_requests.json", status=429,
        headers={"Retry-After": "2"},
    )  # fmt: skip
    outcome = kernel.process_intent(cancel("c1", ts=2.0))
    (answer,) = outcome.emitted_events
    assert answer.kind.name == "CANCEL_REJECT" and answer.retry_after == pytest.approx(2.0)
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.ENTRY_WORKING
    assert slot.active_entry_order is not None and not slot.active_entry_order.cancel_requested
    # While throttled the adapter answers the cancel itself, with the same meaning.
    (again,) = kernel.process_intent(cancel("c2", ts=2.5)).emitted_events
    assert again.kind.name == "CANCEL_REJECT"
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING

    clock.advance(2.0)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    feed(kernel, spot_venue.poll_events())
    assert kernel.slot_state(0).size == pytest.approx(0.008)


def test_ccxt_reconciliation_books_a_partial_fill_the_kernel_missed(
    spot_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """The exchange's open orders carry what each order executed: a fill the kernel missed
    (the process was down, the poll never ran) is found by reconciliation."""
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    outcome = kernel.process_intent(enter("i1", 0.02, 90000.0, order_type="LIMIT", limit_price=90000.0))
    assert outcome.accepted and outcome.order is not None, outcome.to_dict()
    (working,) = exchange.fixture("binance/spot_open_orders.json")  # 0.008 of 0.02 executed
    working["clientOrderId"] = CcxtVenue.venue_client_id(outcome.order.client_order_id)
    exchange.script("GET", "/api/v3/openOrders", payload=[working])
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    exchange.script("GET", "/api/v3/account", "binance/spot_account.json")

    report = kernel.reconcile_with_venue()
    assert [(m["qty"], m["price"]) for m in report.missed_fills] == [(pytest.approx(0.008), 90000.0)]
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.ENTRY_WORKING
    assert slot.size == pytest.approx(0.008)


# -- reconciliation after a restart, through ccxt's order status ----------------------------


def placed_then_down(
    make_venue: Callable[..., CcxtVenue],
    exchange: RecordedExchange,
    wal: Path,
    placed: str,
    restart_on: Callable[[CcxtVenue], Any] = lambda venue: venue,
    kernel_id: str = "k",
    markets: list[str] | None = ["BTCUSDT"],  # noqa: B006 (read, never changed)
) -> tuple[ExecutionKernel, str]:
    """A kernel on a log places a resting limit entry (``placed``, the exchange's answer) and
    the process goes down; returns the restarted kernel, on a fresh adapter with no record of
    the order (behind ``restart_on``), and the order's client id. Both trade the ``markets``
    BTCUSDT, so spot positions are answered and compared; the restarted adapter trades
    ``markets`` (None: every market the exchange serves)."""
    first = ExecutionKernel(
        max_slots=1,
        venue=make_venue(markets=["BTCUSDT"]),
        kernel_id=kernel_id,
        wal_dir=str(wal),
        fsync="always",
    )
    exchange.script("POST", "/api/v3/order", placed)
    outcome = first.process_intent(enter("i1", 0.02, 90000.0, order_type="LIMIT", limit_price=90000.0))
    assert outcome.accepted and outcome.order is not None, outcome.to_dict()
    client_order_id = outcome.order.client_order_id
    first.close()
    del first
    gc.collect()
    venue = restart_on(make_venue(markets=markets))
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id=kernel_id, wal_dir=str(wal), fsync="always")
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    return kernel, client_order_id


def account_holding(exchange: RecordedExchange, btc: str) -> None:
    account = exchange.fixture("binance/spot_account.json")
    account["balances"][0]["free"] = btc
    exchange.script("GET", "/api/v3/account", payload=account)


def test_ccxt_reconciliation_books_an_order_that_filled_while_down_once_and_ends_it(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, tmp_path: Path
) -> None:
    kernel, coid = placed_then_down(make_venue, exchange, tmp_path, "binance/spot_order_limit_new.json")
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_filled.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    account_holding(exchange, "0.02000000")

    report = kernel.reconcile_with_venue()
    # One fill per trade.
    assert [(m["client_order_id"], m["qty"], m["price"]) for m in report.missed_fills] == [
        (coid, pytest.approx(0.008), pytest.approx(90000.0)),
        (coid, pytest.approx(0.012), pytest.approx(90000.0)),
    ]
    assert report.lost_submits == [] and report.unresolved == [] and report.position_mismatches == []
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert (slot.size, slot.entry_price) == (pytest.approx(0.02), pytest.approx(90000.0))
    assert kernel.open_orders() == []

    # Booked once: the order is over, so a second reconciliation has nothing to ask or book.
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    account_holding(exchange, "0.02000000")
    assert kernel.reconcile_with_venue().clean
    assert kernel.slot_state(0).size == pytest.approx(0.02)
    assert len(exchange.calls("GET", "/api/v3/order")) == 1


def test_ccxt_reconciliation_books_the_partial_fill_of_an_order_canceled_while_down(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, tmp_path: Path
) -> None:
    kernel, coid = placed_then_down(make_venue, exchange, tmp_path, "binance/spot_order_limit_new_2.json")
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    exchange.script("GET", "/api/v3/order", "binance/spot_query_canceled_2.json")  # 0.005 of 0.02
    # Its trades do not show yet: the fill is booked from the order's status.
    exchange.script("GET", "/api/v3/myTrades", payload=[])
    account_holding(exchange, "0.00500000")

    report = kernel.reconcile_with_venue()
    assert [(m["qty"], m["price"]) for m in report.missed_fills] == [(pytest.approx(0.005), 89000.0)]
    assert [(e["client_order_id"], e["status"]) for e in report.ended_at_venue] == [(coid, "CANCELED")]
    assert report.position_mismatches == []
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.size == pytest.approx(0.005)
    assert kernel.open_orders() == []


def test_ccxt_reconciliation_after_a_restart_keeps_a_working_order_sent_under_a_hashed_client_id(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, tmp_path: Path
) -> None:
    """A kernel id too long for the exchange's client ids: its orders go out under a hash of
    the kernel's id, which a restarted adapter cannot map back, so the exchange's open order
    looks like nobody's. The order status (asked by the hash) shows it is the kernel's own:
    it is neither canceled as unknown nor left unmanaged."""
    kernel, coid = placed_then_down(
        make_venue, exchange, tmp_path, "binance/spot_order_limit_new.json", kernel_id="k" * 40
    )
    hashed = CcxtVenue.venue_client_id(coid)
    assert hashed != coid
    (working,) = exchange.fixture("binance/spot_open_orders.json")  # 0.008 of 0.02 executed
    working["clientOrderId"] = hashed
    exchange.script("GET", "/api/v3/openOrders", payload=[working])
    exchange.script("GET", "/api/v3/order", payload=working)
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    account_holding(exchange, "0.00800000")

    report = kernel.reconcile_with_venue()
    assert report.unknown_at_venue_canceled == [] and report.unknown_at_venue_left == []
    assert exchange.calls("DELETE", "/api/v3/order") == []
    assert [m["client_order_id"] for m in report.missed_fills] == [coid]
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.ENTRY_WORKING and slot.size == pytest.approx(0.008)


def test_ccxt_reconciliation_ends_an_order_closed_part_filled_with_what_it_filled(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, tmp_path: Path
) -> None:
    kernel, coid = placed_then_down(make_venue, exchange, tmp_path, "binance/spot_order_limit_new.json")
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    exchange.script("GET", "/api/v3/order", payload=closed_part_filled(exchange))
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    account_holding(exchange, "0.00800000")

    report = kernel.reconcile_with_venue()
    assert [(m["qty"], m["price"]) for m in report.missed_fills] == [(pytest.approx(0.008), 90000.0)]
    assert [(e["client_order_id"], e["status"]) for e in report.ended_at_venue] == [(coid, "EXPIRED")]
    assert report.unresolved == [] and report.position_mismatches == []
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.size == pytest.approx(0.008)
    assert kernel.open_orders() == [] and kernel.awaited_orders() == []


def test_ccxt_an_order_closed_part_filled_leaves_the_slot_with_what_it_filled(
    spot_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    outcome = kernel.process_intent(enter("i1", 0.02, 90000.0, order_type="LIMIT", limit_price=90000.0))
    assert outcome.accepted, outcome.to_dict()
    exchange.script("GET", "/api/v3/order", payload=closed_part_filled(exchange))
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    feed(kernel, spot_venue.poll_events())
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.size == pytest.approx(0.008)
    assert kernel.open_orders() == [] and kernel.awaited_orders() == []


@pytest.mark.parametrize("booked", ["0.00800000", "0.00600000"])
def test_ccxt_a_cancel_after_a_restart_books_only_the_fills_the_kernel_had_not(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, tmp_path: Path, booked: str
) -> None:
    """The restarted adapter has no record of which trades were reported: those within the
    filled size the kernel hands it with the cancel were booked already. Counted again, the
    first trade was booked twice (0.02 held for 0.012 bought). A trade booked in part (the
    exchange once counted less than its trade) books its rest."""
    kernel, coid = placed_then_down(make_venue, exchange, tmp_path, "binance/spot_order_limit_new.json")
    (working,) = exchange.fixture("binance/spot_open_orders.json")
    exchange.script(
        "GET", "/api/v3/openOrders", payload=[dict(working, clientOrderId=coid, executedQty=booked)]
    )
    # Trade 4101 (0.008): booked as it is when the exchange counts it all, else from the order.
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    account_holding(exchange, booked)
    assert [m["qty"] for m in kernel.reconcile_with_venue().missed_fills] == [pytest.approx(float(booked))]

    # Canceled with 0.012 executed: trade 4101 (0.008, booked above) and 4102 (0.004), new.
    answer = exchange.fixture("binance/spot_cancel_partial.json")
    answer.update(
        orderId=28457200, origClientOrderId=coid, price="90000.00000000", executedQty="0.01200000",
        cummulativeQuoteQty="1080.00000000",
    )  # fmt: skip
    (first,) = exchange.fixture("binance/spot_trades_limit_partial.json")
    new = dict(first, id=4102, qty="0.00400000", quoteQty="360.00000000", time=first["time"] + 1000)
    exchange.script("DELETE", "/api/v3/order", payload=answer)
    exchange.script("GET", "/api/v3/myTrades", payload=[first, new])
    outcome = kernel.process_intent(cancel("c1", ts=2.0))
    assert outcome.accepted, outcome.to_dict()
    reported = [(e.kind.name, e.fill_id, e.size, e.filled_size) for e in outcome.emitted_events]
    # Booked in whole, 4101 is not reported again; booked in part, it is, with its running total.
    again = [] if booked == "0.00800000" else [("FILL", "BTCUSDT:4101", 0.008, 0.008)]
    assert reported == [
        *[(kind, fill_id, pytest.approx(size), pytest.approx(total)) for kind, fill_id, size, total in again],
        ("FILL", "BTCUSDT:4102", pytest.approx(0.004), pytest.approx(0.012)),
        ("CANCEL_ACK", "", 0.0, pytest.approx(0.012)),
    ]
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.size == pytest.approx(0.012)
    assert kernel.awaited_orders() == []


def test_ccxt_an_order_from_before_a_restart_is_followed_after_reconciliation(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, tmp_path: Path
) -> None:
    """A restarted adapter has no record of the orders the kernel still works. It asked the
    exchange only about orders it sent (or was asked to cancel), so the rest of this order's
    fills reached the kernel only at the next reconciliation. Reconciliation now has it follow
    them; the trade booked by reconciliation is not reported again."""
    kernel, coid = placed_then_down(make_venue, exchange, tmp_path, "binance/spot_order_limit_new.json")
    (working,) = exchange.fixture("binance/spot_open_orders.json")  # 0.008 of 0.02 filled
    exchange.script("GET", "/api/v3/openOrders", payload=[dict(working, clientOrderId=coid)])
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    account_holding(exchange, "0.00800000")
    report = kernel.reconcile_with_venue()
    assert [m["qty"] for m in report.missed_fills] == [pytest.approx(0.008)]
    assert report.unwatched == [] and kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING

    # The rest fills: trade 4102 (0.012) after 4101 (0.008, booked above).
    exchange.script(
        "GET",
        "/api/v3/order",
        payload=dict(exchange.fixture("binance/spot_query_limit_filled.json"), clientOrderId=coid),
    )
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    events = kernel.venue.poll_events()
    assert [(e.kind.name, e.fill_id, e.size) for e in events if e.kind.name == "FILL"] == [
        ("FILL", "BTCUSDT:4102", pytest.approx(0.012))
    ]
    feed(kernel, events)
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.size == pytest.approx(0.02)
    assert kernel.open_orders() == [] and kernel.venue.poll_events() == []


def test_ccxt_reconciliation_leaves_an_order_it_cannot_ask_about_unresolved_and_changes_nothing(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, tmp_path: Path
) -> None:
    """The exchange lists its open orders but then cannot be asked about the order: it may
    have filled, or still work, so it is neither ended as a lost submit nor booked."""
    kernel, coid = placed_then_down(make_venue, exchange, tmp_path, "binance/spot_order_limit_new.json")
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    exchange.script("GET", "/api/v3/order", "binance/error_backend_timeout.json", status=503)
    account_holding(exchange, "0.00000000")
    before, seq = kernel.snapshot(), kernel.seq

    report = kernel.reconcile_with_venue()
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and "VenueUnavailable" in left["reason"]
    assert API_KEY not in left["reason"]
    assert report.lost_submits == [] and report.missed_fills == [] and report.events_applied == 0
    assert kernel.snapshot() == before and kernel.seq == seq
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def test_ccxt_reconciliation_does_not_cancel_an_order_never_acknowledged_listed_under_its_hashed_id(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, tmp_path: Path
) -> None:
    """A submit timed out, so the kernel has no exchange id for the order, and the kernel's
    client id (too long for Binance) went out hashed. After a restart the exchange lists the
    order under the hash and cannot be asked about it: it was taken for an order nobody
    manages and canceled. Known by the id it went out under, it stays unresolved, working."""

    def on_the_log(venue: CcxtVenue) -> ExecutionKernel:
        kernel_id = "momentum-btcusdt-live-kernel-number-one"
        return ExecutionKernel(
            max_slots=1, venue=venue, kernel_id=kernel_id, wal_dir=str(tmp_path), fsync="always"
        )

    first = on_the_log(make_venue(markets=["BTCUSDT"]))
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    for _ in range(2):
        exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    outcome = first.process_intent(enter("i1", 0.02, 90000.0, order_type="LIMIT", limit_price=90000.0))
    assert outcome.details.get("submit_outcome") == "unknown" and outcome.order is not None, outcome.to_dict()
    coid = outcome.order.client_order_id
    assert CcxtVenue.venue_client_id(coid) != coid
    first.close()
    del first
    gc.collect()
    venue = make_venue(markets=["BTCUSDT"])
    kernel = on_the_log(venue)
    assert kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT
    assert venue.listed_client_order_id(kernel.open_orders()[0]) == CcxtVenue.venue_client_id(coid)
    (working,) = exchange.fixture("binance/spot_open_orders.json")  # 0.008 of 0.02 executed
    working["clientOrderId"] = CcxtVenue.venue_client_id(coid)
    exchange.script("GET", "/api/v3/openOrders", payload=[working])
    exchange.script("GET", "/api/v3/order", "binance/error_backend_timeout.json", status=503, repeat=True)
    account_holding(exchange, "0.00000000")

    report = kernel.reconcile_with_venue()
    assert exchange.calls("DELETE", "/api/v3/order") == []
    assert report.unknown_at_venue_canceled == [] and report.unknown_at_venue_cancel_failed == []
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and "VenueUnavailable" in left["reason"]
    assert report.events_applied == 0 and kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT


def test_ccxt_reconciliation_does_not_start_on_an_open_order_of_unknown_side(
    spot_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """An order nobody here sent, whose side the exchange leaves out: reconciliation changes
    nothing and says which order and why, instead of reporting it as a sell."""
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    (stray,) = exchange.fixture("binance/spot_open_orders.json")
    del stray["side"]
    exchange.script("GET", "/api/v3/openOrders", payload=[stray])
    before, seq = kernel.snapshot(), kernel.seq
    with pytest.raises(VenueUnavailable, match=r"not started \(nothing changed\).*28457200.*side=None"):
        kernel.reconcile_with_venue(cancel_unknown=False)
    assert kernel.snapshot() == before and kernel.seq == seq
    assert exchange.calls("DELETE", "/api/v3/order") == []


def test_ccxt_reconciliation_cancels_each_order_placed_by_hand_without_a_client_id(
    spot_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """Some exchanges give an order placed by hand no client id. The adapter kept the first
    such cancel under the empty id, and canceled that order again in place of the second."""
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    (working,) = exchange.fixture("binance/spot_open_orders.json")
    strays = [dict(working, orderId=order_id, clientOrderId="") for order_id in (28457200, 28457201)]
    exchange.script("GET", "/api/v3/openOrders", payload=strays)
    for stray in strays:
        answer = exchange.fixture("binance/spot_cancel_partial.json")
        answer.update(orderId=stray["orderId"], origClientOrderId="", executedQty="0.00000000")
        exchange.script("DELETE", "/api/v3/order", payload=answer)
    exchange.script("GET", "/api/v3/account", "binance/spot_account.json")

    report = kernel.reconcile_with_venue(cancel_foreign_orders=True)
    assert [c.params["orderId"] for c in exchange.calls("DELETE", "/api/v3/order")] == [
        "28457200",
        "28457201",
    ]
    assert [o["venue_order_id"] for o in report.unknown_at_venue_canceled] == [
        "BTCUSDT:28457200",
        "BTCUSDT:28457201",
    ]
    assert report.unknown_at_venue_cancel_failed == []


def test_ccxt_reconciliation_through_a_router_asks_the_venue_that_has_the_order(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, tmp_path: Path
) -> None:
    """After a restart the router does not know where the order is: it asks the venue the
    order's asset is routed to (the exchange, its default), which has it, so its fill is booked."""

    def behind_a_router(venue: CcxtVenue) -> VenueRouter:
        return VenueRouter({"paper": PaperVenue(name="paper"), "binance": venue}, default="binance")

    kernel, coid = placed_then_down(
        make_venue, exchange, tmp_path, "binance/spot_order_limit_new.json", restart_on=behind_a_router
    )
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_filled.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    account_holding(exchange, "0.02000000")

    report = kernel.reconcile_with_venue()
    assert [(m["client_order_id"], m["qty"]) for m in report.missed_fills] == [
        (coid, pytest.approx(0.008)),
        (coid, pytest.approx(0.012)),
    ]
    assert report.unresolved == [] and report.position_mismatches == []
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN


@pytest.mark.parametrize("behind_a_router", [False, True])
@pytest.mark.parametrize("there", [True, False])
def test_ccxt_reconciliation_after_a_restart_asks_the_exchange_in_the_orders_market_only(
    make_venue: Callable[..., CcxtVenue],
    exchange: RecordedExchange,
    tmp_path: Path,
    behind_a_router: bool,
    there: bool,
) -> None:
    """Without the ``markets`` setting a restarted adapter has no record of the order's market
    and asked every market the exchange serves for it, one request each (thousands on Binance:
    a ban from the exchange when a restarted kernel most needs it). Reconciliation gives the
    kernel's asset of the order, and the exchange is asked once, in that market, whether it
    has the order (its fill is booked) or not (acknowledged before, it ends as purged). Through a
    router too: the order's asset is routed to the exchange, and the paper venue is not asked."""

    def restarted(venue: CcxtVenue) -> Any:
        # BTCUSDT, DOGEUSDT, ETHUSDT (each under its id and symbol): each asked before
        assert len(venue.market_metadata()) == 6
        if not behind_a_router:
            return venue
        return VenueRouter(
            {"paper": PaperVenue(name="paper"), "binance": venue}, routes={"BTCUSDT": "binance"}
        )

    kernel, coid = placed_then_down(
        make_venue,
        exchange,
        tmp_path,
        "binance/spot_order_limit_new.json",
        restart_on=restarted,
        markets=None,
    )
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    if there:
        exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_filled.json")
        exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    else:
        exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)

    report = kernel.reconcile_with_venue()
    [lookup] = exchange.calls("GET", "/api/v3/order")
    assert (lookup.params["symbol"], lookup.params["origClientOrderId"]) == ("BTCUSDT", coid)
    assert report.unresolved == []
    if there:
        assert [(m["client_order_id"], m["qty"]) for m in report.missed_fills] == [
            (coid, pytest.approx(0.008)),
            (coid, pytest.approx(0.012)),
        ]
        assert report.lost_submits == [] and kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    else:
        assert [m["client_order_id"] for m in report.purged_at_venue] == [coid] and report.missed_fills == []
        assert report.lost_submits == []
        assert kernel.open_orders() == [] and kernel.slot_state(0).size == 0.0


def test_ccxt_a_fill_booked_from_the_order_is_not_booked_again_when_its_trades_show(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock
) -> None:
    """The exchange says the order filled and its trades never show: the fill is booked from
    the order after the wait, once, and the trades listed later are not booked on top."""
    venue = make_venue(missing_trades_wait_s=5.0)
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    outcome = kernel.process_intent(enter("i1", 0.02, 90000.0, order_type="LIMIT", limit_price=90000.0))
    assert outcome.accepted, outcome.to_dict()
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_filled.json", repeat=True)
    exchange.script("GET", "/api/v3/myTrades", payload=[], repeat=True)
    feed(kernel, venue.poll_events())
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    clock.advance(6.0)
    feed(kernel, venue.poll_events())
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.size == pytest.approx(0.02) and slot.entry_price == pytest.approx(90000.0)
    # The trades show at last: nothing is asked about, and nothing is booked again.
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    assert venue.poll_events() == []
    assert kernel.slot_state(0).size == pytest.approx(0.02)


def test_ccxt_a_cancel_owed_a_fill_its_trades_never_show_books_it_from_the_order(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Canceled with 0.005 executed, the trade list never showing it: the kernel, told by the
    end that a fill is owed, takes the fill booked from the order after the wait."""
    venue = make_venue(missing_trades_wait_s=5.0)
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new_2.json")
    outcome = kernel.process_intent(enter("i1", 0.02, 89500.0, order_type="LIMIT", limit_price=89000.0))
    assert outcome.accepted, outcome.to_dict()
    exchange.script("DELETE", "/api/v3/order", "binance/spot_cancel_partial.json")
    exchange.script("GET", "/api/v3/myTrades", payload=[], repeat=True)
    assert kernel.process_intent(cancel("c1", ts=2.0)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.0)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_canceled_2.json", repeat=True)
    clock.advance(6.0)
    feed(kernel, venue.poll_events())
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.size == pytest.approx(0.005) and slot.entry_price == pytest.approx(89000.0)
    assert venue.poll_events() == []


def test_ccxt_a_fill_no_price_is_known_of_is_held_owed_by_the_kernel_until_reconciled(
    make_venue: Callable[..., CcxtVenue], clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The exchange says the entry filled, with no cost, average or price, its trades never
    showing, and the adapter knows no price of it (as of an order it took over without one):
    after the wait the fill was dropped, and the kernel's order worked on for good. The end the
    adapter sends carries the exchange's filled size: the kernel holds the fill as owed (its
    slot waits). Reconciliation books no fill at a price the venue never stated (the intent's
    reference is a guess): it names the order, and the slot waits on."""
    venue = make_venue(missing_trades_wait_s=5.0)
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    resting = {
        "id": "28457200", "symbol": "BTC/USDT", "side": "buy", "type": "market", "status": "open",
        "amount": 0.02, "filled": 0.0,
    }  # fmt: skip
    venue._exchange.create_order = lambda *args: dict(resting)
    outcome = kernel.process_intent(enter("i1", 0.02, 91000.0))
    assert outcome.accepted and outcome.order is not None, outcome.to_dict()
    coid = outcome.order.client_order_id
    sent = venue._orders.tracked[coid].order
    venue._orders.tracked[coid].order = VenueOrder(
        coid, sent.slot_id, sent.trade_id, sent.asset, sent.side, sent.order_type, 0.0, sent.size,
        venue_order_id=sent.venue_order_id, timestamp=sent.created_at, is_entry=sent.is_entry,
    )  # fmt: skip
    closed = dict(resting, status="closed", filled=0.02, average=None, cost=None, price=None)
    venue._exchange.fetch_order = lambda *args: dict(closed)
    venue._exchange.fetch_my_trades = lambda *args: []
    feed(kernel, venue.poll_events())
    clock.advance(6.0)
    with caplog.at_level(logging.ERROR, logger="dita.venues.ccxt"):
        [end] = venue.poll_events()
    assert any(coid in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    feed(kernel, [end])
    assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]
    assert kernel.slot_dict(0)["awaited_fill_qty"] == pytest.approx(0.02)
    assert not venue.following()
    venue._exchange.fetch_open_orders = lambda *args: []
    report = kernel.reconcile_with_venue()
    assert report.awaited_settled == [] and report.missed_fills == []
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and left["details"]["field"] == "avg_fill_price"
    assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]
    assert kernel.slot_state(0).size == 0.0


# -- ccxt: exchange order ids, and trades that do not read --------------------------------------


def test_ccxt_orders_in_two_markets_under_one_exchange_id_are_two_orders_to_the_kernel(
    spot_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """Binance's order ids are unique only within a market. The adapter gave the kernel the bare
    id, and the kernel's index of venue ids spans every market: the second order's ack and fills
    were refused as another working order's (UNKNOWN_ORDER), its position never booked."""
    kernel = ExecutionKernel(max_slots=2, venue=spot_venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")  # BTCUSDT 28457200
    eth = exchange.fixture("binance/spot_order_limit_new.json")
    eth.update(symbol="ETHUSDT", price="3000.00000000", origQty="0.50000000")  # the same order id
    exchange.script("POST", "/api/v3/order", payload=eth)
    btc_entry = kernel.process_intent(enter("i1", 0.02, 90000.0, order_type="LIMIT", limit_price=90000.0))
    eth_entry = kernel.process_intent(
        enter(
            "i2", 0.5, 3000.0, slot_id=1, trade_id="tr-2", asset="ETHUSDT", order_type="LIMIT",
            limit_price=3000.0,
        )
    )  # fmt: skip
    assert btc_entry.state == TradeStage.ENTRY_WORKING, btc_entry.to_dict()
    assert eth_entry.state == TradeStage.ENTRY_WORKING, eth_entry.to_dict()
    assert btc_entry.order is not None and eth_entry.order is not None

    # The ETH order fills; each order is asked about in its market by the exchange's own id.
    resting = exchange.fixture("binance/spot_query_limit_new_2.json")
    resting.update(orderId=28457200, clientOrderId=btc_entry.order.client_order_id, price="90000.00000000")
    filled = exchange.fixture("binance/spot_query_limit_filled.json")
    filled.update(
        symbol="ETHUSDT", clientOrderId=eth_entry.order.client_order_id, price="3000.00000000",
        origQty="0.50000000", executedQty="0.50000000", cummulativeQuoteQty="1500.00000000",
    )  # fmt: skip
    (trade,) = exchange.fixture("binance/spot_trades_limit_partial.json")
    trade.update(symbol="ETHUSDT", price="3000.00000000", qty="0.50000000", quoteQty="1500.00000000")
    exchange.script("GET", "/api/v3/order", payload=resting)
    exchange.script("GET", "/api/v3/order", payload=filled)
    exchange.script("GET", "/api/v3/myTrades", payload=[trade])
    events = spot_venue.poll_events()
    assert [(e.kind.name, e.venue_order_id, e.fill_id) for e in events] == [
        ("FILL", "ETHUSDT:28457200", "ETHUSDT:4101")
    ]
    feed(kernel, events)
    assert kernel.slot_state(1).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(1).size == pytest.approx(0.5)
    queried = [(c.params["symbol"], c.params["orderId"]) for c in exchange.calls("GET", "/api/v3/order")]
    assert queried == [("BTCUSDT", "28457200"), ("ETHUSDT", "28457200")]
    assert exchange.calls("GET", "/api/v3/myTrades")[0].params["orderId"] == "28457200"

    # The BTC order is canceled by the exchange's id, in its market; the kernel takes the end.
    answer = exchange.fixture("binance/spot_cancel_partial.json")
    answer.update(
        orderId=28457200, origClientOrderId=btc_entry.order.client_order_id, price="90000.00000000",
        executedQty="0.00000000", cummulativeQuoteQty="0.00000000",
    )  # fmt: skip
    exchange.script("DELETE", "/api/v3/order", payload=answer)
    canceled = kernel.process_intent(cancel("c1", ts=2.0))
    assert canceled.accepted and canceled.state == TradeStage.IDLE, canceled.to_dict()
    deleted = exchange.calls("DELETE", "/api/v3/order")[0].params
    assert (deleted["symbol"], deleted["orderId"]) == ("BTCUSDT", "28457200")


def _held_bare(kernel: ExecutionKernel, venue: CcxtVenue, monkeypatch: pytest.MonkeyPatch) -> str:
    """An ENTER of ``kernel`` held as the adapter of an older version reported it: acknowledged
    under the bare exchange id 28457200 (``venue`` answering nothing to its submit); its client id."""
    with monkeypatch.context() as m:
        m.setattr(venue, "submit", lambda order: [])
        entry = kernel.process_intent(enter("i1", 0.02, 90000.0, order_type="LIMIT", limit_price=90000.0))
    assert entry.order is not None
    coid = entry.order.client_order_id
    ack = VenueEvent("old-ack", "tr-1", 0, "ORDER_ACK", venue_client_id=coid, venue_order_id="28457200")
    feed(kernel, [ack])
    return coid


@pytest.mark.parametrize("routed", [False, True])
def test_ccxt_reconciliation_keeps_an_order_an_older_log_holds_under_the_bare_exchange_id(
    make_venue: Callable[..., CcxtVenue],
    exchange: RecordedExchange,
    monkeypatch: pytest.MonkeyPatch,
    routed: bool,
) -> None:
    """A log written before the venue qualified its order ids with the market holds them bare,
    while the exchange's open orders now list them qualified. An order whose client id went out
    hashed (a long kernel id), which the exchange could not be asked about, is then matched by
    its venue id alone: the bare one matched nothing, and the kernel's own order was canceled
    as one nobody manages."""
    venue = make_venue(markets=["BTCUSDT"])
    # Behind a router too, which asks the venue holding the order how it lists it.
    front: Any = VenueRouter({"binance": venue}, default="binance") if routed else venue
    kernel = ExecutionKernel(max_slots=1, venue=front, kernel_id="k" * 40)
    coid = _held_bare(kernel, venue, monkeypatch)
    assert kernel.open_orders()[0].venue_order_id == "28457200"

    (working,) = exchange.fixture("binance/spot_open_orders.json")
    working.update(clientOrderId=CcxtVenue.venue_client_id(coid), executedQty="0.00000000")
    exchange.script("GET", "/api/v3/openOrders", payload=[working])
    exchange.script("GET", "/api/v3/order", "binance/error_backend_timeout.json", status=503)
    account_holding(exchange, "0.00000000")
    report = kernel.reconcile_with_venue()
    assert report.unknown_at_venue_canceled == [] and report.unknown_at_venue_left == []
    assert exchange.calls("DELETE", "/api/v3/order") == []
    assert [u["client_order_id"] for u in report.unresolved] == [coid]  # it could not be asked about
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def test_ccxt_an_order_an_older_log_holds_under_the_bare_id_fills_under_it(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taken over after a restart, an order an older log holds under the bare exchange id was
    reported under the market-qualified one would be refused (the kernel refuses an event under
    another venue id than its order carries), and the order's fills with it. It keeps its bare
    id."""
    venue = make_venue(markets=["BTCUSDT"])
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    coid = _held_bare(kernel, venue, monkeypatch)
    venue.watch(kernel.open_orders()[0])

    filled = exchange.fixture("binance/spot_query_limit_filled.json")
    filled.update(clientOrderId=coid, price="90000.00000000", origQty="0.02000000", executedQty="0.02000000",
                  cummulativeQuoteQty="1800.00000000")  # fmt: skip
    (trade,) = exchange.fixture("binance/spot_trades_limit_partial.json")
    trade.update(price="90000.00000000", qty="0.02000000", quoteQty="1800.00000000")
    exchange.script("GET", "/api/v3/order", payload=filled)
    exchange.script("GET", "/api/v3/myTrades", payload=[trade])
    events = venue.poll_events()
    assert [(e.kind.name, e.venue_order_id) for e in events] == [("FILL", "28457200")]
    feed(kernel, events)
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fee", float("nan")),
        ("fee", float("inf")),
        ("fee", "n/a"),
        ("timestamp", float("nan")),
        ("timestamp", "2025-11-20T23:00:10Z"),
    ],
)
def test_ccxt_a_trade_whose_fee_or_time_does_not_read_still_fills_the_slot(
    spot_venue: CcxtVenue,
    exchange: RecordedExchange,
    caplog: pytest.LogCaptureFixture,
    field: str,
    value: object,
) -> None:
    """A NaN fee or time went to the kernel, which refused the fill (INVALID_INTENT) the adapter
    had already counted reported and stopped asking about: the position was missing until a
    full reconciliation. Text there made every poll fail to read the order. The fill comes, its
    fee left to the kernel's model, or stamped with the order's time, and a warning names it."""
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    entry = kernel.process_intent(enter("i1", 0.02, 90000.0, order_type="LIMIT", limit_price=90000.0))
    assert entry.state == TradeStage.ENTRY_WORKING, entry.to_dict()
    trade = {
        "id": "4101", "order": "28457200", "symbol": "BTC/USDT", "amount": 0.02, "price": 90000.0,
        "timestamp": 1763679610000, "takerOrMaker": "maker", "fee": {"cost": 0.36, "currency": "USDT"},
    }  # fmt: skip
    if field == "fee":
        trade["fee"] = {"cost": value, "currency": "USDT"}
    else:
        trade["timestamp"] = value
    answer = {
        "id": "28457200", "symbol": "BTC/USDT", "status": "closed", "amount": 0.02, "filled": 0.02,
        "timestamp": 1763679602000, "lastUpdateTimestamp": 1763679620000, "trades": [trade],
    }  # fmt: skip
    spot_venue._exchange.fetch_order = lambda *args: dict(answer)
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        [fill] = spot_venue.poll_events()
    feed(kernel, [fill])
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.size == pytest.approx(0.02)
    if field == "fee":
        assert fill.fee is None and fill.timestamp_s == 1763679610.0
    else:
        assert fill.fee == pytest.approx(0.36) and fill.timestamp_s == 1763679620.0  # the order's time
    [warning] = [r.getMessage() for r in caplog.records if "BTCUSDT:4101" in r.getMessage()]
    assert field in warning and repr(value) in warning, warning


@pytest.mark.parametrize(
    ("order_type", "answer_of", "rate"),
    [("LIMIT", "poll", 0.0002), ("MARKET", "poll", 0.001), ("LIMIT", "submit", 0.001)],
)
def test_ccxt_a_trade_that_does_not_say_maker_or_taker_is_charged_by_the_kernels_own_reading(
    spot_venue: CcxtVenue, exchange: RecordedExchange, order_type: str, answer_of: str, rate: float
) -> None:
    """A trade whose takerOrMaker ccxt leaves None was stamped TAKER, which the kernel takes
    over its own reading (a limit order's fill is a maker's): with a fee it cannot price (paid
    in BNB), a limit order's fill was charged the taker rate. Its liquidity is left unsaid,
    but for a trade the answer to the order's placing gives (Binance's fills, ccxt leaving
    them None): it traded on the order's arrival, a taker's."""
    kernel = ExecutionKernel(max_slots=1, venue=spot_venue, kernel_id="k")
    kernel.set_exchange_config({"taker_rate": 0.001, "maker_rate": 0.0002})
    trade = {
        "id": "4101", "order": "28457200", "symbol": "BTC/USDT", "amount": 0.02, "price": 90000.0,
        "timestamp": 1763679610000, "takerOrMaker": None, "fee": {"cost": 0.0012, "currency": "BNB"},
    }  # fmt: skip
    answer = {
        "id": "28457200", "symbol": "BTC/USDT", "status": "closed", "amount": 0.02, "filled": 0.02,
        "timestamp": 1763679602000, "lastUpdateTimestamp": 1763679620000, "trades": [trade],
    }  # fmt: skip
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    if answer_of == "submit":
        spot_venue._exchange.create_order = lambda *args: dict(answer)
    limit_price = 90000.0 if order_type == "LIMIT" else 0.0
    entry = kernel.process_intent(enter("i1", 0.02, 90000.0, order_type=order_type, limit_price=limit_price))
    if answer_of == "poll":
        assert entry.state == TradeStage.ENTRY_WORKING, entry.to_dict()
        spot_venue._exchange.fetch_order = lambda *args: dict(answer)
        [fill] = spot_venue.poll_events()
        feed(kernel, [fill])
        assert fill.fee is None and "liquidity" not in fill.metadata
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).fees_paid == pytest.approx(0.02 * 90000.0 * rate)


@pytest.mark.parametrize("behind_router", [False, True])
def test_ccxt_reconciliation_compares_a_position_entered_under_a_ccxt_symbol_with_its_market(
    make_venue: Callable[..., CcxtVenue], exchange: RecordedExchange, behind_router: bool
) -> None:
    """An asset may be a ccxt symbol (``BTC/USDT``), and ``positions()`` names the market by its
    id: the one BTC held was read as two mismatches, the venue's BTCUSDT unknown to the kernel
    and the kernel's BTC/USDT flat at the venue."""
    venue: Any = make_venue(markets=["BTCUSDT"])
    if behind_router:
        venue = VenueRouter({"binance": venue}, default="binance")
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    outcome = kernel.process_intent(enter("i1", 0.015, 91000.0, asset="BTC/USDT"))
    # What the account was credited: the commission was kept in BTC.
    assert outcome.accepted and kernel.slot_state(0).size == pytest.approx(0.014985), outcome.to_dict()
    exchange.script("GET", "/api/v3/openOrders", payload=[])
    account_holding(exchange, "0.01498500")

    report = kernel.reconcile_with_venue()
    assert report.positions_unchecked == "" and report.position_mismatches == []
    assert report.clean
