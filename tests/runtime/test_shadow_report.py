"""The shadow run's report against what the kernel's guard decided."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.shadow import ShadowSettings, run_shadow


def test_limits_below_one_quote_show_as_risk_blocks_not_as_silence() -> None:
    # A cap smaller than one quote: the kernel refuses every bid and ask, and the report says
    # so. The quoter's own inventory band (twice the total cap) used to stop it quoting at
    # all under 500 USD, so the report read 0 orders and 0 blocks, as if nothing had tried.
    settings = ShadowSettings(symbols=["BTCUSDT"], iterations=5, max_inv=400, max_total=400, edge_threshold=0)
    report = run_shadow(settings)
    assert report["orders"]["placed"] == 0
    assert report["orders"]["risk_blocks"] == report["risk"]["blocks_total"] == 2 * 5
    assert report["positions"]["by_symbol"] == {"BTCUSDT": 0.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-inv", "60000"], "error: --max-inv=60000.0 exceeds --max-total=50000.0\n"),
        (
            ["--fill-rate", "0.7", "--reject-rate", "0.5"],
            "error: --fill-rate=0.7 + --reject-rate=0.5 exceeds 1\n",
        ),
    ],
)
def test_settings_that_disagree_are_refused_without_a_dump_of_every_option(
    args: list[str], message: str
) -> None:
    # A refusal of two options together has no one option to name: it used to read
    # "settings={'symbols': [...], 'iterations': 50, ...}: Value error, ...", an option that
    # does not exist followed by every value given. The fields it compares are named as the
    # options they came from.
    result = CliRunner().invoke(app, ["shadow", "--symbols", "BTCUSDT", *args])
    assert result.exit_code == 2
    assert result.stderr == message


def test_the_shadow_help_says_symbols_are_required() -> None:
    result = CliRunner().invoke(app, ["shadow", "--help"])
    symbols = result.output.split("--symbols", 1)[1].split("--iterations", 1)[0]
    assert "(required)" in symbols
