"""The report's trade table names each trade's asset: with several assets in one run, its
rows (trade id, side, times, prices) did not say which asset a trade was in, which only
trades.csv told."""

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


def test_each_trade_row_names_its_asset(tmp_path: Path) -> None:
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
        run_info={"strategy": "m:S", "data": "x.csv", "kind": "bars", "assets": "BTCUSDT,ETHUSDT"},
    )
    page = paths["report.html"].read_text()
    header = page[page.index("<th>trade</th>") :].split("</tr>")[0]
    assert "<th>asset</th>" in header
    for tid, asset in (("t1", "BTCUSDT"), ("t2", "ETHUSDT")):
        row = page[page.index(f"<td>{tid}</td>") :].split("</tr>")[0]
        cells = re.findall(r"<td>([^<]*)</td>", row)
        assert cells[1] == asset
        assert len(cells) == header.count("<th>")
