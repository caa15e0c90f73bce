"""Where in the data the kernel's last act was, read from its write-ahead log as a run continuing
after a kill reads it (``dita.cli.paper_resume``): an intent where its metadata says it was
decided, a fill the paper venue made on market data on its asset's row of its time, and the
venue's answer to an order just sent at that order's intent, not on the row of the order's asset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter
from dita.backtest.data import MarketData
from dita.cli.paper_resume import last_place, read_log_after_save
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Quote, Strategy
from dita.venues.paper import PaperVenue

T0 = 1_704_067_200.0


class OnAaaBuysBbb(Strategy[Any]):
    """On AAA's data of T0 + 60, a BBB buy: at the market, or a limit at ``limit``."""

    data = ("bars", "quotes")
    limit: float | None = None

    def on_bar(self, bar: Bar) -> None:
        self._maybe(bar.asset, bar.ts)

    def on_quote(self, quote: Quote) -> None:
        self._maybe(quote.asset, quote.ts)

    def _maybe(self, asset: str, ts: float) -> None:
        if asset == "AAA" and ts == T0 + 60:
            self.buy("BBB", 1.0, price=100.0, limit=self.limit)


def _run(tmp_path: Path, points: list[Bar] | list[Quote], limit: float | None = None) -> ExecutionKernel:
    """``points`` through a runtime recording where its intents were decided, over a kernel
    with a log and a paper venue of no latency."""
    venue = PaperVenue(slippage_bps=0.0, bar_volume_share=0.5)
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id="place", wal_dir=str(tmp_path / "wal"))
    runtime = TradingRuntime(kernel, [venue], record_data_place=True)
    strategy = OnAaaBuysBbb()
    strategy.limit = limit
    runtime.add_strategy(strategy)
    runtime.run(points)
    return kernel


def _data(points: list[Bar] | list[Quote]) -> MarketData:
    kind = "bars" if isinstance(points[0], Bar) else "quotes"
    return MarketData(
        kind=kind, ts=np.array([p.ts for p in points]), asset=[p.asset for p in points], columns={}
    )


def _last_place(kernel: ExecutionKernel, points: list[Bar] | list[Quote]) -> Any:
    return last_place(read_log_after_save(kernel, 1, kernel.seq).acts, _data(points))


def _quote(asset: str, ts: float, ask: float = 100.0) -> Quote:
    return Quote(asset, ts, ask - 1.0, ask, 10.0, 10.0)


def test_a_market_buy_filled_at_once_on_the_last_quote_is_at_its_intent(tmp_path: Path) -> None:
    """The BBB buy, sent on AAA's quote (the first of T0 + 60), fills at once on BBB's quote of
    T0; BBB's quote of T0 + 60 comes after it. Taken as made on that quote, the fill would skip it."""
    points = [_quote("AAA", T0), _quote("BBB", T0), _quote("AAA", T0 + 60), _quote("BBB", T0 + 60)]
    kernel = _run(tmp_path, points[:3])
    assert _last_place(kernel, points) == (T0 + 60, 1)


def test_a_fill_on_market_data_is_on_its_assets_row(tmp_path: Path) -> None:
    """The BBB bid at 99, sent on AAA's quote and not crossed by BBB's quote of T0, fills as a
    maker on BBB's quote of T0 + 60, the second row of that time."""
    points = [
        _quote("AAA", T0),
        _quote("BBB", T0, 100.0),
        _quote("AAA", T0 + 60),
        _quote("BBB", T0 + 60, 98.0),
    ]
    kernel = _run(tmp_path, points, limit=99.0)
    assert _last_place(kernel, points) == (T0 + 60, 2)


def test_a_bar_fill_after_the_last_intent_is_on_its_assets_row(tmp_path: Path) -> None:
    """The BBB buy, sent on AAA's bar of T0 + 60, fills on BBB's bar of T0 + 120, the second row
    of that time: the kernel's last act."""
    bars = [
        Bar(asset, T0 + 60 * m, 100.0, 101.0, 99.0, 100.0, 1000.0)
        for m in range(3)
        for asset in ("AAA", "BBB")
    ]
    kernel = _run(tmp_path, bars)
    assert _last_place(kernel, bars) == (T0 + 120, 2)


def _entered_at_row_1(tmp_path: Path) -> ExecutionKernel:
    """A kernel whose entry (resting) was decided on row 1 of the rows of time T0."""
    kernel = ExecutionKernel(
        max_slots=2, venue=MockVenueAdapter(seed=1, fill_rate=0.0), kernel_id="pr", wal_dir=str(tmp_path)
    )
    kernel.process_intent(
        KernelIntent(
            "e0", "T0", 0, "BTC-USDT", "LONG", "ENTER", 100.0, 1.0, order_type="LIMIT", limit_price=99.0,
            timestamp=T0, metadata={"data_time": T0, "rows_at_data_time": 1},
        )
    )  # fmt: skip
    return kernel


def _place_of_the_last_act(kernel: ExecutionKernel) -> object:
    kernel.wal_sync()
    return last_place(read_log_after_save(kernel, 1, kernel.seq).acts, None)  # type: ignore[arg-type]


def test_a_strategys_write_to_its_slot_is_no_act_on_the_data(tmp_path: Path) -> None:
    """Its journal row (SLOTS_LOADED) names no intent or event: taken for an act at every row of
    its time, it put the resume past rows 2 and 3 of T0, which the killed run never handled."""
    kernel = _entered_at_row_1(tmp_path)
    try:
        kernel.set_slot_fields(1, {"close_reason": "note"})  # what a strategy's slot view write does
        assert _place_of_the_last_act(kernel) == (T0, 1)
    finally:
        kernel.close()


def test_an_edge_freezes_cancel_is_no_act_on_the_data(tmp_path: Path) -> None:
    kernel = _entered_at_row_1(tmp_path)
    try:
        kernel.set_risk_limits({"edge_freeze_threshold_bps": 5.0})
        kernel.on_edge_update("BTC-USDT", 1.0, timestamp=T0)  # cancels the resting entry
        assert _place_of_the_last_act(kernel) == (T0, 1)
    finally:
        kernel.close()
