"""``dita live --config`` end to end, in mode live against the local Binance exchange
(``tests/venues/binance_streams.py``) with fake keys: a bar strategy trades on the streamed
klines, the HTTP API and /metrics serve the same kernel during the run, a ``kill -9`` mid-run
and a restart on the same log recover, reconcile and trade on, with the kernel's position
equal to the exchange's."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer
from live_process import dita, ended, get, post, wait_for

from dita.services.hazelcast import free_port

TOKEN = "e2e-token-of-the-live-run"


def write_config(tmp_path: Path, exchange: BinanceStreamServer, port: int) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(
        f"""
mode = "live"
kernel_id = "e2e-live"
state_dir = "{tmp_path / "state"}"

[venue]
exchange = "binance"
base_url = "{exchange.url}"
symbols = ["BTC/USDT"]
bar_interval = "1s"
api_key_env = "DITA_TEST_LIVE_KEY"
secret_env = "DITA_TEST_LIVE_SECRET"

[[strategies]]
strategy = "dita.examples.crossover:SmaCrossover"
params = {{ fast = 1, slow = 2, trade_size = 0.01, allow_short = false }}
max_slots = 2
source_run = "e2e-research-run"

[risk]
max_notional_total = 10000

[log]
fsync = "batch"

[journal]
enabled = false

[gateway]
port = {port}
token_env = "DITA_TEST_LIVE_TOKEN"
"""
    )
    return path


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        "DITA_TEST_LIVE_KEY": "fake-key",
        "DITA_TEST_LIVE_SECRET": "fake-secret",
        "DITA_TEST_LIVE_TOKEN": TOKEN,
    }
    return dita(log, "live", "--config", str(config), "--live", env=env)


def kernel_position(gateway: str) -> float:
    slots = get(gateway, "/v1/slots")
    return round(
        sum(s["size"] * (1 if s["side"] == "LONG" else -1) for s in slots if s["asset"] == "BTCUSDT"), 8
    )


def positions_agree(gateway: str, exchange: BinanceStreamServer) -> bool:
    return kernel_position(gateway) == round(exchange.position("BTCUSDT"), 8)


def check_the_book_at_the_end(gateway: str, exchange: BinanceStreamServer, log: Path) -> None:
    """The book the run leaves: the kernel's position is the exchange's; flatten all (as the
    operator page sends it) then halts the kernel and closes it at the exchange too."""
    wait_for(
        "the kernel's position equal to the exchange's", lambda: positions_agree(gateway, exchange), 15, log
    )
    flattened = post(gateway, "/v1/flatten", {"confirm": True}, TOKEN)
    assert flattened["halted"] is True and flattened["mode"] == "HALTED", flattened
    flat = lambda: kernel_position(gateway) == 0 and round(exchange.position("BTCUSDT"), 8) == 0  # noqa: E731
    wait_for("the book flat at the kernel and at the exchange", flat, 30, log)
    assert get(gateway, "/v1/control")["mode"] == "HALTED"
    metrics = get(gateway, "/metrics")
    assert 'dita_kernel_mode{kernel_id="e2e-live",mode="HALTED"} 1.0' in metrics, metrics
    assert 'dita_kernel_open_positions{kernel_id="e2e-live"} 0.0' in metrics


def test_a_live_run_killed_mid_run_resumes_on_its_log(exchange: BinanceStreamServer, tmp_path: Path) -> None:
    killed_and_resumed(exchange, tmp_path, orders_before_kill=6, orders_after=4)


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_a_live_run_through_a_few_hundred_bars_killed_mid_run_resumes_on_its_log(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    """The same through a few hundred 1 s bars (about 6 minutes; ``pytest -m soak tests/live``):
    a strategy crossing every few bars sends about one order in three bars."""
    killed_and_resumed(exchange, tmp_path, orders_before_kill=100, orders_after=100)


def killed_and_resumed(
    exchange: BinanceStreamServer, tmp_path: Path, orders_before_kill: int, orders_after: int
) -> None:
    # Bars close on the wall clock, one a second: the waits grow with the orders asked for.
    wait_s = 60 + 5 * max(orders_before_kill, orders_after)
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, exchange, port)
    log = tmp_path / "run.log"
    run = start(config, log)
    try:
        wait_for(
            "orders at the exchange",
            lambda: len(exchange.orders) >= orders_before_kill,
            wait_s,
            log,
            run,
            gateway,
        )
        first = log.read_text().splitlines()[0]
        assert first == "mode: LIVE: real orders on binance spot with the keys in $DITA_TEST_LIVE_KEY"
        account = get(gateway, "/v1/account")
        assert account["kernel_id"] == "e2e-live" and account["equity"] > 0
        metrics = get(gateway, "/metrics")
        assert 'dita_kernel_mode{kernel_id="e2e-live",mode="LIVE"} 1.0' in metrics, metrics
        assert 'dita_kernel_equity{kernel_id="e2e-live"}' in metrics
        assert 'dita_venue_stream_state{kernel_id="e2e-live",state="up"} 1.0' in metrics
        run.send_signal(signal.SIGKILL)
        run.wait(10)
        orders_before = len(exchange.orders)
        run = start(config, log)
        wait_for("the restart's reconciliation", lambda: "reconcile: " in log.read_text(), 30, log)
        assert "continued from the write-ahead log" in log.read_text()
        more = lambda: len(exchange.orders) >= orders_before + orders_after  # noqa: E731
        wait_for("orders after the restart", more, wait_s, log, run, gateway)
        check_the_book_at_the_end(gateway, exchange, log)
        run.send_signal(signal.SIGTERM)
        # Stopped cleanly, then ended by the signal uvicorn re-raises, as `dita serve` ends.
        assert run.wait(15) == -signal.SIGTERM, log.read_text()
        assert "feed: binance market stream: " in log.read_text()
    finally:
        ended(run)
    assert "Traceback" not in log.read_text(), log.read_text()
    assert "fake-secret" not in log.read_text()
