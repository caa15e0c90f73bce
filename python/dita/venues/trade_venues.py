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

# Each venue's positions, or what its ``positions()`` raised, as asked over one check.
PositionsAsked = dict[str, "Mapping[str, float] | Exception"]

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
        return self._holding(order.trade_id, order.asset, order.side.name)

    def venue_name_of_open_trade(
        self, trade_id: str, asset: str, side: str, routed: str, asked: PositionsAsked
    ) -> str | None:
        """The venue other than ``routed`` that open trade ``trade_id`` (``side`` in ``asset``) is
        on, as its exit would be sent: known from its entry (or ``route_trade``), else the one
        venue holding a position of its side in ``asset``. None when it is on ``routed`` or the
        router cannot tell (held nowhere, on two venues, or a venue cannot list its positions).
        ``routed`` is asked for its positions only when another venue holds one, and each venue
        once over the calls sharing ``asked``: a venue's positions may be an exchange's REST call."""
        known = self._trade_venue.get(trade_id)
        if known is not None:
            return known if known != routed else None
        others = [name for name in self._venues if name != routed]
        elsewhere, cannot_say = self._holding_side(others, asset, side, asked)
        if cannot_say or len(elsewhere) != 1:
            return None
        on_routed, cannot_say = self._holding_side([routed], asset, side, asked)
        return None if on_routed or cannot_say else elsewhere[0]

    def _holding(self, trade_id: str, asset: str, side: str) -> str | None:
        """The one venue holding a position of ``side`` in ``asset``, None when held nowhere;
        raises ``TradeVenueUnknown`` naming exit trade ``trade_id`` when that is not one venue."""
        holding, cannot_say = self._holding_side(list(self._venues), asset, side, {})
        if not cannot_say and len(holding) <= 1:
            # Held nowhere: the routed venue, which the router looks up only then.
            return holding[0] if holding else None
        holders = ", ".join(repr(n) for n in holding)
        why = (
            f"venues {holders} each hold a {side} {asset} position"
            if len(holding) > 1
            else f"venue {'; '.join(cannot_say)} could not list its positions"
        )
        raise TradeVenueUnknown(
            f"exit of trade {trade_id!r} ({asset}) refused: the router does not know the "
            f"venue its entry went to (entered before a restart) and {why}; name it with "
            f"route_trade({trade_id!r}, venue)"
        )

    def _holding_side(
        self, venue_names: list[str], asset: str, side: str, asked: PositionsAsked
    ) -> tuple[list[str], list[str]]:
        """Which of ``venue_names`` hold a position of ``side`` in ``asset``, and those that could
        not list their positions, each with why; each venue's answer kept in ``asked``."""
        long = side == "LONG"
        holding: list[str] = []
        cannot_say: list[str] = []
        for venue_name in venue_names:
            adapter = self._venues[venue_name]
            named = getattr(adapter, "position_asset", None)
            try:
                held_as = str(named(asset)) if callable(named) else asset
                if venue_name not in asked:
                    asked[venue_name] = _positions(adapter)
                held = asked[venue_name]
                if isinstance(held, Exception):
                    raise held
                size = float(held.get(held_as, 0.0))
            except Exception as exc:
                cannot_say.append(f"{venue_name!r} ({type(exc).__name__}: {exc})")
                continue
            if (size > 0.0) if long else (size < 0.0):
                holding.append(venue_name)
        return holding, cannot_say


def _positions(adapter: VenueAdapter) -> Mapping[str, float] | Exception:
    try:
        return adapter.positions()
    except Exception as exc:
        return exc
