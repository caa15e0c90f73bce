"""A bar opening less than half a bar after the one before (two feeds merged, one stamped a
second late) is refused: the earlier bar reaches the strategy with its close, and an order
decided on it would fill at the later bar's open, before that close existed. Exactly half a bar
is refused too where the bars open on their length's grid."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dita.backtest.data import DataError, load_market_data
from dita.cli import app

MINUTES = ("00:00:00", "00:01:00", "00:02:00", "00:03:00", "00:03:01", "00:04:00", "00:05:00", "00:06:00")


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


@pytest.mark.parametrize("allow_gaps", [False, True])
def test_a_bar_one_second_after_another_is_refused_naming_both(tmp_path: Path, allow_gaps: bool) -> None:
    rows = [f"2024-01-01T{t}Z,100,110,100,105,1000" for t in MINUTES]
    path = _write(tmp_path / "btc_1m.csv", "timestamp,open,high,low,close,volume", rows)
    with pytest.raises(DataError) as refused:
        load_market_data(path, allow_gaps=allow_gaps)
    said = str(refused.value)
    assert refused.value.row == 5
    assert "2024-01-01T00:03:01Z opens 1 s after the BTC bar of 2024-01-01T00:03:00Z (row 4)" in said
    assert "60 s long" in said


def test_a_stray_bar_at_exactly_half_a_bar_is_refused(tmp_path: Path) -> None:
    hours = [dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=h) for h in range(300)]
    hours.insert(101, hours[100] + dt.timedelta(minutes=30))
    rows = [f"{t.isoformat()},100,110,100,105,1000" for t in hours]
    path = _write(tmp_path / "btc_1h.csv", "timestamp,open,high,low,close,volume", rows)
    with pytest.raises(DataError, match=r"opens 1800 s after the BTC bar of .* bars are 3600 s long"):
        load_market_data(path)


def test_a_stray_first_bar_at_exactly_half_a_bar_is_refused(tmp_path: Path) -> None:
    """The grid is the one most bars open on, not the first bar's: a stray that is the first
    bar (23:59:30, then minute bars) would put every other bar off it."""
    minutes = [dt.datetime(2024, 1, 2, tzinfo=dt.UTC) + dt.timedelta(minutes=m) for m in range(300)]
    stamps = [minutes[0] - dt.timedelta(seconds=30), *minutes]
    rows = [f"{t.isoformat()},100,110,100,105,1000" for t in stamps]
    path = _write(tmp_path / "btc_1m.csv", "timestamp,open,high,low,close,volume", rows)
    with pytest.raises(DataError, match=r"opens 30 s after the BTC bar of 2024-01-01T23:59:30Z"):
        load_market_data(path)


def test_a_stray_bar_at_half_a_bar_among_sparse_minute_bars_is_refused(tmp_path: Path) -> None:
    """Sparse minute bars open on the minute's grid: a bar at :30 is a stray, though few steps
    are one minute long."""
    rng = np.random.default_rng(0)
    ts = 1.7e9 // 60 * 60 + np.cumsum(rng.geometric(1 / 3, size=500) * 60.0)
    ts = np.insert(ts, 100, ts[99] + 30.0)
    rows = [f"{t!r},100,101,99,100,5" for t in ts.tolist()]
    path = _write(tmp_path / "illiq_1m.csv", "timestamp,open,high,low,close,volume", rows)
    with pytest.raises(DataError, match=r"opens 30 s after the ILLIQ bar of .* bars are 60 s long"):
        load_market_data(path, allow_gaps=True)


def test_an_off_grid_bar_is_refused_with_an_asset_column(tmp_path: Path) -> None:
    rows = [f"2024-01-01T{t}Z,BTC,100,110,100,105,1000" for t in MINUTES]
    path = _write(tmp_path / "x.csv", "timestamp,asset,open,high,low,close,volume", rows)
    with pytest.raises(DataError, match="BTC bar at 2024-01-01T00:03:01Z opens 1 s after"):
        load_market_data(path)


def test_an_off_grid_bar_every_asset_shares_is_refused(tmp_path: Path) -> None:
    """Both assets' bars open at the same times, so no bar of one opens inside the other's: the
    bar inside its own asset's bar is what is wrong."""
    rows = []
    for t in MINUTES:
        rows += [f"2024-01-01T{t}Z,BTC,100,110,100,105,1000", f"2024-01-01T{t}Z,ETH,10,11,10,10.5,1000"]
    path = _write(tmp_path / "x.csv", "timestamp,asset,open,high,low,close,volume", rows)
    with pytest.raises(DataError, match="opens 1 s after"):
        load_market_data(path)


def test_calendar_month_bars_load(tmp_path: Path) -> None:
    starts = [dt.datetime(2020 + i // 12, i % 12 + 1, 1, tzinfo=dt.UTC).isoformat() for i in range(40)]
    rows = [f"{t},1,2,1,1,1" for t in starts]
    path = _write(tmp_path / "spx_1mo.csv", "timestamp,open,high,low,close,volume", rows)
    assert len(load_market_data(path)) == 40


def test_sparse_minute_bars_of_an_illiquid_asset_load(tmp_path: Path) -> None:
    """Minute bars written only for minutes with trades, a bar every 2.5 h on average: no step is
    taken in 1 % of the steps, and a bar 180 s after the one before is no bar inside it."""
    rng = np.random.default_rng(0)
    ts = 1.7e9 + np.cumsum(rng.geometric(1 / 150, size=2000) * 60.0)
    rows = [f"{t!r},100,101,99,100,5" for t in ts.tolist()]
    path = _write(tmp_path / "illiq_1m.csv", "timestamp,open,high,low,close,volume", rows)
    assert len(load_market_data(path, allow_gaps=True)) == 2000


def test_sparse_minute_bars_with_one_pair_of_neighbouring_minutes_load(tmp_path: Path) -> None:
    """The bars' length is read as the shortest step taken twice (120 s here), on whose grid the
    bars do not open: the one 60 s step is exactly half of it, and two neighbouring minutes are
    no stray."""
    rng = np.random.default_rng(2)
    steps = rng.geometric(1 / 150, size=200)
    assert (steps == 1).sum() == 1 and (steps == 2).sum() == 2
    ts = 1.7e9 + np.cumsum(steps * 60.0)
    rows = [f"{t!r},100,101,99,100,5" for t in ts.tolist()]
    path = _write(tmp_path / "illiq_1m.csv", "timestamp,open,high,low,close,volume", rows)
    assert len(load_market_data(path, allow_gaps=True)) == 200


def test_a_stray_bar_among_sparse_minute_bars_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ts = 1.7e9 + np.cumsum(rng.geometric(1 / 150, size=2000) * 60.0)
    ts = np.insert(ts, 100, ts[99] + 1.0)
    rows = [f"{t!r},100,101,99,100,5" for t in ts.tolist()]
    path = _write(tmp_path / "illiq_1m.csv", "timestamp,open,high,low,close,volume", rows)
    with pytest.raises(DataError, match=r"opens 1 s after the ILLIQ bar of .* where its bars are 60 s long"):
        load_market_data(path, allow_gaps=True)


def test_dita_backtest_refuses_it_with_exit_2(tmp_path: Path) -> None:
    rows = [f"2024-01-01T{t}Z,100,110,100,105,1000" for t in MINUTES]
    path = _write(tmp_path / "btc_1m.csv", "timestamp,open,high,low,close,volume", rows)
    args = ["backtest", "--strategy", "dita.examples.crossover:SmaCrossover", "--data", str(path)]
    done = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out"), "--allow-gaps"])
    assert done.exit_code == 2, done.output
    assert "opens 1 s after" in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)


def test_two_stray_bars_at_one_offset_among_hourly_bars_are_refused(tmp_path: Path) -> None:
    """Two strays at :20 of different hours make the 1,200 s and 2,400 s steps twice each: the
    hourly step, taken often, is still the bars' length. (Review /work/review127.)"""
    start, hour = 1_704_067_200, 3600
    times = sorted(
        [start + i * hour for i in range(500)] + [start + 10 * hour + 1200, start + 200 * hour + 1200]
    )
    path = tmp_path / "BTCUSDT_1h.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n" + "".join(f"{t},100,101,99,100.5,10\n" for t in times)
    )
    with pytest.raises(DataError, match="opens while that bar is open"):
        load_market_data(path)
