"""A time column of a spreadsheet's dates saved as numbers (days since 1899-12-30: 45292 is
2024-01-01) is refused naming the column and the value, as dates written as digits are: read as
epoch seconds, daily bars of 2024 would be one-second bars of 1970 12:34. Epoch seconds load as
before."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita.backtest.data import DataError, load_market_data


def _daily(tmp_path: Path, times: list[str], column: str = "date") -> Path:
    path = tmp_path / "AAA_daily.csv"
    rows = "".join(f"{t},{10 + k},{11 + k},{9 + k},{10 + k},100\n" for k, t in enumerate(times))
    path.write_text(f"{column},open,high,low,close,volume\n" + rows)
    return path


@pytest.mark.parametrize("allow_gaps", [False, True])
def test_spreadsheet_serial_days_are_refused_not_read_as_seconds_of_1970(
    tmp_path: Path, allow_gaps: bool
) -> None:
    path = _daily(tmp_path, [str(d) for d in range(45_292, 45_302)])
    said = (
        r"row 1: date 45292 looks like spreadsheet serial days \(2024-01-01 as a spreadsheet counts "
        r"days from 1899-12-30\), not epoch seconds \(1970-01-01T12:34:52Z\): all 10 of its values"
    )
    with pytest.raises(DataError, match=said):
        load_market_data(path, allow_gaps=allow_gaps)


def test_weekday_serial_days_in_a_time_column_are_refused(tmp_path: Path) -> None:
    # Weekdays only (steps of 1 and 3), under another time column name.
    days = [45_293, 45_294, 45_295, 45_296, 45_299, 45_300, 45_301]
    with pytest.raises(DataError, match=r"timestamp 45293 looks like spreadsheet serial days \(2024-01-02 "):
        load_market_data(_daily(tmp_path, [str(d) for d in days], column="timestamp"), allow_gaps=True)


@pytest.mark.parametrize("per_second", [1, 1_000], ids=["seconds", "milliseconds"])
def test_epoch_times_of_daily_bars_load_as_they_are(tmp_path: Path, per_second: int) -> None:
    times = [(1_704_067_200 + 86_400 * k) * per_second for k in range(10)]  # 2024-01-01 on
    data = load_market_data(_daily(tmp_path, [str(t) for t in times]))
    assert data.ts.tolist() == [t / per_second for t in times]
