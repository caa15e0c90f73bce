"""Paper venue throughput, with the native mock venue measured in the same run as baseline.

    .venv/bin/python benches/bench_venues.py [--orders 20000] [--repeats 3]

Prints orders/s for:
- direct venue calls: ``submit`` of a market order that fills at once (paper against a
  quote; the native mock fills at the reference price), and a resting limit order filled by
  the next quote (paper only: the mock has no book);
- the kernel cycle: ENTER then EXIT intents through ``ExecutionKernel`` with each venue.
Each paper figure is followed by its ratio to the mock figure of the same shape.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter, VenueOrder
from dita.venues import PaperVenue


def best_rate(run: Callable[[int], None], n: int, repeats: int) -> float:
    """Highest orders/s over ``repeats`` runs (the least disturbed by other load)."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        run(n)
        elapsed = time.perf_counter() - start
        best = max(best, n / elapsed)
    return best


def paper_with_book() -> PaperVenue:
    venue = PaperVenue(slippage_bps=1.0)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 1e12, 1e12, ts=1.0)
    return venue


def direct_market(make_venue: Callable[[], object]) -> Callable[[int], None]:
    def run(n: int) -> None:
        venue = make_venue()
        submit = venue.submit  # type: ignore[attr-defined]
        for i in range(n):
            events = submit(
                VenueOrder(f"o{i}", 0, f"t{i}", "BTCUSDT", "BUY", "MARKET", 0.0, 0.01, reference_price=100.0)
            )
            assert len(events) == 2, events

    return run


def paper_resting_limit(n: int) -> None:
    venue = paper_with_book()
    ts = 1.0
    for i in range(n):
        venue.submit(VenueOrder(f"o{i}", 0, f"t{i}", "BTCUSDT", "BUY", "LIMIT", 98.0, 0.01))
        ts += 0.001
        events = venue.on_quote("BTCUSDT", 97.0, 98.0, 1e12, 1e12, ts)
        assert len(events) == 1, events
        ts += 0.001
        venue.on_quote("BTCUSDT", 99.0, 100.0, 1e12, 1e12, ts)


def kernel_cycle(make_venue: Callable[[], object]) -> Callable[[int], None]:
    """``n`` orders = n/2 round trips (ENTER and EXIT) on one slot."""

    def run(n: int) -> None:
        kernel = ExecutionKernel(max_slots=1, venue=make_venue())
        for i in range(n // 2):
            enter = KernelIntent(f"e{i}", f"t{i}", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 0.01)
            outcome = kernel.process_intent(enter)
            assert outcome.accepted, outcome.to_dict()
            leave = KernelIntent(f"x{i}", f"t{i}", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 0.01)
            outcome = kernel.process_intent(leave)
            assert outcome.accepted, outcome.to_dict()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, repeats = args.orders, args.repeats

    mock_direct = best_rate(direct_market(MockVenueAdapter), n, repeats)
    paper_direct = best_rate(direct_market(paper_with_book), n, repeats)
    paper_limit = best_rate(paper_resting_limit, n, repeats)
    mock_kernel = best_rate(kernel_cycle(MockVenueAdapter), n, repeats)
    paper_kernel = best_rate(kernel_cycle(paper_with_book), n, repeats)

    print(f"venue orders/s, best of {repeats} runs of {n} orders")
    rows = [
        ("direct submit, native mock", mock_direct, None),
        ("direct submit, paper market", paper_direct, mock_direct),
        ("paper resting limit + 2 quotes", paper_limit, mock_direct),
        ("kernel ENTER/EXIT, native mock", mock_kernel, None),
        ("kernel ENTER/EXIT, paper", paper_kernel, mock_kernel),
    ]
    for label, rate, baseline in rows:
        ratio = "(baseline)" if baseline is None else f"mock/paper = {baseline / rate:.2f}x"
        print(f"  {label:<32} {rate:>12,.0f}  {ratio}")


if __name__ == "__main__":
    main()
