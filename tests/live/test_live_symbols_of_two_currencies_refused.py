"""``venue.symbols`` in two quote currencies is refused before anything starts (exit 2, naming each
symbol's currency): the kernel counts its capital, PnL, fees and caps in one currency (the first
symbol's quote, which its seed capital is read in), and would add SOL/BTC's, in BTC, to it as USDT."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer
from typer.testing import CliRunner

from dita.cli import app

RUN = """
mode = "{mode}"
kernel_id = "two-currencies"
state_dir = "{state}"

[venue]
exchange = "binance"
base_url = "{url}"
symbols = ["BTC/USDT", "SOL/BTC"]
api_key_env = "DITA_TEST_LIVE_KEY"
secret_env = "DITA_TEST_LIVE_SECRET"

[[strategies]]
strategy = "dita.examples.crossover:SmaCrossover"
source_run = "research-1"

[journal]
enabled = false
"""


def with_solbtc(exchange: BinanceStreamServer) -> None:
    info = exchange._exchange_info
    solbtc = copy.deepcopy(next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT"))
    solbtc.update(symbol="SOLBTC", baseAsset="SOL", quoteAsset="BTC")
    info["symbols"].append(solbtc)


@pytest.mark.parametrize("mode", ["paper", "live"])
def test_symbols_of_two_quote_currencies_are_refused_naming_each(
    exchange: BinanceStreamServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("DITA_TEST_LIVE_KEY", "k")
    monkeypatch.setenv("DITA_TEST_LIVE_SECRET", "s")
    with_solbtc(exchange)
    path = tmp_path / "run.toml"
    path.write_text(RUN.format(mode=mode, state=tmp_path / "state", url=exchange.url))
    result = CliRunner().invoke(app, ["live", "--config", str(path), *(["--live"] if mode == "live" else [])])
    assert result.exit_code == 2, result.output
    assert "'BTC/USDT' in USDT, 'SOL/BTC' in BTC" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").rglob("*.wal*"))
