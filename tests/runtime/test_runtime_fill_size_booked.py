"""A strategy hears each fill at the size the kernel booked of it. A venue that states only
its running total (``size`` 0, ``filled_size`` the total), or that resends a fill merged with
the next (``size`` 0.7 after 0.5 was booked), has the kernel book the increase; the runtime
handed the strategy and the fill listeners the event's own ``size``, so a strategy summing
its fills held 0.0, or 1.2, where the kernel holds 1.0. So in a venue's answer to a submit
and in a poll."""

from __future__ import annotations

import pytest

from dita import ExecutionKernel, VenueEvent
from dita.runtime import TradingRuntime

from .points import BuysOnce, FillsAsTold, bar


def _bought(venue: FillsAsTold, size: float = 1.0) -> tuple[ExecutionKernel, BuysOnce, list[VenueEvent]]:
    """The kernel, the strategy and the events its fill listener heard, once a strategy has
    bought ``size`` on ``venue`` and the fills came (in the answer, or from the next bar's poll)."""
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="booked")
    runtime = TradingRuntime(kernel)
    heard: list[VenueEvent] = []
    runtime.fill_listeners.append(lambda event, row: heard.append(event))
    strategy = BuysOnce()
    strategy.size = size
    runtime.add_strategy(strategy)
    runtime.run([bar(0), bar(1)])
    return kernel, strategy, heard


@pytest.mark.parametrize("at_once", [True, False], ids=["answer", "poll"])
@pytest.mark.parametrize(
    ("parts", "booked"),
    [
        ([(0.0, 0.4), (0.0, 1.0)], [0.4, 0.6]),
        ([(0.5, 0.5), (0.7, 0.7), (0.0, 1.0)], [0.5, 0.2, 0.3]),
    ],
    ids=["totals-only", "merged-resend"],
)
def test_a_strategy_hears_each_fill_at_the_size_the_kernel_booked(
    parts: list[tuple[float, float]], booked: list[float], at_once: bool
) -> None:
    kernel, strategy, heard = _bought(FillsAsTold(parts, at_once=at_once))
    assert kernel.slot_state(0).size == pytest.approx(1.0)
    assert [f.size for f in strategy.heard] == pytest.approx(booked)
    assert [e.size for e in heard] == pytest.approx(booked)
    # What the strategy summed is what the kernel holds.
    assert sum(f.size for f in strategy.heard) == pytest.approx(kernel.slot_state(0).size)


@pytest.mark.parametrize("at_once", [True, False], ids=["answer", "poll"])
def test_a_fill_booked_in_part_is_heard_with_the_part_of_its_fee_the_kernel_charged(at_once: bool) -> None:
    """A fill resent merged with the next (0.7 after 0.5 was booked) books 0.2, and the kernel
    charges 0.2/0.7 of the fee it states: heard at 0.2 with the whole fee, a strategy summing
    its fees paid the overlap twice (0.12 where the kernel charged 0.10)."""
    venue = FillsAsTold([(0.5, 0.5), (0.7, 0.7), (0.3, 1.0)], at_once=at_once, fee_rate=0.001)
    kernel, strategy, heard = _bought(venue)
    assert kernel.slot_state(0).fees_paid == pytest.approx(0.10)
    assert [f.size for f in strategy.heard] == pytest.approx([0.5, 0.2, 0.3])
    assert [f.fee for f in strategy.heard] == pytest.approx([0.05, 0.02, 0.03])
    assert [e.fee for e in heard] == pytest.approx([0.05, 0.02, 0.03])


@pytest.mark.parametrize("at_once", [True, False], ids=["answer", "poll"])
def test_a_fill_booked_whole_is_heard_with_the_whole_fee_the_kernel_charged(at_once: bool) -> None:
    """A fill a hair over what its order had left (1.0009e-6 of an order of 1e-6, within the
    kernel's 1e-9) books what was left, and is charged its whole fee: no earlier report paid a
    part of it. Scaled by the booked size over the reported one, the strategy heard 1e-7 where
    the kernel charged 1.0009e-7."""
    venue = FillsAsTold([(1.0009e-6, 1.0009e-6)], at_once=at_once, fee_rate=0.001)
    kernel, strategy, heard = _bought(venue, size=1e-6)
    assert kernel.slot_state(0).size == 1e-6
    assert kernel.slot_state(0).fees_paid == pytest.approx(1.0009e-7)
    assert [f.size for f in strategy.heard] == [1e-6]
    assert [f.fee for f in strategy.heard] == pytest.approx([1.0009e-7])
    assert [e.fee for e in heard] == pytest.approx([1.0009e-7])
