"""The fee calibration per liquidity: a taker fill's settlement teaches the taker's
ratio, a maker's the maker's, each fill is predicted by its own side's, and the account, the
snapshot, the projection and a recovered log say both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import SilentVenue, intent

from dita import AccountEvent, ExecutionKernel, InMemoryProjection, VenueEvent
from dita._kernel import wal_verify

SIDES = (
    "maker_fee_calibration_ratio",
    "maker_fee_calibration_samples",
    "taker_fee_calibration_ratio",
    "taker_fee_calibration_samples",
)


def calibration(kernel: ExecutionKernel) -> dict[str, Any]:
    a = kernel.account()
    return {k: a[k] for k in ("fee_calibration_ratio", "fee_calibration_samples", *SIDES)}


def filled(kernel: ExecutionKernel, action: str, fill_id: str, **kw: Any) -> float:
    """Sends `action` on slot 0 and fills it whole at 100 (fill id `fill_id`, no fee): the fee
    the kernel predicted for it."""
    trade = kw.setdefault("trade_id", "t0")
    order = kernel.process_intent(intent(action, 0, **kw)).order
    before = kernel.account()["k_unsettled_fees"]
    fill = VenueEvent(
        f"e-{fill_id}", trade, 0, "FILL", venue_client_id=order.client_order_id, price=100.0,
        size=order.size, filled_size=order.size, fill_id=fill_id,
    )  # fmt: skip
    assert kernel.on_venue_event(fill).accepted
    return float(kernel.account()["k_unsettled_fees"] - before)


def settle(kernel: ExecutionKernel, fill_id: str, fee: float) -> dict[str, Any]:
    out = kernel.on_account_event(AccountEvent(f"s-{fill_id}", "FILL_SETTLED", fill_id=fill_id, fee=fee))
    assert out.accepted, out.details
    return dict(out.details)


def session(kernel: ExecutionKernel) -> tuple[float, float]:
    """Taker 5 bp, maker 2 bp. A MARKET entry of 1 at 100 (taker), charged 1.2 times the rate;
    a LIMIT exit at 100 (maker), charged 0.9 times it; a second MARKET entry, its fee left
    waiting. The maker exit's and the second entry's predicted fees."""
    kernel.set_seed_capital(10_000.0)
    kernel.set_exchange_config({"taker_rate": 0.0005, "maker_rate": 0.0002})
    assert filled(kernel, "ENTER", "F1") == pytest.approx(0.05)
    taker = settle(kernel, "F1", 0.06)
    assert (taker["liquidity"], taker["calibration_ratio"]) == ("TAKER", pytest.approx(1.2))
    maker_fee = filled(kernel, "EXIT", "F2", order_type="LIMIT", limit_price=100.0)
    maker = settle(kernel, "F2", 0.018)
    assert (maker["liquidity"], maker["calibration_ratio"]) == ("MAKER", pytest.approx(0.9))
    assert "calibration_learned" not in maker
    return maker_fee, filled(kernel, "ENTER", "F3", trade_id="t1")


def test_each_liquidity_is_predicted_by_what_its_own_fills_taught() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    maker_fee, next_taker_fee = session(kernel)
    # The taker charges' 1.2 does not reach the maker exit (one ratio predicted 0.024), and
    # the maker's 0.9 does not reach the next taker fill.
    assert maker_fee == pytest.approx(0.02)
    assert next_taker_fee == pytest.approx(0.06)
    assert calibration(kernel) == {
        "fee_calibration_ratio": pytest.approx(0.9),  # the newest learned sample's side
        "fee_calibration_samples": 2,
        "maker_fee_calibration_ratio": pytest.approx(0.9),
        "maker_fee_calibration_samples": 1,
        "taker_fee_calibration_ratio": pytest.approx(1.2),
        "taker_fee_calibration_samples": 1,
    }
    assert {k: kernel.snapshot()["account"][k] for k in calibration(kernel)} == calibration(kernel)


def test_calibrate_fee_teaches_the_side_it_names() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    fresh = calibration(kernel)
    assert fresh == {
        "fee_calibration_ratio": 1.0,
        "fee_calibration_samples": 0,
        "maker_fee_calibration_ratio": 1.0,
        "maker_fee_calibration_samples": 0,
        "taker_fee_calibration_ratio": 1.0,
        "taker_fee_calibration_samples": 0,
    }
    c = kernel.calibrate_fee(100.0, 1.0, 0.06)
    assert c["liquidity"] == "TAKER" and c["calibration_learned"]
    assert (c["calibration_ratio"], c["calibration_samples"]) == (pytest.approx(1.2), 1)
    c = kernel.calibrate_fee(100.0, 1.0, 0.019, maker=True)
    assert c["liquidity"] == "MAKER"
    # The maker's own first sample (blended into the taker's 1.2 it read 1.15).
    assert (c["calibration_ratio"], c["calibration_samples"]) == (pytest.approx(0.95), 1)
    a = calibration(kernel)
    assert a["taker_fee_calibration_ratio"] == pytest.approx(1.2) and a["fee_calibration_samples"] == 2
    # An outlier teaches neither side.
    before = calibration(kernel)
    c = kernel.calibrate_fee(100.0, 1.0, 1.0, maker=True)
    assert not c["calibration_learned"] and c["calibration_samples"] == 1
    assert calibration(kernel) == before


def test_a_rebate_teaches_the_makers_ratio_and_a_charge_in_its_place_nothing() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    kernel.set_exchange_config({"taker_rate": 0.0005, "maker_rate": -0.00025})
    # 2 at 100: a rebate of 0.05 expected, 0.045 paid.
    c = kernel.calibrate_fee(100.0, 2.0, -0.045, maker=True)
    assert c["ratio"] == pytest.approx(0.9) and c["calibration_status"] == "ERROR"
    assert c["calibration_learned"] and c["liquidity"] == "MAKER"
    charged = kernel.calibrate_fee(100.0, 2.0, 0.05, maker=True)
    assert charged["ratio"] == pytest.approx(-1.0) and not charged["calibration_learned"]
    a = calibration(kernel)
    assert (a["maker_fee_calibration_ratio"], a["maker_fee_calibration_samples"]) == (pytest.approx(0.9), 1)
    assert (a["taker_fee_calibration_ratio"], a["taker_fee_calibration_samples"]) == (1.0, 0)


def test_the_projected_account_carries_both_sides() -> None:
    projection = InMemoryProjection()
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), projection=projection, kernel_id="proj")
    session(kernel)
    projection.flush()
    projected = projection.accounts["proj"]
    assert {k: projected[k] for k in calibration(kernel)} == calibration(kernel)


def test_a_log_recovers_both_sides_from_its_records_and_its_checkpoints(tmp_path: Path) -> None:
    live = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="sides", wal_dir=str(tmp_path))
    live.set_exchange_config({"taker_rate": 0.0005})
    assert live.wal_checkpoint() is not None
    session(live)
    # The second entry settles, teaching the taker's side alone; then a checkpoint the audit
    # compares with the replay of the records since the first.
    assert settle(live, "F3", 0.05)["liquidity"] == "TAKER"
    assert live.wal_checkpoint() is not None
    want = calibration(live)
    assert want["taker_fee_calibration_samples"] == 2 and want["maker_fee_calibration_samples"] == 1
    live.close()
    again = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="sides", wal_dir=str(tmp_path))
    assert calibration(again) == want
    again.close()
    report = wal_verify(tmp_path, replay=True)
    assert report["last_seq"] in report["replay"]["checkpoints_matched"], report


@pytest.mark.parametrize(
    ("price", "qty", "named"), [(1e-150, 1e-200, "fill_qty: 1e-200"), (1e-200, 1e-150, "fill_price: 1e-200")]
)
def test_an_expected_fee_that_underflowed_to_zero_is_refused_naming_the_smaller_number(
    price: float, qty: float, named: str
) -> None:
    """1e-150 * 1e-200 is 0 in floating point: the numbers' doing, not a free rate."""
    kernel = ExecutionKernel(max_slots=1)
    with pytest.raises(ValueError, match=f"invalid {named}, an expected fee of 0.0 "):
        kernel.calibrate_fee(fill_price=price, fill_qty=qty, actual_fee=0.05)
    assert kernel.seq == 0 and kernel.account()["fee_calibration_samples"] == 0
