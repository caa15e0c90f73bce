"""The shadow run: the two-sided quoter on a seeded synthetic feed, through the real kernel
and its risk guard, against the seeded mock venue. Nothing leaves the process.

The report is the original shadow demo's JSON (sorted keys) and is a pure function of the
settings: with ``DITA_FREEZE_UTC`` set it is byte-identical from run to run, which makes it
usable as a regression fixture for the kernel's risk behaviour.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dita._kernel import KernelIntent, KernelOutcome, MockVenueAdapter, VenueEvent
from dita._numbers import Count, Number
from dita.data import iter_quotes
from dita.examples.quoting import TwoSidedQuoter
from dita.kernel import ExecutionKernel
from dita.risk import KERNEL_MAX, KERNEL_MIN_SIZE, RiskLimits
from dita.runtime import KernelRefusals, TradingRuntime
from dita.strategy import Quote
from dita.venues.paper import MAX_LATENCY_MS

__all__ = ["FILLS_KEPT", "FREEZE_ENV", "FREEZE_EVENTS_KEPT", "ShadowSettings", "run_shadow"]

FREEZE_ENV = "DITA_FREEZE_UTC"
SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{1,31}$")
# Pre-trade refusals that come from the risk guard's notional limits (the demo's "risk blocks").
NOTIONAL_RULES = frozenset({"max_notional_per_asset", "max_notional_total", "max_leverage"})
# The guard's rule refusing entries while the edge is frozen: what a shadow run tests, counted
# apart from the kernel's other refusals (``KernelRefusals``), which `dita shadow` warns of.
EDGE_FREEZE = "edge_freeze"
# How many freezes the report lists one by one, the most recent (``freezes_total`` counts them
# all): the quoter freezes about every third round, so a full list grows without bound.
FREEZE_EVENTS_KEPT = 1_000
# How many of its latest fills the run's quoter keeps in ``fills`` (the runtime's ``fills_kept``;
# the report counts them without it): a replay keeps every fill, some two and a half a round
# per symbol.
FILLS_KEPT = 1_000
# The kernel slots the run gives each symbol, and the most symbols a run takes for them: a kernel
# holds at most 1,000,000 slots, and past that `dita shadow` would end in the kernel's traceback.
SLOTS_PER_SYMBOL = 64
MAX_SYMBOLS = 1_000_000 // SLOTS_PER_SYMBOL
# Every how many rounds the first read of the feed (for its lowest prices) says how far it is.
CHECK_STEP = 1_000


class ShadowSettings(BaseModel):
    """Settings of a shadow run; every bad value is refused naming the field and the value."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    symbols: list[str] = Field(min_length=1, description="symbols to quote, e.g. BTCUSDT,ETHUSDT")
    iterations: Count = Field(
        default=50, ge=1, le=1_000_000, description="quote rounds (one quote per symbol each)"
    )
    max_inv: Number = Field(
        default=10_000.0, gt=0, le=KERNEL_MAX, description="largest open+working notional per symbol, USD"
    )
    max_total: Number = Field(
        default=50_000.0, gt=0, le=KERNEL_MAX, description="largest open+working notional overall, USD"
    )
    edge_threshold: Number = Field(
        default=1.5,
        ge=-KERNEL_MAX,
        le=KERNEL_MAX,
        description="edge (bps) below which the kernel freezes",
    )
    fill_rate: Number = Field(default=0.7, ge=0, le=1, description="chance an order fills at once")
    reject_rate: Number = Field(default=0.05, ge=0, le=1, description="chance the venue rejects an order")
    latency_ms: Number = Field(
        default=100.0, ge=0, le=MAX_LATENCY_MS, description="venue latency stamped on events"
    )
    seed: Count = Field(default=42, ge=0, le=2**63 - 1, description="seed of the feed and the mock venue")
    quote_usd: Number = Field(default=1_000.0, gt=0, le=KERNEL_MAX, description="notional of each quote, USD")

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_SYMBOLS:
            raise ValueError(too_many_symbols(len(value)))
        out = [s.strip().upper() for s in value]
        for s in out:
            if not SYMBOL.match(s):
                raise ValueError(f"symbol {s!r} is not a ticker like BTCUSDT")
        dupes = sorted(s for s, n in Counter(out).items() if n > 1)  # out.count per name takes 5 s on 15,000
        if dupes:
            raise ValueError(f"symbol(s) {', '.join(dupes)} given more than once")
        return out

    @model_validator(mode="after")
    def _limits(self) -> ShadowSettings:
        if self.max_inv > self.max_total:
            raise ValueError(f"max_inv={self.max_inv} exceeds max_total={self.max_total}")
        if self.fill_rate + self.reject_rate > 1:
            raise ValueError(f"fill_rate={self.fill_rate} + reject_rate={self.reject_rate} exceeds 1")
        return self


def too_many_symbols(count: int) -> str:
    """Why a run of ``count`` symbols is refused (more than MAX_SYMBOLS)."""
    return (
        f"{count:,} symbols, more than the {MAX_SYMBOLS:,} a shadow run takes ({SLOTS_PER_SYMBOL} kernel "
        "slots each, and a kernel holds at most 1,000,000)"
    )


class _Tally:
    """Counts what happened, from the intents and venue events the runtime saw."""

    def __init__(self, runtime: TradingRuntime, symbols: list[str]) -> None:
        self.runtime = runtime
        self.placed = self.filled = self.rejected = self.canceled = 0
        self.risk_blocks = self.blocks_total = 0
        # Every intent the quoter sent (``intents``) and the kernel's refusals of them, as a
        # backtest counts them, the edge freezes counted apart (``edge_frozen``).
        self.refusals = KernelRefusals()
        self.edge_frozen = 0
        self.iteration = 0
        self.freeze_log: deque[dict[str, Any]] = deque(maxlen=FREEZE_EVENTS_KEPT)
        self.last_freeze_reason = ""
        self.last_freeze_symbol = ""
        self.symbols = symbols

    def on_intent(self, intent: KernelIntent, outcome: KernelOutcome) -> None:
        if _edge_frozen(outcome):
            self.refusals.intents += 1
            self.edge_frozen += 1
        else:
            self.refusals.on_intent(intent, outcome)
        if intent.action.name not in ("ENTER", "EXIT"):
            return
        if outcome.accepted:
            self.placed += 1
            return
        # Every order the kernel refused, the guard's or not, so a quote refused for want of a
        # free slot (INVALID_SLOT_ID, every slot holding an open trade) is counted too.
        self.blocks_total += 1
        if str(outcome.details.get("rule", "")) in NOTIONAL_RULES:
            self.risk_blocks += 1

    def on_event(self, event: VenueEvent) -> None:
        kind = event.kind.name
        status = event.status.name if event.status is not None else ""
        if kind == "FILL" and status == "FILLED":
            self.filled += 1
        elif kind == "REJECT":
            self.rejected += 1
        elif kind == "CANCEL_ACK":
            self.canceled += 1

    def on_edge(self, asset: str, edge_bps: float, outcome: KernelOutcome) -> None:
        if outcome.details.get("frozen") is True:
            control = self.runtime.kernel.control()
            self.last_freeze_reason = str(control.get("freeze_reason", ""))
            self.last_freeze_symbol = asset
            self.freeze_log.append(
                {
                    "iteration": self.iteration,
                    "symbol": asset,
                    "edge_bps": round(edge_bps, 4),
                    "reason": self.last_freeze_reason,
                }
            )


def _edge_frozen(outcome: KernelOutcome) -> bool:
    """Whether ``outcome`` is the guard's refusal of an entry while the edge is frozen."""
    return (
        not outcome.accepted
        and outcome.diagnostic_code.name == "RISK_REJECTED"
        and outcome.details.get("rule") == EDGE_FREEZE
    )


class _ShadowQuoter(TwoSidedQuoter):
    """The example quoter, with each edge report recorded for the freeze log."""

    tally: _Tally

    def report_edge(self, asset: str, edge_bps: float) -> KernelOutcome:
        outcome = super().report_edge(asset, edge_bps)
        self.tally.on_edge(asset, edge_bps, outcome)
        return outcome


_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def frozen_or_now_utc() -> str:
    """``DITA_FREEZE_UTC`` when set (reproducible reports), else the current UTC time. A value
    that is no UTC time in that form is a ValueError naming the variable and the value."""
    frozen = os.environ.get(FREEZE_ENV)
    if frozen:
        try:
            datetime.strptime(frozen, _UTC_FORMAT)
        except ValueError:
            raise ValueError(
                f"{FREEZE_ENV}={frozen!r} is no UTC time: give one as 2026-01-01T00:00:00Z"
            ) from None
        return frozen
    return datetime.now(tz=UTC).strftime(_UTC_FORMAT)


def _unquotable(
    quote_usd: float,
    feed: Iterable[tuple[float, str, float, float, float, float]],
    symbols: int,
    checked: Callable[[int], None] | None = None,
) -> str | None:
    """Why ``quote_usd`` can place no order on some symbol of ``feed`` (None: it can): a quote
    is ``quote_usd / mid``, and the kernel refuses every size at or below KERNEL_MIN_SIZE, so
    the report would read 0 orders placed with no reason. ``checked`` is called with the rounds (of
    ``symbols`` quotes) read so far, every ``CHECK_STEP`` rounds: a million rounds take
    seconds to read before the first one runs."""
    lowest: dict[str, float] = {}
    step = CHECK_STEP * symbols
    for n, (_, sym, bid, ask, _, _) in enumerate(feed, 1):
        if checked is not None and n % step == 0:
            checked(n // symbols)
        mid = (bid + ask) / 2.0
        if mid < lowest.get(sym, math.inf):
            lowest[sym] = mid
    for sym, mid in lowest.items():
        if quote_usd / mid <= KERNEL_MIN_SIZE:
            return (
                f"quote_usd={quote_usd!r} is too small to quote {sym}: at its lowest mid in the feed "
                f"({mid:.6g}) a quote is {quote_usd / mid:.3g}, at or below the smallest size the "
                f"kernel trades ({KERNEL_MIN_SIZE:g}), so no order could be placed; it must be above "
                f"{KERNEL_MIN_SIZE * mid!r}"
            )
    return None


def run_shadow(
    settings: ShadowSettings,
    *,
    progress: Callable[[int], None] | None = None,
    checking: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run the shadow loop and return the report (a dict of plain JSON values). ``progress``
    is called with the number of quote rounds done after each round. A ``quote_usd`` too
    small for any order on a symbol raises ValueError naming it, before anything runs: the
    feed is read once for that first, ``checking`` called with the rounds read so far. A bad
    ``DITA_FREEZE_UTC`` raises ValueError naming it, before anything runs too."""
    s = settings
    frozen_or_now_utc()
    # Read twice, each time made afresh from the seed (the same quotes): held as a list, the
    # feed of a long run would take gigabytes before its first round.
    feed = iter_quotes(n=s.iterations, symbols=s.symbols, seed=s.seed)
    problem = _unquotable(s.quote_usd, feed, len(s.symbols), checking)
    if problem is not None:
        raise ValueError(problem)
    venue = MockVenueAdapter(
        seed=s.seed,
        fill_rate=s.fill_rate,
        reject_rate=s.reject_rate,
        latency_ms=s.latency_ms,
        name="shadow-mock",
    )
    max_slots = SLOTS_PER_SYMBOL * len(s.symbols)
    kernel = ExecutionKernel(max_slots=max_slots, venue=venue, kernel_id="shadow")
    kernel.update_control(mode="SHADOW", source="shadow-run")
    kernel.set_seed_capital(s.max_total)
    kernel.set_risk_limits(
        RiskLimits(
            max_notional_per_asset=s.max_inv,
            max_notional_total=s.max_total,
            edge_freeze_threshold_bps=s.edge_threshold,
        ).model_dump()
    )
    runtime = TradingRuntime(kernel, [], fills_kept=FILLS_KEPT)
    tally = _Tally(runtime, s.symbols)
    runtime.intent_listeners.append(tally.on_intent)
    runtime.event_listeners.append(tally.on_event)
    quoter = _ShadowQuoter(
        {
            "quote_usd": s.quote_usd,
            # The kernel's guard is what limits inventory and freezes on low edge here; the
            # quoter keeps quoting so the guard's decisions show in the report. Its own band
            # is set past anything the guard lets through, and past one quote: at twice the
            # total cap alone, a cap under half a quote would stop it quoting at all, and the
            # report show no orders and no refusals.
            "max_inventory_usd": s.max_total * 2 + s.quote_usd,
            "edge_threshold_bps": None,
            "reduce_at_usd": s.max_inv * 0.8,
            # The edge as the original loop measured it, which --edge-threshold is set against
            # (the kernel's default maker_rate, 2 bps, would freeze it for good: no order placed).
            "maker_fee_bps": 0.2,
        },
        name="quoter",
    )
    quoter.tally = tally
    runtime.add_strategy(quoter)
    runtime.start()
    last_mid: dict[str, float] = {}
    per_round = len(s.symbols)
    feed = iter_quotes(n=s.iterations, symbols=s.symbols, seed=s.seed)
    for k, (ts, sym, bid, ask, bid_size, ask_size) in enumerate(feed):
        tally.iteration = k // per_round + 1
        runtime.on_quote(Quote(sym, ts, bid, ask, bid_size, ask_size))
        last_mid[sym] = (bid + ask) / 2.0
        if progress is not None and (k + 1) % per_round == 0:
            progress(tally.iteration)
    runtime.finish()
    status = runtime.status()[0]
    runtime.stop()

    by_symbol = {sym: 0.0 for sym in s.symbols}
    for slot in kernel.slots():
        if slot.get("fsm_state") in ("POSITION_OPEN", "EXIT_REQUESTED", "EXIT_SENT", "EXIT_WORKING"):
            sign = 1.0 if slot["side"] == "LONG" else -1.0
            asset = slot["asset"]
            by_symbol[asset] = by_symbol.get(asset, 0.0) + sign * float(slot["size"]) * last_mid.get(
                asset, 0.0
            )
    control = kernel.control()
    refusals = tally.refusals
    report: dict[str, Any] = {
        "execution": {"iterations": s.iterations, "symbols": list(s.symbols)},
        "orders": {
            "placed": tally.placed,
            "filled": tally.filled,
            "rejected": tally.rejected,
            "canceled": tally.canceled,
            "risk_blocks": tally.risk_blocks,
        },
        "positions": {
            "by_symbol": {k: round(v, 2) for k, v in sorted(by_symbol.items())},
            "net_pos_usd": round(sum(by_symbol.values()), 2),
            "total_notional_usd": round(sum(abs(v) for v in by_symbol.values()), 2),
        },
        "risk": {
            "blocks_total": tally.blocks_total,
            "edge_frozen": tally.edge_frozen,
            "freeze_events": list(tally.freeze_log),
            "freezes_total": int(control["freeze_events"]),
            "frozen": bool(control.get("frozen", False)),
            "last_freeze_reason": tally.last_freeze_reason,
            "last_freeze_symbol": tally.last_freeze_symbol,
            # As `dita backtest --json` has it: null when none.
            "refused": {
                "intents": refusals.intents,
                "refused": refusals.refused,
                "reasons": refusals.text(),
            }
            if refusals.refused
            else None,
        },
        "runtime": {"utc": frozen_or_now_utc()},
    }
    if status["status"] == "ERROR":
        report["runtime"]["error"] = status["error"]
    return report
