"""Which venue a trade's orders go to, for ``VenueRouter``: a new trade's entry to the venue its
asset is routed to (or the default one), and every later order of the trade (its exits) to that
venue, even after ``route()`` or a restart sent the asset elsewhere: the trade's position is
there. An exit of a trade entered before a restart goes to the one venue holding a position of
its side in the asset (or, held nowhere, the routed one); when that is not one venue, it is
refused naming the trade, for ``route_trade`` to place.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from dita._kernel import VenueOrder
from dita.venues.protocol import VenueAdapter

__all__ = ["TradeVenueUnknown", "TradeVenues"]

# Trades whose venue is kept (the newest): an older one's exit is placed by the venues' positions.
_TRADES_KEPT = 100_000


class TradeVenueUnknown(Exception):
    """The venue of an exit's trade cannot be told: the exit is refused, not guessed."""


class TradeVenues:
    """The venue of each trade a router's ``venues`` hold. ``venues`` is the router's own
    mapping, read as it grows."""

    def __init__(self, venues: Mapping[str, VenueAdapter]) -> None:
        self._venues = venues
        # Trade id -> the venue its entry went to: its exits go there whatever the routes say
        # since, as its position is there. The newest ``_TRADES_KEPT``.
        self._trade_venue: OrderedDict[str, str] = OrderedDict()

    def get(self, trade_id: str) -> str | None:
        """The venue the orders of trade ``trade_id`` go to, if known."""
        return self._trade_venue.get(trade_id)

    def keep(self, trade_id: str, venue_name: str) -> None:
        """Keep the venue of trade ``trade_id`` among the newest ``_TRADES_KEPT``."""
        if trade_id:
            self._trade_venue.pop(trade_id, None)
            self._trade_venue[trade_id] = venue_name
            while len(self._trade_venue) > _TRADES_KEPT:
                self._trade_venue.popitem(last=False)

    def venue_name_of(self, order: VenueOrder) -> str | None:
        """The venue ``order`` goes to, None for the one its asset is routed to: that one for an
        entry (a new trade); for an exit, its trade's, known from the trade's entry (or
        ``route_trade``). An exit of a trade the router does not know (after a restart) goes to
        the one venue holding a position of the trade's side in its asset, or, held nowhere, to the
        routed venue; two holding one, or one that cannot say, raise ``TradeVenueUnknown``: a
        guess may sell on a venue where the trade holds nothing."""
        if order.is_entry:
            return None
        known = self._trade_venue.get(order.trade_id) if order.trade_id else None
        if known is not None:
            return known
        if len(self._venues) == 1:
            return None
        return self._holding_its_side(order)

    def _holding_its_side(self, order: VenueOrder) -> str | None:
        """The one venue holding a position of exit ``order``'s side in its asset, None when held
        nowhere; raises ``TradeVenueUnknown`` naming the trade when that is not one venue."""
        long = order.side.name == "LONG"
        holding: list[str] = []
        cannot_say: list[str] = []
        for venue_name, adapter in self._venues.items():
            named = getattr(adapter, "position_asset", None)
            try:
                asset = str(named(order.asset)) if callable(named) else order.asset
                size = float(adapter.positions().get(asset, 0.0))
            except Exception as exc:
                cannot_say.append(f"{venue_name!r} ({type(exc).__name__}: {exc})")
                continue
            if (size > 0.0) if long else (size < 0.0):
                holding.append(venue_name)
        if not cannot_say and len(holding) <= 1:
            # Held nowhere: the routed venue, which the router looks up only then.
            return holding[0] if holding else None
        holders = ", ".join(repr(n) for n in holding)
        why = (
            f"venues {holders} each hold a {order.side.name} {order.asset} position"
            if len(holding) > 1
            else f"venue {'; '.join(cannot_say)} could not list its positions"
        )
        raise TradeVenueUnknown(
            f"exit of trade {order.trade_id!r} ({order.asset}) refused: the router does not know the "
            f"venue its entry went to (entered before a restart) and {why}; name it with "
            f"route_trade({order.trade_id!r}, venue)"
        )
