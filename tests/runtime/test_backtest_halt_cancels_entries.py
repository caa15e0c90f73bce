"""A blown account's halt also ends the entry orders still working: HALTED refuses new
entries only, so an order too large for the bars' volume went on filling bar after bar after
the halt, building most of its position (and of the loss) in an account already at zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.strategy import Bar, Strategy


class _BuyTooMuch(Strategy):
    """Buys far more than the bars trade on its first bar, then nothing."""

    def on_start(self) -> None:
        self.asked = False

    def on_bar(self, bar: Bar) -> None:
        if not self.asked:
            self.asked = True
            self.buy(bar.asset, 1_000, price=bar.close)


def _falling_bars(path: Path, n: int = 40) -> Path:
    rows = []
    for i in range(n):
        o, c = 100.0 - 2 * i, 100.0 - 2 * (i + 1)
        rows.append(f"{i * 60},{o},{o},{c},{c},10\n")
    path.write_text("timestamp,open,high,low,close,volume\n" + "".join(rows))
    return path


def test_the_halt_cancels_working_entries(tmp_path: Path) -> None:
    data = load_market_data(_falling_bars(tmp_path / "BTCUSDT_1m.csv"))
    strategy = _BuyTooMuch()
    # 1,000 at 98 on a balance of 1,000: an account of the highest leverage, 125, takes it.
    cfg = BacktestConfig(balance=1_000, fee_rate=0, slippage_bps=0, volume_share=1.0, leverage=125)
    result = run_backtest(strategy, data, cfg)
    info = result.run_info
    assert info["halted_equity"] <= 0
    buys = [f for f in strategy.fills if f.side == "BUY"]
    assert buys, "the entry filled before the halt"
    # Not one entry fill after the halt: the working entry was canceled with it.
    assert [f.ts for f in buys if f.ts > info["halted_at"]] == []
    held = sum(f.size for f in buys)
    assert result.position[-1] == pytest.approx(held)
    # The position is what it was at the halt: the loss after it is the price's alone.
    assert result.account["open_positions"] == 1
    assert not strategy.busy("BTCUSDT") or strategy.slots()[0].fsm_state.name == "POSITION_OPEN"


def test_without_the_halt_the_entry_keeps_filling(tmp_path: Path) -> None:
    data = load_market_data(_falling_bars(tmp_path / "BTCUSDT_1m.csv"))
    strategy = _BuyTooMuch()
    cfg = BacktestConfig(
        balance=1_000, fee_rate=0, slippage_bps=0, volume_share=1.0, leverage=125, halt_when_bust=False
    )
    run_backtest(strategy, data, cfg)
    assert sum(f.size for f in strategy.fills) == pytest.approx(10 * 39)  # every bar after the first
