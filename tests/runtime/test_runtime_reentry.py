"""Data handed to the runtime from inside a strategy's callback (or a listener) is refused:
the other strategies heard the new data point before the one they were hearing. An intent a
strategy sends from its ``on_fill`` is taken, and the fills of the answer being routed still
reach it, each once, in order."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent
from dita.runtime import StrategyStatus, TradingRuntime
from dita.strategy import Bar, Fill, Quote, Strategy
from dita.venues import ShadowVenue
from runtime.points import T0, ack, bar, quote


class Feeder(Strategy[Any]):
    """Hands the runtime a later data point from its own callback."""

    data = ("bars", "quotes")

    def on_bar(self, item: Bar) -> None:
        if item.ts == T0 + 60:
            self.ctx._runtime.on_bar(bar(5))

    def on_quote(self, item: Quote) -> None:
        if item.ts == T0 + 60:
            self.ctx._runtime.on_quote(quote(5))


class Watcher(Strategy[Any]):
    data = ("bars", "quotes")

    def on_start(self) -> None:
        self.seen: list[float] = []

    def on_bar(self, item: Bar) -> None:
        self.seen.append(item.ts)

    def on_quote(self, item: Quote) -> None:
        self.seen.append(item.ts)


@pytest.mark.parametrize(("call", "make"), [("on_bar", bar), ("on_quote", quote)])
def test_data_handed_over_from_a_callback_is_refused_and_the_others_hear_in_order(
    call: str, make: Any
) -> None:
    kernel = ExecutionKernel(max_slots=4, venue=ShadowVenue(), kernel_id="reentry")
    runtime = TradingRuntime(kernel)
    feeder, watcher = Feeder(name="feeder"), Watcher(name="watcher")
    runtime.add_strategy(feeder)
    runtime.add_strategy(watcher)
    getattr(runtime, call)(make(1))
    assert watcher.seen == [T0 + 60]
    assert runtime.now() == T0 + 60
    handle = runtime.handles["feeder"]
    assert handle.status is StrategyStatus.ERROR
    assert handle.error.startswith(f"RuntimeError: {call} called while the runtime is handing out")
    # The runtime goes on with the next data point from the feed.
    getattr(runtime, call)(make(2))
    assert watcher.seen == [T0 + 60, T0 + 120]
    assert runtime.data_points == 2


class TwoTrades:
    """Fills each order at submit in two trades of half its size (a market order walking the
    book: a ``CcxtVenue`` answer gives a fill per trade)."""

    name = "two-trades"

    def __init__(self) -> None:
        self.n = 0

    def submit(self, order: Any) -> list[VenueEvent]:
        events = [ack(order)]
        for filled in (order.size / 2, order.size):
            self.n += 1
            fill = VenueEvent(
                f"fill-{self.n}", order.trade_id, order.slot_id, "FILL",
                "FILLED" if filled == order.size else "PARTIALLY_FILLED",
                venue_client_id=order.client_order_id, asset=order.asset, side=order.order_side,
                price=100.0, size=order.size / 2, filled_size=filled,
                remaining_size=order.size - filled, fill_id=f"F{self.n}",
            )  # fmt: skip
            events.append(fill)
        return events

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


class Reacts(Strategy[Any]):
    """Buys 1 at the first bar; ``exit_on_entry``: exits it from the first entry fill it hears,
    else, from the first fill of that exit it hears, buys 3 (a reversal, into the freed slot)."""

    def __init__(self, *, exit_on_entry: bool) -> None:
        super().__init__(name="reacts")
        self.exit_on_entry = exit_on_entry
        self.heard: list[tuple[str, str, float, bool]] = []
        self.acted = False

    def on_bar(self, item: Bar) -> None:
        if not self.busy(item.asset) and not self.heard:
            assert self.buy(item.asset, 1.0, price=100.0).accepted

    def on_fill(self, fill: Fill) -> None:
        self.heard.append((fill.trade_id, fill.side, fill.size, fill.closed))
        if self.acted:
            return
        if self.exit_on_entry and fill.side == "BUY":
            self.acted = True
            assert self.exit(fill.slot_id, price=100.0).accepted
        elif not self.exit_on_entry and fill.side == "SELL":
            self.acted = True
            assert self.buy(fill.asset, 3.0, price=100.0).accepted


@pytest.mark.parametrize("exit_on_entry", [True, False])
def test_an_intent_sent_from_on_fill_loses_no_fill_of_the_answer_being_routed(
    exit_on_entry: bool,
) -> None:
    """A strategy's ``on_fill`` was called as each fill of a venue answer was routed, and an
    intent it sent there was routed at once, in the middle of the answer. Exiting from the
    first of two entry fills, the exit freed the trade, so the second entry fill found no owner
    and never reached the strategy (it heard 0.5 bought, 1 sold: short by its own fills, flat
    by the kernel's). Buying again from the first of two exit fills, the new trade took the
    freed slot, so the exit's last fill said ``closed`` False: no fill of the trade closed it."""
    kernel = ExecutionKernel(max_slots=1, venue=TwoTrades(), kernel_id="fill-reentry")
    kernel.set_seed_capital(1e6)
    runtime = TradingRuntime(kernel)
    strategy = Reacts(exit_on_entry=exit_on_entry)
    runtime.add_strategy(strategy)
    runtime.on_bar(bar(1))
    if not exit_on_entry:
        assert strategy.exit(0, price=100.0).accepted
    first = [("reacts-t1", "BUY", 0.5, False), ("reacts-t1", "BUY", 0.5, False)]
    first += [("reacts-t1", "SELL", 0.5, False), ("reacts-t1", "SELL", 0.5, True)]
    then = [] if exit_on_entry else [("reacts-t2", "BUY", 1.5, False)] * 2
    assert strategy.heard == first + then
    assert [(f.trade_id, f.side, f.size, f.closed) for f in strategy.fills] == first + then
    heard = len(first + then)
    assert runtime.handles["reacts"].fills == strategy.fills_total == runtime.stats["fills"] == heard
    assert strategy.position("AAA") == kernel.slot_state(0).size == (0.0 if exit_on_entry else 3.0)
    assert strategy.busy("AAA") is not exit_on_entry


class ColumnsFeeder(Strategy[Any]):
    """Hands the runtime a later bar from its own callback, as a replay's rows do."""

    data = ("bars",)

    def __init__(self, *, name: str, through: str) -> None:
        super().__init__(name=name)
        self.through = through

    def on_bar(self, item: Bar) -> None:
        if item.ts != T0 + 60:
            return
        if self.through == "on_bar":
            self.ctx._runtime.on_bar(bar(5))
        else:
            row = [[100.0], [101.0], [99.0], [100.0], [10.0]]
            self.ctx._runtime.run_columns([T0 + 300.0], ["AAA"], row, "bars")


@pytest.mark.parametrize("through", ["on_bar", "run_columns"])
@pytest.mark.parametrize("progress", [None, lambda n: None], ids=["no progress", "progress"])
def test_data_handed_over_from_a_callback_during_a_replay_of_columns_is_refused(
    through: str, progress: Any
) -> None:
    """A replay hands its rows in chunks under one guard: a row handed back from a callback is
    refused all the same, and the others hear every row in order."""
    kernel = ExecutionKernel(max_slots=4, venue=ShadowVenue(), kernel_id="reentry")
    runtime = TradingRuntime(kernel)
    watcher = Watcher(name="watcher")
    runtime.add_strategy(ColumnsFeeder(name="feeder", through=through))
    runtime.add_strategy(watcher)
    times = [T0 + 60 * m for m in (1, 2, 3)]
    columns = [[100.0] * 3, [101.0] * 3, [99.0] * 3, [100.0] * 3, [10.0] * 3]
    assert runtime.run_columns(times, ["AAA"] * 3, columns, "bars", progress=progress) == 3
    assert watcher.seen == times
    handle = runtime.handles["feeder"]
    assert handle.status is StrategyStatus.ERROR
    assert handle.error.startswith("RuntimeError: on_bar called while the runtime is handing out")
    kernel.close()
