"""An account a rebalance cannot be planned from is refused naming what is wrong, and nothing is
sent or written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from binance_spot import ccxt_args, spot_exchange
from paper_account import paper_venue
from typer.testing import CliRunner

from dita import ExecutionKernel
from dita.cli import app
from dita.rebalance import Account, PlanError, make_plan, parse_targets, read_account, rebalance

STAMP = {"source_run": "run-e", "generated_at": "2026-11-28T09:00:00Z"}
PRICES = {"BTC": 50_000.0, "ETH": 2_000.0}


def targets(*rows: dict[str, object]):  # type: ignore[no-untyped-def]
    return parse_targets(json.dumps({**STAMP, "targets": list(rows)}).encode(), ".json", "t.json")


@pytest.mark.parametrize("equity", [0.0, -40_000.0, float("nan")])
def test_weights_of_an_equity_not_above_zero_are_refused_naming_it(equity: float) -> None:
    with pytest.raises(PlanError) as refused:
        make_plan(
            targets({"symbol": "ETH", "quantity": 1}, {"symbol": "BTC", "weight": 0.5}),
            Account({"BTC": -1.0}, equity, PRICES, {}),
        )
    assert f"equity {equity:g} is not above 0" in str(refused.value)
    assert "BTC's weight 0.5 (row 2)" in str(refused.value)


def test_quantities_are_planned_whatever_the_equity() -> None:
    plan = make_plan(targets({"symbol": "BTC", "quantity": 0}), Account({"BTC": -1.0}, -40_000.0, PRICES, {}))
    assert [(leg.side, leg.quantity) for leg in plan.legs] == [("BUY", 1.0)]


def test_a_rebalance_by_weight_of_a_negative_equity_sends_nothing(tmp_path: Path) -> None:
    # Cash 10,000 and 1 BTC short at 50,000: equity -40,000.
    venue = paper_venue(10_000.0, {"BTC": -1.0})
    with ExecutionKernel(venue=venue, kernel_id="rb", max_slots=4) as kernel:
        with pytest.raises(PlanError, match=r"equity -40000 is not above 0"):
            rebalance(
                kernel, targets({"symbol": "BTC", "weight": 0.5}), state_dir=tmp_path, quote_currency="USDT"
            )
        assert kernel.open_orders() == [] and venue.submitted == 0
    assert venue.positions() == {"BTC": -1.0}
    assert not (tmp_path / "plans").exists()


def test_the_cli_refuses_weights_of_a_negative_equity(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTC", "weight": 0.5}]}))
    book = tmp_path / "book.json"
    book.write_text(json.dumps(paper_venue(10_000.0, {"BTC": -1.0}).book()))
    state = ["--state-dir", str(tmp_path / "s")]
    result = CliRunner().invoke(app, ["rebalance", "--targets", str(path), *state, "--paper-book", str(book)])
    assert result.exit_code == 1, result.output
    assert "cannot plan the rebalance, nothing sent: equity -40000 is not above 0" in result.output
    assert json.loads(book.read_text())["positions"] == {"BTC": -1.0}


def test_a_quote_currency_the_venue_knows_nothing_of_is_refused_naming_it() -> None:
    """No balance in it and no market quoted in it: a typo, counted as a balance of 0 without a
    word, every weight a share of the positions alone."""
    with pytest.raises(PlanError) as refused:
        read_account(paper_venue(10_000.0, {}), ["BTC"], "USTD")
    assert str(refused.value) == (
        "quote currency 'USTD': the account holds no balance in it and the venue quotes no market "
        "in it (balances held: USDT)"
    )


def test_the_cli_refuses_a_quote_currency_the_exchange_knows_nothing_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTCUSDT", "weight": 0.5}]}))
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        args = ["rebalance", "--targets", str(path), "--state-dir", str(tmp_path / "s"), *ccxt_args(exchange)]
        result = CliRunner().invoke(app, [*args, "--quote-currency", "USDC"])
        assert result.exit_code == 1, result.output
        assert (
            "error: cannot plan the rebalance, nothing sent: quote currency 'USDC': the account holds no "
            "balance in it and the venue quotes no market in it (balances held: BTC, USDT)"
        ) in result.stderr
        assert exchange.orders == {}


def test_a_quote_currency_the_account_holds_none_of_is_counted_as_0_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exchange lists no empty balance: USDT, which its markets are quoted in, is 0, said."""
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTCUSDT", "quantity": 0.4}]}))
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        exchange.balances["USDT"] = 0.0
        args = ["rebalance", "--targets", str(path), "--state-dir", str(tmp_path / "s"), *ccxt_args(exchange)]
        result = CliRunner().invoke(app, [*args, "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == "warning: the account holds no USDT: equity counts its balance as 0\n"
    report = json.loads(result.stdout)
    assert report["warnings"] == ["the account holds no USDT: equity counts its balance as 0"]
    (row,) = report["symbols"]
    assert report["equity"] == pytest.approx(0.5 * row["reference_price"])
    assert [(o["side"], o["quantity"]) for o in row["orders"]] == [("SELL", 0.1)]


def test_the_paper_account_keeps_its_cash_in_the_quote_currency(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTC", "weight": 0.5}]}))
    args = ["rebalance", "--targets", str(path), "--state-dir", str(tmp_path / "s"), "--price", "BTC=50000"]
    result = CliRunner().invoke(
        app, [*args, "--balance", "1000", "--quote-currency", "EUR", "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["equity"], report["symbols"][0]["orders"][0]["quantity"]) == (1_000.0, 0.01)
