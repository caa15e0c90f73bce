"""`dita audit trace` rebuilds the journal's rows from the log, and a kernel journals intents
and the orders they send only at NORMAL verbosity or above, with its journal switched on. The
trace's replay journals every intent whatever the log's control said, so an order sent at
QUIET or with the journal switched off has its fills listed too."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter
from dita.cli import app
from dita.rebalance import trace_source_run


def _log(wal: Path, control: dict[str, Any], run: str = "run-42") -> tuple[int, int]:
    """Three filled entries of ``run``, the second sent under ``control``; the seqs of the
    control records that set it and set it back."""
    venue = MockVenueAdapter(seed=1, fill_rate=1.0)
    with ExecutionKernel(
        max_slots=4, kernel_id="rb", wal_dir=str(wal), venue=venue, seed_capital=1e6
    ) as kernel:

        def enter(n: int) -> None:
            intent = KernelIntent(
                f"i{n}", f"t{n}", n, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0,
                metadata={"source_run": run}, timestamp=1.8e9 + n,
            )  # fmt: skip
            assert kernel.process_intent(intent).accepted

        enter(1)
        kernel.update_control(source="ops", **control)
        changed = kernel.seq
        enter(2)
        kernel.update_control(source="ops", verbosity="NORMAL", debug_clickhouse_enabled=True)
        back = kernel.seq
        enter(3)
    return changed, back


@pytest.mark.parametrize(
    "control", [{"verbosity": "QUIET"}, {"debug_clickhouse_enabled": False}, {"verbosity": "DEBUG"}]
)
def test_every_fill_of_the_run_is_listed_whatever_the_journal_was_told(
    tmp_path: Path, control: dict[str, Any]
) -> None:
    wal = tmp_path / "wal"
    _log(wal, control)
    _report, fills = trace_source_run(wal, "run-42")
    assert [f.intent_id for f in fills] == ["i1", "i2", "i3"]
    shown = CliRunner().invoke(app, ["audit", "trace", "run-42", "--wal-dir", str(wal), "--json"])
    assert shown.exit_code == 0, shown.output
    answer = json.loads(shown.stdout)
    assert answer["ok"] is True and [f["intent_id"] for f in answer["fills"]] == ["i1", "i2", "i3"]


def test_a_long_trace_says_it_is_still_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Off a terminal a line every PROGRESS_LINE_SECONDS, as `audit verify` says it; the answer
    on stdout is what a quick run prints."""
    from dita.cli import rebalance as cli_rebalance

    wal = tmp_path / "wal"
    _log(wal, {"verbosity": "DEBUG"})
    args = ["audit", "trace", "run-42", "--wal-dir", str(wal), "--json"]
    quick = CliRunner().invoke(app, args)
    assert quick.exit_code == 0 and quick.stderr == "", quick.output

    def slow(*given: Any) -> Any:
        time.sleep(0.7)
        return trace_source_run(*given)

    monkeypatch.setattr(cli_rebalance, "trace_source_run", slow)
    monkeypatch.setattr(cli_rebalance, "PROGRESS_LINE_SECONDS", 0.2)
    told = CliRunner().invoke(app, args)
    assert told.exit_code == 0, told.output
    said = re.escape(f"tracing run-42 through the write-ahead log {wal}") + r": still running after \d+ s"
    lines = told.stderr.splitlines()
    assert len(lines) >= 2 and all(re.fullmatch(said, line) for line in lines), told.stderr
    assert told.stdout == quick.stdout


def test_a_run_whose_name_json_escapes_is_traced(tmp_path: Path) -> None:
    """The journal holds metadata as JSON: a name with a quote, a backslash or a tab reads
    escaped there, and must still be found."""
    wal = tmp_path / "wal"
    run = 'run "7"\\\tb'
    _log(wal, {"verbosity": "NORMAL"}, run=run)
    _report, fills = trace_source_run(wal, run)
    assert [f.intent_id for f in fills] == ["i1", "i2", "i3"]
