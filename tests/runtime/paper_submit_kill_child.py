"""`dita paper` killed right after its paper venue took an order, before the kernel heard the
answer, for test_paper_catch_up.py.

``python paper_submit_kill_child.py CLIENT_ORDER_ID paper ARGS...`` runs ``dita paper ARGS...``;
when the venue has taken the order CLIENT_ORDER_ID (its ``submit`` returned the answer), the
kernel's log is synced, so it holds the intent's record that sent the order and not the answer's,
and the process sends itself SIGKILL: the kill lands between the two records, every time."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def main() -> None:
    target = sys.argv[1]

    import dita.cli.paper_session as paper_session
    from dita.venues.paper import PaperVenue

    kernels: list[Any] = []
    make_session = paper_session.PaperSession.__init__

    def kept(self: Any, *args: Any, **kwargs: Any) -> None:
        make_session(self, *args, **kwargs)
        kernels.append(self.kernel)

    submit = PaperVenue.submit

    def taken_then_killed(self: PaperVenue, order: Any) -> Any:
        answer = submit(self, order)
        if order.client_order_id == target:
            kernels[-1].wal_sync()
            os.kill(os.getpid(), signal.SIGKILL)
        return answer

    paper_session.PaperSession.__init__ = kept  # type: ignore[method-assign]
    PaperVenue.submit = taken_then_killed  # type: ignore[method-assign]

    from dita.cli import main as dita

    sys.argv = ["dita", *sys.argv[2:]]
    dita()


if __name__ == "__main__":
    main()
