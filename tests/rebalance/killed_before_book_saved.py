"""``dita rebalance`` as its own process, killed (``os._exit(9)``) at its N-th save of the paper
book: the fill of the leg just sent is in the write-ahead log, the book on disk is the one
saved before it (none for N = 1).

python tests/rebalance/killed_before_book_saved.py N REBALANCE-OPTIONS..."""

from __future__ import annotations

import os
import sys
from typing import Any

import dita.cli.rebalance as cli_rebalance
from dita.cli import main

save_book = cli_rebalance._Session.save_book
kill_at = int(sys.argv[1])
saves = 0


def killed_at_save(session: Any) -> None:
    global saves
    saves += 1
    if saves == kill_at:
        os._exit(9)
    save_book(session)


if __name__ == "__main__":
    cli_rebalance._Session.save_book = killed_at_save  # type: ignore[method-assign]
    sys.argv = ["dita", *sys.argv[2:]]
    main()
