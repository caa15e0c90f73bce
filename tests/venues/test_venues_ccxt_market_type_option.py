"""CcxtVenue: ``options`` go over the market type's own ccxt options, and ``defaultType`` naming
another market type than ``market_type`` would have every call naming no market (the balance,
the open orders, the user stream's account) ask the other market type's account, while the
venue trades ``market_type``. It is refused naming the option and both values."""

from __future__ import annotations

import pytest

from dita.venues import CcxtVenue


@pytest.mark.parametrize(
    ("exchange", "market_type", "options", "named"),
    [
        ("binance", "spot", {"defaultType": "future"}, "defaultType='future'"),
        ("binance", "linear", {"defaultType": "spot"}, "defaultType='spot'"),
        ("gate", "linear", {"defaultType": "future"}, "defaultType='future'"),
        ("binance", "spot", {"fetchBalance": {"defaultType": "future"}}, "fetchBalance.defaultType='future'"),
        ("okx", "linear", {"type": "spot"}, "type='spot'"),
    ],
)
def test_an_option_naming_another_market_type_than_market_type_is_refused(
    exchange: str, market_type: str, options: dict, named: str
) -> None:
    with pytest.raises(ValueError, match=rf"{named}.*market_type='{market_type}'"):
        CcxtVenue(exchange=exchange, market_type=market_type, options=options)


@pytest.mark.parametrize(
    ("exchange", "market_type", "default_type"),
    [("binance", "spot", "spot"), ("binance", "linear", "future"), ("gate", "linear", "swap")],
)
def test_an_option_naming_the_market_type_traded_is_taken(
    exchange: str, market_type: str, default_type: str
) -> None:
    with CcxtVenue(
        exchange=exchange, market_type=market_type, options={"defaultType": default_type}
    ) as venue:
        assert venue._exchange.options["defaultType"] == default_type
