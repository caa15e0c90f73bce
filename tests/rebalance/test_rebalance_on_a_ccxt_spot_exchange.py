"""``dita rebalance --ccxt-exchange``, spot, against a local exchange speaking Binance's API: a
position is a currency balance, read for the markets of the targets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from binance_spot import BinanceMarket, BinanceStreamServer, ccxt_args, spot_exchange
from typer.testing import CliRunner

from dita.cli import app

ROOT = Path(__file__).resolve().parents[2]
STAMP = {"source_run": "run-s", "generated_at": "2026-11-28T09:00:00Z"}


def targets_file(tmp_path: Path, *rows: dict[str, object]) -> list[str]:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**STAMP, "targets": list(rows)}))
    return ["rebalance", "--targets", str(path), "--state-dir", str(tmp_path / "s"), "--json"]


def test_a_spot_account_is_rebalanced_from_the_balance_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spot position is the base currency's balance, which the venue names by market only among
    the markets it is opened with: opened with none, the rebalance went up as a traceback."""
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        args = [*targets_file(tmp_path, {"symbol": "BTCUSDT", "quantity": 0.6}), *ccxt_args(exchange)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        (row,) = json.loads(result.output)["symbols"]
        assert (row["position_before"], row["filled"], row["position_after"]) == (0.5, 0.1, 0.6)
        assert exchange.balances["BTC"] == 0.6


def test_a_rebalance_loads_the_exchanges_markets_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One venue lists the markets and trades those of the targets: a second one, built to trade
    them, loaded every market again (Binance weighs that request as twenty orders)."""
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        rows = ({"symbol": "BTCUSDT", "quantity": 0.6}, {"symbol": "NOSUCHUSDT", "quantity": 1})
        result = CliRunner().invoke(app, [*targets_file(tmp_path, *rows), *ccxt_args(exchange)])
        assert result.exit_code == 0, result.output
        assert exchange.rest_calls("GET", "/api/v3/exchangeInfo") == 1
        assert exchange.balances["BTC"] == 0.6


def test_equity_counts_every_currency_held_that_has_a_market_in_the_quote_currency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A weight is a share of the whole account: ETH held while only BTC is targeted was left out
    of equity, and BTC's weight of 0.5 bought half of the USDT alone. A currency with no market
    against USDT is named in a warning."""
    # Prices that stand still: every market at 90,000, its mid.
    market = BinanceMarket(symbols=("BTCUSDT", "ETHUSDT"), trade_every_s=3600.0)
    with spot_exchange(monkeypatch, btc=0.5, market=market, ETH=2.0, XYZ=5.0) as exchange:
        args = [
            *targets_file(tmp_path, {"symbol": "BTCUSDT", "weight": 0.5}),
            *ccxt_args(exchange),
            "--dry-run",
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        report = json.loads(result.output.splitlines()[-1])
        equity = 1_000_000 + 0.5 * 90_000 + 2.0 * 90_000  # BTC counted once, as the position
        assert report["equity"] == pytest.approx(equity)
        (row,) = report["symbols"]
        assert row["target_quantity"] == pytest.approx(0.5 * equity / 90_000)
        assert report["warnings"] == [
            "equity leaves out what cannot be valued in USDT: 5 XYZ (no XYZ/USDT or USDT/XYZ market)"
        ]
        assert "warning: equity leaves out what cannot be valued in USDT: 5 XYZ" in result.output
        assert exchange.orders == {}


def test_equity_values_a_currency_through_the_inverse_market_when_it_has_no_market_in_the_quote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """USDT held with --quote-currency BTC, where only BTC/USDT is listed, is worth 1 / its mid
    in BTC each: a weight is a share of all the account holds."""
    market = BinanceMarket(symbols=("BTCUSDT",), trade_every_s=3600.0)  # its mid stays at 90,000
    with spot_exchange(monkeypatch, btc=0.5, market=market) as exchange:
        args = [
            *targets_file(tmp_path, {"symbol": "BTCUSDT", "quantity": 0.5}),
            *ccxt_args(exchange),
            "--quote-currency",
            "BTC",
            "--dry-run",
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        report = json.loads(result.output.splitlines()[-1])
        assert report["equity"] == pytest.approx(0.5 + 1_000_000 / 90_000)
        assert report["warnings"] == []
        assert exchange.orders == {}


def test_a_weight_of_a_market_priced_in_another_currency_than_the_equity_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A weight's size is weight * equity / price: an equity in BTC over a price in USDT would
    sell nearly all the BTC held where the target buys."""
    market = BinanceMarket(symbols=("BTCUSDT",), trade_every_s=3600.0)
    with spot_exchange(monkeypatch, btc=0.5, market=market) as exchange:
        args = [
            *targets_file(tmp_path, {"symbol": "BTCUSDT", "weight": 0.5}),
            *ccxt_args(exchange),
            "--quote-currency",
            "BTC",
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, result.output
        said = (
            "target BTCUSDT (row 1) is a weight of the equity in BTC, but BTC/USDT is priced in USDT:"
            " give --quote-currency USDT, or a quantity"
        )
        assert said in result.output
        assert exchange.orders == {} and exchange.balances["BTC"] == 0.5


def watching(tmp_path: Path, exchange: BinanceStreamServer) -> subprocess.Popen[str]:
    """``dita rebalance --watch`` of ``tmp_path``/t.json on ``exchange``, looking every 0.2 s, its
    output in ``tmp_path``/out and err."""
    command = [sys.executable, "-m", "dita", "rebalance", "--targets", str(tmp_path / "t.json")]
    command += ["--state-dir", str(tmp_path / "s"), *ccxt_args(exchange), "--watch", "--watch-every", "0.2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python"), "PYTHONUNBUFFERED": "1"}
    with (tmp_path / "out").open("w") as stdout, (tmp_path / "err").open("w") as stderr:
        return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=stdout, stderr=stderr, text=True)


def test_a_later_version_naming_another_market_is_refused_while_watching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venue states the balances of the markets it was opened with: a version naming another
    would be planned as though none of it were held. It is refused and waited past."""
    path, out, err = tmp_path / "t.json", tmp_path / "out", tmp_path / "err"

    def version(*rows: dict[str, object]) -> None:
        (tmp_path / "t.tmp").write_text(json.dumps({**STAMP, "targets": list(rows)}))
        (tmp_path / "t.tmp").replace(path)

    version({"symbol": "BTCUSDT", "quantity": 0.6})
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        proc = watching(tmp_path, exchange)
        try:
            wait_for(lambda: "report: " in out.read_text(), "the first version was not rebalanced to", proc)
            version({"symbol": "BTCUSDT", "quantity": 0.6}, {"symbol": "ETHUSDT", "quantity": 1})
            wait_for(
                lambda: "not among the markets" in err.read_text(), "the second version was not refused", proc
            )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        assert proc.returncode == 0, err.read_text()
        assert (
            "warning: cannot plan the rebalance, nothing sent: ETHUSDT not among the markets this run "
            "trades (BTCUSDT): start dita rebalance again to trade them"
        ) in err.read_text()
        assert len(exchange.orders) == 1 and exchange.balances["BTC"] == 0.6


def wait_for(check: Callable[[], bool], what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert proc.poll() is None, what
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_target_named_by_its_ccxt_symbol_counts_what_its_market_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venue lists BTC/USDT's position under its market id, BTCUSDT: read under the target's
    name it was nothing held, and a target of 0.6 over 0.5 held bought 0.6."""
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        args = [*targets_file(tmp_path, {"symbol": "BTC/USDT", "quantity": 0.6}), *ccxt_args(exchange)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        (row,) = json.loads(result.output)["symbols"]
        assert [o["quantity"] for o in row["orders"]] == [0.1]
        assert (row["position_before"], row["position_after"]) == (0.5, 0.6)
        assert exchange.balances["BTC"] == 0.6


def test_one_market_under_two_names_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        rows = ({"symbol": "BTC/USDT", "quantity": 0.6}, {"symbol": "BTCUSDT", "quantity": 0.7})
        result = CliRunner().invoke(app, [*targets_file(tmp_path, *rows), *ccxt_args(exchange)])
        assert result.exit_code == 1, result.output
        assert "nothing sent: BTC/USDT and BTCUSDT are the one market BTCUSDT: list it once" in result.output
        assert exchange.orders == {}


# Binance's answer when its backend does not answer in time (its documented -1001).
DISCONNECTED = (
    503,
    {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."},
)


def test_an_account_the_exchange_does_not_answer_for_is_said_and_nothing_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exchange answered the account's query with an error: the command ended in a traceback
    of ccxt's RuntimeError. It says the account could not be read, names the answer, sends
    nothing and exits 1."""
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        exchange.account_failing.append(DISCONNECTED)
        args = [*targets_file(tmp_path, {"symbol": "BTCUSDT", "quantity": 0.6}), *ccxt_args(exchange)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        said = "cannot plan the rebalance, nothing sent: the account could not be read from the venue"
        assert said in result.output and "-1001" in result.output
        assert exchange.orders == {}


def test_a_version_whose_account_the_exchange_did_not_answer_for_is_tried_again_while_watching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under --watch a version the exchange did not answer the account for was counted as done:
    its targets were never traded until the file changed. It is tried again at the next look."""
    path, out, err = tmp_path / "t.json", tmp_path / "out", tmp_path / "err"
    path.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTCUSDT", "quantity": 0.6}]}))
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        exchange.account_failing.append(DISCONNECTED)
        proc = watching(tmp_path, exchange)
        try:
            wait_for(lambda: "report: " in out.read_text(), "the version was not rebalanced to", proc)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        assert "nothing sent, retrying: the account could not be read" in err.read_text()
        assert exchange.account_failing == []  # the failure was answered, not skipped
        assert len(exchange.orders) == 1 and exchange.balances["BTC"] == 0.6


def _equity_dry_run(tmp_path: Path, exchange: BinanceStreamServer) -> tuple[int, str]:
    """A dry run of a BTCUSDT weight on ``exchange``: its exit code and output."""
    args = [*targets_file(tmp_path, {"symbol": "BTCUSDT", "weight": 0.5}), *ccxt_args(exchange), "--dry-run"]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


MARKETS = ("BTCUSDT", "ETHUSDT", "DOGEUSDT")  # the markets the exchange lists
HELD = {"ETH": 2.0, "DOGE": 1000.0}
HELD_EQUITY = 1_000_000 + 0.5 * 90_000 + (2.0 + 1000.0) * 90_000  # every mid stays at 90,000


def test_the_currencies_held_are_valued_from_one_tickers_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each currency held but not targeted was valued from its own order book: one request per
    currency. They are valued from one 24hr tickers request; only the target's book is asked."""
    market = BinanceMarket(symbols=MARKETS, trade_every_s=3600.0)
    with spot_exchange(monkeypatch, btc=0.5, market=market, **HELD) as exchange:
        code, output = _equity_dry_run(tmp_path, exchange)
        assert code == 0, output
        report = json.loads(output.splitlines()[-1])
        assert (report["equity"], report["warnings"]) == (pytest.approx(HELD_EQUITY), [])
        assert exchange.rest_calls("GET", "/api/v3/ticker/24hr") == 1
        assert exchange.rest_calls("GET", "/api/v3/depth") == 1  # BTCUSDT's, the target's


def test_a_currency_whose_ticker_states_no_bid_or_ask_is_valued_from_its_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = BinanceMarket(symbols=MARKETS, trade_every_s=3600.0)
    market.tickers_without_quotes = {"DOGEUSDT"}
    with spot_exchange(monkeypatch, btc=0.5, market=market, **HELD) as exchange:
        code, output = _equity_dry_run(tmp_path, exchange)
        assert code == 0, output
        report = json.loads(output.splitlines()[-1])
        assert report["equity"] == pytest.approx(HELD_EQUITY)
        assert report["warnings"] == []
        assert exchange.rest_calls("GET", "/api/v3/ticker/24hr") == 1
        assert exchange.rest_calls("GET", "/api/v3/depth") == 2  # BTCUSDT's and DOGEUSDT's


def test_an_exchange_without_a_tickers_request_values_each_currency_from_its_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ccxt

    described = ccxt.binance.describe

    def without_tickers(self: object) -> dict[str, object]:
        description = described(self)  # type: ignore[arg-type]
        return {**description, "has": {**description["has"], "fetchTickers": False}}

    monkeypatch.setattr(ccxt.binance, "describe", without_tickers)
    market = BinanceMarket(symbols=MARKETS, trade_every_s=3600.0)
    with spot_exchange(monkeypatch, btc=0.5, market=market, **HELD) as exchange:
        code, output = _equity_dry_run(tmp_path, exchange)
        assert code == 0, output
        assert json.loads(output.splitlines()[-1])["equity"] == pytest.approx(HELD_EQUITY)
        assert exchange.rest_calls("GET", "/api/v3/ticker/24hr") == 0
        assert exchange.rest_calls("GET", "/api/v3/depth") == 3


def test_a_tickers_request_the_exchange_refuses_names_the_currencies_it_was_to_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = BinanceMarket(symbols=MARKETS, trade_every_s=3600.0)
    market.tickers_failing.append(DISCONNECTED)
    with spot_exchange(monkeypatch, btc=0.5, market=market, **HELD) as exchange:
        code, output = _equity_dry_run(tmp_path, exchange)
        assert code == 1, output
        said = "cannot plan the rebalance, nothing sent: the account could not be read from the venue"
        assert said in output and "-1001" in output, output
        assert "(the tickers asked to value the balances held: DOGE at DOGE/USDT, ETH at ETH/USDT)" in output


def test_a_book_the_exchange_refuses_for_a_currency_without_a_ticker_quote_names_the_currency_and_market(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = BinanceMarket(symbols=MARKETS, trade_every_s=3600.0)
    market.tickers_without_quotes = {"DOGEUSDT"}
    market.depth_failing["DOGEUSDT"] = [DISCONNECTED]
    with spot_exchange(monkeypatch, btc=0.5, market=market, **HELD) as exchange:
        code, output = _equity_dry_run(tmp_path, exchange)
        assert code == 1, output
        assert "-1001" in output and "(the DOGE/USDT book asked to value the DOGE held)" in output, output


def test_a_rerun_the_exchange_cannot_be_reconciled_with_says_so_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel recovered from its log is reconciled with the exchange before it trades: when
    the exchange does not answer, the command exits 1 saying so, not with a traceback."""
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        args = [*targets_file(tmp_path, {"symbol": "BTCUSDT", "quantity": 0.6}), *ccxt_args(exchange)]
        assert CliRunner().invoke(app, args).exit_code == 0
        orders = dict(exchange.orders)
        exchange.open_orders_failing.extend([DISCONNECTED] * 20)
        rerun = [*targets_file(tmp_path, {"symbol": "BTCUSDT", "quantity": 0.7}), *ccxt_args(exchange)]
        result = CliRunner().invoke(app, rerun)
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "not reconciled with the venue, nothing sent" in result.output
        assert "-1001" in result.output
        assert exchange.orders == orders


def test_targets_in_markets_of_two_quote_currencies_are_refused_naming_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel counts one currency: ETHBTC's fills, in BTC, would be booked beside BTCUSDT's
    as USDT. Refused before anything is sent, not a traceback."""
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        info = exchange._exchange_info
        btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
        info["symbols"].append({**btc, "symbol": "ETHBTC", "baseAsset": "ETH", "quoteAsset": "BTC"})
        rows = ({"symbol": "BTCUSDT", "quantity": 0.6}, {"symbol": "ETHBTC", "quantity": 1})
        result = CliRunner().invoke(app, [*targets_file(tmp_path, *rows), *ccxt_args(exchange)])
        assert result.exit_code == 2, result.output
        assert "quote currencies differ: 'BTCUSDT' in USDT, 'ETHBTC' in BTC" in result.stderr
        assert "Traceback" not in result.stderr and exchange.orders == {}
