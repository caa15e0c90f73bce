"""A file named .csv that holds no CSV text (gzip-compressed CSV, a Parquet file, a ZIP archive,
as a download or a copy misnames them) is refused saying what it is. It was refused as "Empty
CSV file or block" (a gzip of 100 rows) or with a screen of the file's bytes, and for Parquet and
ZIP with a Python traceback (``Exception ignored in ...``) on stderr before it."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from dita.backtest.data import DataError, load_market_data
from dita.data import generate_bars, write_bars

CSV = "timestamp,open,high,low,close,volume\n" + "".join(
    f"2024-01-01T00:{m:02d}:00Z,100,101,99,100.5,5\n" for m in range(60)
)


def _gzip(path: Path) -> None:
    path.write_bytes(gzip.compress(CSV.encode()))


def _parquet(path: Path) -> None:
    parquet = path.with_name("real.parquet")
    write_bars(generate_bars(days=1, seed=1), parquet)
    path.write_bytes(parquet.read_bytes())


def _zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BTCUSDT-1m-2024-01.csv", CSV)


@pytest.mark.parametrize(
    ("write", "said"),
    [
        (_gzip, "the file is gzip-compressed (its first bytes 1F 8B), not CSV text: name it .csv.gz"),
        (_parquet, "the file is Parquet (its first bytes 50 41 52 31), not CSV text: name it .parquet"),
        (_zip, "the file is a ZIP archive (its first bytes 50 4B 03 04), not CSV text: unzip it"),
    ],
)
def test_a_file_named_csv_holding_no_csv_text_is_refused_saying_what_it_is(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], write: object, said: str
) -> None:
    path = tmp_path / "BTCUSDT.csv"
    write(path)  # type: ignore[operator]
    with pytest.raises(DataError) as info:
        load_market_data(path)
    assert str(info.value) == f"{path}: {said}"
    assert capfd.readouterr().err == ""


def test_the_same_gzip_named_csv_gz_loads(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT.csv.gz"
    _gzip(path)
    assert len(load_market_data(path)) == 60


@pytest.mark.parametrize(
    ("extra", "shown"),
    [("caf\xe9".encode("latin-1"), "caf\\xe9"), ("café".encode(), "café")],
)
def test_a_row_of_another_width_with_bytes_not_utf8_is_named_by_row(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], extra: bytes, shown: str
) -> None:
    # A Latin-1 file's row with a cell too many: the reader could not give the row's text to the
    # handler that numbers it, printed a traceback and said the row's bytes with no number.
    path = tmp_path / "BTCUSDT.csv"
    rows = CSV.encode().splitlines(keepends=True)
    rows[3] = rows[3].rstrip(b"\n") + b"," + extra + b"\n"
    path.write_bytes(b"".join(rows))
    with pytest.raises(DataError) as info:
        load_market_data(path)
    bad = "2024-01-01T00:02:00Z,100,101,99,100.5,5," + shown
    assert str(info.value) == f"{path}: row 3: 7 cells where the header has 6: {bad!r}"
    assert capfd.readouterr().err == ""
