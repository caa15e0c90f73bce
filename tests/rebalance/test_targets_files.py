"""A targets file read as JSON, CSV or Parquet, and a bad row refused naming its row, field and value."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dita.rebalance import TargetError, read_targets

STAMP = {"source_run": "run-7", "generated_at": "2026-11-28T09:00:00Z"}


def test_csv_with_weights_and_quantities(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "symbol,weight,quantity,source_run,generated_at\n"
        "BTCUSDT,0.5,,run-7,2026-11-28T09:00:00Z\n"
        "ETHUSDT,,3,run-7,2026-11-28T09:00:00Z\n"
    )
    portfolio = read_targets(path)
    assert portfolio.source_run == "run-7"
    assert [(t.symbol, t.weight, t.quantity) for t in portfolio.targets] == [
        ("BTCUSDT", 0.5, None),
        ("ETHUSDT", None, 3.0),
    ]


def test_json_stamped_once_and_parquet_alike(tmp_path: Path) -> None:
    rows = [{"symbol": "BTCUSDT", "weight": 0.25}, {"symbol": "ETHUSDT", "quantity": -1.5}]
    as_json = tmp_path / "t.json"
    as_json.write_text(json.dumps({**STAMP, "targets": rows}))
    as_parquet = tmp_path / "t.parquet"
    table = pa.table(
        {
            "symbol": ["BTCUSDT", "ETHUSDT"],
            "weight": [0.25, None],
            "quantity": [None, -1.5],
            "source_run": ["run-7"] * 2,
            "generated_at": [STAMP["generated_at"]] * 2,
        }
    )
    pq.write_table(table, as_parquet)
    for path in (as_json, as_parquet):
        portfolio = read_targets(path)
        assert [(t.symbol, t.weight, t.quantity) for t in portfolio.targets] == [
            ("BTCUSDT", 0.25, None),
            ("ETHUSDT", None, -1.5),
        ]
        assert portfolio.generated_at.isoformat() == "2026-11-28T09:00:00+00:00"


@pytest.mark.parametrize(
    ("row", "field", "value"),
    [
        ("ETHUSDT,abc,,run-7,2026-11-28T09:00:00Z", "weight", "abc"),
        ("ETHUSDT,0.1,2,run-7,2026-11-28T09:00:00Z", "weight/quantity", {"weight": "0.1", "quantity": "2"}),
        (",0.1,,run-7,2026-11-28T09:00:00Z", "symbol", ""),
        ("ETHUSDT,0.1,,run-8,2026-11-28T09:00:00Z", "source_run", "run-8"),
        ("ETHUSDT,0.1,,run-7,yesterday", "generated_at", "yesterday"),
        ("BTCUSDT,0.1,,run-7,2026-11-28T09:00:00Z", "symbol", "BTCUSDT"),
        ("ETHUSDT,nan,,run-7,2026-11-28T09:00:00Z", "weight", "nan"),
    ],
)
def test_a_bad_row_is_refused_naming_row_field_and_value(
    tmp_path: Path, row: str, field: str, value: object
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        f"symbol,weight,quantity,source_run,generated_at\nBTCUSDT,0.5,,run-7,2026-11-28T09:00:00Z\n{row}\n"
    )
    with pytest.raises(TargetError) as refused:
        read_targets(path)
    assert (refused.value.row, refused.value.field, refused.value.value) == (2, field, value)
    assert f"row 2: {field} {value!r}" in str(refused.value)


@pytest.mark.parametrize(
    ("weight", "quantity", "field", "value"),
    [
        ("1_0", "", "weight", "1_0"),  # float() reads 10: ten times equity
        ("0_5", "", "weight", "0_5"),  # 5
        ("\u0660.\u0665", "", "weight", "\u0660.\u0665"),  # Arabic-Indic digits, 0.5 to float()
        ("", "1_000", "quantity", "1_000"),
        ("", "\uff13", "quantity", "\uff13"),  # a full-width 3
    ],
)
def test_a_number_not_in_ascii_digits_is_refused_naming_row_field_and_value(
    tmp_path: Path, weight: str, quantity: str, field: str, value: str
) -> None:
    """Read as the gateway reads a number sent as text: float()'s own spellings are numbers a
    person does not read there."""
    path = tmp_path / "t.csv"
    path.write_text(
        "symbol,weight,quantity,source_run,generated_at\n"
        "BTCUSDT,0.5,,run-7,2026-11-28T09:00:00Z\n"
        f"ETHUSDT,{weight},{quantity},run-7,2026-11-28T09:00:00Z\n",
        encoding="utf-8",
    )
    with pytest.raises(TargetError) as refused:
        read_targets(path)
    assert (refused.value.row, refused.value.field, refused.value.value) == (2, field, value)
    assert f"row 2: {field} {value!r} is not a number in ASCII digits" in str(refused.value)


def test_a_number_written_as_text_in_json_is_read_as_a_csv_cell_is(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    rows = [{"symbol": "BTCUSDT", "weight": "0.25"}, {"symbol": "ETHUSDT", "quantity": "1_5"}]
    path.write_text(json.dumps({**STAMP, "targets": rows}))
    with pytest.raises(TargetError) as refused:
        read_targets(path)
    assert (refused.value.row, refused.value.field, refused.value.value) == (2, "quantity", "1_5")


def test_blanks_around_a_number_in_a_cell_are_read_past(tmp_path: Path) -> None:
    """ "BTCUSDT, 0.5" is how a person writes a CSV by hand: the number is 0.5 all the same."""
    path = tmp_path / "t.csv"
    path.write_text("symbol,weight,source_run,generated_at\nBTCUSDT, 0.5 ,run-7,2026-11-28T09:00:00Z\n")
    assert [t.weight for t in read_targets(path).targets] == [0.5]


def test_a_column_named_twice_is_refused_naming_it(tmp_path: Path) -> None:
    """A row read as a dict keeps the last cell of a column named twice: 0.5 then 0.6 planned 0.6."""
    as_csv = tmp_path / "t.csv"
    as_csv.write_text(
        "symbol,weight,weight,source_run,generated_at\nBTCUSDT,0.5,0.6,run-7,2026-11-28T09:00:00Z\n"
    )
    as_parquet = tmp_path / "t.parquet"
    columns = [["BTCUSDT"], [0.5], [0.6], ["run-7"], [STAMP["generated_at"]]]
    names = ["symbol", "weight", "weight", "source_run", "generated_at"]
    pq.write_table(pa.Table.from_arrays([pa.array(c) for c in columns], names=names), as_parquet)
    for path in (as_csv, as_parquet):
        with pytest.raises(TargetError) as refused:
            read_targets(path)
        assert (refused.value.row, refused.value.field, refused.value.value) == (0, "column", "weight")
        assert str(refused.value) == f"{path}: column 'weight' is named twice (columns 2 and 3)"


@pytest.mark.parametrize("column", ["Weight", " weight", "SYMBOL"])
def test_a_column_read_but_for_case_or_blanks_is_refused_naming_it(tmp_path: Path, column: str) -> None:
    """Left unread, a ``Weight`` column would leave every row with neither weight nor quantity."""
    header = ["symbol", "weight", "source_run", "generated_at"]
    header[["symbol", "weight"].index(column.strip().lower())] = column
    as_csv = tmp_path / "t.csv"
    as_csv.write_text(",".join(header) + "\nBTCUSDT,0.5,run-7,2026-11-28T09:00:00Z\n")
    as_parquet = tmp_path / "t.parquet"
    columns = [["BTCUSDT"], [0.5], ["run-7"], [STAMP["generated_at"]]]
    pq.write_table(pa.Table.from_arrays([pa.array(c) for c in columns], names=header), as_parquet)
    for path in (as_csv, as_parquet):
        with pytest.raises(TargetError) as refused:
            read_targets(path)
        assert (refused.value.row, refused.value.field, refused.value.value) == (0, "column", column)
        assert f"did you mean {column.strip().lower()!r}" in str(refused.value)


def test_a_json_key_read_but_for_case_is_refused_naming_its_row(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    rows = [{"symbol": "BTCUSDT", "weight": 0.5}, {"symbol": "ETHUSDT", "Weight": 0.3}]
    path.write_text(json.dumps({**STAMP, "targets": rows}))
    with pytest.raises(TargetError) as refused:
        read_targets(path)
    assert (refused.value.row, refused.value.field, refused.value.value) == (2, "key", "Weight")


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("source_run", "run-6", "differs from the file's 'run-7'"),
        ("generated_at", "2026-11-27T09:00:00Z", "differs from the file's '2026-11-28T09:00:00Z'"),
    ],
)
@pytest.mark.parametrize("row", [1, 2])
def test_a_json_row_stamped_otherwise_than_its_file_is_refused_naming_it(
    tmp_path: Path, field: str, value: str, said: str, row: int
) -> None:
    """A row pasted from an older file: taken, its orders would go out under that file's run,
    and `dita audit trace run-7` would find none of them."""
    path = tmp_path / "t.json"
    rows: list[dict[str, object]] = [
        {"symbol": "BTCUSDT", "weight": 0.5},
        {"symbol": "ETHUSDT", "weight": 0.3},
    ]
    rows[row - 1][field] = value
    path.write_text(json.dumps({**STAMP, "targets": rows}))
    with pytest.raises(TargetError) as refused:
        read_targets(path)
    assert (refused.value.row, refused.value.field, refused.value.value) == (row, field, value)
    assert str(refused.value) == f"{path} row {row}: {field} {value!r} {said}"


def test_a_json_row_stamped_as_its_file_is_taken(tmp_path: Path) -> None:
    """The same run and the same time, written otherwise (blanks around the id, another zone's
    spelling of UTC), are the file's stamp."""
    path = tmp_path / "t.json"
    rows = [
        {"symbol": "BTCUSDT", "weight": 0.5, "source_run": " run-7 "},
        {"symbol": "ETHUSDT", "weight": 0.3, "generated_at": "2026-11-28T09:00:00+00:00"},
    ]
    path.write_text(json.dumps({**STAMP, "targets": rows}))
    portfolio = read_targets(path)
    assert (portfolio.source_run, portfolio.generated_at.isoformat()) == (
        "run-7",
        "2026-11-28T09:00:00+00:00",
    )


def test_a_column_left_unread_may_be_named_twice(tmp_path: Path) -> None:
    """A spreadsheet's CSV export names its blank columns past the data '' each: those are not
    read, so the file is, as a Parquet file naming an unread column twice is."""
    as_csv = tmp_path / "t.csv"
    as_csv.write_bytes(
        b"symbol,weight,source_run,generated_at,,\r\n"
        b"BTCUSDT,0.5,run-7,2026-11-28T09:00:00Z,,\r\n"
        b"ETHUSDT,0.3,run-7,2026-11-28T09:00:00Z,,\r\n"
    )
    as_parquet = tmp_path / "t.parquet"
    columns = [["BTCUSDT", "ETHUSDT"], [0.5, 0.3], ["run-7"] * 2, [STAMP["generated_at"]] * 2]
    columns += [["a", "b"], ["c", "d"]]
    names = ["symbol", "weight", "source_run", "generated_at", "note", "note"]
    pq.write_table(pa.Table.from_arrays([pa.array(c) for c in columns], names=names), as_parquet)
    for path in (as_csv, as_parquet):
        portfolio = read_targets(path)
        assert [(t.symbol, t.weight) for t in portfolio.targets] == [("BTCUSDT", 0.5), ("ETHUSDT", 0.3)]


STAMP_TEXT = '"source_run": "run-7", "generated_at": "2026-11-28T09:00:00Z"'


@pytest.mark.parametrize(
    ("text", "key", "first", "then"),
    [
        (f'[{{"symbol": "BTCUSDT", "weight": 0.5, "weight": 0.6, {STAMP_TEXT}}}]', "weight", 0.5, 0.6),
        (f'{{"source_run": "run-8", {STAMP_TEXT}, "targets": []}}', "source_run", "run-8", "run-7"),
    ],
)
def test_a_key_given_twice_in_a_json_object_is_refused_naming_it(
    tmp_path: Path, text: str, key: str, first: object, then: object
) -> None:
    """json.loads keeps the last of a repeated key: a weight written twice was planned as the second."""
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(TargetError) as refused:
        read_targets(path)
    assert (refused.value.field, refused.value.value) == ("key", key)
    assert str(refused.value) == (
        f"{path}: key {key!r} is given more than once in one object ({first!r}, then {then!r})"
    )


def test_a_json_file_nested_too_deeply_is_refused_naming_it(tmp_path: Path) -> None:
    """Deeper than json's recursion can follow: a RecursionError, which ended the run in a traceback."""
    path = tmp_path / "t.json"
    path.write_text("[" * 100_000)
    with pytest.raises(TargetError, match=r"t\.json' is not JSON: nested too deeply"):
        read_targets(path)


def test_a_csv_cell_over_the_csv_modules_field_limit_is_refused_naming_row_and_line(tmp_path: Path) -> None:
    """The csv module's _csv.Error ended the run in a traceback."""
    path = tmp_path / "t.csv"
    path.write_text(
        "symbol,weight,source_run,generated_at\n"
        "BTCUSDT,0.5,run-7,2026-11-28T09:00:00Z\n"
        f"ETHUSDT,0.1,{'r' * 200_000},2026-11-28T09:00:00Z\n"
    )
    with pytest.raises(TargetError) as refused:
        read_targets(path)
    assert (refused.value.row, refused.value.field, refused.value.value) == (2, "line", 3)
    assert str(refused.value).startswith(
        f"{path} row 2: line 3 cannot be read: field larger than field limit"
    )


def test_a_csv_row_with_cells_past_the_header_is_refused_naming_them(tmp_path: Path) -> None:
    """The cells past the header were dropped unread: a weight shifted by a stray comma."""
    path = tmp_path / "t.csv"
    path.write_text(
        "symbol,weight,source_run,generated_at\n"
        "BTCUSDT,0.5,run-7,2026-11-28T09:00:00Z\n"
        "ETHUSDT,,0.1,run-7,2026-11-28T09:00:00Z\n"
    )
    with pytest.raises(TargetError) as refused:
        read_targets(path)
    assert (
        str(refused.value) == f"{path} row 2: cells ['2026-11-28T09:00:00Z'] are past the header's 4 columns"
    )


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    path.write_text("")
    with pytest.raises(TargetError, match=r"format '\.xlsx'"):
        read_targets(path)


def test_an_integer_beyond_any_float_is_refused_naming_it(tmp_path: Path) -> None:
    """JSON reads 1 and 400 zeros as an integer, which float() refused with an OverflowError."""
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTCUSDT", "quantity": 10**400}]}))
    with pytest.raises(TargetError) as refused:
        read_targets(path)
    assert (refused.value.row, refused.value.field, refused.value.reason) == (1, "quantity", "is too large")


def test_weights_beyond_ten_of_equity_all_together_are_refused(tmp_path: Path) -> None:
    """Each under the cap of 10 (4 % typed as 4), twelve times equity in all."""
    path = tmp_path / "t.csv"
    rows = "".join(
        f"{symbol},4,,run-7,2026-11-28T09:00:00Z\n" for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    )
    path.write_text("symbol,weight,quantity,source_run,generated_at\n" + rows)
    with pytest.raises(TargetError) as refused:
        read_targets(path)
    assert (refused.value.row, refused.value.field, refused.value.value) == (0, "weights", 12.0)
    assert str(refused.value) == f"{path}: weights 12.0 sum beyond 10 of equity in absolute value"
