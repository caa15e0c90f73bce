"""The strategy docs/guides/writing-a-strategy.md shows a new author runs as written, so it cannot drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dita.backtest.data import MarketData
from dita.backtest.engine import run_backtest

DOC = Path(__file__).resolve().parents[2] / "docs" / "guides" / "writing-a-strategy.md"


def _example() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/guides/writing-a-strategy.md has one Python example"
    namespace: dict[str, Any] = {"__name__": "runtime_doc"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    return namespace


def test_the_breakout_example_trades_a_backtest(sample_bars: MarketData) -> None:
    breakout = _example()["Breakout"]
    result = run_backtest(breakout({"lookback": 5}), sample_bars)
    assert result.metrics.trades > 0
    # Its Params forbid a misspelt name, as the comment says.
    with pytest.raises(ValueError, match="lookbak"):
        breakout({"lookbak": 5})
