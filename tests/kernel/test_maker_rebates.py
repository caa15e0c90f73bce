"""Maker rebates: a negative ``maker_rate`` (down to ``-taker_rate``) predicts each maker fill's
fee as a rebate, the account adds up with negative fees, a rebate's settlement replaces the
prediction and teaches the maker's calibration alone, and a log holding the config replays to
it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import SilentVenue, intent

from dita import AccountEvent, ExecutionKernel, VenueEvent

REBATE = {"taker_rate": 0.0005, "maker_rate": -0.00025}


def identity_holds(kernel: ExecutionKernel) -> None:
    a = kernel.account()
    want = a["seed_capital"] + a["k_realized_pnl"] - a["k_fees_paid"] + a["k_funding_net"]
    assert a["k_capital"] == pytest.approx(want, abs=1e-9)
    assert sum(s["fees_paid"] for s in kernel.slots()) == pytest.approx(a["k_fees_paid"], abs=1e-9)


def round_trip(kernel: ExecutionKernel) -> None:
    """A LIMIT entry of 2 filled at 100 as a maker (a rebate of 0.05 predicted), settled as a
    rebate of 0.04; a MARKET exit filled at 110 as a taker (0.11); a funding payment."""
    kernel.set_seed_capital(10_000.0)
    kernel.set_exchange_config(REBATE)
    entry = kernel.process_intent(
        intent("ENTER", 0, order_type="LIMIT", limit_price=100.0, target_size=2.0)
    ).order
    fill = VenueEvent(
        "e1", "t0", 0, "FILL", venue_client_id=entry.client_order_id, price=100.0, size=2.0,
        filled_size=2.0, fill_id="F1",
    )  # fmt: skip
    assert kernel.on_venue_event(fill).accepted
    a = kernel.account()
    assert kernel.slot_state(0).fees_paid == pytest.approx(-0.05)
    assert a["k_fees_paid"] == pytest.approx(-0.05) and a["k_unsettled_fees"] == pytest.approx(-0.05)
    assert a["k_capital"] == pytest.approx(10_000.05)
    identity_holds(kernel)

    settled = kernel.on_account_event(AccountEvent("s1", "FILL_SETTLED", fill_id="F1", fee=-0.04))
    assert settled.accepted, settled.details
    assert settled.details["predicted_fee"] == pytest.approx(-0.05)
    # Paid 0.8 of the rebate expected: the maker's ratio learns it, the taker's stays.
    assert "calibration_learned" not in settled.details and settled.details["liquidity"] == "MAKER"
    assert settled.details["calibration_ratio"] == pytest.approx(0.8)
    a = kernel.account()
    assert a["k_fees_paid"] == pytest.approx(-0.04) and a["k_unsettled_fees"] == pytest.approx(0.0)
    assert (a["maker_fee_calibration_ratio"], a["maker_fee_calibration_samples"]) == (pytest.approx(0.8), 1)
    assert (a["taker_fee_calibration_ratio"], a["taker_fee_calibration_samples"]) == (1.0, 0)
    assert kernel.slot_state(0).fees_paid == pytest.approx(-0.04)

    exit_order = kernel.process_intent(intent("EXIT", 0, trade_id="t0")).order
    taker = VenueEvent(
        "e2", "t0", 0, "FILL", venue_client_id=exit_order.client_order_id, price=110.0, size=2.0,
        filled_size=2.0, fill_id="F2",
    )  # fmt: skip
    # The taker fill is predicted at the taker's rate, untouched by the rebate's 0.8.
    assert kernel.on_venue_event(taker).accepted
    assert kernel.slot_state(0).fees_paid == pytest.approx(-0.04 + 0.11)
    assert kernel.on_account_event(AccountEvent("fund", "FUNDING_FEE", amount=-1.5)).accepted
    a = kernel.account()
    assert a["k_realized_pnl"] == pytest.approx(20.0)
    assert a["k_capital"] == pytest.approx(10_000.0 + 20.0 - (0.11 - 0.04) - 1.5)
    identity_holds(kernel)


def test_a_rebate_fill_books_a_negative_fee_and_the_account_adds_up() -> None:
    round_trip(ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="rebate"))


def test_a_log_holding_a_rebate_replays_to_the_same_account(tmp_path: Path) -> None:
    live = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="rebate", wal_dir=str(tmp_path))
    round_trip(live)
    live.wal_sync()
    account, config, slots = live.account(), live.exchange_config(), live.slots()
    live.close()
    again = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="rebate", wal_dir=str(tmp_path))
    assert again.exchange_config() == config and config["maker_rate"] == -0.00025
    assert again.slots() == slots
    assert {k: v for k, v in again.account().items() if k != "last_update_time"} == {
        k: v for k, v in account.items() if k != "last_update_time"
    }


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"maker_rate": -0.0006}, r"invalid maker_rate: -0\.0006 \(taker_rate 0\.0005\)"),
        ({"taker_rate": 0.0002}, r"invalid taker_rate: 0\.0002 \(maker_rate -0\.00025\)"),
        ({"taker_rate": -0.0001}, r"invalid taker_rate: -0\.0001 \(must not be negative\)"),
        ({"maker_rate": math.nan}, "invalid maker_rate: NaN"),
        ({"maker_rate": -math.inf}, "invalid maker_rate: -inf"),
        ({"lot_step": 0.001, "maker_rate": -0.01}, r"invalid maker_rate: -0\.01 \(taker_rate 0\.0005\)"),
    ],
)
def test_a_rate_past_the_rebate_floor_is_refused_naming_it(config: dict[str, Any], match: str) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    kernel.set_exchange_config(REBATE)
    before, seq = kernel.exchange_config(), kernel.seq
    with pytest.raises(ValueError, match=match):
        kernel.set_exchange_config(config)
    assert kernel.exchange_config() == before and kernel.seq == seq


def test_calibrating_a_rebate_teaches_the_maker_side_within_the_band() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    kernel.set_exchange_config(REBATE)
    c = kernel.calibrate_fee(100.0, 2.0, -0.045, maker=True)
    assert c["expected_fee"] == pytest.approx(-0.05) and c["ratio"] == pytest.approx(0.9)
    assert c["calibration_status"] == "ERROR" and c["calibration_learned"] is True
    charged = kernel.calibrate_fee(100.0, 2.0, 0.05, maker=True)
    assert charged["ratio"] == pytest.approx(-1.0) and not charged["calibration_learned"]
    a = kernel.account()
    assert a["maker_fee_calibration_samples"] == 1 and a["taker_fee_calibration_samples"] == 0
    taker = kernel.calibrate_fee(100.0, 2.0, 0.1)
    assert taker["calibration_learned"] and taker["calibration_samples"] == 1
    assert kernel.account()["fee_calibration_samples"] == 2
    kernel.set_exchange_config({"maker_rate": 0.0})
    with pytest.raises(ValueError, match="expected_fee"):
        kernel.calibrate_fee(100.0, 2.0, 0.0, maker=True)
