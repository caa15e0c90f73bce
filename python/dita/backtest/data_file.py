"""A file of market history read into a table of named columns, or refused saying why.

The file is CSV (plain or gzipped) or Parquet by its name; a CSV file in UTF-16 or UTF-32, one
that is no text at all under a .csv name (gzip, Parquet, ZIP), a row with more or fewer cells
than the header, and text that is not UTF-8 are each refused with a ``DataError`` saying what
the file holds, where the reader would give a message about its own internals.

The header's names are read case-insensitively (``column_key``), so a name read twice
(``Close`` and ``close``) is refused. The names a file of bars or quotes may use are here (``TIME_COLUMNS``,
``ASSET_COLUMNS``, ``BAR_COLUMNS``, ``QUOTE_COLUMNS``), with what reading a column needs in
more than one place: its first empty cell (``first_null``), a cell as the file writes it
(``as_written``: the reader takes NULL or NA for no value) and one of two columns that say the
same (``one_of_agreeing_columns``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dita._text import shortened
from dita.backtest.data_error import DataError
from dita.data import table_format

__all__ = [
    "ASSET_COLUMNS",
    "BAR_COLUMNS",
    "QUOTE_COLUMNS",
    "TIME_COLUMNS",
    "as_written",
    "column_key",
    "first_null",
    "one_of_agreeing_columns",
    "read_table",
    "refuse_same_name_twice",
    "refuse_text_not_utf8",
]

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
QUOTE_COLUMNS = ("bid", "ask", "bid_size", "ask_size")
TIME_COLUMNS = ("timestamp", "ts", "time", "datetime", "date", "open_time")
ASSET_COLUMNS = ("asset", "symbol")


def read_table(path: Path) -> pa.Table:
    """The file at ``path`` as a table, read by the format its name says (``table_format``)."""
    kind = table_format(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")

    def csv_source() -> Any:
        # pyarrow finds the codec by the exact suffix: not X.CSV.GZ's.
        return pa.CompressedInputStream(str(path), "gzip") if kind == "csv.gz" else path

    try:
        if kind == "parquet":
            return pq.read_table(path)
        if kind in ("csv", "csv.gz"):
            _refuse_other_encodings(path, gzipped=kind == "csv.gz")
            try:
                return pacsv.read_csv(
                    csv_source(), convert_options=_asset_columns_as_text(path, kind == "csv.gz")
                )
            except pa.ArrowInvalid as exc:
                if _COUNT_ERROR.search(str(exc)):
                    _refuse_row_of_other_width(path, csv_source)
                raise
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read {path.name}: {_escaped(str(exc))}", path=str(path)) from exc
    raise DataError(
        f"unsupported file type {path.suffix.lower()!r} (use .csv, .csv.gz or .parquet)", path=str(path)
    )


def _asset_columns_as_text(path: Path, gzipped: bool) -> pacsv.ConvertOptions:
    """Options reading the asset column as text: read as numbers, codes lose their leading zeros
    (Hong Kong's 0700 becomes 700). Names are read case-insensitively, so the header gives the
    spelling to name."""
    names = _header(path, gzipped)
    return pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names if column_key(n) in ASSET_COLUMNS}
    )


def _header(path: Path, gzipped: bool) -> list[str]:
    """The names in a CSV file's header as written, [] when it cannot be read (the reader says
    what is wrong). Only a regular file's header is read: a pipe's would be taken from the reader."""
    if not path.is_file():
        return []
    try:
        with pa.CompressedInputStream(str(path), "gzip") if gzipped else pa.OSFile(str(path)) as stream:
            head = bytes(stream.read(1 << 16)).split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    except (OSError, pa.ArrowInvalid, EOFError):
        return []
    try:
        return next(csv.reader([head.rstrip("\r")]), [])
    except csv.Error:  # a line break inside it: no header of a CSV file
        return []


def as_written(path: str, column: str, row: int) -> str | None:
    """The cell of ``column`` (read as ``column_key``) in a CSV file's data row ``row`` (from 0)
    as written, for an error about a cell the reader took for no value: it takes markers such as
    NULL, NA, N/A and nan for none besides an empty cell. ``'NULL'``, ``empty``, or None where
    the text is not at hand (Parquet, a pipe)."""
    p = Path(path)
    kind = table_format(p)
    if kind not in ("csv", "csv.gz"):
        return None
    written = [n for n in _header(p, kind == "csv.gz") if column_key(n) == column]
    if len(written) != 1:
        return None
    # The column read again as text, every cell a string: on the error's way out only.
    as_text = pacsv.ConvertOptions(
        include_columns=written, column_types={written[0]: pa.string()}, strings_can_be_null=False
    )
    try:
        source = pa.CompressedInputStream(str(p), "gzip") if kind == "csv.gz" else p
        cells = pacsv.read_csv(source, convert_options=as_text).column(0)
    except (pa.ArrowInvalid, OSError):
        return None
    cell = cells[row].as_py() if row < len(cells) else None
    if cell is None:
        return None
    return "empty" if not cell.strip() else repr(cell)


# What the reader says of a row with more or fewer cells than the header: without the row's number
# when it reads in threads, as it does.
_COUNT_ERROR = re.compile(r"Expected \d+ columns, got \d+")
# Byte order marks of the encodings a spreadsheet's "Unicode text" export writes (UTF-32's first:
# little-endian, it starts as UTF-16's does).
_OTHER_ENCODINGS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
# Files that are no text at all, under a .csv name (a download or copy misnaming them): the reader
# refused them as an "Empty CSV file" or with a screen of their bytes, and a traceback on stderr.
_NOT_TEXT = (
    (b"\x1f\x8b", "gzip-compressed", "name it .csv.gz"),
    (b"PAR1", "Parquet", "name it .parquet"),
    (b"PK\x03\x04", "a ZIP archive", "unzip it"),
)


def _refuse_other_encodings(path: Path, *, gzipped: bool) -> None:
    """A CSV file in UTF-16 or UTF-32 (a spreadsheet's "Unicode text"), said as such: the reader
    split it into cells of NUL bytes, refused as ``Expected 6 columns, got 1: \\x00``; so is
    one that is gzip, Parquet or ZIP (``_NOT_TEXT``) under a plain .csv name. Only a
    regular file is looked at: reading the start of a pipe would take it from the reader."""
    if not path.is_file():
        return
    try:
        with pa.CompressedInputStream(str(path), "gzip") if gzipped else pa.OSFile(str(path)) as stream:
            head = bytes(stream.read(4096))
    except (OSError, pa.ArrowInvalid, EOFError):
        return  # the reader says what is wrong
    for mark, what, advice in () if gzipped else _NOT_TEXT:
        if head.startswith(mark):
            raise DataError(
                f"the file is {what} (its first bytes {mark.hex(' ').upper()}), not CSV text: {advice}",
                path=str(path),
            )
    for mark, encoding in _OTHER_ENCODINGS:
        if head.startswith(mark):
            said = f"the file is {encoding} text (its first bytes {mark.hex(' ').upper()})"
            break
    else:
        # Without a mark: ASCII text as UTF-16 has a NUL byte every other byte, and only there.
        pairs = head[: len(head) // 2 * 2][:256]
        if not pairs or not any(
            pairs[nul::2].count(0) == len(pairs) // 2 and 0 not in pairs[1 - nul :: 2] for nul in (0, 1)
        ):
            return
        said = "the file is UTF-16 text (a NUL byte every other byte)"
    raise DataError(f"{said}, not UTF-8: save it as UTF-8 (CSV UTF-8)", path=str(path))


def _refuse_row_of_other_width(path: Path, source: Any) -> None:
    """Names the first row with more or fewer cells than the header, read again in one thread,
    where the reader numbers rows (the header is its row 1, as a data row is numbered from 1 after
    it here; blank lines are not counted). Returns when it finds none."""
    found: list[Any] = []

    def first(row: Any) -> str:
        found.append(row)
        return "error"

    options = pacsv.ParseOptions(invalid_row_handler=first)
    # Read as Latin-1, which every byte is: a row that is not UTF-8 (a Latin-1 file's) could not
    # be handed over as text, and the reader would print a traceback and number no row.
    read = pacsv.ReadOptions(use_threads=False, encoding="latin-1")
    try:
        pacsv.read_csv(source(), read_options=read, parse_options=options)
    except (pa.ArrowInvalid, OSError):
        pass
    if not found or found[0].number is None:
        return
    row = found[0]
    text = row.text.encode("latin-1").decode("utf-8", errors="backslashreplace")  # the file's bytes
    raise DataError(
        f"{row.actual_columns} cells where the header has {row.expected_columns}: {shortened(text, 200)!r}",
        path=str(path),
        row=row.number - 1,
    )


def _escaped(text: str) -> str:
    """``text`` with what is not printable (a NUL, an escape sequence from a row of the file)
    written as its escape, for a terminal."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def column_key(name: str) -> str:
    """How a column name is read: case and surrounding spaces (``timestamp, open``) aside."""
    return name.strip().lower()


def refuse_text_not_utf8(table: pa.Table, path: str) -> None:
    """The CSV reader takes bytes that are not UTF-8 (a file saved as Latin-1) into binary
    columns, and into names that raise UnicodeDecodeError when read: name the cell instead."""
    try:
        columns = table.column_names
    except UnicodeDecodeError as exc:
        raise DataError(f"the header is not UTF-8 text: column {exc.object!r}", path=path) from None
    for name, col in zip(columns, table.columns, strict=True):  # a name may be there twice
        if not (pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type)):
            continue
        for i, value in enumerate(col.to_pylist()):
            try:
                if value is not None:
                    value.decode()
            except UnicodeDecodeError:
                message = f"{name.strip()} is {value!r}, not UTF-8 text"
                raise DataError(message, path=path, row=i + 1) from None


def refuse_same_name_twice(columns: list[str], path: str) -> None:
    """Names are read case-insensitively: ``Close`` and ``close`` would be one column twice."""
    read = {*TIME_COLUMNS, *ASSET_COLUMNS, *BAR_COLUMNS, *QUOTE_COLUMNS}
    seen: dict[str, list[str]] = {}
    for name in columns:
        seen.setdefault(column_key(name), []).append(name)
    for low, names in seen.items():
        if low in read and len(names) > 1:
            raise DataError(
                f"columns {', '.join(repr(n) for n in names)} are all column {low!r} "
                "(names are read case-insensitively); keep one",
                path=path,
            )


def one_of_agreeing_columns(
    found: list[str], read: Callable[[str], Sequence[Any]], names: dict[str, str], kind: str, path: str
) -> str:
    """The first of ``found``, columns that could each give the rows' time (``open_time`` and
    ``timestamp``, say) or asset (``asset`` and ``symbol``), once each says the same on every row
    as it (``read``: a column's values): a ccxt dump's ``timestamp`` and ``datetime`` do. Two
    that differ (a ``timestamp`` of close times) are refused naming the first row they differ
    at: which one the file means is not for the reader to guess."""
    first = read(found[0])
    for other in found[1:]:
        values = read(other)
        row = next((i for i, (a, b) in enumerate(zip(first, values, strict=True)) if _differ(a, b)), None)
        if row is not None:
            raise DataError(
                f"columns {names[found[0]]!r} and {names[other]!r} are both {kind} and differ "
                f"({first[row]!r} against {values[row]!r}): keep the one the rows mean",
                path=path,
                row=row + 1,
            )
    return found[0]


def first_null(arr: pa.ChunkedArray | pa.Array) -> int | None:
    """The place (from 0) of the first cell of ``arr`` holding no value; None when all do."""
    if arr.null_count == 0:
        return None
    mask = np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False))
    return int(np.flatnonzero(mask)[0])


def _differ(a: Any, b: Any) -> bool:
    """Whether two cells say different things; two missing times (NaN) say the same."""
    return bool(a != b) and not (a != a and b != b)
