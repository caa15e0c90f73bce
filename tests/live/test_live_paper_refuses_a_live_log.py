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
from live_process import ended, get, halted_by_operator, traded_then_stopped, wait_for
from test_live_run_resumes import start, write_config

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
