"""A fresh ``dita live --live`` (a new state directory) started while the cluster's control plane
holds global entries is a fresh start, not a restart: it takes the account's balance as its seed
capital and its LIVE label, and the cluster's entries apply over that label (a global HALTED holds
it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from binance_streams import BinanceStreamServer
from live_process import dita, ended, get, wait_for

from dita.control.hazelcast import write_entry
from dita.projection.hazelcast import connect_client
from dita.services.hazelcast import free_port

CLUSTER = "dita-live-fresh"

CONFIG = """
mode = "live"
kernel_id = "{kernel_id}"
state_dir = "{state}"

[venue]
exchange = "binance"
base_url = "{url}"
symbols = ["BTC/USDT"]
bar_interval = "1s"
api_key_env = "DITA_TEST_FRESH_KEY"
secret_env = "DITA_TEST_FRESH_SECRET"

[[strategies]]
strategy = "dita.examples.crossover:SmaCrossover"
params = {{ fast = 1, slow = 2, trade_size = 0.01, allow_short = false }}
max_slots = 2
source_run = "fresh-research-run"

[risk]
max_notional_total = 10000

[journal]
enabled = false

[projection]
kind = "hazelcast"
members = "{members}"
cluster = "{cluster}"

[gateway]
port = {port}
token_env = "DITA_TEST_FRESH_TOKEN"
"""


@pytest.fixture(scope="module")
def hz_member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from dita.services.hazelcast import HazelcastMember, fetch_jars
    from dita.services.hazelcast import free_port as hz_port

    fetch_jars()
    member = HazelcastMember(
        port=hz_port(),
        cluster_name=CLUSTER,
        state_dir=tmp_path_factory.mktemp("hz-live-fresh"),
        exit_with_parent=True,  # a killed run leaves no member behind
    )
    member.start()
    yield member
    member.stop()


@pytest.mark.parametrize(
    ("entry", "runs"),
    [
        ({"verbosity": "DEBUG"}, {"mode": "LIVE", "verbosity": "DEBUG"}),
        ({"mode": "HALTED"}, {"mode": "HALTED", "verbosity": "NORMAL"}),
    ],
)
def test_a_fresh_live_run_under_global_entries_takes_its_capital_and_label_then_the_entries(
    exchange: BinanceStreamServer,
    hz_member: Any,
    tmp_path: Path,
    entry: dict[str, str],
    runs: dict[str, str],
) -> None:
    client = connect_client([hz_member.address], CLUSTER, block=True, connect_timeout=30)
    # Each entry is a control change the fresh kernel logs as the plane attaches.
    write_entry(client, None, entry, updated_by="test")
    port = free_port()
    config = tmp_path / "run.toml"
    config.write_text(
        CONFIG.format(
            kernel_id="fresh-live",
            state=tmp_path / "state",
            url=exchange.url,
            members=hz_member.address,
            cluster=CLUSTER,
            port=port,
        )
    )
    log = tmp_path / "run.log"
    env = {
        "DITA_TEST_FRESH_KEY": "fake-key",
        "DITA_TEST_FRESH_SECRET": "fake-secret",
        "DITA_TEST_FRESH_TOKEN": "fresh-token-of-the-live-run",
    }
    run = dita(log, "live", "--config", str(config), "--live", env=env)
    gateway = f"http://127.0.0.1:{port}"
    try:
        control = wait_for("the gateway", lambda: get(gateway, "/v1/control"), 60, log, run)
        assert {"mode": control["mode"], "verbosity": control["verbosity"]} == runs, control
        account = get(gateway, "/v1/account")
        balance = exchange.balances["USDT"]
        assert account["seed_capital"] == account["capital"] == balance, account
        assert "continued from the write-ahead log" not in log.read_text()
    finally:
        run.terminate()
        try:
            run.wait(20)
        finally:
            ended(run)
            client.get_map("dita_control_plane").blocking().clear()
            client.shutdown()
