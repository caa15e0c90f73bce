"""A venue that acknowledges at once and reports its fills later (as an exchange does through
``poll_events``): the rebalance waits for them and books them to their legs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dita import ExecutionKernel, MockVenueAdapter
from dita._kernel import VenueEvent, VenueOrder
from dita.rebalance import parse_targets, rebalance
from dita.risk import MarketLimits
from dita.venues import TopOfBook


class LaterVenue:
    """Acks every order; fills what works on the second poll after it."""

    name = "later"

    def __init__(self) -> None:
        self.mock = MockVenueAdapter(fill_rate=0.0, name="later")
        self.polls = 0

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        return self.mock.submit(order)

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return self.mock.cancel(order)

    def open_orders(self) -> list[VenueOrder]:
        return self.mock.open_orders()

    def positions(self) -> dict[str, float]:
        return self.mock.positions()

    def balances(self) -> dict[str, float]:
        return {"USDT": 1_000.0}

    def market_metadata(self) -> dict[str, MarketLimits]:
        return {}

    def fetch_top_of_book(self, asset: str) -> TopOfBook:
        return TopOfBook(asset, 99.0, 101.0, 10.0, 10.0, 0.0)

    def poll_events(self) -> list[VenueEvent]:
        self.polls += 1
        if self.polls < 2:
            return []
        events: list[VenueEvent] = []
        for order in self.mock.open_orders():
            events += self.mock.fill_open_order(order.client_order_id, 100.5)
        return events


def test_fills_reported_later_are_waited_for_and_booked(tmp_path: Any) -> None:
    venue = LaterVenue()
    body = {
        "source_run": "run-l",
        "generated_at": "2026-11-28T09:00:00Z",
        "targets": [{"symbol": "SOL", "weight": 0.5}],
    }
    portfolio = parse_targets(json.dumps(body).encode(), ".json", "t.json")
    with ExecutionKernel(venue=venue, kernel_id="later", max_slots=4) as kernel:
        run = rebalance(kernel, portfolio, state_dir=None, quote_currency="USDT", fill_wait_s=10.0)
    (result,) = run.results
    assert (result.leg.quantity, result.status, result.filled) == (5.0, "sent", 5.0)
    (row,) = run.report["symbols"]
    assert row["average_price"] == 100.5 and round(row["cost_bps"], 6) == 50.0


def test_positions_the_venue_does_not_state_after_the_legs_leave_the_report_written_and_said(
    tmp_path: Any,
) -> None:
    """The legs went out, then the venue could not be asked for the positions after: the run
    ended in a traceback with no report, which a resumed run then needed to send nothing again.
    The report is written, its positions after unknown and a warning saying why."""
    from dita.venues.protocol import VenueUnavailable

    class DownAfterTheLegs(LaterVenue):
        def positions(self) -> dict[str, float]:
            if self.mock.submitted:
                raise VenueUnavailable("later: the exchange cannot be reached")
            return super().positions()

    body = {
        "source_run": "run-d",
        "generated_at": "2026-11-28T09:00:00Z",
        "targets": [{"symbol": "SOL", "quantity": 5}],
    }
    portfolio = parse_targets(json.dumps(body).encode(), ".json", "t.json")
    with ExecutionKernel(venue=DownAfterTheLegs(), kernel_id="down", max_slots=4) as kernel:
        run = rebalance(kernel, portfolio, state_dir=tmp_path, quote_currency="USDT", fill_wait_s=10.0)
    assert [(r.status, r.filled) for r in run.results] == [("sent", 5.0)]
    (row,) = run.report["symbols"]
    assert row["position_after"] is None and row["filled"] == 5.0
    assert run.report["warnings"] == [
        "the positions after could not be read: later: the exchange cannot be reached"
    ]
    assert run.report_path is not None and json.loads(run.report_path.read_text()) == run.report


def test_an_order_still_working_is_not_sent_again(tmp_path: Any) -> None:
    """A rebalance whose fill is not reported yet leaves its order working: the next one counts
    it as held rather than buying it again, which overshot the target twice over."""
    venue = LaterVenue()

    def version(source_run: str) -> Any:
        body = {
            "source_run": source_run,
            "generated_at": "2026-11-28T09:00:00Z",
            "targets": [{"symbol": "SOL", "quantity": 5}],
        }
        return parse_targets(json.dumps(body).encode(), ".json", "t.json")

    with ExecutionKernel(venue=venue, kernel_id="later", max_slots=4) as kernel:
        first = rebalance(kernel, version("run-l"), state_dir=None, quote_currency="USDT", fill_wait_s=0.0)
        assert [(r.status, r.filled) for r in first.results] == [("sent", 0.0)]
        second = rebalance(kernel, version("run-m"), state_dir=None, quote_currency="USDT", fill_wait_s=10.0)
        assert second.results == []
        while kernel.open_orders():
            for event in venue.poll_events():
                kernel.on_venue_event(event)
    assert venue.positions() == {"SOL": 5.0}


def test_a_symbol_the_exchange_states_no_price_for_is_left_out_and_an_outage_raises() -> None:
    """A ccxt venue raises ValueError for a symbol it does not list or a book with no bid or ask:
    that went up as a traceback, where the guide skips the symbol as "no price". A venue that
    cannot be reached still stops the rebalance."""
    from dita.rebalance.execute import reference_prices
    from dita.venues.protocol import VenueUnavailable

    class Quoting(LaterVenue):
        def fetch_top_of_book(self, asset: str) -> TopOfBook:
            if asset == "NOPE":
                raise ValueError("unknown asset 'NOPE' on binance-spot")
            if asset == "EMPTY":
                raise ValueError("binance-spot: the EMPTY/USDT book has no bid or no ask")
            if asset == "DOWN":
                raise VenueUnavailable("binance-spot: the exchange cannot be reached")
            return super().fetch_top_of_book(asset)

    assert reference_prices(Quoting(), ["BTCUSDT", "NOPE", "EMPTY"]) == {"BTCUSDT": 100.0}
    with pytest.raises(VenueUnavailable):
        reference_prices(Quoting(), ["BTCUSDT", "DOWN"])


def test_what_a_working_order_has_left_is_counted_on_decimals() -> None:
    """1.1 less the 0.2 filled is 0.9000000000000001 in binary: counted as held, a target of 1.5
    from 0.2 held asked for 0.3999999999999999, which the lot of 0.1 rounded down to 0.3."""
    from dita._kernel import KernelIntent
    from dita.rebalance import Account, make_plan, working_quantities

    venue = MockVenueAdapter(partial_fill_rate=1.0, partial_fill_ratio=0.2 / 1.1)
    with ExecutionKernel(venue=venue, kernel_id="part", max_slots=2) as kernel:
        intent = KernelIntent(
            "i-1",
            "t-1",
            0,
            "SOL",
            "LONG",
            "ENTER",
            reference_price=100.0,
            target_size=1.1,
            order_type="MARKET",
        )
        assert kernel.process_intent(intent).accepted
        working = working_quantities(kernel)
    assert working == {"SOL": 0.9}
    body = {
        "source_run": "run-p",
        "generated_at": "2026-11-28T09:00:00Z",
        "targets": [{"symbol": "SOL", "quantity": 1.5}],
    }
    portfolio = parse_targets(json.dumps(body).encode(), ".json", "t.json")
    account = Account(
        {"SOL": 0.2}, 1_000.0, {"SOL": 100.0}, {"SOL": MarketLimits(lot_step=0.1)}, working=working
    )
    assert [leg.quantity for leg in make_plan(portfolio, account).legs] == [0.4]
