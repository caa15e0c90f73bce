"""The strategies a user copies (the docs/guides/writing-a-strategy.md example,
``dita.examples``) trade each asset on that asset's own bars: a feed of two assets (a strategy
subscribes to every asset unless it names some) makes on one asset the trades it makes alone.

The docs example kept one window of highs and lows for all assets: on BTC and ETH together it
compared BTC's close with ETH's lows and never closed its BTC position."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dita.backtest.data import MarketData
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.examples.crossover import SmaCrossover

DOC = Path(__file__).resolve().parents[2] / "docs" / "guides" / "writing-a-strategy.md"


def _doc_breakout() -> Any:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    namespace: dict[str, Any] = {"__name__": "runtime_doc"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    return namespace["Breakout"]


def _with_a_second_asset(data: MarketData, *, scale: float) -> MarketData:
    """``data`` with a copy of each bar under ``OTHER`` at ``scale`` times its prices, one
    clock for both."""
    n = len(data)
    other = {k: (v * scale if k != "volume" else v) for k, v in data.columns.items() if len(v)}
    order = np.argsort(np.concatenate([data.ts, data.ts]), kind="stable")
    columns = {k: (np.concatenate([v, other[k]])[order] if len(v) else v) for k, v in data.columns.items()}
    assets = np.array(list(data.asset) + ["OTHER"] * n)[order].tolist()
    return dataclasses.replace(
        data, ts=np.concatenate([data.ts, data.ts])[order], asset=assets, columns=columns
    )


def _trades_of(result: Any, asset: str) -> list[tuple[Any, ...]]:
    return [
        (t.side, t.entry_time, t.exit_time, t.size, t.entry_price, t.exit_price)
        for t in result.trades
        if t.asset == asset
    ]


CONFIG = BacktestConfig(balance=1e9)


@pytest.mark.parametrize(
    "make",
    [lambda: _doc_breakout()({"lookback": 5}), lambda: SmaCrossover({"fast": 5, "slow": 20})],
    ids=["docs-breakout", "crossover"],
)
@pytest.mark.parametrize("scale", [0.05, 20.0])
def test_a_second_asset_in_the_feed_changes_nothing_of_the_first_assets_trades(
    sample_bars: MarketData, make: Any, scale: float
) -> None:
    data = sample_bars.slice_time(None, float(sample_bars.ts[0]) + 2 * 86_400)
    (asset,) = data.assets
    alone = run_backtest(make(), data, CONFIG)
    both = run_backtest(make(), _with_a_second_asset(data, scale=scale), CONFIG)
    assert _trades_of(alone, asset), "the run alone trades"
    assert _trades_of(both, asset) == _trades_of(alone, asset)
