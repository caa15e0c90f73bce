"""What every test directory shares: the signals the suite's processes start with."""

from __future__ import annotations

import signal

# A runner that starts the suite with SIGINT ignored (a background job of a non-interactive
# shell does) passes that on through every exec, and the tests that stop a subprocess with
# SIGINT, as Ctrl-C does, saw it run on: 14 of them failed. A Python handler is reset to the
# default at exec, so the processes the tests start take SIGINT again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
