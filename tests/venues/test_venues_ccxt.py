"""CcxtVenue against a local server answering with recorded Binance payloads.

ccxt's API URLs are pointed at the server (``base_url``); every test checks what ccxt sent
and what the adapter made of the answers. The exchange fixture fails a test that made a
request nobody scripted.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Iterator

import pytest
from pydantic import ValidationError
from recorded_exchange import RecordedExchange
from venue_helpers import (
    API_KEY,
    API_SECRET,
    CLIENT_TIMEOUT_MS,
    HOLD,
    ManualClock,
    closed_part_filled,
    make_order,
)

from dita import ExecutionKernel, KernelEventKind, KernelIntent, VenueEvent, VenueOrder, VenueOrderStatus
from dita.risk import MarketLimits
from dita.venues import CcxtVenue, PaperVenue, VenueTimeout, VenueUnavailable, ccxt_venue
from dita.venues._events import BoundedIdSet
from dita.venues.ccxt import events as ccxt_events
from dita.venues.ccxt_venue import market_limits

VenueFactory = Callable[..., CcxtVenue]


def kinds(events: list) -> list[str]:
    return [e.kind.name for e in events]


# -- markets -------------------------------------------------------------------------------


def test_load_markets_gives_market_limits_from_binance_filters(make_venue: VenueFactory) -> None:
    venue = make_venue()
    limits = venue.market_metadata()
    # Under each market's id and its ccxt symbol (either is an asset of the venue).
    assert set(limits) == {"BTCUSDT", "BTC/USDT", "ETHUSDT", "ETH/USDT", "DOGEUSDT", "DOGE/USDT"}
    assert limits["BTCUSDT"] == MarketLimits(
        lot_step=0.00001, tick_size=0.01, min_qty=0.00001, min_notional=5.0
    )
    assert limits["DOGEUSDT"] == MarketLimits(lot_step=1.0, tick_size=0.00001, min_qty=1.0, min_notional=1.0)


@pytest.mark.parametrize(
    ("mode", "lot_step", "tick_size"),
    [("TICK_SIZE", 0.001, 0.5), ("DECIMAL_PLACES", 1e-3, 1e-1), ("SIGNIFICANT_DIGITS", 0.0, 0.0)],
)
def test_market_precision_is_read_by_the_exchanges_precision_mode(
    mode: str, lot_step: float, tick_size: float
) -> None:
    import ccxt

    # The same numbers mean a step, decimal places or significant digits by the mode. Read
    # as steps, digit counts (3 and 1 here) would round every size down to a multiple of 3.
    precision = {"amount": 0.001, "price": 0.5} if mode == "TICK_SIZE" else {"amount": 3, "price": 1}
    market = {"precision": precision, "limits": {"amount": {"min": 0.002}, "cost": {"min": 5}}}
    limits = market_limits(market, getattr(ccxt, mode), ccxt)
    assert limits == MarketLimits(lot_step=lot_step, tick_size=tick_size, min_qty=0.002, min_notional=5.0)


@pytest.mark.parametrize(("mode", "amount"), [("DECIMAL_PLACES", 18), ("TICK_SIZE", 1e-18)])
def test_a_step_finer_than_the_kernel_takes_leaves_rounding_to_the_exchange(mode: str, amount: float) -> None:
    import ccxt

    # A token of 18 decimals: as a step of 1e-18, finer than the kernel takes, its limits
    # would be refused, and the load of every market with them.
    market = {"id": "TOKUSDT", "precision": {"amount": amount, "price": 2}, "limits": {}}
    limits = market_limits(market, getattr(ccxt, mode), ccxt)
    assert limits.lot_step == 0.0
    assert limits.tick_size == (0.01 if mode == "DECIMAL_PLACES" else 2.0)


@pytest.mark.parametrize("places", [-400, 400])
def test_decimal_places_past_a_floats_range_are_an_error_naming_the_field(places: int) -> None:
    import ccxt

    # 10.0 ** 400 raised a bare OverflowError out of load_markets.
    market = {"id": "BTCUSDT", "precision": {"amount": places, "price": 2}, "limits": {}}
    with pytest.raises(
        ValueError,
        match=rf"market 'BTCUSDT' field 'precision.amount': {places} decimal places is outside -300..300",
    ):
        market_limits(market, ccxt.DECIMAL_PLACES, ccxt)


def test_markets_of_a_significant_digits_exchange_leave_rounding_to_it(make_venue: VenueFactory) -> None:
    import ccxt

    venue = make_venue()
    venue._exchange.precisionMode = ccxt.SIGNIFICANT_DIGITS  # as bitfinex and bithumb
    limits = venue.load_markets(reload=True)
    assert limits["BTCUSDT"].lot_step == 0.0 and limits["BTCUSDT"].tick_size == 0.0
    assert limits["BTCUSDT"].min_qty == 0.00001 and limits["BTCUSDT"].min_notional == 5.0


def test_futures_markets_counted_in_contracts_are_not_traded(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue("linear")
    # As on OKX, where a BTC swap contract is 0.01 BTC: ccxt's amounts there are contracts,
    # and a size in base units sent as one would be an order a hundred times too small.
    load = venue._exchange.load_markets

    def with_contracts(reload: bool = False, params: dict | None = None) -> dict:
        markets = load(reload)
        for market in markets.values():
            if market["id"] == "ETHUSDT":
                market["contractSize"] = 0.01
        return markets

    venue._exchange.load_markets = with_contracts
    assert set(venue.load_markets(reload=True)) == {"BTCUSDT", "BTC/USDT:USDT"}
    [refused] = venue.submit(make_order("s1-entry-1", asset="ETHUSDT", size=1.0, reference_price=3000.0))
    assert refused.kind == KernelEventKind.REJECT and refused.status == VenueOrderStatus.REJECTED
    assert "contracts of 0.01 base units" in refused.reason
    assert exchange.calls("POST", "/fapi/v1/order") == []
    with pytest.raises(ValueError, match=r"markets: 'ETH/USDT:USDT' on .* contracts of 0\.01"):
        venue._markets.checked_symbols(["BTCUSDT", "ETH/USDT:USDT"])


def test_usdm_markets_use_min_notional_filter(make_venue: VenueFactory) -> None:
    venue = make_venue("linear")
    limits = venue.market_metadata()
    assert set(limits) == {"BTCUSDT", "BTC/USDT:USDT", "ETHUSDT", "ETH/USDT:USDT"}
    assert limits["BTCUSDT"] == MarketLimits(lot_step=0.001, tick_size=0.1, min_qty=0.001, min_notional=100.0)
    assert limits["ETHUSDT"].min_notional == 20.0


# -- submit and fills ----------------------------------------------------------------------


def test_market_buy_filled_in_two_trades_reports_each_fill_once(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    order = make_order("s1-entry-1", size=0.015, reference_price=91000.0)
    events = venue.submit(order)

    assert kinds(events) == ["ORDER_ACK", "FILL", "FILL"]
    sent = exchange.calls("POST", "/api/v3/order")[0]
    assert sent.params["newClientOrderId"] == "s1-entry-1"
    assert sent.params["type"] == "MARKET" and sent.params["side"] == "BUY"
    assert sent.params["quantity"] == "0.015"
    assert sent.headers["X-MBX-APIKEY"] == API_KEY  # the key came from the environment

    ack, first, second = events
    # Qualified with its market: Binance's order ids are unique only within one.
    assert ack.venue_order_id == "BTCUSDT:28457101"
    assert ack.event_id == "binance-spot:ack:BTCUSDT:28457101"
    assert [f.fill_id for f in (first, second)] == ["BTCUSDT:4001", "BTCUSDT:4002"]
    assert (first.size, first.price, first.filled_size) == (0.01, 91000.0, 0.01)
    assert first.status == VenueOrderStatus.PARTIALLY_FILLED
    assert second.status == VenueOrderStatus.FILLED
    assert second.filled_size == pytest.approx(0.015)
    assert second.remaining_size == pytest.approx(0.0)
    # Fee paid in BTC is reported in USDT at the fill price, with the native amount kept.
    assert first.fee == pytest.approx(0.00001 * 91000.0)
    assert first.metadata["fee_currency"] == "BTC"
    # Nothing is left to poll for a filled order.
    assert venue.poll_events() == []


def test_orders_the_exchange_answered_without_an_id_get_events_of_their_own(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """An answer without an order id (ccxt's ``id`` None) left every such order the event ids
    ``<name>:ack:`` and ``<name>:expired:``: the kernel refused the second order's ack and end as
    duplicates, and the order stayed working for good. They are named by client id then."""
    venue = make_venue()
    events = []
    for client_id in ("s1-entry-1", "s2-entry-1"):
        answer = exchange.fixture("binance/spot_order_limit_new.json")
        del answer["orderId"]
        answer.update(clientOrderId=client_id, status="EXPIRED")
        exchange.script("POST", "/api/v3/order", payload=answer)
        placed = venue.submit(make_order(client_id, order_type="LIMIT", price=90000.0, size=0.02))
        assert kinds(placed) == ["ORDER_ACK", "EXPIRED"]
        assert all(e.venue_order_id == "" for e in placed)
        events.extend(placed)
    assert [e.event_id for e in events] == [
        "binance-spot:ack:client:s1-entry-1",
        "binance-spot:expired:client:s1-entry-1",
        "binance-spot:ack:client:s2-entry-1",
        "binance-spot:expired:client:s2-entry-1",
    ]


def test_fills_of_orders_the_exchange_answered_without_an_id_get_ids_of_their_own(
    make_venue: VenueFactory, clock: ManualClock
) -> None:
    """Orders answered without an id, filled by the exchange's word, their trades never read (no
    id to ask for them by): each is booked from the order after the wait. Under the bare (empty)
    exchange id both fills were ``BTCUSDT:order:``, and the kernel refused the second as a
    duplicate (a slot's next order's fill, lost). They are named by client id then."""
    venue = make_venue()
    answers = {}
    for client_id in ("s1-entry-1", "s1-entry-2"):
        answer = {
            "id": None, "clientOrderId": client_id, "symbol": "BTC/USDT", "status": "closed",
            "amount": 0.02, "filled": 0.02, "average": 90000.0,
        }  # fmt: skip
        answers[client_id] = answer
        venue._exchange.create_order = lambda *args, answer=answer: dict(answer)
        placed = venue.submit(make_order(client_id, order_type="LIMIT", price=90000.0, size=0.02))
        assert kinds(placed) == ["ORDER_ACK"]
    venue._exchange.fetch_order = lambda order_id, symbol, params: dict(answers[params["clientOrderId"]])
    assert venue.poll_events() == []
    clock.advance(61.0)
    fills = venue.poll_events()
    assert [(f.kind.name, f.venue_client_id, f.fill_id) for f in fills] == [
        ("FILL", "s1-entry-1", "BTCUSDT:order:client:s1-entry-1"),
        ("FILL", "s1-entry-2", "BTCUSDT:order:client:s1-entry-2"),
    ]
    assert [f.event_id for f in fills] == [f"binance-spot:fill:{f.fill_id}" for f in fills]


def test_a_trade_listed_by_orders_answered_without_an_id_is_a_fill_of_each_under_an_id_of_its_own(
    make_venue: VenueFactory,
) -> None:
    """A trade id another order reported already (a self-trade, or an exchange numbering its
    trades per order) is a fill of another order under ``<trade>:<order>``. Of orders answered
    without an id, that was ``<trade>:`` for each, and the kernel refused the second as a
    duplicate: they are named by client id then."""
    venue = make_venue()
    first = {"id": "28457200", "symbol": "BTC/USDT", "status": "closed", "amount": 0.008, "filled": 0.008}
    venue._exchange.create_order = lambda *args: dict(first, trades=[ccxt_trade("4200", 0.008)])
    fills = venue.submit(make_order("s1-entry-1", size=0.008))
    for client_id in ("s2-entry-1", "s3-entry-1"):
        answer = dict(first, id=None, clientOrderId=client_id, trades=[ccxt_trade("4200", 0.008, order=None)])
        venue._exchange.create_order = lambda *args, answer=answer: dict(answer)
        fills += venue.submit(make_order(client_id, size=0.008))
    assert [(f.venue_client_id, f.fill_id) for f in fills if f.kind == KernelEventKind.FILL] == [
        ("s1-entry-1", "BTCUSDT:4200"),
        ("s2-entry-1", "BTCUSDT:4200:client:s2-entry-1"),
        ("s3-entry-1", "BTCUSDT:4200:client:s3-entry-1"),
    ]


def test_resting_limit_partial_then_full_fill_deduplicated_by_trade_id(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    order = make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02)
    assert kinds(venue.submit(order)) == ["ORDER_ACK"]
    assert exchange.calls("POST", "/api/v3/order")[0].params["price"] == "90000"

    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    partial = venue.poll_events()
    assert kinds(partial) == ["FILL"]
    assert partial[0].fill_id == "BTCUSDT:4101"
    assert partial[0].size == pytest.approx(0.008)
    assert partial[0].status == VenueOrderStatus.PARTIALLY_FILLED
    assert partial[0].remaining_size == pytest.approx(0.012)
    assert partial[0].fee == pytest.approx(0.144)
    assert partial[0].metadata["liquidity"] == "MAKER"

    # The trade list now repeats trade 4101: only 4102 is new.
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_filled.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    full = venue.poll_events()
    assert [e.fill_id for e in full] == ["BTCUSDT:4102"]
    assert full[0].status == VenueOrderStatus.FILLED
    assert full[0].filled_size == pytest.approx(0.02)
    assert exchange.calls("GET", "/api/v3/myTrades")[0].params["orderId"] == "28457200"
    # Filled: the order is no longer polled.
    assert venue.poll_events() == []
    assert len(exchange.calls("GET", "/api/v3/order")) == 2


def test_an_order_of_a_billion_filled_a_lot_short_is_reported_partially_filled(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """On a lot of 1 (a meme coin), 1e-9 of an order of 1e9 is a whole lot: trades a lot short
    of the order are a part fill, and the last lot's trade is reported when it comes."""
    info = exchange.fixture("binance/spot_exchange_info.json")
    for rule in info["symbols"][0]["filters"]:
        if rule["filterType"] == "LOT_SIZE":
            rule.update(minQty="1.00000000", maxQty="90000000000.00000000", stepSize="1.00000000")
        if rule["filterType"] == "NOTIONAL":
            rule.update(maxNotional="90000000000.00000000")
    exchange.script("GET", "/api/v3/exchangeInfo", payload=info)  # answered before the fixture's
    venue = make_venue()
    placed = exchange.fixture("binance/spot_order_limit_new.json")
    placed.update(origQty="1000000000.00000000")
    exchange.script("POST", "/api/v3/order", payload=placed)
    acked = venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=1.0, size=1e9))
    assert kinds(acked) == ["ORDER_ACK"], acked

    def answer(status: str, executed: str, trades: list[tuple[int, str]]) -> None:
        query = exchange.fixture("binance/spot_query_limit_partial.json")
        query.update(origQty="1000000000.00000000", executedQty=executed, status=status)
        listed = []
        for trade_id, qty in trades:
            trade = exchange.fixture("binance/spot_trades_limit_partial.json")[0]
            trade.update(id=trade_id, qty=qty, quoteQty=qty, price="1.00000000")
            listed.append(trade)
        exchange.script("GET", "/api/v3/order", payload=query)
        exchange.script("GET", "/api/v3/myTrades", payload=listed)

    answer("PARTIALLY_FILLED", "999999999.00000000", [(4101, "999999999.00000000")])
    [part] = venue.poll_events()
    assert part.status == VenueOrderStatus.PARTIALLY_FILLED
    assert (part.size, part.filled_size) == (999_999_999.0, 999_999_999.0)
    assert part.remaining_size == 1.0

    answer("FILLED", "1000000000.00000000", [(4101, "999999999.00000000"), (4102, "1.00000000")])
    [last] = venue.poll_events()
    assert last.status == VenueOrderStatus.FILLED
    assert (last.size, last.filled_size) == (1.0, 1e9)


def test_a_fee_of_zero_is_zero_in_any_currency(make_venue: VenueFactory, exchange: RecordedExchange) -> None:
    """A zero commission in BNB (a zero-fee market with BNB fees on) needs no price: left to the
    kernel's model, it would be charged a fee the exchange never took."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    trade = exchange.fixture("binance/spot_trades_limit_partial.json")[0]
    trade.update(commission="0.00000000", commissionAsset="BNB")
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", payload=[trade])
    [fill] = venue.poll_events()
    assert fill.fee == 0.0


def test_a_fee_in_no_stated_currency_is_not_taken_for_quote(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """A spot market has no settle currency: a fee whose currency the answer leaves out
    matched that None, and 0.00001 (of BTC, maybe) was booked as 0.00001 USDT."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    trade = exchange.fixture("binance/spot_trades_limit_partial.json")[0]
    trade.update(commission="0.00001000")
    del trade["commissionAsset"]
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", payload=[trade])
    [fill] = venue.poll_events()
    assert fill.fee is None  # the kernel's model prices it
    assert fill.metadata["fee_native"] == pytest.approx(0.00001)


def _resting_order_canceled_part_filled(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> tuple[CcxtVenue, VenueOrder]:
    """A resting limit order, and the exchange's answer to its cancel: canceled, 0.005 of 0.02
    executed."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new_2.json")
    order = make_order("s3-entry-1", order_type="LIMIT", price=89000.0, size=0.02)
    venue.submit(order)
    exchange.script("DELETE", "/api/v3/order", "binance/spot_cancel_partial.json")
    return venue, order


def test_cancel_after_partial_fill_reports_the_fill_then_the_cancel(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue, order = _resting_order_canceled_part_filled(make_venue, exchange)
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_cancel_partial.json")
    events = venue.cancel(order)

    assert kinds(events) == ["FILL", "CANCEL_ACK"]
    assert exchange.calls("DELETE", "/api/v3/order")[0].params["orderId"] == "28457300"
    fill, cancel = events
    assert fill.fill_id == "BTCUSDT:4201" and fill.size == pytest.approx(0.005)
    assert cancel.status == VenueOrderStatus.CANCELED
    assert cancel.filled_size == pytest.approx(0.005)
    assert venue.poll_events() == []


@pytest.mark.parametrize("trade_list", ["lagging", "throttled"])
def test_a_cancel_whose_fill_the_trade_list_does_not_show_yet_says_so_and_polls_for_it(
    make_venue: VenueFactory, exchange: RecordedExchange, trade_list: str
) -> None:
    """The cancel answer counts 0.005 executed, but the trade list has not caught up (or is
    throttled): the end carries the exchange's filled size, so the kernel knows a fill is on
    its way, and the order stays polled until its trade shows."""
    venue, order = _resting_order_canceled_part_filled(make_venue, exchange)
    if trade_list == "lagging":
        exchange.script("GET", "/api/v3/myTrades", payload=[])
    else:
        exchange.script(
            "GET", "/api/v3/myTrades", "binance/error_too_many_requests.json", status=429,
            headers={"Retry-After": "0"},
        )  # fmt: skip
    events = venue.cancel(order)
    assert kinds(events) == ["CANCEL_ACK"]
    assert events[0].filled_size == pytest.approx(0.005)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_canceled_2.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_cancel_partial.json")
    later = venue.poll_events()
    assert kinds(later) == ["FILL"] and later[0].size == pytest.approx(0.005)
    assert venue.poll_events() == []  # reported once, and no longer polled


@pytest.mark.parametrize("end", ["states_no_size", "states_0.005"])
def test_an_ended_order_whose_trades_cannot_be_asked_for_is_polled_no_longer_than_the_wait(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock, end: str
) -> None:
    """The order cannot be asked about after its end. An end that stated no filled size is
    given up on after the grace; one that stated 0.005 executed (445 USDT) has that fill
    booked from it after ``missing_trades_wait_s``, not lost."""
    venue, order = _resting_order_canceled_part_filled(make_venue, exchange)
    exchange.script("GET", "/api/v3/myTrades", payload=[])
    if end == "states_no_size":
        answer = {"id": "28457300", "symbol": "BTC/USDT", "status": "canceled", "amount": None}
        answer["filled"] = None
        venue._exchange.cancel_order = lambda *args: dict(answer)
    assert kinds(venue.cancel(order)) == ["CANCEL_ACK"]
    exchange.script(
        "GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400, repeat=True
    )
    asked, events = [], []
    for _ in range(5):
        clock.advance(20.0)  # the grace is 30 s, the wait 60 s
        events.append(venue.poll_events())
        asked.append(len(exchange.calls("GET", "/api/v3/order")))
    if end == "states_no_size":
        # Asked at 20 s and at 40 s (past the grace: given up), then no more.
        assert events == [[]] * 5
        assert asked[0] < asked[1] == asked[4]
    else:
        # Asked at 20, 40 and 60 s, when the fill is booked from the cancel's answer; then no more.
        assert events[:2] == [[], []] and events[3:] == [[], []]
        [fill] = events[2]
        assert (fill.kind, fill.size, fill.filled_size) == (KernelEventKind.FILL, 0.005, 0.005)
        assert fill.price == pytest.approx(89000.0) and fill.fill_id == "BTCUSDT:order:28457300"
        assert asked[0] < asked[1] < asked[2] == asked[4]


def test_an_ended_order_answered_later_without_a_filled_size_still_has_its_owed_fill_booked(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """The cancel's answer states 0.005 executed, the trade list not showing it; the exchange's
    later answers about the order give no filled size. Such an answer says nothing new, yet it
    had the order given up on at ``unknown_order_grace_s``, and the 0.005 the kernel was told it
    is owed was never booked. It is booked from the answer that stated it, after the wait."""
    venue, order = _resting_order_canceled_part_filled(make_venue, exchange)
    exchange.script("GET", "/api/v3/myTrades", payload=[], repeat=True)
    [end] = venue.cancel(order)
    assert (end.kind, end.filled_size) == (KernelEventKind.CANCEL_ACK, pytest.approx(0.005))
    unstated = {"id": "28457300", "symbol": "BTC/USDT", "status": "canceled", "amount": 0.02, "filled": None}
    venue._exchange.fetch_order = lambda *args: dict(unstated)
    events = _polled_every_20s(venue, clock)
    assert events[:2] == [[], []] and events[3] == []
    [fill] = events[2]
    assert (fill.kind, fill.size, fill.filled_size) == (KernelEventKind.FILL, 0.005, 0.005)
    assert fill.status == VenueOrderStatus.PARTIALLY_FILLED and fill.remaining_size == pytest.approx(0.015)
    assert fill.price == pytest.approx(89000.0) and fill.fill_id == "BTCUSDT:order:28457300"
    assert not venue.following()


def _polled_every_20s(venue: CcxtVenue, clock: ManualClock) -> list[list[VenueEvent]]:
    """What four polls 20 s apart answer: past the grace (30 s) at the second, past the wait
    for missing trades (60 s) at the third."""
    events = []
    for _ in range(4):
        clock.advance(20.0)
        events.append(venue.poll_events())
    return events


def test_cancel_of_an_order_filled_meanwhile_reports_the_fills_and_no_cancel_reject(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """The fills end the order; a CANCEL_REJECT after them would be refused by the kernel."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    order = make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02)
    venue.submit(order)
    exchange.script("DELETE", "/api/v3/order", "binance/error_unknown_order_sent.json", status=400)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_filled.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    events = venue.cancel(order)

    assert kinds(events) == ["FILL", "FILL"]
    assert events[-1].status == VenueOrderStatus.FILLED
    assert sum(e.size for e in events if e.kind == KernelEventKind.FILL) == pytest.approx(0.02)
    # Looked up by the client order id it was sent with.
    assert exchange.calls("GET", "/api/v3/order")[0].params["origClientOrderId"] == "s2-entry-1"


@pytest.mark.parametrize("trade_list", ["listed", "lagging"])
def test_an_order_the_exchange_closes_part_filled_ends_with_what_it_filled(
    make_venue: VenueFactory, exchange: RecordedExchange, trade_list: str
) -> None:
    """An order ccxt calls closed short of its size ended part filled: its rest never fills.
    Taken as filled, it was polled for ever and the kernel's order worked on."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    exchange.script("GET", "/api/v3/order", payload=closed_part_filled(exchange))
    if trade_list == "listed":
        exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    else:
        exchange.script("GET", "/api/v3/myTrades", payload=[])
    events = venue.poll_events()
    assert kinds(events) == (["FILL", "EXPIRED"] if trade_list == "listed" else ["EXPIRED"])
    end = events[-1]
    assert end.status == VenueOrderStatus.EXPIRED and end.filled_size == pytest.approx(0.008)
    assert "closed the order with 0.008 of 0.02 filled" in end.reason
    # A fill short of the order's size never says FILLED: the kernel would end the order on it.
    fills = [e for e in events if e.kind == KernelEventKind.FILL]
    assert all(f.status == VenueOrderStatus.PARTIALLY_FILLED and f.remaining_size > 0 for f in fills)
    if trade_list == "lagging":
        # The end told the kernel a fill is owed; the order is asked about until its trade shows.
        exchange.script("GET", "/api/v3/order", payload=closed_part_filled(exchange))
        exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
        [fill] = venue.poll_events()
        assert (fill.kind.name, fill.fill_id, fill.size) == ("FILL", "BTCUSDT:4101", pytest.approx(0.008))
        assert fill.status == VenueOrderStatus.PARTIALLY_FILLED and fill.remaining_size > 0
    asked_before = len(exchange.calls("GET", "/api/v3/order"))
    assert venue.poll_events() == []  # over: no longer polled
    assert len(exchange.calls("GET", "/api/v3/order")) == asked_before


def test_an_order_reported_rejected_after_it_filled_part_keeps_its_fills(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """A rejection that comes with an executed size (an order the exchange dropped after part
    of it traded) is an end like an expiry: reported as a bare REJECT, its fills were lost."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    rejected = closed_part_filled(exchange)
    rejected["status"] = "REJECTED"
    exchange.script("GET", "/api/v3/order", payload=rejected)
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    events = venue.poll_events()
    assert kinds(events) == ["FILL", "EXPIRED"]
    assert events[0].size == pytest.approx(0.008)
    end = events[-1]
    assert end.status == VenueOrderStatus.EXPIRED and end.filled_size == pytest.approx(0.008)
    assert "rejected the order after 0.008 of 0.02 filled" in end.reason
    assert venue.poll_events() == []  # over
    # Looked up after a restart, it is the same end, with what it filled.
    exchange.script("GET", "/api/v3/order", payload=rejected)
    found = venue.order_status("s2-entry-1")
    assert found is not None and found.status == VenueOrderStatus.EXPIRED
    assert found.filled_size == pytest.approx(0.008)


def test_a_rejection_after_a_fill_that_states_no_size_does_not_say_zero_filled(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    assert kinds(venue.poll_events()) == ["FILL"]  # acked by the submit
    answer = {"id": "28457200", "symbol": "BTC/USDT", "status": "rejected", "amount": 0.02, "filled": None}
    venue._exchange.fetch_order = lambda *args: dict(answer)
    [end] = venue.poll_events()
    assert end.kind == KernelEventKind.EXPIRED and end.filled_size == 0.0  # 0: cannot say
    assert end.reason.endswith(" rejected the order after part of it filled"), end.reason


def test_the_venue_says_whether_it_still_asks_about_an_order(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """An order ended without a filled size is asked about until the exchange says, or the
    grace passes; the kernel has no order working then, and a runtime that polled only while
    one worked never heard the fill that raced the end (``following``)."""
    venue = make_venue()
    assert not venue.following()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    assert venue.following()
    answer = {"id": "28457200", "symbol": "BTC/USDT", "status": "canceled", "amount": 0.02, "filled": None}
    venue._exchange.fetch_order = lambda *args: dict(answer)
    [end] = venue.poll_events()
    assert end.filled_size == 0.0 and venue.following()  # ended, "cannot say": asked about on
    clock.advance(venue.settings.unknown_order_grace_s + 1.0)
    assert venue.poll_events() == [] and not venue.following()  # given up on after the grace


def test_orders_ended_in_their_submit_or_cancel_answer_are_not_kept(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """An order over in its submit's or cancel's answer (a market order filled at once) was
    kept until a poll dropped it, and a runtime polls only while orders work (or the venue
    says it follows one): a strategy trading market orders piled up a record per order for
    as long as it ran."""
    venue = make_venue()
    for n in range(3):
        exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
        assert kinds(venue.submit(make_order(f"s1-entry-{n}", size=0.015))) == ["ORDER_ACK", "FILL", "FILL"]
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new_2.json")
    resting = make_order("s3-entry-1", order_type="LIMIT", price=89000.0, size=0.02)
    venue.submit(resting)
    exchange.script("DELETE", "/api/v3/order", "binance/spot_cancel_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_cancel_partial.json")
    assert kinds(venue.cancel(resting)) == ["FILL", "CANCEL_ACK"]
    assert not venue.following() and venue._orders.tracked == {}


def test_an_order_closed_without_a_filled_size_is_not_ended_short(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Nothing says how much it filled (ccxt takes such an order as full when it knows the
    amount): ended with 0, its fills arriving later would be refused as beyond the end's figure."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    answer = {"id": "28457200", "symbol": "BTC/USDT", "status": "closed", "amount": None, "filled": None}
    venue._exchange.fetch_order = lambda *args: dict(answer)
    exchange.script("GET", "/api/v3/myTrades", payload=[], repeat=True)  # its trades not shown yet
    assert venue.poll_events() == []
    assert venue.poll_events() == [] and "s2-entry-1" in venue._orders.tracked  # still asked about


def test_the_trades_of_an_order_closed_without_a_filled_size_are_asked_for(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Asked about until its trades show, but its trades were asked for only when the answer
    counted more filled than reported: a closed answer stating no size counts 0, so the trade
    list was never read, the fill never reported and the order asked about for ever."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    answer = {"id": "28457200", "symbol": "BTC/USDT", "status": "closed", "amount": None, "filled": None}
    venue._exchange.fetch_order = lambda *args: dict(answer)
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    fills = venue.poll_events()
    assert [(f.fill_id, f.status) for f in fills] == [
        ("BTCUSDT:4101", VenueOrderStatus.PARTIALLY_FILLED),
        ("BTCUSDT:4102", VenueOrderStatus.FILLED),
    ]
    assert venue.poll_events() == [] and not venue.following()  # filled: asked about no more


def test_a_cancel_the_exchange_does_not_find_while_the_order_works_is_refused(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """A submit timed out; the cancel sent after it reaches the exchange before the order does
    ("Unknown order sent"), and the lookup then finds the order resting. The cancel did not
    happen: the answer said only ACK, so the kernel waited on a cancel that never came while
    the order could fill, and a later end by the exchange read as that cancel's."""
    venue = make_venue(resolve_attempts=1)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    order = make_order("s7-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5)
    with pytest.raises(VenueTimeout):
        venue.submit(order)
    exchange.script("DELETE", "/api/v3/order", "binance/error_unknown_order_sent.json", status=400)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_timeout_new.json")
    events = venue.cancel(order)
    assert kinds(events) == ["ORDER_ACK", "CANCEL_REJECT"]
    refused = events[1]
    assert refused.venue_order_id == "ETHUSDT:19330002"
    assert refused.status == VenueOrderStatus.ACKNOWLEDGED
    assert "still works" in refused.reason and "Unknown order sent" in refused.reason
    assert venue.unresolved_orders() == []

    # The exchange ends it later on its own (canceled, nothing filled): an expiry, not a cancel ack.
    clock.advance(1.0)
    ended = exchange.fixture("binance/spot_query_timeout_new.json")
    ended["status"] = "CANCELED"
    exchange.script("GET", "/api/v3/order", payload=ended)
    (end,) = venue.poll_events()
    assert end.kind == KernelEventKind.EXPIRED and end.status == VenueOrderStatus.EXPIRED


def test_a_cancel_that_finds_the_order_closed_part_filled_ends_it_without_saying_filled(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    order = make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02)
    venue.submit(order)
    exchange.script("DELETE", "/api/v3/order", "binance/error_unknown_order_sent.json", status=400)
    exchange.script("GET", "/api/v3/order", payload=closed_part_filled(exchange))
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    events = venue.cancel(order)
    assert kinds(events) == ["FILL", "CANCEL_ACK"]
    assert events[-1].status == VenueOrderStatus.CANCELED
    assert events[-1].filled_size == pytest.approx(0.008)
    assert venue.poll_events() == []


def test_exchange_refusal_is_a_reject_naming_the_reason(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/error_insufficient_balance.json", status=400)
    events = venue.submit(make_order("s8-entry-1", size=0.5, reference_price=91000.0))
    assert kinds(events) == ["REJECT"]
    assert events[0].status == VenueOrderStatus.REJECTED
    assert "insufficient balance" in events[0].reason


def test_size_off_the_lot_step_is_refused_before_sending(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    events = venue.submit(make_order("s9-entry-1", size=0.000015, reference_price=91000.0))
    assert kinds(events) == ["REJECT"]
    assert "0.000015" in events[0].reason.replace("1.5e-05", "0.000015")
    assert "lot step" in events[0].reason
    limit = make_order("s9-entry-2", order_type="LIMIT", price=90000.005, size=0.001)
    events = venue.submit(limit)
    assert kinds(events) == ["REJECT"] and "tick size" in events[0].reason
    assert exchange.calls("POST", "/api/v3/order") == []


def test_a_size_off_the_lot_step_by_more_than_float_error_is_refused_before_sending(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """On a lot of 1, 1000.0000009 (within 1e-9 of 1000) would go out as 1000: the exchange
    would fill 1000, and its trades, summed within float error, would read as a fill short of
    the order's size. Float error alone (0.1 + 0.2 style) goes out on the lot."""
    info = exchange.fixture("binance/spot_exchange_info.json")
    for rule in info["symbols"][0]["filters"]:
        if rule["filterType"] == "LOT_SIZE":
            rule.update(minQty="1.00000000", maxQty="90000000000.00000000", stepSize="1.00000000")
    exchange.script("GET", "/api/v3/exchangeInfo", payload=info)  # answered before the fixture's
    venue = make_venue()
    events = venue.submit(make_order("s9-entry-1", order_type="LIMIT", price=1.0, size=1000.0000009))
    assert kinds(events) == ["REJECT"] and "lot step" in events[0].reason, events
    assert exchange.calls("POST", "/api/v3/order") == []
    placed = exchange.fixture("binance/spot_order_limit_new.json")
    placed.update(origQty="1000.00000000")
    exchange.script("POST", "/api/v3/order", payload=placed)
    noise = 1000.0 + 1000.0 * 2**-52
    events = venue.submit(make_order("s9-entry-2", order_type="LIMIT", price=1.0, size=noise))
    assert kinds(events) == ["ORDER_ACK"], events


@pytest.mark.parametrize("rule", ["amount", "price"])
def test_a_market_that_states_no_precision_refuses_the_order_before_sending(
    make_venue: VenueFactory, exchange: RecordedExchange, rule: str
) -> None:
    """ccxt asserts a market's precision is stated before rounding to it: the AssertionError
    went out of submit, and the kernel kept an order that never left in flight, one the
    adapter had no record of, so no poll ever ended it."""
    venue = make_venue()
    venue._exchange.markets["BTC/USDT"]["precision"][rule] = None
    order = make_order("s9-entry-3", order_type="LIMIT", price=90000.0, size=0.001)
    [refused] = venue.submit(order)
    assert (refused.kind, refused.status) == (KernelEventKind.REJECT, VenueOrderStatus.REJECTED)
    label = "size 0.001" if rule == "amount" else "price 90000.0"
    assert refused.reason.startswith(f"{label} refused for BTC/USDT: AssertionError")
    assert exchange.calls("POST", "/api/v3/order") == []
    assert venue.unresolved_orders() == []


def test_unknown_asset_is_refused_before_sending(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    events = venue.submit(make_order("s10-entry-1", asset="NOPEUSDT", size=1.0))
    assert kinds(events) == ["REJECT"]
    assert "NOPEUSDT" in events[0].reason
    assert exchange.calls("POST", "/api/v3/order") == []


def test_ccxt_symbols_are_accepted_as_assets(make_venue: VenueFactory, exchange: RecordedExchange) -> None:
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    events = venue.submit(make_order("s1-entry-1", asset="BTC/USDT", size=0.015))
    assert kinds(events) == ["ORDER_ACK", "FILL", "FILL"]
    assert events[0].asset == "BTC/USDT"


# -- throttling ----------------------------------------------------------------------------


def test_429_with_retry_after_becomes_rate_limited_and_the_adapter_waits(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    venue = make_venue()
    exchange.script(
        "POST",
        "/api/v3/order",
        "binance/error_too_many_requests.json",
        status=429,
        headers={"Retry-After": "7"},
    )
    order = make_order("s1-entry-1", size=0.015, reference_price=91000.0)
    events = venue.submit(order)
    assert kinds(events) == ["RATE_LIMITED"]
    assert events[0].retry_after == pytest.approx(7.0)

    # Within the window the adapter answers itself and sends nothing.
    clock.advance(5.0)
    events = venue.submit(order)
    assert kinds(events) == ["RATE_LIMITED"]
    assert events[0].retry_after == pytest.approx(2.0)
    assert len(exchange.calls("POST", "/api/v3/order")) == 1
    assert venue.poll_events() == []

    # After it, the same order goes out.
    clock.advance(2.0)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    assert kinds(venue.submit(order)) == ["ORDER_ACK", "FILL", "FILL"]
    assert len(exchange.calls("POST", "/api/v3/order")) == 2


@pytest.mark.parametrize(
    ("header", "waited"),
    [
        ("inf", 600.0),  # would have stopped the adapter for good
        ("1e9", 600.0),
        ("nan", 3.0),  # neither seconds nor a date: the default
        ("soon", 3.0),
        ("-5", 0.0),
        # An HTTP date 90 s after the clock (ManualClock starts at 2025-11-20 23:00:00 UTC).
        ("Thu, 20 Nov 2025 23:01:30 GMT", 90.0),
        # A year past any date's: its OverflowError was raised out of the submit.
        ("Thu, 20 Nov 99999999999999999999 23:01:30 GMT", 3.0),
    ],
)
def test_a_retry_after_that_is_a_date_or_out_of_bounds_is_followed_within_bounds(
    make_venue: VenueFactory, exchange: RecordedExchange, header: str, waited: float
) -> None:
    venue = make_venue(default_retry_after_s=3.0)
    exchange.script(
        "POST",
        "/api/v3/order",
        "binance/error_too_many_requests.json",
        status=429,
        headers={"Retry-After": header},
    )
    events = venue.submit(make_order("s1-entry-1", size=0.015))
    assert kinds(events) == ["RATE_LIMITED"]
    assert events[0].retry_after == pytest.approx(waited)


def test_429_without_retry_after_waits_the_default(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue(default_retry_after_s=3.0)
    exchange.script("POST", "/api/v3/order", "binance/error_too_many_requests.json", status=429)
    events = venue.submit(make_order("s1-entry-1", size=0.015))
    assert kinds(events) == ["RATE_LIMITED"]
    assert events[0].retry_after == pytest.approx(3.0)


def test_throttled_cancel_is_a_cancel_reject_with_the_retry_time(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Not RATE_LIMITED: for the kernel that ends the order, which still works at the exchange."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    order = make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02)
    venue.submit(order)
    exchange.script(
        "DELETE",
        "/api/v3/order",
        "binance/error_too_many_requests.json",
        status=429,
        headers={"Retry-After": "2"},
    )
    events = venue.cancel(order)
    assert kinds(events) == ["CANCEL_REJECT"]
    assert events[0].retry_after == pytest.approx(2.0)
    assert "still works" in events[0].reason


# -- timeouts ------------------------------------------------------------------------------


def resting(exchange: RecordedExchange, order_id: int, client_id: str, fixture: str) -> dict:
    """The exchange's answer of ``fixture`` (a resting limit buy's) about order ``order_id``."""
    answer: dict = exchange.fixture(fixture)
    answer.update(orderId=order_id, clientOrderId=client_id)
    return answer


def test_a_poll_cut_short_by_a_throttle_is_followed_by_one_starting_where_it_stopped(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Each poll started from the first order: while the exchange let one status request a poll
    through, the first order was asked about every time and the others never."""
    venue = make_venue()
    ids = {9001: "rr-1", 9002: "rr-2", 9003: "rr-3"}
    throttled = {"status": 429, "headers": {"Retry-After": "1"}}
    for order_id, client_id in ids.items():
        placed = resting(exchange, order_id, client_id, "binance/spot_order_limit_new.json")
        exchange.script("POST", "/api/v3/order", payload=placed)
        venue.submit(make_order(client_id, order_type="LIMIT", price=90000.0, size=0.02))
    asked: list[str] = []
    # Each poll: one status answered (still resting), then 429.
    for first in (9001, 9002, 9003, 9001):
        before = len(exchange.calls("GET", "/api/v3/order"))
        query = resting(exchange, first, ids[first], "binance/spot_query_limit_new_2.json")
        exchange.script("GET", "/api/v3/order", payload=query)
        exchange.script("GET", "/api/v3/order", "binance/error_too_many_requests.json", **throttled)
        assert venue.poll_events() == []
        calls = exchange.calls("GET", "/api/v3/order")[before:]
        assert len(calls) == 2  # the throttle stopped the poll
        asked += [c.params["orderId"] for c in calls]
        clock.advance(1.0)
    assert asked == ["9001", "9002", "9002", "9003", "9003", "9001", "9001", "9002"]
    # Throttled at its start (a submit's 429), a poll asks nothing and keeps its place.
    exchange.script("POST", "/api/v3/order", "binance/error_too_many_requests.json", **throttled)
    venue.submit(make_order("rr-4", order_type="LIMIT", price=90000.0, size=0.02))
    before = len(exchange.calls("GET", "/api/v3/order"))
    assert venue.poll_events() == []
    assert len(exchange.calls("GET", "/api/v3/order")) == before
    clock.advance(1.0)
    # Unthrottled, the next poll goes round from there: each order asked about once.
    for order_id in (9002, 9003, 9001):
        query = resting(exchange, order_id, ids[order_id], "binance/spot_query_limit_new_2.json")
        exchange.script("GET", "/api/v3/order", payload=query)
    assert venue.poll_events() == []
    assert [c.params["orderId"] for c in exchange.calls("GET", "/api/v3/order")[before:]] == [
        "9002", "9003", "9001"
    ]  # fmt: skip


def test_a_poll_stops_at_a_network_error_and_the_next_starts_after_that_order(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """The exchange out of reach: each order's question waited out its own timeout, holding the
    venue, and a stop, for as many timeouts as orders working."""
    venue = make_venue()
    ids = {9001: "nr-1", 9002: "nr-2", 9003: "nr-3"}
    for order_id, client_id in ids.items():
        placed = resting(exchange, order_id, client_id, "binance/spot_order_limit_new.json")
        exchange.script("POST", "/api/v3/order", payload=placed)
        venue.submit(make_order(client_id, order_type="LIMIT", price=90000.0, size=0.02))
    exchange.script("GET", "/api/v3/order", payload=resting(exchange, 9001, "nr-1",
                    "binance/spot_query_limit_new_2.json"), delay=HOLD)  # fmt: skip
    assert venue.poll_events() == []
    assert [c.params["orderId"] for c in exchange.calls("GET", "/api/v3/order")] == ["9001"]
    for order_id in (9002, 9003, 9001):
        query = resting(exchange, order_id, ids[order_id], "binance/spot_query_limit_new_2.json")
        exchange.script("GET", "/api/v3/order", payload=query)
    assert venue.poll_events() == []
    assert [c.params["orderId"] for c in exchange.calls("GET", "/api/v3/order")][1:] == [
        "9002", "9003", "9001"
    ]  # fmt: skip


def test_timed_out_submit_is_resolved_by_client_order_id(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    # The exchange takes the order but its answer never arrives before the client's timeout.
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json", delay=HOLD)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_timeout_found.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_timeout_found.json")
    order = make_order("s6-entry-1", asset="ETHUSDT", size=0.5, reference_price=3030.0)
    events = venue.submit(order)

    assert kinds(events) == ["ORDER_ACK", "FILL"]
    assert events[1].fill_id == "ETHUSDT:7301"
    assert events[1].status == VenueOrderStatus.FILLED
    # Sent once, never re-sent; then looked up by its client order id.
    assert len(exchange.calls("POST", "/api/v3/order")) == 1
    assert exchange.calls("GET", "/api/v3/order")[0].params["origClientOrderId"] == "s6-entry-1"
    assert venue.unresolved_orders() == []


def test_watch_follows_an_order_never_seen_acknowledged_as_a_timed_out_submit(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """An order the kernel sent before a restart and never saw acknowledged (reconciliation
    could not ask about it) is asked for by client id: found, its ack and fills come; an
    exchange that says "no such order" for the whole grace period ends it."""
    venue = make_venue()
    found = make_order("s6-entry-1", asset="ETHUSDT", size=0.5, reference_price=3030.0)
    venue.watch(found)
    venue.watch(found)  # followed already: left as it is
    assert venue.unresolved_orders() == ["s6-entry-1"]
    exchange.script("GET", "/api/v3/order", "binance/spot_query_timeout_found.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_timeout_found.json")
    assert kinds(venue.poll_events()) == ["ORDER_ACK", "FILL"]
    assert venue.unresolved_orders() == [] and venue.poll_events() == []

    # Sent just before the restart: the grace runs from its send (``created_at``).
    lost = make_order(
        "s7-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5, timestamp=clock()
    )
    venue.watch(lost)
    exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    assert venue.poll_events() == []
    clock.advance(venue.settings.unknown_order_grace_s)
    exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    (end,) = venue.poll_events()
    assert end.kind == KernelEventKind.REJECT and "never reached the exchange" in end.reason


def test_a_cancel_after_a_restart_of_an_order_never_seen_acknowledged_follows_it_as_watch_does(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """The kernel cancels, before any reconciliation, an order it sent before a restart and
    never saw acknowledged (its submit timed out): one that never reached the exchange. Taken
    over as acknowledged, it was polled by client id for ever, each poll a "no such order"
    and a warning, and never ended; ``watch`` ends such an order after the grace period."""
    venue = make_venue()
    lost = make_order(
        "s7-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5, timestamp=clock()
    )
    exchange.script("DELETE", "/api/v3/order", "binance/error_unknown_order_sent.json", status=400)
    exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    (refused,) = venue.cancel(lost)
    assert refused.kind == KernelEventKind.CANCEL_REJECT
    venue.watch(lost)  # reconciliation: followed already, left as it is
    assert venue.unresolved_orders() == ["s7-entry-1"]
    exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    assert venue.poll_events() == []
    clock.advance(venue.settings.unknown_order_grace_s)
    exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    (end,) = venue.poll_events()
    assert end.kind == KernelEventKind.REJECT and "never reached the exchange" in end.reason
    asked = len(exchange.calls("GET", "/api/v3/order"))
    assert venue.poll_events() == [] and len(exchange.calls("GET", "/api/v3/order")) == asked


def test_watch_refuses_an_order_it_cannot_follow(make_venue: VenueFactory) -> None:
    venue = make_venue()
    with pytest.raises(ValueError, match="unknown asset 'NOPEUSDT'"):
        venue.watch(make_order("x-1", asset="NOPEUSDT"))
    with pytest.raises(ValueError, match="without a client order id"):
        venue.watch(make_order("", asset="BTCUSDT"))
    assert venue.unresolved_orders() == [] and venue.poll_events() == []


def test_timed_out_submit_still_unknown_raises_venue_timeout_then_poll_finds_it(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    venue = make_venue(resolve_attempts=2)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    for _ in range(2):
        exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    order = make_order("s7-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5)
    with pytest.raises(VenueTimeout) as raised:
        venue.submit(order)
    assert raised.value.client_order_id == "s7-entry-1"
    assert venue.unresolved_orders() == ["s7-entry-1"]
    assert len(exchange.calls("GET", "/api/v3/order")) == 2
    assert len(exchange.calls("POST", "/api/v3/order")) == 1

    # Later the exchange knows it: the order is reported, not assumed rejected.
    clock.advance(1.0)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_timeout_new.json")
    events = venue.poll_events()
    assert kinds(events) == ["ORDER_ACK"]
    assert events[0].venue_order_id == "ETHUSDT:19330002"
    assert venue.unresolved_orders() == []


def test_order_the_exchange_never_got_is_rejected_only_after_the_grace_period(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    venue = make_venue(resolve_attempts=1, unknown_order_grace_s=30.0)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    exchange.script(
        "GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400, repeat=True
    )
    order = make_order("s7-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5)
    with pytest.raises(VenueTimeout):
        venue.submit(order)
    clock.advance(29.0)
    assert venue.poll_events() == []
    clock.advance(2.0)
    events = venue.poll_events()
    assert kinds(events) == ["REJECT"]
    assert "s7-entry-1" in events[0].reason and "never reached" in events[0].reason
    assert venue.unresolved_orders() == []
    assert venue.poll_events() == []


def test_a_timed_out_submit_the_exchange_cannot_be_asked_about_is_not_taken_as_never_sent(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Only the exchange saying "no such order" ends a timed-out submit: while it cannot be
    asked (a backend error), the order may be working there, so nothing is reported."""
    venue = make_venue(resolve_attempts=1, unknown_order_grace_s=30.0)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    exchange.script("GET", "/api/v3/order", "binance/error_backend_timeout.json", status=503, repeat=True)
    order = make_order("s7-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5)
    with pytest.raises(VenueTimeout):
        venue.submit(order)
    clock.advance(31.0)
    assert venue.poll_events() == []
    assert venue.unresolved_orders() == ["s7-entry-1"]


def test_an_unreachable_exchange_never_counts_as_no_such_order_for_a_timed_out_submit(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Only "no such order" answers run the grace: a lookup that got no answer says nothing,
    and rejecting an order that may be working at the exchange would lose its fills."""
    venue = make_venue(resolve_attempts=1, unknown_order_grace_s=30.0)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    exchange.script("GET", "/api/v3/order", "binance/error_backend_timeout.json", status=503)
    order = make_order("s7-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5)
    with pytest.raises(VenueTimeout):
        venue.submit(order)
    clock.advance(31.0)  # unreachable for the whole grace, and still
    exchange.script("GET", "/api/v3/order", "binance/error_backend_timeout.json", status=503)
    assert venue.poll_events() == []
    clock.advance(10.0)  # the first "no such order": the grace starts here
    not_found(exchange, 1)
    assert venue.poll_events() == []
    clock.advance(29.0)
    not_found(exchange, 1)
    assert venue.poll_events() == []
    assert venue.unresolved_orders() == ["s7-entry-1"]
    clock.advance(2.0)
    not_found(exchange, 1)
    events = venue.poll_events()
    assert kinds(events) == ["REJECT"] and "for 31.0s" in events[0].reason
    assert venue.unresolved_orders() == []
    assert len(exchange.calls("GET", "/api/v3/order")) == 5


# -- order status (reconciliation) ---------------------------------------------------------


def not_found(exchange: RecordedExchange, times: int) -> None:
    for _ in range(times):
        exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)


def asked(exchange: RecordedExchange) -> list[tuple[str, str]]:
    return [
        (c.params["symbol"], c.params["origClientOrderId"]) for c in exchange.calls("GET", "/api/v3/order")
    ]


def test_order_status_after_a_restart_searches_the_markets_under_the_exchange_client_id(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """A fresh adapter has no record of the order, so it does not know its market: it asks
    each market it serves for the id the order was sent under, until one has it."""
    venue = make_venue()
    long_id = "strategy-alpha/slot-3/trade-000123/entry-leg-0"
    sent_as = CcxtVenue.venue_client_id(long_id)
    filled = exchange.fixture("binance/spot_query_limit_filled.json")
    filled.update(symbol="ETHUSDT", clientOrderId=sent_as, price="3000.00", cummulativeQuoteQty="60.00")
    not_found(exchange, 2)
    exchange.script("GET", "/api/v3/order", payload=filled)

    found = venue.order_status(long_id)
    assert asked(exchange) == [("BTCUSDT", sent_as), ("DOGEUSDT", sent_as), ("ETHUSDT", sent_as)]
    assert found is not None
    assert (found.client_order_id, found.asset, found.status) == (long_id, "ETHUSDT", VenueOrderStatus.FILLED)
    assert (found.filled_size, found.avg_fill_price) == (pytest.approx(0.02), pytest.approx(3000.0))
    assert found.venue_order_id == "ETHUSDT:28457200"


def test_order_status_is_none_only_when_every_market_says_no_such_order(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    not_found(exchange, 3)
    assert venue.order_status("k-9") is None
    assert [symbol for symbol, _ in asked(exchange)] == ["BTCUSDT", "DOGEUSDT", "ETHUSDT"]


# An exit may go out plain (its venue nets the slots): the answer keeps the leg of the order
# as sent, rather than reading it as an entry for not being reduce-only.
@pytest.mark.parametrize("is_entry", [True, False])
def test_order_status_of_an_order_sent_in_this_process_asks_its_market_only(
    make_venue: VenueFactory, exchange: RecordedExchange, is_entry: bool
) -> None:
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new_2.json")
    venue.submit(
        make_order("s3-entry-1", order_type="LIMIT", price=89000.0, size=0.02, slot_id=2, is_entry=is_entry)
    )
    exchange.script("GET", "/api/v3/order", "binance/spot_query_canceled_2.json")

    found = venue.order_status("s3-entry-1")
    assert asked(exchange) == [("BTCUSDT", "s3-entry-1")]
    assert found is not None and (found.slot_id, found.trade_id, found.is_entry) == (2, "t-1", is_entry)
    assert found.status == VenueOrderStatus.CANCELED
    assert (found.filled_size, found.avg_fill_price) == (pytest.approx(0.005), pytest.approx(89000.0))


@pytest.mark.parametrize("asset", ["ETHUSDT", "ETH/USDT"])
def test_order_status_after_a_restart_given_the_orders_asset_asks_that_market_only(
    make_venue: VenueFactory, exchange: RecordedExchange, asset: str
) -> None:
    """Reconciliation gives the kernel's asset of the order: a fresh adapter asks that one market
    (each market it serves was asked, thousands on Binance without the markets setting, which
    ended in a ban from the exchange), and an order not there is None: it was sent there only."""
    venue = make_venue()
    long_id = "strategy-alpha/slot-3/trade-000123/entry-leg-0"
    sent_as = CcxtVenue.venue_client_id(long_id)
    filled = exchange.fixture("binance/spot_query_limit_filled.json")
    filled.update(symbol="ETHUSDT", clientOrderId=sent_as, price="3000.00", cummulativeQuoteQty="60.00")
    exchange.script("GET", "/api/v3/order", payload=filled)

    found = venue.order_status(long_id, asset=asset)
    assert asked(exchange) == [("ETHUSDT", sent_as)]
    assert found is not None and (found.asset, found.status) == ("ETHUSDT", VenueOrderStatus.FILLED)
    assert found.venue_order_id == "ETHUSDT:28457200"

    not_found(exchange, 1)
    assert venue.order_status("k-9", asset="DOGEUSDT") is None
    assert asked(exchange)[1:] == [("DOGEUSDT", "k-9")]


def test_order_status_given_an_asset_asks_its_market_whatever_the_markets_setting(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """The markets setting bounds the search of an order whose market is unknown; one whose
    market is given (an order a venue of other settings sent) is asked for there."""
    venue = make_venue(markets=["BTCUSDT"])
    not_found(exchange, 1)
    assert venue.order_status("k-9", "ETHUSDT") is None
    assert asked(exchange) == [("ETHUSDT", "k-9")]


def test_order_status_of_an_asset_with_no_market_here_cannot_say_and_asks_nothing(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """An asset this venue has no market for (delisted, a contract of another size, a venue of
    another market type): where the order is, is unknown. None would end an order that may be
    working; so would searching the other markets, where it is not, after as many requests."""
    venue = make_venue()
    with pytest.raises(VenueUnavailable, match=r"'k-9' not asked: its asset 'XRPUSDT' is no market of"):
        venue.order_status("k-9", asset="XRPUSDT")
    assert asked(exchange) == []


def test_order_status_of_an_order_sent_in_this_process_given_its_asset_asks_its_market_only(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Given another asset than the one it was sent for, the id names another order: the asset's
    market is asked, not the order's."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new_2.json")
    venue.submit(make_order("s3-entry-1", order_type="LIMIT", price=89000.0, size=0.02, slot_id=2))
    exchange.script("GET", "/api/v3/order", "binance/spot_query_canceled_2.json")
    found = venue.order_status("s3-entry-1", asset="BTCUSDT")
    assert found is not None and (found.slot_id, found.status) == (2, VenueOrderStatus.CANCELED)
    not_found(exchange, 1)
    assert venue.order_status("s3-entry-1", asset="ETHUSDT") is None
    assert asked(exchange) == [("BTCUSDT", "s3-entry-1"), ("ETHUSDT", "s3-entry-1")]


@pytest.mark.parametrize("asset", [5, b"BTCUSDT", ["BTCUSDT"], True])
def test_order_status_refuses_an_asset_that_is_no_text_asking_nothing(
    make_venue: VenueFactory, exchange: RecordedExchange, asset: object
) -> None:
    venue = make_venue()
    with pytest.raises(TypeError, match=rf"asset={re.escape(repr(asset))} must be a str"):
        venue.order_status("k-9", asset=asset)  # type: ignore[arg-type]
    assert asked(exchange) == []


def test_order_status_of_an_order_closed_part_filled_is_expired_with_what_it_filled(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Reconciliation books what the venue counts and ends an EXPIRED order; FILLED would
    leave the kernel's order working for a rest that never fills."""
    venue = make_venue()
    exchange.script("GET", "/api/v3/order", payload=closed_part_filled(exchange))
    found = venue.order_status("s2-entry-1")
    assert found is not None
    assert found.status == VenueOrderStatus.EXPIRED
    assert (found.filled_size, found.size) == (pytest.approx(0.008), pytest.approx(0.02))
    assert found.avg_fill_price == pytest.approx(90000.0)


def test_order_status_after_a_restart_searches_only_the_markets_setting(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """On an exchange with thousands of markets, one request per market is throttled long
    before it finds the order: ``markets`` bounds the search, those traded here first."""
    venue = make_venue(markets=["DOGEUSDT", "BTC/USDT"])
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new_2.json")
    venue.submit(make_order("s3-entry-1", order_type="LIMIT", price=89000.0, size=0.02, slot_id=2))
    not_found(exchange, 2)
    assert venue.order_status("k-9") is None
    assert [symbol for symbol, _ in asked(exchange)] == ["BTCUSDT", "DOGEUSDT"]


def test_a_submit_outside_the_markets_setting_is_refused_before_sending(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """order_status would not look for it there after a restart, and its None would end it."""
    venue = make_venue(markets=["BTCUSDT"])
    events = venue.submit(make_order("s1-entry-1", asset="ETHUSDT", size=0.5))
    assert kinds(events) == ["REJECT"]
    assert "'ETHUSDT'" in events[0].reason and "markets" in events[0].reason
    assert exchange.calls("POST", "/api/v3/order") == []


def test_an_unknown_market_in_the_markets_setting_is_refused_at_construction(
    make_venue: VenueFactory,
) -> None:
    with pytest.raises(ValueError, match=r"markets.*'NOPE/USDT'"):
        make_venue(markets=["BTCUSDT", "NOPE/USDT"])


@pytest.mark.parametrize(
    ("status", "fixture", "match"),
    [
        (429, "binance/error_too_many_requests.json", "throttled"),
        (503, "binance/error_backend_timeout.json", "failed"),
    ],
)
def test_order_status_raises_when_a_market_cannot_be_asked_never_none(
    make_venue: VenueFactory, exchange: RecordedExchange, status: int, fixture: str, match: str
) -> None:
    """None would tell reconciliation the order never reached the exchange, and it would end
    an order that may be working there."""
    venue = make_venue()
    not_found(exchange, 1)
    exchange.script("GET", "/api/v3/order", fixture, status=status, headers={"Retry-After": "3"})
    with pytest.raises(VenueUnavailable, match=match) as raised:
        venue.order_status("k-9")
    assert "k-9" in str(raised.value) and API_KEY not in str(raised.value)
    assert isinstance(raised.value, RuntimeError)
    assert len(asked(exchange)) == 2  # the last market is not asked: None could not follow


def test_order_status_sends_nothing_while_the_exchange_is_throttling(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    venue = make_venue()
    exchange.script(
        "GET", "/api/v3/order", "binance/error_too_many_requests.json", status=429,
        headers={"Retry-After": "5"},
    )  # fmt: skip
    with pytest.raises(VenueUnavailable):
        venue.order_status("k-9")
    with pytest.raises(VenueUnavailable, match=r"not sent.*retry in 5\.000s"):
        venue.order_status("k-9")
    assert len(asked(exchange)) == 1


@pytest.mark.parametrize("asset", [None, "ETHUSDT"])
def test_order_status_of_a_submit_in_doubt_is_not_none_before_the_grace_passes(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock, asset: str | None
) -> None:
    """A submit that timed out a moment ago, the exchange not listing it yet (its query lags the
    order book): the adapter gives it ``unknown_order_grace_s`` before calling it never sent, but
    ``order_status`` said None at the first "no such order", and reconciliation (a shutdown
    right after the timeout, say) ended the order as a lost submit; the order then showed, and
    its ack and fills went to a kernel that had freed its slot."""
    venue = make_venue(resolve_attempts=1, unknown_order_grace_s=30.0)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    not_found(exchange, 1)
    order = make_order("s7-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5)
    with pytest.raises(VenueTimeout):
        venue.submit(order)
    clock.advance(5.0)
    not_found(exchange, 1)
    with pytest.raises(VenueUnavailable, match=r"'s7-entry-1'.*no such order for 5\.0s"):
        venue.order_status("s7-entry-1", asset)
    assert asked(exchange) == [("ETHUSDT", "s7-entry-1")] * 2
    exchange.script("GET", "/api/v3/order", "binance/spot_query_timeout_new.json")
    assert kinds(venue.poll_events()) == ["ORDER_ACK"]

    # Once the exchange has said so for the whole grace, the order never reached it: None.
    lost = make_order("s8-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    not_found(exchange, 1)
    with pytest.raises(VenueTimeout):
        venue.submit(lost)
    clock.advance(30.0)
    not_found(exchange, 1)
    assert venue.order_status("s8-entry-1", asset) is None


# -- credentials ---------------------------------------------------------------------------


def test_keys_never_appear_in_repr_events_errors_or_logs(
    make_venue: VenueFactory, exchange: RecordedExchange, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    venue = make_venue(resolve_attempts=1)
    assert "credentials=set" in repr(venue)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json", delay=HOLD)
    exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    exchange.script("POST", "/api/v3/order", "binance/error_insufficient_balance.json", status=400)
    texts = [repr(venue)]
    with pytest.raises(VenueTimeout) as raised:
        venue.submit(make_order("s7-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5))
    texts.append(str(raised.value))
    events = venue.submit(make_order("s8-entry-1", size=0.5))
    texts.extend(str(e.to_dict()) for e in events)
    texts.extend(record.getMessage() for record in caplog.records)
    joined = "\n".join(texts)
    assert caplog.records, "the timeout should have been logged"
    assert API_KEY not in joined and API_SECRET not in joined
    # Request signatures are scrubbed too.
    signatures = [r.params["signature"] for r in exchange.requests if "signature" in r.params]
    leaked = [line for line in joined.splitlines() if any(sig in line for sig in signatures)]
    assert signatures and not leaked, leaked


def test_keys_read_with_a_trailing_newline_work_and_stay_out_of_the_logs(
    exchange: RecordedExchange,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A key kept in a file (a mounted secret) often ends with a newline: sent in a header it
    broke every request, and ccxt's request log showed it escaped ('...\\n'), which the
    scrubbing of the key as read did not match."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("DITA_TEST_NL_KEY", API_KEY + "\n")
    monkeypatch.setenv("DITA_TEST_NL_SECRET", API_SECRET + "\r\n")
    exchange.script("GET", "/api/v3/exchangeInfo", "binance/spot_exchange_info.json", repeat=True)
    exchange.script("GET", "/api/v3/time", payload={"serverTime": int(time.time() * 1000)}, repeat=True)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    venue = CcxtVenue(
        base_url=exchange.url,
        api_key_env="DITA_TEST_NL_KEY",
        secret_env="DITA_TEST_NL_SECRET",
        clock=clock,
        rate_limit_ms=1,
    )
    try:
        events = venue.submit(make_order("s1-entry-1", size=0.015))
    finally:
        venue.close()
    assert kinds(events) == ["ORDER_ACK", "FILL", "FILL"], [e.reason for e in events]
    (sent,) = exchange.calls("POST", "/api/v3/order")
    assert sent.headers["X-MBX-APIKEY"] == API_KEY
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "X-MBX-APIKEY" in logged
    assert API_KEY not in logged and API_SECRET not in logged


def test_a_passphrase_with_a_backslash_stays_out_of_the_logs(
    make_venue: VenueFactory,
    exchange: RecordedExchange,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A passphrase (OKX's) may hold any character; ccxt's request log shows the headers as a
    dict, where a backslash is doubled, past the scrubbing of the value as read."""
    caplog.set_level(logging.DEBUG)
    passphrase = "pass\\phrase-5e1d"
    monkeypatch.setenv("DITA_TEST_PASSPHRASE", passphrase)
    venue = make_venue(password_env="DITA_TEST_PASSPHRASE")
    # Binance sends no passphrase: put it in a header, where OKX's goes.
    venue._exchange.headers = {"OK-ACCESS-PASSPHRASE": venue._exchange.password}
    exchange.script("GET", "/api/v3/account", "binance/spot_account.json")
    venue.balances()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "OK-ACCESS-PASSPHRASE" in logged
    assert "phrase-5e1d" not in logged, logged


def test_missing_keys_refuse_orders_naming_the_variables(
    exchange: RecordedExchange, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DITA_TEST_NO_KEY", raising=False)
    monkeypatch.delenv("DITA_TEST_NO_SECRET", raising=False)
    exchange.script("GET", "/api/v3/exchangeInfo", "binance/spot_exchange_info.json", repeat=True)
    venue = CcxtVenue(
        base_url=exchange.url,
        api_key_env="DITA_TEST_NO_KEY",
        secret_env="DITA_TEST_NO_SECRET",
        clock=clock,
    )
    assert "credentials=missing" in repr(venue)
    events = venue.submit(make_order("s1-entry-1", size=0.015))
    assert kinds(events) == ["REJECT"]
    assert "DITA_TEST_NO_KEY" in events[0].reason and "DITA_TEST_NO_SECRET" in events[0].reason
    assert exchange.calls("POST", "/api/v3/order") == []


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"market_type": "options"}, "market_type"),
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"resolve_attempts": 0}, "resolve_attempts"),
        ({"unknown_order_grace_s": -1}, "unknown_order_grace_s"),
        ({"markets": []}, "markets"),
        ({"api_keys": "x"}, "api_keys"),
        # A flag is not a number: pydantic alone took True as a timeout of one millisecond.
        ({"timeout_ms": True}, "timeout_ms"),
        ({"unknown_order_grace_s": True}, "unknown_order_grace_s"),
        # An empty name was silently replaced by the default one.
        ({"name": ""}, "name"),
        # Its own event ids carry it, and the kernel refuses an id holding a NUL.
        ({"name": "a\x00b"}, r"name\n.*venue name 'a\\x00b' holds a NUL byte"),
        # Not a function: it broke every event the venue made.
        ({"clock": 5}, "clock"),
        ({"sleep": 5}, "sleep"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        CcxtVenue(**settings)


def test_a_sandbox_of_an_exchange_without_a_testnet_is_refused_naming_it() -> None:
    """ccxt has no testnet URL for Kraken's spot API: switching to it was a TypeError about a
    None, naming neither the setting nor the exchange."""
    with pytest.raises(ValueError, match="sandbox=True: ccxt knows no testnet of 'kraken'"):
        CcxtVenue(exchange="kraken", sandbox=True)
    assert "testnet" in CcxtVenue(exchange="binance", sandbox=True)._exchange.urls["api"]["public"]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        # ccxt resends a request that failed on the network: a resent order is a second order.
        ({"maxRetriesOnFailure": 2}, "maxRetriesOnFailure=2"),
        # ccxt would send a spot market buy's size as the cost to spend in quote currency.
        ({"createMarketBuyOrderRequiresPrice": False}, "createMarketBuyOrderRequiresPrice=False"),
        (
            {"createOrder": {"createMarketBuyOrderRequiresPrice": False}},
            "createOrder.createMarketBuyOrderRequiresPrice=False",
        ),
        ({"tgtCcy": "quote_ccy"}, "tgtCcy='quote_ccy'"),
    ],
)
def test_options_that_would_resend_orders_or_size_them_in_quote_are_refused(
    options: dict[str, object], named: str
) -> None:
    with pytest.raises(ValueError, match=r"options[\s\S]*" + re.escape(named)):
        CcxtVenue(options=options)


_BYBIT_SPOT = {
    "id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "baseId": "BTC",
    "quoteId": "USDT", "spot": True, "type": "spot", "active": True, "contract": False,
    "precision": {"amount": 0.000001, "price": 0.01},
    "limits": {"amount": {"min": 0.000048}, "cost": {"min": 1.0}}, "info": {},
}  # fmt: skip


@pytest.mark.parametrize("unified", [False, True])
def test_a_spot_market_buy_is_never_sent_with_its_size_as_a_cost(
    binance_keys: None, clock: ManualClock, unified: bool
) -> None:
    """Bybit's classic accounts take a spot market buy's qty as USDT to spend, and ccxt sends
    the amount as that qty by default there: 0.015 BTC would buy 0.015 USDT of BTC."""
    keys = {"api_key_env": "DITA_TEST_BINANCE_KEY", "secret_env": "DITA_TEST_BINANCE_SECRET"}
    venue = CcxtVenue(exchange="bybit", clock=clock, **keys)
    venue._exchange.set_markets([dict(_BYBIT_SPOT)])
    venue._exchange.is_unified_enabled = lambda params=None: [False, unified]
    sent: list[dict] = []

    def order_create(request: dict, params: dict | None = None) -> dict:
        sent.append(request)
        return {"retCode": 0, "result": {"orderId": "1", "orderLinkId": request.get("orderLinkId")}}

    venue._exchange.privatePostV5OrderCreate = order_create
    events = venue.submit(make_order("s1-entry-1", asset="BTCUSDT", size=0.015, reference_price=91000.0))
    if unified:
        # Unified accounts take the amount in base units when told so, as ccxt does.
        assert kinds(events) == ["ORDER_ACK"]
        assert (sent[0]["qty"], sent[0]["marketUnit"]) == ("0.015", "baseCoin")
    else:
        assert kinds(events) == ["REJECT"] and sent == []
        assert "cost to spend in quote currency" in events[0].reason and "limit order" in events[0].reason


@pytest.mark.parametrize(
    ("exchange", "client_order_id", "same"),
    [
        ("binance", "k1-7", True),
        ("binance", "k1/7.a:b", True),
        ("bybit", "k1-7_a", True),
        ("bybit", "k1/7", False),  # Bybit takes letters, digits, - and _ only
        ("okx", "k17", True),
        ("okx", "k1-7", False),  # OKX takes letters and digits only: every kernel id is hashed
        ("okx", "a" * 33, False),
        ("kraken", "k1-7", True),  # the rest: Binance's rule
        # The same exchange's other entities (ccxt subclasses: OKX's EEA and US sites, Bybit's
        # EU and Indonesia ones) take what it takes.
        ("myokx", "k1-7", False),
        ("okxus", "k1-7", False),
        ("bybiteu", "k1/7", False),
        ("bybitid", "k1/7", False),
        # Gate: "t-" then up to 28 of letters, digits, _ - and . (ccxt counts the "t-" in).
        ("gate", "k1-7", False),
        ("gate", "trend-7", False),  # not "t-": ccxt would send it unprefixed, and Gate refuse it
        ("gate", "t-k1-7", True),
        ("gateeu", "k1-7", False),
    ],
)
def test_client_order_ids_follow_each_exchanges_rule(exchange: str, client_order_id: str, same: bool) -> None:
    okx, bybit = r"[A-Za-z0-9]{1,32}", r"[A-Za-z0-9_-]{1,36}"
    gate = r"t-[A-Za-z0-9_.-]{1,26}"
    rule = {
        "okx": okx, "myokx": okx, "okxus": okx, "bybit": bybit, "bybiteu": bybit, "bybitid": bybit,
        "gate": gate, "gateeu": gate,
    }.get(exchange, r"[.A-Z:/a-z0-9_-]{1,36}")  # fmt: skip
    sent = CcxtVenue.venue_client_id(client_order_id, exchange)
    assert (sent == client_order_id) == same
    assert re.fullmatch(rule, sent), sent
    # Stable, so a restart looks the order up under the same id.
    assert sent == CcxtVenue.venue_client_id(client_order_id, exchange)


@pytest.mark.parametrize("okx", ["okx", "myokx"])
def test_an_okx_order_goes_out_under_an_id_okx_takes(
    binance_keys: None, clock: ManualClock, okx: str
) -> None:
    keys = {"api_key_env": "DITA_TEST_BINANCE_KEY", "secret_env": "DITA_TEST_BINANCE_SECRET"}
    venue = CcxtVenue(exchange=okx, clock=clock, password_env="DITA_TEST_BINANCE_KEY", **keys)
    venue._exchange.set_markets([dict(_BYBIT_SPOT, id="BTC-USDT", baseId="BTC", quoteId="USDT")])
    sent: list[dict] = []

    def place(request: list[dict], params: dict | None = None) -> dict:
        sent.extend(request)  # ccxt 4.5 places one OKX order as a batch of one
        return {"code": "0", "data": [{"ordId": "1", "clOrdId": request[0]["clOrdId"], "sCode": "0"}]}

    venue._exchange.privatePostTradeBatchOrders = place
    order = make_order("s1-entry-1", asset="BTC-USDT", order_type="LIMIT", price=90000.0, size=0.015)
    events = venue.submit(order)
    assert kinds(events) == ["ORDER_ACK"], events
    assert sent[0]["clOrdId"] == CcxtVenue.venue_client_id("s1-entry-1", okx)
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", sent[0]["clOrdId"])


def test_a_gate_order_with_a_long_client_id_goes_out_under_one_gate_takes(
    binance_keys: None, clock: ManualClock
) -> None:
    """Gate takes "t-" and 28 characters at most, and ccxt refuses a longer id before sending:
    a long kernel id, sent as Binance's 36-character hash, was never placed."""
    keys = {"api_key_env": "DITA_TEST_BINANCE_KEY", "secret_env": "DITA_TEST_BINANCE_SECRET"}
    venue = CcxtVenue(exchange="gate", clock=clock, **keys)
    venue._exchange.set_markets([dict(_BYBIT_SPOT, id="BTC_USDT", margin=False)])
    venue._exchange.load_unified_status = lambda params=None: None
    sent: list[dict] = []

    def place(request: dict, params: dict | None = None) -> dict:
        sent.append(request)
        return {"id": "1", "text": request["text"], "status": "open", "currency_pair": "BTC_USDT"}

    venue._exchange.privateSpotPostOrders = place
    long_id = "strategy-alpha/slot-3/trade-000123/entry-leg-0"
    order = make_order(long_id, asset="BTC_USDT", order_type="LIMIT", price=90000.0, size=0.015)
    events = venue.submit(order)
    assert kinds(events) == ["ORDER_ACK"], events
    assert sent[0]["text"] == CcxtVenue.venue_client_id(long_id, "gate")
    assert re.fullmatch(r"t-[A-Za-z0-9_.-]{1,26}", sent[0]["text"])


def test_unknown_exchange_and_bad_base_url_are_refused() -> None:
    with pytest.raises(ValueError, match="'nosuchexchange'"):
        CcxtVenue(exchange="nosuchexchange")
    with pytest.raises(ValueError, match="ftp://x"):
        CcxtVenue(base_url="ftp://x")


# -- account -------------------------------------------------------------------------------


def test_spot_balances_positions_and_open_orders(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue(markets=["BTCUSDT"])
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    venue.submit(make_order("s1-entry-1", size=0.015))
    exchange.script("GET", "/api/v3/account", "binance/spot_account.json", repeat=True)
    assert venue.balances() == {"BTC": 0.035, "USDT": 6270.4975}
    assert venue.positions() == {"BTCUSDT": 0.035}
    exchange.script("GET", "/api/v3/openOrders", "binance/spot_open_orders.json")
    (working,) = venue.open_orders()
    assert working.client_order_id == "s2-entry-1"
    assert working.venue_order_id == "BTCUSDT:28457200"
    assert (working.asset, working.order_side.name, working.order_type.name) == ("BTCUSDT", "BUY", "LIMIT")
    assert (working.price, working.size) == (90000.0, 0.02)


def with_market(exchange: RecordedExchange, base: str, quote: str) -> None:
    """Answer the next markets request with ``<base><quote>`` beside the recorded markets
    (BTCUSDC: a second market whose base currency is BTC, as most spot exchanges have)."""
    info = exchange.fixture("binance/spot_exchange_info.json")
    (btc,) = [s for s in info["symbols"] if s["symbol"] == "BTCUSDT"]
    info["symbols"].append({**btc, "symbol": base + quote, "baseAsset": base, "quoteAsset": quote})
    exchange.script("GET", "/api/v3/exchangeInfo", payload=info)


def test_spot_positions_after_a_restart_report_what_the_account_holds(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """A fresh adapter has traded nothing yet; the BTC the account holds is still the
    BTCUSDT position reconciliation must see, not "none"."""
    venue = make_venue(markets=["BTCUSDT", "ETHUSDT"])
    exchange.script("GET", "/api/v3/account", "binance/spot_account.json")
    assert venue.positions() == {"BTCUSDT": 0.035}


def test_spot_positions_without_the_markets_setting_are_an_error_not_none(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Without ``markets`` the adapter cannot tell which market a balance belongs to; an
    empty answer would tell reconciliation the account is flat."""
    venue = make_venue()
    with pytest.raises(RuntimeError, match="markets"):
        venue.positions()
    assert exchange.calls("GET", "/api/v3/account") == []


@pytest.mark.parametrize(("base", "quote"), [("BTC", "USDC"), ("ETH", "BTC")])
def test_spot_markets_whose_balances_cannot_be_told_apart_are_refused_when_the_venue_is_built(
    make_venue: VenueFactory, exchange: RecordedExchange, base: str, quote: str
) -> None:
    """BTCUSDT and BTCUSDC both hold BTC (one balance, reported as each market's position, would
    count twice); ETHBTC is paid for in BTC (the BTC balance would be read as the BTCUSDT
    position). Each pair is quoted in two currencies, which the kernel's one capital cannot
    count: the venue refuses it before ``positions()`` could be asked."""
    with_market(exchange, base, quote)
    with pytest.raises(ValueError, match=rf"'BTCUSDT' in USDT, '{base}{quote}' in {quote}"):
        make_venue(markets=["BTCUSDT", base + quote])


def without(payload: dict, *fields: str) -> dict:
    return {k: v for k, v in payload.items() if k not in fields}


def test_an_order_this_adapter_sent_keeps_its_side_and_type_whatever_the_answer_leaves_out(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Read from an answer without them, a buy came back as a MARKET SELL."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    (working,) = exchange.fixture("binance/spot_open_orders.json")
    exchange.script("GET", "/api/v3/openOrders", payload=[without(working, "side", "type")])
    exchange.script("GET", "/api/v3/order", payload=without(working, "side", "type"))
    for order in (*venue.open_orders(), venue.order_status("s2-entry-1")):
        assert order is not None and order.client_order_id == "s2-entry-1"
        assert (order.order_side.name, order.order_type.name) == ("BUY", "LIMIT")


@pytest.mark.parametrize("side", [None, "both"])
def test_an_order_of_unknown_side_nobody_here_sent_is_an_error_naming_it(
    make_venue: VenueFactory, exchange: RecordedExchange, side: str | None
) -> None:
    """Not guessed: taken for a sell, a buy nobody manages was reported (and left) as one."""
    venue = make_venue()
    (working,) = exchange.fixture("binance/spot_open_orders.json")
    answer = without(working, "side") if side is None else dict(working, side=side)
    exchange.script("GET", "/api/v3/openOrders", payload=[answer])
    exchange.script("GET", "/api/v3/order", payload=answer)
    expected = rf"28457200.*s2-entry-1.*side={side!r}"
    with pytest.raises(RuntimeError, match=expected):
        venue.open_orders()
    with pytest.raises(RuntimeError, match=expected):
        venue.order_status("s2-entry-1")


def test_usdm_market_order_fills_found_by_polling_and_reduce_only_exit(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue("linear")
    exchange.script("POST", "/fapi/v1/order", "binance/usdm_order_market_new.json")
    entry = make_order("f1-entry-1", size=0.01, reference_price=91000.0)
    assert kinds(venue.submit(entry)) == ["ORDER_ACK"]

    exchange.script("GET", "/fapi/v1/order", "binance/usdm_query_market_filled.json")
    exchange.script("GET", "/fapi/v1/userTrades", "binance/usdm_user_trades_market.json")
    fills = venue.poll_events()
    assert kinds(fills) == ["FILL", "FILL"]
    assert [f.fill_id for f in fills] == ["BTCUSDT:6102330001", "BTCUSDT:6102330002"]
    assert [f.status for f in fills] == [VenueOrderStatus.PARTIALLY_FILLED, VenueOrderStatus.FILLED]
    assert sum(f.size for f in fills) == pytest.approx(0.01)
    assert fills[0].fee == pytest.approx(0.273021)

    exchange.script("POST", "/fapi/v1/order", "binance/usdm_order_reduce_only_filled.json")
    exchange.script("GET", "/fapi/v1/userTrades", "binance/usdm_user_trades_reduce_only.json")
    exit_order = make_order("f1-exit-1", side="SELL", size=0.01, reduce_only=True)
    events = venue.submit(exit_order)
    assert kinds(events) == ["ORDER_ACK", "FILL"]
    assert events[1].status == VenueOrderStatus.FILLED
    assert exchange.calls("POST", "/fapi/v1/order")[1].params["reduceOnly"] == "true"

    # ccxt reads the leverage brackets once to compute maintenance margins.
    exchange.script("GET", "/fapi/v1/leverageBracket", "binance/usdm_leverage_bracket.json")
    exchange.script("GET", "/fapi/v3/positionRisk", "binance/usdm_position_risk.json")
    assert venue.positions() == {"BTCUSDT": 0.01, "ETHUSDT": -0.5}
    exchange.script("GET", "/fapi/v3/account", "binance/usdm_account.json")
    # ccxt counts unrealized profit in the futures total (marginBalance).
    assert venue.balances()["USDT"] == pytest.approx(10000.7965)


def test_usdm_positions_net_the_long_and_short_sides_of_a_hedge_mode_account(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """In hedge mode Binance lists a market's long and short separately: the net position is
    their sum, not whichever the list gave last."""
    venue = make_venue("linear")
    btc_both, eth_both = exchange.fixture("binance/usdm_position_risk.json")
    long = dict(btc_both, positionSide="LONG", positionAmt="0.010", notional="910.50000000")
    short = dict(btc_both, positionSide="SHORT", positionAmt="-0.004", notional="-364.20000000")
    exchange.script("GET", "/fapi/v1/leverageBracket", "binance/usdm_leverage_bracket.json")
    exchange.script("GET", "/fapi/v3/positionRisk", payload=[long, short, eth_both])
    positions = venue.positions()
    assert positions == {"BTCUSDT": pytest.approx(0.006), "ETHUSDT": -0.5}


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ({"contracts": 0.5, "side": "short"}, -0.5),
        ({"contracts": -0.5, "side": "short"}, -0.5),  # contracts are unsigned; some read them signed
        ({"contracts": -0.5, "side": None}, -0.5),
        ({"contracts": 0.5, "side": None}, "side=None"),
        ({"contracts": 0.5, "side": "both"}, "side='both'"),
    ],
)
def test_a_position_is_signed_by_its_side_and_one_without_a_side_is_an_error(
    make_venue: VenueFactory, position: dict, expected: float | str
) -> None:
    venue = make_venue("linear")
    venue._exchange.fetch_positions = lambda *args: [{"symbol": "BTC/USDT:USDT", **position}]
    if isinstance(expected, str):
        # Taken as long, a short would be reported with the wrong sign.
        with pytest.raises(RuntimeError, match=r"BTCUSDT.*" + re.escape(expected)):
            venue.positions()
    else:
        assert venue.positions() == {"BTCUSDT": expected}


def test_long_client_ids_are_mapped_to_a_stable_exchange_id(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    long_id = "strategy-alpha/slot-3/trade-000123/entry-leg-0"
    mapped = CcxtVenue.venue_client_id(long_id)
    assert mapped == CcxtVenue.venue_client_id(long_id) and len(mapped) <= 36
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    venue.submit(make_order(long_id, size=0.015))
    assert exchange.calls("POST", "/api/v3/order")[0].params["newClientOrderId"] == mapped


def test_throttled_account_query_raises_scrubbed_and_pauses_further_requests(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    venue = make_venue()
    exchange.script(
        "GET",
        "/api/v3/account",
        "binance/error_too_many_requests.json",
        status=429,
        headers={"Retry-After": "4"},
    )
    with pytest.raises(RuntimeError, match="fetch_balance throttled") as raised:
        venue.balances()
    assert API_KEY not in str(raised.value)
    with pytest.raises(RuntimeError, match=r"retry in 4\.000s"):
        venue.balances()
    assert len(exchange.calls("GET", "/api/v3/account")) == 1
    clock.advance(4.0)
    exchange.script("GET", "/api/v3/account", "binance/spot_account.json")
    assert venue.balances()["USDT"] == pytest.approx(6270.4975)


def test_timed_out_cancel_of_a_working_order_raises_then_poll_reports_the_cancel(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new_2.json")
    order = make_order("s3-entry-1", order_type="LIMIT", price=89000.0, size=0.02)
    venue.submit(order)
    exchange.script("DELETE", "/api/v3/order", "binance/spot_cancel_partial.json", delay=HOLD)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_new_2.json")
    with pytest.raises(VenueTimeout) as raised:
        venue.cancel(order)
    assert raised.value.client_order_id == "s3-entry-1"

    exchange.script("GET", "/api/v3/order", "binance/spot_query_canceled_2.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_cancel_partial.json")
    events = venue.poll_events()
    assert kinds(events) == ["FILL", "CANCEL_ACK"]
    assert events[1].filled_size == pytest.approx(0.005)
    assert len(exchange.calls("DELETE", "/api/v3/order")) == 1


def test_an_order_known_only_by_its_client_id_is_polled_by_it(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """After a restart the kernel may cancel an order it never saw acknowledged (no exchange id).
    When that cancel times out, the order is polled by its client id: asked for by an empty
    exchange id, Binance refuses every poll (-1102) and the cancel was never reported."""
    venue = make_venue()
    order = make_order("s3-entry-1", order_type="LIMIT", price=89000.0, size=0.02)
    assert order.venue_order_id == ""
    exchange.script("DELETE", "/api/v3/order", "binance/spot_cancel_partial.json", delay=HOLD)
    exchange.script("GET", "/api/v3/order", "binance/error_backend_timeout.json", status=503)
    with pytest.raises(VenueTimeout):
        venue.cancel(order)
    assert exchange.calls("DELETE", "/api/v3/order")[0].params["origClientOrderId"] == "s3-entry-1"

    exchange.script("GET", "/api/v3/order", "binance/spot_query_canceled_2.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_cancel_partial.json")
    events = venue.poll_events()
    polled = exchange.calls("GET", "/api/v3/order")[-1].params
    assert polled.get("origClientOrderId") == "s3-entry-1" and "orderId" not in polled
    # Never acknowledged to the kernel: the ack comes first, as for a timed-out submit.
    assert kinds(events) == ["ORDER_ACK", "FILL", "CANCEL_ACK"]
    assert events[0].venue_order_id == events[2].venue_order_id == "BTCUSDT:28457300"
    assert exchange.calls("GET", "/api/v3/myTrades")[0].params["orderId"] == "28457300"


def test_top_of_book_feeds_a_paper_venue(make_venue: VenueFactory, exchange: RecordedExchange) -> None:
    venue = make_venue()
    exchange.script("GET", "/api/v3/depth", "binance/spot_depth.json")
    top = venue.fetch_top_of_book("BTCUSDT")
    assert (top.asset, top.bid, top.ask, top.bid_size, top.ask_size) == (
        "BTCUSDT",
        91000.0,
        91000.01,
        0.8421,
        1.5234,
    )
    assert exchange.calls("GET", "/api/v3/depth")[0].params["symbol"] == "BTCUSDT"
    paper = PaperVenue(slippage_bps=0)
    paper.on_quote(*top)
    fill = paper.submit(make_order("p1", size=2.0))[1]
    assert (fill.price, fill.size) == (91000.01, 1.5234)  # only the quoted size at the ask
    with pytest.raises(ValueError, match="'NOPE'"):
        venue.fetch_top_of_book("NOPE")


@pytest.mark.parametrize(
    ("level", "field", "shown"),
    [
        ({"bids": [[None, 0.5]]}, "bids[0][0] (bid price)", "None"),
        ({"bids": [["abc", 0.5]]}, "bids[0][0] (bid price)", "'abc'"),
        ({"asks": [[91000.01, float("nan")]]}, "asks[0][1] (ask size)", "nan"),
        ({"asks": [[float("inf"), 1.0]]}, "asks[0][0] (ask price)", "inf"),
        ({"bids": [[91000.0]]}, "bids[0][1] (bid size)", "None"),
    ],
)
def test_a_book_figure_that_is_not_a_number_is_an_error_naming_it(
    make_venue: VenueFactory, level: dict, field: str, shown: str
) -> None:
    """A None there raised a bare TypeError, text a "could not convert" naming nothing, and a
    NaN went on into the quote fed to a paper venue."""
    venue = make_venue()
    book = {"bids": [[91000.0, 0.5]], "asks": [[91000.01, 1.0]], "timestamp": 1763679600000, **level}
    venue._exchange.fetch_order_book = lambda *args: book
    with pytest.raises(ValueError) as raised:
        venue.fetch_top_of_book("BTCUSDT")
    assert str(raised.value).startswith(f"binance-spot: the BTC/USDT book's {field}: {shown} is not a")


def test_a_book_time_that_is_not_a_time_is_the_clocks(make_venue: VenueFactory, clock: ManualClock) -> None:
    venue = make_venue()
    book = {"bids": [["91000.0", "0.5"]], "asks": [[91000.01, 1.0]], "timestamp": float("nan")}
    venue._exchange.fetch_order_book = lambda *args: book
    assert venue.fetch_top_of_book("BTCUSDT") == ("BTCUSDT", 91000.0, 91000.01, 0.5, 1.0, clock.now)


@pytest.mark.parametrize(
    ("market_type", "prefix", "found"),
    [
        ("spot", "/api/v3", "binance/spot_query_timeout_found.json"),
        ("linear", "/fapi/v1", "binance/usdm_query_market_filled.json"),
    ],
)
def test_execution_status_unknown_answer_is_resolved_not_rejected(
    make_venue: VenueFactory, exchange: RecordedExchange, market_type: str, prefix: str, found: str
) -> None:
    # ccxt maps Binance's -1007 to different exception classes per endpoint family; either
    # way the order may exist, so it is looked up, never reported rejected.
    venue = make_venue(market_type)
    exchange.script("POST", f"{prefix}/order", "binance/error_backend_timeout.json", status=503)
    exchange.script("GET", f"{prefix}/order", found)
    trades = "spot_trades_timeout_found.json" if market_type == "spot" else "usdm_user_trades_market.json"
    exchange.script(
        "GET", f"{prefix}/myTrades" if market_type == "spot" else f"{prefix}/userTrades", f"binance/{trades}"
    )
    asset, size = ("ETHUSDT", 0.5) if market_type == "spot" else ("BTCUSDT", 0.01)
    events = venue.submit(make_order("u1", asset=asset, size=size))
    assert kinds(events)[0] == "ORDER_ACK"
    assert "FILL" in kinds(events) and "REJECT" not in kinds(events)
    assert sum(e.size for e in events if e.kind == KernelEventKind.FILL) == pytest.approx(size)
    assert len(exchange.calls("POST", f"{prefix}/order")) == 1


def test_unknown_outcome_is_judged_on_binance_codes_whatever_the_exception_class(
    make_venue: VenueFactory,
) -> None:
    import ccxt

    venue = make_venue()
    # Portfolio-margin endpoints map -1001 and -1007 to plain ExchangeError.
    unknown = ccxt.ExchangeError(
        'binance {"code":-1007,"msg":"Timeout waiting for response from backend server."}'
    )
    internal = ccxt.ExchangeError('binance {"code": -1001, "msg": "Internal error"}')
    refused = ccxt.ExchangeError('binance {"code":-2010,"msg":"Account has insufficient balance."}')
    assert venue._client.outcome_unknown(unknown) and venue._client.outcome_unknown(internal)
    assert not venue._client.outcome_unknown(refused)
    assert not venue._client.outcome_unknown(
        ccxt.InvalidOrder('binance {"code":-1013,"msg":"Filter failure: LOT_SIZE"}')
    )
    assert venue._client.outcome_unknown(ccxt.RequestTimeout("binance POST http://127.0.0.1/api/v3/order"))


@pytest.mark.parametrize("status", [524, 507])
def test_a_server_error_ccxt_has_no_class_for_is_an_unknown_outcome_not_a_refusal(
    make_venue: VenueFactory, exchange: RecordedExchange, status: int
) -> None:
    """A 5xx answer ccxt does not map (Cloudflare's 524: the exchange took the request and did
    not answer in time) comes as a bare ExchangeError: the submit was rejected and the cancel
    refused, while the exchange may have carried out either. Both are looked up instead."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", payload=f"error code: {status}", status=status)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_timeout_new.json")
    order = make_order("s7-entry-1", asset="ETHUSDT", order_type="LIMIT", price=2900.0, size=0.5)
    assert kinds(venue.submit(order)) == ["ORDER_ACK"]  # found working, never reported rejected

    exchange.script("DELETE", "/api/v3/order", payload=f"error code: {status}", status=status)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_timeout_new.json")
    with pytest.raises(VenueTimeout):  # not a CANCEL_REJECT: the cancel may have happened
        venue.cancel(order)
    assert len(exchange.calls("POST", "/api/v3/order")) == 1
    assert len(exchange.calls("DELETE", "/api/v3/order")) == 1


def test_a_malformed_answer_about_one_order_loses_no_fill_of_another(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """One order's broken trade list (a negative quantity) must not take down the poll: the
    other order's fill, already counted as reported, would never be reported again."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    first = make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02)
    venue.submit(first)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new_2.json")
    second = make_order("s3-entry-1", order_type="LIMIT", price=89000.0, size=0.02)
    venue.submit(second)

    broken = exchange.fixture("binance/spot_query_limit_partial.json")
    broken.update(orderId=28457300, clientOrderId="s3-entry-1", price="89000.00000000")
    bad_trade = exchange.fixture("binance/spot_trades_limit_partial.json")[0]
    bad_trade.update(id=4301, orderId=28457300, price="89000.00000000", qty="-0.00800000")
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    exchange.script("GET", "/api/v3/order", payload=broken)
    exchange.script("GET", "/api/v3/myTrades", payload=[bad_trade])
    events = venue.poll_events()
    assert [(e.kind.name, e.fill_id) for e in events] == [("FILL", "BTCUSDT:4101")]

    # The broken order is asked about again; once its trades read right, its fill comes.
    good_trade = dict(bad_trade, qty="0.00800000")
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/order", payload=broken)
    exchange.script("GET", "/api/v3/myTrades", payload=[good_trade])
    later = venue.poll_events()
    assert [(e.kind.name, e.fill_id, e.size) for e in later] == [("FILL", "BTCUSDT:4301", 0.008)]


def break_fees(venue: CcxtVenue, monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Makes reading a trade's fee raise until the returned switch's ``"on"`` is set False."""
    real_quote_fee = ccxt_events.quote_fee
    broken = {"on": True}

    def quote_fee(
        name: str, exchange: object, trade: dict, price: float, named: str, *rest: object, **named_args: bool
    ) -> tuple:
        if broken["on"]:
            raise KeyError("fee")
        return real_quote_fee(name, exchange, trade, price, named, *rest, **named_args)  # type: ignore[arg-type]

    monkeypatch.setattr(ccxt_events, "quote_fee", quote_fee)
    return broken


def test_an_answer_that_raises_while_read_loses_nothing(
    make_venue: VenueFactory, exchange: RecordedExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever breaks while one order's answer is read (here: its fee), the poll returns the
    events it has, and that order's fill comes once its answer reads."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    broken = break_fees(venue, monkeypatch)
    for _ in range(2):
        exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
        exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    assert venue.poll_events() == []
    broken["on"] = False
    assert [e.fill_id for e in venue.poll_events()] == ["BTCUSDT:4101"]


def test_an_answer_that_breaks_after_the_ack_leaves_the_ack_to_report(
    make_venue: VenueFactory, exchange: RecordedExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The submit's answer breaks on a fill (its fee, here): the ack was counted as reported
    all the same and lost with the answer, so the kernel never heard it from the adapter."""
    venue = make_venue()
    broken = break_fees(venue, monkeypatch)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    with pytest.raises(KeyError):
        venue.submit(make_order("s1-entry-1", size=0.015, reference_price=91000.0))
    broken["on"] = False
    exchange.script("GET", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    events = venue.poll_events()
    assert kinds(events) == ["ORDER_ACK", "FILL", "FILL"]
    assert events[0].venue_order_id == "BTCUSDT:28457101"


def test_cancel_runs_under_the_adapter_lock(make_venue: VenueFactory, exchange: RecordedExchange) -> None:
    """The kernel's thread cancels while a timer thread may poll: the cancel's exchange call
    holds the adapter's lock (its @_serialized, which a method added beside it can take away)."""
    import threading

    venue, order = _resting_order_canceled_part_filled(make_venue, exchange)
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_cancel_partial.json")
    free_to_others: list[bool] = []
    send = venue._exchange.cancel_order

    def cancel_order(*args: object, **kwargs: object) -> object:
        def probe() -> None:
            got = venue._lock.acquire(blocking=False)
            if got:
                venue._lock.release()
            free_to_others.append(got)

        prober = threading.Thread(target=probe)
        prober.start()
        prober.join()
        return send(*args, **kwargs)

    venue._exchange.cancel_order = cancel_order
    assert kinds(venue.cancel(order)) == ["FILL", "CANCEL_ACK"]
    assert free_to_others == [False]


# -- an order the exchange says filled, whose trades never show --------------------------


def _filled_with_trades_lagging(
    make_venue: VenueFactory, exchange: RecordedExchange, listed: list, **settings: object
) -> CcxtVenue:
    """A resting limit buy of 0.02 the exchange says is filled (0.02 for 1806 USDT: average
    90300), while its trade list shows only ``listed``, whatever it is asked."""
    venue = make_venue(**settings)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    filled = exchange.fixture("binance/spot_query_limit_filled.json")
    filled["cummulativeQuoteQty"] = "1806.00000000"
    exchange.script("GET", "/api/v3/order", payload=filled, repeat=True)
    exchange.script("GET", "/api/v3/myTrades", payload=listed, repeat=True)
    return venue


@pytest.mark.parametrize("listed", ["none", "first"])
def test_a_filled_order_whose_trades_never_show_is_booked_from_the_order_after_the_wait(
    make_venue: VenueFactory,
    exchange: RecordedExchange,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    listed: str,
) -> None:
    """The exchange says the order filled, but its trade list never lists (all of) its trades:
    it was asked about for ever and the kernel never learnt of the fill. After
    ``missing_trades_wait_s`` the rest is booked from the order's own filled size and average
    price (fee unknown: the kernel's model prices it), and the order is asked about no more."""
    first = exchange.fixture("binance/spot_trades_limit_partial.json")  # 4101: 0.008 at 90000
    venue = _filled_with_trades_lagging(make_venue, exchange, first if listed == "first" else [])
    early = venue.poll_events()
    assert kinds(early) == (["FILL"] if listed == "first" else [])
    clock.advance(59.0)  # the default wait is 60 s
    assert venue.poll_events() == []
    clock.advance(2.0)
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        [fill] = venue.poll_events()
    assert fill.kind == KernelEventKind.FILL and fill.status == VenueOrderStatus.FILLED
    rest = 0.012 if listed == "first" else 0.02
    assert fill.size == pytest.approx(rest) and fill.filled_size == pytest.approx(0.02)
    # The order's cost less what its listed trade cost: 1806 - 720 for the rest.
    price = (1806.0 - 720.0) / 0.012 if listed == "first" else 90300.0
    assert fill.price == pytest.approx(price)
    assert fill.fee is None
    assert fill.fill_id == "BTCUSDT:order:28457200"
    assert fill.metadata["fill_source"] == "order"
    assert any("booked from the order" in r.getMessage() for r in caplog.records)
    asked = len(exchange.calls("GET", "/api/v3/order"))
    clock.advance(60.0)
    assert venue.poll_events() == []
    assert len(exchange.calls("GET", "/api/v3/order")) == asked  # no longer asked about


def test_an_order_filled_past_its_size_is_booked_from_the_order_at_its_average_and_the_rest_named(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The exchange says 0.024 of the order's 0.02 filled, for 2320 USDT, and its trade list shows
    only the first 0.008 (at 90000): the other 0.016 cost 1600, so the rest is booked at 100000,
    not at the whole cost over the order's part, and the 0.004 beyond the order is named at ERROR."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=100000.0, size=0.02))
    filled = exchange.fixture("binance/spot_query_limit_filled.json")
    filled.update(executedQty="0.02400000", cummulativeQuoteQty="2320.00000000", price="100000.00000000")
    exchange.script("GET", "/api/v3/order", payload=filled, repeat=True)
    first = exchange.fixture("binance/spot_trades_limit_partial.json")  # 4101: 0.008 at 90000
    exchange.script("GET", "/api/v3/myTrades", payload=first, repeat=True)
    assert kinds(venue.poll_events()) == ["FILL"]
    clock.advance(61.0)  # the default wait is 60 s
    with caplog.at_level(logging.ERROR, logger="dita.venues.ccxt"):
        [fill] = venue.poll_events()
    assert (fill.size, fill.filled_size) == pytest.approx((0.012, 0.02))
    assert fill.price == pytest.approx(100000.0)
    [named] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "the order's answer puts its filled size at 0.024, past its size 0.02" in named, named
    # Looked up for a reconciliation, the order is its size at its average.
    found = venue.order_status("s2-entry-1")
    assert found is not None and found.filled_size == pytest.approx(0.02)
    assert found.average_fill_price == pytest.approx(2320.0 / 0.024)


def test_the_trades_of_an_order_filled_meanwhile_are_booked_not_the_order(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    venue = _filled_with_trades_lagging(make_venue, exchange, [], missing_trades_wait_s=5.0)
    assert venue.poll_events() == []
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_filled.json")
    clock.advance(4.0)
    assert venue.poll_events() == []  # the last empty list, answered before the next
    assert [e.fill_id for e in venue.poll_events()] == ["BTCUSDT:4101", "BTCUSDT:4102"]
    clock.advance(10.0)
    assert venue.poll_events() == []


def test_a_canceled_order_whose_fill_never_shows_in_the_trades_is_booked_from_the_order(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Canceled with 0.005 executed (445 USDT), the trade list never showing it: after the
    wait that fill is booked from the order, not given up on with the kernel owed it."""
    venue, order = _resting_order_canceled_part_filled(make_venue, exchange)
    exchange.script("GET", "/api/v3/myTrades", payload=[], repeat=True)
    assert kinds(venue.cancel(order)) == ["CANCEL_ACK"]
    exchange.script("GET", "/api/v3/order", "binance/spot_query_canceled_2.json", repeat=True)
    clock.advance(30.0)
    assert venue.poll_events() == []
    clock.advance(31.0)
    [fill] = venue.poll_events()
    assert (fill.kind, fill.size, fill.filled_size) == (KernelEventKind.FILL, 0.005, 0.005)
    assert fill.price == pytest.approx(89000.0) and fill.fee is None
    assert venue.poll_events() == []


def test_a_filled_order_whose_answer_gives_no_average_is_booked_at_its_limit_price(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Binance answers ``cummulativeQuoteQty`` below 0 when it has no figure for the order (ccxt's
    cost -1, its average below 0): the order filled by the exchange's word, its trades never
    showing, was given up on after the wait and its fill lost. The limit price bounds what the
    fill can have cost: it is booked there, the warning naming the order and the price's source."""
    venue = _filled_with_trades_lagging(make_venue, exchange, [])
    filled = exchange.fixture("binance/spot_query_limit_filled.json")
    filled["cummulativeQuoteQty"] = "-1.00000000"
    exchange.script("GET", "/api/v3/order", payload=filled, repeat=True)
    assert venue.poll_events() == []
    clock.advance(61.0)  # the default wait is 60 s
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        [fill] = venue.poll_events()
    assert (fill.kind, fill.size, fill.filled_size) == (KernelEventKind.FILL, 0.02, 0.02)
    assert fill.price == pytest.approx(90000.0) and fill.fee is None
    assert fill.metadata["fill_source"] == "order" and fill.metadata["price_source"] == "limit"
    [warned] = [r for r in caplog.records if "booked from the order" in r.getMessage()]
    assert warned.levelno == logging.WARNING
    assert "s2-entry-1" in warned.getMessage() and "BTCUSDT:28457200" in warned.getMessage()
    assert "its limit price" in warned.getMessage()
    assert not venue.following()


@pytest.mark.parametrize("stated", ["nothing", "an order price"])
def test_a_market_order_whose_answer_gives_no_average_is_booked_at_the_best_price_known(
    make_venue: VenueFactory, clock: ManualClock, caplog: pytest.LogCaptureFixture, stated: str
) -> None:
    """A market order the exchange says filled, giving no cost or average and its trades never
    showing: the order's price as the exchange states it (a market order's price bound, say),
    else the price the kernel sent it at (its reference), stands in, named in the warning."""
    venue = make_venue()
    resting = {"id": "28457200", "symbol": "BTC/USDT", "status": "open", "amount": 0.02, "filled": 0.0}
    venue._exchange.create_order = lambda *args: dict(resting)
    venue.submit(make_order("s1-entry-1", size=0.02, reference_price=91000.0))
    closed = dict(resting, status="closed", filled=0.02, average=None, cost=None, price=None)
    if stated == "an order price":
        closed["price"] = 91500.0
    venue._exchange.fetch_order = lambda *args: dict(closed)
    venue._exchange.fetch_my_trades = lambda *args: []
    assert venue.poll_events() == []
    clock.advance(61.0)
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        [fill] = venue.poll_events()
    assert (fill.kind, fill.size, fill.filled_size) == (KernelEventKind.FILL, 0.02, 0.02)
    price, source, said = (
        (91500.0, "order_price", "the exchange's price of the order")
        if stated == "an order price"
        else (91000.0, "reference", "its reference price")
    )
    assert fill.price == pytest.approx(price) and fill.metadata["price_source"] == source
    [warned] = [r for r in caplog.records if "booked from the order" in r.getMessage()]
    assert "s1-entry-1" in warned.getMessage() and said in warned.getMessage()


def test_a_fill_no_price_is_known_of_is_ended_as_owed_not_dropped(
    make_venue: VenueFactory, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An order nobody knows a price of (taken over without one: no reference) that the exchange
    says filled, with no cost, average or price and its trades never showing: dropped after the
    wait, the kernel's order worked on for good while the exchange had filled it. It ends, the
    end carrying the exchange's filled size (the kernel holds the fill as owed, its slot waiting,
    and reconciliation settles it), with an ERROR naming the order, the size and what to do."""
    venue = make_venue()
    resting = {"id": "28457200", "symbol": "BTC/USDT", "status": "open", "amount": 0.02, "filled": 0.0}
    venue._exchange.create_order = lambda *args: dict(resting)
    venue.submit(make_order("s1-entry-1", size=0.02))  # no reference price
    closed = dict(resting, status="closed", filled=0.02, average=None, cost=None, price=None)
    venue._exchange.fetch_order = lambda *args: dict(closed)
    venue._exchange.fetch_my_trades = lambda *args: []
    assert venue.poll_events() == []
    clock.advance(61.0)
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        [end] = venue.poll_events()
    assert (end.kind, end.status) == (KernelEventKind.EXPIRED, VenueOrderStatus.EXPIRED)
    assert end.filled_size == 0.02  # the exchange's: the kernel holds the rest as owed
    assert end.event_id == "binance-spot:expired:BTCUSDT:28457200"
    assert "no price" in end.reason and "owed" in end.reason
    [said] = [r for r in caplog.records if r.levelno == logging.ERROR]
    text = said.getMessage()
    assert "s1-entry-1" in text and "BTCUSDT:28457200" in text and "0.02" in text
    assert "reconcile_with_venue" in text
    assert not venue.following() and venue.poll_events() == []


def test_a_fill_owed_by_an_end_with_no_price_known_is_named_in_an_error(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Canceled with 0.005 executed (the end told the kernel so: it holds the fill as owed), the
    trade list never showing it, and no price known of it: the ERROR names the order, the size
    owed and what to do; no second end is sent."""
    venue = make_venue()
    resting = {"id": "28457300", "symbol": "BTC/USDT", "status": "open", "amount": 0.02, "filled": 0.0}
    venue._exchange.create_order = lambda *args: dict(resting)
    order = make_order("s3-entry-1", size=0.02)
    venue.submit(order)
    canceled = dict(resting, status="canceled", filled=0.005, average=None, cost=None, price=None)
    venue._exchange.cancel_order = lambda *args: dict(canceled)
    venue._exchange.fetch_order = lambda *args: dict(canceled)
    venue._exchange.fetch_my_trades = lambda *args: []
    [end] = venue.cancel(order)
    assert (end.kind, end.filled_size) == (KernelEventKind.CANCEL_ACK, 0.005)
    clock.advance(61.0)
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        assert venue.poll_events() == []
    [said] = [r for r in caplog.records if r.levelno == logging.ERROR]
    text = said.getMessage()
    assert "s3-entry-1" in text and "BTCUSDT:28457300" in text and "0.005" in text
    assert "reconcile_with_venue" in text
    assert not venue.following()


@pytest.mark.parametrize("cancel_asked", [False, True])
def test_an_order_closed_without_a_filled_size_or_amount_is_asked_about_no_longer_than_the_grace(
    make_venue: VenueFactory, clock: ManualClock, caplog: pytest.LogCaptureFixture, cancel_asked: bool
) -> None:
    """Closed, with neither a filled size nor an amount (ccxt cannot count it full), and its
    trades showing 0.008 of 0.02: it was asked about for ever. After ``unknown_order_grace_s``
    it ends as an order the adapter cannot figure does, with its filled size unknown (0, the
    kernel's "cannot say"), named in a warning, and is asked about no more."""
    venue = make_venue()
    resting = {"id": "28457200", "symbol": "BTC/USDT", "status": "open", "amount": 0.02, "filled": 0.0}
    venue._exchange.create_order = lambda *args: dict(resting)
    order = make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02)
    venue.submit(order)
    closed = {"id": "28457200", "symbol": "BTC/USDT", "status": "closed", "amount": None, "filled": None}
    if cancel_asked:
        venue._exchange.cancel_order = lambda *args: dict(closed)
    asked: list[object] = []
    venue._exchange.fetch_order = lambda *args: asked.append(args) or dict(closed)
    venue._exchange.fetch_my_trades = lambda *args: [ccxt_trade("4101", 0.008)]
    first = venue.cancel(order) if cancel_asked else venue.poll_events()
    assert kinds(first) == ["FILL"]
    clock.advance(20.0)  # the grace is 30 s
    assert venue.poll_events() == []
    clock.advance(11.0)
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        [end] = venue.poll_events()
    kind = KernelEventKind.CANCEL_ACK if cancel_asked else KernelEventKind.EXPIRED
    assert (end.kind, end.filled_size) == (kind, 0.0)  # 0: cannot say
    assert end.event_id == f"binance-spot:{kind.name.lower()}:BTCUSDT:28457200"
    assert "closed the order without saying how much it filled" in end.reason
    assert any("s2-entry-1" in r.getMessage() and r.levelno >= logging.WARNING for r in caplog.records)
    seen = len(asked)
    clock.advance(60.0)
    assert venue.poll_events() == [] and len(asked) == seen and not venue.following()


def test_a_closed_order_answered_later_without_a_filled_size_is_booked_from_the_answer_that_stated_it(
    make_venue: VenueFactory, clock: ManualClock
) -> None:
    """Closed with 0.02 filled (1800 USDT), its trades never showing; the exchange's later
    answers state no filled size or amount. They say nothing new: the fill is booked from the
    answer that stated it after ``missing_trades_wait_s``, not ended as unknown."""
    venue = make_venue()
    resting = {"id": "28457200", "symbol": "BTC/USDT", "status": "open", "amount": 0.02, "filled": 0.0}
    venue._exchange.create_order = lambda *args: dict(resting)
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    venue._exchange.fetch_my_trades = lambda *args: []
    stated = dict(resting, status="closed", filled=0.02, cost=1800.0)
    venue._exchange.fetch_order = lambda *args: dict(stated)
    assert venue.poll_events() == []
    unstated = {"id": "28457200", "symbol": "BTC/USDT", "status": "closed", "amount": None, "filled": None}
    venue._exchange.fetch_order = lambda *args: dict(unstated)
    events = _polled_every_20s(venue, clock)
    assert events[:2] == [[], []] and events[3] == []
    [fill] = events[2]
    assert (fill.kind, fill.size, fill.filled_size) == (KernelEventKind.FILL, 0.02, 0.02)
    assert fill.price == pytest.approx(90000.0) and fill.fill_id == "BTCUSDT:order:28457200"
    assert not venue.following()


def test_an_order_with_more_trades_than_a_page_is_read_to_its_last_trade(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Binance lists at most 500 trades a request by default (1000 when asked): an order that
    traded 1200 times lost every trade past the first page. The list is read page by page
    (``fromId``) until the order's trades are all in."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    partial = exchange.fixture("binance/spot_query_limit_partial.json")
    partial.update(executedQty="0.01200000", cummulativeQuoteQty="1080.00000000")
    exchange.script("GET", "/api/v3/order", payload=partial)
    (trade,) = exchange.fixture("binance/spot_trades_limit_partial.json")
    trades = [
        dict(trade, id=5000 + n, qty="0.00001000", quoteQty="0.90000000", commission="0.00018000",
             time=trade["time"] + n)
        for n in range(1200)
    ]  # fmt: skip
    exchange.script("GET", "/api/v3/myTrades", payload=trades[:1000])
    exchange.script("GET", "/api/v3/myTrades", payload=trades[1000:])
    fills = venue.poll_events()
    assert len(fills) == 1200 and len({f.fill_id for f in fills}) == 1200
    assert fills[-1].fill_id == "BTCUSDT:6199"
    assert fills[-1].filled_size == pytest.approx(0.012)
    assert sum(f.size for f in fills) == pytest.approx(0.012)
    first, second = exchange.calls("GET", "/api/v3/myTrades")
    assert first.params["limit"] == "1000" and "fromId" not in first.params
    assert (second.params["orderId"], second.params["fromId"]) == ("28457200", "6000")


def test_a_trade_page_ccxt_cannot_parse_keeps_the_pages_read_and_leaves_the_order_bookable(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """A trade list page ccxt's parser breaks on (a ``null`` entry: a TypeError, no ccxt error)
    lost the pages read before it, and as it broke at every poll the order was asked about for
    ever: the kernel never got its fills, nor the fill booked from the order after the wait."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    (trade,) = exchange.fixture("binance/spot_trades_limit_partial.json")
    trades = [
        dict(trade, id=5000 + n, qty="0.00001000", quoteQty="0.90000000", time=trade["time"] + n)
        for n in range(1000)
    ]
    partial = exchange.fixture("binance/spot_query_limit_partial.json")
    partial.update(executedQty="0.01200000", cummulativeQuoteQty="1080.00000000")
    exchange.script("GET", "/api/v3/order", payload=partial)
    exchange.script("GET", "/api/v3/myTrades", payload=trades)
    exchange.script("GET", "/api/v3/myTrades", payload=[None])
    fills = venue.poll_events()
    assert len(fills) == 1000 and fills[-1].filled_size == pytest.approx(0.01)
    assert {f.status for f in fills} == {VenueOrderStatus.PARTIALLY_FILLED}

    # Closed in full, its list still unreadable: booked from the order after the wait.
    filled = exchange.fixture("binance/spot_query_limit_filled.json")
    filled["cummulativeQuoteQty"] = "1806.00000000"
    exchange.script("GET", "/api/v3/order", payload=filled, repeat=True)
    exchange.script("GET", "/api/v3/myTrades", payload=[None], repeat=True)
    assert venue.poll_events() == []
    clock.advance(61.0)
    [rest] = venue.poll_events()
    assert rest.metadata["fill_source"] == "order" and rest.status == VenueOrderStatus.FILLED
    assert rest.size == pytest.approx(0.01) and rest.filled_size == pytest.approx(0.02)
    assert not venue.following()


def test_a_submit_whose_trade_list_ccxt_cannot_parse_still_reports_the_ack(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """A market order filled in its submit's answer, its trade list unreadable by ccxt's parser:
    the TypeError went up out of submit, the kernel kept the order in flight, and every poll
    broke the same way, so not even its ack was ever reported."""
    venue = make_venue("linear")
    exchange.script("POST", "/fapi/v1/order", "binance/usdm_order_reduce_only_filled.json")
    exchange.script("GET", "/fapi/v1/userTrades", payload=[None])
    events = venue.submit(make_order("f1-exit-1", side="SELL", size=0.01, reduce_only=True))
    assert kinds(events) == ["ORDER_ACK"]
    assert venue.following()  # asked about until its trades show, or booked from the order


# -- Kraken: orders found by client id -----------------------------------------------------

_KRAKEN_PAIRS = {
    "error": [],
    "result": {
        "XXBTZUSD": {
            "altname": "XBTUSD", "wsname": "XBT/USD", "base": "XXBT", "quote": "ZUSD",
            "pair_decimals": 1, "lot_decimals": 8, "cost_decimals": 5, "ordermin": "0.0001",
            "costmin": "0.5", "tick_size": "0.1", "status": "online", "fees": [[0, 0.4]],
            "fees_maker": [[0, 0.25]], "leverage_buy": [], "leverage_sell": [],
        },
        "XETHZUSD": {
            "altname": "ETHUSD", "wsname": "ETH/USD", "base": "XETH", "quote": "ZUSD",
            "pair_decimals": 2, "lot_decimals": 8, "cost_decimals": 5, "ordermin": "0.002",
            "costmin": "0.5", "tick_size": "0.01", "status": "online", "fees": [[0, 0.4]],
            "fees_maker": [[0, 0.25]], "leverage_buy": [], "leverage_sell": [],
        },
    },
}  # fmt: skip
_KRAKEN_ASSETS = {
    "error": [],
    "result": {
        "XXBT": {
            "aclass": "currency",
            "altname": "XBT",
            "decimals": 10,
            "display_decimals": 5,
            "status": "enabled",
        },
        "XETH": {
            "aclass": "currency",
            "altname": "ETH",
            "decimals": 10,
            "display_decimals": 5,
            "status": "enabled",
        },
        "ZUSD": {
            "aclass": "currency",
            "altname": "USD",
            "decimals": 4,
            "display_decimals": 2,
            "status": "enabled",
        },
    },
}


def _kraken_order(status: str, cl_ord_id: str) -> dict:
    return {
        "refid": None, "userref": 0, "cl_ord_id": cl_ord_id, "status": status, "opentm": 1763679602.1,
        "starttm": 0, "expiretm": 0, "vol": "0.02000000", "vol_exec": "0.00000000", "cost": "0.00000",
        "fee": "0.00000", "price": "0.00000", "stopprice": "0.00000", "limitprice": "0.00000",
        "misc": "", "oflags": "fciq",
        "descr": {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "90000.0",
                  "price2": "0", "leverage": "none", "order": "buy 0.02000000 XBTUSD @ limit 90000.0"},
    }  # fmt: skip


@pytest.fixture
def kraken_venue(
    exchange: RecordedExchange, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CcxtVenue]:
    monkeypatch.setenv("DITA_TEST_KRAKEN_KEY", "kraken-key")
    monkeypatch.setenv("DITA_TEST_KRAKEN_SECRET", base64.b64encode(b"kraken-secret-0123456789").decode())
    exchange.script("GET", "/0/public/AssetPairs", payload=_KRAKEN_PAIRS, repeat=True)
    exchange.script("GET", "/0/public/Assets", payload=_KRAKEN_ASSETS, repeat=True)
    venue = _kraken(exchange, clock)
    venue.load_markets()
    yield venue
    venue.close()


def _kraken(exchange: RecordedExchange, clock: ManualClock, **settings: object) -> CcxtVenue:
    return CcxtVenue(
        exchange="kraken",
        base_url=exchange.url,
        api_key_env="DITA_TEST_KRAKEN_KEY",
        secret_env="DITA_TEST_KRAKEN_SECRET",
        timeout_ms=CLIENT_TIMEOUT_MS,
        rate_limit_ms=1,
        resolve_delay_ms=0,
        clock=clock,
        sleep=clock.sleep,
        **settings,
    )


def test_a_kraken_order_whose_submit_timed_out_is_found_by_its_client_id(
    kraken_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """Kraken's order query looks orders up by id or by ``userref`` (an integer), and ccxt sends
    a client order id there as the ``userref``, with the order id "None": every lookup of a
    timed-out submit failed, so it was never found (nor ever given up on). Kraken's order lists
    filter by ``cl_ord_id``, the id the order went out with: the lookup asks those."""
    exchange.script("POST", "/0/private/AddOrder", payload={"error": ["EService:Unavailable"]}, status=503)
    exchange.script("POST", "/0/private/OpenOrders", payload={"error": [], "result": {"open": {}}})
    closed = {"OQCLML-BW3P3-BUCMWZ": _kraken_order("canceled", "s2-entry-1")}
    exchange.script(
        "POST", "/0/private/ClosedOrders", payload={"error": [], "result": {"closed": closed, "count": 1}}
    )
    events = kraken_venue.submit(
        make_order("s2-entry-1", asset="XXBTZUSD", order_type="LIMIT", price=90000.0, size=0.02)
    )
    assert kinds(events) == ["ORDER_ACK", "EXPIRED"]
    assert events[0].venue_order_id == "XXBTZUSD:OQCLML-BW3P3-BUCMWZ"
    assert exchange.calls("POST", "/0/private/QueryOrders") == []
    for path in ("/0/private/OpenOrders", "/0/private/ClosedOrders"):
        assert exchange.calls("POST", path)[0].params["cl_ord_id"] == "s2-entry-1"
    assert exchange.calls("POST", "/0/private/AddOrder")[0].params["cl_ord_id"] == "s2-entry-1"


def test_a_kraken_order_of_another_client_id_is_not_taken_for_the_one_asked_for(
    kraken_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    open_ = {"OQCLML-BW3P3-BUCMWZ": _kraken_order("open", "s2-entry-2")}
    exchange.script("POST", "/0/private/OpenOrders", payload={"error": [], "result": {"open": open_}})
    exchange.script(
        "POST", "/0/private/ClosedOrders", payload={"error": [], "result": {"closed": {}, "count": 0}}
    )
    assert kraken_venue.order_status("s2-entry-1") is None


_KRAKEN_ORDER_ID = "OQCLML-BW3P3-BUCMWZ"


def _kraken_trade(trade_id: str, vol: str, time: float) -> dict:
    """A trade of order ``_KRAKEN_ORDER_ID`` (a buy at 90000) as Kraken's QueryTrades gives it."""
    return {
        "ordertxid": _KRAKEN_ORDER_ID, "postxid": "TKH2SE-M7IF5-CFI7LT", "pair": "XXBTZUSD",
        "time": time, "type": "buy", "ordertype": "limit", "price": "90000.0",
        "cost": f"{90000 * float(vol):.5f}", "fee": "0.00000", "vol": vol, "margin": "0.00000",
        "misc": "", "maker": True,
    }  # fmt: skip


def _kraken_queried(order: dict) -> dict:
    """Kraken's answer to a query of order ``_KRAKEN_ORDER_ID`` (``QueryOrders``)."""
    return {"error": [], "result": {_KRAKEN_ORDER_ID: order}}


def _kraken_watched(venue: CcxtVenue, size: float) -> None:
    """Has ``venue`` follow an acknowledged limit buy of ``size`` at 90000, order
    ``_KRAKEN_ORDER_ID``."""
    venue.watch(
        VenueOrder(
            "s2-entry-1", 0, "t-1", "XXBTZUSD", "BUY", "LIMIT", 90000.0, size,
            venue_order_id=f"XXBTZUSD:{_KRAKEN_ORDER_ID}", status=VenueOrderStatus.ACKNOWLEDGED,
        )
    )  # fmt: skip


def test_a_kraken_orders_trades_are_asked_for_by_their_ids(
    kraken_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """Kraken's trade list has no order filter: it gives the account's latest 50 trades of every
    market, so a busy account's order had its trades booked from the order after
    ``missing_trades_wait_s``, their prices, fees and ids lost. Worse, the order's own answer
    names its trades by id only (ccxt gives them without amount or price), and each such name
    hid the trade of that id in the list: none was ever reported. Kraken's order query gives
    the order's trade ids; its trade query (ccxt's ``fetch_order_trades``) gives those trades,
    up to 20 a request (a request whose ids ccxt splits into full batches ends with an empty
    one, so each is sent fewer)."""
    _kraken_watched(kraken_venue, 0.0025)
    ids = [f"T{n:05d}-AAAAA-BBBBBB" for n in range(25)]
    closed = dict(_kraken_order("closed", "s2-entry-1"), vol="0.00250000", vol_exec="0.00250000")
    closed.update(cost="225.00000", price="90000.0", trades=ids)
    exchange.script("POST", "/0/private/QueryOrders", payload=_kraken_queried(closed))
    trades = {tid: _kraken_trade(tid, "0.00010000", 1763679610.0 + n) for n, tid in enumerate(ids)}
    for batch in (ids[:19], ids[19:]):
        exchange.script(
            "POST", "/0/private/QueryTrades", payload={"error": [], "result": {t: trades[t] for t in batch}}
        )
    events = kraken_venue.poll_events()
    fills = [e for e in events if e.kind == KernelEventKind.FILL]
    assert [f.fill_id for f in fills] == [f"XXBTZUSD:{tid}" for tid in ids]
    assert all(f.metadata.get("fill_source") != "order" for f in fills)
    assert fills[-1].status == VenueOrderStatus.FILLED and fills[-1].filled_size == pytest.approx(0.0025)
    [query] = exchange.calls("POST", "/0/private/QueryOrders")
    assert query.params["trades"] == "True"  # ccxt asks for the order's trade ids
    asked = [c.params["txid"].split(",") for c in exchange.calls("POST", "/0/private/QueryTrades")]
    assert asked == [ids[:19], ids[19:]]
    assert exchange.calls("POST", "/0/private/TradesHistory") == []


def test_a_kraken_batch_of_trade_ids_that_brings_nothing_does_not_end_the_reading(
    kraken_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """The batches of an order's trade ids are asked for each once: one that comes back with
    none of them ended the reading, and the later batches' trades were booked from the order's
    total after ``missing_trades_wait_s``, without their prices, fees and ids."""
    _kraken_watched(kraken_venue, 0.0025)
    ids = [f"T{n:05d}-AAAAA-BBBBBB" for n in range(25)]
    working = dict(_kraken_order("open", "s2-entry-1"), vol_exec="0.00060000", cost="54.00000")
    working["trades"] = ids
    exchange.script("POST", "/0/private/QueryOrders", payload=_kraken_queried(working))
    exchange.script("POST", "/0/private/QueryTrades", payload={"error": [], "result": {}})
    later = {tid: _kraken_trade(tid, "0.00010000", 1763679610.0 + n) for n, tid in enumerate(ids[19:])}
    exchange.script("POST", "/0/private/QueryTrades", payload={"error": [], "result": later})
    fills = [e for e in kraken_venue.poll_events() if e.kind == KernelEventKind.FILL]
    assert [f.fill_id for f in fills] == [f"XXBTZUSD:{tid}" for tid in ids[19:]]
    asked = [c.params["txid"].split(",") for c in exchange.calls("POST", "/0/private/QueryTrades")]
    assert asked == [ids[:19], ids[19:]]


def test_a_kraken_orders_trades_already_reported_are_not_asked_for_again(
    kraken_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """A resting order's answer names every trade it had so far: only those not reported yet are
    asked for, and a request that fails ends the reading (asked again next poll)."""
    _kraken_watched(kraken_venue, 0.02)
    first, second = "TAAAAA-AAAAA-AAAAA1", "TAAAAA-AAAAA-AAAAA2"
    working = dict(_kraken_order("open", "s2-entry-1"), vol_exec="0.00800000", cost="720.00000")
    working["trades"] = [first]
    exchange.script("POST", "/0/private/QueryOrders", payload=_kraken_queried(working))
    exchange.script("POST", "/0/private/QueryTrades", payload={"error": ["EService:Unavailable"]}, status=503)
    assert kraken_venue.poll_events() == []  # the trades could not be asked for: next poll
    exchange.script("POST", "/0/private/QueryOrders", payload=_kraken_queried(working))
    exchange.script(
        "POST",
        "/0/private/QueryTrades",
        payload={"error": [], "result": {first: _kraken_trade(first, "0.00800000", 1763679610.0)}},
    )
    [fill] = kraken_venue.poll_events()
    assert (fill.fill_id, fill.size, fill.status) == (
        f"XXBTZUSD:{first}", 0.008, VenueOrderStatus.PARTIALLY_FILLED
    )  # fmt: skip
    more = dict(working, vol_exec="0.01200000", cost="1080.00000", trades=[first, second])
    exchange.script("POST", "/0/private/QueryOrders", payload=_kraken_queried(more))
    exchange.script(
        "POST",
        "/0/private/QueryTrades",
        payload={"error": [], "result": {second: _kraken_trade(second, "0.00400000", 1763679620.0)}},
    )
    [fill] = kraken_venue.poll_events()
    assert (fill.fill_id, fill.filled_size) == (f"XXBTZUSD:{second}", pytest.approx(0.012))
    asked = [c.params["txid"] for c in exchange.calls("POST", "/0/private/QueryTrades")]
    assert asked == [first, first, second]


def test_a_kraken_orders_trades_not_named_by_its_answer_are_read_from_the_trade_list_unfiltered(
    kraken_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """An order whose answer names no trades (as one found in Kraken's order lists) has its
    trades read from the account's trade list (TradesHistory), which has no order filter: it
    was sent Binance's ``orderId``, which ccxt passes on to Kraken as given. It is asked with
    no order parameter, and the order's trades are kept from what it lists."""
    _kraken_watched(kraken_venue, 0.02)
    working = dict(_kraken_order("open", "s2-entry-1"), vol_exec="0.00800000", cost="720.00000")
    exchange.script("POST", "/0/private/QueryOrders", payload=_kraken_queried(working))
    ours, other = "TAAAAA-AAAAA-AAAAA1", "TAAAAA-AAAAA-AAAAA2"
    listed = {
        ours: _kraken_trade(ours, "0.00800000", 1763679610.0),
        other: dict(_kraken_trade(other, "0.00300000", 1763679611.0), ordertxid="OTHERX-AAAAA-BBBBBB"),
    }
    exchange.script("POST", "/0/private/TradesHistory", payload={"error": [], "result": {"trades": listed}})
    [fill] = kraken_venue.poll_events()
    assert (fill.fill_id, fill.size, fill.status) == (
        f"XXBTZUSD:{ours}", 0.008, VenueOrderStatus.PARTIALLY_FILLED
    )  # fmt: skip
    [asked] = exchange.calls("POST", "/0/private/TradesHistory")
    assert set(asked.params) == {"nonce"}


def test_kraken_order_status_after_a_restart_asks_its_order_lists_once_not_per_market(
    kraken_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Kraken's open and closed order lists are the account's (ccxt keeps a market's orders from
    them after the answer): asked per market after a restart, the same two requests went out
    for every market Kraken serves (hundreds), paced by ccxt. They are asked once; an order
    listed in a market this venue does not trade is not taken."""
    exchange.script("POST", "/0/private/OpenOrders", payload={"error": [], "result": {"open": {}}})
    exchange.script(
        "POST", "/0/private/ClosedOrders", payload={"error": [], "result": {"closed": {}, "count": 0}}
    )
    assert kraken_venue.order_status("s2-entry-1") is None
    for path in ("/0/private/OpenOrders", "/0/private/ClosedOrders"):
        [asked] = exchange.calls("POST", path)
        assert asked.params["cl_ord_id"] == "s2-entry-1"

    closed = {_KRAKEN_ORDER_ID: dict(_kraken_order("canceled", "s2-entry-1"), vol_exec="0.00000000")}
    exchange.script("POST", "/0/private/OpenOrders", payload={"error": [], "result": {"open": {}}})
    exchange.script(
        "POST", "/0/private/ClosedOrders", payload={"error": [], "result": {"closed": closed, "count": 1}}
    )
    found = kraken_venue.order_status("s2-entry-1")
    assert found is not None and found.status == VenueOrderStatus.CANCELED
    assert (found.asset, found.venue_order_id) == ("XXBTZUSD", f"XXBTZUSD:{_KRAKEN_ORDER_ID}")

    with _kraken(exchange, clock, markets=["XETHZUSD"]) as eth_only:
        exchange.script("POST", "/0/private/OpenOrders", payload={"error": [], "result": {"open": {}}})
        exchange.script(
            "POST", "/0/private/ClosedOrders", payload={"error": [], "result": {"closed": closed, "count": 1}}
        )
        assert eth_only.order_status("s2-entry-1") is None
        assert len(exchange.calls("POST", "/0/private/ClosedOrders")) == 3


def test_kraken_order_status_given_the_asset_asks_its_order_lists_once_and_keeps_that_markets_order(
    kraken_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """Given the order's asset, Kraken's lists are still asked once each (they are the account's).
    An order they list under the kernel's client id in another market is not the kernel's
    order: this venue sent that one in its asset's market only, and booking another market's
    fills to it would be wrong. So it is None, as Binance's query in that market says."""

    def lists_answer(closed: dict) -> None:
        exchange.script("POST", "/0/private/OpenOrders", payload={"error": [], "result": {"open": {}}})
        exchange.script(
            "POST", "/0/private/ClosedOrders", payload={"error": [], "result": {"closed": closed, "count": 1}}
        )

    in_btc = {_KRAKEN_ORDER_ID: dict(_kraken_order("canceled", "s2-entry-1"), vol_exec="0.00000000")}
    lists_answer(in_btc)
    assert kraken_venue.order_status("s2-entry-1", asset="XETHZUSD") is None
    lists_answer(in_btc)
    found = kraken_venue.order_status("s2-entry-1", asset="XXBTZUSD")
    assert found is not None and found.status == VenueOrderStatus.CANCELED
    assert (found.asset, found.venue_order_id) == ("XXBTZUSD", f"XXBTZUSD:{_KRAKEN_ORDER_ID}")
    # The id in both markets (another client's order, say): the asset's market's is the one.
    in_eth = dict(_kraken_order("closed", "s2-entry-1"), vol_exec="0.02000000", cost="60.00000")
    in_eth.update(price="3000.0", descr={**in_eth["descr"], "pair": "ETHUSD"})
    lists_answer({**in_btc, "OETHAA-BW3P3-BUCMWZ": in_eth})
    found = kraken_venue.order_status("s2-entry-1", asset="XETHZUSD")
    assert found is not None and (found.asset, found.status) == ("XETHZUSD", VenueOrderStatus.FILLED)
    assert found.venue_order_id == "XETHZUSD:OETHAA-BW3P3-BUCMWZ"
    for path in ("/0/private/OpenOrders", "/0/private/ClosedOrders"):
        assert [c.params["cl_ord_id"] for c in exchange.calls("POST", path)] == ["s2-entry-1"] * 3


def test_kraken_client_ids_are_free_text_of_18_at_most_or_a_uuid() -> None:
    assert CcxtVenue.venue_client_id("trend-1-17", "kraken") == "trend-1-17"
    hashed = CcxtVenue.venue_client_id("momentum-btc-usd-kernel-1-1234", "kraken")
    assert re.fullmatch(r"[0-9a-f]{32}", hashed)  # Kraken's short UUID form


# -- Bybit: orders found in its order lists ------------------------------------------------

_BYBIT_ORDER_ID = "2061377262817612800"


def _bybit(result: object) -> dict:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1763679600000}


def _bybit_list(*items: dict) -> dict:
    return _bybit({"category": "spot", "nextPageCursor": "", "list": list(items)})


def _bybit_order(
    status: str, filled: str, value: str, link_id: str = "s2-entry-1", order_id: str = _BYBIT_ORDER_ID
) -> dict:
    """A limit buy of 0.02 BTCUSDT at 90000 as Bybit lists it (open or closed)."""
    left = f"{0.02 - float(filled):.3f}" if status in ("New", "PartiallyFilled") else "0"
    return {
        "orderId": order_id, "orderLinkId": link_id, "symbol": "BTCUSDT", "price": "90000", "qty": "0.02",
        "side": "Buy", "isLeverage": "0", "positionIdx": 0, "orderStatus": status, "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError", "avgPrice": "90000" if float(filled) else "", "leavesQty": left,
        "leavesValue": "0", "cumExecQty": filled, "cumExecValue": value, "cumExecFee": "0",
        "timeInForce": "GTC", "orderType": "Limit", "stopOrderType": "", "triggerPrice": "0.00",
        "takeProfit": "0.00", "stopLoss": "0.00", "reduceOnly": False, "closeOnTrigger": False,
        "createdTime": "1763679601000", "updatedTime": "1763679610000",
    }  # fmt: skip


def _bybit_trade(exec_id: str, qty: str, exec_time: int) -> dict:
    return {
        "symbol": "BTCUSDT", "orderId": _BYBIT_ORDER_ID, "orderLinkId": "s2-entry-1", "side": "Buy",
        "orderType": "Limit", "execId": exec_id, "execPrice": "90000", "execQty": qty,
        "execValue": f"{90000 * float(qty):.2f}", "execFee": "0", "feeRate": "0.001", "isMaker": True,
        "execType": "Trade", "execTime": str(exec_time), "orderQty": "0.02", "orderPrice": "90000",
    }  # fmt: skip


_BYBIT_INSTRUMENTS = _bybit(
    {
        "category": "spot",
        "list": [
            {
                "symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "innovation": "0",
                "status": "Trading", "marginTrading": "both",
                "lotSizeFilter": {
                    "basePrecision": "0.000001", "quotePrecision": "0.00000001", "minOrderQty": "0.000048",
                    "maxOrderQty": "71.7", "minOrderAmt": "1", "maxOrderAmt": "2000000",
                },
                "priceFilter": {"tickSize": "0.01"},
            },
            {
                "symbol": "ETHUSDT", "baseCoin": "ETH", "quoteCoin": "USDT", "innovation": "0",
                "status": "Trading", "marginTrading": "both",
                "lotSizeFilter": {
                    "basePrecision": "0.00001", "quotePrecision": "0.0000001", "minOrderQty": "0.00062",
                    "maxOrderQty": "1229.2", "minOrderAmt": "1", "maxOrderAmt": "2000000",
                },
                "priceFilter": {"tickSize": "0.01"},
            },
        ],
    }
)  # fmt: skip


def _keyed_venue(
    exchange: RecordedExchange,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    exchange_id: str,
    *,
    passphrase: bool = False,
    **settings: object,
) -> CcxtVenue:
    """A venue on ``exchange_id`` against the recorded exchange, its test keys (and passphrase)
    in the environment as ``DITA_TEST_<ID>_KEY``..., on the test's clock."""
    env = f"DITA_TEST_{exchange_id.upper()}"
    keys = {"api_key_env": f"{env}_KEY", "secret_env": f"{env}_SECRET"}
    if passphrase:
        keys["password_env"] = f"{env}_PASSPHRASE"
    for name in keys.values():
        monkeypatch.setenv(name, f"{exchange_id}-{name.rsplit('_', 1)[1].lower()}")
    return CcxtVenue(
        exchange=exchange_id,
        base_url=exchange.url,
        timeout_ms=CLIENT_TIMEOUT_MS,
        rate_limit_ms=1,
        clock=clock,
        sleep=clock.sleep,
        **keys,
        **settings,
    )


@pytest.fixture
def bybit_venue(
    exchange: RecordedExchange, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CcxtVenue]:
    """A Bybit spot venue on a unified account (the default account type): ccxt asks which
    account it is before its first order, and its order query refuses to run there."""
    exchange.script("GET", "/v5/market/instruments-info", payload=_BYBIT_INSTRUMENTS, repeat=True)
    # ccxt's Bybit lists the currencies (a private request) with its markets once it has keys.
    exchange.script("GET", "/v5/asset/coin/query-info", payload=_bybit({"rows": []}), repeat=True)
    exchange.script(
        "GET", "/v5/user/query-api", payload=_bybit({"readOnly": 0, "unified": 0, "uta": 1}), repeat=True
    )
    exchange.script("GET", "/v5/account/info", payload=_bybit({"unifiedMarginStatus": 5}), repeat=True)
    venue = _keyed_venue(
        exchange, clock, monkeypatch, "bybit", resolve_delay_ms=0, unknown_order_grace_s=30.0
    )
    venue.load_markets()
    yield venue
    venue.close()


def _bybit_limit_buy() -> VenueOrder:
    return make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02)


def test_a_resting_bybit_order_is_followed_through_its_order_lists_until_it_fills(
    bybit_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """On a unified account ccxt's Bybit order query refuses to run unless told its caller knows
    it sees the last 500 orders only (ArgumentsRequired): every poll failed, and a resting
    order's fills and end were never reported. It is asked for in the open orders, then in the
    closed ones (canceled included: ccxt's fetch_closed_orders would ask for filled ones only)."""
    exchange.script(
        "POST", "/v5/order/create", payload=_bybit({"orderId": _BYBIT_ORDER_ID, "orderLinkId": "s2-entry-1"})
    )
    [ack] = bybit_venue.submit(_bybit_limit_buy())
    assert (ack.kind.name, ack.venue_order_id) == ("ORDER_ACK", f"BTCUSDT:{_BYBIT_ORDER_ID}")
    assert exchange.calls("POST", "/v5/order/create")[0].params["orderLinkId"] == "s2-entry-1"

    first = _bybit_trade("2100000000061220001", "0.008", 1763679610000)
    exchange.script(
        "GET", "/v5/order/realtime", payload=_bybit_list(_bybit_order("PartiallyFilled", "0.008", "720"))
    )
    exchange.script("GET", "/v5/execution/list", payload=_bybit_list(first))
    [partial] = bybit_venue.poll_events()
    assert (partial.kind.name, partial.fill_id, partial.status) == (
        "FILL", "BTCUSDT:2100000000061220001", VenueOrderStatus.PARTIALLY_FILLED
    )  # fmt: skip
    assert partial.size == 0.008

    # Filled since: no longer open, listed among the closed orders.
    second = _bybit_trade("2100000000061220002", "0.012", 1763679620000)
    exchange.script("GET", "/v5/order/realtime", payload=_bybit_list())
    exchange.script("GET", "/v5/order/history", payload=_bybit_list(_bybit_order("Filled", "0.02", "1800")))
    exchange.script("GET", "/v5/execution/list", payload=_bybit_list(first, second))
    [full] = bybit_venue.poll_events()
    assert (full.kind.name, full.fill_id, full.size) == ("FILL", "BTCUSDT:2100000000061220002", 0.012)
    assert full.status == VenueOrderStatus.FILLED and full.filled_size == pytest.approx(0.02)
    assert bybit_venue.poll_events() == []  # filled: asked about no more

    asked = exchange.calls("GET", "/v5/order/realtime") + exchange.calls("GET", "/v5/order/history")
    assert len(asked) == 3
    for call in asked:
        assert (call.params["orderId"], call.params["symbol"], call.params["category"]) == (
            _BYBIT_ORDER_ID, "BTCUSDT", "spot"
        )  # fmt: skip
    assert "orderStatus" not in exchange.calls("GET", "/v5/order/history")[0].params
    assert [c.params["orderId"] for c in exchange.calls("GET", "/v5/execution/list")] == [_BYBIT_ORDER_ID] * 2


def test_a_bybit_order_older_than_bybits_default_range_is_read_over_its_whole_life(
    bybit_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Bybit's execution list, asked for no time range, gives the last 7 days, the order's id
    given or not, and a range spans 7 days at most: the trades of an order made 20 days ago
    (taken over after a restart) were missed, and its fills booked from the order with no fee
    of their own. It is asked from the order's making to now, 7 days a request, from the oldest."""
    week_ms = 7 * 86_400_000
    made = int(clock.now) * 1000 - 20 * 86_400_000
    trades = [
        _bybit_trade(f"21000000000612200{n}", qty, at)
        for n, (qty, at) in enumerate((("0.005", made + 60_000), ("0.007", made + 8 * 86_400_000),
                                       ("0.008", made + 15 * 86_400_000)))
    ]  # fmt: skip
    order = VenueOrder(
        "s2-entry-1", 0, "t-1", "BTCUSDT", "BUY", "LIMIT", 90000.0, 0.02,
        venue_order_id=f"BTCUSDT:{_BYBIT_ORDER_ID}", status=VenueOrderStatus.ACKNOWLEDGED,
    )  # fmt: skip
    bybit_venue.watch(order)
    filled = dict(
        _bybit_order("Filled", "0.02", "1800"), createdTime=str(made), updatedTime=str(made + 15 * 86_400_000)
    )
    exchange.script("GET", "/v5/order/realtime", payload=_bybit_list(), repeat=True)
    exchange.script("GET", "/v5/order/history", payload=_bybit_list(filled), repeat=True)
    for trade in trades:
        exchange.script("GET", "/v5/execution/list", payload=_bybit_list(trade))
    fills = [e for e in bybit_venue.poll_events() if e.kind == KernelEventKind.FILL]
    assert [f.fill_id for f in fills] == [f"BTCUSDT:{t['execId']}" for t in trades]
    assert all(f.metadata.get("fill_source") != "order" for f in fills)
    assert fills[-1].status == VenueOrderStatus.FILLED
    asked = exchange.calls("GET", "/v5/execution/list")
    assert [(int(c.params["startTime"]), int(c.params["endTime"]), c.params["orderId"]) for c in asked] == [
        (made, made + week_ms, _BYBIT_ORDER_ID),
        (made + week_ms, made + 2 * week_ms, _BYBIT_ORDER_ID),
        (made + 2 * week_ms, int(clock.now) * 1000, _BYBIT_ORDER_ID),
    ]


def script_bybit_found_filled(exchange: RecordedExchange) -> None:
    """Bybit's answers to the lookup of the order ``_bybit_limit_buy`` sent: not open, filled
    in its history, and its one trade."""
    exchange.script("GET", "/v5/order/realtime", payload=_bybit_list())
    exchange.script("GET", "/v5/order/history", payload=_bybit_list(_bybit_order("Filled", "0.02", "1800")))
    exchange.script(
        "GET",
        "/v5/execution/list",
        payload=_bybit_list(_bybit_trade("2100000000061220009", "0.02", 1763679610000)),
    )


def test_a_bybit_order_whose_submit_timed_out_is_found_by_its_order_link_id(
    bybit_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """A timed-out submit was looked up with ccxt's order query: refused on a unified account,
    and sending the client id as ``clientOrderId``, a field Bybit does not have, where setting
    ``acknowledged`` would get it through. The open and closed lists are asked by
    ``orderLinkId``, the id the order went out with."""
    exchange.script("POST", "/v5/order/create", payload=_bybit({}), delay=HOLD)
    script_bybit_found_filled(exchange)
    events = bybit_venue.submit(_bybit_limit_buy())
    assert [(e.kind.name, e.venue_order_id) for e in events] == [
        ("ORDER_ACK", f"BTCUSDT:{_BYBIT_ORDER_ID}"),
        ("FILL", f"BTCUSDT:{_BYBIT_ORDER_ID}"),
    ]
    assert events[1].status == VenueOrderStatus.FILLED and bybit_venue.unresolved_orders() == []
    for path in ("/v5/order/realtime", "/v5/order/history"):
        [lookup] = exchange.calls("GET", path)
        assert lookup.params["orderLinkId"] == "s2-entry-1"
        assert "clientOrderId" not in lookup.params and "orderId" not in lookup.params


def test_a_bybit_order_listed_nowhere_is_rejected_after_the_grace_and_a_throttle_counts_neither_way(
    bybit_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Bybit lists no order sent as s2-entry-1 (an order of another link id does not count): that
    is "no such order", and after ``unknown_order_grace_s`` of it the submit is reported
    rejected, where a lookup ccxt refuses would leave it unresolved for ever. A throttled lookup
    says nothing about the order: it neither ends the grace nor restarts it."""
    exchange.script("POST", "/v5/order/create", payload=_bybit({}), delay=HOLD)
    other = _bybit_order("Cancelled", "0", "0", link_id="s9-entry-1", order_id="2061377262817612899")
    for _ in range(2):  # each of the submit's two lookups
        exchange.script("GET", "/v5/order/realtime", payload=_bybit_list())
        exchange.script("GET", "/v5/order/history", payload=_bybit_list(other))
    with pytest.raises(VenueTimeout):
        bybit_venue.submit(_bybit_limit_buy())
    assert bybit_venue.unresolved_orders() == ["s2-entry-1"]
    assert len(exchange.calls("GET", "/v5/order/history")) == 2  # each of the submit's lookups

    throttled = {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": 0}
    exchange.script("GET", "/v5/order/realtime", payload=throttled)
    exchange.script("GET", "/v5/order/realtime", payload=_bybit_list())
    exchange.script("GET", "/v5/order/history", payload=_bybit_list(other))
    clock.advance(31.0)  # past the grace, counted from the first "no such order"
    assert bybit_venue.poll_events() == []
    assert bybit_venue.unresolved_orders() == ["s2-entry-1"]
    clock.advance(1.0)  # the throttle's default pause
    [rejected] = bybit_venue.poll_events()
    assert (rejected.kind.name, rejected.status) == ("REJECT", VenueOrderStatus.REJECTED)
    assert rejected.reason == (
        "bybit-spot has answered it has no order with client id 's2-entry-1' for 32.0s: it never "
        "reached the exchange"
    )
    assert bybit_venue.unresolved_orders() == []
    asked = len(exchange.calls("GET", "/v5/order/realtime"))
    assert bybit_venue.poll_events() == [] and len(exchange.calls("GET", "/v5/order/realtime")) == asked


def test_bybit_order_status_after_a_restart_given_the_asset_asks_that_markets_lists_only(
    bybit_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """Bybit's order lists are a market's, so an order a restarted adapter has no record of was
    looked for in each market it serves, its open and closed lists each (no lookup without a
    market is tried there). Given the order's asset, that market's two lists are asked."""
    exchange.script("GET", "/v5/order/realtime", payload=_bybit_list())
    exchange.script("GET", "/v5/order/history", payload=_bybit_list(_bybit_order("Filled", "0.02", "1800")))
    found = bybit_venue.order_status("s2-entry-1", asset="BTCUSDT")
    assert found is not None and (found.asset, found.status) == ("BTCUSDT", VenueOrderStatus.FILLED)
    assert found.venue_order_id == f"BTCUSDT:{_BYBIT_ORDER_ID}"
    assert found.filled_size == pytest.approx(0.02)
    asked = exchange.calls("GET", "/v5/order/realtime") + exchange.calls("GET", "/v5/order/history")
    assert [(c.params["symbol"], c.params["orderLinkId"]) for c in asked] == [("BTCUSDT", "s2-entry-1")] * 2

    # Without the asset: each market's two lists (answering none here).
    for _ in range(2):
        exchange.script("GET", "/v5/order/realtime", payload=_bybit_list())
        exchange.script("GET", "/v5/order/history", payload=_bybit_list())
    assert bybit_venue.order_status("s2-entry-1") is None
    later = exchange.calls("GET", "/v5/order/realtime")[1:]
    assert sorted(c.params["symbol"] for c in later) == ["BTCUSDT", "ETHUSDT"]


def test_a_bybit_order_with_more_trades_than_a_page_is_read_to_its_last_trade(
    bybit_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """Bybit's execution list gives 50 trades a request unless asked for up to 100, newest first,
    and the next page by the ``nextPageCursor`` of its answer: one page was read, and an order
    that traded 150 times had its 50 oldest trades booked from the order after
    ``missing_trades_wait_s``, their prices, fees and ids lost. The list is read page by page
    (``cursor``) until the order's trades are all in."""
    exchange.script(
        "POST", "/v5/order/create", payload=_bybit({"orderId": _BYBIT_ORDER_ID, "orderLinkId": "s2-entry-1"})
    )
    bybit_venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.015))
    filled = dict(_bybit_order("Filled", "0.015", "1350"), qty="0.015")
    exchange.script("GET", "/v5/order/realtime", payload=_bybit_list(filled))
    trades = [_bybit_trade(f"21000000000612{n:05d}", "0.0001", 1763679610000 + n) for n in range(150)]
    newest_first = trades[::-1]
    exchange.script(
        "GET",
        "/v5/execution/list",
        payload=_bybit({"category": "spot", "nextPageCursor": "page-2", "list": newest_first[:100]}),
    )
    exchange.script("GET", "/v5/execution/list", payload=_bybit_list(*newest_first[100:]))
    events = bybit_venue.poll_events()
    fills = [e for e in events if e.kind == KernelEventKind.FILL]
    assert len(fills) == 150 and len({f.fill_id for f in fills}) == 150
    assert all(f.metadata.get("fill_source") != "order" for f in fills)
    assert fills[-1].status == VenueOrderStatus.FILLED and fills[-1].filled_size == pytest.approx(0.015)
    first, second = exchange.calls("GET", "/v5/execution/list")
    assert (first.params["limit"], first.params["orderId"]) == ("100", _BYBIT_ORDER_ID)
    assert "cursor" not in first.params
    assert (second.params["cursor"], second.params["orderId"]) == ("page-2", _BYBIT_ORDER_ID)


# -- OKX: an order's trades asked for by its ordId -------------------------------------------

_OKX_ORDER_ID = "680800019749904384"


def _okx(*data: dict) -> dict:
    return {"code": "0", "msg": "", "data": list(data)}


_OKX_SPOT = _okx(
    {
        "instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT", "settleCcy": "",
        "ctVal": "", "ctMult": "", "ctValCcy": "", "listTime": "1606468572000", "expTime": "", "lever": "10",
        "tickSz": "0.1", "lotSz": "0.00000001", "minSz": "0.00001", "ctType": "", "state": "live",
        "maxLmtSz": "9999999999", "maxMktSz": "1000000",
    }
)  # fmt: skip


def _okx_trade(trade_id: str, order_id: str) -> dict:
    return {
        "instType": "SPOT", "instId": "BTC-USDT", "tradeId": trade_id, "ordId": order_id, "clOrdId": "",
        "billId": f"9{trade_id}", "fillPx": "90000", "fillSz": "0.008", "side": "buy", "execType": "M",
        "feeCcy": "USDT", "fee": "-0.144", "ts": "1763679610000", "fillTime": "1763679610000",
    }  # fmt: skip


def _okx_order(client_id: str) -> dict:
    """A limit buy of 0.02 BTC-USDT at 90000, 0.008 of it filled, as OKX gives it."""
    return {
        "instType": "SPOT", "instId": "BTC-USDT", "ordId": _OKX_ORDER_ID, "clOrdId": client_id,
        "px": "90000", "sz": "0.02", "ordType": "limit", "side": "buy", "tdMode": "cash",
        "accFillSz": "0.008", "avgPx": "90000", "state": "partially_filled", "feeCcy": "USDT",
        "fee": "-0.144", "uTime": "1763679610000", "cTime": "1763679601000",
    }  # fmt: skip


@pytest.fixture
def okx_venue(
    exchange: RecordedExchange, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CcxtVenue]:
    exchange.script("GET", "/api/v5/public/instruments", payload=_OKX_SPOT, repeat=True)
    # ccxt's OKX lists the currencies (a private request) with its markets once it has keys.
    exchange.script("GET", "/api/v5/asset/currencies", payload=_okx(), repeat=True)
    venue = _keyed_venue(exchange, clock, monkeypatch, "okx", passphrase=True)
    yield venue
    venue.close()


def _okx_resting(venue: CcxtVenue, size: float = 0.02) -> VenueOrder:
    """A limit buy of ``size`` BTC-USDT at 90000 sent before a restart, followed (``watch``)."""
    order = VenueOrder(
        "s2-entry-1", 0, "t-1", "BTC-USDT", "BUY", "LIMIT", 90000.0, size,
        venue_order_id=f"BTC-USDT:{_OKX_ORDER_ID}", status=VenueOrderStatus.ACKNOWLEDGED,
    )  # fmt: skip
    venue.watch(order)
    return order


def test_an_okx_orders_trades_are_asked_for_by_its_ord_id(
    okx_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """An order's trades were asked for with Binance's ``orderId``, a parameter OKX's trade list
    does not have (its is ``ordId``), which ccxt passes on as given: the order's trades were not
    what was asked for. Only the order's trades are reported, whatever else the list holds."""
    venue = okx_venue
    order = _okx_resting(venue)
    exchange.script(
        "GET", "/api/v5/trade/order", payload=_okx(_okx_order(venue.listed_client_order_id(order)))
    )
    exchange.script(
        "GET",
        "/api/v5/trade/fills-history",
        payload=_okx(_okx_trade("5101", "680800019749900000"), _okx_trade("5102", _OKX_ORDER_ID)),
    )
    [fill] = venue.poll_events()
    assert (fill.kind.name, fill.fill_id, fill.size, fill.fee) == ("FILL", "BTC-USDT:5102", 0.008, 0.144)
    assert exchange.calls("GET", "/api/v5/trade/order")[0].params["ordId"] == _OKX_ORDER_ID
    [trades] = exchange.calls("GET", "/api/v5/trade/fills-history")
    assert trades.params.get("ordId") == _OKX_ORDER_ID and "orderId" not in trades.params


def test_an_okx_order_with_more_trades_than_a_page_is_read_to_its_last_trade(
    okx_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """OKX's fill list gives 100 fills a request, newest first, and the older ones ``after`` the
    ``billId`` of the last one: one page was read, and an order that filled 150 times had its
    50 oldest fills booked from the order after ``missing_trades_wait_s``, their prices, fees
    and ids lost. The list is read page by page until the order's fills are all in. Many fills
    of one sweep share a millisecond: paged by time (ccxt's own ``paginate`` asks for those
    before the oldest one's time), the others of that millisecond would be skipped."""
    order = _okx_resting(okx_venue, size=0.015)
    filled = dict(_okx_order(okx_venue.listed_client_order_id(order)), sz="0.015", accFillSz="0.015")
    filled.update(state="filled", avgPx="90000")
    exchange.script("GET", "/api/v5/trade/order", payload=_okx(filled))
    # Seven fills a millisecond: the first page ends within one (fills 49 to 55).
    fills = [
        dict(_okx_trade(f"{6000 + n}", _OKX_ORDER_ID), billId=f"{80000 + n}", fillSz="0.0001",
             fee="-0.0018", ts=str(1763679610000 + n // 7), fillTime=str(1763679610000 + n // 7))
        for n in range(150)
    ]  # fmt: skip
    newest_first = fills[::-1]
    exchange.script("GET", "/api/v5/trade/fills-history", payload=_okx(*newest_first[:100]))
    exchange.script("GET", "/api/v5/trade/fills-history", payload=_okx(*newest_first[100:]))
    events = okx_venue.poll_events()
    got = [e for e in events if e.kind == KernelEventKind.FILL]
    assert len(got) == 150 and len({f.fill_id for f in got}) == 150
    assert all(f.metadata.get("fill_source") != "order" for f in got)
    assert got[-1].status == VenueOrderStatus.FILLED and got[-1].filled_size == pytest.approx(0.015)
    assert "okx-spot:fill:BTC-USDT:6049" in {f.event_id for f in got}
    first, second = exchange.calls("GET", "/api/v5/trade/fills-history")
    assert (first.params["limit"], first.params["ordId"]) == ("100", _OKX_ORDER_ID)
    assert "after" not in first.params
    # The oldest fill of the first page is bill 80050: the next page is the fills before it.
    assert (second.params["after"], second.params["ordId"]) == ("80050", _OKX_ORDER_ID)


def test_an_okx_page_that_cannot_be_read_ends_the_reading_with_the_pages_read(
    okx_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """A page that fails is not retried (a throttled exchange would be asked again at once): the
    fills of the pages read are reported, and the next poll reads the list again from the
    newest, those already reported counting once."""
    order = _okx_resting(okx_venue, size=0.015)
    filled = dict(_okx_order(okx_venue.listed_client_order_id(order)), sz="0.015", accFillSz="0.015")
    filled.update(state="filled", avgPx="90000")
    exchange.script("GET", "/api/v5/trade/order", payload=_okx(filled), repeat=True)
    fills = [
        dict(_okx_trade(f"{6000 + n}", _OKX_ORDER_ID), billId=f"{80000 + n}", fillSz="0.0001", fee="-0.0018")
        for n in range(150)
    ][::-1]
    exchange.script("GET", "/api/v5/trade/fills-history", payload=_okx(*fills[:100]))
    exchange.script(
        "GET", "/api/v5/trade/fills-history", payload={"code": "50001", "msg": "busy"}, status=503
    )
    first = okx_venue.poll_events()
    assert len(first) == 100 and first[-1].status == VenueOrderStatus.PARTIALLY_FILLED
    exchange.script("GET", "/api/v5/trade/fills-history", payload=_okx(*fills[:100]))
    exchange.script("GET", "/api/v5/trade/fills-history", payload=_okx(*fills[100:]))
    rest = okx_venue.poll_events()
    assert len(rest) == 50 and {f.fill_id for f in rest}.isdisjoint(f.fill_id for f in first)
    assert rest[-1].status == VenueOrderStatus.FILLED and rest[-1].filled_size == pytest.approx(0.015)
    assert [c.params.get("after") for c in exchange.calls("GET", "/api/v5/trade/fills-history")] == [
        None, "80050", None, "80050"
    ]  # fmt: skip
    assert okx_venue.poll_events() == []


def test_an_okx_venue_lists_the_open_orders_and_positions_of_its_own_market_type(
    okx_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OKX's lists of the account's working orders and positions hold every instrument type
    (spot, margin, swaps, dated futures, options) unless asked for one: a spot venue's open
    orders held the account's swap orders, of markets it has not loaded."""
    listed = _okx_order("dita0a1b2c3d4e5f60718293a4b5c6d7")
    exchange.script("GET", "/api/v5/trade/orders-pending", payload=_okx(listed))
    (order,) = okx_venue.open_orders()
    assert (order.client_order_id, order.venue_order_id) == (listed["clOrdId"], f"BTC-USDT:{_OKX_ORDER_ID}")
    swaps = _okx(_okx_swap("ETC-USDT-SWAP", "USDT", "linear", "1"))
    exchange.replace("GET", "/api/v5/public/instruments", swaps)
    linear = _keyed_venue(exchange, clock, monkeypatch, "okx", passphrase=True, market_type="linear")
    try:
        exchange.script("GET", "/api/v5/trade/orders-pending", payload=_okx())
        exchange.script("GET", "/api/v5/account/positions", payload=_okx())
        assert linear.open_orders() == [] and linear.positions() == {}
    finally:
        linear.close()
    asked = [c.params.get("instType") for c in exchange.calls("GET", "/api/v5/trade/orders-pending")]
    assert asked == ["SPOT", "SWAP"]
    assert [c.params.get("instType") for c in exchange.calls("GET", "/api/v5/account/positions")] == ["SWAP"]


# -- Gate: a spot order's trades read page by page -------------------------------------------

_GATE_ORDER_ID = "1852454420"


def _gate_trade(n: int) -> dict:
    """Trade ``n`` of order ``_GATE_ORDER_ID``, 0.0001 BTC bought at a price of its own, as Gate's
    spot trade list gives it."""
    return {
        "id": str(5_000_000 + n), "create_time": str(1763679610 + n // 100),
        "create_time_ms": f"{1763679610000 + n * 10}.000", "currency_pair": "BTC_USDT", "side": "buy",
        "role": "maker", "amount": "0.0001", "price": f"{89000 + n / 10:.1f}", "order_id": _GATE_ORDER_ID,
        "fee": "0.0000002", "fee_currency": "BTC", "point_fee": "0", "gt_fee": "0",
    }  # fmt: skip


@pytest.fixture
def gate_venue(
    exchange: RecordedExchange, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CcxtVenue]:
    """A Gate spot venue: ccxt's Gate lists the currencies, and asks whether the account is a
    unified one (a private request), with its markets."""
    pair = {
        "id": "BTC_USDT", "base": "BTC", "quote": "USDT", "fee": "0.2", "min_base_amount": "0.00001",
        "min_quote_amount": "3", "amount_precision": 6, "precision": 1, "trade_status": "tradable",
        "sell_start": 0, "buy_start": 0,
    }  # fmt: skip
    exchange.script("GET", "/api/v4/spot/currency_pairs", payload=[pair], repeat=True)
    exchange.script("GET", "/api/v4/margin/currency_pairs", payload=[], repeat=True)
    exchange.script("GET", "/api/v4/spot/currencies", payload=[], repeat=True)
    exchange.script("GET", "/api/v4/account/detail", payload={"user_id": 1, "key": {"mode": 1}}, repeat=True)
    venue = _keyed_venue(exchange, clock, monkeypatch, "gate")
    venue.load_markets()
    yield venue
    venue.close()


def _gate_filled(venue: CcxtVenue, exchange: RecordedExchange, trades: int, **fields: str) -> None:
    """Has ``venue`` follow a limit buy at 90000, order ``_GATE_ORDER_ID``, which Gate answers
    filled in ``trades`` trades of 0.0001 (the answer's ``fields`` as given)."""
    size = f"{trades / 10_000:.4f}"
    cost = sum(float(_gate_trade(n)["price"]) for n in range(trades)) / 10_000
    order = VenueOrder(
        "s2-entry-1", 0, "t-1", "BTC_USDT", "BUY", "LIMIT", 90000.0, float(size),
        venue_order_id=f"BTC_USDT:{_GATE_ORDER_ID}", status=VenueOrderStatus.ACKNOWLEDGED,
    )  # fmt: skip
    venue.watch(order)
    answer = {
        "id": _GATE_ORDER_ID, "text": venue.listed_client_order_id(order), "create_time": "1763679601",
        "update_time": "1763679640", "create_time_ms": "1763679601000", "update_time_ms": "1763679640000",
        "status": "closed", "finish_as": "filled", "currency_pair": "BTC_USDT", "type": "limit",
        "account": "spot", "side": "buy", "amount": size, "price": "90000", "time_in_force": "gtc",
        "left": "0", "filled_amount": size, "filled_total": f"{cost:.2f}",
        "avg_deal_price": f"{cost / float(size):.2f}", "fee": "0", "fee_currency": "BTC", "point_fee": "0",
        "gt_fee": "0",
    }  # fmt: skip
    exchange.script("GET", f"/api/v4/spot/orders/{_GATE_ORDER_ID}", payload=answer | fields, repeat=True)


def test_a_gate_order_with_more_trades_than_a_page_is_read_to_its_last_trade(
    gate_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """Gate's spot trade list gives 100 trades a request unless asked for up to 1000, and the
    next ones by page number (``page``, from 1): one page was read, and an order that traded
    2300 times had the 2200 trades past it booked from the order after
    ``missing_trades_wait_s``, their prices, fees and ids lost. The list is read page by page,
    each asked for the order's trades (``order_id``), until the order's trades are all in."""
    _gate_filled(gate_venue, exchange, 2300)
    trades = [_gate_trade(n) for n in range(2300)]
    for start in (0, 1000, 2000):
        exchange.script("GET", "/api/v4/spot/my_trades", payload=trades[start : start + 1000])
    fills = [e for e in gate_venue.poll_events() if e.kind == KernelEventKind.FILL]
    assert [(f.fill_id, f.price) for f in fills] == [
        (f"BTC_USDT:{t['id']}", float(t["price"])) for t in trades
    ]
    assert all(f.metadata.get("fill_source") != "order" for f in fills)
    assert fills[-1].status == VenueOrderStatus.FILLED and fills[-1].filled_size == pytest.approx(0.23)
    asked = exchange.calls("GET", "/api/v4/spot/my_trades")
    assert [(c.params.get("page"), c.params["limit"], c.params["order_id"]) for c in asked] == [
        (None, "1000", _GATE_ORDER_ID), ("2", "1000", _GATE_ORDER_ID), ("3", "1000", _GATE_ORDER_ID)
    ]  # fmt: skip
    assert {c.params["currency_pair"] for c in asked} == {"BTC_USDT"}


def test_a_gate_order_whose_submit_timed_out_is_canceled_by_its_client_id(
    gate_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """An order with no exchange id yet (its submit timed out) is canceled by its client id.
    ccxt's Gate puts the order id in the path and has no other field for a client id: the cancel
    went to ``/spot/orders/None`` and never reached the order, which could fill. Gate takes the
    order's ``text`` in place of its id while it works, as the lookups by client id send it."""
    order = make_order("s2-entry-1", asset="BTC_USDT", order_type="LIMIT", price=90000.0, size=0.02)
    sent_as = gate_venue.listed_client_order_id(order)
    missing = {"label": "ORDER_NOT_FOUND", "message": "Order not found"}
    exchange.script("POST", "/api/v4/spot/orders", payload={}, delay=HOLD)
    for _ in range(2):  # the submit's lookups: not found yet, working or finished
        exchange.script("GET", f"/api/v4/spot/orders/{sent_as}", payload=missing, status=404)
        exchange.script("GET", "/api/v4/spot/orders", payload=[])
    with pytest.raises(VenueTimeout):
        gate_venue.submit(order)
    canceled = {
        "id": _GATE_ORDER_ID, "text": sent_as, "create_time_ms": "1763679601000",
        "update_time_ms": "1763679640000", "status": "cancelled", "finish_as": "cancelled",
        "currency_pair": "BTC_USDT", "type": "limit", "account": "spot", "side": "buy", "amount": "0.02",
        "price": "90000", "time_in_force": "gtc", "left": "0.02", "filled_amount": "0", "filled_total": "0",
    }  # fmt: skip
    exchange.script("DELETE", f"/api/v4/spot/orders/{sent_as}", payload=canceled)
    events = gate_venue.cancel(order)
    assert [(e.kind.name, e.venue_order_id) for e in events] == [
        ("ORDER_ACK", f"BTC_USDT:{_GATE_ORDER_ID}"), ("CANCEL_ACK", f"BTC_USDT:{_GATE_ORDER_ID}")
    ]  # fmt: skip
    assert gate_venue.unresolved_orders() == []


def test_a_gate_list_that_ignores_the_page_asked_for_is_read_no_further(
    gate_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """A list that answers every page with the first gives nothing new on the second: the reading
    ends there, rather than asking for page after page for ever. The trades read are reported;
    the rest is booked from the order later (``missing_trades_wait_s``)."""
    _gate_filled(gate_venue, exchange, 1500)
    first_page = [_gate_trade(n) for n in range(1000)]
    for _ in range(3):  # a third request would be answered the same (and fail the test)
        exchange.script("GET", "/api/v4/spot/my_trades", payload=first_page)
    fills = [e for e in gate_venue.poll_events() if e.kind == KernelEventKind.FILL]
    assert [f.fill_id for f in fills] == [f"BTC_USDT:{t['id']}" for t in first_page]
    assert fills[-1].status == VenueOrderStatus.PARTIALLY_FILLED
    assert fills[-1].filled_size == pytest.approx(0.1)
    asked = exchange.calls("GET", "/api/v4/spot/my_trades")
    assert [(c.params.get("page"), c.params["order_id"]) for c in asked] == [
        (None, _GATE_ORDER_ID), ("2", _GATE_ORDER_ID)
    ]  # fmt: skip


def test_gate_pages_are_asked_for_up_to_the_last_one_gate_serves() -> None:
    """Gate serves the pages with limit * (page - 1) up to 100,000 (101 of 1000) and refuses the
    next: the page after it is not asked for."""
    full = [_gate_trade(n) for n in range(1000)]
    assert ccxt_venue._gate_next_page(full, {"order_id": _GATE_ORDER_ID}) == {"page": 2}
    assert ccxt_venue._gate_next_page(full, {"order_id": _GATE_ORDER_ID, "page": 100}) == {"page": 101}
    assert ccxt_venue._gate_next_page(full, {"order_id": _GATE_ORDER_ID, "page": 101}) is None


def test_a_gate_order_older_than_gates_default_range_is_read_over_its_whole_life(
    gate_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Gate's spot list, asked for no time range, gives the last 7 days, and a range spans 30 days
    at most: the trades of an order made 65 days ago (taken over after a restart) were missed,
    and booked from the order. It is asked from the order's making to now, 30 days a request,
    from the oldest; a trade in the second where two ranges meet is reported once, and a range
    with nothing new does not end the reading."""
    made = int(clock.now) - 65 * 86_400
    month = 30 * 86_400
    trades = [
        dict(_gate_trade(n), create_time=str(at), create_time_ms=f"{at}000.000")
        for n, at in enumerate((made + 60, made + month, made + 64 * 86_400))
    ]
    order = VenueOrder(
        "s2-entry-1", 0, "t-1", "BTC_USDT", "BUY", "LIMIT", 90000.0, 0.0003,
        venue_order_id=f"BTC_USDT:{_GATE_ORDER_ID}", status=VenueOrderStatus.ACKNOWLEDGED,
    )  # fmt: skip
    gate_venue.watch(order)
    cost = sum(float(t["price"]) for t in trades) / 10_000
    answer = {
        "id": _GATE_ORDER_ID, "text": gate_venue.listed_client_order_id(order), "create_time": str(made),
        "create_time_ms": f"{made}000", "update_time": str(made + 64 * 86_400),
        "update_time_ms": f"{made + 64 * 86_400}000", "status": "closed", "finish_as": "filled",
        "currency_pair": "BTC_USDT", "type": "limit", "account": "spot", "side": "buy", "amount": "0.0003",
        "price": "90000", "time_in_force": "gtc", "left": "0", "filled_amount": "0.0003",
        "filled_total": f"{cost:.2f}", "avg_deal_price": f"{cost / 0.0003:.2f}", "fee": "0",
        "fee_currency": "BTC", "point_fee": "0", "gt_fee": "0",
    }  # fmt: skip
    exchange.script("GET", f"/api/v4/spot/orders/{_GATE_ORDER_ID}", payload=answer, repeat=True)
    for listed in (trades[:2], trades[1:2], trades[2:]):
        exchange.script("GET", "/api/v4/spot/my_trades", payload=listed)
    fills = [e for e in gate_venue.poll_events() if e.kind == KernelEventKind.FILL]
    assert [f.fill_id for f in fills] == [f"BTC_USDT:{t['id']}" for t in trades]
    assert all(f.metadata.get("fill_source") != "order" for f in fills)
    assert fills[-1].status == VenueOrderStatus.FILLED
    asked = exchange.calls("GET", "/api/v4/spot/my_trades")
    assert [(int(c.params["from"]), int(c.params["to"]), c.params["order_id"]) for c in asked] == [
        (made, made + month, _GATE_ORDER_ID),
        (made + month, made + 2 * month, _GATE_ORDER_ID),
        (made + 2 * month, int(clock.now), _GATE_ORDER_ID),
    ]


def test_a_gate_order_of_the_last_30_days_is_read_in_one_range_to_its_last_update(
    gate_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """One request, asked from the order's making (seconds, as Gate takes them) to its
    last update by Gate's clock, here later than the adapter's."""
    _gate_filled(gate_venue, exchange, 3)
    exchange.script("GET", "/api/v4/spot/my_trades", payload=[_gate_trade(n) for n in range(3)])
    fills = [e for e in gate_venue.poll_events() if e.kind == KernelEventKind.FILL]
    assert fills[-1].status == VenueOrderStatus.FILLED and len(fills) == 3
    [asked] = exchange.calls("GET", "/api/v4/spot/my_trades")
    assert (asked.params["from"], asked.params["to"]) == ("1763679601", "1763679640")
    assert clock.now < 1763679640


@pytest.mark.parametrize(
    ("made_ms", "updated_ms"),
    [
        ("1000", "1763679640000"),  # made in 1970 by the answer: 680 ranges to now
        ("1763679601000", "4102444800000"),  # updated in 2100 by the answer: 915 ranges to then
    ],
)
def test_a_gate_order_whose_answer_gives_times_far_apart_is_read_in_a_bounded_number_of_requests(
    gate_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock, made_ms: str, updated_ms: str
) -> None:
    """The ranges ran from the answer's making time to its last update, whatever those said: an
    answer made in 1970, or updated in 2100 (a time in another unit, microseconds, reads as the
    year 57,000: some 680,000 ranges), was asked range after range, every poll while its trades
    lag, the adapter's lock held meanwhile. At most a year's ranges are asked, the last ending
    by now (a day of the exchange's clock ahead of ours at most); the trades of the order show
    in them, or the order's own figures stand in for them later (``missing_trades_wait_s``)."""
    _gate_filled(gate_venue, exchange, 3, create_time_ms=made_ms, update_time_ms=updated_ms)
    exchange.script("GET", "/api/v4/spot/my_trades", payload=[], repeat=True)  # the trades lag
    assert [e for e in gate_venue.poll_events() if e.kind == KernelEventKind.FILL] == []
    asked = [
        (int(c.params["from"]), int(c.params["to"])) for c in exchange.calls("GET", "/api/v4/spot/my_trades")
    ]
    assert 1 <= len(asked) <= 12
    assert all(0 < to - since <= 30 * 86_400 for since, to in asked)
    assert clock.now <= asked[-1][1] <= clock.now + 86_400


def test_gates_time_ranges_cover_the_orders_life_each_within_30_days() -> None:
    month = 30 * 86_400
    assert ccxt_venue._time_ranges(100, 100, month) == [(100_000, {"until": 100_000})]
    assert ccxt_venue._time_ranges(100, 100 + month, month) == [(100_000, {"until": (100 + month) * 1000})]
    assert ccxt_venue._time_ranges(100, 101 + month, month) == [
        (100_000, {"until": (100 + month) * 1000}),
        ((100 + month) * 1000, {"until": (101 + month) * 1000}),
    ]


# A USDT-settled perpetual whose contract is one base unit (ccxt's own example of a Gate
# contract), and one of 0.0001 BTC a contract, as Gate's BTC_USDT.
_GATE_CONTRACT = {
    "name": "0G_USDT", "type": "direct", "quanto_multiplier": "1", "order_price_round": "0.0001",
    "mark_price_round": "0.0001", "order_price_deviate": "0.15", "mark_price": "0.2048",
    "order_size_min": 1, "order_size_max": 450000, "leverage_min": "1", "leverage_max": "50",
    "enable_decimal": False, "status": "trading", "in_delisting": False, "create_time": 1758124392,
}  # fmt: skip
_GATE_BTC_CONTRACT = dict(
    _GATE_CONTRACT, name="BTC_USDT", quanto_multiplier="0.0001", order_price_round="0.1", mark_price="90000"
)


@pytest.fixture
def gate_linear_venue(
    exchange: RecordedExchange, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CcxtVenue]:
    """A Gate linear venue: ccxt's Gate lists the currencies, asks whether the account is a
    unified one, and lists the USDT-settled perpetuals."""
    contracts = [_GATE_CONTRACT, _GATE_BTC_CONTRACT]
    exchange.script("GET", "/api/v4/spot/currencies", payload=[], repeat=True)
    exchange.script("GET", "/api/v4/futures/usdt/contracts", payload=contracts, repeat=True)
    exchange.script("GET", "/api/v4/account/detail", payload={"user_id": 1, "key": {"mode": 1}}, repeat=True)
    venue = _keyed_venue(exchange, clock, monkeypatch, "gate", market_type="linear")
    yield venue
    venue.close()


def test_a_gate_linear_venue_loads_gates_usdt_perpetuals(
    gate_linear_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """ccxt's Gate fetches markets of the types spot, swap, future and option: asked for
    "linear" it fetched none, and a linear Gate venue had no market to trade. Its perpetuals are
    swaps, fetched per settle currency: USDT's only (the exchange fails a test asking for any
    other list). A contract that is not one base unit is left out, as elsewhere."""
    limits = gate_linear_venue.load_markets()
    assert set(limits) == {"0G_USDT", "0G/USDT:USDT"}
    assert limits["0G_USDT"] == MarketLimits(lot_step=1.0, tick_size=0.0001, min_qty=1.0, min_notional=0.0)
    assert gate_linear_venue._markets.symbol("0G/USDT:USDT") == "0G/USDT:USDT"
    assert "contracts of 0.0001 base units" in gate_linear_venue._markets.contract_refusal("BTC_USDT")
    assert len(exchange.calls("GET", "/api/v4/futures/usdt/contracts")) == 1


@pytest.mark.parametrize(
    ("exchange_id", "default_type", "types"),
    [
        ("gate", "swap", ["swap"]),
        ("gateeu", "swap", ["swap"]),
        ("okx", "swap", ["swap"]),
        ("myokx", "swap", ["swap"]),
        ("binance", "future", ["linear"]),
        ("bybit", "future", ["linear"]),
    ],
)
def test_linear_markets_are_fetched_under_the_exchanges_own_type(
    exchange_id: str, default_type: str, types: list[str]
) -> None:
    options = CcxtVenue(exchange=exchange_id, market_type="linear")._exchange.options
    assert (options["defaultType"], options["fetchMarkets"]["types"]) == (default_type, types)


def test_a_gate_swap_orders_trades_are_asked_of_the_list_that_filters_by_order(
    gate_linear_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """For a swap ccxt's fetch_my_trades asks Gate's ``my_trades_timerange``, which takes no
    order filter: the spot's ``order_id`` went there, and the answer was the contract's latest
    trades of any order. Gate's ``my_trades`` is asked, by ``order``."""
    venue = gate_linear_venue
    order = VenueOrder(
        "s2-entry-1", 0, "t-1", "0G_USDT", "BUY", "LIMIT", 0.2, 30.0,
        venue_order_id="0G_USDT:28457200", status=VenueOrderStatus.ACKNOWLEDGED,
    )  # fmt: skip
    venue.watch(order)
    answer = {
        "id": 28457200, "contract": "0G_USDT", "size": 30, "left": 0, "price": "0.2", "fill_price": "0.2",
        "status": "finished", "finish_as": "filled", "tif": "gtc", "is_reduce_only": False,
        "text": venue.listed_client_order_id(order), "create_time": 1763679601.5, "finish_time": 1763679640.5,
    }  # fmt: skip
    exchange.script("GET", "/api/v4/futures/usdt/orders/28457200", payload=answer, repeat=True)
    trades = [
        {"id": 4100 + n, "create_time": 1763679610.5 + n, "contract": "0G_USDT", "order_id": "28457200",
         "size": 10, "price": "0.2", "role": "maker", "fee": "0.0004"}
        for n in range(3)
    ]  # fmt: skip
    exchange.script("GET", "/api/v4/futures/usdt/my_trades", payload=trades)
    fills = [e for e in venue.poll_events() if e.kind == KernelEventKind.FILL]
    assert [(f.fill_id, f.size) for f in fills] == [(f"0G_USDT:{4100 + n}", 10.0) for n in range(3)]
    assert fills[-1].status == VenueOrderStatus.FILLED
    [asked] = exchange.calls("GET", "/api/v4/futures/usdt/my_trades")
    assert asked.params == {"contract": "0G_USDT", "order": "28457200"}


@pytest.mark.parametrize(
    ("exchange_id", "parameter"),
    [("okx", "ordId"), ("myokx", "ordId"), ("gate", "order_id"), ("bybit", "orderId"), ("kraken", None)],
)
def test_an_orders_trades_are_asked_for_by_the_exchanges_own_order_parameter(
    exchange_id: str, parameter: str | None
) -> None:
    """ccxt passes fetch_my_trades' parameters on as given: each exchange (and those ccxt derives
    from it, OKX's ``myokx``) is asked by its own name of the order filter. Kraken's trade list
    has none: it is asked with no order parameter (Binance's ``orderId`` went on to Kraken), and
    only the order's trades among those it lists are kept."""
    venue = CcxtVenue(exchange=exchange_id)
    asked: list[dict] = []

    def fetch_my_trades(symbol: str, since: None, limit: None, params: dict) -> list[dict]:
        asked.append(dict(params))
        return [ccxt_trade("4101", 0.008, order="28457200"), ccxt_trade("4102", 0.008, order="28457999")]

    venue._exchange.fetch_my_trades = fetch_my_trades
    tracked = ccxt_venue._Tracked(
        make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02),
        "s2-entry-1",
        "BTC/USDT",
        "BTCUSDT",
        exchange_order_id="28457200",
    )
    assert [t["id"] for t in venue._reporter.trades.fetch(tracked, 0.008)] == ["4101"]
    assert asked == [{parameter: "28457200"} if parameter else {}]


def test_the_rest_booked_from_the_order_is_priced_right_after_a_trade_the_kernel_had_booked_in_part(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock
) -> None:
    """Taken over after a restart with 0.005 booked at 90000, off a trade boundary: trade 4101
    (0.008 at 90000) is new only for 0.003 of it. The order says 0.02 filled for 1806; the
    rest, 0.012, cost 1806 - 720. The 0.005 the kernel had booked was counted in the trades'
    cost twice, and the rest went to the kernel at 53000."""
    venue = make_venue()
    order = VenueOrder(
        "s2-entry-1", 0, "t-1", "BTCUSDT", "BUY", "LIMIT", 90000.0, 0.02,
        venue_order_id="28457200", filled_size=0.005, avg_fill_price=90000.0,
        status=VenueOrderStatus.PARTIALLY_FILLED,
    )  # fmt: skip
    venue.watch(order)
    filled = exchange.fixture("binance/spot_query_limit_filled.json")
    filled["cummulativeQuoteQty"] = "1806.00000000"
    exchange.script("GET", "/api/v3/order", payload=filled, repeat=True)
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json", repeat=True)
    [trade] = venue.poll_events()
    assert (trade.fill_id, trade.filled_size) == ("BTCUSDT:4101", pytest.approx(0.008))
    clock.advance(61.0)
    [rest] = venue.poll_events()
    assert rest.metadata["fill_source"] == "order"
    assert rest.size == pytest.approx(0.012) and rest.filled_size == pytest.approx(0.02)
    assert rest.price == pytest.approx((1806.0 - 720.0) / 0.012)


# -- exchange order ids, and answers that do not read ----------------------------------------


@pytest.mark.parametrize("held_as", ["BTCUSDT:28457200", "28457200"])
def test_an_order_taken_over_is_asked_about_and_canceled_by_the_exchanges_own_id(
    make_venue: VenueFactory, exchange: RecordedExchange, held_as: str
) -> None:
    """The kernel knows an order by its exchange id qualified with the market (Binance's order
    ids are unique only within one), or bare when its log was written before. Either way the
    exchange is asked by its own id, and the events name the order by the id the kernel holds:
    the kernel refuses an event under another venue id than its order's (the qualified id for
    one held bare would lose its fills). New orders' events name the qualified one: under the
    bare id, two markets' orders of one id would collide."""
    venue = make_venue()
    order = VenueOrder(
        "s2-entry-1", 0, "t-1", "BTCUSDT", "BUY", "LIMIT", 90000.0, 0.02,
        venue_order_id=held_as, status=VenueOrderStatus.ACKNOWLEDGED,
    )  # fmt: skip
    assert venue.listed_venue_order_id(order) == "BTCUSDT:28457200"
    venue.watch(order)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    [fill] = venue.poll_events()
    assert (fill.venue_order_id, fill.fill_id) == (held_as, "BTCUSDT:4101")
    assert exchange.calls("GET", "/api/v3/order")[0].params["orderId"] == "28457200"
    assert exchange.calls("GET", "/api/v3/myTrades")[0].params["orderId"] == "28457200"

    answer = exchange.fixture("binance/spot_cancel_partial.json")
    answer.update(orderId=28457200, origClientOrderId="s2-entry-1", executedQty="0.00800000")
    exchange.script("DELETE", "/api/v3/order", payload=answer)
    [canceled] = venue.cancel(order)
    assert exchange.calls("DELETE", "/api/v3/order")[0].params["orderId"] == "28457200"
    assert canceled.kind == KernelEventKind.CANCEL_ACK
    assert canceled.event_id == "binance-spot:cancel_ack:BTCUSDT:28457200"
    assert canceled.venue_order_id == held_as


def two_resting_orders(venue: CcxtVenue, exchange: RecordedExchange) -> None:
    """Submits s2-entry-1 (exchange order 28457200) and s3-entry-1 (28457300), both resting."""
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new_2.json")
    venue.submit(make_order("s3-entry-1", order_type="LIMIT", price=89000.0, size=0.02))


def test_a_status_query_that_raises_any_error_loses_no_fill_of_another_order(
    make_venue: VenueFactory, exchange: RecordedExchange, caplog: pytest.LogCaptureFixture
) -> None:
    """ccxt's parser raises a KeyError (not a ccxt error) on an answer it did not expect. The
    status query caught only ccxt's errors: the poll raised, and the fill it had read for the
    other order, already counted as reported, was never returned."""
    venue = make_venue()
    two_resting_orders(venue, exchange)
    query = venue._exchange.fetch_order

    def fetch_order(order_id: str | None, symbol: str, params: dict) -> dict:
        if order_id == "28457300":
            raise KeyError("price")
        return dict(query(order_id, symbol, params))

    venue._exchange.fetch_order = fetch_order
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        events = venue.poll_events()
    assert [(e.kind.name, e.fill_id) for e in events] == [("FILL", "BTCUSDT:4101")]
    assert any("s3-entry-1" in r.getMessage() and "KeyError" in r.getMessage() for r in caplog.records)

    # The order that broke is asked about again at the next poll.
    venue._exchange.fetch_order = query
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_new_2.json")
    assert venue.poll_events() == []
    assert [c.params["orderId"] for c in exchange.calls("GET", "/api/v3/order")] == [
        "28457200",
        "28457200",
        "28457300",
    ]


def test_a_resting_order_outliving_the_processs_memory_of_trades_reports_each_fill_once(
    make_venue: VenueFactory, exchange: RecordedExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process remembered the last 100,000 trades reported, of every order: an order that
    rested while that many other fills came (2 here) had its first trade forgotten, reported it
    again when the next came, counted itself filled and was asked about no more, so its last
    fill never reached the kernel. An order's reported trades are kept as long as it is followed."""
    monkeypatch.setattr(ccxt_events, "BoundedIdSet", lambda: BoundedIdSet(2))
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    resting = make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02)
    assert kinds(venue.submit(resting)) == ["ORDER_ACK"]
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    assert [f.fill_id for f in venue.poll_events()] == ["BTCUSDT:4101"]
    # Another order's two fills: the memory's last two trades.
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    assert kinds(venue.submit(make_order("s1-entry-1", size=0.015))) == ["ORDER_ACK", "FILL", "FILL"]

    first, second = exchange.fixture("binance/spot_trades_limit_filled.json")
    second.update(qty="0.00800000", quoteQty="720.00000000")
    third = dict(second, id=4103, qty="0.00400000", quoteQty="360.00000000", time=second["time"] + 1)
    status = exchange.fixture("binance/spot_query_limit_partial.json")
    status.update(executedQty="0.01600000", cummulativeQuoteQty="1440.00000000")
    exchange.script("GET", "/api/v3/order", payload=status)
    exchange.script("GET", "/api/v3/myTrades", payload=[first, second])
    (fill,) = venue.poll_events()
    assert (fill.fill_id, fill.status) == ("BTCUSDT:4102", VenueOrderStatus.PARTIALLY_FILLED)
    assert fill.filled_size == pytest.approx(0.016)

    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_filled.json")
    exchange.script("GET", "/api/v3/myTrades", payload=[first, second, third])
    (last,) = venue.poll_events()
    assert (last.fill_id, last.status, last.size) == ("BTCUSDT:4103", VenueOrderStatus.FILLED, 0.004)
    assert last.filled_size == pytest.approx(0.02)
    assert venue.poll_events() == []


def test_the_fills_of_a_poll_cut_short_come_with_the_next_poll(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Ctrl-C in the middle of a poll (not an Exception: it goes on up) found fills already
    made for another order counted as reported: they were never returned by any poll."""
    venue = make_venue()
    two_resting_orders(venue, exchange)
    query = venue._exchange.fetch_order

    def interrupted(order_id: str | None, symbol: str, params: dict) -> dict:
        if order_id == "28457300":
            raise KeyboardInterrupt
        return dict(query(order_id, symbol, params))

    venue._exchange.fetch_order = interrupted
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    with pytest.raises(KeyboardInterrupt):
        venue.poll_events()

    venue._exchange.fetch_order = query
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_new_2.json")
    assert [(e.kind.name, e.fill_id) for e in venue.poll_events()] == [("FILL", "BTCUSDT:4101")]
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_new_2.json")
    assert venue.poll_events() == []  # returned once


def test_a_submit_that_breaks_on_anything_but_a_refusal_is_looked_up_and_followed(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """ccxt's code can raise a KeyError reading an answer it did not expect, after the exchange
    placed the order. Only ccxt's errors counted as an unknown outcome: the order was neither
    looked up nor followed (``unresolved_orders`` did not list it), and its fills never came."""
    venue = make_venue()

    def create_order(*args: object) -> dict:
        raise KeyError("orderId")

    venue._exchange.create_order = create_order
    for _ in range(2):
        exchange.script("GET", "/api/v3/order", "binance/error_order_does_not_exist.json", status=400)
    with pytest.raises(VenueTimeout, match="KeyError") as raised:
        venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    assert raised.value.client_order_id == "s2-entry-1"
    assert exchange.calls("GET", "/api/v3/order")[0].params["origClientOrderId"] == "s2-entry-1"
    assert venue.unresolved_orders() == ["s2-entry-1"]

    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    events = venue.poll_events()
    assert [(e.kind.name, e.fill_id) for e in events] == [("ORDER_ACK", ""), ("FILL", "BTCUSDT:4101")]
    assert venue.unresolved_orders() == []


def ccxt_trade(trade_id: str, amount: object, **fields: object) -> dict:
    """A trade of order 28457200 (BTCUSDT) as ccxt gives it."""
    trade = {
        "id": trade_id, "order": "28457200", "symbol": "BTC/USDT", "amount": amount, "price": 90000.0,
        "timestamp": 1763679610000, "takerOrMaker": "maker", "fee": {"cost": 0.144, "currency": "USDT"},
    }  # fmt: skip
    trade.update(fields)
    return trade


def test_a_trade_whose_amount_is_text_holds_back_none_of_the_orders_other_fills(
    make_venue: VenueFactory, exchange: RecordedExchange, caplog: pytest.LogCaptureFixture
) -> None:
    """One trade's amount given as text made the order's answer unreadable at every poll: none
    of its fills, the good ones included, ever came. It is skipped, named in a warning."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    trades = [ccxt_trade("4101", 0.008), ccxt_trade("4102", "abc", timestamp=1763679620000)]
    # Listed in the order's answer (as some exchanges and Binance's submit answers do) and in
    # its trade list.
    answer = {"id": "28457200", "symbol": "BTC/USDT", "status": "open", "amount": 0.02, "filled": 0.012}
    venue._exchange.fetch_order = lambda *args: dict(answer, trades=[dict(t) for t in trades])
    venue._exchange.fetch_my_trades = lambda *args: [dict(t) for t in trades]
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        events = venue.poll_events()
    assert [(e.fill_id, e.size, e.filled_size) for e in events] == [("BTCUSDT:4101", 0.008, 0.008)]
    assert [r.getMessage() for r in caplog.records if "BTCUSDT:4102" in r.getMessage()] == [
        "binance-spot: trade BTCUSDT:4102 of order s2-entry-1 has amount='abc', not a positive number; "
        "not reported"
    ]
    # Once it reads, it comes, counted after the first.
    trades[1]["amount"] = 0.004
    assert [(e.fill_id, e.filled_size) for e in venue.poll_events()] == [
        ("BTCUSDT:4102", pytest.approx(0.012))
    ]


@pytest.mark.parametrize("filled", [0.008, 0.012])
def test_a_trade_the_orders_answer_gives_without_a_price_is_reported_from_the_trade_list(
    make_venue: VenueFactory, exchange: RecordedExchange, caplog: pytest.LogCaptureFixture, filled: float
) -> None:
    """A trade of the order's answer with an amount but no price that reads counted toward the
    filled size, so the trade list was not asked for it (filled 0.008: nothing came until the
    order closed, then booked from the order, its fee left to the kernel's model); and, having
    no time, it came first, so its copy in the trade list was skipped as the same trade (0.012,
    where trade 4102 had the list read). The list's copy is reported, with its fee, at once."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    unpriced = ccxt_trade("4101", 0.008, price=None, timestamp=None, fee=None)
    listed = [ccxt_trade("4101", 0.008), ccxt_trade("4102", 0.004, timestamp=1763679620000)]
    listed = listed[: 1 if filled < 0.01 else 2]
    answer = {"id": "28457200", "symbol": "BTC/USDT", "status": "open", "amount": 0.02, "filled": filled}
    venue._exchange.fetch_order = lambda *args: dict(answer, trades=[dict(unpriced)])
    venue._exchange.fetch_my_trades = lambda *args: [dict(t) for t in listed]
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        events = venue.poll_events()
    assert [(e.fill_id, e.size, e.filled_size, e.fee) for e in events] == [
        ("BTCUSDT:4101", 0.008, 0.008, 0.144),
        *([("BTCUSDT:4102", 0.004, pytest.approx(0.012), 0.144)] if filled > 0.01 else []),
    ]
    # The copy without a price is not named in a warning: its trade was reported.
    assert [r.getMessage() for r in caplog.records if "BTCUSDT:4101" in r.getMessage()] == []


def test_a_figure_that_is_not_a_number_is_an_error_naming_the_order_the_field_and_the_value(
    make_venue: VenueFactory,
) -> None:
    """Read with a bare float(), text among an order's or a balance's figures raised "could not
    convert string to float: 'abc'", naming neither the order, nor the field."""
    venue = make_venue()
    listed = {
        "id": "28457200", "clientOrderId": "s2-entry-1", "symbol": "BTC/USDT", "status": "open",
        "side": "buy", "type": "limit", "price": 90000.0, "amount": 0.02, "filled": "abc",
    }  # fmt: skip
    venue._exchange.fetch_open_orders = lambda *args: [dict(listed)]
    with pytest.raises(ValueError, match=r"order '28457200' field 'filled': 'abc' is not a number"):
        venue.open_orders()
    venue._exchange.fetch_order = lambda *args: dict(listed, filled=0.0, amount="n/a")
    with pytest.raises(ValueError, match=r"order '28457200' field 'amount': 'n/a' is not a number"):
        venue.order_status("s2-entry-1")
    venue._exchange.fetch_balance = lambda *args: {"total": {"BTC": "abc", "USDT": 5.0}}
    with pytest.raises(ValueError, match=r"balance of 'BTC' field 'total': 'abc' is not a number"):
        venue.balances()
    # An order answer without its market raised a bare KeyError (None: ccxt's BadSymbol).
    for symbol in ({}, {"symbol": None}):
        venue._exchange.fetch_open_orders = lambda *args, s=symbol: [
            {k: v for k, v in dict(listed, filled=0.0, **s).items() if k != "symbol" or s}
        ]
        with pytest.raises(ValueError, match=r"order '28457200' field 'symbol': None is not a market symbol"):
            venue.open_orders()


HUGE = 10**400  # an integer past a float's range: float() raises OverflowError


def test_a_figure_past_a_floats_range_is_refused_as_a_figure_that_is_not_a_number(
    make_venue: VenueFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """float(10**400) raises OverflowError, which nothing caught: an answer holding such an
    integer raised out of the adapter (out of a submit whose order the exchange had placed)."""
    venue = make_venue()
    trades = [
        ccxt_trade("4101", 0.008, fee={"cost": HUGE, "currency": "USDT"}),
        ccxt_trade("4102", HUGE, timestamp=1763679620000),
    ]
    answer = {"id": "28457200", "symbol": "BTC/USDT", "status": "open", "amount": 0.02, "filled": 0.008}
    venue._exchange.create_order = lambda *args: dict(answer, trades=trades)
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        events = venue.submit(make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02))
    assert [(e.kind.name, e.fill_id, e.size, e.fee) for e in events] == [
        ("ORDER_ACK", "", 0.0, None),
        ("FILL", "BTCUSDT:4101", 0.008, None),  # its fee left to the kernel's model
    ]
    warned = [r.getMessage() for r in caplog.records]
    assert (
        f"binance-spot: trade BTCUSDT:4101 of order s2-entry-1 has fee cost={HUGE!r}, not a number"
        in (warned[0])
    )
    assert warned[1] == (
        f"binance-spot: trade BTCUSDT:4102 of order s2-entry-1 has amount={HUGE!r}, not a positive "
        "number; not reported"
    )
    venue._exchange.fetch_balance = lambda *args: {"total": {"BTC": HUGE}}
    with pytest.raises(ValueError, match=r"balance of 'BTC' field 'total': 1000+ is not a number"):
        venue.balances()
    venue._exchange.fetch_order_book = lambda *args: {"bids": [[HUGE, 0.5]], "asks": [[91000.01, 1.0]]}
    with pytest.raises(ValueError, match=r"book's bids\[0\]\[0\] \(bid price\): 1000+ is not a positive"):
        venue.fetch_top_of_book("BTCUSDT")


def test_a_futures_contract_size_that_is_not_a_number_is_an_error_naming_it(make_venue: VenueFactory) -> None:
    venue = make_venue("linear")
    venue._exchange.fetch_positions = lambda *args: [
        {"symbol": "BTC/USDT:USDT", "contracts": 0.01, "side": "long"}
    ]
    for size in (HUGE, "abc"):
        venue._exchange.markets["BTC/USDT:USDT"]["contractSize"] = size
        with pytest.raises(
            ValueError, match=rf"market 'BTCUSDT' field 'contractSize': {size!r} is not a number"
        ):
            venue.positions()


@pytest.mark.parametrize("value", [HUGE, "abc"])
@pytest.mark.parametrize(
    ("place", "field"),
    [
        (("precision", "amount"), "precision.amount"),
        (("limits", "cost", "min"), "limits.cost.min"),
        (("contractSize",), "contractSize"),
    ],
)
def test_a_market_figure_that_is_not_a_number_is_an_error_naming_the_market_and_field(
    make_venue: VenueFactory, exchange: RecordedExchange, value: object, place: tuple[str, ...], field: str
) -> None:
    """float() raised a bare "could not convert string to float" for text, and OverflowError
    for 10**400, out of load_markets and so out of a submit. Nothing is loaded, and a submit is
    rejected naming the market, the field and the value."""
    venue = make_venue("linear")
    loaded = dict(venue.market_metadata())
    load = venue._exchange.load_markets

    def with_a_bad_figure(reload: bool = False, params: dict | None = None) -> dict:
        markets = load(reload)
        *path, last = place
        figures = markets["ETH/USDT:USDT"]
        for key in path:
            figures = figures.setdefault(key, {})
        figures[last] = value
        return markets

    venue._exchange.load_markets = with_a_bad_figure
    named = f"market 'ETHUSDT' field '{field}': {value!r} is not a number"
    with pytest.raises(RuntimeError, match=re.escape(f"binance-linear: load_markets failed: {named}")):
        venue.load_markets(reload=True)
    assert venue.market_metadata() == loaded  # what was loaded before stands
    venue._markets.asset_symbols = {}  # as before the first load: the submit loads them
    [refused] = venue.submit(make_order("s1-entry-1", asset="ETHUSDT", size=1.0, reference_price=3000.0))
    assert refused.kind == KernelEventKind.REJECT and named in refused.reason
    assert exchange.calls("POST", "/fapi/v1/order") == []


def test_a_self_trade_is_a_fill_of_each_of_its_two_orders(make_venue: VenueFactory) -> None:
    """Two of the account's orders matched with each other (one slot's resting exit, another's
    entry) share one trade id, as Binance lists a self-trade. Known by the trade id alone, the
    second order's fill was taken for the first's: never reported from its trades, booked
    late from the order's record or not at all. Reported under that one id, the second fill's
    predicted fee replaced the first's in the kernel: it goes under an id of its own."""
    venue = make_venue()
    resting = {"id": "28457200", "symbol": "BTC/USDT", "status": "open", "amount": 0.016, "filled": 0.0}
    venue._exchange.create_order = lambda *args: dict(resting)
    exit_order = make_order("s1-exit-1", side="SELL", order_type="LIMIT", price=90000.0, size=0.016)
    assert kinds(venue.submit(exit_order)) == ["ORDER_ACK"]
    # The entry's market buy hits the resting sell: trade 4200 on both orders.
    entry_trade = ccxt_trade("4200", 0.008, order="28457300", takerOrMaker="taker")
    taken = {"id": "28457300", "symbol": "BTC/USDT", "status": "closed", "amount": 0.008, "filled": 0.008}
    venue._exchange.create_order = lambda *args: dict(taken, trades=[dict(entry_trade)])
    entry = venue.submit(make_order("s2-entry-1", size=0.008, slot_id=1, trade_id="t-2"))
    assert [(e.kind.name, e.fill_id, e.venue_client_id) for e in entry] == [
        ("ORDER_ACK", "", "s2-entry-1"),
        ("FILL", "BTCUSDT:4200", "s2-entry-1"),
    ]
    maker_trade = ccxt_trade("4200", 0.008)
    venue._exchange.fetch_order = lambda *args: dict(resting, filled=0.008)
    venue._exchange.fetch_my_trades = lambda *args: [dict(maker_trade)]
    fills = venue.poll_events()
    # Qualified with the exit's exchange order id: the trade id was the entry's fill's already.
    assert [(e.kind.name, e.fill_id, e.event_id, e.venue_client_id, e.size) for e in fills] == [
        ("FILL", "BTCUSDT:4200:28457200", "binance-spot:fill:BTCUSDT:4200:28457200", "s1-exit-1", 0.008)
    ]
    assert fills[0].fee == pytest.approx(0.144) and fills[0].metadata["liquidity"] == "MAKER"
    # Each order's trade is still reported once: the exit, still working, reads it again.
    assert venue.poll_events() == []


def test_orders_placed_by_hand_without_a_client_id_each_report_their_own_fills(
    make_venue: VenueFactory,
) -> None:
    """Orders without a client id (placed by hand; reconciliation cancels them) were kept apart
    by their exchange ids, but the fills each reported were known by the id such an order goes
    out under, the one hash of '': a trade on two of them (a self-trade, both sides placed by
    hand) was reported for the first only."""
    venue = make_venue()
    ends = []
    for order_id, side in (("28457200", "SELL"), ("28457201", "BUY")):
        stray = VenueOrder(
            "", 0, "", "BTCUSDT", side, "LIMIT", 90000.0, 0.01, venue_order_id=f"BTCUSDT:{order_id}"
        )
        answer = {
            "id": order_id, "symbol": "BTC/USDT", "status": "canceled", "amount": 0.01, "filled": 0.004,
            "trades": [ccxt_trade("4200", 0.004, order=order_id)],
        }  # fmt: skip
        venue._exchange.cancel_order = lambda *args, answer=answer: dict(answer)
        ends.append([(e.kind.name, e.venue_order_id, e.fill_id, e.filled_size) for e in venue.cancel(stray)])
    assert ends == [
        [
            ("FILL", "BTCUSDT:28457200", "BTCUSDT:4200", 0.004),
            ("CANCEL_ACK", "BTCUSDT:28457200", "", 0.004),
        ],
        [
            ("FILL", "BTCUSDT:28457201", "BTCUSDT:4200:28457201", 0.004),
            ("CANCEL_ACK", "BTCUSDT:28457201", "", 0.004),
        ],
    ]
    assert venue.poll_events() == []  # both over: nothing is asked about any more


@pytest.mark.parametrize("cancel_asked", [False, True])
def test_an_order_the_exchange_purged_ends_after_the_grace_and_is_asked_about_no_more(
    make_venue: VenueFactory, exchange: RecordedExchange, clock: ManualClock, cancel_asked: bool
) -> None:
    """An acknowledged order the exchange no longer knows (some purge an order that ended
    unfilled within hours) was asked about, a warning each time, for as long as the process
    ran: reconciliation ends the kernel's order, not the adapter's record. It now ends as a
    timed-out submit does, after ``unknown_order_grace_s`` of "no such order" answers counted
    from the first since the exchange last had it, with its filled size unknown (0)."""
    venue = make_venue(unknown_order_grace_s=30.0)
    exchange.script("POST", "/api/v3/order", "binance/spot_order_limit_new.json")
    order = make_order("s2-entry-1", order_type="LIMIT", price=90000.0, size=0.02)
    assert kinds(venue.submit(order)) == ["ORDER_ACK"]
    exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_limit_partial.json")
    assert kinds(venue.poll_events()) == ["FILL"]  # trade 4101: 0.008
    if cancel_asked:  # the cancel finds it gone, and so does the lookup after it
        exchange.script("DELETE", "/api/v3/order", "binance/error_unknown_order_sent.json", status=400)
        not_found(exchange, 1)
        assert kinds(venue.cancel(order)) == ["CANCEL_REJECT"]
    polls = []
    for step, found in ((0.0, False), (20.0, True), (20.0, False), (29.0, False), (2.0, False)):
        clock.advance(step)
        if found:  # the exchange has it again: the grace starts over at the next "no such order"
            exchange.script("GET", "/api/v3/order", "binance/spot_query_limit_partial.json")
        else:
            not_found(exchange, 1)
        polls.append(venue.poll_events())
    assert polls[:4] == [[]] * 4
    (end,) = polls[4]
    kind = "CANCEL_ACK" if cancel_asked else "EXPIRED"
    assert (end.kind.name, end.venue_order_id, end.filled_size) == (kind, "BTCUSDT:28457200", 0.0)
    assert end.reason == (
        "binance-spot has answered it has no order BTCUSDT:28457200 for 31.0s (purged): over, and "
        "what it filled beyond the 0.008 reported is unknown; reconcile with the exchange"
    )
    asked = len(exchange.calls("GET", "/api/v3/order"))
    clock.advance(60.0)
    assert venue.poll_events() == [] and len(exchange.calls("GET", "/api/v3/order")) == asked


def test_a_bybit_order_whose_submit_timed_out_is_canceled_by_its_order_link_id(
    bybit_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    """An order with no exchange id yet (its submit timed out) is canceled by its client id. ccxt
    passes Bybit's parameters on as given, and the adapter sent ``clientOrderId``, a field Bybit
    does not have: the cancel named no order and was refused, while the order could work."""
    exchange.script("POST", "/v5/order/create", payload=_bybit({}), delay=HOLD)
    for _ in range(2):  # the submit's lookups: not listed yet
        exchange.script("GET", "/v5/order/realtime", payload=_bybit_list())
        exchange.script("GET", "/v5/order/history", payload=_bybit_list())
    with pytest.raises(VenueTimeout):
        bybit_venue.submit(_bybit_limit_buy())
    exchange.script(
        "POST", "/v5/order/cancel", payload=_bybit({"orderId": _BYBIT_ORDER_ID, "orderLinkId": "s2-entry-1"})
    )
    exchange.script("GET", "/v5/order/realtime", payload=_bybit_list(), repeat=True)
    exchange.script(
        "GET", "/v5/order/history", payload=_bybit_list(_bybit_order("Cancelled", "0", "0")), repeat=True
    )
    exchange.script("GET", "/v5/execution/list", payload=_bybit_list(), repeat=True)
    events = bybit_venue.cancel(_bybit_limit_buy())
    [cancel] = exchange.calls("POST", "/v5/order/cancel")
    assert cancel.params["orderLinkId"] == "s2-entry-1"
    assert "clientOrderId" not in cancel.params and "orderId" not in cancel.params
    # Bybit's answer to a cancel holds the ids only: the order is known, its end comes by a poll.
    assert [(e.kind.name, e.venue_order_id) for e in events] == [("ORDER_ACK", f"BTCUSDT:{_BYBIT_ORDER_ID}")]
    assert bybit_venue.unresolved_orders() == []
    assert kinds(bybit_venue.poll_events()) == ["CANCEL_ACK"]


def _okx_swap(inst_id: str, settle: str, ct_type: str, ct_val: str) -> dict:
    base, quote = inst_id.split("-")[:2]
    return {
        "instType": "SWAP", "instId": inst_id, "uly": f"{base}-{quote}", "instFamily": f"{base}-{quote}",
        "baseCcy": "", "quoteCcy": "", "settleCcy": settle, "ctVal": ct_val, "ctMult": "1",
        "ctValCcy": base if ct_type == "linear" else quote, "listTime": "1606468572000", "expTime": "",
        "lever": "50", "tickSz": "0.001", "lotSz": "1", "minSz": "1", "ctType": ct_type, "state": "live",
        "maxLmtSz": "1000000", "maxMktSz": "100000",
    }  # fmt: skip


def test_an_okx_linear_venue_loads_okxs_usdt_perpetuals(
    exchange: RecordedExchange, clock: ManualClock
) -> None:
    """ccxt's OKX sends each market type it fetches as OKX's instType: asked for "linear" it
    sent one OKX does not have. Its perpetuals are swaps; the inverse ones among them are left
    out, as is a contract that is not one base unit."""
    swaps = _okx(
        _okx_swap("ETC-USDT-SWAP", "USDT", "linear", "1"),
        _okx_swap("BTC-USDT-SWAP", "USDT", "linear", "0.01"),
        _okx_swap("BTC-USD-SWAP", "BTC", "inverse", "100"),
    )
    exchange.script("GET", "/api/v5/public/instruments", payload=swaps, repeat=True)
    venue = CcxtVenue(
        exchange="okx", market_type="linear", base_url=exchange.url, timeout_ms=CLIENT_TIMEOUT_MS,
        rate_limit_ms=1, clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    try:
        assert set(venue.load_markets()) == {"ETC-USDT-SWAP", "ETC/USDT:USDT"}
    finally:
        venue.close()
    assert {c.params["instType"] for c in exchange.calls("GET", "/api/v5/public/instruments")} == {"SWAP"}


def test_an_order_whose_cancel_was_asked_before_a_restart_ends_canceled_when_followed(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """The kernel asked to cancel its order, then the process went down. The restarted adapter
    follows it (``watch``) and the exchange says canceled: that is the cancel the kernel asked
    for (CANCEL_ACK, CANCELED), not an end nobody asked for (EXPIRED, "binance canceled the
    order"), as it is in the process that sent the cancel."""

    class Silent:
        name = "silent"

        def submit(self, order: VenueOrder) -> list:
            return []

        def cancel(self, order: VenueOrder) -> list:
            return []

    kernel = ExecutionKernel(max_slots=1, venue=Silent(), kernel_id="before-restart")
    sent = kernel.process_intent(
        KernelIntent(
            "i-1", "tr-1", 0, "BTCUSDT", "LONG", "ENTER", 89000.0, 0.02,
            order_type="LIMIT", limit_price=89000.0, timestamp=1.0,
        )
    ).order  # fmt: skip
    assert sent is not None
    kernel.on_venue_event(
        answered_event(sent, "ack", "ORDER_ACK", venue_order_id="BTCUSDT:28457300", status="ACKNOWLEDGED")
    )
    kernel.on_venue_event(
        answered_event(
            sent, "fill", "FILL", venue_order_id="BTCUSDT:28457300", fill_id="BTCUSDT:4201",
            size=0.005, price=89000.0, filled_size=0.005, status="PARTIALLY_FILLED",
        )
    )  # fmt: skip
    kernel.process_intent(
        KernelIntent("i-2", "tr-1", 0, "BTCUSDT", "LONG", "CANCEL", 0.0, 0.0, timestamp=2.0)
    )
    (working,) = kernel.open_orders()
    assert working.cancel_requested

    venue = make_venue()
    venue.watch(working)
    exchange.script("GET", "/api/v3/order", "binance/spot_query_canceled_2.json")
    (end,) = venue.poll_events()
    assert (end.kind, end.status) == (KernelEventKind.CANCEL_ACK, VenueOrderStatus.CANCELED)
    assert end.filled_size == pytest.approx(0.005) and end.reason == ""


def answered_event(order: VenueOrder, event_id: str, kind: str, **kw: object) -> VenueEvent:
    return VenueEvent(
        event_id, order.trade_id, order.slot_id, kind,
        venue_client_id=order.client_order_id, side=order.order_side, asset=order.asset, **kw,
    )  # fmt: skip
