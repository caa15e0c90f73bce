from __future__ import annotations

from pathlib import Path

import pytest

from dita.backtest.data import MarketData, load_market_data
from dita.data import SAMPLE_BARS, generate_bars, write_bars


@pytest.fixture(scope="session")
def sample_bars() -> MarketData:
    return load_market_data(SAMPLE_BARS)


@pytest.fixture(scope="session")
def two_months(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 days of one-minute bars (86,400 rows) as Parquet."""
    path = tmp_path_factory.mktemp("data") / "BTCUSDT_60d.parquet"
    return write_bars(generate_bars(days=60, seed=11), path)
