"""A strategy's exit and cancel touch only its own trades: another strategy's slot is refused."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent, VenueEvent
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy
from dita.venues import ShadowVenue

BAR = Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0)


class Idle(Strategy[Any]):
    def on_start(self) -> None:
        self.seen: list[Fill] = []

    def on_fill(self, fill: Fill) -> None:
        self.seen.append(fill)


def two_strategies(venue: MockVenueAdapter | None = None) -> tuple[TradingRuntime, Idle, Idle]:
    kernel = ExecutionKernel(max_slots=4, venue=venue or MockVenueAdapter(), kernel_id="rev-own")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    a, b = Idle(name="a"), Idle(name="b")
    runtime.add_strategy(a)
    runtime.add_strategy(b)
    runtime.start()
    runtime.on_bar(BAR)
    return runtime, a, b


def test_a_strategy_cannot_exit_another_strategys_trade() -> None:
    _, a, b = two_strategies()
    assert b.buy("AAA", 1.0, price=100.0).accepted
    slot_id = b.slots()[0].slot_id
    out = a.exit(slot_id, price=100.0)
    assert not out.accepted
    assert out.details["field"] == "trade_id"
    assert b.position("AAA") == 1.0 and b.busy("AAA")
    assert [f.side for f in b.seen] == ["BUY"]
    # Its own exit still works.
    assert b.exit(slot_id, price=100.0).accepted
    assert b.position("AAA") == 0.0


def test_a_strategy_cannot_cancel_another_strategys_working_order() -> None:
    runtime, a, b = two_strategies(MockVenueAdapter(fill_rate=0.0))
    kernel = runtime.kernel
    assert b.buy("AAA", 1.0, price=100.0, limit=99.0).accepted
    slot_id = b.slots()[0].slot_id
    out = a.cancel(slot_id)
    assert not out.accepted and out.diagnostic_code.name == "INVALID_INTENT"
    assert out.details["field"] == "trade_id"
    assert kernel.slot_state(slot_id).fsm_state.name == "ENTRY_WORKING"
    assert b.busy("AAA")


@pytest.mark.parametrize(
    ("action", "named"), [("EXIT", True), ("EXIT", False), ("CANCEL", True), ("CANCEL", False)]
)
def test_a_hand_built_intent_on_another_strategys_trade_is_refused_and_changes_nothing(
    action: str, named: bool
) -> None:
    """The helpers were refused, but ``submit`` of a hand-built EXIT naming the other
    strategy's trade (or no trade, which the kernel takes for the slot's) closed it, and its
    owner got a fill it never asked for."""
    runtime, a, b = two_strategies(MockVenueAdapter(fill_rate=0.0) if action == "CANCEL" else None)
    limit = {"limit": 99.0} if action == "CANCEL" else {}
    assert b.buy("AAA", 1.0, price=100.0, **limit).accepted
    slot = runtime.kernel.slot_state(b.slots()[0].slot_id)
    before = runtime.kernel.snapshot()
    intent = KernelIntent(
        "a-by-hand",
        slot.trade_id if named else "",
        slot.slot_id,
        "AAA",
        slot.side,
        action,
        100.0,
        slot.size,
        timestamp=BAR.ts,
    )
    with pytest.raises(
        ValueError, match=rf"trade_id='{slot.trade_id}' \(slot {slot.slot_id}\) belongs to strategy 'b'"
    ):
        a.submit(intent)
    assert runtime.kernel.snapshot() == before and len(b.seen) == (0 if action == "CANCEL" else 1)


def test_exit_and_cancel_of_a_slot_the_kernel_does_not_have_are_refusals_not_errors() -> None:
    """``buy`` on slot -1 came back as the kernel's refusal; ``exit(64)`` and ``cancel(-1)``
    raised IndexError, which put a strategy calling them into ERROR."""
    _, a, _ = two_strategies()
    for out in (a.exit(64, price=100.0), a.cancel(-1), a.exit(4, price=100.0, leg=True)):
        assert not out.accepted and out.diagnostic_code.name == "INVALID_SLOT_ID", out
        assert out.details["field"] == "slot_id"


class ThrottlesFirstCancel:
    """Takes orders silently; its first cancel is answered RATE_LIMITED (the order in doubt)."""

    def __init__(self) -> None:
        self.canceled: list[str] = []

    def submit(self, order: Any) -> list[VenueEvent]:
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        self.canceled.append(order.client_order_id)
        if len(self.canceled) > 1:
            return []
        throttled = VenueEvent(
            "rl-1", order.trade_id, -1, "RATE_LIMITED", venue_client_id=order.client_order_id, retry_after=1.0
        )
        return [throttled]


def test_helpers_on_a_slot_whose_entry_in_doubt_is_another_strategys_are_refusals() -> None:
    """b's entry went in doubt: its slot is IDLE, yet the trade is still b's. a's cancel is
    refused (a free stage read as a's would name b's trade, and the runtime raise, putting a
    into ERROR); b's own cancel asks the venue again."""
    venue = ThrottlesFirstCancel()
    runtime, a, b = two_strategies(venue)  # type: ignore[arg-type]
    sid = b.buy("AAA", 1.0, price=100.0, limit=99.0).slot_id
    b.cancel(sid)
    assert [o.client_order_id for o in runtime.kernel.orders_in_doubt()] == venue.canceled
    for out in (a.cancel(sid), a.exit(sid, price=100.0)):
        assert not out.accepted, out
    assert a.cancel(sid).details["field"] == "trade_id" and len(venue.canceled) == 1
    again = b.cancel(sid)
    assert again.accepted and again.details["order_in_doubt"] is True
    assert venue.canceled == venue.canceled[:1] * 2


def test_after_a_restart_the_entry_in_doubt_is_still_its_strategys() -> None:
    """A runtime restarted over the kernel adopts a trade whose slot is free (its entry in
    doubt) as freed, not held: another strategy's cancel then named it and was taken."""
    venue = ThrottlesFirstCancel()
    runtime, _, b = two_strategies(venue)  # type: ignore[arg-type]
    sid = b.buy("AAA", 1.0, price=100.0, limit=99.0).slot_id
    b.cancel(sid)
    restarted = TradingRuntime(runtime.kernel, [])
    a2, b2 = Idle(name="a"), Idle(name="b")
    restarted.add_strategy(a2)
    restarted.add_strategy(b2)
    restarted.start()
    restarted.on_bar(BAR)
    trade_id = runtime.kernel.slot_state(sid).trade_id
    assert restarted.trade_owner(trade_id) == restarted.ctx.trade_owner(trade_id) == "b"
    refused = a2.cancel(sid)
    assert not refused.accepted and refused.details["field"] == "trade_id" and len(venue.canceled) == 1
    assert b2.cancel(sid).accepted and len(venue.canceled) == 2


def test_an_enter_reusing_a_trade_id_the_strategy_holds_is_refused_naming_it() -> None:
    """A hand-built ENTER with the id of a trade the strategy still held was taken into a
    second slot: the runtime knows a trade by its id, so the fill closing the second never
    reached the strategy and ``busy`` stayed true for good."""
    runtime, a, _ = two_strategies(ShadowVenue())  # type: ignore[arg-type]
    first = KernelIntent("a-by-hand-1", "mine", 0, "AAA", "LONG", "ENTER", 100.0, 1.0, timestamp=BAR.ts)
    assert a.submit(first).accepted
    before = runtime.kernel.snapshot()
    again = KernelIntent("a-by-hand-2", "mine", 1, "AAA", "LONG", "ENTER", 100.0, 2.0, timestamp=BAR.ts)
    with pytest.raises(ValueError, match=r"trade_id='mine' is an open trade of strategy 'a'"):
        a.submit(again)
    assert runtime.kernel.snapshot() == before
    assert runtime.kernel.slot_state(1).fsm_state.name == "IDLE"
    assert a.exit(0, price=100.0).accepted
    assert not a.busy("AAA") and a.position("AAA") == 0.0
    assert [f.closed for f in a.seen] == [False, True]
    # Once the trade is closed its id is free again, as the kernel has it.
    assert a.submit(
        KernelIntent("a-by-hand-3", "mine", 1, "AAA", "LONG", "ENTER", 100.0, 1.0, timestamp=BAR.ts)
    ).accepted
    assert a.busy("AAA")


@pytest.mark.parametrize("given", [{"trade_id": "t"}, None, "ENTER AAA 1"])
def test_submit_of_what_is_not_an_intent_is_a_type_error_naming_it(given: Any) -> None:
    runtime, a, _ = two_strategies()
    with pytest.raises(TypeError, match=rf"submit takes a dita.KernelIntent, got {type(given).__name__}"):
        a.submit(given)
    assert runtime.stats["intents"] == 0


@pytest.mark.parametrize("trade_id", ["a-t1", "a-r9-t1"])
def test_an_enter_taking_an_id_of_another_strategys_trades_is_refused(trade_id: str) -> None:
    """A hand-built ENTER of ``b`` with ``a-t1``, the id the runtime gives ``a``'s first trade,
    was taken: ``a``'s own ``buy`` then raised (the trade was ``b``'s), putting ``a`` in ERROR."""
    runtime, a, b = two_strategies(ShadowVenue())  # type: ignore[arg-type]
    before = runtime.kernel.snapshot()
    intent = KernelIntent("b-by-hand", trade_id, 0, "AAA", "LONG", "ENTER", 100.0, 1.0, timestamp=BAR.ts)
    with pytest.raises(
        ValueError, match=rf"trade_id='{trade_id}' is of the form the runtime gives strategy 'a'"
    ):
        b.submit(intent)
    assert runtime.kernel.snapshot() == before
    assert a.buy("AAA", 1.0, price=100.0).accepted and a.position("AAA") == 1.0
    # Its own form, and a name no strategy has, are still b's to use.
    assert b.submit(
        KernelIntent("b-1", "b-t7", 1, "AAA", "LONG", "ENTER", 100.0, 1.0, timestamp=BAR.ts)
    ).accepted
    assert b.submit(
        KernelIntent("b-2", "ab-t1", 2, "AAA", "LONG", "ENTER", 100.0, 1.0, timestamp=BAR.ts)
    ).accepted
