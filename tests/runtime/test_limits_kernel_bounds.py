"""Risk limits, and the shadow run's, refuse amounts the kernel cannot hold (over
1e15) naming the field, instead of a ValueError from the kernel (a traceback from the CLI)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from dita import ExecutionKernel
from dita.cli import app
from dita.risk import KERNEL_MAX_ORDER_RATE, MarketLimits, RiskLimits

runner = CliRunner()


@pytest.mark.parametrize(
    "field", ["max_leverage", "max_notional_per_asset", "max_notional_total", "max_order_rate"]
)
def test_risk_limits_refuse_what_the_kernel_refuses(field: str) -> None:
    # A rate is held to what the kernel's window counts, the rest to the 1e15 bound.
    top = KERNEL_MAX_ORDER_RATE if field == "max_order_rate" else 1e15
    with pytest.raises(ValidationError, match=field):
        RiskLimits(**{field: top * 10})
    ExecutionKernel(max_slots=1, kernel_id="rev-risk").set_risk_limits(
        RiskLimits(**{field: top}).model_dump()
    )


@pytest.mark.parametrize("option", ["--max-total", "--max-inv"])
def test_shadow_refuses_limits_the_kernel_cannot_hold(option: str) -> None:
    args = ["shadow", "--symbols", "BTCUSDT", "--max-inv", "1e15", "--max-total", "1e15"]
    args[args.index(option) + 1] = "1e16"
    if option == "--max-inv":
        args[args.index("--max-total") + 1] = "1e16"
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"{option}=1e+16" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("field", ["lot_step", "tick_size", "min_qty", "min_notional"])
def test_market_limits_refuse_what_the_kernel_refuses(field: str) -> None:
    """``min_qty`` had no bound: 1e16 passed the model, then ``set_market_limits`` raised a
    ValueError (and a paper venue given it refused every order) instead of the model naming it."""
    with pytest.raises(ValidationError, match=field):
        MarketLimits(**{field: 1e16})
    ExecutionKernel(max_slots=1, kernel_id="rev-market").set_market_limits(
        "BTCUSDT", MarketLimits(**{field: 1e15}).model_dump()
    )
