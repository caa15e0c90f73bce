"""``dita rebalance --paper-book`` on a book that holds what the kernel never traded (a symbol the
targets leave alone): run again, the plan is resumed on it when the run was killed, and planned
afresh (sending nothing, on target) when it ran to its end; a book whose position from elsewhere
changed since its save is refused, before reconciliation writes to the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita._kernel import wal_replay
from dita.cli import app
from dita.venues.paper import PaperVenue

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {
    "source_run": "run-k",
    "generated_at": "2026-11-28T09:00:00Z",
    "targets": [{"symbol": "BTC", "quantity": 0.1}, {"symbol": "ETH", "quantity": 1.0}],
}
PRICES = ["--price", "BTC=50000", "--price", "ETH=2000", "--price", "SOL=100", "--balance", "100000"]
REACHED = {"SOL": 5.0, "BTC": 0.1, "ETH": 1.0}


def holding_sol(tmp_path: Path) -> list[str]:
    """The rebalance's arguments, on a book that holds 5 SOL before the kernel's first trade."""
    targets, state, book = tmp_path / "t.json", tmp_path / "s", tmp_path / "book.json"
    targets.write_text(json.dumps(TARGETS))
    start = PaperVenue(starting_balance=100_000).book()
    start.update(positions={"SOL": 5.0})
    book.write_text(json.dumps(start))
    return ["rebalance", "--targets", str(targets), "--state-dir", str(state), "--paper-book", str(book)]


def killed_at_save(args: list[str], save: int) -> None:
    """The rebalance of ``args`` killed at its ``save``-th save of the book (after leg ``save``)."""
    script = Path(__file__).with_name("killed_before_book_saved.py")
    killed = subprocess.run(
        [sys.executable, str(script), str(save), *args, *PRICES],
        env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 9, killed.stderr


def log_end(tmp_path: Path) -> int:
    kernel, _recovery = wal_replay(tmp_path / "s" / "wal")
    return int(kernel.seq)


def test_the_same_command_run_again_on_a_book_holding_positions_from_elsewhere_sends_nothing(
    tmp_path: Path,
) -> None:
    args = holding_sol(tmp_path)
    first = CliRunner().invoke(app, [*args, *PRICES])
    assert first.exit_code == 0, first.output
    book = json.loads((tmp_path / "book.json").read_text())
    assert book["positions"] == REACHED
    assert book["positions_from_elsewhere"] == {"SOL": 5.0}

    again = CliRunner().invoke(app, [*args, *PRICES, "--json"])

    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    # Its plan ran to its end: planned afresh from the book, already on target.
    assert not report["resumed"] and [row["orders"] for row in report["symbols"]] == [[], []]
    assert json.loads((tmp_path / "book.json").read_text())["positions"] == REACHED


@pytest.mark.parametrize(("save", "saved"), [(1, {"SOL": 5.0}), (2, {"SOL": 5.0, "BTC": 0.1}), (3, REACHED)])
def test_a_rebalance_killed_on_a_book_holding_positions_from_elsewhere_is_resumed(
    tmp_path: Path, save: int, saved: dict[str, float]
) -> None:
    """Killed at the save after a leg (its fill in the log only; 1: the book on disk is the one
    the run started from) or at the run's last save."""
    args = holding_sol(tmp_path)
    killed_at_save(args, save)
    assert json.loads((tmp_path / "book.json").read_text())["positions"] == saved

    rerun = CliRunner().invoke(app, [*args, *PRICES, "--json"])

    assert rerun.exit_code == 0, rerun.stderr
    assert json.loads((tmp_path / "book.json").read_text())["positions"] == REACHED


def test_a_book_apart_from_the_log_where_the_plan_trades_is_refused_before_reconciliation(
    tmp_path: Path,
) -> None:
    args = holding_sol(tmp_path)
    killed_at_save(args, 2)  # the plan written, its report not: resumed by a rerun
    book_path = tmp_path / "book.json"
    book = json.loads(book_path.read_text())
    book["positions"]["BTC"] = 0.05
    book_path.write_text(json.dumps(book))
    seq = log_end(tmp_path)

    rerun = CliRunner().invoke(app, [*args, *PRICES])

    assert rerun.exit_code == 1, rerun.output
    assert rerun.stderr.endswith(
        "error: cannot plan the rebalance, nothing sent: the plan written for these targets is not "
        "resumed on a paper book the kernel's log does not explain (BTC: the paper venue holds 0.05, the "
        "kernel's log 0.1): its legs sent before would count as filled; give the --paper-book saved with "
        "this log, or a new --state-dir to plan afresh from the book as it is\n"
    )
    assert log_end(tmp_path) == seq
    assert json.loads(book_path.read_text()) == book


def test_a_position_from_elsewhere_changed_since_the_save_is_said_and_the_plan_resumed(
    tmp_path: Path,
) -> None:
    """SOL, which the plan does not trade, cannot put the resumed plan off its target."""
    args = holding_sol(tmp_path)
    killed_at_save(args, 2)
    book_path = tmp_path / "book.json"
    book = json.loads(book_path.read_text())
    book["positions"]["SOL"] = 3.0
    book_path.write_text(json.dumps(book))

    rerun = CliRunner().invoke(app, [*args, *PRICES, "--json"])

    assert rerun.exit_code == 0, rerun.stderr
    assert json.loads(rerun.stdout)["resumed"]
    said = (
        "warning: SOL: the paper venue holds 3.0, the kernel's log 0.0 and 5.0 from elsewhere: the log "
        "does not explain it, but the plan resumed does not trade it"
    )
    assert rerun.stderr.count(said) == 1
    assert json.loads(book_path.read_text())["positions"] == {**REACHED, "SOL": 3.0}


def test_a_book_saved_before_positions_from_elsewhere_is_resumed_on_where_the_plan_trades_what_the_log_says(
    tmp_path: Path,
) -> None:
    """Such a book is taken as holding nothing from elsewhere: the SOL it holds, which the plan does
    not trade, is said only."""
    args = holding_sol(tmp_path)
    killed_at_save(args, 2)
    book_path = tmp_path / "book.json"
    book = json.loads(book_path.read_text())
    del book["positions_from_elsewhere"]
    book_path.write_text(json.dumps(book))

    rerun = CliRunner().invoke(app, [*args, *PRICES, "--json"])

    assert rerun.exit_code == 0, rerun.stderr
    assert json.loads(rerun.stdout)["resumed"]
    assert (
        "warning: SOL: the paper venue holds 5.0, the kernel's log 0.0: the log does not explain it"
        in rerun.stderr
    )
    assert "SOL: the venue holds 5.0, the kernel's trades 0.0" in json.loads(rerun.stdout)["warnings"][0]
    assert json.loads(book_path.read_text())["positions"] == REACHED
