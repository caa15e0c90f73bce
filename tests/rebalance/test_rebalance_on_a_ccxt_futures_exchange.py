"""``dita rebalance --ccxt-exchange --ccxt-market-type linear`` against a local exchange speaking
Binance's USD-M futures API: a position is a contract held on margin, not bought with the wallet.
Where ccxt reads that balance as the wallet alone (Bybit, Gate), the run warns of the unrealised
PnL it leaves out."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import ccxt
import pytest
from binance_spot import BinanceFuturesServer, ccxt_args, futures_exchange
from typer.testing import CliRunner

from dita.cli import app
from dita.venues.ccxt import CcxtVenue
from dita.venues.ccxt import settings as ccxt_settings

STAMP = {"source_run": "run-f", "generated_at": "2026-11-29T09:00:00Z"}


@pytest.mark.parametrize(("position", "entry_price"), [(1.0, 80_000.0), (-1.0, 100_000.0)])
def test_futures_equity_is_the_wallet_plus_the_unrealised_pnl_not_the_positions_full_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, position: float, entry_price: float
) -> None:
    """A long of 1 BTC entered at 80,000 (or a short entered at 100,000), marked at 90,000, on a
    wallet of 100,000 USDT: equity is 110,000. Counting the position's whole value on top of the
    balance made the long's 200,000 (a weight of 0.5 held 1.11 BTC where it means 0.61) and the
    short's 20,000."""
    with futures_exchange(monkeypatch, wallet=100_000.0) as exchange:
        exchange.positions["BTCUSDT"], exchange.entry_prices["BTCUSDT"] = position, entry_price
        _, report = _futures_dry_run(exchange, tmp_path)
        assert report["equity"] == pytest.approx(110_000.0)
        (row,) = report["symbols"]
        assert row["target_quantity"] == pytest.approx(0.5 * 110_000.0 / 90_000.0)
        assert exchange.orders == {}


def _futures_dry_run(exchange: BinanceFuturesServer, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    targets = tmp_path / "t.json"
    targets.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTCUSDT", "weight": 0.5}]}))
    args = ["rebalance", "--targets", str(targets), "--state-dir", str(tmp_path / "s"), "--json"]
    args += [*ccxt_args(exchange), "--ccxt-market-type", "linear", "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output, json.loads(result.output.splitlines()[-1])


def test_a_run_on_an_exchange_whose_futures_balance_is_the_wallet_alone_warns_of_the_unrealised_pnl_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Bybit ccxt reads the futures balance as the wallet alone: equity leaves out the open
    positions' unrealised PnL. The run says so, with the PnL the positions state. The local
    exchange speaks Binance's API, so Binance is taken for such an exchange here."""
    monkeypatch.setattr(ccxt_settings, "WALLET_ONLY_FUTURES_BALANCES", ("binance",))
    with futures_exchange(monkeypatch, wallet=100_000.0) as exchange:
        exchange.positions["BTCUSDT"], exchange.entry_prices["BTCUSDT"] = -1.0, 100_000.0
        output, report = _futures_dry_run(exchange, tmp_path)
    said = (
        "equity is binance's futures wallet balance, without the open positions' unrealised PnL of "
        "10,000.00 USDT: a weight is a share of the wallet alone"
    )
    assert report["warnings"] == [said]
    assert f"warning: {said}" in " ".join(output.split())


def test_a_flat_account_on_an_exchange_whose_futures_balance_is_the_wallet_alone_draws_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ccxt_settings, "WALLET_ONLY_FUTURES_BALANCES", ("binance",))
    with futures_exchange(monkeypatch, wallet=100_000.0) as exchange:
        output, report = _futures_dry_run(exchange, tmp_path)
    assert report["equity"] == pytest.approx(100_000.0)
    assert report["warnings"] == []
    assert "warning:" not in output


def test_binance_futures_equity_with_a_position_open_draws_no_unrealised_pnl_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Binance's futures balance is its margin balance, the unrealised PnL in it."""
    with futures_exchange(monkeypatch, wallet=100_000.0) as exchange:
        exchange.positions["BTCUSDT"], exchange.entry_prices["BTCUSDT"] = 1.0, 80_000.0
        output, report = _futures_dry_run(exchange, tmp_path)
    assert report["warnings"] == []
    assert "warning:" not in output


@pytest.mark.parametrize(
    ("exchange", "wallet_alone"),
    [("bybit", True), ("bybiteu", True), ("gate", True), ("gateeu", True), ("binance", False)],
)
def test_bybit_gate_and_their_other_sites_have_a_futures_balance_that_is_the_wallet_alone(
    exchange: str, wallet_alone: bool
) -> None:
    """ccxt reads Bybit's coin ``walletBalance``, and Gate's futures account ``total``, which Gate
    states without the unrealised PnL (beside it, in ``unrealised_pnl``)."""
    assert ccxt_settings.futures_balance_is_wallet_alone(getattr(ccxt, exchange)) is wallet_alone


# A Gate USDT perpetual as ccxt lists it, and Gate's futures account answer (ccxt's own sample):
# ``total`` = position_margin + order_margin + available, the unrealised PnL stated beside it.
_GATE_SWAP = {
    "id": "BTC_USDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT", "settle": "USDT",
    "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT", "type": "swap", "swap": True,
    "spot": False, "contract": True, "linear": True, "active": True, "contractSize": 1.0,
    "precision": {"amount": 1, "price": 0.1}, "limits": {"amount": {"min": 1}}, "info": {},
}  # fmt: skip
_GATE_FUTURES_ACCOUNT = {
    "total": "12.51345151332", "unrealised_pnl": "13.315100000006", "available": "0",
    "position_margin": "12.51345151332", "order_margin": "0", "currency": "USDT",
}  # fmt: skip


def _gate_linear_venue(monkeypatch: pytest.MonkeyPatch) -> CcxtVenue:
    """A Gate USDT-perpetual venue offline: ccxt's own parsing of the answers a test gives it."""
    monkeypatch.setenv("DITA_TEST_GATE_KEY", "key")
    monkeypatch.setenv("DITA_TEST_GATE_SECRET", "secret")
    venue = CcxtVenue(
        exchange="gate",
        market_type="linear",
        api_key_env="DITA_TEST_GATE_KEY",
        secret_env="DITA_TEST_GATE_SECRET",
    )
    venue._exchange.set_markets([dict(_GATE_SWAP)])
    return venue


def test_a_gate_futures_balance_is_the_accounts_total_and_the_venue_says_it_leaves_out_the_pnl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ccxt's Gate balance is the futures account's ``total`` alone, the ``unrealised_pnl`` Gate
    states beside it left out: the venue says so, and the rebalance warns as on Bybit."""
    venue = _gate_linear_venue(monkeypatch)
    venue._exchange.load_unified_status = lambda params=None: None  # a classic account
    venue._exchange.privateFuturesGetSettleAccounts = lambda request, params=None: dict(_GATE_FUTURES_ACCOUNT)
    assert venue.balances() == {"USDT": pytest.approx(12.51345151332)}
    assert venue.balance_leaves_out_unrealized_pnl()


# Gate's unified account answer (ccxt's own sample, USDT alone): ``total`` is the account's
# assets in USD, each currency's balance under ``balances``.
_GATE_UNIFIED_ACCOUNT = {
    "user_id": 10001, "locked": False,
    "balances": {"USDT": {"available": "100", "freeze": "5", "borrowed": "0", "negative_liab": "0",
                          "futures_pos_liab": "0", "equity": "116.1", "total_freeze": "0",
                          "total_liab": "0"}},
    "total": "230.94621713", "unified_account_total_equity": "100016.1",
}  # fmt: skip


def test_a_gate_unified_accounts_balance_on_a_linear_venue_is_refused_naming_the_account_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a unified account ccxt reads unified/accounts, and on a swap venue takes the account's
    assets in USD for one balance of no currency: refused, not a currency named 'None'."""
    venue = _gate_linear_venue(monkeypatch)
    venue._exchange.options["unifiedAccount"] = True  # what ccxt's load_unified_status sets for mode 2
    venue._exchange.privateUnifiedGetAccounts = lambda request, params=None: dict(_GATE_UNIFIED_ACCOUNT)
    said = "gate-linear: ccxt's balance names no currency (total 230.94621713): the account is a Gate unified"
    with pytest.raises(ValueError, match=re.escape(f"{said} account (mode 2)")):
        venue.balances()


def test_a_balance_the_venue_cannot_read_stops_the_run_naming_it_nothing_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = "gate-linear: ccxt's balance names no currency (total 230.94621713)"

    def unreadable(self: CcxtVenue) -> dict[str, float]:
        raise ValueError(said)

    monkeypatch.setattr(CcxtVenue, "balances", unreadable)
    with futures_exchange(monkeypatch, wallet=100_000.0) as exchange:
        targets = tmp_path / "t.json"
        targets.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTCUSDT", "weight": 0.5}]}))
        args = ["rebalance", "--targets", str(targets), "--state-dir", str(tmp_path / "s")]
        result = CliRunner().invoke(app, [*args, *ccxt_args(exchange), "--ccxt-market-type", "linear"])
        assert exchange.orders == {}
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    said_all = " ".join(result.output.split())
    assert f"cannot plan the rebalance, nothing sent: the venue's account cannot be read: {said}" in said_all


def test_targets_settled_in_two_currencies_are_refused_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BTCUSDT settles in USDT, BTCUSDC in USDC: the kernel counts its capital in one, so the run
    stops naming each market's currency, not half done with the USDT leg sent."""
    with futures_exchange(monkeypatch, wallet=100_000.0) as exchange:
        info = exchange._exchange_info
        usdc = copy.deepcopy(next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT"))
        usdc.update(symbol="BTCUSDC", pair="BTCUSDC", quoteAsset="USDC", marginAsset="USDC")
        info["symbols"].append(usdc)
        for name in ("price", "trades", "books", "book_tickers"):
            table = getattr(exchange.market, name)
            table["BTCUSDC"] = copy.deepcopy(table["BTCUSDT"])
        exchange.market.symbols = ("BTCUSDT", "BTCUSDC")
        targets = tmp_path / "t.json"
        rows = [{"symbol": "BTCUSDT", "quantity": 0.1}, {"symbol": "BTCUSDC", "quantity": 0.1}]
        targets.write_text(json.dumps({**STAMP, "targets": rows}))
        args = ["rebalance", "--targets", str(targets), "--state-dir", str(tmp_path / "s"), "--json"]
        result = CliRunner().invoke(app, [*args, *ccxt_args(exchange), "--ccxt-market-type", "linear"])
        assert result.exit_code == 2, result.output
        assert "'BTCUSDT' in USDT" in result.output and "'BTCUSDC' in USDC" in result.output
        assert exchange.orders == {}
