"""Checking the venue's answer about one of the kernel's orders before anything is applied for
it: its status and figures, that it is about that order, and what it filled beyond what is
booked."""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from dita._kernel import VenueEvent, VenueOrder, VenueOrderStatus
from dita._numbers import is_real

QTY_EPS = 1e-9
# Terminal venue statuses and the event that tells the kernel about each.
_ENDINGS = {
    VenueOrderStatus.CANCELED: "CANCEL_ACK",
    VenueOrderStatus.REJECTED: "REJECT",
    VenueOrderStatus.EXPIRED: "EXPIRED",
}


class _Malformed(Exception):
    """The venue's answer about an order has a figure reconciliation cannot use, or is about
    another order. Checked before any event for that order is applied, so that order is left
    exactly as it was, unresolved with the field and the value, and the other orders are still
    reconciled; a rest without a price is found once its trades' fills are booked (``then``)."""

    def __init__(self, field: str, value: Any, why: str) -> None:
        super().__init__(f"{field}={value!r} ({why})")
        self.details = {"field": field, "value": repr(value), "reason": why}
        # What was done for the order all the same, where something was (its trades' fills
        # booked before the rest was found without a price).
        self.then = ""

    def unresolved(self, item: dict[str, Any]) -> dict[str, Any]:
        then = self.then or "nothing was changed for this order"
        reason = f"the venue's answer about {item['client_order_id']!r} cannot be used: {self}; {then}"
        return {**item, "reason": reason, "details": self.details}


def _finite(value: object) -> TypeGuard[float]:
    """A real number (not a bool, not text) that is finite."""
    return is_real(value) and math.isfinite(value)


# The venue's figures of an order that reconciliation turns into fills and ends.
_FIGURES = ("size", "filled_size", "avg_fill_price", "price")


def _check_answer(theirs: Any, mine: VenueOrder, venue: Any) -> None:
    """Raise ``_Malformed`` naming the first field of the venue's order that is unusable: a
    status that is not a ``VenueOrderStatus``, a figure that is not a finite number >= 0, or an
    id, side or asset showing it another order than the kernel's ``mine`` (``_same_order``). A
    native ``VenueOrder`` passes the first checks; a Python adapter may hand back anything."""
    status = getattr(theirs, "status", None)
    if not isinstance(status, VenueOrderStatus):
        raise _Malformed("status", status, "not a VenueOrderStatus")
    for name in _FIGURES:
        value = getattr(theirs, name, None)
        if not _finite(value) or value < 0:
            raise _Malformed(name, value, "must be a finite, non-negative number")
    venue_order_id = getattr(theirs, "venue_order_id", None)
    if not isinstance(venue_order_id, str):
        raise _Malformed("venue_order_id", venue_order_id, "must be a string")
    try:
        # Text the kernel refuses as an id (a NUL byte, a lone surrogate, over 1 MiB) would raise
        # where this order's first event is built, after the other orders' events are applied.
        VenueEvent("", "", 0, "ORDER_ACK", venue_order_id=venue_order_id)
    except ValueError as exc:
        raise _Malformed("venue_order_id", venue_order_id, str(exc)) from None
    _same_order(theirs, mine, venue)


def _hooked(venue: Any, hook: str, mine: VenueOrder) -> str:
    """What the venue's ``hook`` (``listed_client_order_id``, ``listed_venue_order_id``) names
    ``mine`` by; "" without one or when it raised (matched by the kernel's own ids, as without)."""
    named = getattr(venue, hook, None)
    if not callable(named):
        return ""
    try:
        return str(named(mine))
    except Exception:
        return ""


def _asset_names(venue: Any, asset: str) -> set[str]:
    """The names the venue may give the kernel's ``asset``: the kernel's own, and the venue's
    (``position_asset``: a ccxt symbol, ``BTC/USDT``, is listed by its market id after a restart)."""
    named = getattr(venue, "position_asset", None)
    if not callable(named):
        return {asset}
    try:
        return {asset, str(named(asset))}
    except Exception:
        return {asset}  # compared under the kernel's name, as without this hook


def _same_order(theirs: Any, mine: VenueOrder, venue: Any) -> None:
    """Raise ``_Malformed`` when the venue's answer is about another order than ``mine``: a client
    id other than the kernel's (or the one it went out under, ``listed_client_order_id``) with no
    venue id of ``mine`` (in either form) to match, the other side, or another market. An
    adapter answering about another order (or an order of an earlier life under a client id the
    kernel reused) would have its fills booked into ``mine``, at its price. A venue id alone is
    not compared: a venue may give it in a form of its own, and the client id names the order,
    as for the kernel's events."""
    coid = getattr(theirs, "client_order_id", None)
    if coid is not None and not isinstance(coid, str):
        raise _Malformed("client_order_id", coid, "must be a string")
    if coid and coid != mine.client_order_id and coid != _hooked(venue, "listed_client_order_id", mine):
        theirs_id = theirs.venue_order_id
        ids = {mine.venue_order_id, _hooked(venue, "listed_venue_order_id", mine)} - {""}
        if theirs_id not in ids:
            why = f"another order's: the kernel's order is {mine.client_order_id!r}"
            if mine.venue_order_id:
                why += f", venue id {mine.venue_order_id!r}"
            raise _Malformed("client_order_id", coid, why)
    # Whether it buys or sells: a venue's VenueOrder says it as its order_side (its side is its
    # trade's, which its role decides), anything else as its side.
    side = getattr(theirs, "order_side", None) or getattr(theirs, "side", None)
    side = getattr(side, "name", side)
    if isinstance(side, str) and side.upper() != mine.order_side.name:
        raise _Malformed("side", side, f"another order's: the kernel's order is a {mine.order_side.name}")
    # An answer leaving its asset out is matched by its ids and side, as one leaving its side out.
    asset = getattr(theirs, "asset", None)
    if asset is not None and not isinstance(asset, str):
        raise _Malformed("asset", asset, "must be a string")
    if asset and asset not in _asset_names(venue, mine.asset):
        raise _Malformed("asset", asset, f"another market's order: the kernel's order is in {mine.asset!r}")


def _missed_fill(mine: VenueOrder, theirs: VenueOrder, venue: Any) -> tuple[float, float] | None:
    """The size and price of what the venue filled beyond what the kernel booked (None when
    nothing); the answer is checked first (``_check_answer``). Raises ``_Malformed`` when the
    answer is malformed or the venue filled more without any usable price, so nothing is
    applied for the order rather than its end without its fill. A venue that lists the order's
    trades (``trade_fills``) may price it there: the price is then 0.0, and ``book_missed``
    names only what its trades leave without one."""
    _check_answer(theirs, mine, venue)
    missed = theirs.filled_size - mine.filled_size
    if missed <= QTY_EPS:
        return None
    # Price of the part the kernel missed, from the venue's average over the whole order.
    paid = theirs.avg_fill_price * theirs.filled_size - mine.avg_fill_price * mine.filled_size
    price = paid / missed
    if not (price > 0 and math.isfinite(price)):
        # The venue's figures alone: the kernel's reference price is a guess, which would book
        # the fill as if the venue had stated it.
        price = theirs.avg_fill_price or theirs.price
    if not price > 0 and not callable(getattr(venue, "trade_fills", None)):
        raise _Malformed("avg_fill_price", theirs.avg_fill_price, f"{missed!r} filled without a price")
    return missed, price


def _ending(theirs: VenueOrder) -> str | None:
    """The event that ends an order the venue says is over (FILLED: a CANCEL_ACK with its
    figure); None while it works."""
    return "CANCEL_ACK" if theirs.status == VenueOrderStatus.FILLED else _ENDINGS.get(theirs.status)


def _works(theirs: Any) -> bool:
    """Whether the venue's answer about an order says it still works there (a malformed one
    does not: it is named, as one over is settled, before the orders it works are canceled)."""
    status = getattr(theirs, "status", None)
    return isinstance(status, VenueOrderStatus) and status not in (*_ENDINGS, VenueOrderStatus.FILLED)


def _taken_by_venue(mine: VenueOrder) -> bool:
    """Whether the venue took ``mine``: it acknowledged it (a venue id) or filled some of it. One
    it no longer has is over there, not a submit it never had (ended as one, a REJECT, a fill
    it made beyond what is booked would go unsaid)."""
    return bool(mine.venue_order_id) or mine.filled_size > QTY_EPS


def _gone_reason(mine: VenueOrder, then: str) -> str:
    """Why an order the venue took (``_taken_by_venue``) and no longer has is ``then`` (ended here,
    its slot waiting on), and what that leaves unknown."""
    had = f"venue order id {mine.venue_order_id}" if mine.venue_order_id else "it filled"
    return (
        f"the venue took it ({had}) and no longer has it (purged, or its record lost): {then}; "
        f"what it filled beyond the {mine.filled_size!r} booked is unknown, so a fill may be "
        "missing: check the venue's trade history and the positions"
    )


def _filled_size_held(mine: VenueOrder, theirs: VenueOrder) -> float:
    """The size an order the venue says FILLED is full at: the venue's (an order it cut to its
    lot is full at its lot), never above the kernel's, which is all it was sent."""
    return min(theirs.size, mine.size)


def _counts_short(mine: VenueOrder, theirs: VenueOrder) -> bool:
    """Whether the venue says ``mine`` FILLED yet counts less filled than the size it is full at
    (``_filled_size_held``): an exchange reporting a closed order without its filled size. The one
    rule of every pass: judged by the kernel's size at a later run, an order cut to its lot that
    the first run booked and ended (``_after_fill``) would be named short at every run."""
    full_at = _filled_size_held(mine, theirs)
    return theirs.status == VenueOrderStatus.FILLED and theirs.filled_size + QTY_EPS < full_at


def _filled_short(mine: VenueOrder, theirs: VenueOrder, then: str) -> str:
    """Why an order the venue says FILLED counting short (``_counts_short``) is left unresolved:
    no end or fill is guessed."""
    return (
        f"the venue says FILLED with {theirs.filled_size!r} of {_filled_size_held(mine, theirs)!r} "
        f"filled; {then} (nothing is guessed)"
    )
