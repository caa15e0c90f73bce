"""Loading history: every kind of bad data is refused naming the row; good data round-trips."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dita.backtest.data import DataError, load_market_data, parse_time
from dita.data import SAMPLE_BARS, generate_bars, generate_quotes, iter_quotes, write_bars

HEADER = "timestamp,open,high,low,close,volume\n"
BAR_NAMES = ("open", "high", "low", "close")


def bars_csv(tmp_path: Path, rows: list[str], name: str = "BTCUSDT_1m.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


def good_rows(n: int = 5) -> list[str]:
    return [f"2024-01-01T00:0{i}:00Z,100,101,99,100.5,3" for i in range(n)]


def test_sample_data_ships_and_loads() -> None:
    data = load_market_data(SAMPLE_BARS)
    assert data.kind == "bars" and len(data) == 3 * 1440
    assert data.interval == 60.0
    assert data.assets == ["BTCUSDT"]
    assert np.all(np.diff(data.ts) == 60.0)


def test_the_shipped_sample_is_what_its_docstring_says() -> None:
    """SAMPLE_BARS is documented as ``generate_bars(days=3, seed=7)``, so ``python -m dita.data
    --days 3 --seed 7`` gives the sample back; the shipped file came from an earlier generator
    and drifted 6% away from it by its last bar."""
    data = load_market_data(SAMPLE_BARS)
    bars = generate_bars(days=3, seed=7)
    assert np.array_equal(data.ts, bars["timestamp"])
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(data.columns[name], bars[name]), name


def test_generator_is_deterministic_and_consistent() -> None:
    a, b = generate_bars(days=2, seed=3), generate_bars(days=2, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["close"], generate_bars(days=2, seed=4)["close"])
    assert np.all(a["low"] <= np.minimum(a["open"], a["close"]))
    assert np.all(a["high"] >= np.maximum(a["open"], a["close"]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"price": float("nan")}, "price=nan must be positive and finite"),
        ({"price": -1.0}, "price=-1.0 must be positive and finite"),
        # Rounded to the cent, a price under half of one made bars of 0.0.
        ({"price": 0.004}, "price=0.004 must be at least 0.01"),
        ({"volatility": -0.1}, "volatility=-0.1 must be zero or more and finite"),
        ({"start": float("nan")}, "start=nan must be zero or more and finite"),
        ({"seed": -1}, "seed=-1 must be an int >= 0"),
        ({"days": "1"}, "days='1' must be positive and finite"),
    ],
)
def test_generated_bars_refuse_bad_arguments_naming_them(kwargs: dict[str, object], message: str) -> None:
    """A NaN or negative price made bars of NaN or below zero, without a word (the loader
    refused them later, far from the cause), and so did a price under a cent (bars are rounded to
    0.01: 0.004 gave bars of 0.0); a negative volatility raised numpy's "scale < 0"."""
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_bars(**{"days": 0.01, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spread_bps": -4.0}, "spread_bps=-4.0 must be zero or more and finite"),
        ({"interval_s": float("nan")}, "interval_s=nan must be positive and finite"),
        ({"interval_s": -1.0}, "interval_s=-1.0 must be positive and finite"),
        ({"n": 2.0}, "n=2.0 must be an int >= 0"),
        ({"symbols": "BTCUSDT"}, "symbols='BTCUSDT' must be a list of one or more non-empty names"),
        ({"symbols": [""]}, "symbols=[''] must be a list of one or more non-empty names"),
        ({"symbols": []}, "symbols=[] must be a list of one or more non-empty names"),
        ({"symbols": ["BTCUSDT", "BTCUSDT"]}, "names a symbol more than once"),
    ],
)
def test_generated_quotes_refuse_bad_arguments_naming_them(kwargs: dict[str, object], message: str) -> None:
    """A negative spread made every bid above its ask, a NaN interval NaN times, and a str of
    symbols quoted each of its letters; refused when called, not at the first quote taken."""
    args: dict[str, object] = {"n": 2, "symbols": ["BTCUSDT"], **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        iter_quotes(**args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_quotes(**args)  # type: ignore[arg-type]


def test_generated_quotes_take_numpy_counts() -> None:
    assert generate_quotes(n=np.int64(2), symbols=["BTCUSDT"]) == generate_quotes(n=2, symbols=["BTCUSDT"])


def test_csv_and_parquet_load_the_same(tmp_path: Path) -> None:
    bars = generate_bars(days=0.5, seed=1)
    csv = load_market_data(write_bars(bars, tmp_path / "x.csv"))
    pq = load_market_data(write_bars(bars, tmp_path / "x.parquet"))
    assert np.array_equal(csv.ts, pq.ts)
    assert np.array_equal(csv.columns["close"], pq.columns["close"])
    assert csv.ts[0] == bars["timestamp"][0]


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("timestamp,open,high,low,volume\n2024-01-01,1,1,1,1\n")
    with pytest.raises(DataError, match="missing column\\(s\\) close"):
        load_market_data(path)
    path.write_text("open,high,low,close,volume\n1,1,1,1,1\n")
    with pytest.raises(DataError, match="missing time column"):
        load_market_data(path)


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("2024-01-01T00:02:00Z,100,101,99,NaN,3", "close is 'NaN'"),
        ("2024-01-01T00:02:00Z,100,101,99,,3", "close is empty"),
        ("2024-01-01T00:02:00Z,-1,101,99,100,3", "open is -1.0"),
        ("2024-01-01T00:02:00Z,100,98,99,100,3", "bar is not consistent"),
        ("2024-01-01T00:02:00Z,100,101,99,100,-2", "volume is -2.0"),
        ("2024-01-01T00:00:30Z,100,101,99,100,3", "time goes backwards"),
        ("2024-01-01T00:01:00Z,100,101,99,100,3", "repeated time"),
        ("2024-01-01T00:09:00Z,100,101,99,100,3", "gap in BTCUSDT bars"),
        ("yesterday,100,101,99,100,3", "not an ISO date"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, bad_row: str, message: str) -> None:
    rows = good_rows(2) + [bad_row] + [f"2024-01-01T00:1{i}:00Z,100,101,99,100.5,3" for i in range(3)]
    with pytest.raises(DataError, match=message) as info:
        load_market_data(bars_csv(tmp_path, rows))
    assert info.value.row == 3
    assert "row 3:" in str(info.value)


def test_a_gap_is_measured_against_a_step_the_bars_take(tmp_path: Path) -> None:
    # Two steps, 60 s and 240 s: their median (150 s) is a bar length no bar has.
    rows = [*good_rows(2), "2024-01-01T00:05:00Z,100,101,99,100,3"]
    with pytest.raises(DataError, match="240 s apart where bars are 60 s") as info:
        load_market_data(bars_csv(tmp_path, rows))
    assert info.value.row == 3
    # Four one-minute steps and four of two minutes: the bars are a minute, the rest gaps.
    times = [0, 1, 2, 3, 4, 6, 8, 10, 12]
    rows = [f"2024-01-01T00:{m:02d}:00Z,100,101,99,100,3" for m in times]
    data = load_market_data(bars_csv(tmp_path, rows), allow_gaps=True)
    assert data.interval == 60.0


def test_gaps_can_be_accepted(tmp_path: Path) -> None:
    rows = [*good_rows(3), "2024-01-01T00:09:00Z,100,101,99,100,3"]
    data = load_market_data(bars_csv(tmp_path, rows), allow_gaps=True)
    assert len(data) == 4


def test_window_and_asset_from_file_name(tmp_path: Path) -> None:
    data = load_market_data(
        bars_csv(tmp_path, good_rows(5)),
        start=parse_time("2024-01-01T00:01:00"),
        end=parse_time("2024-01-01T00:03:00Z"),
    )
    assert len(data) == 2
    assert data.assets == ["BTCUSDT"]
    with pytest.raises(DataError, match="no rows inside"):
        load_market_data(bars_csv(tmp_path, good_rows(5)), start=parse_time("2025-01-01"))
    with pytest.raises(DataError, match="empty window"):
        load_market_data(bars_csv(tmp_path, good_rows(5)), start=10.0, end=5.0)


def test_a_window_outside_the_data_says_when_the_data_runs(tmp_path: Path) -> None:
    """``--from 2024-01-05`` on the three-day sample said only "no rows inside the --from/--to
    window": a newcomer who does not know the sample's dates had to open the file to see them."""
    message = (
        "no rows inside the --from/--to window (from 2025-01-01T00:00:00Z); "
        "the data runs from 2024-01-01T00:00:00Z to 2024-01-01T00:04:00Z"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        load_market_data(bars_csv(tmp_path, good_rows(5)), start=parse_time("2025-01-01"))
    message = (
        "no rows inside the --from/--to window (from 2023-01-01T00:00:00Z to 2023-02-01T00:00:00Z); "
        "the data runs from 2024-01-01T00:00:00Z"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        load_market_data(
            bars_csv(tmp_path, good_rows(5)), start=parse_time("2023-01-01"), end=parse_time("2023-02-01")
        )


def test_quotes_and_epoch_millis(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("ts,symbol,bid,ask\n1704067200000,ETHUSDT,10,10.1\n1704067201000,ETHUSDT,10,10.2\n")
    data = load_market_data(path)
    assert data.kind == "quotes"
    assert data.ts.tolist() == [1704067200.0, 1704067201.0]
    assert data.mid().tolist() == pytest.approx([10.05, 10.1])
    path.write_text("ts,symbol,bid,ask\n1704067200000,ETHUSDT,10.3,10.1\n")
    with pytest.raises(DataError, match="row 1: crossed quote"):
        load_market_data(path)


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_market_data(tmp_path / "nope.csv")
    other = tmp_path / "x.json"
    other.write_text("{}")
    with pytest.raises(DataError, match="unsupported file type"):
        load_market_data(other)


def test_columns_differing_only_in_case_are_named(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT.csv"
    path.write_text("ts,Close,open,high,low,close,volume\n1,5,1,1,1,1,1\n61,5,1,1,1,1,1\n")
    with pytest.raises(DataError, match="columns 'Close', 'close' are all column 'close'"):
        load_market_data(path)
    path.write_text("ts,open,high,low,close,volume,Note,note\n1,1,1,1,1,1,a,b\n61,1,1,1,1,1,a,b\n")
    assert len(load_market_data(path)) == 2  # columns the loader does not read may repeat


@pytest.mark.parametrize(
    ("bad", "row"),
    [
        ("inf", 3),  # a time column of ISO text: epoch-second text is parsed by float()
        ("1e999", 3),
    ],
)
def test_times_that_are_not_finite_or_out_of_range_are_refused(tmp_path: Path, bad: str, row: int) -> None:
    rows = [*good_rows(2), f"{bad},100,101,99,100.5,3"]
    with pytest.raises(DataError, match=f"row {row}: timestamp"):
        load_market_data(bars_csv(tmp_path, rows), allow_gaps=True)


def test_numeric_times_beyond_the_calendar_are_refused(tmp_path: Path) -> None:
    rows = [f"{k}e300,100,101,99,100.5,3" for k in (1, 2, 3)]
    with pytest.raises(DataError, match="row 1: timestamp"):
        load_market_data(bars_csv(tmp_path, rows))


def test_timestamps_past_2262_load(tmp_path: Path) -> None:
    # pyarrow reads the column as timestamps, which do not fit in int64 nanoseconds.
    rows = ["9999-12-31T23:58:00Z,100,101,99,100.5,3", "9999-12-31T23:59:00Z,100,101,99,100.5,3"]
    data = load_market_data(bars_csv(tmp_path, rows))
    assert data.ts[1] - data.ts[0] == 60.0


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e300"])
def test_window_bounds_must_be_finite_times(value: str) -> None:
    with pytest.raises(ValueError, match=f"--from={value!r}"):
        parse_time(value, "--from")


@pytest.mark.parametrize("value", ["1800-01-01", "0001-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00"])
def test_iso_window_bounds_outside_1900_9999_are_refused(value: str) -> None:
    # The years are checked on the time, whether it was given as epoch seconds or ISO text.
    with pytest.raises(ValueError, match=f"--from={value!r} is outside the years 1900-9999"):
        parse_time(value, "--from")


@pytest.mark.parametrize("value", ["1900-01-01", "9999-12-31T23:59:59Z"])
def test_iso_window_bounds_at_the_ends_of_the_range_load(value: str) -> None:
    assert isinstance(parse_time(value, "--from"), float)


def test_an_empty_asset_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text(
        "timestamp,asset,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,BTC,100,101,99,100,1\n"
        "2024-01-01T00:00:00Z,,100,101,99,100,1\n"
        "2024-01-01T00:01:00Z,BTC,100,101,99,100,1\n"
    )
    with pytest.raises(DataError, match="row 2: asset is empty"):
        load_market_data(path)


def test_times_before_1970_are_refused_with_their_row(tmp_path: Path) -> None:
    # The paper venue and the runtime take no time before 1970: such a row loaded would end
    # the replay in a traceback instead of a refusal naming the row.
    rows = ["1960-01-01T00:00:00Z,100,101,99,100.5,3", "1960-01-01T00:01:00Z,100,101,99,100.5,3"]
    with pytest.raises(DataError, match="row 1: timestamp is before 1970"):
        load_market_data(bars_csv(tmp_path, rows))


def test_a_header_with_spaces_after_the_commas_loads(tmp_path: Path) -> None:
    # "timestamp, open, high" is a common CSV style; refusing it as "missing column(s) open,
    # high, ..." named columns the header plainly has. Numbers with such spaces already load.
    path = tmp_path / "multi.csv"
    path.write_text(
        "timestamp, asset, open, high, low, close, volume\n"
        "1704067200, BTCUSDT, 100, 101, 99, 100.5, 3\n"
        "1704067260, BTCUSDT, 100, 101, 99, 100.5, 3\n"
    )
    data = load_market_data(path)
    assert data.assets == ["BTCUSDT"]
    assert data.columns["close"].tolist() == [100.5, 100.5]
    path.write_text("ts, Close, close, open, high, low, volume\n1,1,1,1,1,1,1\n")
    with pytest.raises(DataError, match="columns ' Close', ' close' are all column 'close'"):
        load_market_data(path)


@pytest.mark.parametrize("allow_gaps", [False, True])
def test_epoch_times_in_two_units_are_refused_naming_the_row(tmp_path: Path, allow_gaps: bool) -> None:
    # Files joined across a provider's switch from ms to us: the unit was told from the
    # column's largest value, so the ms rows were read as us, in 1970, and (quotes have no
    # gap check; bars with --allow-gaps) the run replayed them without a word.
    seconds = [1704067200 + 60 * i for i in range(6)]
    times = [t * 1000 for t in seconds[:3]] + [t * 1_000_000 for t in seconds[3:]]
    path = tmp_path / "ETHUSDT.csv"
    path.write_text("ts,bid,ask\n" + "".join(f"{t},10,10.1\n" for t in times))
    with pytest.raises(DataError, match="row 4: ts 1704067380000000 reads as epoch us, row 1's as epoch ms"):
        load_market_data(path, allow_gaps=allow_gaps)
    path.write_text(HEADER + "".join(f"{t},100,101,99,100.5,3\n" for t in times))
    with pytest.raises(DataError, match="row 4: timestamp 1704067380000000 reads as epoch us"):
        load_market_data(path, allow_gaps=allow_gaps)


def test_bars_without_any_volume_are_refused_naming_the_asset(tmp_path: Path) -> None:
    # Orders take at most a share of a bar's volume: with none on any bar, no order could fill,
    # and the run ended with 0 trades and no word of why (OHLC exports often write volume 0).
    rows = [f"2024-01-01T00:0{i}:00Z,ETHUSDT,100,101,99,100.5,0" for i in range(3)]
    rows += [f"2024-01-01T00:0{i}:00Z,BTCUSDT,100,101,99,100.5,{i % 2}" for i in range(3)]
    path = tmp_path / "two.csv"
    path.write_text("timestamp,asset,open,high,low,close,volume\n" + "".join(r + "\n" for r in sorted(rows)))
    with pytest.raises(DataError, match="volume is 0 on every ETHUSDT bar") as info:
        load_market_data(path)
    assert info.value.row == 2  # ETHUSDT's first row (BTCUSDT sorts first)
    # Some bars without volume are real (a quiet minute): orders wait for the next one.
    path.write_text(HEADER + "".join(f"2024-01-01T00:0{i}:00Z,100,101,99,100.5,{i % 2}\n" for i in range(3)))
    assert len(load_market_data(path)) == 3


@pytest.mark.parametrize(("zero", "side"), [("ask_size", "buy"), ("bid_size", "sell")])
def test_quotes_without_any_size_on_a_side_are_refused_as_bars_without_volume_are(
    tmp_path: Path, zero: str, side: str
) -> None:
    # A file whose sizes are 0 on every quote was taken, and its orders never filled: a run of
    # no trades and no word of why, where bars without any volume are refused.
    sizes = {"bid_size": "3", "ask_size": "3", zero: "0"}
    path = tmp_path / "ETHUSDT.csv"
    path.write_text(
        "ts,bid,ask,bid_size,ask_size\n"
        + "".join(f"{1704067200 + i},100,100.5,{sizes['bid_size']},{sizes['ask_size']}\n" for i in range(3))
    )
    with pytest.raises(DataError, match=f"{zero} is 0 on every ETHUSDT quote: .* no {side} could ever fill"):
        load_market_data(path)


def test_a_cell_that_is_not_a_number_is_named_by_row_and_value(tmp_path: Path) -> None:
    """One stray word in a million-row CSV makes the reader take the whole column as text;
    "column 'open' has type string" names neither the row nor the cell to fix."""
    rows = good_rows(4)
    rows[2] = "2024-01-01T00:02:00Z,abc,101,99,100.5,3"
    with pytest.raises(DataError, match="row 3: open is 'abc', expected a number") as err:
        load_market_data(bars_csv(tmp_path, rows))
    assert err.value.row == 3


@pytest.mark.parametrize("cell", ["1_000", "\uff11\uff10\uff10"])
def test_a_cell_python_reads_but_the_csv_reader_does_not_is_named(tmp_path: Path, cell: str) -> None:
    """Python's float() takes ``1_000`` and full-width digits, the CSV reader does not: such a
    cell turns the column into text, and the error must name it like any other stray cell
    rather than say the whole column "holds numbers as text"."""
    rows = good_rows(4)
    rows[1] = f"2024-01-01T00:01:00Z,100,101,99,{cell},3"
    with pytest.raises(DataError, match=f"row 2: close is '{cell}', expected a number") as err:
        load_market_data(bars_csv(tmp_path, rows))
    assert err.value.row == 2


def test_cells_the_csv_reader_takes_are_not_named_as_strays(tmp_path: Path) -> None:
    """Padded numbers, exponents and signs read as numbers; only the odd cell is named."""
    rows = good_rows(4)
    rows[0] = "2024-01-01T00:00:00Z, 100 ,1.01e2,+99,100.5,3"
    rows[3] = "2024-01-01T00:03:00Z,100,101,99,100.5,3 units"
    with pytest.raises(DataError, match="row 4: volume is '3 units', expected a number"):
        load_market_data(bars_csv(tmp_path, rows))


def test_numbers_stored_as_text_are_refused_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT_1m.parquet"
    table = pa.table(
        {
            "timestamp": [1704067200, 1704067260],
            "open": ["100.0", "100.5"],
            "high": [101.0, 101.0],
            "low": [99.0, 99.0],
            "close": [100.5, 100.5],
            "volume": [3.0, 3.0],
        }
    )
    pq.write_table(table, path)
    with pytest.raises(DataError, match="column 'open' holds numbers as text"):
        load_market_data(path)


def test_a_file_without_the_columns_names_those_it_has(tmp_path: Path) -> None:
    """A semicolon-separated file reads as one column; the error shows it, or the user is left
    wondering why a 'timestamp' column they can see is 'missing'."""
    path = tmp_path / "x.csv"
    path.write_text("timestamp;open;high;low;close;volume\n1704067200;100;101;99;100;1\n")
    with pytest.raises(DataError, match=r"missing time column.*columns read: 'timestamp;open;high"):
        load_market_data(path)
    path.write_text("timestamp,open,high,low,volume\n1704067200,100,101,99,1\n")
    with pytest.raises(DataError, match=r"missing column\(s\) close.*columns read: 'timestamp', 'open'"):
        load_market_data(path)


def test_a_time_of_day_column_without_the_date_is_refused_saying_so(tmp_path: Path) -> None:
    """Exports with separate Date and Time columns (2024-01-01, 00:01:00) are common; the time
    column read as times of day was refused as "has type time32[s], expected a time"."""
    path = tmp_path / "x.csv"
    path.write_text(
        "Date,Time,Open,High,Low,Close,Volume\n2024-01-01,00:00:00,100,101,99,100,1\n"
        "2024-01-01,00:01:00,100,101,99,100,1\n"
    )
    with pytest.raises(DataError, match="'time' holds times of day without their date") as err:
        load_market_data(path)
    assert "2024-01-01T00:01:00" in str(err.value)


def test_a_header_that_is_not_utf8_is_refused_saying_so(tmp_path: Path) -> None:
    """Found by fuzzing: a byte that is not UTF-8 in the header (a file saved as Latin-1)
    was a UnicodeDecodeError traceback out of `dita backtest`."""
    path = tmp_path / "BTCUSDT.csv"
    path.write_bytes(b"timestamp,open,high,low,close,vol\xfcme\n1,1,1,1,1,1\n61,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"header is not UTF-8 text.*'vol\\xfcme'"):
        load_market_data(path)


def test_a_cell_that_is_not_utf8_is_named_by_row(tmp_path: Path) -> None:
    """It was refused as "column 'close' has type binary", naming no row."""
    path = tmp_path / "BTCUSDT.csv"
    path.write_bytes(HEADER.encode() + b"1,1,1,1,1,1\n61,1,1,1,1\xe9,1\n")
    with pytest.raises(DataError, match=r"row 2: close is b'1\\xe9', not UTF-8 text"):
        load_market_data(path)


@pytest.mark.parametrize(
    ("rows", "column"),
    [
        (HEADER + "1,1,1,1,1,1\n61,1e308,1e308,1,1,1\n", "open"),
        ("ts,bid,ask\n1,100,101\n61,100,2e15\n", "ask"),
    ],
)
def test_a_price_past_the_kernels_bound_is_refused(tmp_path: Path, rows: str, column: str) -> None:
    """Found by fuzzing: a price the kernel refuses (above 1e15) loaded, and the replay
    then ended in a ValueError traceback, or blamed the strategy for it ("strategy failed")."""
    path = tmp_path / "BTCUSDT.csv"
    path.write_text(rows)
    refused = rf"row 2: {column} is .*, expected a price from 2\.2250738585072014e-308 .* to 1e\+15$"
    with pytest.raises(DataError, match=refused):
        load_market_data(path)


@pytest.mark.parametrize(
    ("rows", "refused"),
    [
        (HEADER + "1,100,100,100,100,10\n61,1e-310,100,1e-310,100,10\n", "open is 1e-310"),
        ("ts,bid,ask\n1,100,101\n61,1e-320,101\n", "bid is 1e-320"),
    ],
)
def test_a_price_below_the_kernels_least_is_refused_naming_row_column_and_value(
    tmp_path: Path, rows: str, refused: str
) -> None:
    """A subnormal price is positive but below the kernel's least: loaded, the replay refuses
    it mid-run, and `dita backtest` ends in a traceback rather than "bad data", exit 2."""
    path = tmp_path / "BTCUSDT.csv"
    path.write_text(rows)
    with pytest.raises(DataError, match=rf"row 2: {refused}, expected a price from 2\.2250738585072014e-308"):
        load_market_data(path)


def test_an_asset_name_the_replay_refuses_is_refused_naming_the_row(tmp_path: Path) -> None:
    rows = "".join(f"{60 * i},{name},100,100,100,100,10\n" for i, name in enumerate(["A", "A\x00B", "A"]))
    path = tmp_path / "bars.csv"
    path.write_bytes(("ts,asset,open,high,low,close,volume\n" + rows).encode())
    with pytest.raises(DataError, match=r"row 2: asset is 'A\\x00B', not an asset name \(it holds a NUL\)"):
        load_market_data(path)


def test_an_asset_given_that_the_replay_refuses_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"asset 'A\\x00B' is not an asset name \(it holds a NUL\)"):
        load_market_data(bars_csv(tmp_path, good_rows()), asset="A\x00B")


def multi_asset_csv(tmp_path: Path, times: dict[str, list[str]]) -> Path:
    rows = sorted((t, asset) for asset, ts in times.items() for t in ts)
    path = tmp_path / "multi.csv"
    path.write_text(
        "timestamp,symbol,open,high,low,close,volume\n"
        + "".join(f"{t},{asset},100,101,99,100.5,3\n" for t, asset in rows)
    )
    return path


def test_assets_with_bars_of_two_lengths_are_refused_naming_the_row(tmp_path: Path) -> None:
    """An hourly bar reaches the strategy at its open time carrying its close: a decision on it
    filled on the other asset's minute bars inside that hour, before the close it acted on
    existed (a backtest profit no live run could make)."""
    hourly = [f"2024-01-01T0{h}:00:00Z" for h in range(3)]
    minutes = [f"2024-01-01T00:{m:02d}:00Z" for m in range(10)]
    path = multi_asset_csv(tmp_path, {"AAA": hourly, "BBB": minutes})
    opens_inside = (
        "row 3: BBB bar at 2024-01-01T00:01:00Z opens while the AAA bar of 2024-01-01T00:00:00Z is open"
    )
    with pytest.raises(DataError, match=opens_inside):
        load_market_data(path)


def test_assets_whose_bars_open_at_other_times_are_refused_naming_the_row(tmp_path: Path) -> None:
    """Same length, half an hour apart: a decision on AAA's 00:00 bar (closing 01:00) filled on
    BBB's bar opening at 00:30."""
    path = multi_asset_csv(
        tmp_path,
        {
            "AAA": [f"2024-01-01T0{h}:00:00Z" for h in range(3)],
            "BBB": [f"2024-01-01T0{h}:30:00Z" for h in range(3)],
        },
    )
    with pytest.raises(DataError, match=r"row 2: BBB bar at 2024-01-01T00:30:00Z opens while the AAA bar"):
        load_market_data(path)


@pytest.mark.parametrize(
    "times",
    [
        # Gaps in one asset (more than half BBB's minutes gone: its lower median step 120 s).
        {
            "AAA": [f"2024-01-01T00:{m:02d}:00Z" for m in range(12)],
            "BBB": [f"2024-01-01T00:{m:02d}:00Z" for m in (0, 1, 3, 5, 6, 8, 10)],
        },
        # Calendar months: 28 to 31 days, one clock.
        {name: [f"2023-{m:02d}-01T00:00:00Z" for m in range(1, 7)] for name in ("AAA", "BBB")},
    ],
)
def test_assets_on_one_clock_load_with_gaps_or_calendar_steps(
    tmp_path: Path, times: dict[str, list[str]]
) -> None:
    """Refused by a first check on fixed steps: months are not, and a sparse asset's typical
    step read twice its bars' length."""
    data = load_market_data(multi_asset_csv(tmp_path, times), allow_gaps=True)
    assert sorted(set(data.asset)) == ["AAA", "BBB"]


def test_one_stray_bar_does_not_make_an_assets_bars_short(tmp_path: Path) -> None:
    """A bar's length was its asset's shortest step: one stray bar an hour after a daily one
    made every daily bar an hour long, and hourly bars of another asset inside them loaded. The
    stray bar, inside its own asset's daily bar, is what is refused."""
    days = [f"2024-01-0{d}T00:00:00Z" for d in range(1, 4)] + ["2024-01-03T01:00:00Z"]
    hours = [f"2024-01-01T{h:02d}:00:00Z" for h in range(24)]
    with pytest.raises(DataError, match="AAA bar at 2024-01-03T01:00:00Z opens 3600 s after the AAA bar"):
        load_market_data(multi_asset_csv(tmp_path, {"AAA": days, "BBB": hours}), allow_gaps=True)


def test_an_empty_price_cell_is_named_as_empty_not_nan(tmp_path: Path) -> None:
    rows = good_rows(3)
    rows[1] = "2024-01-01T00:01:00Z,100,101,99,,3"
    with pytest.raises(DataError, match="row 2: close is empty, expected a number"):
        load_market_data(bars_csv(tmp_path, rows))


@pytest.mark.parametrize("marker", ["NULL", "NA", "N/A", "#N/A", "nan", "null"])
@pytest.mark.parametrize("name", ["BTCUSDT_1m.csv", "BTCUSDT_1m.csv.gz"])
def test_a_null_marker_in_a_number_column_is_named_as_written(tmp_path: Path, marker: str, name: str) -> None:
    """The reader takes NULL, NA, N/A, nan... for no value, as an empty cell: the error names the
    cell as the file holds it, not as "NaN or empty"."""
    rows = good_rows(3)
    rows[2] = f"2024-01-01T00:02:00Z,100,101,99,100,{marker}"
    path = tmp_path / name
    text = (HEADER + "".join(r + "\n" for r in rows)).encode()
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    with pytest.raises(DataError, match=rf"row 3: volume is '{re.escape(marker)}', expected a number"):
        load_market_data(path)


def test_a_null_marker_in_an_epoch_time_column_is_named_as_written(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT_1m.csv"
    path.write_text("ts,open,high,low,close,volume\n0,1,1,1,1,1\nNULL,1,1,1,1,1\n120,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"row 2: ts is 'NULL'$"):
        load_market_data(path)


@pytest.mark.parametrize(
    ("first", "last"),
    [("2026-01-01T00:00:00Z", "2026-01-01T00:02:00Z"), ("2026-01-01 00:00", "2026-01-01 00:02")],
)
@pytest.mark.parametrize("marker", ["NULL", "", "nan"])
def test_a_null_marker_in_an_iso_time_column_is_named_as_written(
    tmp_path: Path, first: str, last: str, marker: str
) -> None:
    path = tmp_path / "BTCUSDT_1m.csv"
    path.write_text(
        f"time,open,high,low,close,volume\n{first},1,1,1,1,1\n{marker},1,1,1,1,1\n{last},1,1,1,1,1\n"
    )
    written = repr(marker) if marker else "empty"
    with pytest.raises(DataError, match=rf"row 2: time is {re.escape(written)}$"):
        load_market_data(path)


def test_an_empty_cell_of_a_parquet_file_is_named_as_no_value(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT_1m.parquet"
    volume = pa.array([1.0, None, 1.0], type=pa.float64())
    pq.write_table(
        pa.table({"ts": [0, 60, 120], **{c: [1.0] * 3 for c in BAR_NAMES}, "volume": volume}), path
    )
    with pytest.raises(DataError, match="row 2: volume is NaN or empty, expected a number"):
        load_market_data(path)


@pytest.mark.parametrize("allow_gaps", [False, True])
def test_dates_written_as_digits_are_refused_not_read_as_seconds_in_1970(
    tmp_path: Path, allow_gaps: bool
) -> None:
    """A date column of YYYYMMDD numbers (20240101, an export's usual daily format) reads as
    epoch numbers: the daily bars loaded as one-second bars of August 1970, and (under a month,
    or with --allow-gaps) the run reported a Sharpe and drawdown days of those 20 seconds."""
    days = [f"202401{d:02d}" for d in range(1, 21)]
    path = tmp_path / "BTCUSDT_1d.csv"
    path.write_text("date,open,high,low,close,volume\n" + "".join(f"{d},100,101,99,100.5,3\n" for d in days))
    ambiguous = r"row 1: date 20240101 is ambiguous: the date 2024-01-01 or 20,240,101 epoch seconds"
    with pytest.raises(DataError, match=ambiguous):
        load_market_data(path, allow_gaps=allow_gaps)


def test_the_rows_of_many_assets_each_keep_their_own_prices_and_times(tmp_path: Path) -> None:
    """Each asset's rows are grouped in one sort (they were found by turning the whole asset
    column into an array again, once per asset: a million rows of 100 assets took 14 s to load).
    The rows come out time-sorted, each with its own asset's prices, whatever the assets' order
    within a time."""
    assets, times = 300, 12
    ts = np.repeat(1704067200 + 60 * np.arange(times), assets)
    index = np.tile(np.arange(assets), times)
    names = np.array([f"A{i:04d}" for i in range(assets)])[index]
    price = 100.0 + index + (ts - ts[0]) / 60.0 / 100.0  # asset i at minute m: 100 + i + m/100
    rng = np.random.default_rng(7)  # the assets in another order at each time
    order = np.concatenate([m * assets + rng.permutation(assets) for m in range(times)])
    path = tmp_path / "many.parquet"
    table = {"ts": ts[order], "asset": names[order], "open": price[order], "high": price[order]}
    table |= {"low": price[order], "close": price[order], "volume": price[order]}
    pq.write_table(pa.table(table), path)
    data = load_market_data(path)
    assert len(data.assets) == assets and data.interval == 60.0 and len(data) == ts.size
    assert np.all(np.diff(data.ts) >= 0)
    got_index = np.array([int(a[1:]) for a in data.asset])
    expected = 100.0 + got_index + (data.ts - ts[0]) / 60.0 / 100.0
    np.testing.assert_allclose(data.columns["close"], expected)
    for i in (0, 150, assets - 1):
        assert np.count_nonzero(got_index == i) == times


@pytest.mark.parametrize(
    ("bad_row", "cells"),
    [("2024-01-01T00:02:00Z,100,101,99", 4), ("2024-01-01T00:02:00Z,100,101,99,100.5,3,7", 7)],
)
@pytest.mark.parametrize("name", ["BTCUSDT.csv", "BTCUSDT.csv.gz"])
def test_a_row_with_too_few_or_many_cells_is_named_by_row(
    tmp_path: Path, bad_row: str, cells: int, name: str
) -> None:
    """The reader's own error named no row, only the row's text: in a file of millions of rows,
    repeated prices, nowhere to look."""
    import gzip

    rows = [*good_rows(2), bad_row, "2024-01-01T00:03:00Z,100,101,99,100.5,3"]
    text = (HEADER + "".join(r + "\n" for r in rows)).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    with pytest.raises(DataError) as info:
        load_market_data(path)
    assert info.value.row == 3
    assert str(info.value) == f"{path}: row 3: {cells} cells where the header has 6: {bad_row!r}"


@pytest.mark.parametrize(
    ("encoding", "bom", "said"),
    [
        ("utf-16-le", b"\xff\xfe", "the file is UTF-16 text (its first bytes FF FE)"),
        ("utf-16-be", b"\xfe\xff", "the file is UTF-16 text (its first bytes FE FF)"),
        ("utf-32-le", b"\xff\xfe\x00\x00", "the file is UTF-32 text (its first bytes FF FE 00 00)"),
        ("utf-16-le", b"", "the file is UTF-16 text (a NUL byte every other byte)"),
        ("utf-16-be", b"", "the file is UTF-16 text (a NUL byte every other byte)"),
    ],
)
def test_a_utf16_file_is_refused_saying_so(tmp_path: Path, encoding: str, bom: bytes, said: str) -> None:
    """A spreadsheet's "Unicode text" export: refused as "Expected 6 columns, got 1: \\x00", a
    NUL byte written out to the terminal, with no word of the encoding."""
    path = tmp_path / "BTCUSDT.csv"
    path.write_bytes(bom + (HEADER + "".join(r + "\n" for r in good_rows(3))).encode(encoding))
    with pytest.raises(DataError) as info:
        load_market_data(path)
    assert str(info.value) == f"{path}: {said}, not UTF-8: save it as UTF-8 (CSV UTF-8)"


def test_a_nul_byte_in_a_cell_is_named_by_row_as_before(tmp_path: Path) -> None:
    # Not UTF-16 (the NUL is not every other byte): the cell is named, not the encoding.
    path = tmp_path / "BTCUSDT.csv"
    path.write_bytes(
        (HEADER + "".join(r + "\n" for r in good_rows(3))).encode().replace(b"100.5", b"100\x00", 1)
    )
    with pytest.raises(DataError, match=r"row 1: close is '100\\x00', expected a number"):
        load_market_data(path)
