"""A strategy's parameters of types JSON has no form for (a date, a Decimal, a set, an Enum) are
written in their JSON form: json.dumps raised on them after the whole replay, and neither
metrics.json nor ``dita backtest --json`` came out."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path

from pydantic import BaseModel
from typer.testing import CliRunner

from dita.backtest.data import MarketData
from dita.backtest.engine import run_backtest
from dita.strategy import Strategy


class _Mode(Enum):
    TREND = "trend"


class _TypedParams(BaseModel):
    since: datetime = datetime(2024, 1, 1, 12, 30)
    size: Decimal = Decimal("0.25")
    assets: frozenset[str] = frozenset({"BTCUSDT"})
    mode: _Mode = _Mode.TREND


class _Typed(Strategy[_TypedParams]):
    Params = _TypedParams
    data = ("bars",)


_EXPECTED = {"since": "2024-01-01T12:30:00", "size": "0.25", "assets": ["BTCUSDT"], "mode": "trend"}


def test_metrics_json_writes_parameters_json_has_no_type_for(sample_bars: MarketData, tmp_path: Path) -> None:
    result = run_backtest(_Typed(), sample_bars)
    result.write_report(tmp_path)
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["run"]["params"] == _EXPECTED
    assert [s["params"] for s in result.strategy_status] == [_EXPECTED]


def test_the_cli_json_of_a_strategy_with_such_parameters_is_printed(tmp_path: Path) -> None:
    from dita.cli import app

    source = tmp_path / "typed.py"
    source.write_text(
        "from datetime import datetime\n"
        "from pydantic import BaseModel\n"
        "from dita.strategy import Strategy\n\n\n"
        "class P(BaseModel):\n"
        "    since: datetime = datetime(2024, 1, 1)\n"
        "    assets: set[str] = {'BTCUSDT'}\n\n\n"
        "class Typed(Strategy[P]):\n"
        "    Params = P\n"
        "    data = ('bars',)\n"
    )
    out = tmp_path / "out"
    args = ["backtest", "--strategy", f"{source}:Typed", "--data", "sample", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["strategies"][0]["params"] == {"since": "2024-01-01T00:00:00", "assets": ["BTCUSDT"]}
    assert json.loads((out / "metrics.json").read_text())["run"]["params"]["since"] == "2024-01-01T00:00:00"
