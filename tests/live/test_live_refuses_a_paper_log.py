"""The going-live guide runs one file in mode paper, then switches it to live: under the same
kernel_id and state_dir the live start continued the paper run's log, so real orders went out on
the paper book and capital, under a kernel labelled PAPER. The live start refuses that log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer
from live_process import archived_log, halted_by_operator, refused_start, traded_then_stopped
from test_live_run_resumes import write_config

from dita.services.hazelcast import free_port


@pytest.mark.parametrize("relabelled", [False, True], ids=["labelled PAPER", "HALTED since"])
def test_a_live_start_on_the_log_of_the_paper_run_is_refused_and_sends_nothing(
    exchange: BinanceStreamServer, tmp_path: Path, relabelled: bool
) -> None:
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, exchange, port)
    live_text = config.read_text()
    config.write_text(live_text.replace('mode = "live"', 'mode = "paper"'))
    log = tmp_path / "run.log"
    traded_then_stopped(config, log, gateway, "a paper trade", 60)
    wal_dir = tmp_path / "state" / "wal" / "e2e-live"
    if relabelled:
        # An operator's HALTED since: the label no longer says PAPER; the paper state file does.
        halted_by_operator(wal_dir, "e2e-live")
    config.write_text(live_text)
    said = refused_start(config, log)
    assert f"the write-ahead log in {wal_dir} holds the paper run of kernel_id 'e2e-live'" in said, said
    assert ("paper state file" in said) == relabelled, said
    assert "Traceback" not in said
    assert exchange.orders == {}


def test_a_live_start_on_a_paper_log_halted_since_with_its_state_file_elsewhere_is_refused(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    # `dita paper --wal-dir` on the file's log, its state file in another --state-dir, halted by an
    # operator since: neither the label nor the live run's state_dir tells; the log's first label does.
    wal_dir = tmp_path / "state" / "wal" / "e2e-live"
    paper = subprocess.run(
        [
            sys.executable, "-c", "from dita.cli import main; main()", "paper",
            "--strategy", "dita.examples.crossover:SmaCrossover", "--data", "sample", "--max-speed",
            "--max-slots", "10", "--kernel-id", "e2e-live", "--wal-dir", str(wal_dir),
            "--state-dir", str(tmp_path / "paper-state"),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert paper.returncode == 0, paper.stderr
    halted_by_operator(wal_dir, "e2e-live")
    config = write_config(tmp_path, exchange, free_port())
    log = tmp_path / "run.log"
    said = refused_start(config, log)
    assert f"the write-ahead log in {wal_dir} holds the paper run of kernel_id 'e2e-live'" in said, said
    assert "labelled PAPER by dita-paper when the log began, HALTED by operator since" in said, said
    assert "Traceback" not in said
    assert exchange.orders == {}


@pytest.mark.parametrize("told_since", [True, False], ids=["told by what is kept", "not told"])
def test_a_live_start_on_a_paper_log_whose_start_is_archived_is_refused(
    exchange: BinanceStreamServer, tmp_path: Path, told_since: bool
) -> None:
    wal_dir = tmp_path / "state" / "wal" / "e2e-live"
    archived_log(wal_dir, "e2e-live", "PAPER", "dita-paper", told_since=told_since)
    config = write_config(tmp_path, exchange, free_port())
    log = tmp_path / "run.log"
    said = refused_start(config, log)
    if told_since:
        assert f"the write-ahead log in {wal_dir} holds the paper run of kernel_id 'e2e-live'" in said, said
        assert "labelled PAPER by dita-paper at its oldest checkpoint kept" in said, said
    else:
        assert (
            f"the write-ahead log in {wal_dir} of kernel_id 'e2e-live' cannot be told from a paper run's"
            in said
        )
        assert f"Put its archived segments back in {wal_dir}" in said, said
    assert "Traceback" not in said
    assert exchange.orders == {}
