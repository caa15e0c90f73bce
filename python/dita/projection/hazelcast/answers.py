"""A cluster's answer waited for until a deadline: a member frozen answers no request of its
partitions until the others declare it dead, a minute or more."""

from __future__ import annotations

import threading
import time
from typing import Any

from dita._hazelcast_client import Future


class Unanswered(Exception):
    """A request left unanswered past its deadline; ``what`` names it."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def answered_by(future: Future[Any], deadline: float, what: str) -> Any:
    """``future``'s result, waited for until ``deadline`` (monotonic); ``Unanswered`` past it."""
    answered = threading.Event()
    future.add_done_callback(lambda _: answered.set())
    if not answered.wait(max(deadline - time.monotonic(), 0.0)):
        raise Unanswered(what)
    return future.result()
