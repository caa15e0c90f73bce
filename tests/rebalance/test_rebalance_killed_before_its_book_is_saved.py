"""``dita rebalance --paper-book`` killed after a leg filled and before the book was saved, then
run again: the book is brought forward from the kernel's log, so the account reaches its target;
a book the log cannot explain is refused, before reconciliation, and its plan not resumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

import dita.cli.rebalance as cli_rebalance
from dita._kernel import wal_replay
from dita.cli import app
from dita.venues.paper import PaperVenue

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {
    "source_run": "run-k",
    "generated_at": "2026-11-28T09:00:00Z",
    "targets": [{"symbol": "BTC", "quantity": 0.1}, {"symbol": "ETH", "quantity": 1.0}],
}
PRICES = ["--price", "BTC=50000", "--price", "ETH=2000", "--balance", "100000"]


def rebalance_args(tmp_path: Path) -> list[str]:
    targets, state, book = tmp_path / "t.json", tmp_path / "s", tmp_path / "book.json"
    targets.write_text(json.dumps(TARGETS))
    return ["rebalance", "--targets", str(targets), "--state-dir", str(state), "--paper-book", str(book)]


def killed_at_save(args: list[str], save: int = 1) -> None:
    """The rebalance of ``args`` killed at its ``save``-th save of the book (after leg ``save``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    script = Path(__file__).with_name("killed_before_book_saved.py")
    killed = subprocess.run(
        [sys.executable, str(script), str(save), *args, *PRICES],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 9, killed.stderr


@pytest.mark.parametrize(("save", "saved_positions"), [(1, None), (2, {"BTC": 0.1})])
def test_a_rebalance_killed_before_its_book_is_saved_reaches_its_target_rerun(
    tmp_path: Path, save: int, saved_positions: dict[str, float] | None
) -> None:
    args = rebalance_args(tmp_path)
    killed_at_save(args, save)
    book_path = tmp_path / "book.json"
    # The last leg sent filled, in the log only.
    saved = json.loads(book_path.read_text())["positions"] if book_path.exists() else None
    assert saved == saved_positions

    rerun = CliRunner().invoke(app, [*args, *PRICES, "--json"])

    assert rerun.exit_code == 0, rerun.output
    book = json.loads((tmp_path / "book.json").read_text())
    assert book["positions"] == {"BTC": 0.1, "ETH": 1.0}
    assert book["cash"] == pytest.approx(100_000 - 0.1 * 50_000 - 1.0 * 2_000 - book["fees_paid"])
    report = json.loads(rerun.stdout)
    assert report["resumed"]
    assert [(s["symbol"], s["filled"], s["position_after"]) for s in report["symbols"]] == [
        ("BTC", 0.1, 0.1),
        ("ETH", 1.0, 1.0),
    ]
    assert report["warnings"] == []
    assert "caught up the paper venue with the write-ahead log: 1 fill and 0 working orders" in rerun.stderr


def a_book_the_log_cannot_explain(tmp_path: Path, **fields: object) -> Path:
    """A book saved at the log's last seq that holds 0.05 BTC where the kernel's log bought 0.1:
    no record of the log comes after it, so nothing brings it forward. Without ``fields``, as
    saved before ``positions_from_elsewhere``: holding nothing from elsewhere."""
    kernel, _recovery = wal_replay(tmp_path / "s" / "wal")
    book = PaperVenue(starting_balance=100_000).book()
    book.update(positions={"BTC": 0.05}, cash=97_500.0, kernel_seq=kernel.seq, **fields)
    path = tmp_path / "book.json"
    path.write_text(json.dumps(book))
    return path


@pytest.mark.parametrize(
    "fields", [{"positions_from_elsewhere": {}}, {}], ids=["saved", "saved-before-the-field"]
)
def test_a_book_the_log_cannot_explain_is_refused_before_reconciliation(
    tmp_path: Path, fields: dict[str, object]
) -> None:
    args = rebalance_args(tmp_path)
    killed_at_save(args)
    book = a_book_the_log_cannot_explain(tmp_path, **fields)
    saved = book.read_text()
    seq = wal_replay(tmp_path / "s" / "wal")[0].seq

    rerun = CliRunner().invoke(app, [*args, *PRICES])

    assert rerun.exit_code == 1, rerun.output
    assert "reconcile:" not in rerun.stderr
    assert wal_replay(tmp_path / "s" / "wal")[0].seq == seq  # nothing of the kernel's ended
    assert (
        "error: cannot plan the rebalance, nothing sent: the plan written for these targets is not "
        "resumed on a paper book the kernel's log does not explain (BTC: the paper venue holds 0.05, "
        "the kernel's log 0.1)"
    ) in rerun.stderr
    assert book.read_text() == saved  # ETH not bought
    assert not (tmp_path / "s" / "reports").exists()


def test_a_new_version_of_the_targets_on_such_a_book_says_it_in_its_report(tmp_path: Path) -> None:
    args = rebalance_args(tmp_path)
    killed_at_save(args)
    a_book_the_log_cannot_explain(tmp_path)
    (tmp_path / "t.json").write_text(json.dumps({**TARGETS, "source_run": "run-k2"}))

    rerun = CliRunner().invoke(app, [*args, *PRICES, "--json"])

    assert rerun.exit_code == 0, rerun.output
    apart = (
        "BTC: the venue holds 0.05, the kernel's trades 0.1 (reconciliation found them apart: the "
        "account is not what the kernel's log says)"
    )
    assert json.loads(rerun.stdout)["warnings"] == [apart]
    assert f"warning: {apart}" in rerun.stderr


def watched(monkeypatch: pytest.MonkeyPatch, args: list[str], *later: dict[str, object]) -> Result:
    """``args`` run with --watch, the targets file replaced by each of ``later`` at a look, and
    the watch interrupted at the look after them."""
    looks = 0

    def sleep(_seconds: float) -> None:
        nonlocal looks
        looks += 1
        if looks > len(later):
            raise KeyboardInterrupt
        Path(args[args.index("--targets") + 1]).write_text(json.dumps(later[looks - 1]))

    monkeypatch.setattr(cli_rebalance.time, "sleep", sleep)
    return CliRunner().invoke(app, [*args, *PRICES, "--json", "--watch"])


REFUSED = (
    "warning: cannot plan the rebalance, nothing sent: the plan written for these targets is not resumed "
    "on a paper book the kernel's log does not explain (BTC: the paper venue holds "
)


def test_a_watch_opening_on_a_plan_it_cannot_resume_says_so_and_follows_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = rebalance_args(tmp_path)
    killed_at_save(args)
    book = a_book_the_log_cannot_explain(tmp_path)

    result = watched(monkeypatch, args, {**TARGETS, "source_run": "run-k2"})

    assert result.exit_code == 0, result.output
    assert f"{REFUSED}0.05, the kernel's log 0.1)" in result.stderr
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["source_run"] for r in reports] == ["run-k2"]
    assert json.loads(book.read_text())["positions"] == {"BTC": pytest.approx(0.1), "ETH": pytest.approx(1.0)}


def test_a_later_version_whose_plan_was_left_unfinished_before_another_is_planned_afresh_under_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run-k killed, the watch opening on run-k2, then the file back to run-k: its plan, made
    before run-k2's, is not resumed (nor checked against the book) but planned afresh, from the
    account run-k2 left on the same targets: nothing to send."""
    args = rebalance_args(tmp_path)
    killed_at_save(args)
    a_book_the_log_cannot_explain(tmp_path)
    (tmp_path / "t.json").write_text(json.dumps({**TARGETS, "source_run": "run-k2"}))

    result = watched(monkeypatch, args, TARGETS)

    assert result.exit_code == 0, result.output
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(r["source_run"], r["resumed"]) for r in reports] == [("run-k2", False), ("run-k", False)]
    assert [s["orders"] for s in reports[1]["symbols"]] == [[], []]
    assert REFUSED not in result.stderr
    assert json.loads((tmp_path / "book.json").read_text())["positions"] == {"BTC": 0.1, "ETH": 1.0}


def test_a_watch_opening_on_a_finished_plan_follows_the_file_whatever_the_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished plan resumes nothing: a book edited since is no reason to refuse the watch."""
    args = rebalance_args(tmp_path)
    assert CliRunner().invoke(app, [*args, *PRICES]).exit_code == 0
    a_book_the_log_cannot_explain(tmp_path)

    result = watched(monkeypatch, args)

    assert result.exit_code == 0, result.output
    assert "cannot plan the rebalance" not in result.stderr


def test_a_book_prepared_by_hand_is_brought_forward_after_a_first_run_refused_before_sending(
    tmp_path: Path,
) -> None:
    """The first run, refused before sending, leaves a log (its mode change); the second is
    killed after its first leg filled, before the book's save: the book, which names no seq,
    was saved with the log as that plan went out, so the third brings the fill forward."""
    targets, book, state = tmp_path / "t.json", tmp_path / "book.json", tmp_path / "s"
    prepared = PaperVenue(starting_balance=10_000).book()
    prepared.update(positions={"BTC": -1.0})
    book.write_text(json.dumps(prepared))
    args = ["rebalance", "--targets", str(targets), "--state-dir", str(state), "--paper-book", str(book)]
    stamp = {"generated_at": "2026-11-28T09:00:00Z"}
    targets.write_text(
        json.dumps({**stamp, "source_run": "run-w", "targets": [{"symbol": "BTC", "weight": 0.5}]})
    )
    first = CliRunner().invoke(app, [*args, "--price", "BTC=50000"])
    assert first.exit_code == 1 and "equity -40000 is not above 0" in first.stderr, first.output
    quantity = {"symbol": "BTC", "quantity": -0.5}
    targets.write_text(json.dumps({**stamp, "source_run": "run-q", "targets": [quantity]}))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    script = Path(__file__).with_name("killed_before_book_saved.py")
    killed = subprocess.run(
        [sys.executable, str(script), "1", *args, "--price", "BTC=50000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 9, killed.stderr
    rerun = CliRunner().invoke(app, [*args, "--price", "BTC=50000", "--json"])
    assert rerun.exit_code == 0, rerun.output
    assert json.loads(book.read_text())["positions"] == {"BTC": -0.5}
