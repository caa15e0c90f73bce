"""What the runtime's parts share: one logger, the way a step collects the errors raised on
its way, and how deep the runtime is in calls of the kernel or the venues."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

# One logger for the whole runtime, whichever part logs: operators filter on its name.
log = logging.getLogger("dita.runtime")


def tell(errors: list[Exception], listener: Callable[..., None], *args: Any) -> None:
    """Call a listener; what it raises is added to ``errors`` (see ``raise_first``)."""
    try:
        listener(*args)
    except Exception as exc:
        errors.append(exc)


def raise_first(errors: list[Exception]) -> None:
    """Raise the first error a step collected once the step is done (the rest followed it)."""
    if errors:
        raise errors[0]


def _nothing() -> None:
    return None


class CallDepth:
    """How deep the runtime is in calls of the kernel or the venues and the routing of their
    answers (``with calls:`` around each). ``after_calls`` runs on the way out of the outermost
    one, or at once from ``run_if_outside()`` outside them all: the cancels of a failed
    strategy's entries wait for it, as a cancel sent from inside a venue's answer would meet the
    venue in its middle."""

    def __init__(self) -> None:
        self.depth = 0
        self.after_calls: Callable[[], None] = _nothing

    def __enter__(self) -> None:
        self.depth += 1

    def __exit__(self, *exc_info: object) -> None:
        self.depth -= 1
        if not self.depth:
            self.after_calls()

    def run_if_outside(self) -> None:
        """Run ``after_calls`` now when the runtime is in no call."""
        if not self.depth:
            self.after_calls()
