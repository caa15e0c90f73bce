"""The venue's open orders matched to the kernel's: by client id, by the id an order went out
under, by venue id; and whether a client id is one this kernel issues."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dita._kernel import VenueOrder
from dita.reconcile.answers import _hooked
from dita.venues import VenueUnavailable, describe


def _read_listing(venue: Any) -> list[Any]:
    """The venue's open orders, read once. Raises ``VenueUnavailable`` naming the venue when they
    cannot be listed or an entry is not an order: nothing has changed yet."""
    try:
        # Read once, here: indexing it would spend an adapter's generator, and the pass over
        # the orders nobody manages would find none (reported clean, left working at the venue).
        listed = list(venue.open_orders())
    except Exception as exc:
        raise VenueUnavailable(
            f"reconciliation with {describe(venue)} not started (nothing changed): its open orders "
            f"could not be listed: {type(exc).__name__}: {exc}"
        ) from exc
    for at, entry in enumerate(listed):
        # Not an order (None, a number, a dict where an adapter kept the raw answer): read as one,
        # it would raise AttributeError, naming neither the venue nor the entry.
        if not hasattr(entry, "client_order_id"):
            raise VenueUnavailable(
                f"reconciliation with {describe(venue)} not started (nothing changed): its open orders "
                f"are malformed: entry {at} is {entry!r}, not an order (it has no client_order_id)"
            )
    return listed


def _by_client_id(listed: list[Any]) -> dict[str, list[Any]]:
    """The listed orders by client id, for the kernel's orders (text: a list, where an adapter
    kept a raw answer, is no id of the kernel's, and could not be indexed); the orders nobody
    manages are taken from ``listed``, where several without a client id (placed by hand at some
    exchanges) are each one.
    Each client id's every entry: an earlier life's order under a client id the kernel reused,
    or another venue's of a router, may be listed beside the kernel's (``_one_of`` tells them).
    One order listed twice (a page read twice) is one entry: the last copy."""
    venue_open: dict[str, list[Any]] = {}
    for o in listed:
        if isinstance(o.client_order_id, str) and o.client_order_id:
            entries = venue_open.setdefault(o.client_order_id, [])
            venue_order_id = getattr(o, "venue_order_id", None)
            if isinstance(venue_order_id, str) and venue_order_id:
                entries[:] = [e for e in entries if getattr(e, "venue_order_id", None) != venue_order_id]
            entries.append(o)
    return venue_open


def _distinct(listed: list[Any]) -> list[Any]:
    """The listed orders, one listed twice (a page read twice) once: the last copy, as
    ``_by_client_id`` takes it, by its client id and venue id. One without a venue id (or whose
    ids are no text) cannot be told from another, so each such entry is one order."""
    orders: dict[Any, Any] = {}
    for o in listed:
        coid, venue_order_id = o.client_order_id, getattr(o, "venue_order_id", None)
        named = isinstance(venue_order_id, str) and venue_order_id and (coid is None or isinstance(coid, str))
        orders[(coid, venue_order_id) if named else id(o)] = o
    return list(orders.values())


def _by_venue_id(listed: list[Any]) -> dict[str, Any]:
    """The listed orders by venue id: some exchanges list an order without its client id."""
    by_venue_id = {o.venue_order_id: o for o in listed if isinstance(getattr(o, "venue_order_id", None), str)}
    by_venue_id.pop("", None)
    return by_venue_id


def _one_of(mine: VenueOrder, venue: Any, entries: list[Any]) -> Any:
    """Which of the venue's ``entries`` listed under one client id of ``mine``'s is ``mine``: the
    only one; of several (an earlier life's order under a client id the kernel reused, beside its
    own, or another venue's of a router), the one carrying ``mine``'s venue id in the kernel's
    form or the venue's (``listed_venue_order_id``); else None. Taking the last one listed would
    book the other's fills into ``mine``, or take it for ``mine``, neither canceled nor reported.
    A lone one is ``mine`` whatever its venue id (a venue may give one of its own form)."""
    if len(entries) <= 1:
        lone = entries[0] if entries else None
        return None if lone is not None and _is_other(venue, mine, lone) else lone
    ids = {mine.venue_order_id, _hooked(venue, "listed_venue_order_id", mine)} - {""}
    # An id that is no text (a raw answer's list) is no id of the kernel's, and unhashable.
    held = [getattr(e, "venue_order_id", None) for e in entries]
    same = [e for e, id_ in zip(entries, held, strict=True) if isinstance(id_, str) and id_ in ids]
    return same[0] if len(same) == 1 else None


def _is_other(venue: Any, mine: VenueOrder, theirs: Any) -> bool:
    """Whether the venue says ``theirs``, listed under ``mine``'s client id, is another order
    (``is_other_order``: an earlier life's order under a client id the kernel reused, ``mine``
    over at the venue); False without the hook or when it raised."""
    is_other = getattr(venue, "is_other_order", None)
    try:
        return callable(is_other) and bool(is_other(mine, theirs))
    except Exception:
        return False


def _listed(
    mine: VenueOrder, venue: Any, by_client: dict[str, list[Any]], by_venue_id: dict[str, Any]
) -> Any:
    """The venue's listed order that is the kernel's ``mine``, or None: listed under its client
    id, under the id it went out under (the venue's ``listed_client_order_id``: a hash where the
    exchange refuses the kernel's), one of several there told by its venue id (``_one_of``), or
    under its venue id, in the kernel's form or the venue's (``listed_venue_order_id``)."""
    theirs = _one_of(mine, venue, by_client.get(mine.client_order_id, [])) or by_venue_id.get(
        mine.venue_order_id or ""
    )
    for hook in ("listed_client_order_id", "listed_venue_order_id"):
        named = getattr(venue, hook, None)
        if theirs is not None or not callable(named):
            continue
        try:
            name = str(named(mine)) or ""
        except Exception:
            continue  # matched by the kernel's own ids, as without this hook
        if hook == "listed_client_order_id":
            theirs = _one_of(mine, venue, by_client.get(name, []))
        else:
            theirs = by_venue_id.get(name)
    return theirs


def _untold(mine: VenueOrder, entries: list[Any]) -> str:
    """Why which of the several ``entries`` listed under ``mine``'s client id is ``mine`` cannot be
    told (none, or more than one, carries its venue id)."""
    ids = ", ".join(repr(getattr(e, "venue_order_id", None)) for e in entries)
    held = f"its venue id {mine.venue_order_id!r}" if mine.venue_order_id else "no venue id yet"
    return (
        f"the venue lists {len(entries)} orders under its client id (venue ids {ids}) and the kernel's "
        f"order carries {held}: which is the kernel's cannot be told; none is booked or canceled"
    )


def _issued_by(kernel_id: str) -> Callable[[Any], bool]:
    """Whether a client order id is one this kernel makes (``<kernel_id>-<n>``), as the venue
    lists it. An exchange that takes the kernel's ids under a hash (``CcxtVenue.venue_client_id``:
    every id on OKX and Gate, an id past Binance's 36 characters) lists them in a form no kernel
    can be told from: such an order counts as foreign."""
    own = re.compile(re.escape(kernel_id) + r"-[0-9]+")
    return lambda client_order_id: isinstance(client_order_id, str) and bool(own.fullmatch(client_order_id))
