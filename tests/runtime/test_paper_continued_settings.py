"""A paper run continuing its kernel (--wal-dir) keeps the fill model its account was run
under: fees, maker fee, slippage, latency, volume share and balance. Were only the leverage
kept, a run started at --fee-rate 0 and continued without the option would charge the default
0.1 % on the fills of the orders the first run placed, and an option given another value (a
--balance the log ignores, say) would be taken without a word."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app

runner = CliRunner()

RESTING = """
from dita.strategy import Bar, Strategy


class FarBid(Strategy):
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset) and not self.position(bar.asset) and not hasattr(self, "sent"):
            self.sent = self.buy(bar.asset, 1.0, price=bar.close, limit=50.0)
"""


@pytest.fixture
def resting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "paper_continued_resting.py").write_text(RESTING)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "paper_continued_resting:FarBid"


def _bars(path: Path, lows: list[float]) -> Path:
    rows = ["timestamp,asset,open,high,low,close,volume"]
    rows += [f"{1_704_067_200 + 60 * i},BTCUSDT,100,101,{low},100,1000" for i, low in enumerate(lows)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _paper(tmp_path: Path, strategy: str, data: Path, *extra: str) -> Any:
    args = ["paper", "--strategy", strategy, "--data", str(data), "--max-speed", "--kernel-id", "k"]
    args += ["--state-dir", str(tmp_path / "state"), "--wal-dir", str(tmp_path / "wal"), *extra]
    return runner.invoke(app, args)


def _state(tmp_path: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((tmp_path / "state" / "k.json").read_text())
    return state


def test_a_continued_run_without_the_fee_options_keeps_the_accounts_fees(
    tmp_path: Path, resting: str
) -> None:
    # The first run rests a bid at 50 with no fees; the second fills it (a low of 40).
    first = _paper(tmp_path, resting, _bars(tmp_path / "a.csv", [99.0] * 5), "--fee-rate", "0")
    assert first.exit_code == 0, first.output

    again = _paper(tmp_path, resting, _bars(tmp_path / "b.csv", [99.0] * 7 + [40.0]))
    assert again.exit_code == 0, again.output
    state = _state(tmp_path)
    assert [(f["price"], f["fee"]) for f in state["fills"]] == [(50.0, 0.0)]
    assert state["account"]["k_fees_paid"] == 0.0 and state["venue"]["fees_paid"] == 0.0
    assert state["fill_model"]["fee_rate"] == 0.0 and state["fill_model"]["maker_fee_rate"] == 0.0


@pytest.mark.parametrize(
    ("option", "first", "then", "recorded"),
    [
        ("--fee-rate", "0", "0.001", "fee_rate 0"),
        ("--maker-fee-rate", "0.0002", "0.0001", "maker_fee_rate 0.0002"),
        ("--slippage-bps", "5", "2", "slippage_bps 5"),
        ("--latency-ms", "100", "0", "latency_ms 100"),
        ("--volume-share", "0.5", "0.1", "volume_share 0.5"),
        ("--balance", "5000", "10000", "balance 5000"),
    ],
)
def test_a_continued_run_given_another_fill_model_is_refused_changing_nothing(
    tmp_path: Path, resting: str, option: str, first: str, then: str, recorded: str
) -> None:
    data = _bars(tmp_path / "a.csv", [99.0] * 5)
    started = _paper(tmp_path, resting, data, option, first)
    assert started.exit_code == 0, started.output
    path = tmp_path / "state" / "k.json"
    saved = path.read_bytes()
    log = sorted((p.name, p.read_bytes()) for p in (tmp_path / "wal").iterdir())

    refused = _paper(tmp_path, resting, _bars(tmp_path / "b.csv", [99.0] * 7), option, then)
    assert refused.exit_code == 2, refused.output
    assert " ".join(refused.stderr.split()) == (
        f"error: {option} {then} differs from the {recorded} the state file {path} records for kernel "
        f"'k': a continued account keeps its fill model. Leave {option} out to continue at {first}, or "
        "start a new account with another --kernel-id and --wal-dir"
    )
    assert path.read_bytes() == saved
    assert sorted((p.name, p.read_bytes()) for p in (tmp_path / "wal").iterdir()) == log

    # Given again as it was, the option is taken.
    same = _paper(tmp_path, resting, _bars(tmp_path / "c.csv", [99.0] * 7), option, first)
    assert same.exit_code == 0, same.output


def test_a_state_file_with_a_bad_fill_model_is_refused_naming_it(tmp_path: Path, resting: str) -> None:
    first = _paper(tmp_path, resting, _bars(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "k.json"
    state = _state(tmp_path)
    path.write_text(json.dumps({**state, "fill_model": {**state["fill_model"], "fee_rate": -1.0}}))

    refused = _paper(tmp_path, resting, _bars(tmp_path / "b.csv", [99.0] * 7))
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.stderr.split())
    assert f"the state file {path} is not one `dita paper` wrote: fill_model.fee_rate:" in said, said


def test_a_state_file_written_before_the_fill_model_was_recorded_takes_the_options(
    tmp_path: Path, resting: str
) -> None:
    first = _paper(tmp_path, resting, _bars(tmp_path / "a.csv", [99.0] * 5), "--fee-rate", "0")
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "k.json"
    old = _state(tmp_path)
    del old["fill_model"]
    path.write_text(json.dumps(old))

    again = _paper(tmp_path, resting, _bars(tmp_path / "b.csv", [99.0] * 7), "--fee-rate", "0.0005")
    assert again.exit_code == 0, again.output
    assert _state(tmp_path)["fill_model"]["fee_rate"] == 0.0005


def test_a_live_runs_kernel_is_not_continued_as_a_replay(tmp_path: Path, resting: str) -> None:
    """A state file of a live run (wall clock) continued with --data took its wall-clock time
    as the replay's place: every row was skipped, and the run said they had been handled."""
    first = _paper(tmp_path, resting, _bars(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "k.json"
    state = _state(tmp_path)
    state["clock"] = "wall"  # as a --ccxt-exchange run of this kernel writes it
    path.write_text(json.dumps(state))

    again = _paper(tmp_path, resting, _bars(tmp_path / "b.csv", [99.0] * 7))
    assert again.exit_code == 2, again.output
    assert "live run" in again.output and "--data" in again.output
    assert "rows were handled before" not in again.output
    assert _state(tmp_path)["clock"] == "wall"  # nothing ran
