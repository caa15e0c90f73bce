"""CcxtVenue on Binance's own behaviour, driven with its documented answers on the recorded
exchange: a request refused for its timestamp (-1021) is a refusal and the clock is synced with
the exchange's, a ban (HTTP 418) is waited out in full, a cancel that loses the race to a fill
reports the fill and no refusal, and a buy whose commission is kept in the coin bought is exited
whole."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from recorded_exchange import RecordedExchange
from venue_helpers import ManualClock, make_order

from dita import ExecutionKernel, KernelIntent, TradeStage, VenueOrderStatus
from dita.venues import CcxtVenue
from dita.venues.protocol import VenueUnavailable

VenueFactory = Callable[..., CcxtVenue]

# Binance's documented server time (GET /api/v3/time), years behind this machine's clock.
_SERVER_TIME_MS = 1499827319559


def _signed_at(exchange: RecordedExchange, method: str, path: str) -> list[int]:
    """The ``timestamp`` each ``method path`` request was signed with, in order."""
    return [int(r.params["timestamp"]) for r in exchange.calls(method, path)]


# -- -1021: the request's timestamp outside the recvWindow ---------------------------------


def test_a_submit_refused_for_its_timestamp_is_rejected_and_the_clock_synced_with_the_exchange(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Binance refuses a request whose timestamp is outside the recvWindow before matching: the
    order was not placed. Taken for "outcome unknown", the slot stayed ORDER_SENT for as long as
    the clock stayed off. The refusal frees the slot, names -1021 and the offset, and the next
    request carries the exchange's time."""
    venue = make_venue()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/error_timestamp_outside_recv_window.json", status=400)
    exchange.script("GET", "/api/v3/time", "binance/spot_time.json", replace=True)
    entry = KernelIntent("i1", "tr-1", 0, "BTCUSDT", "LONG", "ENTER", 91000.0, 0.015, timestamp=1.0)
    outcome = kernel.process_intent(entry)
    [reject] = outcome.emitted_events
    assert (reject.kind.name, reject.status) == ("REJECT", VenueOrderStatus.REJECTED)
    assert "-1021" in reject.reason and "ms ahead of the exchange's" in reject.reason
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE
    assert venue.unresolved_orders() == []
    assert len(exchange.calls("GET", "/api/v3/time")) == 2  # at the markets' load, and on -1021

    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    outcome = kernel.process_intent(
        KernelIntent("i2", "tr-2", 0, "BTCUSDT", "LONG", "ENTER", 91000.0, 0.015, timestamp=2.0)
    )
    assert outcome.accepted, outcome.to_dict()
    refused_at, placed_at = _signed_at(exchange, "POST", "/api/v3/order")
    # Signed by this machine's clock, then by the exchange's: moved by the offset found.
    assert abs(placed_at - _SERVER_TIME_MS) < 60_000
    assert refused_at - placed_at > 60_000


def test_a_cancel_refused_for_its_timestamp_is_a_cancel_reject_not_a_timeout(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """The cancel never reached the matching engine: the order still works, said at once."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    order = make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02)
    venue.submit(order)
    exchange.script("DELETE", "/api/v3/order", "binance/error_timestamp_outside_recv_window.json", status=400)
    exchange.script("GET", "/api/v3/time", "binance/spot_time.json", replace=True)
    [refused] = venue.cancel(order)
    assert refused.kind.name == "CANCEL_REJECT" and "-1021" in refused.reason
    assert exchange.calls("GET", "/api/v3/order") == []  # not looked up as a cancel in doubt
    assert abs(_signed_at(exchange, "DELETE", "/api/v3/order")[0] - _SERVER_TIME_MS) > 60_000
    assert venue.following()


# -- 418: the address banned -----------------------------------------------------------------


def test_a_ban_is_waited_out_in_full_and_nothing_is_sent_before_it_ends(
    make_venue: VenueFactory,
    exchange: RecordedExchange,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Binance bans an address that sends on after a 429 for 2 minutes to 3 days, longer with
    each repeat: a Retry-After of 7200 s cut to 600 s would send to the banned address after ten
    minutes. The adapter waits the whole ban, answering RATE_LIMITED itself, and logs the ban's
    end at ERROR."""
    venue = make_venue()
    exchange.script(
        "POST", "/api/v3/order", "binance/error_ip_banned.json", status=418, headers={"Retry-After": "7200"}
    )
    order = make_order("s1-entry-1", size=0.015, reference_price=91000.0)
    with caplog.at_level(logging.ERROR, logger="dita.venues.ccxt"):
        [limited] = venue.submit(order)
    assert limited.kind.name == "RATE_LIMITED" and limited.retry_after == pytest.approx(7200.0)
    [ban] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "banned" in ban.getMessage() and "2025-11-21T01:00:00+00:00" in ban.getMessage()

    clock.advance(601.0)
    [limited] = venue.submit(order)
    assert limited.kind.name == "RATE_LIMITED" and limited.retry_after == pytest.approx(6599.0)
    assert venue.poll_events() == []
    clock.advance(6598.0)
    assert venue.submit(order)[0].kind.name == "RATE_LIMITED"
    assert len(exchange.calls("POST", "/api/v3/order")) == 1

    clock.advance(1.0)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    assert [e.kind.name for e in venue.submit(order)] == ["ORDER_ACK", "FILL", "FILL"]


@pytest.mark.parametrize(("status", "waited"), [(418, 3 * 24 * 3600.0), (429, 600.0)])
def test_a_ban_is_bounded_by_binances_longest_and_a_throttle_by_a_sane_pause(
    make_venue: VenueFactory, exchange: RecordedExchange, status: int, waited: float
) -> None:
    """`inf` would stop the adapter for good: a ban's pause ends at Binance's longest ban (3
    days), a throttle's at ten minutes."""
    venue = make_venue()
    exchange.script(
        "POST", "/api/v3/order", "binance/error_ip_banned.json", status=status, headers={"Retry-After": "inf"}
    )
    [limited] = venue.submit(make_order("s1-entry-1", size=0.015, reference_price=91000.0))
    assert limited.kind.name == "RATE_LIMITED" and limited.retry_after == pytest.approx(waited)


# -- -2011: a cancel that lost the race to a fill ----------------------------------------------


def _resting_limit_buy(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> tuple[CcxtVenue, ExecutionKernel]:
    """A kernel whose slot 0 holds a limit buy of 0.02 BTCUSDT resting at Binance."""
    venue = make_venue()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    entry = KernelIntent(
        "i1", "tr-1", 0, "BTCUSDT", "LONG", "ENTER", 90000.0, 0.02,
        order_type="LIMIT", limit_price=90000.0, timestamp=1.0,
    )  # fmt: skip
    assert kernel.process_intent(entry).accepted
    return venue, kernel


def test_a_cancel_that_loses_the_race_to_a_fill_books_the_fill_and_no_refused_event(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """The limit entry filled while its cancel was on the way, and Binance answered the cancel
    "Unknown order sent." (-2011). The adapter reported the fills, then a CANCEL_REJECT for the
    order they had ended, which the kernel refused (INVALID_TRANSITION): a spurious refused
    event in the cancel's outcome. The fills are booked, and nothing is refused."""
    venue, kernel = _resting_limit_buy(make_venue, exchange)
    exchange.script("DELETE", "/api/v3/order", "binance/error_unknown_order_sent.json", status=400)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_filled.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    outcome = kernel.process_intent(
        KernelIntent("c1", "tr-1", 0, "BTCUSDT", "LONG", "CANCEL", 0.0, 0.0, timestamp=2.0)
    )
    details = outcome.to_dict()["details"]
    assert "venue_refusals" not in details and "venue_events_refused" not in details, details
    assert [e.kind.name for e in outcome.emitted_events] == ["FILL", "FILL"]
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.size == pytest.approx(0.02)
    assert not venue.following()


def test_a_cancel_answered_unknown_whose_look_up_is_throttled_says_its_end_is_not_known_yet(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Binance answered the cancel "Unknown order sent." (-2011) and then throttled the look-up of
    what became of the order: it most likely filled, so "does not know the order" would mislead.
    The refusal says the order's end is not known yet, names both answers, and the order is still
    followed, so polling reports its end."""
    venue, kernel = _resting_limit_buy(make_venue, exchange)
    exchange.script("DELETE", "/api/v3/order", "binance/error_unknown_order_sent.json", status=400)
    exchange.script("GET", "/api/v3/order", "binance/error_too_many_requests.json", status=429)
    outcome = kernel.process_intent(
        KernelIntent("c1", "tr-1", 0, "BTCUSDT", "LONG", "CANCEL", 0.0, 0.0, timestamp=2.0)
    )
    [refused] = outcome.emitted_events
    assert refused.kind.name == "CANCEL_REJECT"
    assert "not known yet" in refused.reason and "does not know the order" not in refused.reason
    assert "-2011" in refused.reason and "throttl" in refused.reason
    assert venue.following()


# -- a spot buy's commission kept in the coin bought -------------------------------------------


def _market_sell_filled(quantity: str, price: str) -> dict[str, object]:
    """Binance's FULL answer to a market sell filled at once in one trade, commission in USDT
    (the shape of spot_order_market_buy_full.json, the sell side)."""
    qty, px = float(quantity), float(price)
    return {
        "symbol": "BTCUSDT", "orderId": 28457102, "orderListId": -1, "clientOrderId": "k-2",
        "transactTime": 1763679660000, "price": "0.00000000", "origQty": quantity,
        "executedQty": quantity, "origQuoteOrderQty": "0.00000000",
        "cummulativeQuoteQty": f"{qty * px:.8f}", "status": "FILLED", "timeInForce": "GTC",
        "type": "MARKET", "side": "SELL", "workingTime": 1763679660000,
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "fills": [{"price": price, "qty": quantity, "commission": f"{qty * px * 0.001:.8f}",
                   "commissionAsset": "USDT", "tradeId": 4003}],
    }  # fmt: skip


def test_a_buy_whose_commission_is_kept_in_the_coin_bought_is_exited_whole_and_its_slot_closes(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """The market buy of 0.015 BTC paid 0.000015 BTC of commission (Binance's FULL answer): the
    account was credited 0.014985. The slot held 0.015, so the exit of the whole position asked
    to sell 0.015, which Binance refuses for insufficient balance, and the slot stayed open. The
    slot holds what the account does, the exit sells it rounded down to the lot (0.01498), and
    its fill closes the slot, the 0.000005 left (less than a lot) closed at the entry price."""
    venue = make_venue()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    kernel.set_market_limits("BTCUSDT", venue.market_metadata()["BTCUSDT"].model_dump())
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    entry = KernelIntent("i1", "tr-1", 0, "BTCUSDT", "LONG", "ENTER", 91000.0, 0.015, timestamp=1.0)
    fills = kernel.process_intent(entry).emitted_events
    assert [f.metadata["base_fee_qty"] for f in fills if f.kind.name == "FILL"] == [0.00001, 0.000005]
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN
    assert slot.size == pytest.approx(0.014985, abs=1e-12)
    # The commission is charged at its value in USDT, at each trade's price.
    assert slot.fees_paid == pytest.approx(0.00001 * 91000.0 + 0.000005 * 91000.5)

    exchange.script("POST", "/api/v3/order", payload=_market_sell_filled("0.01498000", "92000.00000000"))
    outcome = kernel.process_intent(
        KernelIntent("i2", "tr-1", 0, "BTCUSDT", "LONG", "EXIT", 92000.0, 0.0, timestamp=2.0)
    )
    assert outcome.accepted, outcome.to_dict()
    sell = exchange.calls("POST", "/api/v3/order")[-1]
    assert (sell.params["side"], sell.params["quantity"]) == ("SELL", "0.01498")
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.CLOSED, slot
    assert slot.size == 0.0
    entry_price = (0.00999 * 91000.0 + 0.004995 * 91000.5) / 0.014985
    # PnL on what was sold; the dust closed at the entry price realizes nothing.
    assert slot.realized_pnl == pytest.approx(0.01498 * (92000.0 - entry_price))
    closed = [t for t in outcome.transitions if t.details.get("fill_qty") == pytest.approx(0.01498)]
    assert closed, outcome.to_dict()


# -- reconciliation: another bot's open order -------------------------------------------------


def test_reconciliation_cancels_only_the_orders_this_kernel_issued(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """The account's open orders hold one of this kernel's it has no record of ("k-7": sent
    before a crash that lost it) and another bot's ("s2-entry-1", as recorded). Reconciliation
    canceled both; the other bot's order is the other bot's. Only "k-7" is canceled; the other
    is reported as foreign and left working, unless ``cancel_foreign_orders``."""
    venue = make_venue()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    (another_bots,) = exchange.fixture("binance/spot_open_orders.json")
    orphan = dict(another_bots, orderId=28457301, clientOrderId="k-7", executedQty="0.00000000")
    orphan["cummulativeQuoteQty"] = "0.00000000"
    orphan["status"] = "NEW"
    exchange.script("GET", "/api/v3/openOrders", payload=[another_bots, orphan])
    canceled = exchange.fixture("binance/spot_cancel_partial.json")
    canceled.update(orderId=28457301, origClientOrderId="k-7", executedQty="0.00000000")
    canceled["cummulativeQuoteQty"] = "0.00000000"
    exchange.script("DELETE", "/api/v3/order", payload=canceled)
    exchange.script("GET", "/api/v3/account", "binance/spot_account.json")

    report = kernel.reconcile_with_venue()
    assert [c.params["orderId"] for c in exchange.calls("DELETE", "/api/v3/order")] == ["28457301"]
    assert [o["client_order_id"] for o in report.unknown_at_venue_canceled] == ["k-7"]
    assert [(o["client_order_id"], o["venue_order_id"]) for o in report.foreign_orders_left] == [
        ("s2-entry-1", "BTCUSDT:28457200")
    ]
    assert report.unknown_at_venue_cancel_failed == []


# -- an exchange that cannot be asked --------------------------------------------------------


@pytest.mark.parametrize("query", ["balances", "positions", "fetch_top_of_book"])
def test_a_read_the_exchange_answers_with_an_error_raises_venue_unavailable(
    exchange: RecordedExchange, clock: ManualClock, binance_keys: None, query: str
) -> None:
    """A read-only query whose answer (or the markets it needs first) is an error raises
    ``VenueUnavailable``, as the venue protocol says of a question not answered: positions and
    the book raised a bare RuntimeError while the markets could not be loaded, so a caller that
    takes VenueUnavailable (a rebalance's planning) went up with a traceback."""
    exchange.script(
        "GET", "/api/v3/exchangeInfo", "binance/error_backend_timeout.json", status=503, repeat=True
    )
    exchange.script("GET", "/api/v3/account", "binance/error_backend_timeout.json", status=503, repeat=True)
    exchange.script("GET", "/api/v3/time", payload={"serverTime": int(time.time() * 1000)}, repeat=True)
    venue = CcxtVenue(
        clock=clock,
        sleep=clock.sleep,
        exchange="binance",
        base_url=exchange.url,
        api_key_env="DITA_TEST_BINANCE_KEY",
        secret_env="DITA_TEST_BINANCE_SECRET",
        rate_limit_ms=1,
    )
    try:
        asked = {
            "balances": venue.balances,
            "positions": venue.positions,
            "fetch_top_of_book": lambda: venue.fetch_top_of_book("BTCUSDT"),
        }[query]
        with pytest.raises(VenueUnavailable, match="-1007"):
            asked()
    finally:
        venue.close()
