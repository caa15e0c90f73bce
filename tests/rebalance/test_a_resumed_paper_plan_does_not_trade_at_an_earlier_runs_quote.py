"""A paper plan resumed after a kill trades at the prices given with ``--price`` only, as a fresh
run does: a leg the kernel has not taken, of a symbol given no price now, is not sent at the
quote the book keeps from the killed run; it is skipped as "no price", naming that quote. A leg
the kernel took is reported as it went (docs/guides/rebalancing.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from dita.cli import app

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {
    "source_run": "run-k",
    "generated_at": "2026-11-28T09:00:00Z",
    "targets": [
        {"symbol": "BTC", "quantity": 0.1},
        {"symbol": "ETH", "quantity": 1.0},
        {"symbol": "SOL", "quantity": 10.0},
    ],
}
PRICES = {"BTC": "--price=BTC=50000", "ETH": "--price=ETH=2000", "SOL": "--price=SOL=100"}


def killed_after_two_legs(tmp_path: Path) -> list[str]:
    """The rebalance's arguments, run and killed at the book's save after its second leg (ETH):
    SOL's leg is not sent, and the book keeps SOL's quote of 100."""
    targets, state, book = tmp_path / "t.json", tmp_path / "s", tmp_path / "book.json"
    targets.write_text(json.dumps(TARGETS))
    args = ["rebalance", "--targets", str(targets), "--state-dir", str(state), "--paper-book", str(book)]
    script = Path(__file__).with_name("killed_before_book_saved.py")
    killed = subprocess.run(
        [sys.executable, str(script), "2", *args, *PRICES.values(), "--balance", "100000"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 9, killed.stderr
    assert "SOL" in json.loads(book.read_text())["quotes"]
    return [*args, "--json", "--fill-wait", "0"]


def resumed(args: list[str], *priced: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, [*args, *(PRICES[symbol] for symbol in priced)])
    assert result.exit_code == 0, result.output
    report: dict = json.loads(result.stdout)  # type: ignore[type-arg]
    return report


def test_a_resumed_leg_of_a_symbol_given_no_price_is_skipped_not_traded_at_the_books_quote(
    tmp_path: Path,
) -> None:
    args = killed_after_two_legs(tmp_path)
    report = resumed(args, "BTC")
    assert report["resumed"]
    rows = {row["symbol"]: row for row in report["symbols"]}
    sol = rows["SOL"]
    assert [(o["status"], o["quantity"]) for o in sol["orders"]] == [("no price", 10.0)]
    assert sol["fills"] == [] and sol["position_after"] == 0.0
    assert (sol["skipped"]["reason"], sol["skipped"]["residual"]) == ("no price", 10.0)
    said = "not sent: no --price SOL given: the paper book's quote 100 is an earlier run's (quoted at "
    assert said in sol["skipped"]["detail"], sol["skipped"]
    # ETH's leg, given no price either, the kernel took before the kill: reported as it went.
    eth = rows["ETH"]
    assert [o["status"] for o in rows["BTC"]["orders"] + eth["orders"]] == ["sent before"] * 2
    assert [f["price"] for f in eth["fills"]] == [2_000.0]
    assert eth["skipped"] is None and eth["position_after"] == 1.0
    assert "SOL" not in json.loads((tmp_path / "book.json").read_text())["positions"]

    # Given its price, the file is planned afresh (its plan ran to its end) and SOL bought at it.
    again = resumed(args, "BTC", "ETH", "SOL")
    assert not again["resumed"]
    sol = next(row for row in again["symbols"] if row["symbol"] == "SOL")
    assert [f["price"] for f in sol["fills"]] == [100.0] and sol["position_after"] == 10.0


def test_a_dry_run_shows_a_resumed_leg_of_a_symbol_given_no_price_as_not_sent(tmp_path: Path) -> None:
    args = killed_after_two_legs(tmp_path)
    dry = CliRunner().invoke(app, [*args, "--dry-run", PRICES["BTC"]])
    assert dry.exit_code == 0, dry.output
    rows = {row["symbol"]: row for row in json.loads(dry.stdout)["symbols"]}
    assert [o["status"] for o in rows["SOL"]["orders"]] == ["no price"]
    assert (rows["SOL"]["skipped"]["reason"], rows["SOL"]["skipped"]["residual"]) == ("no price", 10.0)
    # ETH's leg the kernel took before the kill: the run reports it as it went, it is no skip.
    assert rows["ETH"]["skipped"] is None
    assert resumed(args, "BTC")["symbols"][2]["orders"][0]["status"] == "no price"
