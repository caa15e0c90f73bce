"""RiskLimits and MarketLimits: what the kernel is configured with, checked before it is."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from dita.risk import MarketLimits, RiskLimits, float_step_multiple


def test_defaults_turn_every_limit_off_but_keep_provenance() -> None:
    limits = RiskLimits()
    assert limits.enabled_rules() == ["require_source_run_in_live"]
    assert RiskLimits(require_source_run_in_live=False).enabled_rules() == []
    assert limits.model_dump() == {
        "max_leverage": None,
        "max_notional_per_asset": None,
        "max_notional_total": None,
        "max_order_rate": None,
        "regime": "NEUTRAL",
        "edge_freeze_threshold_bps": None,
        "require_source_run_in_live": True,
    }


def test_dump_carries_every_set_rule() -> None:
    limits = RiskLimits(
        max_leverage=3,
        max_notional_per_asset=10_000,
        max_notional_total=25_000,
        max_order_rate=5,
        regime="BEAR",
        edge_freeze_threshold_bps=-2.5,
    )
    dumped = limits.model_dump()
    assert dumped["max_leverage"] == 3.0 and dumped["regime"] == "BEAR"
    assert dumped["edge_freeze_threshold_bps"] == -2.5
    assert limits.enabled_rules() == [
        "max_leverage",
        "max_notional_per_asset",
        "max_notional_total",
        "max_order_rate",
        "edge_freeze_threshold_bps",
        "regime",
        "require_source_run_in_live",
    ]
    assert RiskLimits.model_validate(dumped) == limits


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_leverage", 0),
        ("max_leverage", -1.5),
        ("max_leverage", math.nan),
        ("max_notional_total", math.inf),
        ("max_order_rate", 0),
        ("max_order_rate", 0.5),
        ("regime", "SIDEWAYS"),
        ("regime", "LONG"),
        ("require_source_run_in_live", "maybe"),
        ("edge_freeze_threshold_bps", math.nan),
        ("max_leverage", "lots"),
    ],
)
def test_invalid_limits_name_the_field_and_the_value(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        RiskLimits(**{field: value})
    (error,) = raised.value.errors()
    assert error["loc"] == (field,)
    assert field in str(raised.value) and repr(value).strip("'") in str(raised.value)


def test_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_levrage"):
        RiskLimits(max_levrage=2)  # type: ignore[call-arg]


def test_per_asset_cap_above_total_cap_is_refused() -> None:
    with pytest.raises(
        ValidationError, match=r"max_notional_per_asset=200.0 exceeds max_notional_total=100.0"
    ):
        RiskLimits(max_notional_per_asset=200, max_notional_total=100)
    assert RiskLimits(max_notional_per_asset=100, max_notional_total=100).max_notional_total == 100


def test_limits_are_frozen() -> None:
    limits = RiskLimits(max_leverage=2)
    with pytest.raises(ValidationError):
        limits.max_leverage = 100  # type: ignore[misc]


def test_market_limits_dump_and_validation() -> None:
    limits = MarketLimits(lot_step=0.001, tick_size=0.1, min_qty=0.001, min_notional=5)
    assert limits.model_dump() == {"lot_step": 0.001, "tick_size": 0.1, "min_qty": 0.001, "min_notional": 5.0}
    with pytest.raises(ValidationError, match=r"lot_step[\s\S]*input_value=-0.1"):
        MarketLimits(lot_step=-0.1)
    with pytest.raises(ValidationError, match="min_notional"):
        MarketLimits(min_notional=math.nan)


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [
        (0.3, 0.1, True),
        (0.1 + 0.2, 0.1, False),  # 0.30000000000000004 is not what an exchange accepts
        (1.0, 0.001, True),
        (0.0015, 0.001, False),
        (123.45, 0.01, True),
        (123.455, 0.01, False),
        (5.0, 0.0, True),
    ],
)
def test_step_multiples_are_judged_on_decimals(value: float, step: float, expected: bool) -> None:
    assert float_step_multiple(value, step) is expected


def test_order_and_price_violations_say_why() -> None:
    limits = MarketLimits(lot_step=0.001, tick_size=0.5, min_qty=0.002, min_notional=10)
    assert limits.order_violation(0.003, 5000.0) == ""
    assert "lot_step" in limits.order_violation(0.0035, 5000.0)
    assert "min_qty" in limits.order_violation(0.001, 5000.0)
    assert "min_notional" in limits.order_violation(0.002, 4000.0)
    assert limits.order_violation(0.002, 0.0) == ""  # no price: notional is not judged
    assert limits.price_violation(100.5) == ""
    assert "tick_size" in limits.price_violation(100.25)


def test_the_kernel_takes_the_dumps_as_they_are() -> None:
    from dita import ExecutionKernel

    kernel = ExecutionKernel(max_slots=1)
    limits = RiskLimits(
        max_leverage=3,
        max_notional_per_asset=10_000,
        max_notional_total=25_000,
        max_order_rate=5,
        regime="BULL",
        edge_freeze_threshold_bps=-2.5,
        require_source_run_in_live=False,
    )
    kernel.set_risk_limits(limits.model_dump())
    assert kernel.risk_limits() == limits.model_dump()
    kernel.set_risk_limits(RiskLimits().model_dump())
    assert kernel.risk_limits() == RiskLimits().model_dump()

    market = MarketLimits(lot_step=0.001, tick_size=0.1, min_qty=0.001, min_notional=100)
    kernel.set_market_limits("BTCUSDT", market.model_dump())
    assert kernel.market_limits("BTCUSDT") == market.model_dump()
    assert MarketLimits.model_validate(kernel.market_limits("BTCUSDT")) == market


_NUMBER_FIELDS = [
    (RiskLimits, name)
    for name in (
        "max_leverage",
        "max_notional_per_asset",
        "max_notional_total",
        "max_order_rate",
        "edge_freeze_threshold_bps",
    )
] + [(MarketLimits, name) for name in ("lot_step", "tick_size", "min_qty", "min_notional")]


@pytest.mark.parametrize(("model", "field"), _NUMBER_FIELDS)
@pytest.mark.parametrize("flag", [True, np.True_])
def test_a_flag_where_a_limit_belongs_is_refused(model: type, field: str, flag: object) -> None:
    # Python counts True as 1: a flag in a config (max_leverage: true) became a leverage of 1,
    # a lot of 1 or an order rate of 1 without a word, where the kernel refuses a bool.
    with pytest.raises(ValidationError) as raised:
        model(**{field: flag})
    (error,) = raised.value.errors()
    assert error["loc"] == (field,)
    assert "True" in str(raised.value)


@pytest.mark.parametrize("value", [1.5e15, -1.5e15])
def test_the_edge_threshold_is_within_the_kernel_bound(value: float) -> None:
    # docs/concepts/risk.md: the 1e15 bound applies to configuration; every other limit had it.
    with pytest.raises(ValidationError) as raised:
        RiskLimits(edge_freeze_threshold_bps=value)
    (error,) = raised.value.errors()
    assert error["loc"] == ("edge_freeze_threshold_bps",)
    assert RiskLimits(edge_freeze_threshold_bps=-1e15).edge_freeze_threshold_bps == -1e15


def test_the_regime_rule_is_documented_as_judging_market_entries_only() -> None:
    # The kernel judges regime parity on MARKET entries only (docs/concepts/risk.md); the field's own
    # description and the docs' RiskLimits table said "an entry", so a LIMIT entry looked guarded.
    from dita import ExecutionKernel, KernelIntent

    kernel = ExecutionKernel(max_slots=2)
    kernel.set_risk_limits(RiskLimits(regime="BULL").model_dump())

    def short(slot: int, **kw: object) -> bool:
        fields: dict[str, object] = {
            "intent_id": f"r{slot}",
            "trade_id": f"t{slot}",
            "slot_id": slot,
            "asset": "BTCUSDT",
            "side": "SHORT",
            "action": "ENTER",
            "reference_price": 100.0,
            "target_size": 1.0,
            "timestamp": 1_700_000_000.0 + slot,
        }
        return kernel.process_intent(KernelIntent(**{**fields, **kw})).accepted

    assert not short(0)
    assert short(1, order_type="LIMIT", limit_price=100.0)
    description = RiskLimits.model_fields["regime"].description or ""
    assert "MARKET" in description
    config = Path(__file__).resolve().parents[2] / "docs" / "reference" / "configuration.md"
    config_md = config.read_text(encoding="utf-8")
    (row,) = [line for line in config_md.splitlines() if line.startswith("| `regime` |")]
    assert "MARKET" in row


def test_min_notional_is_judged_on_decimals_as_the_exchange_does() -> None:
    # 0.29 * 100.0 is 28.999999999999996 in binary floating point: the kernel sends such an
    # order (its own floor allows float error) and an exchange, multiplying decimals, takes it
    # as 29. The paper venue refused it as below a minimum notional of 29.
    limits = MarketLimits(lot_step=0.01, min_notional=29)
    assert limits.order_violation(0.29, 100.0) == ""
    assert "min_notional" in limits.order_violation(0.28, 100.0)
    assert MarketLimits(min_notional=29).order_violation(float("nan"), 100.0) == ""  # as before


def test_the_paper_venue_takes_an_order_the_kernel_sends_at_its_minimum_notional() -> None:
    from dita import ExecutionKernel
    from dita._kernel import KernelIntent
    from dita.venues.paper import PaperVenue

    limits = MarketLimits(lot_step=0.01, tick_size=0.01, min_notional=29)
    kernel = ExecutionKernel(max_slots=1, venue=PaperVenue(market_limits={"BTC": limits}))
    kernel.set_market_limits("BTC", limits.model_dump())
    intent = KernelIntent(
        "i1", "t1", 0, "BTC", "LONG", "ENTER", 100.0, 0.29, order_type="LIMIT", limit_price=100.0
    )
    out = kernel.process_intent(intent)
    assert out.accepted
    assert [e.kind.name for e in out.emitted_events] == ["ORDER_ACK"], [e.reason for e in out.emitted_events]
