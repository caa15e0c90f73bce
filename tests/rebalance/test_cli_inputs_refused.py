"""``dita rebalance`` refuses an option it cannot take naming it, with nothing sent and nothing
written: no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app

STAMP = {"source_run": "run-c", "generated_at": "2026-11-28T09:00:00Z"}


def targets_file(tmp_path: Path) -> Path:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTC", "weight": 0.5}]}))
    return path


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--price", "BTC=inf"], "--price 'BTC=inf': not SYMBOL=PRICE with a finite price above 0"),
        (["--balance", "nan"], "--balance=nan: Input should be a finite number"),
        (["--balance", "-100"], "--balance=-100.0: Input should be greater than or equal to 0"),
        (["--quote-currency", ""], "--quote-currency='': String should have at least 1 character"),
    ],
)
def test_a_paper_option_it_cannot_take_is_refused_naming_it(
    tmp_path: Path, options: list[str], said: str
) -> None:
    state = tmp_path / "s"
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state)]
    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000", *options])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {said}\n"
    assert not state.exists()
