"""``dita shadow`` says how far it is (a million rounds take minutes) and, stopped by Ctrl-C,
how far it got, with exit status 130 and no report of a part of the run."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

import dita.cli.shadow as shadow_cli
import dita.shadow
from dita.cli import app
from dita.shadow import ShadowSettings, run_shadow


def without_clock(report: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(report)
    del out["runtime"]["utc"]
    return out


def test_run_shadow_reports_each_round_done() -> None:
    rounds: list[int] = []
    settings = ShadowSettings(symbols=["BTCUSDT", "ETHUSDT"], iterations=4)
    report = run_shadow(settings, progress=rounds.append)
    assert rounds == [1, 2, 3, 4]
    assert report == run_shadow(settings) | {"runtime": report["runtime"]}


def test_a_shadow_run_not_on_a_terminal_prints_progress_lines_on_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shadow_cli, "PROGRESS_BAR_SECONDS", 0.0)
    monkeypatch.setattr(shadow_cli, "PROGRESS_LINE_SECONDS", 0.0)
    result = CliRunner().invoke(app, ["shadow", "--symbols", "BTCUSDT", "--iterations", "3"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "shadow: 1 of 3 rounds (33%)",
        "shadow: 2 of 3 rounds (67%)",
        "shadow: 3 of 3 rounds (100%)",
    ]
    quiet = CliRunner().invoke(app, ["shadow", "--symbols", "BTCUSDT", "--iterations", "3", "--no-progress"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert without_clock(quiet.stdout) == without_clock(result.stdout)


def test_ctrl_c_in_a_shadow_run_says_how_far_it_got_and_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shadow_cli, "PROGRESS_BAR_SECONDS", 0.0)

    def interrupted(settings: ShadowSettings, *, progress: Any, checking: Any) -> dict[str, Any]:
        progress(1)
        progress(2)
        raise KeyboardInterrupt

    monkeypatch.setattr(dita.shadow, "run_shadow", interrupted)
    result = CliRunner().invoke(app, ["shadow", "--symbols", "BTCUSDT", "--no-progress"])
    assert result.exit_code == 130
    assert result.stdout == ""
    assert result.stderr == "shadow: interrupted after 2 of 50 rounds; no report\n"


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_sigterm_stops_a_shadow_run_as_ctrl_c_does(signame: str) -> None:
    """A supervisor stops a service with SIGTERM: the run ended by the signal, exit status -15
    and not a word, where Ctrl-C says how far it got and exits 130. Both now end alike."""
    script = "import dita.cli.shadow as s; s.PROGRESS_LINE_SECONDS = 0.1; from dita.cli import main; main()"
    # Half a minute of rounds, still running at the signal (a million took 10 s to set up).
    args = ["shadow", "--symbols", "BTCUSDT", "--iterations", "100000"]
    with subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stderr is not None
            first = proc.stderr.readline()  # the run is under way: the handlers are in place
            assert first.startswith("shadow: "), first
            proc.send_signal(getattr(signal, signame))
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, (proc.returncode, err)
    assert out == ""
    last = err.splitlines()[-1]
    assert re.fullmatch(r"shadow: interrupted after [\d,]+ of 100,000 rounds; no report", last), err


def test_the_first_read_of_a_long_feed_says_how_far_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before its first round a run reads the whole feed for each symbol's lowest price: a
    million rounds took about 10 s with not a word (no bar, no line, at a service's stop no
    round to name). The read now reports its rounds, every CHECK_STEP, before the run's own."""
    checked: list[int] = []
    settings = ShadowSettings(symbols=["BTCUSDT", "ETHUSDT"], iterations=2_500)
    run_shadow(settings, checking=checked.append)
    assert checked == [1_000, 2_000]
    monkeypatch.setattr(shadow_cli, "PROGRESS_BAR_SECONDS", 0.0)
    monkeypatch.setattr(shadow_cli, "PROGRESS_LINE_SECONDS", 0.0)
    result = CliRunner().invoke(app, ["shadow", "--symbols", "BTCUSDT", "--iterations", "2500"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        "shadow: reading the feed's prices: 1,000 of 2,500 rounds (40%)",
        "shadow: reading the feed's prices: 2,000 of 2,500 rounds (80%)",
    ], lines[:3]
    assert lines[2] == "shadow: 1 of 2,500 rounds (0%)"
    # Then what the kernel refused (the edge freezes, and any other refusal's warning).
    assert lines[lines.index("shadow: 2,500 of 2,500 rounds (100%)") + 1].startswith("shadow: edge froze ")
