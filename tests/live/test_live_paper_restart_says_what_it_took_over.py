"""A paper ``dita live`` run continued on its log says what it took over, as `dita paper` does
(through the same ``_say_continued``): a torn last record the log's open cut (the input it held
is lost), a state file without the book the kernel's working orders were in."""

from __future__ import annotations

from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer
from paper_runs import run_file, started_until_a_trade_opens

from dita.cli.live_run import LiveRun
from dita.live.config import load_config

TABLE = """
[[strategies]]
strategy = "dita.examples.crossover:SmaCrossover"
params = { fast = 1, slow = 2, trade_size = 0.01 }
"""


def _run(tmp_path: Path, exchange: BinanceStreamServer, said: list[str]) -> LiveRun:
    path = tmp_path / "run.toml"
    path.write_text(run_file("took-over", tmp_path / "state", exchange.url, TABLE))
    return LiveRun(load_config(path), path, said.append)


@pytest.mark.parametrize("damage", ["torn last record", "state file gone"])
def test_a_restart_says_what_it_could_not_take_over(
    tmp_path: Path, exchange: BinanceStreamServer, damage: str
) -> None:
    said: list[str] = []
    run = _run(tmp_path, exchange, said)
    try:
        assert started_until_a_trade_opens(run), said
    finally:
        run.stop()
        run.close()
    state = tmp_path / "state"
    if damage == "torn last record":
        segment = sorted((state / "wal" / "took-over").glob("seg-*.wal"))[-1]
        with segment.open("ab") as f:  # the process died writing its last record
            f.write(b"\x40\x00\x00\x00\x00\x00\x00\x00abc")
        expected = "warning: the write-ahead log's last record was unfinished"
    else:
        (state / "took-over.json").unlink()
        expected = f"warning: {state / 'took-over.json'} holds no paper venue book (no such file)"

    said.clear()
    run = _run(tmp_path, exchange, said)
    try:
        assert run.continued
        run.start()
    finally:
        run.stop()
        run.close()
    assert any(line.startswith(expected) for line in said), said
