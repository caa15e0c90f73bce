"""``dita live`` stopped by SIGTERM or Ctrl-C while it builds its run (the log, the venue and its
streams open, the strategies not started) or makes its gateway: what was opened is closed, and
the run ends as a stop does, where the SIGTERM ended the process on the spot (and a signal while
the gateway was made ended in a traceback)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer
from live_process import dita, ended, wait_for
from test_live_stop_with_the_gateway import CONFIG, TOKEN

from dita.kernel import ExecutionKernel
from dita.services.hazelcast import free_port

# A step of the start held, as an exchange slow to answer or a slow first import on a loaded host
# holds it: the build's last step, or the gateway's app made once the run is built. Imported with
# the strategy, before anything opens.
STRATEGY = """
import time
from pathlib import Path

from pydantic import BaseModel

import dita.cli.live_run as live_run
import dita.gateway.app as gateway_app
from dita.strategy import Bar, Strategy


def held(*args, **kwargs):
    Path(MARK).write_text("held")
    time.sleep(60.0)


if HELD == "build":
    live_run.LiveRun._dead_man = held
else:
    gateway_app.create_app = held


class NoParams(BaseModel):
    pass


class Idle(Strategy[NoParams]):
    Params = NoParams
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        pass
"""


@pytest.mark.parametrize("held", ["build", "gateway"])
@pytest.mark.parametrize(
    ("sent", "said_as"), [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")]
)
def test_a_signal_while_the_run_starts_closes_what_it_opened_and_ends_as_a_stop(
    exchange: BinanceStreamServer, tmp_path: Path, sent: int, said_as: str, held: str
) -> None:
    mark = tmp_path / "build.mark"
    module = tmp_path / "held_build.py"
    module.write_text(f"MARK = {str(mark)!r}\nHELD = {held!r}\n" + STRATEGY)
    config = tmp_path / "run.toml"
    state = tmp_path / "state"
    config.write_text(
        CONFIG.format(state=state, url=exchange.url, strategy=f"{module}:Idle", port=free_port())
    )
    log = tmp_path / "run.log"
    run = dita(log, "live", "--config", str(config), env={"STOP_WINDOW_TOKEN": TOKEN})
    try:
        wait_for(f"the {held} held", mark.exists, 60, log, run)
        run.send_signal(sent)
        assert run.wait(30) == 0, log.read_text()
    finally:
        ended(run)
    said = log.read_text()
    assert said_as in said.splitlines() and "Traceback" not in said, said
    kernel = ExecutionKernel(kernel_id="stop-window", wal_dir=str(state / "wal" / "stop-window"))
    try:
        assert kernel.seq > 0  # the paper run's first records, kept
    finally:
        kernel.close()
