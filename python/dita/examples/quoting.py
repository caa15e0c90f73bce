"""Two-sided quoting: a bid and an ask around the mid while the measured edge pays for it,
with inventory kept inside a band. The loop of the original shadow market-making demo, as a
strategy.

The edge is net of the maker fee the run charges (the kernel's ``maker_rate``; a rebate, a
negative rate, adds to it) unless ``maker_fee_bps`` says otherwise. A backtest charges 10 bps
on every fill by default, more than any spread of the synthetic quotes (2 to 6 bps): it quotes
nothing then, as it should.
Give the run a maker fee such a spread can pay (``dita backtest --maker-fee-rate 0.00002``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dita.strategy import Quote, Strategy

__all__ = ["QuoterParams", "TwoSidedQuoter"]

ENTRY_STAGES = frozenset({"ORDER_SENT", "ENTRY_WORKING"})
EXIT_STAGES = frozenset({"EXIT_SENT", "EXIT_WORKING"})
WORKING_STAGES = ENTRY_STAGES | EXIT_STAGES


class QuoterParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    quote_usd: float = Field(
        default=1_000.0, gt=0, description="notional of each quote, quote currency, at most max_inventory_usd"
    )
    max_inventory_usd: float = Field(
        default=10_000.0, gt=0, description="stop quoting the side that would grow inventory past this"
    )
    edge_threshold_bps: float | None = Field(
        default=1.5,
        description="quote only while the edge is at least this (None: leave it to the kernel freeze)",
    )
    maker_fee_bps: float | None = Field(
        default=None,
        gt=-1_000,
        description="fee paid on a passive fill, bps, negative for a rebate (None: the run's, the "
        "kernel's maker_rate)",
    )
    reduce_at_usd: float = Field(
        default=5_000.0, gt=0, description="inventory at which the oldest position is exited at market"
    )

    @model_validator(mode="after")
    def _a_quote_fits_the_inventory_cap(self) -> QuoterParams:
        # From flat, either side's first quote would grow inventory past the cap: the quoter
        # would run, report its edges and never quote.
        if self.quote_usd > self.max_inventory_usd:
            raise ValueError(
                f"quote_usd={self.quote_usd!r} exceeds max_inventory_usd={self.max_inventory_usd!r}: "
                "no quote would ever be placed; lower quote_usd or raise max_inventory_usd"
            )
        return self


class TwoSidedQuoter(Strategy[QuoterParams]):
    """Quotes bid and ask at the touch while half the spread, net of the maker fee, beats the
    edge threshold; reports every edge measurement to the kernel's risk guard (which freezes
    trading and cancels working orders when the edge collapses)."""

    Params = QuoterParams
    data = ("quotes",)

    def on_start(self) -> None:
        # Read once: the fee the fills pay. A fixed 0.2 bps quoted spreads a 10 bps fee ate.
        fee_bps = self.params.maker_fee_bps
        if fee_bps is None:
            fee_bps = float(self.ctx.kernel.exchange_config()["maker_rate"]) * 10_000.0
        self.maker_fee_bps = fee_bps
        self.edges: dict[str, float] = {}
        self.quotes_sent = 0
        self.inventory_usd: dict[str, float] = {}

    def edge_bps(self, quote: Quote) -> float:
        """What a passive fill at the touch earns against the mid, net of the maker fee."""
        return quote.spread_bps / 2.0 - self.maker_fee_bps

    def on_quote(self, quote: Quote) -> None:
        p = self.params
        asset = quote.asset
        edge = self.edge_bps(quote)
        self.edges[asset] = edge
        self.report_edge(asset, edge)
        # Last round's quotes and unfilled exits are stale now: pull them before acting again.
        for slot in self.slots():
            if slot.asset == asset and slot.fsm_state.name in WORKING_STAGES:
                self.cancel(slot.slot_id, reason="requote")
        self._unwind(asset, quote)
        inventory = self.position(asset) * quote.mid
        self.inventory_usd[asset] = inventory
        if p.edge_threshold_bps is not None and edge < p.edge_threshold_bps:
            return
        size = p.quote_usd / quote.mid
        # A canceled quote works (and may fill) until the venue takes the cancel, a latency
        # later: the cap counts every order still working as filled, the exits too (a short's
        # buys inventory back: uncounted, the bids it lets through would take inventory past the cap).
        bids, asks = self._working_orders(asset)
        if inventory + (bids + size) * quote.mid <= p.max_inventory_usd:
            self.buy(asset, size, price=quote.mid, limit=quote.bid, reason="quote bid")
            self.quotes_sent += 1
        if inventory - (asks + size) * quote.mid >= -p.max_inventory_usd:
            self.sell(asset, size, price=quote.mid, limit=quote.ask, reason="quote ask")
            self.quotes_sent += 1

    def _working_orders(self, asset: str) -> tuple[float, float]:
        """Unfilled size of the buys and of the sells still working in ``asset``: the quotes,
        and the exits (a long's sells, a short's buys)."""
        buys = sells = 0.0
        for slot in self.slots():
            if slot.asset != asset:
                continue
            stage, long = slot.fsm_state.name, slot.side.name == "LONG"
            if stage in ENTRY_STAGES:
                order, buy = slot.active_entry_order, long
            elif stage in EXIT_STAGES:
                order, buy = slot.active_exit_order, not long
            else:
                continue
            if order is None:
                continue
            rest = max(order.size - order.filled_size, 0.0)
            if buy:
                buys += rest
            else:
                sells += rest
        return buys, sells

    def _unwind(self, asset: str, quote: Quote) -> None:
        """Pair off one long against one short (each slot holds one fill, so a filled bid and a
        filled ask are two slots), and cut the heavy side once inventory reaches the limit."""
        open_slots = [s for s in self.slots() if s.asset == asset and s.fsm_state.name == "POSITION_OPEN"]
        longs = [s for s in open_slots if s.side.name == "LONG"]
        shorts = [s for s in open_slots if s.side.name == "SHORT"]
        if longs and shorts:
            self.exit(longs[0].slot_id, price=quote.bid, reason="pair off")
            self.exit(shorts[0].slot_id, price=quote.ask, reason="pair off")
            longs, shorts = longs[1:], shorts[1:]
        inventory = sum(s.size for s in longs) - sum(s.size for s in shorts)
        if abs(inventory * quote.mid) >= self.params.reduce_at_usd:
            heavy = longs if inventory > 0 else shorts
            if heavy:
                price = quote.bid if inventory > 0 else quote.ask
                self.exit(heavy[0].slot_id, price=price, reason="reduce inventory")
