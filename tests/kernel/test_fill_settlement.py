"""FILL_SETTLED against the fills whose fees wait for it (rules 19): a fill is known by its
fill id and asset, since venues number trades per market, and a fill report only partly
booked is settled for the part booked."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import SilentVenue, intent

from dita import AccountEvent, ExecutionKernel, KernelDiagnosticCode, VenueEvent

D = KernelDiagnosticCode


def fill(kernel: ExecutionKernel, slot: int, coid: str, event_id: str, **kw: Any) -> None:
    out = kernel.on_venue_event(VenueEvent(event_id, f"t{slot}", slot, "FILL", venue_client_id=coid, **kw))
    assert out.accepted, out.details


def settle(kernel: ExecutionKernel, event_id: str, fill_id: str, fee: float, asset: str = "") -> Any:
    return kernel.on_account_event(
        AccountEvent(event_id, "FILL_SETTLED", asset=asset, fill_id=fill_id, fee=fee)
    )


@pytest.fixture
def two_markets() -> ExecutionKernel:
    """1 BTC at 50,000 on slot 0 and 1 ETH at 3,000 on slot 1, each filled as trade "123" of
    its market without a fee: 25.0 and 1.5 predicted (the taker rate, 0.05 %)."""
    k = ExecutionKernel(max_slots=2, venue=SilentVenue())
    k.set_seed_capital(10_000.0)
    for slot, asset, price in ((0, "BTC", 50_000.0), (1, "ETH", 3_000.0)):
        order = k.process_intent(
            intent("ENTER", slot, asset=asset, reference_price=price, target_size=1.0)
        ).order
        fill(
            k,
            slot,
            order.client_order_id,
            f"e{slot}",
            asset=asset,
            price=price,
            size=1.0,
            filled_size=1.0,
            fill_id="123",
        )
    return k


def money(k: ExecutionKernel) -> tuple[Any, ...]:
    a = k.account()
    return (a["k_fees_paid"], a["k_unsettled_fees"], k.slot_dict(0)["fees_paid"], k.slot_dict(1)["fees_paid"])


def test_fills_of_two_markets_under_one_trade_id_each_settle_against_their_own(
    two_markets: ExecutionKernel,
) -> None:
    k = two_markets
    a = k.account()
    # Both predictions wait (before, the ETH fill's replaced the BTC fill's: 1.5 waited).
    assert (a["k_fees_paid"], a["k_unsettled_fees"]) == pytest.approx((26.5, 26.5))
    btc = settle(k, "s1", "123", 25.0, asset="BTC")
    eth = settle(k, "s2", "123", 1.5, asset="ETH")
    assert btc.accepted and eth.accepted, (btc.details, eth.details)
    assert (btc.details["predicted_fee"], eth.details["predicted_fee"]) == (25.0, 1.5)
    # Before, the BTC settlement went to the ETH fill (23.5 charged that nobody paid, 50.0 in
    # all) and the ETH one was refused UNKNOWN_ORDER.
    assert money(k) == pytest.approx((26.5, 0.0, 25.0, 1.5))
    assert k.account()["capital"] == pytest.approx(10_000.0 - 26.5)
    # The exchange's wallet after these fees is what the kernel holds.
    r = k.on_account_event(AccountEvent("u1", "ACCOUNT_UPDATE", wallet_balance=10_000.0 - 26.5))
    assert r.details["reconcile_status"] == "OK", r.details


def test_a_settlement_of_an_asset_no_fill_of_its_id_has_is_refused_and_changes_nothing(
    two_markets: ExecutionKernel,
) -> None:
    k = two_markets
    before = money(k)
    out = settle(k, "s1", "123", 0.4, asset="SOL")
    assert out.diagnostic_code == D.UNKNOWN_ORDER and not out.accepted
    assert (out.details["field"], out.details["value"], out.details["asset"]) == ("fill_id", "123", "SOL")
    assert money(k) == before
    ghost = settle(k, "s2", "999", 0.4, asset="BTC")
    assert ghost.diagnostic_code == D.UNKNOWN_ORDER and ghost.details["value"] == "999"
    assert money(k) == before


def test_a_settlement_without_an_asset_settles_the_one_fill_of_its_id_or_is_refused(
    two_markets: ExecutionKernel,
) -> None:
    k = two_markets
    before = money(k)
    out = settle(k, "s1", "123", 20.0)
    assert out.diagnostic_code == D.INVALID_INTENT and not out.accepted
    assert (out.details["field"], out.details["value"], out.details["fill_id"]) == ("asset", "", "123")
    assert "asset" in out.details["reason"]
    assert money(k) == before
    assert settle(k, "s1", "123", 2.0, asset="ETH").accepted  # refused ids are not remembered
    # One fill of the id left: a caller that never names the asset settles it.
    out = settle(k, "s3", "123", 20.0)
    assert out.accepted and out.details["predicted_fee"] == 25.0
    assert money(k) == pytest.approx((22.0, 0.0, 20.0, 2.0))


def test_a_fill_report_partly_booked_is_settled_for_its_part() -> None:
    """The venue reports 2 filled (a total, no trade id), then trade T2 of 3 at total 3: it
    overlaps the total, so 1 is booked under T2. The exchange's fee for T2 is for all 3."""
    k = ExecutionKernel(max_slots=1, venue=SilentVenue())
    coid = k.process_intent(intent("ENTER", 0, asset="BTC", target_size=10.0)).order.client_order_id
    fill(k, 0, coid, "s1", price=100.0, filled_size=2.0)
    fill(k, 0, coid, "e2", price=100.0, size=3.0, filled_size=3.0, fill_id="T2")
    assert k.slot(0).size == pytest.approx(3.0)
    assert k.account()["k_fees_paid"] == pytest.approx(0.1 + 0.05)
    out = settle(k, "st", "T2", 0.18, asset="BTC")
    assert out.accepted, out.details
    d = out.details
    assert (d["predicted_fee"], d["actual_fee"]) == pytest.approx((0.05, 0.18))
    assert (d["fee_charged"], d["booked_qty"], d["reported_qty"]) == pytest.approx((0.06, 1.0, 3.0))
    # Charged whole it was 0.28: the 2 the total booked paid twice.
    assert k.account()["k_fees_paid"] == pytest.approx(0.16)
    assert k.slot(0).fees_paid == pytest.approx(0.16)
    # Learned from the whole trade: 0.18 for 3 at 100 is 1.2 times the rate (over the part's
    # 1 it read 3.6, an outlier not learned).
    assert d["calibration_ratio"] == pytest.approx(1.2)
    assert k.account()["fee_calibration_samples"] == 1
