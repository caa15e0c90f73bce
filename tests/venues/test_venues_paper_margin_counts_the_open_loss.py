"""The paper venue's margin check counts an order's open loss, as exchanges do: a taker order
fills worse than the mid its position is marked at at once, so the check takes no order that
leaves the available margin negative."""

from __future__ import annotations

import pytest
from venue_helpers import make_order

from dita.venues import PaperVenue


def _venue() -> PaperVenue:
    """1,000 USDT at leverage 10, quoted 99 / 101 (a mark of 100), a taker fee of 0.1 %."""
    venue = PaperVenue(starting_balance=1_000.0, leverage=10.0, slippage_bps=0, taker_rate=0.001)
    venue.on_quote("BTCUSDT", 99.0, 101.0, 1e6, 1e6, ts=1.0)
    return venue


@pytest.mark.parametrize("side", ["SELL", "BUY"])
@pytest.mark.parametrize("size", [50.0, 85.0, 89.0, 90.0, 95.0, 100.01])
def test_an_order_the_margin_check_takes_leaves_the_available_margin_not_negative(
    side: str, size: float
) -> None:
    venue = _venue()
    events = venue.submit(make_order("o1", side=side, size=size))
    if [e.kind.name for e in events] == ["ORDER_ACK", "FILL"]:
        assert venue.margin()["available_margin"] >= 0, venue.margin()
    else:
        assert [e.kind.name for e in events] == ["REJECT"]


def test_a_refused_order_names_its_open_loss() -> None:
    venue = _venue()
    # 100.01 x 99 / 10 + its fee of 9.9 is the whole 1,000: its loss to the mark is not.
    [reject] = venue.submit(make_order("o1", side="SELL", size=100.01))
    assert reject.kind.name == "REJECT"
    assert "open loss 100.01" in reject.reason
    assert venue.positions() == {}


def test_an_order_within_the_margin_with_its_open_loss_is_taken() -> None:
    venue = _venue()
    # Each unit sold needs 100 / 10 of margin at the mark, 1 of open loss and 0.099 of fee.
    size = 89.0
    assert size * (100.0 / 10 + 1.0 + 99.0 * 0.001) <= 1_000.0
    events = venue.submit(make_order("o1", side="SELL", size=size))
    assert [e.kind.name for e in events] == ["ORDER_ACK", "FILL"]
