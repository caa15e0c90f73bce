"""A live start killed twice before its first record (the exchange slow to give the balance):
the second start's open records the order-id skip (fsync batch), which is no run either. The
third start must still be a fresh kernel seeded with the account's balance."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from binance_streams import BinanceStreamServer
from live_process import ended, get, wait_for
from test_live_run_resumes import start, write_config

from dita._kernel import wal_verify
from dita.services.hazelcast import free_port

CHECKPOINT_0 = "ckpt-00000000000000000000.ckpt"


def _segment_bytes(wal: Path) -> int:
    return sum(p.stat().st_size for p in wal.glob("seg-*.wal"))


def _killed_once_its_log_is_open(config: Path, log: Path, wal: Path) -> None:
    """A start killed (kill -9) once its open of the log is done, while it waits for the balance:
    a new log's open ends with its checkpoint 0, another's (after a kill) with the record of the
    client order ids it skips."""
    new = not (wal / CHECKPOINT_0).exists()
    before = _segment_bytes(wal) if wal.exists() else 0
    run = start(config, log)
    try:
        opened = (lambda: (wal / CHECKPOINT_0).exists()) if new else (lambda: _segment_bytes(wal) > before)
        deadline = time.monotonic() + 60
        while not opened() and time.monotonic() < deadline:
            assert run.poll() is None, log.read_text()
            time.sleep(0.02)
        assert opened() and run.poll() is None, log.read_text()
        run.send_signal(signal.SIGKILL)
        run.wait(10)
    finally:
        ended(run)


def test_a_live_start_killed_twice_before_its_first_record_is_still_a_fresh_kernel(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, exchange, port)
    log = tmp_path / "run.log"
    wal = tmp_path / "state" / "wal" / "e2e-live"
    # The balance read waits: the start stays up, its log open, until it is killed.
    exchange.account_held.set()
    _killed_once_its_log_is_open(config, log, wal)
    _killed_once_its_log_is_open(config, log, wal)
    assert wal_verify(wal)["last_seq"] == 1  # the second open's skip: a record, and no run

    exchange.account_held.clear()
    run = start(config, log)
    try:
        wait_for("the gateway", lambda: get(gateway, "/v1/control"), 40, log, run)
        control = get(gateway, "/v1/control")
        assert (control["mode"], control["source"]) == ("LIVE", "dita-live"), (control, log.read_text())
        assert get(gateway, "/v1/account")["k_capital"] == exchange.balances["USDT"], log.read_text()
        assert "continued from the write-ahead log" not in log.read_text(), log.read_text()
        run.send_signal(signal.SIGTERM)
        run.wait(15)
    finally:
        ended(run)


REFUSED = (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})


def test_a_start_refused_by_the_exchange_after_a_killed_start_leaves_the_next_a_fresh_kernel(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    """going-live.md: keys the exchange refuses stop the start "with nothing written to the log,
    so the start after the keys are fixed is a fresh kernel still"."""
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, exchange, port)
    log = tmp_path / "run.log"
    wal = tmp_path / "state" / "wal" / "e2e-live"
    # The balance read waits: the start stays up, its log open, until it is killed.
    exchange.account_held.set()
    _killed_once_its_log_is_open(config, log, wal)  # kill -9 while the exchange is slow

    exchange.account_held.clear()
    exchange.account_failing = [REFUSED] * 50  # the operator's keys are wrong
    refused = start(config, log)
    try:
        assert refused.wait(90) == 1, log.read_text()
    finally:
        ended(refused)
    # The refused start's skip, when its open came before the exchange's refusal: a record, and
    # no run; none when the refusal came first.
    assert wal_verify(wal)["last_seq"] in (0, 1), log.read_text()

    exchange.account_failing = []  # keys fixed
    run = start(config, log)
    try:
        wait_for("the gateway", lambda: get(gateway, "/v1/control"), 40, log, run)
        assert get(gateway, "/v1/account")["k_capital"] == exchange.balances["USDT"], log.read_text()
        run.send_signal(signal.SIGTERM)
        run.wait(15)
    finally:
        ended(run)
