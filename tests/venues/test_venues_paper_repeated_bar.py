"""A bar handed to the paper venue twice (a row repeated) fills nothing twice."""

from __future__ import annotations

import pytest
from venue_helpers import make_order

from dita.venues import PaperVenue


def test_a_bar_handed_twice_is_refused_and_fills_its_volume_share_once() -> None:
    venue = PaperVenue(slippage_bps=0, latency_ms=0, bar_volume_share=0.5)
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1.0, 1_000.0)
    venue.submit(make_order("c1", order_type="LIMIT", price=99.5, size=2.0, reference_price=100.0))
    first = venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1.0, 1_060.0)
    assert [e.size for e in first if e.kind.name == "FILL"] == [0.5]
    with pytest.raises(ValueError, match=r"a bar for 'BTCUSDT' at ts 1060.0 was handed already"):
        venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1.0, 1_060.0)
    # Another asset's bar of that time is no repeat.
    assert venue.on_bar("ETHUSDT", 10.0, 11.0, 9.0, 10.0, 1.0, 1_060.0) == []
    (still,) = venue.open_orders()
    assert still.filled_size == 0.5
