"""dita rebalance --paper-book after a stop that was not clean: the book saved at the log's last
record goes with the log; the open's own record of the client order ids it skips is no record
after the save, and nothing is caught up over it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from crashed_log import remove_the_clean_stop
from dita._kernel import wal_replay
from dita.cli import app

TARGETS = {
    "source_run": "run-k",
    "generated_at": "2026-11-28T09:00:00Z",
    "targets": [{"symbol": "BTC", "quantity": 0.1}, {"symbol": "ETH", "quantity": 1.0}],
}
PRICES = ["--price", "BTC=50000", "--price", "ETH=2000", "--balance", "100000"]


def test_a_book_saved_at_the_logs_end_needs_no_catching_up_after_an_unclean_stop(tmp_path: Path) -> None:
    targets, state, book = tmp_path / "t.json", tmp_path / "s", tmp_path / "book.json"
    targets.write_text(json.dumps(TARGETS))
    args = ["rebalance", "--targets", str(targets), "--state-dir", str(state), "--paper-book", str(book)]
    first = CliRunner().invoke(app, [*args, *PRICES])
    assert first.exit_code == 0, first.output
    saved = json.loads(book.read_text())["kernel_seq"]
    assert saved == wal_replay(state / "wal")[0].seq  # the book goes with the log's last record
    # The process killed after its last save (its close never ran): no clean-stop file.
    remove_the_clean_stop(state / "wal")

    rerun = CliRunner().invoke(app, [*args, *PRICES])

    assert rerun.exit_code == 0, rerun.output
    assert "caught up the paper venue" not in rerun.stderr, rerun.stderr
    assert "before the end of the write-ahead log" not in rerun.stderr, rerun.stderr
