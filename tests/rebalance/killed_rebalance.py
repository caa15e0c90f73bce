"""A rebalance run as its own process, for the test that kills it: its paper venue's book is
kept in ``STATE/book.json``, every order that reaches the venue is written to ``STATE/ledger``
first, and with ``--hang-at N`` the N-th order to reach it never gets an answer (the process
waits there to be killed).

python tests/rebalance/killed_rebalance.py STATE [--hang-at N]"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from paper_account import paper_venue

from dita import ExecutionKernel
from dita._kernel import VenueEvent, VenueOrder
from dita.rebalance import parse_targets, rebalance
from dita.venues.paper import PaperVenue

TARGETS = {
    "source_run": "run-killed",
    "generated_at": "2026-11-28T09:00:00Z",
    "targets": [
        {"symbol": "BTC", "weight": 0.3},
        {"symbol": "ETH", "quantity": 1.0},
        {"symbol": "SOL", "quantity": 5.0},
    ],
}


class LedgerVenue(PaperVenue):
    def __init__(self, ledger: Path, hang_at: int, **settings: object) -> None:
        super().__init__(**settings)  # type: ignore[arg-type]
        self.ledger, self.hang_at = ledger, hang_at

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        with self.ledger.open("a") as f:
            f.write(json.dumps({"trade_id": order.trade_id, "client_order_id": order.client_order_id}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if sum(1 for _ in self.ledger.open()) == self.hang_at:
            while True:
                time.sleep(60)
        return super().submit(order)


def main() -> None:
    state = Path(sys.argv[1])
    hang_at = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    book_path = state / "book.json"
    book = json.loads(book_path.read_text()) if book_path.exists() else paper_venue(10_000.0, {}).book()
    venue = LedgerVenue(state / "ledger", hang_at, slippage_bps=0.0)
    venue.restore_book(book)

    def save(_result: object) -> None:
        book_path.write_text(json.dumps(venue.book()))

    portfolio = parse_targets(json.dumps(TARGETS).encode(), ".json", "targets.json")
    # As `dita rebalance` opens it: each input synced before its order goes out.
    with ExecutionKernel(
        venue=venue, kernel_id="rb", wal_dir=str(state / "wal"), max_slots=8, fsync="always"
    ) as kernel:
        if kernel.seq > 0:
            kernel.reconcile_with_venue()
        run = rebalance(kernel, portfolio, state_dir=state, quote_currency="USDT", after_leg=save)
    print(json.dumps([[r.leg.symbol, r.status] for r in run.results]))


if __name__ == "__main__":
    main()
