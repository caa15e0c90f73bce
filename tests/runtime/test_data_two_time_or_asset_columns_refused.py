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


def _minute_bars(path: Path, extra: dict[str, list[str]]) -> Path:
    """Minute bars from 2024-01-02 08:30 UTC, their epoch ``timestamp`` beside ``extra`` columns."""
    header = ",".join(["timestamp", *extra, "open", "high", "low", "close", "volume"])
    rows = [
        ",".join([f"{1704184200 + 60 * i}.0", *(v[i] for v in extra.values()), "100,101,99,100,5"])
        for i in range(60)
    ]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _clock(i: int) -> str:
    return f"{8 + (30 + i) // 60:02d}:{(30 + i) % 60:02d}:00"


def test_minute_bars_with_a_session_date_column_are_read(tmp_path: Path) -> None:
    """A vendor export: the bar's time in ``timestamp``, its session day in ``date``, which holds
    whole days only and so is no bar time to compare."""
    data = load_market_data(_minute_bars(tmp_path / "spy_1m.csv", {"date": ["2024-01-02"] * 60}))
    assert data.ts[1] == 1704184260.0


def test_a_time_of_day_with_a_fraction_beside_a_timestamp_is_not_read(tmp_path: Path) -> None:
    """``08:30:00.5`` is read as text, not as a time of day: it parses as no time, so it is not
    compared with the timestamp."""
    path = _minute_bars(tmp_path / "x_1m.csv", {"time": [_clock(i) + ".5" for i in range(60)]})
    assert len(load_market_data(path)) == 60


def test_a_timestamp_beside_date_and_time_of_day_columns_is_read(tmp_path: Path) -> None:
    extra = {"date": ["2024-01-02"] * 60, "time": [_clock(i) for i in range(60)]}
    data = load_market_data(_minute_bars(tmp_path / "es_1m.csv", extra))
    assert data.ts[0] == 1704184200.0 and len(data) == 60


def test_daily_bars_with_a_date_of_the_day_before_are_refused(tmp_path: Path) -> None:
    """Two columns of whole days are both bar times: they must agree."""
    rows = "".join(f"2024-01-0{d + 2},2024-01-0{d + 1},100,101,99,100,10\n" for d in range(4))
    path = tmp_path / "spx_1d.csv"
    path.write_text("timestamp,date,open,high,low,close,volume\n" + rows)
    with pytest.raises(DataError, match="columns 'timestamp' and 'date' are both time columns and differ"):
        load_market_data(path)


def test_daily_bars_with_a_closing_time_of_day_are_read(tmp_path: Path) -> None:
    """``timestamp`` comes before ``time`` among the time columns and gives each day's bar; the
    time of day beside it (the close) is not read."""
    rows = "".join(f"2024-01-0{d + 1},16:00:00,100,101,99,100,10\n" for d in range(4))
    path = tmp_path / "spx_1d.csv"
    path.write_text("timestamp,time,open,high,low,close,volume\n" + rows)
    assert load_market_data(path).interval == 86_400.0
