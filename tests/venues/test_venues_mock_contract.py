"""The native mock venue keeps a venue's promises: a limit order never fills worse than its
limit, an order's last fill says FILLED with nothing left, and the cancel of an order that
ended says how it ended."""

from __future__ import annotations

import pytest
from venue_helpers import make_order

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter


@pytest.mark.parametrize(("side", "worse", "better"), [("BUY", 105.0, 95.0), ("SELL", 95.0, 105.0)])
def test_a_resting_limit_is_not_filled_worse_than_its_limit(side: str, worse: float, better: float) -> None:
    venue = MockVenueAdapter(fill_rate=0.0)
    venue.submit(make_order("c1", side=side, order_type="LIMIT", price=100.0))
    with pytest.raises(
        ValueError,
        match=rf"^invalid price: {worse:g} for a {side} LIMIT at 100 \(worse than the order's limit",
    ):
        venue.fill_open_order("c1", worse)
    # Refused, the order still works and fills within its limit.
    assert [o.client_order_id for o in venue.open_orders()] == ["c1"]
    (fill,) = venue.fill_open_order("c1", better)
    assert (fill.price, fill.status.name) == (better, "FILLED")


def test_a_kernel_never_books_a_limit_entry_beyond_its_limit() -> None:
    venue = MockVenueAdapter(fill_rate=0.0)
    kernel = ExecutionKernel(max_slots=1, venue=venue)
    out = kernel.process_intent(
        KernelIntent(
            "i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, order_type="LIMIT", limit_price=99.0
        )
    )
    assert out.order is not None
    with pytest.raises(ValueError, match="price"):
        venue.fill_open_order(out.order.client_order_id, 101.0)
    assert kernel.slot_state(0).size == 0.0


@pytest.mark.parametrize(("size", "ratio"), [(7_141_295.122, 0.33), (3_148_764.611, 0.123), (0.3, 0.1)])
def test_the_fill_that_completes_a_partly_filled_order_says_filled(size: float, ratio: float) -> None:
    venue = MockVenueAdapter(partial_fill_rate=1.0, partial_fill_ratio=ratio)
    _, first = venue.submit(make_order("c1", size=size, reference_price=100.0))
    assert first.status.name == "PARTIALLY_FILLED"
    (last,) = venue.fill_open_order("c1")
    assert (last.status.name, last.filled_size, last.remaining_size) == ("FILLED", size, 0.0)
    ended = venue.order_status("c1")
    assert ended is not None and (ended.status.name, ended.filled_size) == ("FILLED", size)


def test_a_cancel_of_a_filled_order_says_it_filled() -> None:
    venue = MockVenueAdapter()
    order = make_order("c1", size=2.0, reference_price=100.0)
    venue.submit(order)
    (refusal,) = venue.cancel(order)
    assert refusal.kind.name == "CANCEL_REJECT"
    assert (refusal.status.name, refusal.filled_size, refusal.remaining_size) == ("FILLED", 2.0, 0.0)
    assert "filled" in refusal.reason


def test_a_subclass_of_the_mock_has_its_overrides_called() -> None:
    """Any subclass was taken for the native mock and driven in Rust: a subclass recording
    the orders it was sent saw none, and one answering nothing had its orders filled anyway."""
    from dita import ExecutionKernel, KernelIntent, MockVenueAdapter, TradeStage

    class Recording(MockVenueAdapter):
        def __init__(self) -> None:
            super().__init__()
            self.sent: list[str] = []

        def submit(self, order):  # type: ignore[no-untyped-def]
            self.sent.append(order.client_order_id)
            return []  # nothing said yet: the order stays sent

    venue = Recording()
    kernel = ExecutionKernel(max_slots=1, venue=venue)
    out = kernel.process_intent(KernelIntent("i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0))
    assert out.accepted and venue.sent == [out.order.client_order_id]
    assert kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT
