"""``dita rebalance --watch`` on a kernel recovered from its log: the positions its opening
reconciliation found apart are said in the first version's report, not again, with the figures
of then, in each later version's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dita.cli.rebalance as cli_rebalance
from dita.cli import app
from dita.venues.paper import PaperVenue

PRICES = ["--price", "BTC=50000", "--balance", "100000"]


def version(path: Path, run: str, qty: float) -> None:
    body = {
        "source_run": run,
        "generated_at": "2026-11-28T09:00:00Z",
        "targets": [{"symbol": "BTC", "quantity": qty}],
    }
    path.write_text(json.dumps(body))


def test_only_the_first_versions_report_says_the_opening_reconciliation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets, state, book = tmp_path / "t.json", tmp_path / "s", tmp_path / "book.json"
    args = ["rebalance", "--targets", str(targets), "--state-dir", str(state), "--paper-book", str(book)]
    version(targets, "run-1", 0.1)
    assert CliRunner().invoke(app, [*args, *PRICES]).exit_code == 0
    # A book apart from the log: 0.05 BTC where the log bought 0.1.
    saved = json.loads(book.read_text())
    apart = PaperVenue(starting_balance=100_000).book()
    apart.update(positions={"BTC": 0.05}, cash=97_500.0, kernel_seq=saved["kernel_seq"])
    book.write_text(json.dumps(apart))
    version(targets, "run-2", 0.3)
    looks = 0

    def sleep(_seconds: float) -> None:
        nonlocal looks
        looks += 1
        if looks == 1:
            version(targets, "run-3", 0.5)
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_rebalance.time, "sleep", sleep)

    watched = CliRunner().invoke(app, [*args, *PRICES, "--json", "--watch"])

    assert watched.exit_code == 0, watched.output
    reports = [json.loads(line) for line in watched.stdout.splitlines() if line.startswith("{")]
    assert [r["source_run"] for r in reports] == ["run-2", "run-3"]
    said = (
        "BTC: the venue holds 0.05, the kernel's trades 0.1 (reconciliation found them apart: the "
        "account is not what the kernel's log says)"
    )
    assert reports[0]["warnings"] == [said]
    assert reports[1]["warnings"] == []
    assert json.loads(book.read_text())["positions"] == {"BTC": pytest.approx(0.5)}
