"""A time column from 20,000 to 80,000 is a spreadsheet's serial days only when its rows step as
days do (whole days, or a fraction of a day in whole seconds): epoch seconds there (a session of
minute bars on day 0, seconds since midnight) step by a minute or more and load, and a
spreadsheet's date-times with hours are refused as its whole days are."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita.backtest.data import DataError, load_market_data


def _bars(tmp_path: Path, times: list[str], column: str = "ts") -> Path:
    path = tmp_path / "AAA_1m.csv"
    rows = "".join(
        f"{t},{10 + k % 3},{12 + k % 3},{9 + k % 3},{11 + k % 3},100\n" for k, t in enumerate(times)
    )
    path.write_text(f"{column},open,high,low,close,volume\n" + rows)
    return path


def test_one_session_of_minute_bars_in_epoch_seconds_loads(tmp_path: Path) -> None:
    # 09:30 to 16:00 of a day, in whole epoch seconds (synthetic intraday data on day 0):
    # every value is a whole number from 34,200 to 57,600, none of them a spreadsheet date.
    times = list(range(34_200, 57_601, 60))
    data = load_market_data(_bars(tmp_path, [str(t) for t in times]))
    assert data.ts.tolist() == [float(t) for t in times]


def test_hourly_bars_of_a_day_in_seconds_since_midnight_load(tmp_path: Path) -> None:
    # 06:00..22:00 hourly, seconds of the day: 21,600..79,200.
    times = list(range(21_600, 79_201, 3_600))
    data = load_market_data(_bars(tmp_path, [str(t) for t in times]))
    assert len(data) == len(times)


def test_spreadsheet_serial_date_times_with_hours_are_refused_too(tmp_path: Path) -> None:
    # A spreadsheet's date-times saved as numbers: 45292.0 is 2024-01-01 00:00, 45292.5 noon.
    # Hourly bars of 2024 read as epoch seconds are bars 0.04 s apart on 1970-01-01 12:34.
    times = [f"{45_292 + k / 24:.10f}" for k in range(48)]
    with pytest.raises(DataError, match="spreadsheet"):
        load_market_data(_bars(tmp_path, times), allow_gaps=True)
