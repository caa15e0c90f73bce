"""FILL_SETTLED against the fills whose fees wait for it: a fill is known by its
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
    # Both predictions wait (were the ETH fill's to replace the BTC fill's, 1.5 would wait).
    assert (a["k_fees_paid"], a["k_unsettled_fees"]) == pytest.approx((26.5, 26.5))
    btc = settle(k, "s1", "123", 25.0, asset="BTC")
    eth = settle(k, "s2", "123", 1.5, asset="ETH")
    assert btc.accepted and eth.accepted, (btc.details, eth.details)
    assert (btc.details["predicted_fee"], eth.details["predicted_fee"]) == (25.0, 1.5)
    # Each settles its own market's fill: the BTC settlement on the ETH fill would charge 23.5
    # nobody paid (50.0 in all), and the ETH one be refused UNKNOWN_ORDER.
    assert money(k) == pytest.approx((26.5, 0.0, 25.0, 1.5))
    assert k.account()["capital"] == pytest.approx(10_000.0 - 26.5)
    # The exchange's wallet after these fees is what the kernel holds.
    r = k.on_account_event(AccountEvent("u1", "ACCOUNT_UPDATE", wallet_balance=10_000.0 - 26.5))
    assert r.details["reconcile_status"] == "OK", r.details


def test_a_settlement_of_an_asset_no_fill_of_its_id_has_is_held_for_that_fill(
    two_markets: ExecutionKernel,
) -> None:
    """A settlement that comes before its fill (the venue's account stream runs ahead) is
    held, changes no fee, and settles the fill when it is booked: refused UNKNOWN_ORDER, the
    fill's predicted fee would stand for good."""
    k = two_markets
    before = money(k)
    out = settle(k, "s1", "123", 0.4, asset="SOL")
    assert out.accepted and out.diagnostic_code == D.OK, out.details
    assert (out.details["held_for_fill"], out.details["fill_id"]) == (True, "123")
    assert money(k) == before  # neither fill of "123" is the SOL one
    early = settle(k, "s2", "999", 20.0, asset="BTC")
    assert early.accepted and early.details["held_for_fill"] is True
    assert money(k) == before
    # The same settlement again while held (a new event id, its fee) is a duplicate, and
    # changes nothing. One of another fee is held beside it: a self-trade's other side (the
    # kernel's integration tests of settlements before their fill check that case).
    again = settle(k, "s2b", "999", 20.0, asset="BTC")
    assert again.diagnostic_code == D.DUPLICATE_EVENT and not again.accepted
    assert again.details["held_event_id"] == "s2"
    assert money(k) == before
    # Its fill comes (slot 0's exit, trade "999" of BTC): charged the settlement's 20.0, not
    # the 25.0 predicted; the fills of "123" still wait.
    coid = k.process_intent(intent("EXIT", 0, asset="BTC", reference_price=50_000.0)).order.client_order_id
    out = k.on_venue_event(
        VenueEvent(
            "x0",
            "t0",
            0,
            "FILL",
            venue_client_id=coid,
            asset="BTC",
            price=50_000.0,
            size=1.0,
            filled_size=1.0,
            fill_id="999",
        )
    )
    assert out.accepted, out.details
    d = out.details
    assert (d["settled_by"], d["predicted_fee"], d["actual_fee"]) == ("s2", 25.0, 20.0)
    assert money(k) == pytest.approx((26.5 + 20.0, 26.5, 45.0, 1.5))
    assert k.account()["fee_calibration_samples"] == 1
    # Resent once its fill is settled, it is refused as an unknown fill, and changes nothing.
    settled = money(k)
    resent = settle(k, "s3", "999", 20.0, asset="BTC")
    assert resent.diagnostic_code == D.UNKNOWN_ORDER and not resent.accepted
    assert (resent.details["field"], resent.details["value"], resent.details["asset"]) == (
        "fill_id",
        "999",
        "BTC",
    )
    assert money(k) == settled


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


def test_a_predicted_fee_standing_settles_its_fill_at_the_prediction(two_markets: ExecutionKernel) -> None:
    k = two_markets
    stands = AccountEvent("s1", "FILL_SETTLED", asset="ETH", fill_id="123", predicted_fee_stands=True)
    assert stands.predicted_fee_stands and stands.to_dict()["predicted_fee_stands"] is True
    out = k.on_account_event(stands)
    assert out.accepted, out.details
    assert out.details["predicted_fee_stands"] is True
    assert out.details["predicted_fee"] == pytest.approx(1.5)
    assert money(k) == (pytest.approx(26.5), pytest.approx(25.0), pytest.approx(25.0), pytest.approx(1.5))
    # Said again, it is a resend; the exchange's fee is another fee, held for a self-trade's
    # other side as after any settlement, nothing charged.
    again = k.on_account_event(
        AccountEvent("s4", "FILL_SETTLED", asset="ETH", fill_id="123", predicted_fee_stands=True)
    )
    assert not again.accepted and again.diagnostic_code == D.UNKNOWN_ORDER
    late = settle(k, "s2", "123", 1.2, asset="ETH")
    assert late.accepted and late.details["held_for_fill"] is True
    assert money(k) == (pytest.approx(26.5), pytest.approx(25.0), pytest.approx(25.0), pytest.approx(1.5))
    # Its dict form takes the flag as the event does.
    as_dict = {"kind": "FILL_SETTLED", "event_id": "s3", "asset": "BTC", "fill_id": "123"}
    assert k.on_account_event({**as_dict, "predicted_fee_stands": True})
    assert money(k) == (pytest.approx(26.5), 0.0, pytest.approx(25.0), pytest.approx(1.5))


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"kind": "FILL_SETTLED", "fee": 1.2}, "fee"),
        ({"kind": "FUNDING_FEE", "amount": -0.5}, "predicted_fee_stands"),
    ],
    ids=["with a fee", "of a funding payment"],
)
def test_a_predicted_fee_standing_with_a_fee_or_of_another_kind_is_refused_naming_it(
    two_markets: ExecutionKernel, fields: dict[str, Any], named: str
) -> None:
    k = two_markets
    before = money(k)
    kind = fields.pop("kind")
    out = k.on_account_event(
        AccountEvent("s1", kind, asset="ETH", fill_id="123", predicted_fee_stands=True, **fields)
    )
    assert not out.accepted and out.diagnostic_code == D.INVALID_INTENT
    assert out.details["field"] == named
    assert money(k) == before


def test_predicted_fee_stands_is_a_flag_else_refused_naming_it() -> None:
    with pytest.raises(TypeError, match="predicted_fee_stands"):
        AccountEvent("s1", "FILL_SETTLED", fill_id="123", predicted_fee_stands="yes")  # type: ignore[arg-type]
