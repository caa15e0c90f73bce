"""Venues that report later (``poll_events``: a live exchange's fills of resting orders) are
polled by the runtime: on data points while orders work (rate limited under the wall clock),
by ``poll_venues()`` and at ``finish()``. Nothing polled them: a strategy on a CcxtVenue never
heard its resting order fill, and the kernel never booked it."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent
from dita.runtime import TradingRuntime, VenueRejections
from dita.runtime.doubts import OrdersInDoubt
from dita.strategy import Bar, Fill, Quote, Strategy
from dita.venues import PaperVenue, VenueRouter

from .points import ack, bar, quote
from .test_strategy_ownership import Idle, ThrottlesFirstCancel

VENUE_TESTS = Path(__file__).resolve().parents[1] / "venues"


class FillsLater:
    """Acknowledges each order at submit; its fill (or ``answer``) comes from ``poll_events``
    once it has been polled ``polls_before`` times since the submit. ``faults``: what the next
    polls do instead ("raise", "none" for None, "junk" for a list holding no event)."""

    name = "later"

    def __init__(self, polls_before: int = 1, answer: str = "FILL") -> None:
        self.polls_before = polls_before
        self.answer = answer
        self.orders: list[Any] = []
        self.polls = 0
        self.faults: list[str] = []
        self._waits: dict[str, int] = {}

    def submit(self, order: Any) -> list[VenueEvent]:
        self.orders.append(order)
        self._waits[order.client_order_id] = self.polls_before
        return [ack(order)]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []

    def poll_events(self) -> Any:
        self.polls += 1
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "raise":
                raise ConnectionError("exchange unreachable")
            return None if fault == "none" else ["not an event"]
        events = []
        for order in self.orders:
            coid = order.client_order_id
            if coid not in self._waits:
                continue
            self._waits[coid] -= 1
            if self._waits[coid] > 0:
                continue
            del self._waits[coid]
            common = {"venue_client_id": coid, "asset": order.asset, "side": order.order_side}
            if self.answer == "FILL":
                events.append(
                    VenueEvent(
                        f"fill-{coid}", order.trade_id, order.slot_id, "FILL", status="FILLED",
                        price=order.price, size=order.size, filled_size=order.size, **common,
                    )
                )  # fmt: skip
            else:
                events.append(
                    VenueEvent(
                        f"rej-{coid}", order.trade_id, order.slot_id, "REJECT", status="REJECTED",
                        reason="insufficient balance", **common,
                    )
                )  # fmt: skip
        return events


class BuysOnce(Strategy[Any]):
    """Buys 1 of the asset with a limit at 100 on its first data point; records what it hears
    (its position at each data point, before deciding) and its fills."""

    data = ("bars", "quotes")

    def on_start(self) -> None:
        self.seen: list[float] = []
        self.heard: list[Fill] = []

    def _point(self, asset: str) -> None:
        self.seen.append(self.position(asset))
        if len(self.seen) == 1:
            out = self.buy(asset, 1.0, price=100.0, limit=100.0)
            assert out.accepted, out.details

    def on_bar(self, bar: Bar) -> None:
        self._point(bar.asset)

    def on_quote(self, quote: Quote) -> None:
        self._point(quote.asset)

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill)


def on_later(venue: Any, **options: Any) -> tuple[TradingRuntime, ExecutionKernel, BuysOnce]:
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rt-poll")
    runtime = TradingRuntime(kernel, **options)
    strategy = BuysOnce(name="s")
    runtime.add_strategy(strategy)
    return runtime, kernel, strategy


def test_a_fill_the_venue_reports_later_reaches_the_strategy_before_the_next_data_point() -> None:
    venue = FillsLater()
    runtime, kernel, s = on_later(venue)
    fills: list[VenueEvent] = []
    runtime.fill_listeners.append(lambda event, row: fills.append(event))
    runtime.on_bar(bar(0))  # buys: the venue acknowledges the order, which rests
    assert kernel.slot_state(0).fsm_state.name == "ENTRY_WORKING" and venue.polls == 0
    runtime.on_bar(bar(1))  # polled first: the fill is booked before the strategy hears the bar
    assert venue.polls == 1
    assert [(f.side, f.size, f.price) for f in s.heard] == [("BUY", 1.0, 100.0)]
    assert s.seen == [0.0, 1.0]
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN" and kernel.slot_state(0).size == 1.0
    assert [e.event_id for e in fills] == [f"fill-{venue.orders[0].client_order_id}"]
    assert runtime.stats["fills"] == 1 and runtime.handles["s"].fills == 1
    assert runtime.working_orders == 0
    runtime.on_bar(bar(2))  # nothing works: nothing polled
    assert venue.polls == 1


def test_a_rejection_the_venue_reports_later_frees_the_slot_and_is_counted() -> None:
    venue = FillsLater(answer="REJECT")
    runtime, kernel, s = on_later(venue)
    rejections = VenueRejections()
    runtime.event_listeners.append(rejections.on_event)
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1))
    assert rejections.orders == 1 and rejections.reasons == {"insufficient balance": 1}
    assert kernel.slot_state(0).fsm_state.name in ("IDLE", "CLOSED") and not s.busy("AAA")
    assert runtime.working_orders == 0


def test_under_the_data_clock_every_data_point_polls_while_an_order_works() -> None:
    venue = FillsLater(polls_before=5)
    runtime, _, s = on_later(venue)
    runtime.run([quote(m) for m in range(4)])
    assert venue.polls == 3 and s.heard == []  # the three after the buy
    runtime.run([quote(m) for m in range(4, 8)])
    assert venue.polls == 5 and len(s.heard) == 1  # the fill on the fifth poll, then none
    assert s.seen == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    clock = FakeMonotonic()
    monkeypatch.setattr(time, "monotonic", clock)
    return clock


@pytest.mark.parametrize("interval", [None, 5.0])
def test_under_the_wall_clock_data_points_poll_at_most_every_poll_interval(
    monotonic: FakeMonotonic, interval: float | None
) -> None:
    """A fast quote feed polled a REST venue (a request per working order) on every quote."""
    venue = FillsLater(polls_before=3)
    options: dict[str, Any] = {"clock": "wall"}
    if interval is not None:
        options["poll_interval"] = interval
    every = 1.0 if interval is None else interval  # the default: a poll a second at most
    runtime, kernel, s = on_later(venue, **options)
    runtime.run([quote(0)])  # buys
    runtime.run([quote(m) for m in range(1, 50)])  # at once: one poll, the first
    assert venue.polls == 1
    monotonic.now += every * 0.99
    runtime.on_quote(quote(50))
    assert venue.polls == 1
    monotonic.now += every * 0.02
    runtime.run([quote(m) for m in range(51, 60)])
    assert venue.polls == 2
    # poll_venues() polls at once, and counts as the last poll for the data points' next one.
    monotonic.now += every * 0.5
    runtime.poll_venues()
    assert venue.polls == 3 and len(s.heard) == 1
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    monotonic.now += every * 10
    runtime.on_quote(quote(60))
    assert venue.polls == 3  # nothing works any more


class SlowPolls(FillsLater):
    """A venue whose every poll takes ``seconds`` of the (fake) monotonic clock."""

    def __init__(self, clock: FakeMonotonic, seconds: float) -> None:
        super().__init__(polls_before=100)  # the order keeps working
        self.clock = clock
        self.seconds = seconds

    def poll_events(self) -> Any:
        self.clock.now += self.seconds
        return super().poll_events()


@pytest.mark.parametrize("poll", ["data point", "poll_venues"])
def test_under_the_wall_clock_the_poll_interval_counts_from_the_end_of_the_last_poll(
    monotonic: FakeMonotonic, poll: str
) -> None:
    """Counted from a poll's start, a poll slower than the interval left it passed by the time
    the poll ended: every data point polled again, back to back, and the data loop spent its
    time polling."""
    venue = SlowPolls(monotonic, seconds=3.0)
    runtime, _, s = on_later(venue, clock="wall", poll_interval=1.0)
    runtime.on_quote(quote(0))  # buys
    if poll == "data point":
        runtime.on_quote(quote(1))
    else:
        runtime.poll_venues()
    assert venue.polls == 1 and monotonic.now == 1003.0
    runtime.run([quote(m) for m in range(2, 20)])  # within a second of the poll's end
    monotonic.now += 0.99
    runtime.on_quote(quote(20))
    assert venue.polls == 1
    monotonic.now += 0.02
    runtime.on_quote(quote(21))
    assert venue.polls == 2 and monotonic.now == 1007.01
    runtime.on_quote(quote(22))
    assert venue.polls == 2 and len(s.seen) == runtime.data_points


def test_a_live_loop_without_data_polls_by_itself() -> None:
    venue = FillsLater()
    runtime, kernel, s = on_later(venue, clock="wall")
    runtime.on_quote(quote(0))
    polled = runtime.poll_venues()
    assert [e.kind.name for e in polled] == ["FILL"]
    assert len(s.heard) == 1 and kernel.slot_state(0).size == 1.0
    assert runtime.poll_venues() == [] and venue.polls == 2


def test_a_live_loop_waiting_for_data_polls_when_a_data_point_would(monotonic: FakeMonotonic) -> None:
    """``poll_venues_if_due``: a poll while an order works, at most every ``poll_interval``,
    the interval shared with the data points (one right after it polls nothing)."""
    venue = FillsLater(polls_before=2)
    runtime, kernel, s = on_later(venue, clock="wall", poll_interval=1.0)
    runtime.poll_venues_if_due()
    assert venue.polls == 0  # nothing works
    runtime.on_quote(quote(0))  # buys
    runtime.poll_venues_if_due()
    assert venue.polls == 1
    runtime.poll_venues_if_due()
    runtime.on_quote(quote(1))
    monotonic.now += 0.99
    runtime.poll_venues_if_due()
    assert venue.polls == 1 and s.heard == []
    monotonic.now += 0.02
    runtime.poll_venues_if_due()
    assert venue.polls == 2 and len(s.heard) == 1
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    monotonic.now += 10
    runtime.poll_venues_if_due()
    assert venue.polls == 2  # nothing works any more


def test_a_listener_s_error_in_a_poll_between_data_points_is_raised() -> None:
    venue = FillsLater()
    runtime, _, s = on_later(venue, clock="wall")

    def broken(event: VenueEvent, row: Any) -> None:
        raise RuntimeError("sink down")

    runtime.fill_listeners.append(broken)
    runtime.on_quote(quote(0))
    with pytest.raises(RuntimeError, match="sink down"):
        runtime.poll_venues_if_due()
    assert len(s.heard) == 1  # routed to the strategy all the same


@pytest.mark.parametrize("fault", ["raise", "none", "junk"])
def test_a_poll_that_fails_is_logged_and_counted_and_the_run_goes_on(
    fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    venue = FillsLater()
    venue.faults = [fault]
    runtime, _, s = on_later(venue)
    with caplog.at_level(logging.WARNING, logger="dita.runtime"):
        runtime.run([bar(0), bar(1)])
    assert runtime.stats["venue_poll_errors"] == 1
    assert s.seen == [0.0, 0.0]  # the data point reached the strategy all the same
    said = [r.getMessage() for r in caplog.records if r.name == "dita.runtime"]
    assert len(said) == 1 and said[0].startswith("venue 'later': the venue's poll_events ")
    runtime.run([bar(2), bar(3)])  # the next poll answers
    assert venue.polls == 2 and len(s.heard) == 1 and s.seen[-1] == 1.0
    assert runtime.stats["venue_poll_errors"] == 1


def test_finish_takes_the_venues_last_news() -> None:
    venue = FillsLater()
    runtime, kernel, s = on_later(venue)
    runtime.on_bar(bar(0))
    runtime.finish()
    assert venue.polls == 1 and len(s.heard) == 1
    assert kernel.slot_state(0).size == 1.0 and runtime.working_orders == 0


def test_a_router_is_polled_once_for_the_venues_behind_it() -> None:
    east, west = FillsLater(), FillsLater()
    east.name, west.name = "east", "west"
    paper = PaperVenue()
    router = VenueRouter({"east": east, "west": west, "paper": paper}, default="east")
    runtime, kernel, s = on_later(router, venues=[paper, east])
    assert runtime.polled_venues == [router]
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1))
    assert (east.polls, west.polls) == (1, 1) and len(s.heard) == 1
    assert kernel.slot_state(0).size == 1.0


def test_a_replay_on_simulated_venues_polls_nothing() -> None:
    """No simulated venue reports later: a backtest's speed and results do not change."""
    paper = PaperVenue()
    router = VenueRouter({"a": PaperVenue(name="a"), "b": PaperVenue(name="b")}, default="a")
    for venue in (paper, router):
        kernel = ExecutionKernel(max_slots=2, venue=venue)
        assert TradingRuntime(kernel).polled_venues == []


@pytest.mark.parametrize("interval", [0, -1.0, math.nan, math.inf, "1", True, None])
def test_a_bad_poll_interval_is_refused_naming_it(interval: Any) -> None:
    kernel = ExecutionKernel(max_slots=2, venue=FillsLater())
    with pytest.raises(ValueError, match=rf"poll_interval={interval!r} must be a positive finite number"):
        TradingRuntime(kernel, clock="wall", poll_interval=interval)


# -- a CcxtVenue against the recorded exchange of tests/venues ------------------------------


@pytest.fixture
def exchange(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.syspath_prepend(str(VENUE_TESTS))
    from recorded_exchange import serving

    with serving() as server:
        yield server


@pytest.fixture
def binance(exchange: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A CcxtVenue on Binance spot against the recorded exchange, its markets loaded."""
    from dita.venues import CcxtVenue

    monkeypatch.setenv("DITA_TEST_POLL_KEY", "test-api-key")
    monkeypatch.setenv("DITA_TEST_POLL_SECRET", "test-api-secret")
    exchange.script("GET", "/api/v3/exchangeInfo", "binance/spot_exchange_info.json", repeat=True)
    exchange.script("GET", "/api/v3/time", payload={"serverTime": int(time.time() * 1000)}, repeat=True)
    venue = CcxtVenue(
        exchange="binance",
        base_url=exchange.url,
        api_key_env="DITA_TEST_POLL_KEY",
        secret_env="DITA_TEST_POLL_SECRET",
        timeout_ms=1500,
        rate_limit_ms=1,
        resolve_delay_ms=0,
    )
    try:
        venue.load_markets()
        yield venue
    finally:
        venue.close()


def test_a_resting_order_on_a_ccxt_venue_is_filled_through_the_runtime(exchange: Any, binance: Any) -> None:
    kernel = ExecutionKernel(max_slots=2, venue=binance, kernel_id="rt-ccxt")
    runtime = TradingRuntime(kernel)
    s = RestsOnBinance(name="s")
    runtime.add_strategy(s)
    placed = exchange.fixture("binance/spot_order_limit_new.json")
    placed["clientOrderId"] = "rt-ccxt-1"
    exchange.script("POST", "/api/v3/order", payload=placed)
    runtime.on_quote(Quote("BTCUSDT", 1.7e9, 89990.0, 90010.0, 1.0, 1.0))  # buys 0.02 at 90000
    assert kernel.slot_state(0).fsm_state.name == "ENTRY_WORKING"
    # The next quotes poll: the order's status and trades, part filled, then filled.
    for answer, trades in (("partial", "partial"), ("filled", "filled")):
        exchange.script("GET", "/api/v3/order", f"binance/spot_query_limit_{answer}.json")
        exchange.script("GET", "/api/v3/myTrades", f"binance/spot_trades_limit_{trades}.json")
        runtime.on_quote(Quote("BTCUSDT", 1.7e9 + 1, 89990.0, 90010.0, 1.0, 1.0))
    heard = [(f.size, f.price) for f in s.heard]
    assert heard == [(pytest.approx(0.008), 90000.0), (pytest.approx(0.012), 90000.0)]
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    assert kernel.slot_state(0).size == pytest.approx(0.02)
    runtime.on_quote(Quote("BTCUSDT", 1.7e9 + 2, 89990.0, 90010.0, 1.0, 1.0))  # nothing works: no request
    assert len(exchange.calls("GET", "/api/v3/order")) == 2


class RestsOnBinance(Strategy[Any]):
    data = ("quotes",)

    def on_start(self) -> None:
        self.heard: list[Fill] = []
        self.sent = False

    def on_quote(self, quote: Quote) -> None:
        if not self.sent:
            self.sent = True
            out = self.buy(quote.asset, 0.02, price=90000.0, limit=90000.0)
            assert out.accepted, out.details

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill)


class CancelsOnBinance(Strategy[Any]):
    """Buys 0.02 at 89000 (a limit that rests) on its first quote, cancels it on its second."""

    data = ("quotes",)

    def on_start(self) -> None:
        self.heard: list[Fill] = []
        self.quotes = 0

    def on_quote(self, quote: Quote) -> None:
        self.quotes += 1
        if self.quotes == 1:
            assert self.buy(quote.asset, 0.02, price=89000.0, limit=89000.0).accepted
        elif self.quotes == 2:
            [slot] = [s for s in self.slots() if s.asset == quote.asset]
            self.cancel(slot.slot_id)

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill)


def _resting_on_binance(
    exchange: Any, binance: Any
) -> tuple[TradingRuntime, ExecutionKernel, CancelsOnBinance]:
    """A runtime on ``binance`` whose strategy's limit buy rests (one quote in); the exchange
    says it rests at the next quote's poll, and answers its cancel with 0.005 executed."""
    kernel = ExecutionKernel(max_slots=2, venue=binance, kernel_id="rt-ccxt")
    runtime = TradingRuntime(kernel)
    s = CancelsOnBinance(name="s")
    runtime.add_strategy(s)
    placed = exchange.fixture("binance/spot_order_limit_new_2.json")
    placed["clientOrderId"] = "rt-ccxt-1"
    exchange.script("POST", "/api/v3/order", payload=placed)
    runtime.on_quote(Quote("BTCUSDT", 1.7e9, 88990.0, 89010.0, 1.0, 1.0))  # buys: it rests
    resting = exchange.fixture("binance/spot_query_canceled_2.json")
    resting.update(status="NEW", executedQty="0.00000000", cummulativeQuoteQty="0.00000000")
    exchange.script("GET", "/api/v3/order", payload=resting)
    exchange.script("DELETE", "/api/v3/order", "binance/spot_cancel_partial.json")
    return runtime, kernel, s


def test_a_fill_a_ccxt_venue_reports_after_the_orders_cancel_is_still_polled_for(
    exchange: Any, binance: Any
) -> None:
    """The exchange's cancel answer counts 0.005 executed while its trade list does not show
    the trade yet: the venue ends the order (CANCEL_ACK, filled_size 0.005) and keeps asking
    about it until the trade shows, then reports the FILL from a poll. The runtime polled only
    while an order of its own worked, so after the cancel nothing asked: the 0.005 bought at
    the exchange reached neither the kernel nor the strategy until finish()."""
    runtime, kernel, s = _resting_on_binance(exchange, binance)
    # The next quote polls (still new), then the strategy cancels: 0.005 executed, no trade yet.
    exchange.script("GET", "/api/v3/myTrades", payload=[])
    runtime.on_quote(Quote("BTCUSDT", 1.7e9 + 1, 88990.0, 89010.0, 1.0, 1.0))
    assert s.heard == [] and runtime.working_orders == 0
    assert len(exchange.calls("DELETE", "/api/v3/order")) == 1
    # The trade shows now: the next data point's poll takes it to the kernel and the strategy.
    exchange.script("GET", "/api/v3/order", "binance/spot_query_canceled_2.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_cancel_partial.json")
    runtime.on_quote(Quote("BTCUSDT", 1.7e9 + 2, 88990.0, 89010.0, 1.0, 1.0))
    assert [(f.size, f.price) for f in s.heard] == [(pytest.approx(0.005), 89000.0)]
    assert kernel.slot_state(0).size == pytest.approx(0.005)
    # Nothing works or is awaited any more: no request.
    runtime.on_quote(Quote("BTCUSDT", 1.7e9 + 3, 88990.0, 89010.0, 1.0, 1.0))
    assert len(exchange.calls("GET", "/api/v3/order")) == 2


def test_a_fill_that_raced_a_cancel_acknowledged_without_a_size_is_polled_for(
    exchange: Any, binance: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exchange's cancel answer states no executed size (HTX's does not): the venue ends
    the order with 0, the kernel's "cannot say", and asks about it on (``following``). The
    runtime polled only while an order worked or a fill was awaited, so nothing asked again:
    the 0.005 filled before the cancel reached neither the kernel nor the strategy."""
    runtime, kernel, s = _resting_on_binance(exchange, binance)
    cancel_order = binance._exchange.cancel_order

    def without_its_size(*args: Any, **kwargs: Any) -> Any:
        return {**cancel_order(*args, **kwargs), "filled": None, "remaining": None, "cost": None}

    monkeypatch.setattr(binance._exchange, "cancel_order", without_its_size)
    runtime.on_quote(Quote("BTCUSDT", 1.7e9 + 1, 88990.0, 89010.0, 1.0, 1.0))  # cancels
    assert s.heard == [] and runtime.working_orders == 0 and kernel.awaited_orders() == []
    assert binance.following()
    # The exchange says now what the order filled: the next data point's poll books it.
    exchange.script("GET", "/api/v3/order", "binance/spot_query_canceled_2.json")
    exchange.script("GET", "/api/v3/myTrades", "binance/spot_trades_cancel_partial.json")
    runtime.on_quote(Quote("BTCUSDT", 1.7e9 + 2, 88990.0, 89010.0, 1.0, 1.0))
    assert [(f.size, f.price) for f in s.heard] == [(pytest.approx(0.005), 89000.0)]
    assert kernel.slot_state(0).size == pytest.approx(0.005) and not binance.following()


class Follows(FillsLater):
    """A venue that says whether it still asks about an order (``following``)."""

    def __init__(self, follows: Any) -> None:
        super().__init__()
        self.follows = follows

    def following(self) -> bool:
        if isinstance(self.follows, Exception):
            raise self.follows
        return bool(self.follows)


def test_a_router_follows_while_a_venue_behind_it_does_and_a_failing_answer_is_no(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet, busy = Follows(False), Follows(True)
    busy.name = "busy"
    assert VenueRouter({"later": quiet, "busy": busy}, default="later").following()
    busy.follows = False
    assert not VenueRouter({"later": quiet, "busy": busy}, default="later").following()
    broken = Follows(ConnectionError("exchange unreachable"))
    runtime, _, _ = on_later(broken)
    with caplog.at_level(logging.WARNING):
        runtime.run([bar(0), bar(1)])  # polls for the order it placed all the same
    assert broken.polls >= 1 and "following() raised ConnectionError" in caplog.text


class ThrottlesLater(FillsLater):
    """Answers a submit with nothing; its next poll reports the submit throttled."""

    def submit(self, order: Any) -> list[VenueEvent]:
        self.orders.append(order)
        self._waits[order.client_order_id] = 1
        return []

    def poll_events(self) -> Any:
        self.polls += 1
        events = []
        for order in self.orders:
            if self._waits.pop(order.client_order_id, None) is not None:
                events.append(
                    VenueEvent(
                        f"rl-{order.client_order_id}", order.trade_id, order.slot_id, "RATE_LIMITED",
                        venue_client_id=order.client_order_id, asset=order.asset, side=order.order_side,
                        retry_after=1.0,
                    )
                )  # fmt: skip
        return events


def test_a_throttle_the_venue_reports_later_frees_the_strategy() -> None:
    """The kernel refuses a rate limit (the outcome says RATE_LIMITED), yet it ended the order:
    a polled one was not routed, and the strategy stayed busy with a slot the kernel freed."""
    venue = ThrottlesLater()
    runtime, kernel, s = on_later(venue)
    runtime.run([bar(0), bar(1)])
    assert kernel.slot_state(0).fsm_state.name == "IDLE" and venue.polls >= 1
    assert not s.busy("AAA") and runtime.working_orders == 0


class _InDoubtVenue(ThrottlesFirstCancel):
    """Throttles the first cancel (the order's end is in doubt), and reports nothing later."""

    def poll_events(self) -> list[VenueEvent]:
        return []


def test_between_data_points_the_orders_in_doubt_are_asked_about_when_due(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As a data point asks: on 1h bars an entry in doubt (maybe filled at the exchange, its slot
    idle) waited for the next bar."""
    looks: list[int] = []
    monkeypatch.setattr(OrdersInDoubt, "reconcile_orders_in_doubt", lambda self: looks.append(1))
    venue = _InDoubtVenue()
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id="doubt-between-bars")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [venue], clock="wall")
    strategy = Idle(name="g")
    runtime.add_strategy(strategy)
    runtime.start()
    runtime.on_bar(Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0))
    strategy.cancel(strategy.buy("AAA", 1.0, price=100.0, limit=99.0).slot_id)
    assert kernel.orders_in_doubt()
    runtime._doubts.next_look = 0.0  # due, as DOUBT_FIRST_WAIT after the cancel
    looks.clear()
    runtime.poll_venues_if_due()
    assert looks == [1]
    kernel.close()
