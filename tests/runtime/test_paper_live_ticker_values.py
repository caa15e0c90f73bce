"""`dita paper --ccxt-exchange`: a ticker whose bid, ask or sizes are no price or size (negative,
NaN, infinite, text ccxt left unparsed: an exchange's or a proxy's fault) is skipped and said on
stderr, as a crossed one is. Handed on, it would be refused by the runtime (ValueError) and
the live run end with a traceback and exit 1."""

from __future__ import annotations

import math
from itertools import islice
from typing import Any

import pytest

from dita.cli.paper import _ccxt_quotes
from dita.runtime import TradingRuntime

GOOD = {"bid": 100.0, "ask": 100.5, "bidVolume": 2.0, "askVolume": 3.0}


class _NoKernel:
    venue = None


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("bid", -5.0, "bid -5.0 is not a price above 0 and at most 1e+15"),
        ("ask", math.inf, "ask inf is not a price above 0 and at most 1e+15"),
        ("bid", math.nan, "bid nan is not a price above 0 and at most 1e+15"),
        ("ask", 1e16, "ask 1e+16 is not a price above 0 and at most 1e+15"),
        ("bidVolume", -2.0, "bidVolume -2.0 is not a finite size of 0 or more"),
        ("askVolume", math.inf, "askVolume inf is not a finite size of 0 or more"),
        ("bid", "abc", "bid 'abc' is not a number"),
    ],
)
def test_a_ticker_of_no_price_or_size_is_skipped_and_said(
    field: str, value: Any, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tickers = [{**GOOD, field: value}, GOOD]

    class Client:
        def fetch_ticker(self, symbol: str) -> dict[str, Any]:
            return tickers.pop(0) if len(tickers) > 1 else tickers[0]

        def market(self, symbol: str) -> dict[str, Any]:
            return {"id": symbol.replace("/", "")}

    [quote] = islice(_ccxt_quotes(Client(), ["BTC/USDT"], 0.0), 1)
    assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (100.0, 100.5, 2.0, 3.0)
    TradingRuntime(_NoKernel(), []).on_quote(quote)  # taken: the run goes on
    err = capsys.readouterr().err
    assert f"feed: BTC/USDT: ticker skipped: {said}" in err, err
