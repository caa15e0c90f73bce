"""A --price naming a symbol neither in the targets nor held (a typo: BTCUSD for BTCUSDT) is
refused, exit 2, naming it and the targets' symbols, before anything is planned or sent."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dita.cli import app

CSV = """symbol,weight,quantity,source_run,generated_at
BTCUSDT,0.5,,run-42,2026-11-28T09:00:00Z
ETHUSDT,,3,run-42,2026-11-28T09:00:00Z
"""


def test_a_price_for_a_symbol_the_run_does_not_know_is_refused_naming_it(tmp_path: Path) -> None:
    targets = tmp_path / "targets.csv"
    targets.write_text(CSV)
    args = [
        "rebalance",
        "--targets",
        str(targets),
        "--state-dir",
        str(tmp_path / "rb"),
        "--paper-book",
        str(tmp_path / "book.json"),
        "--balance",
        "20000",
        "--price",
        "BTCUSD=50000",
        "--price",
        "ETHUSDT=2000",
    ]
    result = CliRunner().invoke(app, args)
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 2, (result.exit_code, out[-600:])
    assert "--price BTCUSD=50000: neither a target nor held" in out, out[-600:]
    assert "the targets' symbols: BTCUSDT, ETHUSDT" in out, out[-600:]
    assert not (tmp_path / "rb").exists() and not (tmp_path / "book.json").exists()


def test_a_price_for_a_symbol_held_in_the_book_is_taken(tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_text("symbol,quantity,source_run,generated_at\nETHUSDT,3,run-1,2026-11-28T09:00:00Z\n")
    then = tmp_path / "then.csv"
    then.write_text("symbol,quantity,source_run,generated_at\nBTCUSDT,0.05,run-2,2026-11-28T10:00:00Z\n")
    common = ["--state-dir", str(tmp_path / "rb"), "--paper-book", str(tmp_path / "book.json")]
    bought = CliRunner().invoke(
        app, ["rebalance", "--targets", str(first), *common, "--price", "ETHUSDT=2000"]
    )
    assert bought.exit_code == 0, bought.output
    prices = ["--price", "BTCUSDT=50000", "--price", "ETHUSDT=2100"]
    result = CliRunner().invoke(app, ["rebalance", "--targets", str(then), *common, *prices, "--json"])
    assert result.exit_code == 0, result.output
