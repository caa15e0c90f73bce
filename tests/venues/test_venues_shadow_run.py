"""The shadow run's settings (``dita shadow``): refused naming the field and the value, before
the kernel takes them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dita.risk import KERNEL_MAX
from dita.shadow import ShadowSettings, run_shadow


@pytest.mark.parametrize("edge_threshold", [1e300, -1e300])
def test_an_edge_threshold_past_the_kernel_bound_is_refused_as_a_setting(edge_threshold: float) -> None:
    """Taken, it reached RiskLimits only inside run_shadow: `dita shadow --edge-threshold 1e300`
    ended in a traceback instead of the one-line error every other bad option gives."""
    with pytest.raises(ValidationError, match="edge_threshold"):
        ShadowSettings(symbols=["BTCUSDT"], edge_threshold=edge_threshold)


def test_the_edge_threshold_may_reach_the_kernel_bound() -> None:
    report = run_shadow(ShadowSettings(symbols=["BTCUSDT"], iterations=2, edge_threshold=-KERNEL_MAX))
    assert report["risk"]["freezes_total"] == 0


@pytest.mark.parametrize("field", ["iterations", "seed", "fill_rate", "quote_usd"])
def test_a_flag_where_a_number_belongs_is_refused(field: str) -> None:
    with pytest.raises(ValidationError, match=f"{field}\n.*flag, not a number"):
        ShadowSettings.model_validate({"symbols": ["BTCUSDT"], field: True})


def test_more_symbols_than_the_kernel_has_slots_for_are_refused_as_a_setting() -> None:
    """The run gives the kernel 64 slots a symbol, and the kernel holds at most 1,000,000: past
    15,625 symbols `dita shadow` ended in a traceback (the kernel's "invalid max_slots")."""
    from typer.testing import CliRunner

    from dita.cli import app

    symbols = [f"S{i:05d}" for i in range(15_626)]
    with pytest.raises(ValidationError, match="15,626 symbols, more than the 15,625 a shadow run takes"):
        ShadowSettings(symbols=symbols)
    result = CliRunner().invoke(app, ["shadow", "--symbols", ",".join(symbols), "--no-progress"])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --symbols: 15,626 symbols, more than the 15,625 a shadow run takes (64 kernel slots each, "
        "and a kernel holds at most 1,000,000)\n"
    )
    assert ShadowSettings(symbols=symbols[:-1]).symbols == symbols[:-1]
