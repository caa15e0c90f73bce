"""Handing a venue's account facts to the kernel: a venue with ``account_events()`` (a
``CcxtVenue`` on its user-data stream) says what the exchange reported of the account (balances,
margins, funding payments) as ``AccountEvent``s, and whoever polls the venue (the runtime, the
gateway) gives each to ``kernel.on_account_event``, which books it or refuses it with a
diagnostic (a duplicate, a figure older than the one held)."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from dita._kernel import AccountEvent, KernelDiagnosticCode
from dita._text import shortened
from dita.venues._events import kernel_busy
from dita.venues.protocol import describe

__all__ = ["AccountEventsTaken", "take_account_events"]

log = logging.getLogger(__name__)


@dataclass
class AccountEventsTaken:
    """What one ``take_account_events`` did: events given to the kernel, those it refused (a
    duplicate not counted: a stream resends, and the kernel knows it), and what went wrong
    asking the venue or giving the kernel ("" when nothing did)."""

    given: int = 0
    refused: int = 0
    problem: str = ""


def take_account_events(
    kernel: Any, venue: Any, waiting: deque[AccountEvent] | None = None
) -> AccountEventsTaken:
    """Give ``kernel`` the events in ``waiting`` (those it was busy for last time), then those
    ``venue.account_events()`` returns (nothing for a venue without one). A refusal is logged
    at WARNING with its diagnostic; a venue that raises or gives what is not a list of
    ``AccountEvent``s is logged and reported in ``problem``, and the events it did give are
    still given.

    The venue gives each event once: one the kernel raised on because another thread's call
    held it stays in ``waiting`` with those after it, for the next take; on any other raise
    (the kernel closed, its log failed) they are named at ERROR and dropped."""
    taken = AccountEventsTaken()
    queue: deque[AccountEvent] = deque() if waiting is None else waiting
    account_events = getattr(venue, "account_events", None)
    if callable(account_events):
        queue.extend(_asked(account_events, venue, taken))
    while queue:
        event = queue[0]
        try:
            outcome = kernel.on_account_event(event)
        except Exception as exc:
            _not_taken(venue, queue, exc, taken, kept=waiting is not None and kernel_busy(exc))
            return taken
        queue.popleft()
        taken.given += 1
        if outcome.accepted or outcome.diagnostic_code == KernelDiagnosticCode.DUPLICATE_EVENT:
            continue
        taken.refused += 1
        log.warning(
            "venue %r: account event %s (%s) refused: %s %s",
            describe(venue),
            event.event_id,
            event.kind.name,
            outcome.diagnostic_code.name,
            shortened(repr(dict(outcome.details)), 300),
        )
    return taken


def _asked(account_events: Any, venue: Any, taken: AccountEventsTaken) -> list[AccountEvent]:
    """The ``AccountEvent``s of one ``account_events()`` call; what is wrong with the answer is
    logged and set in ``taken.problem``."""
    try:
        answer = account_events()
    except Exception as exc:
        taken.problem = f"the venue's account_events raised {type(exc).__name__}: {exc}"
        log.warning("venue %r: %s", describe(venue), shortened(taken.problem, 300))
        return []
    if not isinstance(answer, list | tuple):
        taken.problem = (
            f"the venue's account_events gave {type(answer).__name__}, not a list of AccountEvents"
        )
        log.warning("venue %r: %s", describe(venue), taken.problem)
        return []
    events = []
    for event in answer:
        if not isinstance(event, AccountEvent):
            taken.problem = (
                f"the venue's account_events gave a {type(event).__name__} (skipped), not an "
                f"AccountEvent: {shortened(repr(event), 120)}"
            )
            log.warning("venue %r: %s", describe(venue), taken.problem)
            continue
        events.append(event)
    return events


def _not_taken(
    venue: Any, queue: deque[AccountEvent], exc: Exception, taken: AccountEventsTaken, kept: bool
) -> None:
    """The kernel raised ``exc`` on the event at the head of ``queue``: kept for the next take
    (``kept``), or named at ERROR for whoever reconciles and dropped."""
    taken.problem = f"the kernel raised {type(exc).__name__} on an account event: {exc}"
    if kept:
        taken.problem += f"; {len(queue)} kept for the next take"
        log.warning("venue %r: %s", describe(venue), shortened(taken.problem, 300))
        return
    log.error(
        "venue %r: %s; not booked (%d): %s",
        describe(venue), taken.problem, len(queue), shortened(repr([e.to_dict() for e in queue]), 600),
    )  # fmt: skip
    queue.clear()
