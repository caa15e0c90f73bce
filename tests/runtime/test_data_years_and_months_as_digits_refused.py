"""A time column of years (2020) or months (202001) written as digits is refused as ambiguous,
as one of days (20200105) is: read as epoch seconds they are times of 1970's first days."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita.backtest.data import DataError, load_market_data, parse_time


def _dated(tmp_path: Path, dates: list[str]) -> Path:
    path = tmp_path / "spx.csv"
    rows = "".join(f"{d},{10 + k},{11 + k},{9 + k},{10 + k},100\n" for k, d in enumerate(dates))
    path.write_text("date,open,high,low,close,volume\n" + rows)
    return path


@pytest.mark.parametrize("allow_gaps", [False, True])
def test_a_column_of_years_is_refused_as_ambiguous(tmp_path: Path, allow_gaps: bool) -> None:
    path = _dated(tmp_path, [str(y) for y in range(2015, 2024)])
    said = r"row 1: date 2015 is ambiguous: the year 2015 or 2,015 epoch seconds .*\(YYYY\): write them"
    with pytest.raises(DataError, match=said):
        load_market_data(path, allow_gaps=allow_gaps)


def test_a_column_of_months_is_refused_as_ambiguous(tmp_path: Path) -> None:
    path = _dated(tmp_path, [f"2023{m:02d}" for m in range(1, 13)])
    said = r"date 202301 is ambiguous: the month 2023-01 or 202,301 epoch seconds .*\(2023-01-01\)"
    with pytest.raises(DataError, match=said):
        load_market_data(path)


def test_small_epoch_seconds_that_are_no_dates_load(tmp_path: Path) -> None:
    path = _dated(tmp_path, [str(s) for s in range(202_350, 202_350 + 60 * 4, 60)])
    assert list(load_market_data(path, allow_gaps=True).ts[:2]) == [202_350.0, 202_410.0]


def test_a_window_given_as_a_month_of_digits_is_refused() -> None:
    with pytest.raises(ValueError, match=r"--from='202401' is ambiguous: the month 2024-01 or 202,401"):
        parse_time("202401", "--from")
