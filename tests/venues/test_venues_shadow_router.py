"""ShadowVenue (perfect fills at the reference price) and VenueRouter (names and routes)."""

from __future__ import annotations

import gc
import logging
import math
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from venue_helpers import make_order, reroute

from dita import (
    ExecutionKernel,
    KernelIntent,
    MockVenueAdapter,
    VenueEvent,
    VenueOrder,
    VenueOrderStatus,
)
from dita._kernel import KernelEventKind
from dita.risk import MarketLimits
from dita.venues import (
    PaperVenue,
    ShadowVenue,
    UnknownVenueError,
    VenueAdapter,
    VenueRouter,
    VenueTimeout,
    VenueUnavailable,
)
from dita.venues._events import OrderEvents


def kinds(events: list) -> list[str]:
    return [e.kind.name for e in events]


# -- shadow --------------------------------------------------------------------------------


def test_shadow_fills_market_orders_in_full_at_the_reference_price() -> None:
    venue = ShadowVenue(starting_balance=1000.0)
    events = venue.submit(make_order("o1", size=2.0, reference_price=101.5, timestamp=50.0))
    assert kinds(events) == ["ORDER_ACK", "FILL"]
    fill = events[1]
    assert (fill.price, fill.size, fill.filled_size, fill.remaining_size) == (101.5, 2.0, 2.0, 0.0)
    assert fill.status == VenueOrderStatus.FILLED
    assert fill.fee is None  # the kernel's fee model decides
    assert fill.timestamp_s == 50.0
    assert venue.positions() == {"BTCUSDT": 2.0}
    assert venue.balances() == {"USDT": pytest.approx(1000.0 - 203.0)}


def _paper() -> PaperVenue:
    venue = PaperVenue(slippage_bps=0.0, taker_rate=0.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1_000.0)
    return venue


@pytest.mark.parametrize("make", [ShadowVenue, _paper], ids=["shadow", "paper"])
def test_a_position_closed_by_fills_that_net_to_zero_reads_exactly_zero(make: Any) -> None:
    # Summed as floats the fills leave dust, which positions() listed as a position held.
    assert 0.1 + 0.2 - 0.3 == pytest.approx(5.55e-17, rel=0.01)
    venue = make()
    for coid, side, size in (("o1", "BUY", 0.1), ("o2", "BUY", 0.2), ("o3", "SELL", 0.3)):
        events = venue.submit(make_order(coid, side=side, size=size, reference_price=100.0))
        assert kinds(events) == ["ORDER_ACK", "FILL"]
    assert venue.positions() == {}
    assert venue._positions["BTCUSDT"] == 0.0
    # A position left that is more than dust is kept, however small.
    venue.submit(make_order("o4", size=1.0, reference_price=100.0))
    venue.submit(make_order("o5", side="SELL", size=1.0 - 1e-9, reference_price=100.0))
    assert venue.positions()["BTCUSDT"] == pytest.approx(1e-9, rel=1e-6)


@pytest.mark.parametrize("make", [ShadowVenue, _paper], ids=["shadow", "paper"])
def test_a_position_closed_by_a_fill_far_smaller_than_it_was_reads_exactly_zero(make: Any) -> None:
    """The dust is of the sums at the size the position had, not the last fill's: snapped
    within 1e-12 of the closing fill alone, a close by 0.29999 and then 0.00001 left 6.6e-17."""
    assert 0.1 + 0.2 - 0.29999 - 0.00001 == pytest.approx(6.55e-17, rel=0.01)
    venue = make()
    fills = (("o1", "BUY", 0.1), ("o2", "BUY", 0.2), ("o3", "SELL", 0.29999), ("o4", "SELL", 0.00001))
    for coid, side, size in fills:
        venue.submit(make_order(coid, side=side, size=size, reference_price=100.0))
    assert venue.positions() == {}
    # Flat again, a position as small as its fills is kept: no earlier size makes it dust.
    for coid, size in (("o5", 1e-13), ("o6", 1e-13)):
        venue.submit(make_order(coid, size=size, reference_price=100.0))
    assert venue.positions() == {"BTCUSDT": 2e-13}


def test_a_shadow_reduce_only_order_fills_in_full_even_past_the_venues_position() -> None:
    """Unlike paper's, as its docs say: the venue keeps no position across a restart, so a kernel
    recovered from its log beside a fresh one closes the last run's trades at their reference
    price, as live (which kept them) would; within a run the kernel sends an exit reduce-only
    only when the position covers it, which this venue, filling at once, always holds."""
    venue = ShadowVenue()
    events = venue.submit(make_order("x1", side="SELL", size=1.0, reference_price=100.0, reduce_only=True))
    assert kinds(events) == ["ORDER_ACK", "FILL"] and events[1].status == VenueOrderStatus.FILLED
    assert venue.positions() == {"BTCUSDT": -1.0}


def test_shadow_fills_limit_orders_at_their_limit_and_tracks_round_trips() -> None:
    venue = ShadowVenue()
    venue.submit(make_order("o1", order_type="LIMIT", price=99.0, size=1.0, reference_price=100.0))
    sell = venue.submit(make_order("o2", side="SELL", size=1.0, reference_price=105.0))
    assert sell[1].price == 105.0
    assert venue.positions() == {}
    assert venue.balances() == {"USDT": pytest.approx(6.0)}
    assert venue.open_orders() == []


def test_shadow_without_a_price_rejects_and_cancel_has_nothing_to_cancel() -> None:
    venue = ShadowVenue()
    events = venue.submit(make_order("o1", size=1.0))
    assert kinds(events) == ["REJECT"] and "reference price" in events[0].reason
    for size, price in ((0.0, 10.0), (1.0, 0.0)):
        bad = venue.submit(make_order("o-bad", size=size, reference_price=price))
        assert kinds(bad) == ["REJECT"] and repr(size if size <= 0 else price) in bad[0].reason
    # The reason names what is missing: the size, or a limit order's own price.
    (no_size,) = venue.submit(make_order("o-0", size=0.0, reference_price=10.0))
    assert no_size.reason == "venue 'shadow' cannot fill: size is 0.0"
    (no_limit,) = venue.submit(make_order("o-l", order_type="LIMIT", price=0.0, reference_price=10.0))
    assert no_limit.reason == "venue 'shadow' cannot fill: limit price is 0.0"
    (no_ref,) = venue.submit(make_order("o-r"))
    assert no_ref.reason == "venue 'shadow' cannot fill: no reference price (0.0)"
    for size, price in ((float("nan"), 10.0), (1.0, float("inf")), (-1.0, 10.0)):
        with pytest.raises(ValueError, match=r"invalid (size|reference_price)"):
            make_order("o-bad", size=size, reference_price=price)
    assert venue.positions() == {} and venue.balances() == {"USDT": 0.0}
    order = make_order("o2", size=1.0, reference_price=10.0)
    venue.submit(order)
    assert kinds(venue.cancel(order)) == ["CANCEL_REJECT"]


def test_a_shadow_venue_s_rejection_names_the_venue_it_was_given() -> None:
    # With two shadow venues behind a router, "shadow venue cannot fill" said neither.
    venue = ShadowVenue(name="shadow-eu")
    (no_ref,) = venue.submit(make_order("o-r"))
    assert no_ref.reason == "venue 'shadow-eu' cannot fill: no reference price (0.0)"


def test_a_shadow_submit_of_something_not_an_order_is_refused_changing_nothing() -> None:
    """Counted and given a venue order id before it raised: the next order's ids moved on."""
    venue = ShadowVenue()
    with pytest.raises(TypeError, match=r"VenueOrder.*'o1'"):
        venue.submit("o1")  # type: ignore[arg-type]
    assert venue.submitted == 0
    assert venue.submit(make_order("o1", reference_price=100.0))[0].venue_order_id == "shadow-1"


def test_shadow_event_ids_are_deterministic() -> None:
    def run() -> list[dict[str, object]]:
        venue = ShadowVenue(clock=lambda: 7.0)
        return [
            e.to_dict()
            for n in range(3)
            for e in venue.submit(make_order(f"o{n}", size=1.0, reference_price=5))
        ]

    assert run() == run()
    assert [d["event_id"] for d in run()[:2]] == ["shadow-e1", "shadow-e2"]


def test_shadow_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="starting_balance"):
        ShadowVenue(starting_balance=-1)
    with pytest.raises(ValidationError, match="starting_balance"):
        ShadowVenue(starting_balance=True)
    # A clock that is not a function broke every submit, each order left in flight.
    with pytest.raises(ValidationError, match="clock"):
        ShadowVenue(clock=5)  # type: ignore[arg-type]
    # A clock is not read when the venue is built (it may read what is wired up after),
    # but each reading that is no time is refused naming the clock, not stamped on events.
    for reading in ("soon", math.nan, True):
        venue = ShadowVenue(clock=lambda reading=reading: reading)  # type: ignore[misc]
        with pytest.raises(ValueError, match=r"the venue's clock .* gave .*, not a time"):
            venue.submit(make_order("c1", price=100.0))
    ticks = iter([5.0, 6.0])
    venue = ShadowVenue(clock=lambda: next(ticks))
    assert venue.submit(make_order("c2", price=100.0))[0].timestamp_s == 5.0
    with pytest.raises(ValidationError, match=r"market_limits\.BTCUSDT"):
        ShadowVenue(market_limits={"BTCUSDT": "coarse"})  # type: ignore[dict-item]
    # Given as a dict, a market's rules are read as MarketLimits, as the kernel takes them.
    venue = ShadowVenue(market_limits={"BTCUSDT": {"lot_step": 0.5}})  # type: ignore[dict-item]
    assert venue.market_metadata()["BTCUSDT"].model_dump()["lot_step"] == 0.5


@pytest.mark.parametrize("name", ["\x00", "a\x00b"])
def test_a_shadow_venue_refuses_a_name_with_a_nul_when_built(name: str) -> None:
    """Its event and order ids carry its name, and the kernel refuses an id holding a NUL:
    every submit raised, each order left in flight in the kernel."""
    with pytest.raises(
        ValidationError, match=rf"name\n.*venue name {re.escape(repr(name))} holds a NUL byte"
    ):
        ShadowVenue(name=name)


class _AnswerLost:
    """A shadow venue whose answer to a submit never reaches the kernel (the process died, or
    the call timed out, after the venue took the order)."""

    def __init__(self, inner: ShadowVenue) -> None:
        self.inner = inner
        self.name = inner.name

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.inner.submit(order)
        raise VenueTimeout("no answer", client_order_id=order.client_order_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_shadow_order_status_tells_reconciliation_what_it_filled_or_never_received(
    tmp_path: Path,
) -> None:
    """Without ``order_status`` an order in flight beside a shadow venue stayed unresolved at
    every reconciliation, and its cancel was refused ("nothing is working"): the slot was taken
    for good. The venue that filled it says so; a fresh one (after a restart) never held it."""
    venue = ShadowVenue()
    kernel = ExecutionKernel(max_slots=1, venue=_AnswerLost(venue), wal_dir=str(tmp_path), kernel_id="sh")
    enter = KernelIntent("i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 2.0, timestamp=1.0)
    coid = kernel.process_intent(enter).order.client_order_id
    assert kernel.slot_state(0).fsm_state.name == "ORDER_SENT"
    filled = venue.order_status(coid)
    assert filled is not None and filled.status == VenueOrderStatus.FILLED
    assert (filled.filled_size, filled.avg_fill_price) == (2.0, 100.0)
    assert venue.order_status("never-sent") is None
    # The same venue: the fill is booked and kernel and venue agree.
    report = kernel.reconcile_with_venue()
    assert [m["client_order_id"] for m in report.missed_fills] == [coid]
    assert report.unresolved == [] and report.position_mismatches == []
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN" and kernel.slot_state(0).size == 2.0
    exit_ = KernelIntent("i2", "t1", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 0.0, timestamp=2.0)
    exit_out = kernel.process_intent(exit_)
    assert exit_out.state.name == "EXIT_SENT"
    kernel.close()
    # Restarted beside a fresh shadow venue, which never held the exit: a lost submit, so the
    # slot takes new orders again.
    kernel = ExecutionKernel(max_slots=1, venue=ShadowVenue(), wal_dir=str(tmp_path), kernel_id="sh")
    try:
        report = kernel.reconcile_with_venue()
        assert report.unresolved == []
        assert [x["client_order_id"] for x in report.lost_submits] == [exit_out.order.client_order_id]
        assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    finally:
        kernel.close()


def test_shadow_order_status_names_a_rejected_order_rejected() -> None:
    venue = ShadowVenue()
    order = make_order("o-r", size=1.0)
    venue.submit(order)
    rejected = venue.order_status("o-r")
    assert rejected is not None and rejected.status == VenueOrderStatus.REJECTED
    assert rejected.filled_size == 0.0


def test_shadow_order_status_given_another_asset_than_the_orders_finds_nothing() -> None:
    venue = ShadowVenue()
    venue.submit(make_order("o1", size=1.0, reference_price=100.0))
    found = venue.order_status("o1", asset="BTCUSDT")
    assert found is not None and found.status == VenueOrderStatus.FILLED
    assert venue.order_status("o1", asset="ETHUSDT") is None  # an order is in one market
    assert venue.order_status("never-sent", asset="BTCUSDT") is None
    with pytest.raises(TypeError, match=r"shadow: order_status: asset=b'BTCUSDT' must be a str"):
        venue.order_status("o1", asset=b"BTCUSDT")  # type: ignore[arg-type]


# -- router --------------------------------------------------------------------------------


def test_router_maps_names_and_names_the_unknown_one() -> None:
    shadow, paper = ShadowVenue(), PaperVenue()
    router = VenueRouter({"shadow": shadow, "paper": paper}, default="shadow")
    assert router["paper"] is paper and router.get("shadow") is shadow
    assert "paper" in router and len(router) == 2
    with pytest.raises(UnknownVenueError, match=r"'binance'.*'paper', 'shadow'"):
        router["binance"]


def test_router_resume_marks_its_own_ids_and_those_of_the_venues_behind_it() -> None:
    shadow = ShadowVenue(clock=lambda: 7.0)
    router = VenueRouter({"shadow": shadow}, routes={"BTCUSDT": "shadow"})
    router.resume(12)
    ids = [e.event_id for e in router.submit(make_order("o1", size=1.0, reference_price=5))]
    assert ids == ["shadow-s12-e1", "shadow-s12-e2"]
    refused = router.submit(make_order("o2", asset="DOGEUSDT", size=1.0, reference_price=5))
    assert [e.event_id for e in refused] == ["router:reject:o2"]  # named after the order already


def test_a_venue_added_to_a_router_after_its_resume_is_resumed_too(tmp_path: Path) -> None:
    """A kernel recovered from its log resumes its venue when it is built; a venue added to the
    router after that counted from 1 again, and the exit's answer repeated the ids of the
    entry's, which the slot remembers: refused as duplicates, the exit stayed in flight."""

    def start() -> ExecutionKernel:
        router = VenueRouter()
        kernel = ExecutionKernel(
            max_slots=1, venue=router, wal_dir=str(tmp_path), kernel_id="k", fsync="always"
        )
        router.add(ShadowVenue(name="s"))
        router.route("BTCUSDT", "s")
        return kernel

    first = start()
    assert first.process_intent(KernelIntent("i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)).accepted
    first.close()
    del first
    gc.collect()
    kernel = start()
    try:
        out = kernel.process_intent(KernelIntent("i2", "t1", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 1.0))
        assert [e.event_id[:3] for e in out.emitted_events] == ["s-s", "s-s"]  # marked with the seq
        assert kernel.slot_state(0).fsm_state.name == "CLOSED"
    finally:
        kernel.close()


def test_router_routes_orders_by_asset_and_falls_back_to_the_default() -> None:
    shadow, paper = ShadowVenue(), PaperVenue(slippage_bps=0)
    paper.on_quote("ETHUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    router = VenueRouter({"shadow": shadow, "paper": paper}, default="shadow", routes={"ETHUSDT": "paper"})
    eth = router.submit(make_order("o1", asset="ETHUSDT", size=1.0, reference_price=50.0))
    btc = router.submit(make_order("o2", asset="BTCUSDT", size=1.0, reference_price=50.0))
    assert eth[1].price == 100.0  # the paper book, not the reference price
    assert btc[1].price == 50.0
    assert (paper.submitted, shadow.submitted) == (1, 1)
    assert router.positions() == {"ETHUSDT": 1.0, "BTCUSDT": 1.0}
    assert router.positions_by_venue() == {"shadow": {"BTCUSDT": 1.0}, "paper": {"ETHUSDT": 1.0}}


def test_router_cancels_an_order_on_the_venue_that_holds_it_after_a_reroute() -> None:
    pa, pb = PaperVenue(name="pa"), PaperVenue(name="pb")
    router = VenueRouter({"pa": pa, "pb": pb}, default="pa")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="reroute")
    pa.on_quote("BTCUSDT", 99.0, 101.0, 10, 10, 1.0)
    btc = "BTCUSDT"
    enter = KernelIntent(
        "i1", "t1", 0, btc, "LONG", "ENTER", 100.0, 1.0, order_type="LIMIT", limit_price=95.0, timestamp=2.0
    )
    assert kernel.process_intent(enter).accepted
    reroute(router, "BTCUSDT", "pb")  # new orders go to pb; the resting one is still on pa
    cancel = KernelIntent("i2", "t1", 0, btc, "LONG", "CANCEL", 0.0, 0.0, timestamp=3.0)
    out = kernel.process_intent(cancel)
    assert [e.kind.name for e in out.emitted_events] == ["CANCEL_ACK"]
    assert pa.open_orders() == [] and pb.open_orders() == []
    for event in pa.on_quote("BTCUSDT", 90.0, 94.0, 10, 10, 4.0):  # would have filled it
        kernel.on_venue_event(event)
    assert kernel.slot_state(0).fsm_state.name == "IDLE" and kernel.slot_state(0).size == 0.0


def _enter(kernel: ExecutionKernel) -> None:
    assert kernel.process_intent(KernelIntent("in", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)).accepted


def _exit(kernel: ExecutionKernel) -> Any:
    return kernel.process_intent(KernelIntent("out", "t1", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 1.0))


def _restarted(
    tmp_path: Path, a: ShadowVenue, b: ShadowVenue, after: tuple[ShadowVenue, ShadowVenue] | None = None
) -> tuple[ExecutionKernel, VenueRouter]:
    """A kernel that entered t1 on a (the default then), rebuilt from its log over a router that
    routes BTCUSDT to b: over the same venues (exchanges that outlive the process), or ``after``."""
    first = ExecutionKernel(max_slots=2, venue=VenueRouter({"a": a, "b": b}, default="a"),
                            wal_dir=str(tmp_path), kernel_id="k")  # fmt: skip
    _enter(first)
    first.close()
    del first
    gc.collect()
    a, b = after or (a, b)
    router = VenueRouter({"a": a, "b": b}, default="a", routes={"BTCUSDT": "b"})
    return ExecutionKernel(max_slots=2, venue=router, wal_dir=str(tmp_path), kernel_id="k"), router


def test_a_restart_that_routes_an_asset_away_from_its_open_trade_is_refused(tmp_path: Path) -> None:
    """a holds t1's position; the router built for the restart sends BTCUSDT to b, where the next
    trade of it would go while t1 stays on a: the kernel is refused, naming the asset, the trade
    and both venues, before any order goes out. Routed to a, it starts, and t1's exit goes there."""
    a, b = ShadowVenue(name="a"), ShadowVenue(name="b")
    with pytest.raises(ValueError) as refused:
        _restarted(tmp_path, a, b)
    said = str(refused.value)
    assert "holds trade 't1' of asset 'BTCUSDT' open on venue 'a'" in said
    assert "sends asset 'BTCUSDT' to venue 'b' (routes=" in said
    assert "route 'BTCUSDT' to 'a' until the trade is closed" in said
    assert (a.submitted, b.submitted) == (1, 0)  # t1's entry, before the restart
    router = VenueRouter({"a": a, "b": b}, default="a", routes={"BTCUSDT": "a"})
    kernel = ExecutionKernel(max_slots=2, venue=router, wal_dir=str(tmp_path), kernel_id="k")
    try:
        assert _exit(kernel).accepted and kernel.slot_state(0).size == 0.0
        assert router.positions_by_venue() == {"a": {}, "b": {}}
        assert router.venue_name_of_trade("t1") == "a"
    finally:
        kernel.close()


def test_an_exit_after_a_restart_that_two_venues_could_hold_is_refused_naming_the_trade(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """b holds a long BTCUSDT position too (another trade's): the router cannot tell which venue
    holds t1's, so it sends the exit nowhere, and ``route_trade`` places it."""
    a, b = ShadowVenue(name="a"), ShadowVenue(name="b")
    b.submit(make_order("by-hand", size=2.0, reference_price=100.0))
    kernel, router = _restarted(tmp_path, a, b)
    try:
        with caplog.at_level(logging.ERROR, "dita.venues.router"):
            refused = _exit(kernel)
        (reject,) = [e for e in refused.emitted_events if e.kind.name == "REJECT"]
        assert "trade 't1'" in reject.reason and "venues 'a', 'b'" in reject.reason
        assert "route_trade('t1', venue)" in reject.reason
        assert "trade 't1'" in caplog.text
        assert kernel.slot_state(0).size == 1.0 and a.positions() == {"BTCUSDT": 1.0}
        assert b.positions() == {"BTCUSDT": 2.0}
        router.route_trade("t1", "a")
        out = kernel.process_intent(
            KernelIntent("out-again", "t1", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 1.0, timestamp=3.0)
        )
        assert out.accepted and kernel.slot_state(0).size == 0.0
        assert router.positions_by_venue() == {"a": {}, "b": {"BTCUSDT": 2.0}}
    finally:
        kernel.close()


def test_an_exit_after_a_restart_held_on_no_venue_goes_to_the_routed_one(tmp_path: Path) -> None:
    """Fresh venues (a shadow keeps no position across a restart) hold the trade nowhere: its exit
    goes where its asset is routed, as with one venue."""
    fresh = ShadowVenue(name="a"), ShadowVenue(name="b")
    kernel, router = _restarted(tmp_path, ShadowVenue(name="a"), ShadowVenue(name="b"), after=fresh)
    try:
        assert _exit(kernel).accepted and kernel.slot_state(0).size == 0.0
        assert router.positions_by_venue() == {"a": {}, "b": {"BTCUSDT": -1.0}}
        assert router.venue_name_of_trade("t1") == "b"
    finally:
        kernel.close()


def test_route_trade_refuses_a_bad_trade_or_venue_naming_it() -> None:
    router = VenueRouter({"a": ShadowVenue(name="a")}, default="a")
    with pytest.raises(ValueError, match="trade_id must be a non-empty string, got ''"):
        router.route_trade("", "a")
    with pytest.raises(UnknownVenueError, match="unknown venue 'c' in venue_name"):
        router.route_trade("t1", "c")
    assert router.venue_name_of_trade("t1") is None


def test_router_learns_where_orders_it_did_not_send_are_from_open_orders() -> None:
    pa, pb = PaperVenue(name="pa"), PaperVenue(name="pb")
    resting = make_order("left-over", order_type="LIMIT", price=95.0)
    pb.submit(resting)  # e.g. sent by the process before a restart
    router = VenueRouter({"pa": pa, "pb": pb}, default="pa")
    assert router.venue_name_holding(resting) == "pa"  # knows nothing yet: the routed venue
    assert [o.client_order_id for o in router.open_orders()] == ["left-over"]
    assert router.venue_name_holding(resting) == "pb"
    (ack,) = router.cancel(resting)
    assert ack.kind.name == "CANCEL_ACK" and pb.open_orders() == []


class _ListsLazily(PaperVenue):
    """Lists its open orders as a generator (reconciliation reads any iterable list once)."""

    def open_orders(self) -> Any:
        yield from super().open_orders()


def test_router_lists_the_orders_of_a_venue_that_lists_them_as_a_generator() -> None:
    """The router read a venue's listing twice, learning where its orders are and then listing
    them: a generator was spent by the first, and reconciliation through the router saw none of
    the venue's orders, leaving one nobody manages working there, reported clean."""
    venue = _ListsLazily(name="lazy")
    venue.submit(make_order("left-over", order_type="LIMIT", price=95.0))  # before a restart
    router = VenueRouter({"lazy": venue}, default="lazy")
    kernel = ExecutionKernel(max_slots=1, venue=router)
    report = kernel.reconcile_with_venue(cancel_foreign_orders=True)
    assert [o["client_order_id"] for o in report.unknown_at_venue_canceled] == ["left-over"]
    assert list(venue.open_orders()) == []


class _TimesOut(PaperVenue):
    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        super().submit(order)
        raise VenueTimeout("no answer in time", client_order_id=order.client_order_id)


def test_router_cancels_a_timed_out_submit_where_it_was_sent() -> None:
    slow, other = _TimesOut(name="slow"), PaperVenue(name="other")
    router = VenueRouter({"slow": slow, "other": other}, default="slow")
    order = make_order("maybe", order_type="LIMIT", price=95.0)
    with pytest.raises(VenueTimeout):
        router.submit(order)
    router.route("BTCUSDT", "other")
    (ack,) = router.cancel(order)
    assert ack.kind.name == "CANCEL_ACK" and slow.open_orders() == []


class _LosesTheAnswer(PaperVenue):
    """Places the order, then loses the answer (a reset connection, not a timeout), and lists
    its open orders late: the order is not among them yet."""

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        super().submit(order)
        raise ConnectionError("connection reset while reading the answer")

    def open_orders(self) -> list[VenueOrder]:
        return []


def test_router_keeps_any_submit_that_raised_on_the_venue_it_went_to() -> None:
    """The kernel keeps an order whose submit raised in flight, whatever it raised: the router
    must not forget where it went because the venue's list does not show it yet, or its cancel
    goes to another venue and the order works on where it is."""
    lossy, other = _LosesTheAnswer(name="lossy"), PaperVenue(name="other")
    router = VenueRouter({"lossy": lossy, "other": other}, default="lossy")
    order = make_order("maybe", order_type="LIMIT", price=95.0)
    with pytest.raises(ConnectionError):
        router.submit(order)
    router._orders.forget_ended_orders()  # what a long run does each time the memory has doubled
    router.route("BTCUSDT", "other")
    assert router.venue_name_holding(order) == "lossy"
    (ack,) = router.cancel(order)
    assert ack.kind.name == "CANCEL_ACK" and PaperVenue.open_orders(lossy) == []


class _DropsSubmits:
    """Raises on each submit, as a reset connection can: the order of a trade named "placed"
    reached the venue (which lists its orders late), the others never did. Otherwise the
    native mock, whose ``order_status`` says it never received those."""

    name = "drops"

    def __init__(self) -> None:
        self.inner = MockVenueAdapter(fill_rate=0.0)

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        if order.trade_id == "placed":
            self.inner.submit(order)
        raise ConnectionError("connection reset while the order went out")

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return self.inner.cancel(order)

    def open_orders(self) -> list[VenueOrder]:
        return []  # not yet

    def positions(self) -> dict[str, float]:
        return self.inner.positions()

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        return self.inner.order_status(client_order_id)


def test_router_lets_go_of_lost_submits_once_reconciliation_ends_them() -> None:
    """A submit that raised stays in doubt until the venue shows it knows the order. One that
    never reached it is never shown, so each such submit stayed remembered for good, though
    reconciliation (the venue saying it never received it) had ended it in the kernel. One
    the venue has, working but not listed yet, is kept: it may still fill."""
    router = VenueRouter({"drops": _DropsSubmits()}, default="drops")
    kernel = ExecutionKernel(max_slots=5, venue=router)

    def enter(slot: int, trade_id: str) -> str:
        intent = KernelIntent(f"i-{trade_id}", trade_id, slot, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)
        outcome = kernel.process_intent(intent)
        assert outcome.details["submit_outcome"] == "unknown"
        return outcome.order.client_order_id

    placed = enter(4, "placed")
    for run in range(3):
        for slot in range(4):
            enter(slot, f"t{run}-{slot}")
        report = kernel.reconcile_with_venue()
        assert len(report.lost_submits) == 4 and kernel.free_slot_id() == 0
        assert [a["client_order_id"] for a in report.acknowledged] == ([placed] if run == 0 else [])
    router._orders.forget_ended_orders()  # what a long run does each time the memory has doubled
    assert router._orders.in_doubt == {placed} and router._orders.order_venue == {placed: "drops"}


def test_router_lets_go_of_a_raised_submit_the_venue_listed_once_it_ends_unseen() -> None:
    """Placed, though its submit raised, then filled where the router cannot see it (a paper
    venue fed quotes directly): once the venue has listed the order it is in doubt no more,
    and forgotten when no longer listed, not remembered for good."""
    paper = _TimesOut(name="slow", slippage_bps=0)
    router = VenueRouter({"slow": paper}, default="slow")
    order = make_order("maybe", order_type="LIMIT", price=95.0)
    with pytest.raises(VenueTimeout):
        router.submit(order)
    router._orders.forget_ended_orders()
    assert router._orders.order_venue == {"maybe": "slow"} and router._orders.in_doubt == set()
    paper.on_quote("BTCUSDT", 90.0, 94.0, 1e9, 1e9, 2.0)  # fills below the limit
    assert paper.open_orders() == []
    router._orders.forget_ended_orders()
    assert router._orders.order_venue == {}


def test_router_lets_go_of_a_raised_submit_its_open_orders_listed_once_it_ends_unseen() -> None:
    """Listed by the router's own ``open_orders`` (reconciliation's list), the order is known
    to the venue as much as when the router's check lists it: kept in doubt, it stayed
    remembered for good once it ended where the router cannot see it."""
    paper = _TimesOut(name="slow", slippage_bps=0)
    router = VenueRouter({"slow": paper}, default="slow")
    order = make_order("maybe", order_type="LIMIT", price=95.0)
    with pytest.raises(VenueTimeout):
        router.submit(order)
    assert [o.client_order_id for o in router.open_orders()] == ["maybe"]
    paper.on_quote("BTCUSDT", 90.0, 94.0, 1e9, 1e9, 2.0)  # fills below the limit
    assert paper.open_orders() == []
    router._orders.forget_ended_orders()
    assert router._orders.order_venue == {} and router._orders.in_doubt == set()


class _RefusesCancelsItDoesNotShow(_LosesTheAnswer):
    """Also refuses the cancel of an order it does not list yet, as an exchange answers "unknown
    order" for one it has not registered."""

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        return [
            VenueEvent(
                f"cr-{coid}", order.trade_id, 0, "CANCEL_REJECT", venue_client_id=coid, reason="unknown order"
            )
        ]


def test_router_keeps_a_raised_submit_in_doubt_when_the_venue_refuses_its_cancel() -> None:
    """A cancel refused as "unknown order" does not show the venue lacks the order (it may list
    it late): taking any event for proof, the router forgot the order's venue at the next check,
    and after a reroute its cancel went to the other venue while it worked on, free to fill."""
    lossy, other = _RefusesCancelsItDoesNotShow(name="lossy"), PaperVenue(name="other")
    router = VenueRouter({"lossy": lossy, "other": other}, default="lossy")
    order = make_order("maybe", order_type="LIMIT", price=95.0)
    with pytest.raises(ConnectionError):
        router.submit(order)
    (refused,) = router.cancel(order)
    assert refused.kind.name == "CANCEL_REJECT"
    router._orders.forget_ended_orders()
    router.route("BTCUSDT", "other")
    assert router.venue_name_holding(order) == "lossy"
    assert [o.client_order_id for o in PaperVenue.open_orders(lossy)] == ["maybe"]


def test_router_forgets_orders_once_they_end() -> None:
    shadow, paper = ShadowVenue(), PaperVenue(name="paper", slippage_bps=0)
    router = VenueRouter({"shadow": shadow, "paper": paper}, default="paper", routes={"ETHUSDT": "shadow"})
    router.submit(make_order("filled", asset="ETHUSDT", reference_price=50.0))  # filled at once
    resting = make_order("resting", order_type="LIMIT", price=95.0)
    router.submit(resting)
    assert router._orders.order_venue == {"resting": "paper"}
    router.cancel(resting)
    assert router._orders.order_venue == {}
    # Orders that end where the router cannot see it (fills from bars fed to the venue) are
    # dropped once the venue no longer lists them, so the bookkeeping stays bounded.
    paper.on_quote("BTCUSDT", 99.0, 101.0, 1e9, 1e9, 1.0)
    for i in range(5_000):
        limit = 80.0 if i % 10 == 0 else 95.0  # nine in ten fill on the dip below
        router.submit(make_order(f"o{i}", order_type="LIMIT", price=limit, size=0.01, timestamp=2.0 + i))
        paper.on_quote("BTCUSDT", 90.0, 94.0, 1e9, 1e9, 2.5 + i)
        paper.on_quote("BTCUSDT", 99.0, 101.0, 1e9, 1e9, 2.6 + i)
    working = {o.client_order_id for o in paper.open_orders()}
    assert len(working) == 500
    assert working <= set(router._orders.order_venue)
    assert len(router._orders.order_venue) <= 2 * 1024  # not the 5,000 sent
    assert router.venue_name_holding(make_order("o4999", asset="ETHUSDT")) == "paper"


def test_router_without_route_or_default_refuses_clearly() -> None:
    router = VenueRouter({"shadow": ShadowVenue()})
    with pytest.raises(UnknownVenueError, match=r"'BTCUSDT'.*no default"):
        router.venue_name_for("BTCUSDT")
    # As a venue it rejects the order: raising would leave it in flight in the kernel.
    order = make_order("o1", size=1.0, reference_price=5.0)
    (reject,) = router.submit(order)
    assert reject.kind.name == "REJECT" and reject.venue_client_id == "o1"
    assert "'BTCUSDT'" in reject.reason and "no default" in reject.reason
    (refused,) = router.cancel(order)
    assert refused.kind.name == "CANCEL_REJECT" and "'BTCUSDT'" in refused.reason


def test_kernel_order_for_an_unrouted_asset_frees_its_slot() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=VenueRouter({"shadow": ShadowVenue()}))
    outcome = kernel.process_intent(
        KernelIntent("i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0)
    )
    assert [e.kind.name for e in outcome.emitted_events] == ["REJECT"]
    assert kernel.slot_state(0).fsm_state.name == "IDLE" and kernel.free_slot_id() == 0


def test_router_refuses_bad_configuration_and_changes_nothing() -> None:
    router = VenueRouter({"shadow": ShadowVenue()}, default="shadow")
    with pytest.raises(UnknownVenueError, match="'paper' in routes"):
        router.route("ETHUSDT", "paper")
    assert router.venue_name_for("ETHUSDT") == "shadow"
    with pytest.raises(ValueError, match="already registered"):
        router.add(ShadowVenue())
    with pytest.raises(TypeError, match="submit"):
        router.add(object(), name="broken")  # type: ignore[arg-type]
    with pytest.raises(UnknownVenueError, match="'nope' in default"):
        VenueRouter({"shadow": ShadowVenue()}, default="nope")
    with pytest.raises(ValueError, match="name must be a non-empty string, got ''"):
        VenueRouter({"shadow": ShadowVenue()}, name="")
    assert router.names() == ["shadow"]


@pytest.mark.parametrize(
    ("name", "reason"), [("a\x00b", "holds a NUL byte"), ("\udc80", "is not valid UTF-8")]
)
def test_router_refuses_a_name_its_own_answers_ids_could_not_carry(name: str, reason: str) -> None:
    """The router's own answers (a reject naming an unrouted asset) carry its name in their ids:
    a NUL or a lone surrogate there and the kernel refused them, the order left in flight."""
    with pytest.raises(ValueError, match=rf"name {re.escape(repr(name))} {reason}"):
        VenueRouter({"shadow": ShadowVenue()}, name=name)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: VenueRouter([ShadowVenue()]), TypeError, "venues must be a mapping such as"),
        (
            lambda: VenueRouter({"s": ShadowVenue()}, routes=[("BTCUSDT", "s")]),
            TypeError,
            "routes must be a mapping",
        ),
        (
            lambda: VenueRouter({"s": ShadowVenue()}, default=["s"]),
            UnknownVenueError,
            "unknown venue ['s'] in default",
        ),
        (
            lambda: VenueRouter({"s": ShadowVenue()}).route("BTCUSDT", ["s"]),
            UnknownVenueError,
            "['s'] in routes",
        ),
    ],
)
def test_router_refuses_settings_of_the_wrong_type_naming_them(build: Any, error: type, message: str) -> None:
    """A list of venues raised AttributeError ('list' object has no attribute 'items'), and a
    list for a venue name "unhashable type", naming neither the setting nor the value."""
    with pytest.raises(error, match=re.escape(message)):
        build()


def test_router_refuses_two_adapters_of_one_name_whose_ids_collide() -> None:
    """A venue names its event, order and fill ids after itself. Two shadow venues both named
    "shadow" behind one router gave the same ids, and a slot that traded on one and then on the
    other had the second venue's fill refused as a DUPLICATE_EVENT: a position the kernel never
    booked. The second adapter is refused, naming both, and the router is left as it was."""
    a = ShadowVenue()
    router = VenueRouter({"a": a}, routes={"BTCUSDT": "a"})
    with pytest.raises(ValueError, match=r"venue 'b' is named 'shadow', as venue 'a' is"):
        router.add(ShadowVenue(), name="b")
    with pytest.raises(ValueError, match=r"venue 'b' is named 'shadow', as venue 'a' is"):
        VenueRouter({"a": ShadowVenue(), "b": ShadowVenue()})
    assert router.names() == ["a"]
    # Named apart, one slot trades on each in turn and every fill is booked.
    router.add(ShadowVenue(name="shadow-b"), name="b")
    router.route("ETHUSDT", "b")
    kernel = ExecutionKernel(max_slots=1, venue=router)
    steps = [
        ("i1", "t1", "BTCUSDT", "ENTER", "POSITION_OPEN"),
        ("i2", "t1", "BTCUSDT", "EXIT", "CLOSED"),
        ("i3", "t2", "ETHUSDT", "ENTER", "POSITION_OPEN"),
    ]
    for intent_id, trade_id, asset, action, state in steps:
        intent = KernelIntent(intent_id, trade_id, 0, asset, "LONG", action, 10.0, 1.0, timestamp=1.0)
        out = kernel.process_intent(intent)
        assert "venue_event_refused" not in out.details
        assert kernel.slot_state(0).fsm_state.name == state
    assert kernel.slot_state(0).size == 1.0 and router.positions() == {"ETHUSDT": 1.0}


def test_router_refuses_one_adapter_under_two_names() -> None:
    """Registered twice, one venue was listed, summed and polled once per name: its position
    read double, and its open orders were listed twice."""
    shadow = ShadowVenue()
    with pytest.raises(ValueError, match=r"venue 'y' is the adapter already registered as 'x'"):
        VenueRouter({"x": shadow, "y": shadow}, default="x")
    router = VenueRouter({"x": shadow}, default="x")
    with pytest.raises(ValueError, match=r"venue 'y' is the adapter already registered as 'x'"):
        router.add(shadow, name="y")
    router.submit(make_order("o1", size=1.0, reference_price=5.0))
    assert router.names() == ["x"] and router.positions() == {"BTCUSDT": 1.0}


def test_router_merges_metadata_from_the_routed_venue() -> None:
    coarse = MarketLimits(lot_step=1.0)
    fine = MarketLimits(lot_step=0.001)
    router = VenueRouter(
        {
            "a": ShadowVenue(name="a", market_limits={"BTCUSDT": coarse}),
            "b": PaperVenue(name="b", market_limits={"BTCUSDT": fine}),
        },
        default="a",
        routes={"BTCUSDT": "b"},
    )
    assert router.market_metadata() == {"BTCUSDT": fine}
    assert router.balances() == {"USDT": 0.0}


def test_router_takes_no_rules_for_an_asset_from_a_venue_its_orders_do_not_go_to() -> None:
    """The routed venue states no rules for ETHUSDT: another venue's lot step would have the
    kernel round and refuse its orders by a market they never reach."""
    coarse = MarketLimits(lot_step=1.0)
    router = VenueRouter(
        {
            "a": ShadowVenue(name="a", market_limits={"ETHUSDT": coarse, "SOLUSDT": coarse}),
            "b": PaperVenue(name="b"),
        },
        routes={"ETHUSDT": "b"},
    )
    assert router.market_metadata() == {}
    router.route("SOLUSDT", "a")
    assert router.market_metadata() == {"SOLUSDT": coarse}


def test_native_mock_and_python_venues_satisfy_the_protocol() -> None:
    for venue in (MockVenueAdapter(), ShadowVenue(), PaperVenue()):
        assert isinstance(venue, VenueAdapter)
    router = VenueRouter({"mock": MockVenueAdapter()}, default="mock")
    assert isinstance(router, VenueAdapter)
    assert router.poll_events() == []


class _Stream(ShadowVenue):
    """A venue that reports later: its poll returns what it was given, once, or raises."""

    def __init__(self, name: str, events: list[VenueEvent] | None = None, error: Exception | None = None):
        super().__init__(name=name)
        self.pending, self.error = list(events or []), error

    def poll_events(self) -> list[VenueEvent]:
        if self.error is not None:
            raise self.error
        out, self.pending = self.pending, []
        return out


def test_router_poll_keeps_one_venues_events_when_another_venue_fails() -> None:
    fill = VenueEvent(
        "a-e1", "t-1", 0, "FILL", "PARTIALLY_FILLED", venue_client_id="o1", asset="BTCUSDT",
        price=100.0, size=0.5, filled_size=0.5, remaining_size=0.5, fill_id="a-f1",
    )  # fmt: skip
    first = _Stream("a", [fill])
    broken = _Stream("b", error=ConnectionError("websocket closed"))
    router = VenueRouter({"a": first, "b": broken}, default="a")
    assert [e.fill_id for e in router.poll_events()] == ["a-f1"]
    assert first.pending == []  # each event is returned once: had the router raised, it was lost


class _BrokenAnswer(ShadowVenue):
    """Answers a submit with the shadow venue's ACK and FILL, in a broken form: a list with an
    item that is not an event after them, a generator, or a generator that raises after them."""

    def __init__(self, form: str) -> None:
        super().__init__(name="broken")
        self.form = form

    def submit(self, order: VenueOrder) -> Any:
        events = super().submit(order)
        if self.form == "stray item":
            return [*events, None]
        if self.form == "generator":
            return (e for e in events)
        if self.form == "one event":
            return events[-1]
        if self.form == "dict":
            return {"status": "FILLED"}
        if self.form == "none":
            return None
        if self.form == "number":
            return 1

        def dropped() -> Any:
            yield from events
            raise ConnectionError("connection reset while reading the answer")

        return dropped()


@pytest.mark.parametrize(
    "form", ["stray item", "generator", "raises part-way", "one event", "dict", "none", "number"]
)
def test_router_hands_the_kernel_a_broken_answer_as_the_venue_gave_it(form: str) -> None:
    """The kernel applies the events before a fault in a venue's answer (and reports the
    fault); the router must not lose them on the way: the fill would never be booked."""
    outcomes = {}
    for via_router in (False, True):
        venue = _BrokenAnswer(form)
        routed = VenueRouter({"b": venue}, default="b") if via_router else venue
        kernel = ExecutionKernel(max_slots=1, venue=routed)
        intent = KernelIntent("i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0)
        out = kernel.process_intent(intent)
        slot = kernel.slot_state(0)
        outcomes[via_router] = (slot.fsm_state.name, slot.size, out.details.get("venue_answer_error"))
    assert outcomes[True] == outcomes[False]
    # A dict or None applies nothing (the order waits for the venue's word); the rest fill.
    filled = form not in ("dict", "none", "number")
    assert outcomes[True][:2] == (("POSITION_OPEN", 1.0) if filled else ("ORDER_SENT", 0.0))


def test_an_unrouted_order_after_a_restart_on_the_log_still_frees_its_slot(tmp_path: Path) -> None:
    """The router's REJECT must not reuse an event id the recovered kernel remembers for the
    slot: a DUPLICATE_EVENT would leave the order in flight and the slot taken for good."""
    for run in (1, 2):
        router = VenueRouter({"shadow": ShadowVenue()})
        kernel = ExecutionKernel(max_slots=1, venue=router, wal_dir=str(tmp_path), kernel_id="k")
        try:
            intent = KernelIntent(
                f"i{run}", f"t{run}", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, timestamp=run
            )
            outcome = kernel.process_intent(intent)
            assert "venue_event_refused" not in outcome.details, outcome.details
            assert kernel.slot_state(0).fsm_state.name == "IDLE" and kernel.free_slot_id() == 0
        finally:
            kernel.close()


# -- router: order status ------------------------------------------------------------------


class _Asked(MockVenueAdapter):
    """The native mock, counting the order_status questions it is asked."""

    def __new__(cls, name: str) -> _Asked:
        venue = super().__new__(cls, fill_rate=0.0, name=name)
        venue.asked = []
        return venue

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        self.asked.append(client_order_id)
        return super().order_status(client_order_id)


def test_router_asks_the_venue_holding_the_order_for_its_status() -> None:
    va, vb = _Asked("va"), _Asked("vb")
    router = VenueRouter({"va": va, "vb": vb}, default="va", routes={"ETHUSDT": "vb"})
    router.submit(make_order("on-b", asset="ETHUSDT", order_type="LIMIT", price=95.0))
    vb.fill_open_order("on-b", 95.0)
    found = router.order_status("on-b")
    assert found is not None and found.status == VenueOrderStatus.FILLED and found.filled_size == 1.0
    assert (va.asked, vb.asked) == ([], ["on-b"])


def test_router_after_a_restart_asks_each_venue_in_turn_and_learns_where_the_order_is() -> None:
    va, vb = _Asked("va"), _Asked("vb")
    resting = make_order("left-over", order_type="LIMIT", price=95.0)
    vb.submit(resting)  # sent by the process before the restart
    router = VenueRouter({"va": va, "vb": vb}, default="va")
    found = router.order_status("left-over")
    assert found is not None and found.client_order_id == "left-over"
    assert (va.asked, vb.asked) == (["left-over"], ["left-over"])
    assert router.venue_name_holding(resting) == "vb"
    assert router.order_status("never-sent") is None  # every venue says so


class _AskedInItsMarket(MockVenueAdapter):
    """The native mock, taking the order's asset and counting the questions it is asked."""

    def __new__(cls, name: str) -> _AskedInItsMarket:
        venue = super().__new__(cls, fill_rate=0.0, name=name)
        venue.asked = []
        return venue

    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        self.asked.append((client_order_id, asset))
        return super().order_status(client_order_id, asset)


def test_router_after_a_restart_given_the_asset_asks_the_venue_it_is_routed_to_first() -> None:
    """Reconciliation gives the kernel's asset of the order: not knowing where the order is
    (after a restart), the router asks the venue it sends that asset to first, as it sent the
    order there, and passes the asset on; found there, no other venue is asked (each venue in
    turn was, a ccxt one each market it trades). An asset routed nowhere (no route, no
    default): each venue in turn, as without one."""
    va, vb = _AskedInItsMarket("va"), _AskedInItsMarket("vb")
    resting = make_order("left-over", asset="ETHUSDT", order_type="LIMIT", price=95.0)
    vb.submit(resting)  # sent by the process before the restart
    router = VenueRouter({"va": va, "vb": vb}, default="va", routes={"ETHUSDT": "vb"})
    found = router.order_status("left-over", asset="ETHUSDT")
    assert found is not None and found.client_order_id == "left-over"
    assert (va.asked, vb.asked) == ([], [("left-over", "ETHUSDT")])
    assert router.venue_name_holding(resting) == "vb"
    assert router.order_status("never-sent", "BTCUSDT") is None  # by the default route: va says so
    # The routed venue first, with the asset; then the others without it: the route may have changed.
    assert (va.asked, vb.asked[1:]) == ([("never-sent", "BTCUSDT")], [("never-sent", None)])

    unrouted = VenueRouter({"va": va, "vb": vb})
    assert unrouted.order_status("other", asset="ETHUSDT") is None
    assert (va.asked[1:], vb.asked[2:]) == ([("other", "ETHUSDT")], [("other", "ETHUSDT")])


def test_router_asks_a_venue_whose_order_status_takes_only_the_client_id_without_the_asset() -> None:
    """A third-party adapter whose ``order_status`` takes no asset is asked by client id alone."""
    old = _Asked("old")
    old.submit(make_order("on-old", order_type="LIMIT", price=95.0))
    router = VenueRouter({"old": old}, default="old")
    found = router.order_status("on-old", asset="BTCUSDT")
    assert found is not None and old.asked == ["on-old"]


@pytest.mark.parametrize("asset", [1, 2.5, ("BTCUSDT",)])
def test_router_order_status_refuses_an_asset_that_is_no_text_asking_nothing(asset: object) -> None:
    va = _AskedInItsMarket("va")
    router = VenueRouter({"va": va}, default="va")
    with pytest.raises(
        TypeError, match=rf"router: order_status: asset={re.escape(repr(asset))} must be a str"
    ):
        router.order_status("o1", asset=asset)  # type: ignore[arg-type]
    assert va.asked == []


class _NoLookup:
    """A venue that cannot look orders up by client id (no ``order_status``)."""

    name = "blind"

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []


def test_router_order_status_is_never_none_while_a_venue_that_may_hold_it_cannot_say() -> None:
    """A venue that cannot look orders up may hold the order, so the router raises instead of
    saying the order was never received (reconciliation would end it)."""
    router = VenueRouter({"blind": _NoLookup(), "mock": _Asked("mock")}, default="mock")
    with pytest.raises(VenueUnavailable, match="'blind' cannot look up orders by client id"):
        router.order_status("somewhere")
    router.submit(make_order("on-mock", order_type="LIMIT", price=95.0))
    assert router.order_status("on-mock") is not None  # its venue is known: paper is not asked


def test_the_orders_a_venue_keeps_for_order_status_are_its_newest() -> None:
    from dita.venues._events import RecentOrders

    kept: RecentOrders[int] = RecentOrders(2)
    kept.put("a", 1)
    kept.put("b", 2)
    kept.put("a", 3)  # put again: the newest now
    kept.put("c", 4)  # one over: the oldest, b, goes
    assert (kept.get("a"), kept.get("b"), kept.get("c"), len(kept)) == (3, None, 4, 2)
    with pytest.raises(ValueError, match="capacity must be positive, got 0"):
        RecentOrders(0)


def test_router_keeps_a_submit_stopped_by_ctrl_c_in_doubt() -> None:
    """Ctrl-C while a submit blocks on the network goes on up (docs/concepts/venues.md), the order in
    flight all the same: where the program goes on (a notebook, a caller catching it), the
    router must not take a venue's open-orders list that does not show it yet for its end."""

    class Interrupted(_DropsSubmits):
        def submit(self, order: VenueOrder) -> list[VenueEvent]:
            self.inner.submit(order)
            raise KeyboardInterrupt

    router = VenueRouter({"drops": Interrupted()}, default="drops")
    kernel = ExecutionKernel(max_slots=1, venue=router)
    with pytest.raises(KeyboardInterrupt):
        kernel.process_intent(KernelIntent("i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0))
    (order,) = kernel.open_orders()
    assert router._orders.in_doubt == {order.client_order_id}


class _FilledWhileListing:
    """Rests each order. Its open-orders list is asked for over the network, and meanwhile
    the gateway's poll thread (``router.poll_events``) hears the first order filled."""

    name = "slow"

    def __init__(self) -> None:
        self.router: VenueRouter | None = None
        self.pending: list[VenueEvent] = []

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.pending.append(
            VenueEvent(f"f-{order.client_order_id}", order.trade_id, order.slot_id, "FILL", "FILLED",
                       venue_client_id=order.client_order_id, price=100.0, size=1.0, filled_size=1.0)
        )  # fmt: skip
        return []

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def open_orders(self) -> list[VenueOrder]:
        assert self.router is not None
        self.router.poll_events()  # the other thread's poll, run while this call waits
        return []

    def positions(self) -> dict[str, float]:
        return {}

    def poll_events(self) -> list[VenueEvent]:
        out, self.pending = self.pending, []
        return out


def test_router_forgetting_ended_orders_survives_a_poll_that_ends_one_meanwhile() -> None:
    # The HTTP gateway polls on a worker thread while submits run on its loop: the poll forgot
    # the filled order during the open-orders call, and the submit raised KeyError deleting it
    # again, before the order went out (the kernel kept it in flight, never sent).
    venue = _FilledWhileListing()
    router = VenueRouter({"slow": venue}, default="slow")
    venue.router = router
    router.submit(make_order("o1", order_type="LIMIT", price=95.0))
    router._orders.check_open_at = 1  # past the count that has it ask which orders still work
    assert router.submit(make_order("o2", order_type="LIMIT", price=95.0)) == []
    assert set(router._orders.order_venue) == {"o2"}


def test_router_after_a_restart_with_the_assets_route_changed_still_books_the_orders_fill(
    tmp_path: Path,
) -> None:
    """Routes are configuration and ``route()`` changes them "from now on": the route of an
    order's asset today is not where the router sent it before the restart. An order that fills
    there once the kernel is back, before its reconciliation, must not be ended as a lost submit
    (its fill unbooked) because the venue the asset is routed to now never had it. (Filled while
    the process was down, its position tells the router where the trade is, and the restart is
    refused: see test_a_restart_that_routes_an_asset_away_from_its_open_trade_is_refused.)"""
    va, vb = MockVenueAdapter(fill_rate=0.0, name="va"), MockVenueAdapter(fill_rate=0.0, name="vb")

    def start(routes: dict[str, str]) -> ExecutionKernel:
        router = VenueRouter({"va": va, "vb": vb}, default="va", routes=routes)
        wal = str(tmp_path)
        return ExecutionKernel(max_slots=1, venue=router, wal_dir=wal, kernel_id="k", fsync="always")

    first = start({"ETHUSDT": "vb"})
    entry = KernelIntent("i1", "t1", 0, "ETHUSDT", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0)
    order = first.process_intent(entry).order
    assert order is not None and [o.client_order_id for o in vb.open_orders()] == [order.client_order_id]
    first.close()
    del first
    gc.collect()

    kernel = start({})  # restarted with ETHUSDT on the default venue from now on
    try:
        vb.fill_open_order(order.client_order_id, 100.0)  # before the kernel reconciles
        report = kernel.reconcile_with_venue()
        assert report.lost_submits == []
        assert kernel.slot_state(0).size == pytest.approx(1.0)
    finally:
        kernel.close()


class _SendsHashed:
    """Sends each order under a hash of the kernel's client id and lists it under that, as
    ``CcxtVenue`` does on OKX and Gate, whose rules every kernel id breaks; its events carry
    the kernel's id. Follows the orders it is told to ``watch``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events = OrderEvents(name)
        self.listed: dict[str, VenueOrder] = {}
        self.watched: list[str] = []

    def listed_client_order_id(self, order: VenueOrder) -> str:
        return "dita" + order.client_order_id.replace("-", "")

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        venue_order_id = self.events.venue_order_id()
        hashed = self.listed_client_order_id(order)
        self.listed[hashed] = VenueOrder(
            hashed,
            order.slot_id,
            order.trade_id,
            order.asset,
            order.order_side,
            order.order_type,
            order.price,
            order.size,
            venue_order_id=venue_order_id,
            status=VenueOrderStatus.ACKNOWLEDGED,
        )
        ack = KernelEventKind.ORDER_ACK
        return [
            self.events.make(
                order, ack, VenueOrderStatus.ACKNOWLEDGED, venue_order_id=venue_order_id, timestamp=2.0
            )
        ]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        held = self.listed.pop(self.listed_client_order_id(order), None)
        kind, status = (
            (KernelEventKind.CANCEL_ACK, VenueOrderStatus.CANCELED)
            if held is not None
            else (KernelEventKind.CANCEL_REJECT, order.status)
        )
        return [self.events.make(order, kind, status, venue_order_id=order.venue_order_id, timestamp=3.0)]

    def watch(self, order: VenueOrder) -> None:
        self.watched.append(order.client_order_id)

    def open_orders(self) -> list[VenueOrder]:
        return list(self.listed.values())

    def positions(self) -> dict[str, float]:
        return {}


def test_router_after_a_restart_and_a_reroute_finds_an_order_its_venue_lists_under_a_hash(
    tmp_path: Path,
) -> None:
    """After a restart the router knows where an order is from the venue's open-orders list,
    which names it by the id it went out under: a hash of the kernel's on OKX and Gate. It took
    the kernel's order for one of the routed venue's, and, the asset routed elsewhere since,
    had that venue follow it (reporting the order it never had as ended) and sent its cancel
    there (refused), while the order worked on, unfollowed, where it was."""
    va, vb = _SendsHashed("va"), _SendsHashed("vb")

    def start(routes: dict[str, str]) -> ExecutionKernel:
        router = VenueRouter({"va": va, "vb": vb}, default="vb", routes=routes)
        return ExecutionKernel(
            max_slots=1, venue=router, wal_dir=str(tmp_path), kernel_id="k", fsync="always"
        )

    first = start({"ETHUSDT": "va"})
    entry = KernelIntent(
        "i1", "t1", 0, "ETHUSDT", "LONG", "ENTER", 100.0, 1.0, order_type="LIMIT", limit_price=95.0
    )
    order = first.process_intent(entry).order
    assert order is not None and len(va.listed) == 1
    first.close()
    del first
    gc.collect()

    kernel = start({})  # restarted with ETHUSDT on the default venue from now on
    try:
        report = kernel.reconcile_with_venue()
        assert report.unknown_at_venue_canceled == [] and report.unwatched == []
        assert (va.watched, vb.watched) == ([order.client_order_id], [])
        cancel = KernelIntent("i2", "t1", 0, "ETHUSDT", "LONG", "CANCEL", 0.0, 0.0)
        out = kernel.process_intent(cancel)
        assert [e.kind.name for e in out.emitted_events] == ["CANCEL_ACK"] and va.listed == {}
    finally:
        kernel.close()


def test_an_exit_whose_asset_lost_its_route_at_a_restart_goes_to_the_one_venue_holding_it(
    tmp_path: Path,
) -> None:
    """No default, and BTCUSDT routed to b by ``route()`` at run time, which a restart does not
    keep: b alone holds the trade's position, so the exit goes there, not refused as unroutable."""
    a, b = ShadowVenue(name="a"), ShadowVenue(name="b")
    first_router = VenueRouter({"a": a, "b": b})
    first_router.route("BTCUSDT", "b")
    first = ExecutionKernel(max_slots=1, venue=first_router, wal_dir=str(tmp_path), kernel_id="k")
    _enter(first)
    first.close()
    del first
    gc.collect()
    kernel = ExecutionKernel(
        max_slots=1, venue=VenueRouter({"a": a, "b": b}), wal_dir=str(tmp_path), kernel_id="k"
    )
    try:
        assert _exit(kernel).accepted and kernel.slot_state(0).size == 0.0
        assert b.positions() == {}
    finally:
        kernel.close()
