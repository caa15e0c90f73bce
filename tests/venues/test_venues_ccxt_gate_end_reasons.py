"""CcxtVenue on Gate: Gate states how an order ended in ``finish_as``, and ccxt gives that as the
order's status where it does not map it (it maps filled, cancelled, ioc, liquidated). Each of
Gate's other ends is an end, what the order filled counted; a status known neither to ccxt nor
here is warned of, naming it."""

from __future__ import annotations

import logging

import pytest
import test_venues_ccxt
from recorded_exchange import RecordedExchange
from venue_helpers import ManualClock, make_order

from dita import VenueOrderStatus
from dita.venues import CcxtVenue

gate_venue = test_venues_ccxt.gate_venue

# Gate's finish_as values ccxt passes on (its API: spot, and futures' own).
_GATE_ENDS = [
    "stp", "poc", "fok", "small", "depth_not_enough", "trader_not_enough", "liquidate_cancelled",
    "reduce_only", "position_closed", "auto_deleveraged",
]  # fmt: skip


def _answer(text: str, finish_as: str, filled: str) -> dict:
    """Gate's answer placing a limit buy of 0.02 at 90000 that ended at once as ``finish_as``,
    ``filled`` of it filled."""
    left = f"{0.02 - float(filled):.4f}"
    return {
        "id": "1852455000", "text": text, "create_time_ms": "1763679601000",
        "update_time_ms": "1763679601001", "status": "closed", "finish_as": finish_as,
        "currency_pair": "BTC_USDT", "type": "limit", "account": "spot", "side": "buy", "amount": "0.02",
        "price": "90000", "time_in_force": "gtc", "left": left, "filled_amount": filled,
        "filled_total": f"{float(filled) * 90000:.2f}", "avg_deal_price": "90000" if float(filled) else "0",
    }  # fmt: skip


@pytest.mark.parametrize("finish_as", _GATE_ENDS)
def test_a_gate_order_gate_ended_unfilled_for_any_reason_is_reported_over(
    gate_venue: CcxtVenue, exchange: RecordedExchange, clock: ManualClock, finish_as: str
) -> None:
    """Read as neither over nor rejected, such an order stayed working here for good: no end
    was ever reported, and the kernel's slot waited on an order Gate dropped."""
    order = make_order("s2-entry-1", asset="BTC_USDT", order_type="LIMIT", price=90000.0, size=0.02)
    text = gate_venue.listed_client_order_id(order)
    exchange.script("POST", "/api/v4/spot/orders", payload=_answer(text, finish_as, "0"))
    events = gate_venue.submit(order)
    assert [e.kind.name for e in events] == ["ORDER_ACK", "EXPIRED"]
    assert events[1].filled_size == 0.0 and finish_as in events[1].reason
    assert not gate_venue.following()
    missing = {"label": "ORDER_NOT_FOUND", "message": "Order not found"}
    exchange.script("GET", f"/api/v4/spot/orders/{text}", payload=missing, status=404)
    exchange.script("GET", "/api/v4/spot/orders", payload=[_answer(text, finish_as, "0")])
    status = gate_venue.order_status(order.client_order_id, order.asset)
    assert status is not None and status.status == VenueOrderStatus.EXPIRED


def test_a_gate_order_ended_by_self_trade_prevention_after_part_filled_counts_that_part(
    gate_venue: CcxtVenue, exchange: RecordedExchange
) -> None:
    order = make_order("s2-entry-1", asset="BTC_USDT", order_type="LIMIT", price=90000.0, size=0.02)
    text = gate_venue.listed_client_order_id(order)
    exchange.script("POST", "/api/v4/spot/orders", payload=_answer(text, "stp", "0.005"))
    trade = {
        "id": "6001", "create_time_ms": "1763679601000.5", "currency_pair": "BTC_USDT", "side": "buy",
        "role": "taker", "amount": "0.005", "price": "90000", "order_id": "1852455000", "fee": "0.45",
        "fee_currency": "USDT", "point_fee": "0", "gt_fee": "0",
    }  # fmt: skip
    exchange.script("GET", "/api/v4/spot/my_trades", payload=[trade])
    events = gate_venue.submit(order)
    assert [e.kind.name for e in events] == ["ORDER_ACK", "FILL", "EXPIRED"]
    assert events[1].size == pytest.approx(0.005) and events[2].filled_size == pytest.approx(0.005)
    assert not gate_venue.following()


def test_an_order_status_known_neither_to_ccxt_nor_here_is_warned_of_naming_it(
    gate_venue: CcxtVenue, exchange: RecordedExchange, caplog: pytest.LogCaptureFixture
) -> None:
    """Gate's ``unknown`` end (or a word added later) is not taken for an end: the order is
    followed on, but silently read as working for ever it would leave nobody the wiser."""
    order = make_order("s2-entry-1", asset="BTC_USDT", order_type="LIMIT", price=90000.0, size=0.02)
    text = gate_venue.listed_client_order_id(order)
    exchange.script("POST", "/api/v4/spot/orders", payload=_answer(text, "unknown", "0"))
    with caplog.at_level(logging.WARNING, logger="dita.venues.ccxt"):
        events = gate_venue.submit(order)
    assert [e.kind.name for e in events] == ["ORDER_ACK"] and gate_venue.following()
    assert any("'unknown'" in r.getMessage() for r in caplog.records)
