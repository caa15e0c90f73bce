"""A venue reporting a fill by its own order id only (no trade id, no client id, or no slot): the
kernel books it (docs/reference/venue-misbehaviour.md: "empty says nothing"), and the runtime
routes it to the strategy owning the trade by what the kernel booked, not by the event's own
empty fields. It routed by the event's trade id and slot: the strategy never heard the fill,
held the closed slot for good, and a fill naming no slot raised IndexError out of run(). So in a
venue's answer to a submit (a taker order filled at once), and for a late fill of an order that
had ended, whose asset the event did not say either."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent, VenueOrder
from dita.runtime import TradingRuntime
from dita.strategy import Bar

from .points import BuysOnce, venue_ack


def _fill(order: VenueOrder, n: int, **named: Any) -> VenueEvent:
    """Venue fill ``n`` of the whole of ``order``, naming it by the venue's id, and by what
    ``named`` gives of its trade id, slot, client id, asset and side (by default none of them:
    "empty says nothing")."""
    return VenueEvent(
        f"fill-{n}",
        named.get("trade_id", ""),
        named.get("slot_id", -1),
        "FILL",
        "FILLED",
        venue_order_id=f"V-{order.client_order_id}",
        venue_client_id=named.get("venue_client_id", ""),
        asset=named.get("asset", ""),
        side=named.get("side"),
        price=100.0,
        size=order.size,
        filled_size=order.size,
        fill_id=f"F{n}",
    )


class ByVenueId:
    """Acks each order synchronously under the kernel's client id (so the kernel learns the
    venue id), then reports its fills from ``poll_events`` by the venue's own id only."""

    name = "by-venue-id"

    def __init__(self, *, slot_known: bool = True) -> None:
        self.orders: dict[str, VenueOrder] = {}
        self.queue: list[VenueEvent] = []
        self.slot_known = slot_known
        self.n = 0

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.orders[order.client_order_id] = order
        return [venue_ack(order)]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def fill(self, client_order_id: str) -> None:
        o = self.orders[client_order_id]
        self.n += 1
        slot = o.slot_id if self.slot_known else -1
        self.queue.append(_fill(o, self.n, slot_id=slot, asset=o.asset, side=o.order_side))

    def poll_events(self) -> list[VenueEvent]:
        events, self.queue = self.queue, []
        return events


def _bar(i: int) -> Bar:
    return Bar("BTCUSDT", 1_700_000_000.0 + 60 * i, 100.0, 101.0, 99.0, 100.0, 1_000.0)


def _run(venue: Any) -> tuple[TradingRuntime, BuysOnce, ExecutionKernel]:
    """A runtime on ``venue`` whose one strategy has bought at the first bar."""
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="by-venue-id")
    runtime = TradingRuntime(kernel)
    strategy = BuysOnce()
    runtime.add_strategy(strategy)
    runtime.run([_bar(0)])
    return runtime, strategy, kernel


def _started(venue: Any) -> tuple[TradingRuntime, BuysOnce, ExecutionKernel, str]:
    """``_run``, and the client id of the entry working."""
    runtime, strategy, kernel = _run(venue)
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    return runtime, strategy, kernel, order.client_order_id


def test_a_fill_reported_by_venue_id_only_reaches_the_strategy_owning_the_trade() -> None:
    venue = ByVenueId()
    runtime, strategy, kernel, coid = _started(venue)
    venue.fill(coid)
    runtime.run([_bar(1)])
    # The kernel booked it on the strategy's trade...
    assert kernel.slot_state(0).size == 1.0
    assert kernel.slot_state(0).trade_id.startswith(strategy.name)
    # ...and the runtime counted it and routed it to the strategy owning the trade.
    assert runtime.stats["fills"] == 1
    assert strategy.fills_total == 1, "the strategy's fill was never routed to it"
    assert [f.size for f in strategy.heard] == [1.0]


def test_an_exit_fill_reported_by_venue_id_only_frees_the_strategys_slot() -> None:
    venue = ByVenueId()
    runtime, strategy, kernel, coid = _started(venue)
    venue.fill(coid)
    runtime.run([_bar(1)])
    assert strategy.exit(0, price=100.0).accepted
    exit_order = kernel.slot_state(0).active_exit_order
    assert exit_order is not None
    venue.fill(exit_order.client_order_id)
    runtime.run([_bar(2)])
    assert kernel.slot_state(0).fsm_state.name == "CLOSED"
    # The trade is over in the kernel, and so for its strategy; the ended order is not followed.
    assert not strategy.busy("BTCUSDT"), "the strategy still holds the closed slot"
    assert [f.closed for f in strategy.heard] == [False, True]
    assert runtime.working_orders == 0


def test_a_fill_that_names_no_slot_does_not_stop_the_run() -> None:
    venue = ByVenueId(slot_known=False)
    runtime, strategy, kernel, coid = _started(venue)
    venue.fill(coid)
    # The kernel takes a fill that names no slot (slot_id -1) by its venue id.
    runtime.run([_bar(1)])
    assert kernel.slot_state(0).size == 1.0
    assert [f.size for f in strategy.heard] == [1.0]


class FillsAtOnceByVenueId:
    """Answers a submit with its ack (under the kernel's client id) and the order's fill,
    the fill naming the order by the venue's id only, as a venue that reports its fills so
    does whether the fill comes from a poll or at once."""

    name = "at-once-by-venue-id"

    def __init__(self, *, trade_id_known: bool = False, slot_known: bool = True) -> None:
        self.trade_id_known = trade_id_known
        self.slot_known = slot_known
        self.n = 0

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.n += 1
        named = {"asset": order.asset, "side": order.order_side}
        if self.trade_id_known:
            named |= {"trade_id": order.trade_id, "venue_client_id": order.client_order_id}
        if self.slot_known:
            named["slot_id"] = order.slot_id
        return [venue_ack(order), _fill(order, self.n, **named)]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def poll_events(self) -> list[VenueEvent]:
        return []


def test_a_fill_in_the_submits_answer_by_venue_id_only_reaches_the_strategy() -> None:
    runtime, strategy, kernel = _run(FillsAtOnceByVenueId())
    assert kernel.slot_state(0).size == 1.0  # the kernel booked it on the strategy's trade
    assert runtime.stats["fills"] == 1
    assert [f.size for f in strategy.heard] == [1.0], "the submit answer's fill never reached its strategy"


def test_a_fill_naming_its_trade_but_no_slot_reaches_the_strategy_owning_the_trade() -> None:
    # The event names the trade and the client id; only the slot is left out ("says nothing").
    _, strategy, kernel = _run(FillsAtOnceByVenueId(trade_id_known=True, slot_known=False))
    assert kernel.slot_state(0).size == 1.0
    assert [f.size for f in strategy.heard] == [1.0], "a fill of the strategy's own trade was dropped"


class LateFillByVenueId(ByVenueId):
    """As ``ByVenueId``, but answers a cancel with the order ended CANCELED and filled in full
    (the venue filled it before the cancel came, and reports the trade later), and reports that
    fill by the venue's id alone with no asset or side either."""

    name = "late-by-venue-id"

    def fill(self, client_order_id: str, *, named: bool = False) -> None:
        o = self.orders[client_order_id]
        self.n += 1
        whole = {"trade_id": o.trade_id, "slot_id": o.slot_id, "venue_client_id": client_order_id}
        self.queue.append(
            _fill(o, self.n, **(whole | {"asset": o.asset, "side": o.order_side} if named else {}))
        )

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return [
            VenueEvent(
                f"cxl-{order.client_order_id}",
                order.trade_id,
                order.slot_id,
                "CANCEL_ACK",
                "CANCELED",
                venue_order_id=f"V-{order.client_order_id}",
                venue_client_id=order.client_order_id,
                asset=order.asset,
                side=order.order_side,
                filled_size=order.size,  # filled in full before the cancel: the trade comes later
            )
        ]


def test_a_late_fill_of_an_ended_order_by_venue_id_frees_the_strategys_slot() -> None:
    venue = LateFillByVenueId()
    runtime, strategy, kernel, entry_id = _started(venue)
    venue.fill(entry_id, named=True)
    runtime.run([_bar(1)])
    assert strategy.exit(0, price=100.0).accepted
    exit_order = kernel.slot_state(0).active_exit_order
    assert exit_order is not None
    assert strategy.cancel(0).accepted
    assert kernel.awaited_orders(), "the kernel awaits the exit's fill the cancel counted"
    # The exit's fill, by the venue's id alone, after its order ended.
    venue.fill(exit_order.client_order_id, named=False)
    runtime.run([_bar(2)])
    assert kernel.slot_state(0).fsm_state.name == "CLOSED"
    assert [f.closed for f in strategy.heard] == [False, True]
    # _order_named reads only kernel.open_orders(): an order that ended is not there, so the
    # fill keeps its blank asset and side, and _track_free("", 0) frees nothing.
    assert not strategy.busy("BTCUSDT"), ("the strategy still holds the closed slot", strategy.heard[-1])
    assert (strategy.heard[-1].asset, strategy.heard[-1].side) == ("BTCUSDT", "SELL"), strategy.heard[-1]


class NamesNoAsset(ByVenueId):
    """Names every order by the kernel's client id, trade and slot, but leaves out the asset and
    side ("empty says nothing"): the ack, the fills it reports later, and the cancel's ack."""

    name = "no-asset"

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.orders[order.client_order_id] = order
        ack = venue_ack(order).to_dict() | {"asset": "", "side": None}
        return [VenueEvent(**ack)]

    def fill(self, client_order_id: str) -> None:
        o = self.orders[client_order_id]
        self.n += 1
        self.queue.append(
            _fill(o, self.n, trade_id=o.trade_id, slot_id=o.slot_id, venue_client_id=client_order_id)
        )

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        return [VenueEvent(f"cxl-{coid}", order.trade_id, order.slot_id, "CANCEL_ACK", venue_client_id=coid)]


def test_events_that_name_no_asset_are_routed_by_the_order_they_are_of() -> None:
    """The runtime tracks a strategy's trades by asset: a cancel's ack naming none freed
    nothing (the strategy busy for good), and a fill naming none reached it with asset ""."""
    venue = NamesNoAsset()
    runtime, strategy, kernel, coid = _started(venue)
    assert strategy.cancel(0).accepted
    assert kernel.slot_state(0).fsm_state.name == "IDLE"
    assert not strategy.busy("BTCUSDT"), "the canceled entry still holds the strategy's slot"
    # A new entry on another bar, filled by a report naming no asset or side.
    strategy.bought = False
    runtime.run([_bar(1)])
    order = kernel.slot_state(0).active_entry_order
    assert order is not None and order.client_order_id != coid
    venue.fill(order.client_order_id)
    runtime.run([_bar(2)])
    [fill] = strategy.heard
    assert (fill.asset, fill.side, fill.size) == ("BTCUSDT", "BUY", 1.0)
    assert strategy.busy("BTCUSDT") and strategy.position("BTCUSDT") == 1.0


class AckNamesNoAsset:
    """Answers a submit with an ack naming the order by client id, trade and slot but no asset
    or side, and its fill naming it by the venue's id alone: the ack lends the fill the order."""

    name = "ack-no-asset"

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        ack = VenueEvent(**(venue_ack(order).to_dict() | {"asset": "", "side": None}))
        return [ack, _fill(order, 1)]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []


def test_a_fill_lent_its_order_by_an_ack_naming_no_asset_reaches_the_strategy() -> None:
    _, strategy, kernel = _run(AckNamesNoAsset())
    assert kernel.slot_state(0).size == 1.0
    assert [(f.asset, f.size) for f in strategy.heard] == [("BTCUSDT", 1.0)]


def test_a_late_fill_of_an_order_ended_without_a_figure_is_routed_as_that_order() -> None:
    """A cancel acknowledged without the filled size ends the order; the fill that raced it,
    reported later naming no asset or side, is booked on it, and reaches the strategy with the
    order's asset and side."""
    venue = NamesNoAsset()
    runtime, strategy, kernel, coid = _started(venue)
    assert strategy.cancel(0).accepted
    assert [o.client_order_id for o in kernel.orders_ended_without_figure()] == [coid]
    venue.fill(coid)
    runtime.poll_venues()  # nothing works or is awaited: no data point polls for it
    [fill] = strategy.heard
    assert (fill.asset, fill.side, fill.size) == ("BTCUSDT", "BUY", 1.0)
    assert strategy.busy("BTCUSDT") and kernel.slot_state(0).size == 1.0


class ResendsTheFill:
    """Answers a submit with its ack and its fill, then that fill again under a new event id."""

    name = "resends"

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        whole = {
            "trade_id": order.trade_id,
            "slot_id": order.slot_id,
            "venue_client_id": order.client_order_id,
        }
        fill = _fill(order, 1, asset=order.asset, side=order.order_side, **whole)
        return [venue_ack(order), fill, VenueEvent(**fill.to_dict() | {"event_id": "fill-again"})]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []


def test_a_fill_the_kernel_refused_in_a_submits_answer_is_not_heard() -> None:
    """The resent fill (same fill id) is refused, the position booked once; the strategy heard
    it twice, and counted a position the venue does not hold."""
    runtime, strategy, kernel = _run(ResendsTheFill())
    assert kernel.slot_state(0).size == 1.0
    assert [f.size for f in strategy.heard] == [1.0] and runtime.stats["fills"] == 1


def test_a_fill_lent_its_order_by_an_ack_naming_no_side_takes_the_sent_orders_side() -> None:
    """The ack named no side to lend: the fill reached on_fill with side "" and the fill
    listeners with None (the backtest's recorder books None as a buy, an exit fill too)."""
    kernel = ExecutionKernel(max_slots=2, venue=AckNamesNoAsset(), kernel_id="no-side")
    runtime = TradingRuntime(kernel)
    told: list[VenueEvent] = []
    runtime.fill_listeners.append(lambda event, row: told.append(event))
    strategy = BuysOnce()
    runtime.add_strategy(strategy)
    runtime.run([_bar(0)])
    [fill] = strategy.heard
    assert (fill.asset, fill.side) == ("BTCUSDT", "BUY")
    assert [e.order_side.name if e.order_side is not None else None for e in told] == ["BUY"]


class ThrottlesCancels(ByVenueId):
    """Answers a cancel with a rate limit: the venue still works the order."""

    name = "throttles"

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return [
            VenueEvent(
                f"rl-{order.client_order_id}", order.trade_id, order.slot_id, "RATE_LIMITED",
                venue_client_id=order.client_order_id, asset=order.asset, side=order.order_side,
                retry_after=1.0,
            )
        ]  # fmt: skip


def test_a_throttled_cancel_keeps_the_order_polled_for() -> None:
    """A rate limit says REJECTED; on an acknowledged order it is a throttled cancel, the order
    works on in the kernel. The runtime took it as over, and stopped polling for its fills."""
    venue = ThrottlesCancels()
    runtime, strategy, kernel, coid = _started(venue)
    kernel.set_risk_limits({"edge_freeze_threshold_bps": 0.0})
    assert runtime.working_orders == 1
    out = runtime.report_edge("BTCUSDT", -5.0)  # freezes: the working entry's cancel is throttled
    assert [e.kind.name for e in out.emitted_events] == ["RATE_LIMITED"]
    assert [o.client_order_id for o in kernel.open_orders()] == [coid]
    assert runtime.working_orders == 1
    venue.fill(coid)
    runtime.run([_bar(1)])  # polls for it, the fill booked and heard
    assert [f.size for f in strategy.heard] == [1.0] and kernel.slot_state(0).size == 1.0


class CancelAnswerRaces(ByVenueId):
    """Answers a cancel with a fill of 0.4 that raced it, naming the order by the venue's id
    alone, then the cancel's ack naming the order but neither its asset nor side."""

    name = "races"

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        fill = _fill(order, 9).to_dict() | {"size": 0.4, "filled_size": 0.4, "status": "PARTIALLY_FILLED"}
        ack = VenueEvent(
            f"cxl-{coid}",
            order.trade_id,
            order.slot_id,
            "CANCEL_ACK",
            venue_order_id=f"V-{coid}",
            venue_client_id=coid,
        )
        return [VenueEvent(**fill), ack]


@pytest.mark.parametrize("by", ["strategy", "freeze"])
def test_a_fill_in_a_cancels_answer_takes_its_orders_side(by: str) -> None:
    """The ack lent the fill its order, side none: the fill reached on_fill with side "" (and
    the fill listeners with None, which the backtest's recorder books as a buy). The kernel's
    order of that id, ended now, tells the side."""
    venue = CancelAnswerRaces()
    runtime, strategy, kernel, _ = _started(venue)
    if by == "freeze":
        kernel.set_risk_limits({"edge_freeze_threshold_bps": 0.0})
        runtime.report_edge("BTCUSDT", -5.0)
    else:
        assert strategy.cancel(0).accepted
    assert kernel.slot_state(0).size == 0.4
    [fill] = strategy.heard
    assert (fill.asset, fill.side, fill.size) == ("BTCUSDT", "BUY", 0.4)


class CancelAnswerStatesItsFill(ByVenueId):
    """Answers a cancel as a venue that counts the fill racing it does: that fill of 0.4, and the
    cancel's ack stating 0.4 filled, both naming the order by the venue's id alone."""

    name = "states-its-fill"

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        fill = _fill(order, 9).to_dict() | {"size": 0.4, "filled_size": 0.4, "status": "PARTIALLY_FILLED"}
        ack = VenueEvent(
            f"cxl-{coid}", "", -1, "CANCEL_ACK", "CANCELED", venue_order_id=f"V-{coid}", filled_size=0.4
        )
        return [VenueEvent(**fill), ack]


@pytest.mark.parametrize("by", ["strategy", "freeze"])
def test_a_fill_in_a_cancels_answer_stating_its_figure_reaches_the_strategy(by: str) -> None:
    """The cancel's ack states the 0.4 filled, so the kernel ends the order settled: not working,
    awaited or ended without a figure. Read after the kernel took the answer, no order of that
    venue id was there to lend the fill its trade: the kernel booked 0.4, and the strategy never
    heard it (the fill listeners got it with no trade id or side)."""
    venue = CancelAnswerStatesItsFill()
    runtime, strategy, kernel, _ = _started(venue)
    told: list[VenueEvent] = []
    runtime.fill_listeners.append(lambda event, row: told.append(event))
    if by == "freeze":
        kernel.set_risk_limits({"edge_freeze_threshold_bps": 0.0})
        runtime.report_edge("BTCUSDT", -5.0)
    else:
        assert strategy.cancel(0).accepted
    assert kernel.slot_state(0).size == 0.4 and kernel.orders_ended_without_figure() == []
    [fill] = strategy.heard
    trade_id = kernel.slot_state(0).trade_id
    assert (fill.trade_id, fill.asset, fill.side, fill.size) == (trade_id, "BTCUSDT", "BUY", 0.4)
    assert [(e.trade_id, e.order_side.name if e.order_side is not None else None) for e in told] == [
        (trade_id, "BUY")
    ]
    assert strategy.busy("BTCUSDT") and runtime.stats["fills"] == 1


@pytest.mark.parametrize("given", [{"slot_id": 0, "action": "CANCEL"}, None])
def test_an_operator_intent_that_is_no_intent_is_refused_as_the_kernel_refuses_it(given: Any) -> None:
    """The orders an operator's intent may end are read before the kernel takes it, from its
    slot: read from what is no KernelIntent (a dict, None), that raised AttributeError (no
    ``slot_id``) where the kernel says what it expects (TypeError). Nothing changes."""
    runtime, _, kernel, _ = _started(CancelAnswerStatesItsFill())
    before, seq = kernel.snapshot(), kernel.seq
    with pytest.raises(TypeError, match="expects a KernelIntent"):
        runtime.operator_intent(given)
    assert kernel.snapshot() == before and kernel.seq == seq
