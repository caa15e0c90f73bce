"""``dita live`` with its gateway, stopped by SIGTERM: the API takes nothing new once the stop
begins, however long the strategies take to stop, and a SIGTERM while they start closes the run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer
from live_process import dita, ended, post, wait_for

from dita.cli.live_run import STOP_WAIT_S
from dita.services.hazelcast import free_port

STRATEGY = '''
import time
from pathlib import Path

from pydantic import BaseModel

from dita.strategy import Bar, Strategy


class NoParams(BaseModel):
    pass


class SlowToStop(Strategy[NoParams]):
    """Trades nothing; its on_stop takes 4 s (a model saved, a report written)."""

    Params = NoParams
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        Path(MARK).with_suffix(".bar").write_text(str(bar.close))

    def on_stop(self) -> None:
        Path(MARK).write_text("stopping")
        time.sleep(4.0)


class SlowToStart(Strategy[NoParams]):
    """Loads for 5 s in on_start (history, a model)."""

    Params = NoParams
    data = ("bars",)

    def on_start(self) -> None:
        Path(MARK).write_text("starting")
        time.sleep(5.0)

    def on_bar(self, bar: Bar) -> None:
        pass


class SlowToClose(Strategy[NoParams]):
    """Rests one buy at half the first bar's close; the venue's close takes 3 s (its user
    stream's thread joined, its HTTP session closed)."""

    Params = NoParams
    data = ("bars",)

    def on_start(self) -> None:
        import dita.venues.ccxt.venue as venue

        close = venue.CcxtVenue.close

        def slow_close(this):
            Path(MARK).with_suffix(".closing").write_text("closing")
            time.sleep(3.0)
            close(this)

        venue.CcxtVenue.close = slow_close
        self.sent = False

    def on_bar(self, bar: Bar) -> None:
        if not self.sent:
            self.sent = True
            self.buy(bar.asset, 0.01, price=bar.close, limit=round(bar.close / 2, 2))
        Path(MARK).with_suffix(".bar").write_text(str(bar.close))
'''

CONFIG = """
kernel_id = "stop-window"
state_dir = "{state}"

[venue]
exchange = "binance"
base_url = "{url}"
symbols = ["BTC/USDT"]
bar_interval = "1s"

[[strategies]]
strategy = "{strategy}"

[journal]
enabled = false

[gateway]
port = {port}
token_env = "STOP_WINDOW_TOKEN"
"""

TOKEN = "stop-window-token-of-the-test"


def _started(
    tmp_path: Path, exchange: BinanceStreamServer, strategy: str, *, gateway: bool = True
) -> tuple[subprocess.Popen[bytes], int, Path, Path]:
    """``dita live`` with its gateway on a free port (or none), running ``strategy`` of
    STRATEGY: the process, the port, the strategy's mark file and the run's log."""
    port = free_port()
    mark = tmp_path / "strategy.mark"
    module = tmp_path / "slow_strategies.py"
    module.write_text(f"MARK = {str(mark)!r}\n" + STRATEGY)
    config = tmp_path / "run.toml"
    text = CONFIG.format(
        state=tmp_path / "state", url=exchange.url, strategy=f"{module}:{strategy}", port=port
    )
    config.write_text(text if gateway else text[: text.index("[gateway]")] + "[gateway]\nenabled = false\n")
    log = tmp_path / "run.log"
    run = dita(log, "live", "--config", str(config), env={"STOP_WINDOW_TOKEN": TOKEN})
    return run, port, mark, log


def test_the_gateway_takes_no_order_while_the_strategies_stop(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    run, port, mark, log = _started(tmp_path, exchange, "SlowToStop")
    try:
        wait_for("a first bar", lambda: mark.with_suffix(".bar").exists(), 60, log, run)
        price = float(mark.with_suffix(".bar").read_text())
        run.send_signal(signal.SIGTERM)
        wait_for("on_stop begun", mark.exists, 20, log, run)
        time.sleep(0.5)  # on_stop has 3.5 s to go
        enter = {
            "action": "ENTER",
            "asset": "BTCUSDT",
            "side": "LONG",
            "reference_price": price,
            "target_size": 0.01,
        }
        with pytest.raises(urllib.error.URLError) as refused:
            taken = post(f"http://127.0.0.1:{port}", "/v1/intents", enter, TOKEN)
            pytest.fail(f"an ENTER posted while the strategies stop was answered: {taken}")
        assert isinstance(refused.value.reason, ConnectionRefusedError), refused.value
        assert run.wait(60) == -signal.SIGTERM
    finally:
        ended(run)
    said = log.read_text()
    assert "left working" not in said, said
    assert "Traceback" not in said, said


def test_sigterm_while_the_strategies_start_stops_and_closes_the_run(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    run, _, mark, log = _started(tmp_path, exchange, "SlowToStart")
    try:
        wait_for("on_start begun", mark.exists, 60, log, run)
        run.send_signal(signal.SIGTERM)
        assert run.wait(60) == 0, log.read_text()
    finally:
        ended(run)
    said = log.read_text()
    assert "terminated" in said.splitlines(), said
    assert "Traceback" not in said, said
    state = json.loads((tmp_path / "state" / "stop-window.json").read_text())
    assert state["running"] is False


@pytest.mark.parametrize(
    ("gateway", "status", "then"), [(True, -signal.SIGTERM, "gateway's own stop"), (False, 0, "run closes")]
)
def test_a_ctrl_c_while_the_strategies_stop_is_told_their_limit_and_does_not_cut_the_stop_short(
    exchange: BinanceStreamServer, tmp_path: Path, gateway: bool, status: int, then: str
) -> None:
    """The second signal is told the step under way and its limit: the gateway's 5 s grace, told
    while the strategies had 30 s, had the operator kill a stop that was within its limit.
    Without the gateway the Ctrl-C cut the stop short (the feed unclosed, the run's state left
    running). With it, uvicorn raises the signals it stopped on again newest first: the Ctrl-C
    hid the SIGTERM, and the process ended with status 0 where a supervisor expects the signal's."""
    run, _, mark, log = _started(tmp_path, exchange, "SlowToStop", gateway=gateway)
    try:
        wait_for("a first bar", lambda: mark.with_suffix(".bar").exists(), 60, log, run)
        run.send_signal(signal.SIGTERM)
        wait_for("on_stop begun", mark.exists, 20, log, run)
        run.send_signal(signal.SIGINT)
        assert run.wait(60) == status, log.read_text()
    finally:
        ended(run)
    told = [line for line in log.read_text().splitlines() if "stopping already" in line]
    assert len(told) == 1, told
    assert told[0].startswith("dita live: stopping already (stopping the strategies)"), told
    assert f"at most {STOP_WAIT_S:g} s to end" in told[0] and f"then the {then}" in told[0], told
    assert json.loads((tmp_path / "state" / "stop-window.json").read_text())["running"] is False


@pytest.mark.parametrize(
    ("first", "gateway", "status"),
    [(signal.SIGTERM, True, -signal.SIGTERM), (signal.SIGINT, False, 0)],  # both paths share one close
)
def test_a_ctrl_c_while_the_run_closes_does_not_cut_the_close_short(
    exchange: BinanceStreamServer, tmp_path: Path, first: int, gateway: bool, status: int
) -> None:
    """The close (the kernel, the venue's streams, the list of orders left working) is taken
    whole, with the gateway or without: a Ctrl-C in it ended the process with the streams half
    closed and the operator never told of the order left at the venue."""
    run, _, mark, log = _started(tmp_path, exchange, "SlowToClose", gateway=gateway)
    try:
        wait_for("the resting order", lambda: mark.with_suffix(".bar").exists(), 60, log, run)
        run.send_signal(first)
        wait_for("the venue's close begun", mark.with_suffix(".closing").exists, 60, log, run)
        run.send_signal(signal.SIGINT)  # the operator, impatient
        assert run.wait(60) == status, log.read_text()
    finally:
        ended(run)
    said = log.read_text()
    assert "stop: 1 order left working" in said and "Traceback" not in said, said


def test_a_stop_whose_terminal_reader_is_gone_still_saves_the_run_as_stopped(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    """`dita live ... 2>&1 | tee run.log`, then Ctrl-C: tee ends with it, and each line the stop
    says raised BrokenPipeError, which cut the stop short before the run's state was saved."""
    mark = tmp_path / "strategy.mark"
    module = tmp_path / "slow_strategies.py"
    module.write_text(f"MARK = {str(mark)!r}\n" + STRATEGY)
    config = tmp_path / "run.toml"
    text = CONFIG.format(
        state=tmp_path / "state", url=exchange.url, strategy=f"{module}:SlowToStop", port=free_port()
    )
    config.write_text(text[: text.index("[gateway]")] + "[gateway]\nenabled = false\n")
    run = subprocess.Popen(
        [sys.executable, "-m", "dita", "live", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not mark.with_suffix(".bar").exists():
            assert time.monotonic() < deadline and run.poll() is None, "no first bar"
            time.sleep(0.1)
        assert run.stdout is not None
        run.stdout.close()  # the reader gone, as tee is
        run.send_signal(signal.SIGINT)
        assert run.wait(60) == 0  # a clean stop's status
    finally:
        ended(run)
    assert mark.exists()  # on_stop ran
    assert json.loads((tmp_path / "state" / "stop-window.json").read_text())["running"] is False
