"""A fresh live kernel on futures is seeded with the account's wallet balance, as the account
stream's E is: ccxt's total of a Binance futures balance is the margin balance, which holds the
open positions' unrealised PnL, and seeded with it K would differ from E by that PnL from the
first reconcile on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dita.cli.live_run import LiveRun, RunRefused

MARKET = {"id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "quote": "USDT", "settle": "USDT"}


def run_over(market_type: str, total: float, unrealized: dict[str, float] | None, wallet_alone: bool) -> Any:
    venue = SimpleNamespace(
        _exchange=SimpleNamespace(market=lambda symbol: MARKET),
        balances=lambda: {"USDT": total},
        unrealized_pnl=lambda: unrealized,
        balance_leaves_out_unrealized_pnl=lambda: wallet_alone,
    )
    run = LiveRun.__new__(LiveRun)
    venue_table = SimpleNamespace(market_type=market_type, exchange="binance", api_key_env="K")
    run.config = SimpleNamespace(venue=venue_table)  # type: ignore[assignment]
    run.market_source = venue
    run.symbols = ["BTC/USDT:USDT"]
    return run


def test_a_futures_seed_capital_is_the_wallet_balance_not_the_margin_balance() -> None:
    assert run_over("linear", 10_250.0, {"USDT": 250.0}, wallet_alone=False)._account_capital() == 10_000.0


def test_a_balance_without_the_unrealised_pnl_is_taken_whole() -> None:
    assert run_over("linear", 10_000.0, {"USDT": 250.0}, wallet_alone=True)._account_capital() == 10_000.0
    assert run_over("spot", 10_000.0, {"USDT": 250.0}, wallet_alone=False)._account_capital() == 10_000.0


def test_a_position_stating_no_unrealised_pnl_refuses_the_start() -> None:
    with pytest.raises(RunRefused, match="states no unrealised PnL"):
        run_over("linear", 10_250.0, None, wallet_alone=False)._account_capital()
