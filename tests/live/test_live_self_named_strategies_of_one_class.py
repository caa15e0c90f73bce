"""A strategy class that names itself from its parameters (``self.name = f"sma-{fast}-{slow}"``,
the documented name setter) in two ``[[strategies]]`` tables without a ``name``: the two run under
names of their own, so the file is a run. Two strategies that come to one name are refused
once loaded, exit 2, naming both tables, before anything opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.cli.live_run import LiveRun, RunRefused
from dita.live.config import load_config

MODULE = """
from dita.examples.crossover import SmaCrossover


class Sma(SmaCrossover):
    def __init__(self, params=None, *, name=None):
        super().__init__(params, name=name)
        self.name = f"sma-{self.params.fast}-{self.params.slow}"
"""

RUN = """
kernel_id = "named"
state_dir = "{state}"
[journal]
enabled = false
[gateway]
enabled = false
[venue]
exchange = "binance"
base_url = "http://127.0.0.1:9"
symbols = ["BTC/USDT"]
[[strategies]]
strategy = "{module}:Sma"
params = {{ fast = 5, slow = 20, trade_size = 0.01 }}
[[strategies]]
strategy = "{module}:Sma"
params = {{ fast = {fast}, slow = {slow}, trade_size = 0.01 }}
"""


def _file(tmp_path: Path, module_name: str, fast: int, slow: int) -> Path:
    module = tmp_path / f"{module_name}.py"
    module.write_text(MODULE)
    path = tmp_path / "run.toml"
    path.write_text(RUN.format(state=tmp_path / "state", module=module, fast=fast, slow=slow))
    return path


def test_two_tables_of_a_self_naming_class_with_other_parameters_are_a_run(tmp_path: Path) -> None:
    path = _file(tmp_path, "self_named_apart", 20, 60)
    # Past the names, the run is refused for the exchange at base_url, which does not answer.
    with pytest.raises(RunRefused, match="cannot reach binance"):
        LiveRun(load_config(path), path, lambda line: None)


def test_two_strategies_that_name_themselves_alike_are_refused_naming_both_tables(tmp_path: Path) -> None:
    path = _file(tmp_path, "self_named_alike", 5, 20)
    result = CliRunner().invoke(app, ["live", "--config", str(path)])
    assert result.exit_code == 2, result.output
    err = str(result.stderr)
    assert "strategies[1].strategy: '" in err, err
    assert "given: strategies[0] runs under the name 'sma-5-20' already; give this table a name" in err
    assert not (tmp_path / "state").exists()
