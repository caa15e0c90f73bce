"""A cluster's answer waited for until a deadline: a member frozen answers no request of its
partitions until the others declare it dead, a minute or more."""

from __future__ import annotations

import threading
import time
from typing import Any

from dita._hazelcast_client import Future, HazelcastClient, Map


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


def map_proxy(client: HazelcastClient, name: str, thread_name: str) -> Future[Map[str, Any]]:
    """The proxy of map ``name``, as a future: the client's ``get_map`` asks a member to create it
    the first time and waits for the answer without a limit (on a member frozen, until the client
    drops its connection), so it is got on a thread of its own, ``thread_name``."""
    future: Future[Map[str, Any]] = Future()  # type: ignore[no-untyped-call]  # the client's own, untyped

    def get() -> None:
        try:
            future.set_result(client.get_map(name))
        except Exception as exc:
            future.set_exception(exc)

    threading.Thread(target=get, name=thread_name, daemon=True).start()
    return future
