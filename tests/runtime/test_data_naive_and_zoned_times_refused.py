"""A time column mixing times that give their zone with times that give none is refused: a
time without a zone is read as UTC, so a file in local time with some rows stamped with their
offset would load as two clocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita.backtest.data import DataError, load_market_data

HEADER = "timestamp,open,high,low,close,volume\n"


def _times(tmp_path: Path, times: list[str]) -> Path:
    path = tmp_path / "mix_1m.csv"
    path.write_text(HEADER + "".join(f"{t},100,101,99,100,10\n" for t in times))
    return path


def test_a_zoned_time_among_naive_ones_is_refused_naming_both_rows(tmp_path: Path) -> None:
    times = ["2024-06-03T00:00:00", "2024-06-03T00:01:00", "2024-06-03T02:02:00+02:00", "2024-06-03T00:03:00"]
    with pytest.raises(DataError) as refused:
        load_market_data(_times(tmp_path, times))
    assert refused.value.row == 3
    assert (
        "'2024-06-03T02:02:00+02:00' gives its time zone, where row 1's '2024-06-03T00:00:00' gives none"
        in str(refused.value)
    )


def test_a_naive_time_among_utc_ones_is_refused(tmp_path: Path) -> None:
    times = ["2024-06-03T00:00:00Z", "2024-06-03 00:01:00", "2024-06-03T00:02:00Z"]
    with pytest.raises(DataError, match="row 2: timestamp '2024-06-03 00:01:00' gives no time zone"):
        load_market_data(_times(tmp_path, times))


@pytest.mark.parametrize("zone", ["", "Z", "+00:00"])
def test_times_all_with_or_all_without_a_zone_load_as_utc(tmp_path: Path, zone: str) -> None:
    times = [f"2024-06-03 00:0{m}:00{zone}" for m in range(3)]
    assert load_market_data(_times(tmp_path, times)).ts[0] == 1_717_372_800.0
