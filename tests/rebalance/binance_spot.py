"""The local Binance spot exchange of the venue tests (``tests/venues/binance_streams.py``) for a
rebalance on a ccxt venue: one account, market orders filled at its market price; and their USD-M
futures exchange (``binance_futures_streams.py``), one cross-margin account."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

VENUE_TESTS = str(Path(__file__).resolve().parents[1] / "venues")
if VENUE_TESTS not in sys.path:
    sys.path.append(VENUE_TESTS)

from binance_futures_streams import BinanceFuturesServer  # noqa: E402
from binance_market import BinanceMarket  # noqa: E402
from binance_streams import BinanceStreamServer  # noqa: E402
from venue_helpers import API_KEY, API_SECRET  # noqa: E402

__all__ = [
    "BinanceFuturesServer",
    "BinanceMarket",
    "BinanceStreamServer",
    "ccxt_args",
    "futures_exchange",
    "spot_exchange",
]


@contextmanager
def spot_exchange(
    monkeypatch: pytest.MonkeyPatch, btc: float, market: BinanceMarket | None = None, **held: float
) -> Iterator[BinanceStreamServer]:
    """The exchange holding ``btc`` BTC, 1,000,000 USDT and the ``held`` balances, trading the
    ``market`` (BTCUSDT alone by default), the ccxt venue's keys set for it."""
    monkeypatch.setenv("DITA_CCXT_API_KEY", API_KEY)
    monkeypatch.setenv("DITA_CCXT_SECRET", API_SECRET)
    server = BinanceStreamServer(market=market)
    server.balances["BTC"] = btc
    server.balances.update(held)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def futures_exchange(monkeypatch: pytest.MonkeyPatch, wallet: float) -> Iterator[BinanceFuturesServer]:
    """The futures exchange with ``wallet`` USDT in the wallet, trading BTCUSDT at a mid that
    stands at 90,000, the ccxt venue's keys set for it."""
    monkeypatch.setenv("DITA_CCXT_API_KEY", API_KEY)
    monkeypatch.setenv("DITA_CCXT_SECRET", API_SECRET)
    server = BinanceFuturesServer(market=BinanceMarket(symbols=("BTCUSDT",), trade_every_s=3600.0))
    server.wallet = wallet
    try:
        yield server
    finally:
        server.close()


def ccxt_args(server: BinanceStreamServer) -> list[str]:
    return ["--ccxt-exchange", "binance", "--ccxt-base-url", server.url, "--live", "--fill-wait", "5"]
