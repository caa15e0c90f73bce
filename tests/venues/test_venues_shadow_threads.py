"""ShadowVenue called from several threads at once, as the kernel calls it when several threads
use it (docs/concepts/venues.md, "Threads"): the venue guards its own state."""

from __future__ import annotations

import threading
from collections.abc import Callable

from venue_helpers import entries_from_threads_agree, make_order

from dita import VenueOrder
from dita.venues import ShadowVenue
from together import together


def test_fills_submitted_from_several_threads_all_count_in_the_venues_position() -> None:
    """Two submits at once each read the position before either wrote it: of 8,000 buys of 1
    the venue held some 6,600 to 7,900, and reconciliation reported a mismatch that was not."""
    venue = ShadowVenue()
    threads, per_thread = 4, 2_000
    orders = [
        [make_order(f"o{t}-{n}", size=1.0, reference_price=100.0) for n in range(per_thread)]
        for t in range(threads)
    ]

    def submit_all(batch: list[VenueOrder]) -> Callable[[], None]:
        def run() -> None:
            for order in batch:
                venue.submit(order)

        return run

    together(*(submit_all(batch) for batch in orders))
    assert venue.positions() == {"BTCUSDT": float(threads * per_thread)}
    assert venue.balances() == {"USDT": -100.0 * threads * per_thread}
    assert venue.submitted == threads * per_thread


def test_positions_read_while_another_thread_fills_a_new_asset_does_not_raise() -> None:
    """A reconciliation on one thread while another traded raised "dictionary changed size
    during iteration" from ``positions()`` when a fill opened a position in a new asset."""
    venue = ShadowVenue()
    orders = [make_order(f"o{n}", asset=f"A{n:05d}", size=1.0, reference_price=100.0) for n in range(3_000)]
    done = threading.Event()

    def trade() -> None:
        try:
            for order in orders:
                venue.submit(order)
        finally:
            done.set()

    def read() -> None:
        while not done.is_set():
            venue.positions()
            venue.balances()

    together(trade, read)
    assert len(venue.positions()) == len(orders)


def test_a_kernel_used_from_several_threads_agrees_with_its_shadow_venue() -> None:
    """The kernel holds nothing while ``submit`` runs, so two intents on two threads reach the
    venue at once: its lost position updates read as a position mismatch at reconciliation."""
    entries_from_threads_agree(ShadowVenue(), "threads", threads=4, per_thread=500)
