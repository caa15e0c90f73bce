"""A ``--paper-book`` file that exists is saved with a new log's start only once a paper plan goes
out: a rebalance on an exchange (``--ccxt-exchange``) refuses the option and leaves the book as
it is, and so does a paper run refused before sending anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from binance_spot import ccxt_args, spot_exchange
from typer.testing import CliRunner

from dita.cli import app
from dita.venues.paper import PaperVenue

STAMP = {"source_run": "run-s", "generated_at": "2026-11-28T09:00:00Z"}


def files(tmp_path: Path, *rows: dict[str, object]) -> tuple[list[str], Path, str]:
    """The rebalance's arguments on a new state dir, with a book prepared by hand, and its text."""
    targets, book = tmp_path / "t.json", tmp_path / "book.json"
    targets.write_text(json.dumps({**STAMP, "targets": list(rows)}))
    prepared = PaperVenue(starting_balance=10_000).book()
    prepared.update(positions={"BTC": -1.0})
    book.write_text(json.dumps(prepared))
    state = tmp_path / "s"
    args = ["rebalance", "--targets", str(targets), "--state-dir", str(state), "--paper-book", str(book)]
    return args, book, book.read_text()


def test_a_ccxt_rebalance_given_a_paper_book_is_refused_and_sends_nothing_nor_touches_the_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, book, prepared = files(tmp_path, {"symbol": "BTCUSDT", "quantity": 0.6})
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        result = CliRunner().invoke(app, [*args, "--json", *ccxt_args(exchange)])

        assert result.exit_code == 2, result.output
        assert "--paper-book only set the paper venue's account" in result.stderr
        assert exchange.balances["BTC"] == 0.5
    assert book.read_text() == prepared


def test_a_paper_run_refused_on_a_new_log_leaves_its_book_as_it_was(tmp_path: Path) -> None:
    # Cash 10,000 and 1 BTC short at 50,000: an equity of -40,000, which weights cannot be planned on.
    args, book, prepared = files(tmp_path, {"symbol": "BTC", "weight": 0.5})

    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000"])

    assert result.exit_code == 1, result.output
    assert "cannot plan the rebalance, nothing sent: equity -40000 is not above 0" in result.stderr
    assert book.read_text() == prepared


def test_a_paper_run_on_a_new_log_saves_its_book_with_the_logs_start(tmp_path: Path) -> None:
    args, book, _prepared = files(tmp_path, {"symbol": "BTC", "quantity": -0.5})

    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000"])

    assert result.exit_code == 0, result.output
    saved = json.loads(book.read_text())
    assert saved["positions"] == {"BTC": -0.5}
    assert saved["positions_from_elsewhere"] == {"BTC": -1.0}
