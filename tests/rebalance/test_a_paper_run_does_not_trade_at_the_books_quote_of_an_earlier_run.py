"""A paper run trades at the prices it is given with ``--price`` only. The ``--paper-book`` keeps
the quotes of an earlier run; a symbol given no price now is skipped as "no price", naming that
quote and its age, and what is held of it is valued at that quote in equity with a warning
saying so (docs/guides/rebalancing.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app

STAMP = {"source_run": "run-62", "generated_at": "2026-11-28T09:00:00Z"}


def version(tmp_path: Path, name: str, *rows: dict[str, object]) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({**STAMP, "source_run": name, "targets": list(rows)}))
    return path


def run(tmp_path: Path, targets: Path, *options: str) -> dict[str, object]:
    state, book = tmp_path / "s", tmp_path / "book.json"
    args = ["rebalance", "--targets", str(targets), "--state-dir", str(state), "--paper-book", str(book)]
    result = CliRunner().invoke(app, [*args, "--json", "--fill-wait", "0", *options])
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_symbol_given_no_price_is_skipped_not_traded_at_the_books_quote(
    tmp_path: Path, dry_run: bool
) -> None:
    """BTC bought at 50,000, then a new version run with ETH's price alone (BTC has moved since):
    BTC's saved quote sized and filled a sell at 50,000 without a word."""
    first = version(tmp_path, "a", {"symbol": "BTC", "weight": 0.5}, {"symbol": "ETH", "quantity": 1})
    run(tmp_path, first, "--price", "BTC=50000", "--price", "ETH=2000")
    book = tmp_path / "book.json"
    held = json.loads(book.read_text())["positions"]
    assert held == {"BTC": 0.1, "ETH": 1.0}

    later = version(tmp_path, "b", {"symbol": "BTC", "weight": 0.2}, {"symbol": "ETH", "quantity": 2})
    report = run(tmp_path, later, "--price", "ETH=2100", *(["--dry-run"] if dry_run else []))
    rows = {row["symbol"]: row for row in report["symbols"]}  # type: ignore[attr-defined]
    btc = rows["BTC"]
    assert btc["orders"] == [] and btc["reference_price"] is None
    assert (btc["skipped"]["reason"], btc["skipped"]["residual"]) == ("no price", None)
    said = "no --price BTC given: the paper book's quote 50000 is an earlier run's (quoted at "
    assert btc["skipped"]["detail"].startswith(said), btc["skipped"]
    assert btc["skipped"]["detail"].endswith(" ago or more)")
    # Held, it is worth something all the same: valued at that quote, and said so.
    (warning,) = report["warnings"]  # type: ignore[misc]
    assert warning.startswith(f"BTC: {said}") and warning.endswith("; the 0.1 held is valued at it in equity")
    # The cash the first run left (10,000 less the buys and their fees), and the positions.
    assert report["equity"] == pytest.approx(2_996.5 + 0.1 * 50_000 + 1 * 2_100)
    assert [(o["side"], o["quantity"]) for o in rows["ETH"]["orders"]] == [("BUY", 1.0)]
    after = json.loads(book.read_text())["positions"]
    assert after == (held if dry_run else {"BTC": 0.1, "ETH": 2.0})
    if not dry_run:
        assert [f["price"] for f in rows["ETH"]["fills"]] == [2_100.0]


def test_a_symbol_given_its_price_again_trades_at_it(tmp_path: Path) -> None:
    first = version(tmp_path, "a", {"symbol": "BTC", "weight": 0.5})
    run(tmp_path, first, "--price", "BTC=50000")
    report = run(tmp_path, version(tmp_path, "b", {"symbol": "BTC", "weight": 0.2}), "--price", "BTC=40000")
    (row,) = report["symbols"]  # type: ignore[misc]
    assert report["warnings"] == [] and row["skipped"] is None
    assert [(o["side"], o["status"]) for o in row["orders"]] == [("SELL", "sent")]
    assert [f["price"] for f in row["fills"]] == [40_000.0]
