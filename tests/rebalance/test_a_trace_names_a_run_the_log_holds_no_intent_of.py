"""`dita audit trace SOURCE_RUN`: a blank run id (an unset "$RUN") is refused, as no intent can
carry one, and a run the log holds no intent of (a typo) is said, not shown as a run whose
intents made no fill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter
from dita.cli import app


@pytest.fixture(scope="module")
def wal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """run-5: one filled entry; run-6: one entry the kernel refused (its size past the bounds)."""
    wal = tmp_path_factory.mktemp("trace") / "wal"
    venue = MockVenueAdapter(seed=1, fill_rate=1.0)
    with ExecutionKernel(
        max_slots=4, kernel_id="rb", wal_dir=str(wal), venue=venue, seed_capital=1e6
    ) as kernel:
        for n, run, size in ((1, "run-5", 1.0), (2, "run-6", 1e308)):
            intent = KernelIntent(
                f"i{n}", f"t{n}", n, "BTCUSDT", "LONG", "ENTER", 100.0, size,
                metadata={"source_run": run}, timestamp=1.8e9 + n,
            )  # fmt: skip
            assert kernel.process_intent(intent).accepted is (run == "run-5")
    return wal


def _trace(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, ["audit", "trace", *args])
    return done.exit_code, done.stdout, done.stderr


@pytest.mark.parametrize("run", ["", "  "])
def test_a_blank_source_run_is_refused_naming_it(wal: Path, run: str) -> None:
    code, out, err = _trace(run, "--wal-dir", str(wal))
    assert code == 2 and out == "", (code, out, err)
    assert f"error: SOURCE_RUN must be a research run's id (non-empty text), got {run!r}" in err


def test_a_run_the_log_holds_no_intent_of_is_said(wal: Path) -> None:
    code, out, err = _trace("run-typo", "--wal-dir", str(wal))
    assert code == 0, err
    assert out.startswith("no intent of run 'run-typo' in this log (chain OK, head "), out
    code, out, _ = _trace("run-typo", "--wal-dir", str(wal), "--json")
    answer = json.loads(out)
    assert code == 0 and answer["intents"] == 0 and answer["fills"] == []


def test_a_run_whose_intents_made_no_fill_is_told_from_one_the_log_holds_none_of(wal: Path) -> None:
    code, out, _ = _trace("run-6", "--wal-dir", str(wal), "--json")
    answer = json.loads(out)
    assert code == 0 and answer["intents"] == 1 and answer["fills"] == []
    code, out, _ = _trace("run-6", "--wal-dir", str(wal))
    assert code == 0 and "fills of run-6 (chain OK" in out and "no intent" not in out
    code, out, _ = _trace("run-5", "--wal-dir", str(wal), "--json")
    answer = json.loads(out)
    assert answer["intents"] == 1 and [f["intent_id"] for f in answer["fills"]] == ["i1"]
