"""A venue's clock is read for each event it stamps (``dita.venues._settings``): a reading the
kernel would refuse on the event is refused where it is read, naming the clock."""

from __future__ import annotations

import pytest
from venue_helpers import make_order

from dita import ExecutionKernel, KernelIntent
from dita.venues import PaperVenue, ShadowVenue


@pytest.mark.parametrize("reading", [-5.0, -1e-9])
def test_a_clock_reading_before_the_epoch_is_refused_before_the_order_is_taken(reading: float) -> None:
    """The kernel refuses an event stamped before 1970 (a timestamp is not negative): the shadow
    venue's ack and fill of such a reading were both refused, the order left in flight while the
    venue held its fill, a position the kernel never booked."""
    venue = ShadowVenue(clock=lambda: reading)
    with pytest.raises(ValueError, match=rf"the venue's clock .* gave {reading!r}, not a time"):
        venue.submit(make_order("c1", reference_price=100.0))
    assert (venue.submitted, venue.positions()) == (0, {})
    paper = PaperVenue(clock=lambda: reading)
    with pytest.raises(ValueError, match=rf"the venue's clock .* gave {reading!r}, not a time"):
        paper.submit(make_order("c1", reference_price=100.0))
    assert (paper.submitted, paper.open_orders()) == (0, [])
    # Behind a kernel, the venue's refusal is an unknown submit outcome, nothing filled anywhere.
    kernel = ExecutionKernel(max_slots=1, venue=ShadowVenue(clock=lambda: reading))
    out = kernel.process_intent(KernelIntent("i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0))
    assert "not a time" in str(out.to_dict()["details"].get("venue_error"))
    assert kernel.venue.positions() == {}


def test_a_clock_at_the_epoch_stamps_the_events() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=ShadowVenue(clock=lambda: 0.0))
    out = kernel.process_intent(KernelIntent("i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0))
    assert [e.timestamp_s for e in out.emitted_events] == [0.0, 0.0]
    assert kernel.slot_state(0).size == 1.0
