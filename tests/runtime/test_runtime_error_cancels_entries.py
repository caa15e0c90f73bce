"""A strategy put in ERROR has its working entry orders canceled: it acts on nothing any more,
so a resting entry that filled later opened a position it would never exit. Its exits keep
working (they reduce risk) and its positions are left as they are."""

from __future__ import annotations

from typing import Any

import pytest

from dita import VenueEvent
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy
from dita.venues.paper import PaperVenue

from .entry_cancels import T0, CancelDown, HoldsWithExitAndEntry, Rests, bar, paper, paper_run


class RestsThenRaises(Rests):
    """Rests a buy limit at 90 on its first bar, raises on its second."""

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        if self.seen == 2:
            raise RuntimeError("boom")


def test_a_failed_strategys_resting_entry_is_canceled_and_opens_nothing() -> None:
    venue = paper()
    strategy = RestsThenRaises(name="s")
    kernel, runtime = paper_run(venue, strategy)
    runtime.on_bar(bar(0))
    assert [o.client_order_id for o in venue.open_orders()] != []
    runtime.on_bar(bar(1))
    assert runtime.status()[0]["status"] == "ERROR"
    # After the failing bar: the venue no longer holds it, the kernel's slot works nothing.
    assert venue.open_orders() == []
    assert kernel.open_orders() == []
    assert kernel.slot_state(0).fsm_state.name in ("IDLE", "CLOSED")
    assert runtime.working_orders == 0
    assert runtime.stats["error_cancels"] == 1 and runtime.stats["error_cancels_failed"] == 0
    # A later price through the limit opens nothing.
    runtime.on_bar(bar(2, low=80.0, close=85.0))
    runtime.finish()
    assert kernel.account()["open_positions"] == 0
    assert strategy.fills == [] and not strategy.busy("AAA")


class HoldsWithExitAndEntryThenRaises(HoldsWithExitAndEntry):
    """HoldsWithExitAndEntry, raising on bar 2."""

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        if self.seen == 3:
            raise RuntimeError("boom")


def test_a_failed_strategys_exit_keeps_working_and_closes_the_trade() -> None:
    venue = paper()
    strategy = HoldsWithExitAndEntryThenRaises(name="s")
    kernel, runtime = paper_run(venue, strategy)
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1))  # the market buy fills; the exit and the second entry rest
    assert len(venue.open_orders()) == 2
    runtime.on_bar(bar(2))  # raises
    assert runtime.status()[0]["status"] == "ERROR"
    # The entry is gone, the exit still works.
    (left,) = venue.open_orders()
    assert left.order_side.name == "SELL"
    tp = kernel.slot_state(strategy.take_profit)
    assert tp.fsm_state.name == "EXIT_WORKING" and tp.size == 1.0
    # The price goes through both limits: the exit fills and closes the trade, no entry fills.
    runtime.on_bar(bar(3, low=85.0, high=115.0, close=112.0))
    runtime.finish()
    assert kernel.account()["open_positions"] == 0
    sells = [f for f in strategy.fills if f.side == "SELL"]
    assert [(f.price, f.size, f.closed) for f in sells] == [(110.0, 1.0, True)]
    assert [f.side for f in strategy.fills] == ["BUY", "SELL"]


def test_a_cancel_that_fails_is_logged_counted_and_the_run_goes_on(caplog: Any) -> None:
    venue = CancelDown(slippage_bps=0, latency_ms=0, bar_volume_share=1.0)
    failing = RestsThenRaises(name="failing")
    other = RestsThenRaises(name="other")
    other.on_bar = lambda bar: None  # type: ignore[method-assign]
    kernel, runtime = paper_run(venue, failing, other)
    runtime.on_bar(bar(0))
    (entry,) = kernel.open_orders()
    with caplog.at_level("ERROR", logger="dita.runtime"):
        runtime.on_bar(bar(1))  # does not raise
    assert runtime.status()[0]["status"] == "ERROR" and runtime.status()[1]["status"] == "RUNNING"
    assert runtime.stats["error_cancels_failed"] == 1
    said = [r.getMessage() for r in caplog.records if "cancel" in r.getMessage()]
    assert len(said) == 1 and "'failing'" in said[0] and entry.client_order_id in said[0]
    assert "venue down" in said[0]  # at ERROR: the log is taken from that level up
    runtime.on_bar(bar(2))  # the loop goes on
    assert runtime.data_points == 3


class MarketThenLimitFailsOnFill(Strategy[Any]):
    """Buys at market, then rests a buy limit at 90, on its first bar; its on_fill raises."""

    def on_start(self) -> None:
        self.seen = 0

    def on_bar(self, bar: Bar) -> None:
        self.seen += 1
        if self.seen == 1:
            assert self.buy(bar.asset, 1.0, price=bar.close).accepted
            assert self.buy(bar.asset, 1.0, price=bar.close, limit=90.0).accepted

    def on_fill(self, fill: Fill) -> None:
        raise RuntimeError("boom in on_fill")


def test_failing_while_a_venue_answer_is_routed_cancels_after_it() -> None:
    """on_fill raises while the venue's fills of a bar are routed: the cancels wait until
    they all are, so the limit's fill of that same bar is booked (not met by a cancel of an
    order the venue already filled, which it refuses), and the limit left working after a
    bar that does not reach it is canceled."""
    venue = paper()
    strategy = MarketThenLimitFailsOnFill(name="s")
    kernel, runtime = paper_run(venue, strategy)
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1))  # the market buy fills: on_fill raises; the limit is not reached
    assert runtime.status()[0]["status"] == "ERROR"
    assert venue.open_orders() == [] and kernel.open_orders() == []
    assert runtime.stats["error_cancels"] == 1 and runtime.stats["error_cancels_failed"] == 0
    runtime.on_bar(bar(2, low=80.0, close=85.0))
    assert [f.price for f in strategy.fills] == [100.0]
    assert kernel.account()["open_positions"] == 1  # the market buy's position, left as it is

    venue = paper()
    strategy = MarketThenLimitFailsOnFill(name="s")
    kernel, runtime = paper_run(venue, strategy)
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1, low=85.0))  # both fill in one venue answer; on_fill raises on the first
    assert runtime.status()[0]["status"] == "ERROR"
    assert sorted(f.price for f in strategy.fills) == [90.0, 100.0]
    assert runtime.stats["error_cancels"] == 0 and runtime.stats["error_cancels_failed"] == 0
    assert kernel.account()["open_positions"] == 2


class ReportsFromItsSubmit:
    """A venue that, inside its own submit, has the runtime poll it (a feed pumped on the
    caller's thread): the fill of an earlier order (``fill_at_next_submit``) is routed while the
    kernel's venue call is under way. Orders rest until so filled; records whether a cancel
    came inside submit."""

    name = "reports"

    def __init__(self) -> None:
        self.runtime: TradingRuntime | None = None
        self.orders: dict[str, Any] = {}
        self.queued: list[VenueEvent] = []
        self.to_fill: list[str] = []
        self.inside_submit = False
        self.cancels: list[tuple[str, bool]] = []
        self.n = 0

    def _event(self, order: Any, kind: str, status: str, **more: Any) -> VenueEvent:
        self.n += 1
        return VenueEvent(
            f"ev{self.n}",
            order.trade_id,
            order.slot_id,
            kind,
            venue_client_id=order.client_order_id,
            venue_order_id=f"v-{order.client_order_id}",
            asset=order.asset,
            side=order.order_side,
            status=status,
            timestamp=T0,
            **more,
        )

    def submit(self, order: Any) -> list[VenueEvent]:
        for client_order_id in self.to_fill:
            self.fill(client_order_id)
        self.to_fill = []
        self.orders[order.client_order_id] = order
        self.inside_submit = True
        try:
            if self.runtime is not None:
                self.runtime.poll_venues()
        finally:
            self.inside_submit = False
        return [self._event(order, "ORDER_ACK", "ACKNOWLEDGED")]

    def fill(self, client_order_id: str) -> None:
        order = self.orders.pop(client_order_id)
        self.queued.append(
            self._event(order, "FILL", "FILLED", price=order.price, size=order.size, filled_size=order.size)
        )

    def cancel(self, order: Any) -> list[VenueEvent]:
        self.cancels.append((order.client_order_id, self.inside_submit))
        self.orders.pop(order.client_order_id, None)
        return [self._event(order, "CANCEL_ACK", "CANCELED", filled_size=0.0)]

    def poll_events(self) -> list[VenueEvent]:
        events, self.queued = self.queued, []
        return events

    def open_orders(self) -> list[Any]:
        return list(self.orders.values())

    def positions(self) -> dict[str, float]:
        return {}


class TwoLimitsFailsOnFill(Strategy[Any]):
    def on_start(self) -> None:
        self.seen = 0

    def on_bar(self, bar: Bar) -> None:
        self.seen += 1
        if self.seen == 1:
            assert self.buy(bar.asset, 1.0, price=bar.close, limit=95.0).accepted
            assert self.buy(bar.asset, 1.0, price=bar.close, limit=90.0).accepted
        elif self.seen == 2:
            # Its submit has the venue report the first limit's fill: on_fill raises then.
            self.buy(bar.asset, 1.0, price=bar.close, limit=80.0)

    def on_fill(self, fill: Fill) -> None:
        raise RuntimeError("boom in on_fill")


def test_failing_inside_the_kernels_venue_call_cancels_once_it_is_over() -> None:
    venue = ReportsFromItsSubmit()
    strategy = TwoLimitsFailsOnFill(name="s")
    kernel, runtime = paper_run(venue, strategy)
    venue.runtime = runtime
    runtime.on_bar(bar(0))
    first, second = (o.client_order_id for o in kernel.open_orders())
    venue.to_fill.append(first)
    runtime.on_bar(bar(1))
    assert runtime.status()[0]["status"] == "ERROR"
    assert [f.price for f in strategy.fills] == [95.0]
    # Both entries still working (the third sent in the call) are canceled, and not from
    # inside the venue's submit.
    assert len(venue.cancels) == 2 and all(not inside for _, inside in venue.cancels)
    assert second == venue.cancels[0][0]
    assert [o.client_order_id for o in kernel.open_orders()] == []
    assert runtime.stats["error_cancels_failed"] == 0


class RacesTheCancel(PaperVenue):
    """Answers a cancel with a fill of half the order that raced it, then the cancel's ack."""

    def cancel(self, order: Any) -> list[VenueEvent]:
        answer = super().cancel(order)
        half = order.size / 2
        fill = VenueEvent(
            f"race-{order.client_order_id}",
            order.trade_id,
            order.slot_id,
            "FILL",
            venue_client_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            asset=order.asset,
            side=order.order_side,
            status="PARTIALLY_FILLED",
            price=order.price,
            size=half,
            filled_size=half,
            timestamp=answer[0].timestamp,
        )
        ack = VenueEvent(**{**answer[0].to_dict(), "filled_size": half})
        return [fill, ack]


def test_a_fill_racing_the_cancel_is_booked() -> None:
    venue = RacesTheCancel(slippage_bps=0, latency_ms=0, bar_volume_share=1.0)
    strategy = RestsThenRaises(name="s")
    kernel, runtime = paper_run(venue, strategy)
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1))
    assert runtime.stats["error_cancels"] == 1 and runtime.stats["error_cancels_failed"] == 0
    slot = kernel.slot_state(0)
    assert slot.fsm_state.name == "POSITION_OPEN" and slot.size == pytest.approx(0.5)
    assert [(f.price, f.size) for f in strategy.fills] == [(90.0, 0.5)]
    assert runtime.stats["fills"] == 1 and kernel.open_orders() == []
    assert strategy.busy("AAA")  # the position is left to the operator
