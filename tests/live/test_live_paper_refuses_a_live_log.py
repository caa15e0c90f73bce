"""A file run in mode live, then switched back to paper under the same kernel_id and state_dir:
the paper start would continue the live kernel's log, writing paper fees and orders into the live
account's log, and the next live start would refuse that log as the paper run's, stranding the
real position. The paper start (``dita live`` in paper, and ``dita paper --wal-dir``) refuses the
live log before writing anything, naming it; the live run then goes on with its log."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer
from live_process import archived_log, ended, get, halted_by_operator, traded_then_stopped, wait_for
from test_live_run_resumes import start, write_config

from dita import ExecutionKernel
from dita.cli.log_label import LabelUnread
from dita.cli.paper_session import live_label
from dita.services.hazelcast import free_port


def log_files(wal_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(wal_dir.iterdir()) if p.name != "LOCK"}


@pytest.mark.parametrize("relabelled", [False, True], ids=["labelled LIVE", "HALTED since"])
def test_a_paper_start_on_the_log_of_a_live_run_is_refused_and_writes_nothing(
    exchange: BinanceStreamServer, tmp_path: Path, relabelled: bool
) -> None:
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, exchange, port)
    live_text = config.read_text()
    log = tmp_path / "run.log"
    traded_then_stopped(config, log, gateway, "a live position", 90)
    wal_dir = tmp_path / "state" / "wal" / "e2e-live"
    if relabelled:
        # An operator's HALTED since (or the dead-man switch's): the label no longer says LIVE.
        halted_by_operator(wal_dir, "e2e-live")
    before = log_files(wal_dir)
    orders = dict(exchange.orders)

    config.write_text(live_text.replace('mode = "live"', 'mode = "paper"'))
    paper_log = tmp_path / "paper.log"
    run = start(config, paper_log)
    try:
        assert run.wait(60) == 1, paper_log.read_text()
    finally:
        ended(run)
    said = paper_log.read_text()
    assert f"the write-ahead log in {wal_dir} holds the live run of kernel 'e2e-live'" in said, said
    assert ("when the log began, HALTED by operator since" in said) == relabelled, said
    assert "give the paper run another kernel_id or state_dir" in said and "Traceback" not in said, said
    assert log_files(wal_dir) == before

    replay = subprocess.run(
        [
            sys.executable, "-c", "from dita.cli import main; main()", "paper",
            "--strategy", "dita.examples.crossover:SmaCrossover", "--data", "sample", "--max-speed",
            "--kernel-id", "e2e-live", "--wal-dir", str(wal_dir), "--state-dir", str(tmp_path / "other"),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert replay.returncode == 2, replay.stdout + replay.stderr
    assert f"the write-ahead log in {wal_dir} holds the live run" in replay.stderr, replay.stderr
    assert "another --kernel-id and --wal-dir" in replay.stderr, replay.stderr
    assert log_files(wal_dir) == before
    assert exchange.orders == orders

    # The live run continues its log, as the live kernel's.
    config.write_text(live_text)
    live_again = tmp_path / "live-again.log"
    run = start(config, live_again)
    try:
        wait_for("the live run back", lambda: get(gateway, "/v1/account"), 60, live_again, run)
        run.send_signal(signal.SIGINT)
        assert run.wait(30) == 0, live_again.read_text()
    finally:
        ended(run)
    assert "continued from the write-ahead log" in live_again.read_text()
    assert "holds the paper run" not in live_again.read_text()


def dita_paper_on(wal_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-c", "from dita.cli import main; main()", "paper",
            "--strategy", "dita.examples.crossover:SmaCrossover", "--data", "sample", "--max-speed",
            "--kernel-id", "acct", "--wal-dir", str(wal_dir), "--state-dir", str(tmp_path / "st"),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_dita_paper_refuses_a_live_log_whose_start_is_archived_by_its_oldest_checkpoint_kept(
    tmp_path: Path,
) -> None:
    wal_dir = tmp_path / "wal"
    archived_log(wal_dir, "acct", "LIVE", "dita-live")
    before = log_files(wal_dir)
    run = dita_paper_on(wal_dir, tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"the write-ahead log in {wal_dir} holds the live run of kernel 'acct'" in run.stderr, run.stderr
    assert "labelled LIVE by dita-live at its oldest checkpoint kept" in run.stderr, run.stderr
    assert "HALTED by operator since" in run.stderr, run.stderr
    assert log_files(wal_dir) == before


def test_dita_paper_refuses_a_log_whose_start_is_archived_and_whose_rest_does_not_say_how_it_ran(
    tmp_path: Path,
) -> None:
    wal_dir = tmp_path / "wal"
    archived_log(wal_dir, "acct", "LIVE", "dita-live", told_since=False)
    before = log_files(wal_dir)
    run = dita_paper_on(wal_dir, tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    said = run.stderr
    assert f"the write-ahead log in {wal_dir} of kernel 'acct' cannot be told from a live run's" in said, said
    assert "its first records cannot be read" in said and "HALTED by operator" in said, said
    assert f"Put its archived segments back in {wal_dir}" in said and "Traceback" not in said, said
    assert log_files(wal_dir) == before


@pytest.mark.parametrize(
    "told_since", [True, False], ids=["told by what is kept", "labelled since by dita-paper"]
)
def test_a_paper_log_whose_start_is_archived_is_not_taken_for_a_live_one(
    tmp_path: Path, told_since: bool
) -> None:
    wal_dir = tmp_path / "wal"
    archived_log(wal_dir, "acct", "PAPER", "dita-paper", told_since=told_since)
    with ExecutionKernel(kernel_id="acct", wal_dir=str(wal_dir)) as kernel:
        if told_since:
            assert live_label(kernel) is None
        else:
            with pytest.raises(LabelUnread):
                live_label(kernel)  # HALTED by the operator last: cannot be told
            kernel.update_control(mode="HALTED", source="dita-paper")  # a paper run's label last
            assert live_label(kernel) is None
