"""The paper venue's book a `dita paper` state file saves is as of the save's ``data_time``.
With no order working the runtime holds the data back from the venue (``defer_venue_data``)
until an order reaches it: the book saved then kept the venue's clock and prices of the last
order's time, and the run continuing it after a kill skipped the rows up to ``data_time``, so
its restored venue priced the next order with the stale quotes."""

from __future__ import annotations

import json
from pathlib import Path

from dita.backtest.engine import BacktestConfig
from dita.cli.paper import PaperSession
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy
from dita.venues.paper import PaperVenue

from .points import T0, NoParams


class Watches(Strategy[NoParams]):
    """Sends no order: the runtime holds every bar back from the venue."""

    Params = NoParams


def _bars() -> list[Bar]:
    return [
        Bar("BTCUSDT", T0 + 60 * minute, price, price + 1.0, price - 1.0, price, 10.0)
        for minute, price in enumerate((100.0, 104.0, 110.0))
    ]


def test_the_saved_book_is_as_of_the_last_row(tmp_path: Path) -> None:
    session = PaperSession(
        Watches(),
        fill_model=BacktestConfig(balance=10_000.0),
        kernel_id="held",
        state_dir=tmp_path,
        clock="data",
    )
    try:
        session.runtime.run(session.replay.feed(_bars()))
        path = session.save(running=True)
    finally:
        session.kernel.close()
    snap = json.loads(path.read_text())
    book = snap["venue"]
    assert snap["data_time"] == T0 + 120
    assert book["now"] == snap["data_time"]
    assert book["quotes"] == {"BTCUSDT": [110.0, 110.0, 0.0, 0.0]}


def test_sync_venues_hands_the_venues_the_data_held_back() -> None:
    from dita import ExecutionKernel

    venue = PaperVenue()
    kernel = ExecutionKernel(venue=venue)
    try:
        runtime = TradingRuntime(kernel)
        runtime.add_strategy(Watches(name="w"))
        for item in _bars():
            runtime.on_bar(item)
        assert venue.data_time is None  # held back: no order works
        runtime.sync_venues()
        assert venue.data_time == T0 + 120
        assert venue.book()["quotes"] == {"BTCUSDT": [110.0, 110.0, 0.0, 0.0]}
        runtime.sync_venues()  # nothing more to hand
        assert venue.data_time == T0 + 120
    finally:
        kernel.close()
