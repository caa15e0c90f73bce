"""A target portfolio read from a file: JSON, CSV or Parquet rows of ``symbol`` with a ``weight``
of equity or a ``quantity``, each stamped with the ``source_run`` of the research run that made
it and its ``generated_at``. Every row is checked before anything is planned: a bad one is
refused naming its row number, the field and the value (``TargetError``)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from dita._files import GivenTwice, one_value_each, parsed
from dita._numbers import is_real, plain_number

__all__ = ["Target", "TargetError", "TargetPortfolio", "parse_targets", "read_targets"]

FORMATS = (".json", ".csv", ".parquet")
# A weight is a share of equity: beyond this in magnitude, alone or all together, it is a typo,
# not a portfolio.
MAX_WEIGHT = 10.0
_NOT_PLAIN = "is not a number in ASCII digits (sign, fraction and exponent optional)"
# The columns a row is read from; any other is left unread, named once or more (a spreadsheet's
# export names its blank columns past the data '' each).
READ_COLUMNS = frozenset({"symbol", "weight", "quantity", "source_run", "generated_at"})


class TargetError(ValueError):
    """A targets file that cannot be planned from: the row (1 = the first data row), the field
    and the value that are wrong, or the file as a whole (row 0)."""

    def __init__(self, path: str, row: int, field: str, value: object, reason: str) -> None:
        where = f"{path} row {row}" if row else path
        super().__init__(f"{where}: {field} {value!r} {reason}")
        self.path, self.row, self.field, self.value, self.reason = path, row, field, value, reason


@dataclass(frozen=True)
class Target:
    """One symbol's target: a ``weight`` of equity or a ``quantity`` (signed: negative is short)."""

    symbol: str
    weight: float | None
    quantity: float | None
    row: int


@dataclass(frozen=True)
class TargetPortfolio:
    source_run: str
    generated_at: datetime
    targets: tuple[Target, ...]
    content_hash: str  # sha256 of the file's bytes: a new version of one source_run is told by it
    path: str

    def symbols(self) -> list[str]:
        return [t.symbol for t in self.targets]

    def gross_weight(self) -> float:
        """The weights' sum in absolute value: the share of equity the portfolio holds."""
        return _gross_weight(self.targets)


def read_targets(path: Path) -> TargetPortfolio:
    """The portfolio in ``path``, its format told by its suffix."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise TargetError(str(path), 0, "format", suffix or path.name, f"is not one of {', '.join(FORMATS)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TargetError(str(path), 0, "file", str(path), f"cannot be read: {exc}") from None
    return parse_targets(data, suffix, str(path))


def parse_targets(data: bytes, suffix: str, name: str) -> TargetPortfolio:
    rows = _rows(data, suffix, name)
    return _portfolio(rows, hashlib.sha256(data).hexdigest(), name)


def _rows(data: bytes, suffix: str, name: str) -> list[dict[str, Any]]:
    if suffix == ".json":
        return _json_rows(data, name)
    if suffix == ".csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TargetError(name, 0, "encoding", "utf-8", f"does not read it: {exc}") from None
        return _csv_rows(text, name)
    import pyarrow.parquet as pq

    try:
        # Read as one file: read_table's dataset reader refuses a column named twice as a bad file.
        table = pq.ParquetFile(io.BytesIO(data)).read()
    except Exception as exc:  # pyarrow raises its own kinds for a file that is not Parquet
        raise TargetError(name, 0, "file", name, f"is not a Parquet file: {exc}") from None
    _refuse_repeated_columns(table.column_names, name)
    return list(table.to_pylist())


def _refuse_repeated_columns(columns: Iterable[str], name: str) -> None:
    """A column read (``READ_COLUMNS``) named twice is refused: a row read as a dict keeps the
    last of its cells, so weights 0.5 then 0.6 would plan 0.6 without a word."""
    first: dict[str, int] = {}
    for number, column in enumerate(columns, 1):
        if column not in READ_COLUMNS:
            _refuse_misspelt(column, name, 0, "column")
            continue
        if column in first:
            raise TargetError(
                name, 0, "column", column, f"is named twice (columns {first[column]} and {number})"
            )
        first[column] = number


def _refuse_misspelt(key: object, name: str, row: int, field: str) -> None:
    """A column or key that reads as one of ``READ_COLUMNS`` but for case or blanks is refused:
    left unread, its weights would leave every row without one."""
    meant = key.strip().lower() if isinstance(key, str) else None
    if meant in READ_COLUMNS:
        raise TargetError(name, row, field, key, f"is not read: names are lowercase, did you mean {meant!r}?")


def _csv_rows(text: str, name: str) -> list[dict[str, Any]]:
    """The rows under the header. A row with more cells than the header names is refused: the
    cells past it would be dropped unread (a weight in a column shifted by a stray comma). So is a
    line the csv module cannot read (a cell over its field limit)."""
    reader = csv.DictReader(io.StringIO(text))
    rows: list[dict[str, Any]] = []
    try:
        header = reader.fieldnames or ()
    except csv.Error as exc:
        raise TargetError(name, 0, "line", 1, f"cannot be read: {exc}") from None
    _refuse_repeated_columns(header, name)
    columns = len(header)
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            # line_num counts the lines read whole: the one that failed is the next.
            line = reader.line_num + 1
            raise TargetError(name, len(rows) + 1, "line", line, f"cannot be read: {exc}") from None
        if cells is None:
            return rows
        if None in cells:
            raise TargetError(
                name, len(rows) + 1, "cells", cells[None], f"are past the header's {columns} columns"
            )
        rows.append(dict(cells))


def _json_rows(data: bytes, name: str) -> list[dict[str, Any]]:
    """A list of rows, or ``{"source_run", "generated_at", "targets": [rows]}`` whose stamp each
    row takes: a row stamped otherwise is refused (``_refuse_stamped_apart``). An object giving a
    key twice is refused: json.loads keeps the last, a weight written twice would be planned as
    the second."""
    try:
        loaded = parsed(lambda text: json.loads(text, object_pairs_hook=one_value_each), data)
    except GivenTwice as exc:
        given = f"is given more than once in one object ({exc.first!r}, then {exc.then!r})"
        raise TargetError(name, 0, "key", exc.key, given) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise TargetError(name, 0, "file", name, f"is not JSON: {exc}") from None
    if isinstance(loaded, list):
        rows = loaded
        stamp: dict[str, Any] = {}
    elif isinstance(loaded, dict) and isinstance(loaded.get("targets"), list):
        rows = loaded["targets"]
        stamp = {k: loaded[k] for k in ("source_run", "generated_at") if k in loaded}
    else:
        raise TargetError(
            name, 0, "file", type(loaded).__name__, "is neither a list of rows nor {'targets': [...]}"
        )
    out = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise TargetError(name, i, "row", row, "is not an object")
        for key in row.keys() - READ_COLUMNS:
            _refuse_misspelt(key, name, i, "key")
        _refuse_stamped_apart(row, stamp, name, i)
        out.append({**stamp, **row})
    return out


def _refuse_stamped_apart(row: Mapping[str, Any], stamp: Mapping[str, Any], name: str, i: int) -> None:
    """A row carrying a ``source_run`` or ``generated_at`` other than the file's (one pasted from
    an older file) is refused: its orders would go out under that run, and tracing the file's
    run would find none of them. A row stamped as the file is taken."""
    if "source_run" in stamp and "source_run" in row:
        file_run = _source_run(stamp["source_run"], name, 0)
        if _source_run(row["source_run"], name, i) != file_run:
            raise TargetError(
                name, i, "source_run", row["source_run"], f"differs from the file's {file_run!r}"
            )
    if "generated_at" in stamp and "generated_at" in row:
        file_time = _generated_at(stamp["generated_at"], name, 0)
        if _generated_at(row["generated_at"], name, i) != file_time:
            raise TargetError(
                name,
                i,
                "generated_at",
                row["generated_at"],
                f"differs from the file's {stamp['generated_at']!r}",
            )


def _portfolio(rows: list[dict[str, Any]], content_hash: str, name: str) -> TargetPortfolio:
    if not rows:
        raise TargetError(name, 0, "targets", [], "holds no row")
    targets: list[Target] = []
    seen: dict[str, int] = {}
    source_run = generated_at = None
    for i, row in enumerate(rows, 1):
        run = _source_run(row.get("source_run"), name, i)
        when = _generated_at(row.get("generated_at"), name, i)
        if source_run is None:
            source_run, generated_at = run, when
        elif run != source_run:
            raise TargetError(name, i, "source_run", run, f"differs from row 1's {source_run!r}")
        elif when != generated_at:
            raise TargetError(name, i, "generated_at", row.get("generated_at"), "differs from row 1's")
        target = _target(row, name, i)
        if target.symbol in seen:
            raise TargetError(
                name, i, "symbol", target.symbol, f"is listed already in row {seen[target.symbol]}"
            )
        seen[target.symbol] = i
        targets.append(target)
    assert source_run is not None and generated_at is not None
    gross = _gross_weight(targets)
    if gross > MAX_WEIGHT:
        raise TargetError(name, 0, "weights", gross, f"sum beyond {MAX_WEIGHT:g} of equity in absolute value")
    return TargetPortfolio(source_run, generated_at, tuple(targets), content_hash, name)


def _gross_weight(targets: Iterable[Target]) -> float:
    return math.fsum(abs(t.weight) for t in targets if t.weight is not None)


def _source_run(value: object, name: str, row: int) -> str:
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise TargetError(name, row, "source_run", value, "must be the research run's id (non-empty text)")
    return value.strip()


def _generated_at(value: object, name: str, row: int) -> datetime:
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise TargetError(name, row, "generated_at", value, "is not an ISO 8601 time") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _target(row: Mapping[str, Any], name: str, i: int) -> Target:
    symbol = row.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip() or "\x00" in symbol:
        raise TargetError(name, i, "symbol", symbol, "must be non-empty text")
    weight = _number(row.get("weight"), "weight", name, i)
    quantity = _number(row.get("quantity"), "quantity", name, i)
    if (weight is None) == (quantity is None):
        given = {"weight": row.get("weight"), "quantity": row.get("quantity")}
        raise TargetError(name, i, "weight/quantity", given, "must give exactly one of weight or quantity")
    if weight is not None and abs(weight) > MAX_WEIGHT:
        raise TargetError(name, i, "weight", row.get("weight"), f"is beyond +-{MAX_WEIGHT:g} of equity")
    return Target(symbol.strip(), weight, quantity, i)


def _number(value: object, field: str, name: str, row: int) -> float | None:
    """A finite number, or None for a blank (a CSV's empty cell, a JSON null, a missing key).
    Text is read as the gateway reads it (``plain_number``), its blanks around it aside: float()
    also reads "1_0" as 10 and other scripts' digits, numbers a person does not read there."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        if not plain_number(value.strip()):
            raise TargetError(name, row, field, value, _NOT_PLAIN)
    elif not (is_real(value) or isinstance(value, Decimal)):  # a Parquet decimal column gives Decimal
        raise TargetError(name, row, field, value, "is not a number")
    try:
        number = float(value)
    except ValueError:  # a signalling NaN's Decimal
        raise TargetError(name, row, field, value, "is not a number") from None
    except OverflowError:  # an integer beyond any float (JSON reads 1 and 400 zeros as one)
        raise TargetError(name, row, field, value, "is too large") from None
    if not math.isfinite(number):
        raise TargetError(name, row, field, value, "is not finite")
    return number
