"""A backtest cut short (a Ctrl-C, a progress callback that raises) stops its runtime and closes
its kernel before the exception goes on: its write-ahead log is released, and the next run on
that wal_dir in the same process opens it instead of finding it "locked by another writer"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dita.backtest.data import MarketData
from dita.backtest.engine import run_backtest
from dita.strategy import Bar, Strategy


class _BuysEveryFlatBar(Strategy[Any]):
    def on_start(self) -> None:
        self.stopped = False

    def on_stop(self) -> None:
        self.stopped = True

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset):
            self.buy(bar.asset, 0.01, price=bar.close)
        elif self.position(bar.asset) > 0:
            self.close(bar.asset, price=bar.close)


def _ctrl_c(rows_done: int) -> None:
    raise KeyboardInterrupt  # Ctrl-C in a notebook while the progress bar updates


def _divides_by_zero(rows_done: int) -> None:
    rows_done / 0


@pytest.mark.parametrize(
    ("progress", "raised"),
    [(_ctrl_c, KeyboardInterrupt), (_divides_by_zero, ZeroDivisionError)],
    ids=["ctrl-c", "progress-raises"],
)
def test_a_backtest_cut_short_releases_its_write_ahead_log(
    sample_bars: MarketData, tmp_path: Path, progress: Any, raised: type[BaseException]
) -> None:
    wal = {"wal_dir": str(tmp_path / "wal")}
    cut_short = _BuysEveryFlatBar()
    with pytest.raises(raised):
        run_backtest(cut_short, sample_bars, progress=progress, kernel_options=wal)
    assert cut_short.stopped
    # The next run on that log continues it, to the end of the data.
    assert run_backtest(_BuysEveryFlatBar(), sample_bars, kernel_options=wal).rows == len(sample_bars)
