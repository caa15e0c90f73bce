"""A file with two columns that could each give the rows' time, or their asset, is read when
they agree on every row and refused naming both when they differ: which one the file means is
not for the reader to guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita.backtest.data import DataError, load_market_data


def test_an_open_time_and_a_timestamp_column_are_refused(tmp_path: Path) -> None:
    """The timestamp column here holds each bar's close: taken by the order of the time column
    names, every bar was stamped a minute late."""
    rows = "".join(f"2024-01-01T00:0{i}:00Z,2024-01-01T00:0{i + 1}:00Z,100,101,99,100,10\n" for i in range(4))
    path = tmp_path / "k_1m.csv"
    path.write_text("Open_Time,timestamp,open,high,low,close,volume\n" + rows)
    with pytest.raises(
        DataError, match="columns 'timestamp' and 'Open_Time' are both time columns and differ"
    ) as refused:
        load_market_data(path)
    assert "row 1" in str(refused.value)


def test_a_timestamp_and_a_datetime_column_that_agree_are_read(tmp_path: Path) -> None:
    """A ccxt dump's epoch milliseconds and its ISO times beside them say the same instants."""
    rows = "".join(
        f"{1704067200000 + 60_000 * i},2024-01-01T00:0{i}:00.000Z,100,101,99,100,10\n" for i in range(4)
    )
    path = tmp_path / "k_1m.csv"
    path.write_text("timestamp,datetime,open,high,low,close,volume\n" + rows)
    data = load_market_data(path)
    assert len(data) == 4 and data.interval == 60.0


def test_an_asset_and_a_symbol_column_are_refused(tmp_path: Path) -> None:
    rows = "".join(f"2024-01-01T00:0{i}:00Z,spot,BTCUSDT,100,101,99,100,10\n" for i in range(3))
    path = tmp_path / "k_1m.csv"
    path.write_text("timestamp,asset,symbol,open,high,low,close,volume\n" + rows)
    with pytest.raises(DataError, match="columns 'asset' and 'symbol' are both asset columns and differ"):
        load_market_data(path)


def test_an_asset_and_a_symbol_column_that_agree_are_read(tmp_path: Path) -> None:
    rows = "".join(f"2024-01-01T00:0{i}:00Z,BTCUSDT, BTCUSDT,100,101,99,100,10\n" for i in range(3))
    path = tmp_path / "k_1m.csv"
    path.write_text("timestamp,asset,symbol,open,high,low,close,volume\n" + rows)
    assert load_market_data(path).assets == ["BTCUSDT"]


def test_a_date_column_beside_times_of_day_is_said_as_such(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Date,Time,Open,High,Low,Close,Volume\n2024-01-01,00:00:00,100,101,99,100,1\n")
    with pytest.raises(DataError, match="'time' holds times of day without their date"):
        load_market_data(path)


def test_a_timestamp_beside_times_of_day_is_read(tmp_path: Path) -> None:
    """``time`` (HH:MM:SS, which the CSV reader types as a time of day) comes before no full time
    of the rows: the epoch ``timestamp`` beside it gives them."""
    rows = "".join(f"{1704184200 + 60 * i}.0,08:3{i}:00,100,101,99,100,10\n" for i in range(4))
    path = tmp_path / "es_1m.csv"
    path.write_text("timestamp,time,open,high,low,close,volume\n" + rows)
    data = load_market_data(path)
    assert data.ts.tolist() == [1704184200.0 + 60 * i for i in range(4)]
