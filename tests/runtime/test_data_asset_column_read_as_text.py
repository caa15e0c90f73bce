"""The asset column is read as text: codes keep their leading zeros, and a column that holds no
text names its type instead of ending in pyarrow's traceback."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dita.backtest.data import DataError, load_market_data
from dita.cli import app


def _hong_kong(header: str) -> str:
    rows = []
    for day in range(1, 4):
        rows += [f"2024-01-0{day}T00:00:00Z,0700,1,2,1,1,1", f"2024-01-0{day}T00:00:00Z,0005,1,2,1,1,1"]
    return f"timestamp,{header},open,high,low,close,volume\n" + "".join(r + "\n" for r in rows)


@pytest.mark.parametrize("header", ["symbol", " Symbol", "ASSET"])
def test_asset_codes_keep_their_leading_zeros(tmp_path: Path, header: str) -> None:
    path = tmp_path / "hk.csv"
    path.write_text(_hong_kong(header))
    assert load_market_data(path).assets == ["0005", "0700"]


def test_asset_codes_keep_their_leading_zeros_in_a_gzipped_csv(tmp_path: Path) -> None:
    path = tmp_path / "hk.csv.gz"
    path.write_bytes(gzip.compress(_hong_kong("Symbol").encode()))
    assert load_market_data(path).assets == ["0005", "0700"]


def _listed_assets(tmp_path: Path) -> Path:
    table = {"timestamp": pa.array([1704067200.0, 1704067260.0]), "asset": pa.array([["BTC"], ["BTC"]])}
    table |= {name: [1.0, 1.0] for name in ("open", "low", "close", "volume")} | {"high": [2.0, 2.0]}
    pq.write_table(pa.table(table), tmp_path / "x.parquet")
    return tmp_path / "x.parquet"


def test_an_asset_column_of_lists_is_refused_naming_its_type(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"column 'asset' has type list<element: string>, expected text"):
        load_market_data(_listed_assets(tmp_path))


def test_dita_backtest_refuses_an_asset_column_of_lists_with_exit_2(tmp_path: Path) -> None:
    args = ["backtest", "--strategy", "dita.examples.crossover:SmaCrossover"]
    args += ["--data", str(_listed_assets(tmp_path)), "--out", str(tmp_path / "out")]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2, done.output
    assert "column 'asset' has type list<element: string>" in done.output
