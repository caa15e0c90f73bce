"""``reconcile_with_venue``: the passes of one reconciliation, in order. The kernel's working
orders first, then the orders whose slots wait for fills, the orders ended without the venue's
figure, the orders nobody manages, and last the positions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dita._kernel import KernelOutcome, VenueEvent
from dita._numbers import is_count, is_flag
from dita.reconcile.awaited import _AwaitedOrders
from dita.reconcile.ended import _EndedOrders
from dita.reconcile.listing import _read_listing
from dita.reconcile.positions import _compare_positions
from dita.reconcile.report import ReconciliationReport
from dita.reconcile.unknown import _UnknownOrders
from dita.reconcile.working import _WorkingOrders

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

# How many orders ended without the venue's filled size a full reconciliation asks about by
# default: the kernel keeps two per slot (a slot's last entry and exit), and each is a request.
ENDED_LOOKUPS = 50


class _Reconciliation(_WorkingOrders, _AwaitedOrders, _EndedOrders, _UnknownOrders):
    """One reconciliation run with each of its passes (one module each) over the state they share
    (``_Run``)."""


def _checked_options(
    cancel_unknown: Any,
    cancel_foreign_orders: Any,
    on_applied: Any,
    clock: Any,
    only_in_doubt: Any,
    ended_lookups: Any,
) -> int:
    """Raises ``TypeError`` naming the first option of ``reconcile_with_venue`` that is not what it
    must be; returns ``ended_lookups`` as Python's int."""
    # Checked before anything changes: "no" read as true would cancel orders it was told to
    # leave, and an ``on_applied`` that cannot be called would raise after the first event.
    for name, flag in (
        ("cancel_unknown", cancel_unknown),
        ("cancel_foreign_orders", cancel_foreign_orders),
        ("only_in_doubt", only_in_doubt),
    ):
        if not is_flag(flag):
            raise TypeError(f"reconcile_with_venue: {name}={flag!r} must be True or False")
    if on_applied is not None and not callable(on_applied):
        raise TypeError(f"reconcile_with_venue: on_applied={on_applied!r} must be callable or None")
    # First called to stamp an event, which for an order the kernel ended that the venue works
    # on comes after its cancel at the venue.
    if not callable(clock):
        raise TypeError(f"reconcile_with_venue: clock={clock!r} must be callable")
    if not is_count(ended_lookups):
        raise TypeError(f"reconcile_with_venue: ended_lookups={ended_lookups!r} must be an int >= 0")
    # Python's int: a numpy count would make the report's count numpy's, which ``lines()`` takes
    # for a list (TypeError) and JSON cannot write, after the events are applied.
    return int(ended_lookups)


def reconcile_with_venue(
    kernel: ExecutionKernel,
    *,
    cancel_unknown: bool = True,
    cancel_foreign_orders: bool = False,
    on_applied: Callable[[VenueEvent, KernelOutcome], None] | None = None,
    clock: Callable[[], float] = time.time,
    only_in_doubt: bool = False,
    ended_lookups: int = ENDED_LOOKUPS,
) -> ReconciliationReport:
    """Compare the kernel's working orders and positions with the venue's and resolve the
    differences. ``cancel_unknown`` cancels venue orders the kernel has no record of whose
    client id it issued (``<kernel_id>-<n>``: the kernel cannot manage an order it does not
    track); otherwise they are only reported. Orders under any other client id, or none, are
    another's (a second bot's, one placed by hand) and are listed as ``foreign_orders_left``,
    untouched, unless ``cancel_foreign_orders`` (and ``cancel_unknown``) has them canceled too.
    ``on_applied`` is called with each event the kernel took and its outcome, in order (a
    runtime routes them to its strategies); it must not raise. ``clock`` stamps the events
    (a runtime replaying data gives its data clock: a slot's last event time stays a time of
    the data, which a paper run continues its replay after). ``only_in_doubt`` settles only
    the orders in doubt (``kernel.orders_in_doubt()``), as a runtime does while it runs: the
    working orders, the orders nobody manages and the positions are left for a full
    reconciliation (a venue that lists a just-sent order late would have it ended as lost).
    ``ended_lookups`` bounds how many of the orders the kernel ended without the venue's filled
    size (``kernel.orders_ended_without_figure()``) a full reconciliation looks up, the newest
    first: a fill may have raced their end, and each lookup is a request to the venue (those
    its open orders list are each reconciled, needing none).
    Raises ``VenueUnavailable`` when the venue cannot list its open orders (nothing changed);
    once it starts changing things, what fails later (a lookup, a malformed answer, a refused
    event, a cancel, the positions) is in the report."""
    ended_lookups = _checked_options(
        cancel_unknown, cancel_foreign_orders, on_applied, clock, only_in_doubt, ended_lookups
    )
    venue = kernel.venue
    report = ReconciliationReport()
    run = _Reconciliation(kernel, venue, _read_listing(venue), report, clock, on_applied)
    if not only_in_doubt:
        run.settle_working_orders()
    awaited = run.settle_awaited_orders(only_in_doubt)
    if only_in_doubt:
        run.follow_booked_lookups()
        # Not compared: the report must not read as kernel and venue in agreement.
        report.positions_unchecked = "not compared: only the orders in doubt were settled (only_in_doubt)"
        return report
    run.ask_about_ended_orders(ended_lookups)
    run.follow_booked_lookups()
    still_open = run.follow_working_orders()
    run.settle_unknown_orders(still_open, awaited, cancel_unknown, cancel_foreign_orders)
    _settle_fees(kernel, venue, report)
    _compare_positions(kernel, venue, report)
    return report


def _settle_fees(kernel: ExecutionKernel, venue: Any, report: ReconciliationReport) -> None:
    """Tell a venue that settles the fees it lists (``settle_fills``: IBKR's commission reports)
    the fills whose fees the kernel waits for: after a restart it follows none of the orders
    they came from, and would settle none. One that raises is reported in ``fees_unsettled``."""
    settle = getattr(venue, "settle_fills", None)
    if not callable(settle):
        return
    fill_ids = kernel.unsettled_fill_ids()
    if not fill_ids:
        return
    try:
        settle(fill_ids)
    except Exception as exc:
        report.fees_unsettled = f"settle_fills raised {type(exc).__name__}: {exc}"
