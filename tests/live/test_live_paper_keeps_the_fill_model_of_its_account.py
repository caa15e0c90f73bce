"""A paper ``dita live`` run continuing its kernel keeps the fill model its state file records,
as `dita paper` does: a `[paper]` fee_rate or balance edited between two runs (the fees would
change part-way, the balance is the log's) is refused naming the key and the recorded value,
before anything is written to the log; left out, the recorded one is taken."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer
from paper_runs import run_file

from dita.cli.live_run import LiveRun
from dita.live.config import ConfigError, load_config

TABLE = """
[[strategies]]
strategy = "dita.examples.crossover:SmaCrossover"
params = { fast = 1, slow = 2, trade_size = 0.01 }
"""


def _run(tmp_path: Path, exchange: BinanceStreamServer, paper: str) -> LiveRun:
    path = tmp_path / "run.toml"
    path.write_text(run_file("kept", tmp_path / "state", exchange.url, TABLE) + f"[paper]\n{paper}\n")
    return LiveRun(load_config(path), path, print)


def log_files(wal_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(wal_dir.iterdir()) if p.name != "LOCK"}


@pytest.mark.parametrize(
    ("edited", "refused"),
    [
        ("fee_rate = 0.05", "paper.fee_rate 0.05 differs from the fee_rate 0.002"),
        ("balance = 50000", "paper.balance 50000 differs from the balance 20000"),
    ],
)
def test_a_fill_model_edited_between_runs_is_refused_naming_the_key(
    tmp_path: Path, exchange: BinanceStreamServer, edited: str, refused: str
) -> None:
    run = _run(tmp_path, exchange, "fee_rate = 0.002\nbalance = 20000")
    try:
        run.start()
        time.sleep(1.0)
    finally:
        run.stop()
        run.close()
    wal_dir = tmp_path / "state" / "wal" / "kept"
    before = log_files(wal_dir)

    with pytest.raises(ConfigError) as error:
        _run(tmp_path, exchange, edited)
    assert any(p.startswith(refused) for p in error.value.problems), error.value.problems
    assert "a continued account keeps its fill model" in str(error.value)
    assert "or start a new account with another kernel_id" in str(error.value)
    assert log_files(wal_dir) == before

    # Left out, the account's own are taken; given alike, they are not a change.
    for paper in ("", "fee_rate = 0.002\nbalance = 20000"):
        run = _run(tmp_path, exchange, paper)
        try:
            assert run.continued
            assert run.kernel.exchange_config()["taker_rate"] == 0.002
            assert run.session.fill_model.balance == 20000
        finally:
            run.close()
