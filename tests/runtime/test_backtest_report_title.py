"""The report's title holds the data file's name as written: matplotlib read the text between
two ``$`` in it as math, drew it as such, and raised on what math it could not parse, after
the whole replay, with no report written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dita.backtest.metrics import compute_metrics
from dita.backtest.report import write_report


@pytest.mark.parametrize("name", ["usd$_$.csv", "price$\\foo$.csv", "a$^$b.csv"])
def test_a_data_file_named_with_dollar_signs_gets_its_report(tmp_path: Path, name: str) -> None:
    ts = np.array([1704067200.0, 1704067260.0])
    equity = np.array([10_000.0, 10_001.0])
    metrics = compute_metrics(ts=ts, equity=equity, balance=10_000.0, trades=[])
    info = {"strategy": "m:S", "data": f"/data/{name}"}
    paths = write_report(
        tmp_path, metrics=metrics, trades=[], ts=ts, equity=equity, position=np.zeros(2), run_info=info
    )
    assert paths["equity.png"].stat().st_size > 0
    assert f"S on {name}" in paths["report.html"].read_text()
