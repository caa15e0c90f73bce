"""A trade's fee split across currencies, as ccxt gives Gate's (its ``fees``, its ``fee`` stating
none): Gate charges its fee in the quote currency beside a deduction in GT or its points. The
part in the quote currency is booked; a part no price is known of is noted and warned of."""

from __future__ import annotations

import logging
from typing import Any

import ccxt
import pytest

from dita.venues.ccxt.fees import quote_fee

_GATE_SPOT = {
    "id": "BTC_USDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "settle": None, "type": "spot",
    "spot": True, "contract": False, "linear": None, "inverse": None, "contractSize": None,
}  # fmt: skip


def _gate_trade(**fees: str) -> tuple[Any, dict[str, Any]]:
    """A Gate spot buy's trade (``/spot/my_trades``) as ccxt's gate parses it, with ``fees``
    (``fee``, ``gt_fee``, ``point_fee``) as Gate states them."""
    gate = ccxt.gate()
    gate.markets = {"BTC/USDT": _GATE_SPOT}
    gate.markets_by_id = {"BTC_USDT": [_GATE_SPOT]}
    raw = {
        "id": "1", "create_time_ms": "1700000000000.0", "currency_pair": "BTC_USDT", "side": "buy",
        "role": "taker", "amount": "0.01", "price": "30000", "order_id": "9", "fee": "0",
        "fee_currency": "USDT", "point_fee": "0", "gt_fee": "0", **fees,
    }  # fmt: skip
    return gate, gate.parse_trade(raw, _GATE_SPOT)


def test_a_gate_fee_in_usdt_beside_a_point_fee_books_the_usdt_it_charged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """0.3 USDT and 0.1 of Gate's points on one trade: the USDT is known, and the fill's fee at
    least; both were dropped, and the kernel's model booked a guess without a warning."""
    gate, trade = _gate_trade(fee="0.3", point_fee="0.1")
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        fee, note = quote_fee("gate", gate, trade, 30000.0, "trade 1", None, buys=True)
    assert fee == pytest.approx(0.3)
    assert note.get("fee_currency") == "GATEPOINT" and note.get("fee_native") == pytest.approx(0.1)
    assert any("GATEPOINT" in r.getMessage() for r in caplog.records)


def test_a_gate_fee_paid_in_gt_is_left_to_the_model_with_a_warning_and_its_currency_noted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The fee is 0.02 GT and no USDT, no price of GT known: left to the model, as
    docs/reference/venues.md has it, "with a WARNING naming the currency", and noted."""
    gate, trade = _gate_trade(gt_fee="0.02")
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        fee, note = quote_fee("gate", gate, trade, 30000.0, "trade 1", None, buys=True)
    assert fee is None
    assert note.get("fee_currency") == "GT" and note.get("fee_native") == pytest.approx(0.02)
    assert any("GT" in r.getMessage() for r in caplog.records)


def test_a_gate_fee_split_between_usdt_and_gt_with_a_price_of_gt_books_both() -> None:
    gate, trade = _gate_trade(fee="0.3", gt_fee="0.02")

    class Prices:
        def price(self, currency: str, quote: str) -> tuple[float, str] | None:
            return (20.0, "GT/USDT") if (currency, quote) == ("GT", "USDT") else None

    fee, note = quote_fee("gate", gate, trade, 30000.0, "trade 1", Prices(), buys=True)  # type: ignore[arg-type]
    assert fee == pytest.approx(0.3 + 0.02 * 20.0)
    assert (note.get("fee_currency"), note.get("fee_price")) == ("GT", 20.0)
