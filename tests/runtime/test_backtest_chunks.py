"""run_backtest walks the data in chunks of rows (``dita.runtime.ROWS_PER_CHUNK``), each made
Python floats only when it is reached: the whole columns as Python lists took about 190 bytes
a bar, 1.9 GB for 10M bars, beside the arrays. Chunk borders change nothing: the trades,
metrics, report, halt and progress of a run over many chunks are those of one chunk."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dita.backtest.data import MarketData
from dita.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from dita.backtest.report import ARTEFACTS
from dita.examples.crossover import SmaCrossover
from dita.runtime import TradingRuntime, feeds
from dita.strategy import Bar, Quote, Strategy

ONE_CHUNK = 1 << 40


def _crossover() -> SmaCrossover:
    return SmaCrossover({"fast": 3, "slow": 8, "trade_size": 0.01})


def _run(monkeypatch: pytest.MonkeyPatch, chunk: int, *args: Any, **kwargs: Any) -> BacktestResult:
    monkeypatch.setattr(feeds, "ROWS_PER_CHUNK", chunk)
    return run_backtest(*args, **kwargs)


def _same_run(a: BacktestResult, b: BacktestResult) -> None:
    assert a.trades == b.trades and a.trades
    assert a.metrics == b.metrics
    assert a.run_info == b.run_info
    assert a.account == b.account
    assert a.strategy_status == b.strategy_status
    for name in ("ts", "equity", "position"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_a_run_over_many_chunks_gives_the_one_chunk_report(
    sample_bars: MarketData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    assert len(sample_bars) % chunk or chunk == 1  # a short last chunk too
    whole = _run(monkeypatch, ONE_CHUNK, _crossover(), sample_bars)
    chunked = _run(monkeypatch, chunk, _crossover(), sample_bars)
    _same_run(whole, chunked)
    whole.write_report(tmp_path / "whole")
    chunked.write_report(tmp_path / "chunked")
    for name in ARTEFACTS:
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "chunked" / name).read_bytes(), name


def test_a_window_of_the_data_over_chunks_gives_the_one_chunk_run(
    sample_bars: MarketData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --from/--to: the arrays are views starting inside the data, the chunks counted from them.
    window = sample_bars.slice_time(float(sample_bars.ts[1001]), float(sample_bars.ts[3900]))
    assert len(window) == 2899
    whole = _run(monkeypatch, ONE_CHUNK, _crossover(), window)
    chunked = _run(monkeypatch, 64, _crossover(), window)
    _same_run(whole, chunked)
    assert chunked.rows == chunked.run_info["rows"] == 2899
    assert chunked.ts[0] == sample_bars.ts[1001]


def test_a_halt_across_chunk_borders_is_the_one_chunk_halt(
    sample_bars: MarketData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As test_a_blown_account_stops_opening_trades: the account is gone within a few trades.
    cfg = BacktestConfig(balance=1_000, fee_rate=0.01, volume_share=1.0, leverage=None)

    def blowing() -> SmaCrossover:
        return SmaCrossover({"fast": 3, "slow": 8, "trade_size": 1.0})

    whole = _run(monkeypatch, ONE_CHUNK, blowing(), sample_bars, cfg)
    row = whole.run_info["halted_row"]  # numbered from 1
    assert 10 < row < len(sample_bars) - 100
    # The halt in the middle of a chunk, on its first row, on its last; later chunks after it.
    for chunk in (5, row - 1, row, row + 1):
        chunked = _run(monkeypatch, chunk, blowing(), sample_bars, cfg)
        _same_run(whole, chunked)
        assert chunked.run_info["halted_row"] == row


class Counting(Strategy[Any]):
    """Counts the bars it has heard."""

    def on_start(self) -> None:
        self.bars = 0

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1


def test_progress_across_chunk_borders_counts_the_rows_done(
    sample_bars: MarketData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No time between two calls: progress after every row, through every border of chunks of 7.
    monkeypatch.setattr(feeds, "_PROGRESS_SECONDS", 0.0)
    strategy = Counting()
    calls: list[tuple[int, int]] = []
    n = len(sample_bars)
    _run(monkeypatch, 7, strategy, sample_bars, progress=lambda done: calls.append((done, strategy.bars)))
    # Each call says the rows the strategy has heard so far, the last all of them.
    assert all(done == heard for done, heard in calls)
    assert [done for done, _ in calls] == list(range(1, n + 1))


class QuoteTrader(Strategy[Any]):
    """Buys on its 5th quote, sells on its 17th, buys again on its 30th: fills over borders."""

    data = ("quotes",)

    def on_start(self) -> None:
        self.quotes = 0

    def on_quote(self, quote: Quote) -> None:
        self.quotes += 1
        if self.quotes in (5, 30):
            self.buy(quote.asset, 0.5, price=quote.ask)
        elif self.quotes == 17:
            self.close(quote.asset, price=quote.bid)


def _quotes(n: int) -> MarketData:
    ts = 1_704_067_200.0 + np.arange(n, dtype=float)
    mid = 100.0 + np.sin(np.arange(n) / 5.0)
    return MarketData(
        kind="quotes",
        ts=ts,
        asset=["BTCUSDT"] * n,
        columns={
            "bid": mid - 0.05,
            "ask": mid + 0.05,
            "bid_size": np.full(n, 2.0),
            "ask_size": np.full(n, 2.0),
        },
        source="test",
    )


def test_quotes_over_chunks_give_the_one_chunk_run(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _quotes(61)
    whole = _run(monkeypatch, ONE_CHUNK, QuoteTrader(), data)
    for chunk in (1, 4, 16):
        _same_run(whole, _run(monkeypatch, chunk, QuoteTrader(), data))


class Idle(Strategy[Any]):
    def on_bar(self, bar: Bar) -> None:
        pass


def _bars(n: int) -> MarketData:
    ts = 1_704_067_200.0 + 60.0 * np.arange(n, dtype=float)
    close = 100.0 + np.sin(np.arange(n) / 50.0)
    return MarketData(
        kind="bars",
        ts=ts,
        asset=["BTCUSDT"] * n,
        columns={
            "open": close,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": np.full(n, 5.0),
        },
        source="test",
        interval=60.0,
    )


def test_the_replay_holds_one_chunk_of_rows_as_python_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    # Memory traced, not timed: during the replay, what was allocated beyond what was held when
    # run_backtest began. The whole columns as Python lists were 192 bytes a bar (a float
    # object and a list slot for each of six numbers), 3.8 MB here; a chunk of 1,000 is 0.2 MB.
    n = 20_000
    data = _bars(n)
    numbers = data.ts.nbytes + sum(c.nbytes for c in data.columns.values())
    assert numbers == 48 * n
    replay_peak: list[int] = []
    run_columns = TradingRuntime.run_columns

    def traced(self: TradingRuntime, *args: Any, **kwargs: Any) -> int:
        tracemalloc.reset_peak()
        done = run_columns(self, *args, **kwargs)
        replay_peak.append(tracemalloc.get_traced_memory()[1])
        return done

    monkeypatch.setattr(TradingRuntime, "run_columns", traced)
    tracemalloc.start()
    try:
        at_start = tracemalloc.get_traced_memory()[0]
        result = _run(monkeypatch, 1000, Idle(), data)
    finally:
        tracemalloc.stop()
    assert result.rows == n
    extra = replay_peak[0] - at_start
    # Whole columns as lists are 4x the data's numbers; a chunk and the run's own state stay
    # below one half, and the bound is the whole: tracemalloc counts the allocations of other
    # threads the test process runs too (a journal's or a client's, left by another test).
    assert extra < numbers, f"{extra:,} bytes beyond the data's {numbers:,} during the replay"
