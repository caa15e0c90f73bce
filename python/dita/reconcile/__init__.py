"""Reconciliation with the venue after a restart (or whenever an operator asks).

After a kernel is rebuilt from its write-ahead log it may disagree with the venue: a fill
happened while the process was down, a submit timed out and did (or did not) reach the
venue, or the venue holds an order the kernel never recorded. Each difference becomes an
explicit event fed through ``kernel.on_venue_event`` (so the log records it) or an explicit
action at the venue, and all of it is returned as a report. Nothing is assumed: an order
whose fate the venue cannot tell stays in flight and is listed as unresolved.

Start reading at ``driver.py``: ``reconcile_with_venue`` runs one pass per module over the
state they share (``run.py``): the kernel's working orders (``working.py``), the orders whose
slots wait for fills (``awaited.py``), the orders ended without the venue's figure
(``ended.py``), the orders nobody manages (``unknown.py``) and the positions
(``positions.py``). The passes book missed fills (``booking.py``) and cancel orders the kernel
ended that the venue works (``cancels.py``); they check each answer of the venue's first
(``answers.py``), match its listing to the kernel's orders (``listing.py``), and name what they
did in the report (``report.py``).
"""

from __future__ import annotations

from dita.reconcile.answers import QTY_EPS as QTY_EPS
from dita.reconcile.driver import ENDED_LOOKUPS as ENDED_LOOKUPS
from dita.reconcile.driver import reconcile_with_venue
from dita.reconcile.events import EVENT_ID_PREFIX as EVENT_ID_PREFIX
from dita.reconcile.report import ReconciliationReport

__all__ = ["ReconciliationReport", "reconcile_with_venue"]
