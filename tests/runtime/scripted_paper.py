"""Strategies scripted by bar index (read from the bar's time, so a run continued on the same
kernel acts as one that went on), the bars they trade, and ``dita paper`` of them with the fills
each strategy heard (``SEEN``): the runs that a paper session stopped and continued, or a replay
and the backtest of the same file, are compared by."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dita.strategy import Bar, Fill, Strategy
from runtime.paper_cli import run_paper

T0 = 1_704_067_200
# The fills the strategies heard, in order: (time, side, price, size, fee).
SEEN: list[tuple[Any, ...]] = []


def moving_bars(path: Path, n: int = 30) -> Path:
    """``n`` one-minute BTCUSDT bars that move (a sine), 5 to 7 traded a bar: an order of 2 at a
    volume share of 0.1 fills over several bars."""
    rows = ["timestamp,asset,open,high,low,close,volume"]
    px = 100.0
    for i in range(n):
        o = px
        c = round(100 + 3 * math.sin(i / 3.0) + (i % 5) * 0.3, 4)
        h, lo = round(max(o, c) + 0.7, 4), round(min(o, c) - 0.7, 4)
        rows.append(f"{T0 + 60 * i},BTCUSDT,{o},{h},{lo},{c},{5 + (i % 3)}")
        px = c
    path.write_text("\n".join(rows) + "\n")
    return path


class _Hears(Strategy[Any]):
    data = ("bars",)

    def on_fill(self, fill: Fill) -> None:
        SEEN.append(
            (fill.ts, fill.side, round(fill.price, 9), round(fill.size, 12), round(fill.fee or 0.0, 12))
        )


class Scripted(_Hears):
    """Buys at the market (bar 1) and at a limit (bar 2), sells at a limit (bar 3), closes all
    (bar 9), sells at the market (bar 14), buys at a limit (bar 16) and closes all (bar 24):
    the short of bar 14 takes slot 0, freed at bar 9, and the long of bar 2 holds slot 1."""

    def on_bar(self, bar: Bar) -> None:
        i = round((bar.ts - T0) / 60)
        if i == 1:
            self.buy(bar.asset, 2.0, price=bar.close)
        if i == 2:
            self.buy(bar.asset, 1.0, price=bar.close, limit=round(bar.close - 1.5, 2))
        if i == 3:
            self.sell(bar.asset, 1.0, price=bar.close, limit=round(bar.close + 4.0, 2))
        if i in (9, 24):
            self.close(bar.asset, price=bar.close)
        if i == 14:
            self.sell(bar.asset, 1.5, price=bar.close)
        if i == 16:
            self.buy(bar.asset, 0.7, price=bar.close, limit=round(bar.close + 0.1, 2))


def blowup_bars(path: Path) -> Path:
    """Five one-minute BTCUSDT bars: 100, 100, then 301 (a short of 5 from 100 on 1,000 of
    balance is blown), a bar whose high reaches 410, and 305; 1,000 traded a bar."""
    rows = ["timestamp,asset,open,high,low,close,volume"]
    bars = [(100, 100.5, 99.5, 100), (100, 100.5, 99.5, 100), (301, 302, 300, 301), (305, 410, 300, 305)]
    bars.append((305, 306, 304, 305))
    rows += [f"{T0 + 60 * i},BTCUSDT,{o},{h},{lo},{c},1000" for i, (o, h, lo, c) in enumerate(bars)]
    path.write_text("\n".join(rows) + "\n")
    return path


class ShortsThenBlowsUp(_Hears):
    """Shorts 5 at the market (bar 0), rests a short entry at 400 (bar 1), and asks one more
    entry (bar 2), once the price has blown an account of 1,000."""

    def on_bar(self, bar: Bar) -> None:
        i = round((bar.ts - T0) / 60)
        if i == 0:
            self.sell(bar.asset, 5.0, price=bar.close)
        if i == 1:
            self.sell(bar.asset, 1.0, price=bar.close, limit=400.0)
        if i == 2:
            self.buy(bar.asset, 0.01, price=bar.close)


def paper_fills(tmp_path: Path, strategy: str, data: Path, *extra: str) -> list[tuple[Any, ...]]:
    """The fills ``strategy`` (``scripted_paper:CLASS``'s class name) heard in one ``dita
    paper`` run of ``data`` (see ``run_paper``)."""
    SEEN.clear()
    result = run_paper(tmp_path, f"runtime.scripted_paper:{strategy}", data, *extra)
    assert result.exit_code == 0, result.output
    return list(SEEN)
