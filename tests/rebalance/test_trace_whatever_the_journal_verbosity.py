"""`dita audit trace` rebuilds the journal's rows from the log, and a kernel journals intents
and the orders they send only at NORMAL verbosity or above, with its journal switched on. The
spans of the log that ran otherwise are named, and the trace fails, instead of listing no
fills and saying the chain is OK."""

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
from dita.rebalance import UntracedSpan, trace_source_run


def _log(wal: Path, control: dict[str, Any]) -> tuple[int, int]:
    """Three filled entries of run-42, the second sent under ``control``; the seqs of the
    control records that set it and set it back."""
    venue = MockVenueAdapter(seed=1, fill_rate=1.0)
    with ExecutionKernel(
        max_slots=4, kernel_id="rb", wal_dir=str(wal), venue=venue, seed_capital=1e6
    ) as kernel:

        def enter(n: int) -> None:
            intent = KernelIntent(
                f"i{n}", f"t{n}", n, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0,
                metadata={"source_run": "run-42"}, timestamp=1.8e9 + n,
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
    ("control", "why"),
    [
        ({"verbosity": "QUIET"}, "verbosity QUIET"),
        ({"debug_clickhouse_enabled": False}, "debug_clickhouse_enabled off"),
    ],
)
def test_a_span_journaled_without_intents_is_named_and_fails_the_trace(
    tmp_path: Path, control: dict[str, Any], why: str
) -> None:
    wal = tmp_path / "wal"
    changed, back = _log(wal, control)
    report, fills = trace_source_run(wal, "run-42")
    assert [f.intent_id for f in fills] == ["i1", "i3"]
    assert report["untraced"] == [UntracedSpan(changed, back - 1, why)]

    said = (
        f"the kernel journaled no intents over seq {changed}-{back - 1} ({why}): the orders sent "
        "there are not known, so their fills are not listed"
    )
    shown = CliRunner().invoke(app, ["audit", "trace", "run-42", "--wal-dir", str(wal)])
    assert shown.exit_code == 1, shown.output
    assert shown.stderr == f"TRACE INCOMPLETE: {said}\n"
    assert "i1" in shown.stdout and "i3" in shown.stdout
    as_json = CliRunner().invoke(app, ["audit", "trace", "run-42", "--wal-dir", str(wal), "--json"])
    assert as_json.exit_code == 1, as_json.output
    answer = json.loads(as_json.stdout)
    assert (answer["ok"], answer["error"]) == (False, said)
    assert answer["untraced"] == [{"first_seq": changed, "last_seq": back - 1, "why": why}]
    assert [f["intent_id"] for f in answer["fills"]] == ["i1", "i3"]


def test_a_kernel_at_debug_verbosity_is_traced_whole(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    _log(wal, {"verbosity": "DEBUG"})
    report, fills = trace_source_run(wal, "run-42")
    assert [f.intent_id for f in fills] == ["i1", "i2", "i3"] and report["untraced"] == []
    done = CliRunner().invoke(app, ["audit", "trace", "run-42", "--wal-dir", str(wal), "--json"])
    assert done.exit_code == 0 and json.loads(done.stdout)["ok"], done.output


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
