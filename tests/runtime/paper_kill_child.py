"""`dita paper` with a record of what its paper venue did, for test_paper_kill_chaos.py.

``python paper_kill_child.py LOG RUN paper ARGS...`` runs ``dita paper ARGS...`` and appends
to LOG, one JSON line each, written with one ``write(2)`` as it happens (so a SIGKILL keeps
every line before it): each fill the paper venue makes (``{"run", "coid", "fill_id",
"asset", "side", "price", "size", "fee", "filled"}``), and each state file save before it is
written (``{"run", "save": seq, "at": updated_at}``), which tells the test which fills the
saved book holds."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def main() -> None:
    log_path, run = sys.argv[1], int(sys.argv[2])
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record(line: dict[str, Any]) -> None:
        os.write(fd, (json.dumps({"run": run, **line}) + "\n").encode())

    import dita.cli._state as state
    from dita.venues.paper import PaperVenue

    fill = PaperVenue._fill

    def logged_fill(self: PaperVenue, working: Any, *args: Any) -> None:
        events = args[-1]
        fill(self, working, *args)
        e = events[-1]
        side = e.order_side.name if e.order_side is not None else ""
        record(
            {
                "coid": e.venue_client_id,
                "fill_id": e.fill_id,
                "asset": e.asset,
                "side": side,
                "price": e.price,
                "size": e.size,
                "fee": e.fee,
                "filled": e.filled_size,
            }
        )

    write = state.write_state_file

    def logged_write(state_dir: Path, snapshot: dict[str, Any]) -> Path:
        # Before the file: killed between the two, the file is the save before this one.
        record({"save": snapshot["seq"], "at": snapshot["updated_at"]})
        return write(state_dir, snapshot)

    PaperVenue._fill = logged_fill  # type: ignore[method-assign, assignment]
    state.write_state_file = logged_write

    from dita.cli import main as dita

    sys.argv = ["dita", *sys.argv[3:]]
    dita()


if __name__ == "__main__":
    main()
