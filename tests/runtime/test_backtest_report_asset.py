"""What the report's tables say: each trade's asset (with several assets in one run, its rows
did not say which asset a trade was in, which only trades.csv told) and the halt's time."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dita.backtest.metrics import TradeRecord, compute_metrics
from dita.backtest.report import write_report


def _trade(tid: str, asset: str, price: float) -> TradeRecord:
    return TradeRecord(
        tid, asset, "LONG", 0.0, 60.0, price, price * 1.01, 1.0, price * 0.01, 0.0, price * 0.01
    )


def _page(tmp_path: Path, **run: object) -> str:
    trades = [_trade("t1", "BTCUSDT", 42_000.0), _trade("t2", "ETHUSDT", 2_300.0)]
    ts = np.array([0.0, 60.0])
    equity = np.array([10_000.0, 10_443.0])
    metrics = compute_metrics(ts=ts, equity=equity, balance=10_000.0, trades=trades, bar_interval=60.0)
    paths = write_report(
        tmp_path,
        metrics=metrics,
        trades=trades,
        ts=ts,
        equity=equity,
        position=np.zeros(2),
        run_info={"strategy": "m:S", "data": "x.csv", "kind": "bars", "assets": "BTCUSDT,ETHUSDT", **run},
    )
    return paths["report.html"].read_text()


def test_each_trade_row_names_its_asset(tmp_path: Path) -> None:
    page = _page(tmp_path)
    header = page[page.index("<th>trade</th>") :].split("</tr>")[0]
    assert "<th>asset</th>" in header
    for tid, asset in (("t1", "BTCUSDT"), ("t2", "ETHUSDT")):
        row = page[page.index(f"<td>{tid}</td>") :].split("</tr>")[0]
        cells = re.findall(r"<td>([^<]*)</td>", row)
        assert cells[1] == asset
        assert len(cells) == header.count("<th>")


def test_the_halt_time_is_a_utc_time(tmp_path: Path) -> None:
    """The run table showed halted_at as epoch seconds (1704074010.0), where the CLI prints a time."""
    page = _page(tmp_path, halted_at=1_704_074_010.0, halted_equity=-914.0, halted_row=105)
    assert "<tr><th>halted_at</th><td>2024-01-01 01:53:30 UTC</td></tr>" in page
    assert "<tr><th>halted_row</th><td>105</td></tr>" in page
    metrics = (tmp_path / "metrics.json").read_text()
    assert "1704074010" in metrics  # the file keeps the epoch seconds
