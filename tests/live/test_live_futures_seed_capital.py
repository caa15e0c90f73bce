"""A fresh live kernel on futures is seeded with the account's wallet balance, as the account
stream's E is, read from one balance answer: Binance states it (walletBalance) beside the margin
balance ccxt gives as the total. Taking the total less the positions' unrealised PnL asked in a
second request would put a mark move between the two into K for good."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import ccxt
import pytest
from binance_futures_streams import BinanceFuturesServer
from binance_market import BinanceMarket
from venue_helpers import API_KEY, API_SECRET

from dita.cli.live_run import LiveRun
from dita.venues.ccxt import CcxtVenue


@pytest.fixture
def futures(monkeypatch: pytest.MonkeyPatch) -> Iterator[BinanceFuturesServer]:
    """USD-M futures with 100,000 USDT in the wallet and 10 BTC bought at 80,000."""
    monkeypatch.setenv("DITA_CCXT_API_KEY", API_KEY)
    monkeypatch.setenv("DITA_CCXT_SECRET", API_SECRET)
    server = BinanceFuturesServer(market=BinanceMarket(symbols=("BTCUSDT",), trade_every_s=3600.0))
    server.wallet = 100_000.0
    server.positions["BTCUSDT"], server.entry_prices["BTCUSDT"] = 10.0, 80_000.0
    try:
        yield server
    finally:
        server.close()


def seed_over(venue: CcxtVenue) -> float:
    run: Any = LiveRun.__new__(LiveRun)
    run.config = SimpleNamespace(
        venue=SimpleNamespace(market_type="linear", exchange="binance", api_key_env="DITA_CCXT_API_KEY")
    )
    run.market_source = venue
    run.symbols = ["BTC/USDT:USDT"]
    return float(run._account_capital())


def futures_venue(server: BinanceFuturesServer) -> CcxtVenue:
    venue = CcxtVenue(exchange="binance", market_type="linear", base_url=server.url)
    venue.load_markets()
    return venue


def test_the_futures_seed_is_the_wallet_balance_whatever_the_mark_does_between_requests(
    futures: BinanceFuturesServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    venue = futures_venue(futures)
    try:
        exchange = venue._exchange
        fetch_balance, fetch_positions = exchange.fetch_balance, exchange.fetch_positions

        def balance_then_the_mark_moves(*args: Any, **kwargs: Any) -> Any:
            answer = fetch_balance(*args, **kwargs)
            futures.market_price = 90_100.0  # before any later request is answered
            return answer

        monkeypatch.setattr(exchange, "fetch_balance", balance_then_the_mark_moves)
        monkeypatch.setattr(exchange, "fetch_positions", fetch_positions)
        seed = seed_over(venue)
    finally:
        venue.close()
    assert seed == pytest.approx(100_000.0), f"seed {seed}, wallet 100,000"


def test_an_answer_stating_no_wallet_balance_seeds_ccxts_total_whole(
    futures: BinanceFuturesServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    venue = futures_venue(futures)
    try:
        answer = {"info": {}, "total": {"USDT": 100_250.0}, "USDT": {"total": 100_250.0}}
        monkeypatch.setattr(venue._exchange, "fetch_balance", lambda *args, **kwargs: answer)
        seed = seed_over(venue)
    finally:
        venue.close()
    assert seed == 100_250.0


def _okx_answer() -> dict[str, Any]:
    """OKX: ccxt's total is ``eq``, the unrealised PnL in; ``cashBal`` is the wallet."""
    usdt = {"ccy": "USDT", "eq": "100250", "cashBal": "100000", "upl": "250", "availEq": "90000"}
    response = {"code": "0", "data": [{"uTime": "1700000000000", "details": [usdt]}]}
    return dict(ccxt.okx().parse_trading_balance(response))


def _binance_portfolio_margin_answer() -> dict[str, Any]:
    """Binance portfolio margin: ``info`` is a list; ccxt's total is the wallet plus the PnL."""
    response = [{"asset": "USDT", "totalWalletBalance": "100000", "umWalletBalance": "100000",
                 "umUnrealizedPNL": "250", "cmWalletBalance": "0", "cmUnrealizedPNL": "0"}]  # fmt: skip
    return dict(ccxt.binance().parse_balance_custom(response, "linear", None, True))


@pytest.mark.parametrize("answer", [_okx_answer, _binance_portfolio_margin_answer], ids=["okx", "binance-pm"])
def test_the_seed_is_the_wallet_balance_another_exchanges_answer_states(
    futures: BinanceFuturesServer, monkeypatch: pytest.MonkeyPatch, answer: Any
) -> None:
    """The wallet stated beside a total that holds 250 of unrealised PnL: 100,000 is seeded."""
    venue = futures_venue(futures)
    try:
        balance = answer()
        assert balance["USDT"]["total"] == 100_250.0
        monkeypatch.setattr(venue._exchange, "fetch_balance", lambda *a, **k: balance)
        seed = seed_over(venue)
    finally:
        venue.close()
    assert seed == pytest.approx(100_000.0)
