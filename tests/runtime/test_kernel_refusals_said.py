"""A run whose intents the kernel refuses says so, with the reasons, as it says the orders the
venue rejected: `dita backtest --param trade_size=1e308` had every order refused
(INVALID_INTENT, the size past the kernel's bound) and reported "Trades 0", a PnL of 0 and no
word of why. Refusals that are a strategy's normal flow (an exit of a trade already closed, a
cancel with nothing working, an intent retried) are not counted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from dita._kernel import KernelIntent
from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from dita.cli import app
from dita.strategy import Bar, Strategy

from .paper_cli import (
    BUYS_TOO_MUCH_ONCE,
    TOO_MUCH_REFUSED,
    flat_bars,
    run_paper,
    saved_state,
    strategies_module,
)

runner = CliRunner()

CROSSOVER = "dita.examples.crossover:SmaCrossover"


def _backtest(out: Path, *extra: str) -> Any:
    args = ["backtest", "--strategy", CROSSOVER, "--data", "sample", "--out", str(out), "--no-progress"]
    return runner.invoke(app, [*args, *extra])


def test_a_backtest_whose_every_order_the_kernel_refuses_says_so_with_the_reason(tmp_path: Path) -> None:
    result = _backtest(tmp_path / "o", "--param", "trade_size=1e308")
    assert result.exit_code == 0, result.output
    assert re.search(r"│ Trades +│ +0 │", result.stdout)
    said = re.search(r"^warning: the kernel refused ([\d,]+) of ([\d,]+) intents: (.*)$", result.stderr, re.M)
    assert said is not None, result.stderr
    refused, intents = (int(said[i].replace(",", "")) for i in (1, 2))
    assert refused == intents > 50
    assert said[3] == f"{said[1]} x {TOO_MUCH_REFUSED}"
    run = json.loads((tmp_path / "o" / "metrics.json").read_text())["run"]
    assert (run["intents"], run["intents_refused"], run["refusals"]) == (intents, refused, said[3])
    page = (tmp_path / "o" / "report.html").read_text()
    assert f"<tr><th>intents_refused</th><td>{refused}</td></tr>" in page

    doc = json.loads(_backtest(tmp_path / "j", "--param", "trade_size=1e308", "--json").stdout)
    assert doc["refused"] == {"intents": intents, "refused": refused, "reasons": said[3]}


def test_a_backtest_without_refusals_says_none_and_counts_0(tmp_path: Path) -> None:
    result = _backtest(tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "refused" not in result.stderr
    run = json.loads((tmp_path / "o" / "metrics.json").read_text())["run"]
    assert run["intents"] > 50 and run["intents_refused"] == 0 and run["refusals"] is None
    doc = json.loads(_backtest(tmp_path / "j", "--json").stdout)
    assert doc["refused"] is None


def _bars_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "BTCUSDT.csv"
    path.write_text(
        "ts,open,high,low,close,volume\n"
        + "".join(f"{1704067200 + 60 * i},100,110,90,100,1000\n" for i in range(n))
    )
    return path


class _Routine(Strategy[Any]):
    """Asks, on every bar, what the kernel refuses as normal flow: an exit of a slot holding no
    trade (NO_POSITION), a cancel with no order working (INVALID_TRANSITION), and once the retry
    of an intent the kernel took (DUPLICATE_INTENT); one buy is taken."""

    data = ("bars",)

    def _entry(self, intent_id: str, slot_id: int, price: float) -> KernelIntent:
        trade_id = self.ctx.next_trade_id(self)
        return KernelIntent(
            intent_id, trade_id, slot_id, "BTCUSDT", "LONG", "ENTER", price, 1.0, timestamp=self.ctx.now()
        )

    def on_bar(self, bar: Bar) -> None:
        if not hasattr(self, "bought"):
            self.codes: list[str] = []
            self.bought = self._entry(self.ctx.next_intent_id(self), 0, bar.close)
            assert self.submit(self.bought).accepted
            return
        free = 1  # slot 0 holds the trade bought
        self.codes.append(self.exit(free, price=bar.close).diagnostic_code.name)
        self.codes.append(self.cancel(free).diagnostic_code.name)
        if not hasattr(self, "retried"):
            # The buy's intent id again, as a client's retry (under a trade id of its own).
            self.retried = self.submit(self._entry(self.bought.intent_id, 2, bar.close))
            self.codes.append(self.retried.diagnostic_code.name)


def test_routine_refusals_are_not_counted(tmp_path: Path) -> None:
    strategy = _Routine()
    result = run_backtest(strategy, load_market_data(_bars_file(tmp_path, 4)), BacktestConfig(max_slots=3))
    assert sorted(set(strategy.codes)) == ["DUPLICATE_INTENT", "INVALID_TRANSITION", "NO_POSITION"]
    info = result.run_info
    assert info["intents_refused"] == 0 and info["refusals"] is None
    assert info["intents"] == 1 + len(strategy.codes)
    # The strategy's own count is of every refusal, routine or not.
    assert result.strategy_status[0]["refused"] == len(strategy.codes)


class _Sizes(BaseModel):
    sizes: list[float] = [1e16, 2e16]


class _RefusedForReasons(Strategy[_Sizes]):
    """Two entries past the kernel's bound (their figures differ), one while the kernel is
    HALTED (MODE_BLOCKED), then, back in its mode, one taken and one beyond the one slot
    (INVALID_SLOT_ID)."""

    Params = _Sizes
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if hasattr(self, "done"):
            return
        self.done = True
        for size in self.params.sizes:
            self.buy("BTCUSDT", size, price=bar.close)
        kernel = self.ctx.kernel
        mode = kernel.control()["mode"]
        kernel.update_control(mode="HALTED", source="test")
        self.buy("BTCUSDT", 1.0, price=bar.close)
        kernel.update_control(mode=mode, source="test")
        assert self.buy("BTCUSDT", 1.0, price=bar.close).accepted
        self.buy("BTCUSDT", 1.0, price=bar.close)  # no free slot: -1


def test_the_refusals_name_each_reason_with_its_count_figures_folded(tmp_path: Path) -> None:
    result: BacktestResult = run_backtest(
        _RefusedForReasons(), load_market_data(_bars_file(tmp_path, 2)), BacktestConfig(max_slots=1)
    )
    info = result.run_info
    assert (info["intents"], info["intents_refused"]) == (5, 4)
    assert info["refusals"].split("; ") == [
        "2 x INVALID_INTENT: target_size=1e+16: must be at most 1e15 in magnitude (the first's figures)",
        "1 x MODE_BLOCKED: action='ENTER': the kernel is HALTED: no new entries",
        "1 x INVALID_SLOT_ID: slot_id=-1: no such slot: the kernel has slots 0 to 0",
    ]


def test_a_refusal_reason_is_its_code_then_the_field_or_rule_then_the_reason() -> None:
    from dita.runtime import refusal_reason

    class _Outcome:
        def __init__(self, code: str, details: dict[str, Any]) -> None:
            self.diagnostic_code = type("Code", (), {"name": code})()
            self.details = details

    def outcome(code: str, details: dict[str, Any]) -> Any:  # a KernelOutcome's stand-in
        return _Outcome(code, details)

    edge = {"rule": "edge_freeze", "reason": "edge 0.9 bps below threshold 1.5 bps", "asset": "BTCUSDT"}
    assert refusal_reason(outcome("RISK_REJECTED", edge)) == (
        "RISK_REJECTED: edge_freeze: edge 0.9 bps below threshold 1.5 bps"
    )
    assert refusal_reason(outcome("SLOT_BUSY", {})) == "SLOT_BUSY"
    long = refusal_reason(outcome("INVALID_INTENT", {"field": "asset", "value": "x" * 500, "reason": "bad"}))
    assert long.startswith("INVALID_INTENT: asset='xxx") and long.endswith("...: bad") and len(long) < 130


def test_the_refusals_of_two_runs_add_up() -> None:
    from dita.runtime import KernelRefusals

    first = KernelRefusals(2, {"INVALID_INTENT: a=1: big": 2}, intents=5)
    later = KernelRefusals(1, {"INVALID_INTENT: a=3: big": 1}, intents=4)
    both = first.plus(later)
    assert (both.refused, both.intents) == (3, 9)
    assert both.text() == "3 x INVALID_INTENT: a=1: big (the first's figures)"
    assert KernelRefusals().plus(KernelRefusals()).text() == ""


# -- dita paper ----------------------------------------------------------------------------

STRATEGIES = (
    """
from typing import Any

from dita.strategy import Bar, Strategy


class BuysOnce(Strategy[Any]):
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not hasattr(self, "sent"):
            self.sent = self.buy(bar.asset, 1.0, price=bar.close)
"""
    + BUYS_TOO_MUCH_ONCE
)

PAPER_REASON = f"1 x {TOO_MUCH_REFUSED}"


@pytest.fixture
def strategies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return strategies_module(tmp_path, monkeypatch, "kernel_refusal_strategies", STRATEGIES)


def test_paper_says_the_kernels_refusals_in_its_status_and_at_the_end(
    tmp_path: Path, strategies: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dita.cli.paper_run as paper_run

    monkeypatch.setattr(paper_run, "STATUS_LINE_SECONDS", 0.0)
    bars = flat_bars(tmp_path / "bars.csv", 5)
    result = run_paper(tmp_path, f"{strategies}:BuysTooMuchOnce", bars, "--status-every", "0.000001")
    assert result.exit_code == 0, result.output
    assert f"warning: the kernel refused 1 of 1 intent: {PAPER_REASON}" in result.stderr
    assert re.search(rf"refused intents\s+│ 1: {re.escape(PAPER_REASON)}", result.stdout), result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("status: ")]
    assert lines and "working orders, 1 intent refused by the kernel, mode PAPER" in lines[-1]
    snap = saved_state(tmp_path)
    assert snap["intents_refused"] == 1 and snap["refusal_reasons"] == {PAPER_REASON[4:]: 1}
    status = runner.invoke(app, ["status", "--state-dir", str(tmp_path / "state"), "--json"])
    assert status.exit_code == 0 and [r["kernel_id"] for r in json.loads(status.stdout)] == ["k"]


def test_a_paper_run_without_refusals_says_none(tmp_path: Path, strategies: str) -> None:
    result = run_paper(tmp_path, f"{strategies}:BuysOnce", flat_bars(tmp_path / "bars.csv", 3))
    assert result.exit_code == 0, result.output
    assert "refused" not in result.stderr
    assert re.search(r"refused intents\s+│ 0 ", result.stdout), result.stdout
    snap = saved_state(tmp_path)
    assert snap["intents_refused"] == 0 and snap["refusal_reasons"] == {}


def test_a_continued_paper_run_says_its_own_refusals_and_the_state_file_the_kernels(
    tmp_path: Path, strategies: str
) -> None:
    wal = ["--wal-dir", str(tmp_path / "wal")]
    first = run_paper(tmp_path, f"{strategies}:BuysTooMuchOnce", flat_bars(tmp_path / "a.csv", 3), *wal)
    assert first.exit_code == 0, first.output
    assert saved_state(tmp_path)["intents_refused"] == 1
    second = run_paper(tmp_path, f"{strategies}:BuysTooMuchOnce", flat_bars(tmp_path / "b.csv", 6), *wal)
    assert second.exit_code == 0, second.output
    assert "continues kernel k" in second.stdout
    assert f"warning: the kernel refused 1 of 1 intent: {PAPER_REASON}" in second.stderr
    snap = saved_state(tmp_path)
    assert snap["intents_refused"] == 2 and snap["refusal_reasons"] == {PAPER_REASON[4:]: 2}
    # A run that does not continue the kernel (on a new log) starts the count afresh. Without
    # --wal-dir it is refused: it would replace the state file of the account on the log.
    new_log = ("--wal-dir", str(tmp_path / "wal-new"))
    fresh = run_paper(tmp_path, f"{strategies}:BuysTooMuchOnce", flat_bars(tmp_path / "c.csv", 3), *new_log)
    assert fresh.exit_code == 0, fresh.output
    assert saved_state(tmp_path)["intents_refused"] == 1
