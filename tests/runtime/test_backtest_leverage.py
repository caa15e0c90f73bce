"""A backtest's and a paper run's account carries no more than its leverage (1 by default, no
more exposure than the balance): the paper venue rejects an entry beyond it, as an exchange
would. Were an entry of any size to fill, the cash would go negative, and a backtest could
report returns no exchange would allow."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from dita.cli import app

runner = CliRunner()

STRATEGIES = """
from pydantic import BaseModel

from dita.strategy import Bar, Strategy


class _Notional(BaseModel):
    notional: float = 2_000.0


class BuysANotional(Strategy[_Notional]):
    \"\"\"Buys ``notional`` (quote currency) of the asset on its first bar, keeping the outcome.\"\"\"

    Params = _Notional
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not hasattr(self, "sent"):
            self.sent = self.buy(bar.asset, self.params.notional / bar.close, price=bar.close)
"""

# 2,000 at 100 on a balance of 1,000, a fee of 0.1 %, no slippage: 2,002 at leverage 1.
REASON = (
    "insufficient margin: the order needs 2,002.00 USDT (notional opened 2,000.00 / leverage 1 + "
    "fee 2.00), available 1,000.00 USDT (equity 1,000.00 - positions' margin 0.00 - working orders' 0.00)"
)
MONEY = {"balance": 1_000.0, "fee_rate": 0.001, "slippage_bps": 0.0}


@pytest.fixture
def strategies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "leverage_strategies.py").write_text(STRATEGIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "leverage_strategies"


def _bars(path: Path, n: int = 5) -> Path:
    path.write_text(
        "ts,open,high,low,close,volume\n"
        + "".join(f"{1704067200 + 60 * i},100,100,100,100,1000\n" for i in range(n))
    )
    return path


def _run(strategies: str, tmp_path: Path, **config: Any) -> tuple[Any, BacktestResult]:
    import importlib

    strategy = importlib.import_module(strategies).BuysANotional()
    data = load_market_data(_bars(tmp_path / "BTCUSDT.csv"))
    return strategy, run_backtest(strategy, data, BacktestConfig(**MONEY, **config))


def test_an_entry_beyond_the_balance_is_rejected_by_default(strategies: str, tmp_path: Path) -> None:
    strategy, result = _run(strategies, tmp_path)
    # The kernel took the intent; the venue refused its order: the slot is free, nothing held.
    outcome = strategy.sent
    assert outcome.accepted and outcome.state.name == "IDLE"
    [reject] = [e for e in outcome.emitted_events if e.kind.name == "REJECT"]
    assert reject.reason == REASON
    info = result.run_info
    assert info["leverage"] == 1.0
    assert (info["fills"], info["orders_rejected"], info["rejections"]) == (0, 1, f"1 x {REASON}")
    assert result.metrics.total_pnl == 0.0 and result.position.tolist() == [0.0] * 5


@pytest.mark.parametrize(("leverage", "fills"), [(2.0, 0), (3.0, 1), (None, 1)])
def test_a_leverage_high_enough_lets_it_fill(
    strategies: str, tmp_path: Path, leverage: float | None, fills: int
) -> None:
    # At 2 the order needs 1,000 + its fee of 2: still more than the balance; at 3, 668.67.
    # None: no check, the venue as it was.
    _, result = _run(strategies, tmp_path, leverage=leverage)
    assert result.run_info["fills"] == fills and result.run_info["leverage"] == leverage
    assert result.position[-1] == (20.0 if fills else 0.0)


def test_the_report_states_the_leverage(strategies: str, tmp_path: Path) -> None:
    _, result = _run(strategies, tmp_path, leverage=3.0)
    paths = result.write_report(tmp_path / "out")
    assert json.loads(paths["metrics.json"].read_text())["run"]["leverage"] == 3.0
    assert "<tr><th>leverage</th><td>3.0</td></tr>" in paths["report.html"].read_text()


@pytest.mark.parametrize(
    ("value", "why"),
    [(0, "greater than 0"), (-2, "greater than 0"), (126, "less than or equal to 125"), ("2x", "number")],
)
def test_a_bad_leverage_is_refused_naming_it(value: object, why: str) -> None:
    with pytest.raises(ValidationError, match=rf"leverage\n .*{why}"):
        BacktestConfig(leverage=value)


def _cli(strategies: str, tmp_path: Path, command: str, *extra: str, kernel_id: str = "k") -> Any:
    data = str(_bars(tmp_path / "BTCUSDT.csv"))
    money = ["--balance", "1000", "--fee-rate", "0.001", "--slippage-bps", "0"]
    args = [command, "--strategy", f"{strategies}:BuysANotional", "--data", data, *money, *extra]
    if command == "backtest":
        args += ["--no-progress", "--out", str(tmp_path / "out")]
    else:
        args += ["--max-speed", "--kernel-id", kernel_id, "--state-dir", str(tmp_path / "state")]
    return runner.invoke(app, args)


def test_dita_backtest_rejects_it_by_default_and_takes_it_with_leverage(
    strategies: str, tmp_path: Path
) -> None:
    result = _cli(strategies, tmp_path, "backtest")
    assert result.exit_code == 0, result.output
    assert f"warning: the venue rejected 1 order: 1 x {REASON}" in " ".join(result.stderr.split())
    run = json.loads((tmp_path / "out" / "metrics.json").read_text())["run"]
    assert (run["leverage"], run["fills"]) == (1.0, 0)

    result = _cli(strategies, tmp_path, "backtest", "--leverage", "3")
    assert result.exit_code == 0, result.output
    assert "rejected" not in result.stderr
    run = json.loads((tmp_path / "out" / "metrics.json").read_text())["run"]
    assert (run["leverage"], run["fills"]) == (3.0, 1)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "--leverage=0.0: Input should be greater than 0"),
        ("200", "--leverage=200.0: Input should be less"),
    ],
)
@pytest.mark.parametrize("command", ["backtest", "paper"])
def test_a_bad_leverage_option_exits_2_naming_it(
    strategies: str, tmp_path: Path, command: str, value: str, message: str
) -> None:
    result = _cli(strategies, tmp_path, command, "--leverage", value)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_dita_paper_rejects_it_by_default_and_takes_it_with_leverage(strategies: str, tmp_path: Path) -> None:
    result = _cli(strategies, tmp_path, "paper")
    assert result.exit_code == 0, result.output
    assert re.search(r"warning: the venue rejected 1 order: 1 x insufficient margin", result.stderr)
    state = json.loads((tmp_path / "state" / "k.json").read_text())
    assert state["rejection_reasons"] == {REASON: 1} and state["fills"] == []

    result = _cli(strategies, tmp_path, "paper", "--leverage", "3", kernel_id="k3")
    assert result.exit_code == 0, result.output
    state = json.loads((tmp_path / "state" / "k3.json").read_text())
    assert state["orders_rejected"] == 0 and len(state["fills"]) == 1


# -- a paper run continuing its kernel keeps the account's leverage ---------------------------


def _paper_on_log(strategies: str, tmp_path: Path, bars: int, *extra: str, wal: str = "wal") -> Any:
    """`dita paper --wal-dir` buying 1,000 of BTCUSDT on its first bar, on ``bars`` bars of the
    same file (a run continuing the kernel takes the rows after those handled before)."""
    data = str(_bars(tmp_path / "BTCUSDT.csv", bars))
    money = ["--balance", "1000", "--fee-rate", "0.001", "--slippage-bps", "0", "--param", "notional=1000"]
    args = ["paper", "--strategy", f"{strategies}:BuysANotional", "--data", data, *money, "--max-speed"]
    args += ["--kernel-id", "k", "--state-dir", str(tmp_path / "state"), "--wal-dir", str(tmp_path / wal)]
    return runner.invoke(app, [*args, *extra])


def _state(tmp_path: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((tmp_path / "state" / "k.json").read_text())
    return state


def test_a_continued_paper_run_keeps_the_leverage_its_state_file_records(
    strategies: str, tmp_path: Path
) -> None:
    """The state file did not record the leverage: a run started at --leverage 3 and continued
    without it ran on at 1, the margin rules of the account changed part-way. The second buy,
    which 3 carries beside the first (665.67 available) and 1 does not (-1.00), tells them apart."""
    first = _paper_on_log(strategies, tmp_path, 5, "--leverage", "3")
    assert first.exit_code == 0, first.output
    assert _state(tmp_path)["leverage"] == 3.0 and len(_state(tmp_path)["fills"]) == 1

    again = _paper_on_log(strategies, tmp_path, 10)
    assert again.exit_code == 0, again.output
    assert "continues kernel k" in again.stdout and "at leverage 3" in again.stdout
    assert "rejected" not in again.stderr
    state = _state(tmp_path)
    assert state["leverage"] == 3.0 and len(state["fills"]) == 2 and state["orders_rejected"] == 0

    # Given again, the same leverage is taken too.
    same = _paper_on_log(strategies, tmp_path, 15, "--leverage", "3.0")
    assert same.exit_code == 0, same.output
    assert _state(tmp_path)["leverage"] == 3.0


def test_a_continued_paper_run_given_another_leverage_is_refused_changing_nothing(
    strategies: str, tmp_path: Path
) -> None:
    first = _paper_on_log(strategies, tmp_path, 5, "--leverage", "3")
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "k.json"
    saved = path.read_bytes()
    log = sorted((p.name, p.read_bytes()) for p in (tmp_path / "wal").iterdir())

    refused = _paper_on_log(strategies, tmp_path, 10, "--leverage", "1")
    assert refused.exit_code == 2, refused.output
    assert " ".join(refused.stderr.split()) == (
        f"error: --leverage 1 differs from the leverage 3 the state file {path} records for kernel 'k': "
        "a continued account keeps its margin rules. Leave --leverage out to continue at leverage 3, "
        "or start a new account with another --kernel-id and --wal-dir"
    )
    assert path.read_bytes() == saved
    assert sorted((p.name, p.read_bytes()) for p in (tmp_path / "wal").iterdir()) == log

    # A new log is a new account: its leverage is the one given, whatever the old file says.
    fresh = _paper_on_log(strategies, tmp_path, 5, "--leverage", "1", wal="wal-new")
    assert fresh.exit_code == 0, fresh.output
    assert _state(tmp_path)["leverage"] == 1.0


@pytest.mark.parametrize(("given", "leverage", "fills"), [((), 1.0, 1), (("--leverage", "3"), 3.0, 2)])
def test_a_state_file_written_before_the_leverage_was_recorded_takes_the_given_or_default(
    strategies: str, tmp_path: Path, given: tuple[str, ...], leverage: float, fills: int
) -> None:
    first = _paper_on_log(strategies, tmp_path, 5, "--leverage", "3")
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "k.json"
    old = json.loads(path.read_text())
    del old["leverage"]
    path.write_text(json.dumps(old))

    again = _paper_on_log(strategies, tmp_path, 10, *given)
    assert again.exit_code == 0, again.output
    assert f"at leverage {leverage:g}" in again.stdout
    state = _state(tmp_path)
    # At the default of 1 the second buy is beyond the margin the first left: rejected.
    assert (state["leverage"], len(state["fills"])) == (leverage, fills)
    assert state["orders_rejected"] == 2 - fills


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        (0, "leverage: Input should be greater than 0, got 0"),
        (200.0, "leverage: Input should be less than or equal to 125, got 200.0"),
        ("3", "leverage: Input should be a valid number, got '3'"),
    ],
)
def test_a_state_file_with_a_bad_leverage_is_refused_naming_it(
    strategies: str, tmp_path: Path, stored: object, message: str
) -> None:
    first = _paper_on_log(strategies, tmp_path, 5, "--leverage", "3")
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "k.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "leverage": stored}))
    saved = path.read_bytes()
    log = sorted((p.name, p.read_bytes()) for p in (tmp_path / "wal").iterdir())

    refused = _paper_on_log(strategies, tmp_path, 10)
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.stderr.split())
    assert f"the state file {path} is not one `dita paper` wrote: {message}" in said, said
    assert path.read_bytes() == saved
    assert sorted((p.name, p.read_bytes()) for p in (tmp_path / "wal").iterdir()) == log


def test_a_damaged_log_beside_a_state_file_is_said_not_raised(strategies: str, tmp_path: Path) -> None:
    """Reading the log's kernel id for the leverage raised WalError past the CLI's handling: a
    traceback where the session says why it cannot start (as it does without a state file)."""
    first = _paper_on_log(strategies, tmp_path, 5, "--leverage", "3")
    assert first.exit_code == 0, first.output
    (tmp_path / "wal" / "seg-00000000000000009999.wal").write_bytes(b"not a log" * 8)

    again = _paper_on_log(strategies, tmp_path, 10)
    assert again.exit_code == 2, again.output
    assert isinstance(again.exception, SystemExit)
    assert "error: cannot start the paper session:" in again.stderr
    assert "is not a dita write-ahead log file" in " ".join(again.stderr.split())


def test_another_logs_state_file_of_the_kernel_id_is_not_taken(strategies: str, tmp_path: Path) -> None:
    """The state file is named by the kernel id alone: a run on another log (a new account)
    replaced it, and a run on the first log then took that account's book and leverage as its
    own. It now takes none of it, and says so."""
    first = _paper_on_log(strategies, tmp_path, 5, "--leverage", "3")
    assert first.exit_code == 0, first.output
    assert _state(tmp_path)["wal_dir"] == str((tmp_path / "wal").resolve())
    other = _paper_on_log(strategies, tmp_path, 5, "--leverage", "2", wal="wal-new")
    assert other.exit_code == 0, other.output

    again = _paper_on_log(strategies, tmp_path, 10, "--leverage", "3")
    assert again.exit_code == 0, again.output
    said = " ".join(again.stderr.split())
    assert (
        f"warning: {tmp_path / 'state' / 'k.json'} was written by a run on the write-ahead log in "
        f"{(tmp_path / 'wal-new').resolve()}, not {tmp_path / 'wal'}: another account's state" in said
    ), said
    assert "continues kernel k" in again.stdout and "at leverage 3" in again.stdout
    state = _state(tmp_path)
    # The fills are the first log's account's from here on, not the other's beside them.
    assert state["wal_dir"] == str((tmp_path / "wal").resolve()) and state["leverage"] == 3.0


def test_a_state_file_naming_its_log_relative_is_still_the_runs_own(
    strategies: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _paper_on_log(strategies, tmp_path, 5, "--leverage", "3")
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "k.json"
    monkeypatch.chdir(tmp_path)
    path.write_text(json.dumps({**json.loads(path.read_text()), "wal_dir": "wal"}))

    again = _paper_on_log(strategies, tmp_path, 10)
    assert again.exit_code == 0, again.output
    assert "another account" not in again.stderr and "at leverage 3" in again.stdout


def test_a_state_file_of_a_run_without_a_log_is_another_accounts(strategies: str, tmp_path: Path) -> None:
    """A run without --wal-dir under the kernel id writes ``wal_dir`` null: a throwaway
    account, whose leverage a run on the log took as its own (found by review)."""
    first = _paper_on_log(strategies, tmp_path, 5, "--leverage", "3")
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "k.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "wal_dir": None, "leverage": 2.0}))

    again = _paper_on_log(strategies, tmp_path, 10, "--leverage", "3")
    assert again.exit_code == 0, again.output
    said = " ".join(again.stderr.split())
    assert f"warning: {path} was written by a run with no write-ahead log: another account's state" in said
    assert "at leverage 3" in again.stdout


def test_a_state_file_naming_a_log_directory_that_is_gone_is_taken_saying_so(
    strategies: str, tmp_path: Path
) -> None:
    first = _paper_on_log(strategies, tmp_path, 5, "--leverage", "3")
    assert first.exit_code == 0, first.output
    (tmp_path / "wal").rename(tmp_path / "wal-moved")

    again = _paper_on_log(strategies, tmp_path, 10, wal="wal-moved")
    assert again.exit_code == 0, again.output
    said = " ".join(again.stderr.split())
    assert f"in {(tmp_path / 'wal').resolve()}, which is gone: taken as the state of the log in" in said
    assert "continues kernel k" in again.stdout and "at leverage 3" in again.stdout
