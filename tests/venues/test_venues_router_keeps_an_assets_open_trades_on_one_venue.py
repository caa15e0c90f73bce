"""A VenueRouter keeps an asset's open trades on one venue: ``route()`` refuses to move an asset
while a kernel over the router holds a trade of it open on another venue, as the kernel nets an
asset's slots as one position (on one venue) to decide an exit's reduce-only flag; and a kernel
recovered from its log over a router that sends an asset away from its open trade is refused."""

from __future__ import annotations

import gc
import re
from pathlib import Path
from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent, VenueEvent
from dita.venues import ShadowVenue, VenueRouter


class Recording:
    """Takes every order and answers nothing (the test plays the venue), keeping what it got."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.orders: list[Any] = []

    def submit(self, order: Any) -> list[VenueEvent]:
        self.orders.append(order)
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []

    def open_orders(self) -> list[Any]:
        return []

    def positions(self) -> dict[str, float]:
        return {}


def _intent(
    n: int, slot: int, action: str, side: str = "LONG", size: float = 10.0, trade: str | None = None
) -> KernelIntent:
    return KernelIntent(
        f"i{n}", trade or f"t{slot}", slot, "BTCUSDT", side, action, 100.0, size,
        timestamp=1_700_000_000.0 + n,
    )  # fmt: skip


def _entered(kernel: ExecutionKernel, slot: int, side: str = "LONG", filled: bool = True) -> None:
    assert kernel.process_intent(_intent(slot, slot, "ENTER", side)).accepted
    if filled:
        cid = kernel.slot_state(slot).active_entry_order.client_order_id
        fill = VenueEvent(f"f{slot}", f"t{slot}", slot, "FILL", venue_client_id=cid, price=100.0, size=10.0,
                          filled_size=10.0)  # fmt: skip
        assert kernel.on_venue_event(fill).accepted


def test_an_asset_is_not_routed_to_another_venue_while_a_trade_of_it_is_open() -> None:
    """Slot 0 LONG 10 on a. Moved to b, slot 1's LONG 10 would go to b and slot 2's SHORT 10 back
    to a: a would net 0 while the kernel, netting all three, sent slot 0's exit reduce-only, which
    a one-way venue refuses. The move is refused, naming the asset and both venues."""
    a, b = Recording("a"), Recording("b")
    router = VenueRouter({"a": a, "b": b}, default="a")
    kernel = ExecutionKernel(max_slots=3, venue=router)
    _entered(kernel, 0)
    with pytest.raises(
        ValueError,
        match=re.escape("cannot route asset 'BTCUSDT' to venue 'b': venue 'a' holds trade(s) 't0'"),
    ):
        router.route("BTCUSDT", "b")
    assert router.venue_name_for("BTCUSDT") == "a"  # unchanged
    _entered(kernel, 1)
    _entered(kernel, 2, side="SHORT")
    assert [o.trade_id for o in a.orders] == ["t0", "t1", "t2"] and b.orders == []
    assert kernel.process_intent(_intent(9, 0, "EXIT")).accepted
    exit_order = a.orders[-1]
    assert exit_order.trade_id == "t0" and not exit_order.is_entry
    assert exit_order.reduce_only is True  # a holds 10 + 10 - 10 = 10 long: it covers the sale


def test_an_entry_still_working_holds_its_asset_on_its_venue() -> None:
    a, b = Recording("a"), Recording("b")
    router = VenueRouter({"a": a, "b": b}, default="a")
    kernel = ExecutionKernel(max_slots=1, venue=router)
    _entered(kernel, 0, filled=False)
    with pytest.raises(ValueError, match="venue 'a' holds trade"):
        router.route("BTCUSDT", "b")
    router.route("BTCUSDT", "a")  # where its trades are: no move, no refusal
    router.route("ETHUSDT", "b")  # another asset moves freely
    assert (router.venue_name_for("BTCUSDT"), router.venue_name_for("ETHUSDT")) == ("a", "b")


def test_an_asset_moves_once_its_trades_are_closed_and_its_next_trade_goes_to_the_new_venue() -> None:
    a, b = ShadowVenue(name="a"), ShadowVenue(name="b")
    router = VenueRouter({"a": a, "b": b}, default="a")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="moves-when-closed")
    assert kernel.process_intent(_intent(1, 0, "ENTER", size=1.0)).accepted
    with pytest.raises(ValueError, match="cannot route asset 'BTCUSDT'"):
        router.route("BTCUSDT", "b")
    assert (
        kernel.process_intent(_intent(2, 0, "EXIT", size=1.0)).accepted and kernel.slot_state(0).size == 0.0
    )
    assert router.positions_by_venue() == {"a": {}, "b": {}}  # the exit went to a, where t0 was
    router.route("BTCUSDT", "b")
    assert kernel.process_intent(_intent(3, 0, "ENTER", size=1.0, trade="t-next")).accepted
    assert router.positions_by_venue() == {"a": {}, "b": {"BTCUSDT": 1.0}}
    assert router.venue_name_of_trade("t-next") == "b"


def test_a_second_kernel_over_a_router_is_refused_while_the_first_trades() -> None:
    """The router knows a trade's venue by its id alone: kernel B's trade t0 sent B's exit to the
    venue of kernel A's t0."""
    router = VenueRouter({"a": Recording("a"), "b": Recording("b")}, default="a")
    with ExecutionKernel(max_slots=1, venue=router, kernel_id="A"):
        with pytest.raises(ValueError, match="a VenueRouter serves one kernel at a time: kernel 'A' still"):
            ExecutionKernel(max_slots=1, venue=router, kernel_id="B")
    with ExecutionKernel(max_slots=1, venue=router, kernel_id="B") as after:  # A closed: B takes it
        _entered(after, 0, filled=False)


def test_a_closed_kernel_holds_no_asset_on_its_venue() -> None:
    router = VenueRouter({"a": Recording("a"), "b": Recording("b")}, default="a")
    kernel = ExecutionKernel(max_slots=1, venue=router)
    _entered(kernel, 0, filled=False)  # working on a
    kernel.close()
    router.route("BTCUSDT", "b")
    assert router.venue_name_for("BTCUSDT") == "b"


def test_a_kernel_recovered_over_a_router_moved_while_none_traded_is_refused(tmp_path: Path) -> None:
    """t0 is open on a; its kernel closes, so ``route()`` moves BTCUSDT to b (no kernel to ask).
    The kernel recovered from its log over that router would send the next BTCUSDT trade to b
    while t0 stays on a: it is refused, naming the asset, the trade and both venues, and sends
    nothing. Routed back to a, it starts."""
    a, b = Recording("a"), Recording("b")
    router = VenueRouter({"a": a, "b": b}, default="a")
    kernel = ExecutionKernel(max_slots=2, venue=router, wal_dir=str(tmp_path), kernel_id="moved")
    _entered(kernel, 0)
    kernel.close()
    del kernel
    gc.collect()
    router.route("BTCUSDT", "b")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "kernel 'moved' holds trade 't0' of asset 'BTCUSDT' open on venue 'a' (where its orders "
            "went, or route_trade named), but the router sends asset 'BTCUSDT' to venue 'b'"
        ),
    ):
        ExecutionKernel(max_slots=2, venue=router, wal_dir=str(tmp_path), kernel_id="moved")
    assert [o.trade_id for o in a.orders] == ["t0"] and b.orders == []
    router.route("BTCUSDT", "a")
    with ExecutionKernel(max_slots=2, venue=router, wal_dir=str(tmp_path), kernel_id="moved") as back:
        assert back.slot_state(0).trade_id == "t0"
        with pytest.raises(ValueError, match="cannot route asset 'BTCUSDT' to venue 'b'"):
            router.route("BTCUSDT", "b")


class AskedForPositions(Recording):
    """Counts its ``positions()`` calls (an exchange's REST call each); ``down`` raises them."""

    def __init__(self, name: str, down: bool = False) -> None:
        super().__init__(name)
        self.asked = 0
        self.down = down

    def positions(self) -> dict[str, float]:
        self.asked += 1
        if self.down:
            raise TimeoutError("the exchange did not answer in 10s")
        return {}


@pytest.mark.parametrize("down", [False, True], ids=["answering", "not-answering"])
def test_a_restart_asks_each_venue_for_its_positions_once_however_many_trades_are_open(
    tmp_path: Path, down: bool
) -> None:
    """Five trades open, held by a router that kept no record of them: the build finds each trade's
    venue from the venues' positions, asking each venue once (a venue that times out, once too),
    not once a trade: a slow exchange holds the kernel's start one timeout, not five."""
    first = VenueRouter({"a": Recording("a"), "b": Recording("b")}, default="a")
    kernel = ExecutionKernel(max_slots=5, venue=first, wal_dir=str(tmp_path), kernel_id="k")
    for slot in range(5):
        _entered(kernel, slot)
    kernel.close()
    del kernel
    gc.collect()
    a, b = AskedForPositions("a"), AskedForPositions("b", down=down)
    with ExecutionKernel(max_slots=5, venue=VenueRouter({"a": a, "b": b}, default="a"),
                         wal_dir=str(tmp_path), kernel_id="k") as back:  # fmt: skip
        assert len(back.open_slot_ids()) == 5
    assert b.asked == 1 and a.asked <= 1
