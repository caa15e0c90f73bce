"""``dita live --config`` with a ``[dead_man]`` table: a strategy thread that hangs (its
``on_bar`` does not return) stops asking for data points, the switch trips on the gateway's
poll, and the kernel goes REDUCE_ONLY with the reason as the control change's source."""

from __future__ import annotations

import signal
from pathlib import Path

from binance_streams import BinanceStreamServer
from live_process import dita, ended, get, wait_for

from dita.services.hazelcast import free_port

HANGS = """
import time

from pydantic import BaseModel, ConfigDict

from dita.strategy import Bar, Strategy


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HangsOnTheThirdBar(Strategy[NoParams]):
    Params = NoParams
    data = ("bars",)

    def on_start(self) -> None:
        self.bars = 0

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == 3:
            time.sleep(30)
"""

CONFIG = """
kernel_id = "e2e-dead-man"
state_dir = "{state}"

[venue]
exchange = "binance"
base_url = "{url}"
symbols = ["BTC/USDT"]
bar_interval = "1s"

[[strategies]]
strategy = "{strategy}:HangsOnTheThirdBar"

[journal]
enabled = false

[dead_man]
strategy_silence_s = 3
action = "REDUCE_ONLY"

[gateway]
port = {port}
token_env = "DITA_TEST_DEAD_MAN_TOKEN"
"""


def test_a_hung_strategy_thread_puts_the_run_in_reduce_only_and_says_why(
    exchange: BinanceStreamServer,
    tmp_path: Path,
) -> None:
    port = free_port()
    strategy = tmp_path / "hangs.py"
    strategy.write_text(HANGS)
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state", url=exchange.url, port=port, strategy=strategy))
    log = tmp_path / "run.log"
    run = dita(
        log, "live", "--config", str(path), env={"DITA_TEST_DEAD_MAN_TOKEN": "dead-man-token-of-the-test"}
    )
    try:
        gateway = f"http://127.0.0.1:{port}"
        reduced = lambda: get(gateway, "/v1/control").get("mode") == "REDUCE_ONLY"  # noqa: E731
        wait_for("the switch's trip", reduced, 40, log)
        control = get(gateway, "/v1/control")
        assert "dead-man switch: the strategy process silent for" in control["source"], control
        assert "(limit 3s)" in control["source"]
        assert "dead-man switch: the strategy process silent" in log.read_text()
        run.send_signal(signal.SIGKILL)
        run.wait(10)
    finally:
        ended(run)
