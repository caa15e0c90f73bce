"""Handing a venue's account facts to the kernel: a venue with ``account_events()`` (a
``CcxtVenue`` on its user-data stream) says what the exchange reported of the account (balances,
margins, funding payments) as ``AccountEvent``s, and whoever polls the venue (the runtime, the
gateway) gives each to ``kernel.on_account_event``, which books it or refuses it with a
diagnostic (a duplicate, a figure older than the one held)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dita._kernel import AccountEvent, KernelDiagnosticCode
from dita._text import shortened
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


def take_account_events(kernel: Any, venue: Any) -> AccountEventsTaken:
    """Give ``kernel`` the account events ``venue.account_events()`` returns (nothing for a venue
    without one). A refusal is logged at WARNING with its diagnostic; a venue that raises or
    gives what is not a list of ``AccountEvent``s is logged and reported in ``problem``, and the
    events it did give are still given."""
    taken = AccountEventsTaken()
    account_events = getattr(venue, "account_events", None)
    if not callable(account_events):
        return taken
    try:
        answer = account_events()
    except Exception as exc:
        taken.problem = f"the venue's account_events raised {type(exc).__name__}: {exc}"
        log.warning("venue %r: %s", describe(venue), shortened(taken.problem, 300))
        return taken
    if not isinstance(answer, list | tuple):
        taken.problem = (
            f"the venue's account_events gave {type(answer).__name__}, not a list of AccountEvents"
        )
        log.warning("venue %r: %s", describe(venue), taken.problem)
        return taken
    for at, event in enumerate(answer):
        if not isinstance(event, AccountEvent):
            taken.problem = (
                f"the venue's account_events gave a {type(event).__name__} (skipped), not an "
                f"AccountEvent: {shortened(repr(event), 120)}"
            )
            log.warning("venue %r: %s", describe(venue), taken.problem)
            continue
        try:
            outcome = kernel.on_account_event(event)
        except Exception as exc:
            # The kernel takes no more input (closed, its write-ahead log failed): the venue
            # gave each event once, so the rest are named for whoever reconciles.
            left = answer[at:]
            taken.problem = f"the kernel raised {type(exc).__name__} on an account event: {exc}"
            log.error(
                "venue %r: %s; not booked (%d): %s",
                describe(venue), taken.problem, len(left), shortened(repr([e.to_dict() for e in left]), 600),
            )  # fmt: skip
            return taken
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
            shortened(repr(outcome.details), 300),
        )
    return taken
