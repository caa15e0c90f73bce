"""A ``LiveRun`` around a runtime and a feed, without the stack a config file builds (venue,
market stream, state file, gateway): for tests of the run's own steps on the strategies' thread."""

from __future__ import annotations

import threading
from typing import Any

from dita.cli.live_run import LiveRun
from dita.runtime import TradingRuntime


def bare_run(runtime: TradingRuntime, said: list[str], feed: Any) -> LiveRun:
    """The run, what it says appended to ``said``."""
    run = LiveRun.__new__(LiveRun)
    run.say = said.append
    run.stop_requested = threading.Event()
    run.reload_requested = threading.Event()
    run.failure = None
    run.on_stopped = lambda: None
    run._thread = None
    run.session = None
    run.dead_man = None
    run.continued = False
    run.runtime = runtime
    run.feed = feed
    return run
