"""PaperVenue: fills from quotes or bars, deterministic, so paper results are not rosier
than live.

The rules, chosen to err against the strategy:

- The venue clock is the timestamp of the last quote or bar; an order is live from
  ``submit time + latency`` and only data stamped at or after that can fill it (bars:
  stamped after the submit time too, since a bar's stamp is its open). An order (or a
  cancel) sent on a bar is decided at that bar's close, the next bar's open: with a latency,
  it is live (or takes effect) from that close + latency, so on bars of a minute a latency
  of 30 s lets the next bar open without it and it fills at the open after.
- Market orders take the book: buys at the ask, sells at the bid, moved ``slippage_bps``
  against the order, for at most the quoted size. What the quote cannot fill waits for the
  next quotes (``market_remainder="continue"``) or expires (``"expire"``, IOC-like).
  Against bars, a market order fills at the next bar's open (never the bar it was sent
  after: no look-ahead), for at most ``bar_volume_share`` of the bar's volume.
- Limit orders that are marketable on arrival fill as takers at the quote (no better than
  their limit); what the quoted size or the bar's volume leaves of one stays marketable, a
  taker at the next quotes or opens, until the market moves past its limit. Resting limit
  orders fill at their limit price as makers only when the market crosses them: ask <= buy
  limit or bid >= sell limit for quotes, low strictly below a buy limit or high strictly
  above a sell limit for bars (a touch proves nothing about queue position).
- Quoted size and bar volume are shared by the orders they fill, oldest order first.
- A reduce-only order never opens, grows or reverses a position: a fill takes at most the
  position on its other side, and when none is left (flat, or held on the order's side) the
  order, or what remains of it, expires (``_reduce_only_end``), as exchanges expire it.
- Fees: ``taker_rate`` or ``maker_rate`` of the fill's notional, reported on each fill (a
  negative ``maker_rate``, down to ``-taker_rate``, is a rebate: a negative fee).
- With ``market_limits`` set, orders the exchange would refuse (lot step, tick size,
  minimum size or notional) are rejected as the exchange would, and a part fill is whole
  lots of the lot step, as an exchange fills.
- With ``assets`` set (the assets the run has data for), an order for another asset is
  rejected naming it, as an exchange refuses a symbol it does not list: no data would ever
  fill it, and it would hold its kernel slot for the whole run.
- With ``leverage`` set, an order that opens or grows a position is rejected when the
  margin it needs is above the account's available margin, as an exchange refuses an order
  its balance cannot carry (``_margin_refusal``); without it, cash may go negative, as if the
  account had unlimited credit.

The backtester drives it with ``on_quote``/``on_bar`` and feeds the returned events to the
kernel; ``submit`` and ``cancel`` return their own events synchronously.

``PaperVenue`` is one class whose methods are grouped by behaviour, one module of this package
each, over the state ``_OrderBook`` holds (``order_book``: working orders, positions, cash, the
clock, and the reads of them): its settings (``settings``), ``submit`` and ``cancel``
(``order_entry``), quotes and bars taken (``market_data``), the matching of orders against them
(``matching``: prices, slippage, sizes, fees), the margin check (``margin``), the book saved
and restored across a restart (``saved_book``) and brought forward to the kernel's log after a
kill (``catch_up``).
"""

from __future__ import annotations

from dita.venues.paper.catch_up import _CatchUp
from dita.venues.paper.saved_book import _SavedBook

__all__ = ["PaperVenue"]


# ``_CatchUp`` builds on ``_OrderEntry``: an order whose answer the killed run's log lost is
# taken as ``submit`` takes one.
class PaperVenue(_SavedBook, _CatchUp):
    """``PaperVenue(taker_rate=0.0005, maker_rate=0.0002, slippage_bps=1.0, latency_ms=0,
    bar_volume_share=0.1, market_remainder="continue", quote_currency="USDT",
    starting_balance=0.0, leverage=None, name="paper", market_limits=None, assets=None,
    clock=None)``.

    Settings are validated by ``PaperSettings`` and ``VenueInputs`` (an invalid one raises
    ``pydantic.ValidationError`` naming the field and the value). Feed market data with
    ``on_quote``/``on_bar``; each returns the events it produced for working orders, oldest
    order first. ``assets``: the assets the venue lists (those its feed has); an order for
    another is rejected. None takes every asset. ``clock``: the venue time instead of the
    data's (a live run's wall clock). ``leverage``: the account's leverage, an order
    opening more than the available margin carries is rejected (``margin()``); None, no check.
    """
