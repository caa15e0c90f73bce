"""A live run asks the venue for its news while its feed waits for the next bar, not only when one
comes: a fill the exchange made (and the user stream received) reaches the kernel and the
strategy's ``on_fill`` within the runtime's ``poll_interval``, and an exit placed on it goes out,
where on 1h or 1d bars they would wait up to a whole bar. A listener's error in such a poll ends
the run as one during a data point does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import test_venues_ccxt_streams as stream_tests
from bare_run import bare_run
from binance_streams import streaming
from test_venues_ccxt_streams import streamed_venue
from venue_helpers import ManualClock

from dita import ExecutionKernel, TradeStage, VenueEvent
from dita.cli.live_run import LiveRun
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy

# The keys the local Binance signs with, as the stream tests have them.
_keys = stream_tests._keys

THREAD = "dita-live-strategies"


class BuysOnTheFirstBarExitsOnItsFill(Strategy[Any]):
    """A limit buy at 90,000 on its first bar; on its fill, a limit exit at 95,000 (resting)."""

    def on_start(self) -> None:
        self.sent = threading.Event()
        self.filled = threading.Event()
        self.heard_on: list[str] = []

    def on_bar(self, bar: Bar) -> None:
        if not self.sent.is_set():
            self.buy(bar.asset, 0.02, price=90000.0, limit=90000.0)
            self.sent.set()

    def on_fill(self, fill: Fill) -> None:
        self.heard_on.append(threading.current_thread().name)
        if fill.side == "BUY":
            self.exit(fill.slot_id, price=95000.0, limit=95000.0)
        self.filled.set()


def buyer_on(
    venue: Any, kernel_id: str
) -> tuple[ExecutionKernel, TradingRuntime, BuysOnTheFirstBarExitsOnItsFill]:
    """A kernel of ``kernel_id`` over ``venue`` and a wall-clock runtime (as a live run builds
    it) running one buyer."""
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=kernel_id)
    kernel.set_seed_capital(1e6)
    runtime = TradingRuntime(kernel, [venue], clock="wall")
    strategy = BuysOnTheFirstBarExitsOnItsFill(name="buyer")
    runtime.add_strategy(strategy)
    return kernel, runtime, strategy


class OneBarThenAQuietPeriod:
    """As the market stream between two bars: one closed bar, then nothing while it waits for the
    next period's (``should_stop`` asked every quarter second)."""

    def __init__(self, asset: str) -> None:
        self.asset = asset

    def items(self, should_stop: Callable[[], bool], not_before: float) -> Iterator[Bar]:
        yield Bar(self.asset, time.time() - 60.0, 90000.0, 90000.0, 90000.0, 90000.0, 1.0)
        while not should_stop():
            time.sleep(0.25)

    def close(self) -> None:
        return None


def a_run(runtime: TradingRuntime, said: list[str], asset: str) -> LiveRun:
    """A LiveRun around ``runtime`` and a quiet feed (the stack a config builds left out)."""
    return bare_run(runtime, said, OneBarThenAQuietPeriod(asset))


def test_a_fill_between_two_bars_reaches_on_fill_and_its_exit_goes_out_before_the_next_bar() -> None:
    with streaming() as server:
        venue = streamed_venue(server, ManualClock())
        kernel, runtime, strategy = buyer_on(venue, "live-poll")
        said: list[str] = []
        run = a_run(runtime, said, "BTCUSDT")
        try:
            while venue.stream_status().state != "up":
                venue.poll_events()
                time.sleep(0.05)
            run.start()
            assert strategy.sent.wait(10)
            time.sleep(0.5)
            order = kernel.slot_state(0).active_entry_order
            assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING and order is not None
            server.fill(order.client_order_id)
            # No bar comes: the run's wait for one polls the venue every poll_interval (1 s).
            assert strategy.filled.wait(5), f"no fill heard between bars: {kernel.slot_state(0).fsm_state}"
            assert strategy.heard_on == [THREAD]
            assert kernel.slot_state(0).fsm_state == TradeStage.EXIT_WORKING
            assert run.failure is None and said == []
        finally:
            run.stop()
            kernel.close()
            venue.close()


class FillsAtTheFirstPoll:
    """Acknowledges each order at its submit and fills it at the next ``poll_events``."""

    name = "later"

    def __init__(self) -> None:
        self.resting: list[Any] = []
        self.polls = 0

    def submit(self, order: Any) -> list[VenueEvent]:
        self.resting.append(order)
        coid = order.client_order_id
        return [
            VenueEvent(
                f"ack-{coid}", order.trade_id, order.slot_id, "ORDER_ACK", status="ACKNOWLEDGED",
                venue_client_id=coid, asset=order.asset, side=order.order_side,
            )
        ]  # fmt: skip

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []

    def poll_events(self) -> list[VenueEvent]:
        self.polls += 1
        filled, self.resting = self.resting, []
        return [
            VenueEvent(
                f"fill-{o.client_order_id}", o.trade_id, o.slot_id, "FILL", status="FILLED",
                price=o.price, size=o.size, filled_size=o.size, venue_client_id=o.client_order_id,
                asset=o.asset, side=o.order_side,
            )
            for o in filled
        ]  # fmt: skip


def test_a_listener_s_error_in_a_poll_between_bars_ends_the_run_as_a_data_point_s_does() -> None:
    venue = FillsAtTheFirstPoll()
    kernel, runtime, strategy = buyer_on(venue, "live-poll-error")

    def broken_listener(event: VenueEvent, row: Any) -> None:
        raise RuntimeError("the fills sink is down")

    runtime.fill_listeners.append(broken_listener)
    said: list[str] = []
    run = a_run(runtime, said, "AAA")
    stopped = threading.Event()
    run.on_stopped = stopped.set
    try:
        run.start()
        # The bar's buy rests; the wait for the next bar polls, and the venue fills it.
        assert stopped.wait(10), "the run went on after a listener's error"
        assert strategy.filled.is_set() and venue.polls >= 1
        assert run.failure == "the strategies' thread stopped: RuntimeError: the fills sink is down"
        assert said[0] == f"error: {run.failure}"
        assert runtime.status()[0]["status"] == "STOPPED"  # the run's end stopped the strategies
    finally:
        run.stop()
        kernel.close()
