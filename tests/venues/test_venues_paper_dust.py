"""PaperVenue: what orders leave of a quoted size or a bar's volume share is never float dust
that the next order fills (a fill of 1.7e-16 BTC no exchange makes, which the kernel refuses)."""

from __future__ import annotations

from venue_helpers import make_order

from dita import KernelEventKind
from dita.venues import PaperVenue


def test_the_quoted_size_orders_used_up_leaves_no_dust_to_fill() -> None:
    venue = PaperVenue(slippage_bps=0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 3.2, ts=1.0)
    venue.submit(make_order("o1", size=4.0))  # 3.2 filled: 4.0 - 3.2 is 0.7999999999999998 left
    [rest] = venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 1.0, ts=2.0)
    assert rest.status.name == "FILLED"
    venue.submit(make_order("o2", size=0.2))  # takes the 0.20000000000000018 the quote has left

    events = venue.submit(make_order("o3", size=1.0))

    assert [e.kind for e in events] == [KernelEventKind.ORDER_ACK]
    assert venue.working_size("o3") == (0.0, 1.0)


def test_the_volume_share_orders_used_up_leaves_no_dust_to_fill() -> None:
    venue = PaperVenue(slippage_bps=0, bar_volume_share=1.0)
    venue.on_bar("BTCUSDT", 100.0, 100.0, 100.0, 100.0, 1.0, ts=1.0)
    venue.submit(make_order("o1", size=4.0))
    venue.on_bar("BTCUSDT", 100.0, 100.0, 100.0, 100.0, 3.2, ts=2.0)
    venue.submit(make_order("o2", size=0.2))
    venue.submit(make_order("o3", size=1.0))

    events = venue.on_bar("BTCUSDT", 100.0, 100.0, 100.0, 100.0, 1.0, ts=3.0)

    assert [(e.venue_client_id, e.size) for e in events] == [("o1", 0.7999999999999998), ("o2", 0.2)]
    assert venue.working_size("o3") == (0.0, 1.0)
