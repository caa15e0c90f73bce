"""The market data a strategy subscribes to (``Bar``, ``Quote``: ``DATA_KINDS``), and whether
a feed gives a strategy any of it (``feed_problem``, ``feed_gaps``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple


class Bar(NamedTuple):
    """One OHLCV bar; ``ts`` is the bar's open time in epoch seconds (UTC)."""

    asset: str
    ts: float
    open: float
    high: float
    low: float
    close: float
    volume: float


class Quote(NamedTuple):
    """Top of book for one asset at ``ts`` (epoch seconds)."""

    asset: str
    ts: float
    bid: float
    ask: float
    bid_size: float
    ask_size: float

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0

    @property
    def spread_bps(self) -> float:
        mid = (self.bid + self.ask) / 2.0
        return (self.ask - self.bid) / mid * 1e4 if mid > 0 else 0.0


DATA_KINDS = ("bars", "quotes")
"""What a strategy can subscribe to in ``Strategy.data``."""


def feed_problem(strategy: Any, kind: str, assets: Sequence[str], *, source: str = "--data") -> str | None:
    """Why ``strategy`` would see none of a feed (``source``: a file, a live ticker) of
    ``kind`` ("bars"/"quotes") rows for ``assets`` (None: it sees some). A replay it never
    hears of ends as a run without trades."""
    name = type(strategy).__qualname__
    holds = "holds" if source == "--data" else "gives"
    if kind not in strategy.data:
        return f"{name} takes {' and '.join(strategy.data)} but {source} {holds} {kind}"
    wanted = tuple(strategy.assets)
    if wanted and not set(wanted) & set(assets):
        return f"{name} trades {', '.join(wanted)} but {source} {holds} {', '.join(sorted(assets))}"
    return None


def feed_gaps(strategy: Any, assets: Sequence[str], *, source: str = "--data") -> str | None:
    """The declared ``assets`` of ``strategy`` a feed (``source``) lacks, said, when it has some
    of them (None when it has all, or none, which ``feed_problem`` refuses). Not refused: a
    strategy may declare more assets than one run trades. Said, since it hears nothing of those
    and the venue rejects its orders for them, which a run reads as a strategy not trading."""
    wanted = tuple(dict.fromkeys(strategy.assets))
    missing = [a for a in wanted if a not in set(assets)]
    if not missing or len(missing) == len(wanted):
        return None
    holds = "holds" if source == "--data" else "gives"
    them = "it" if len(missing) == 1 else "them"
    return (
        f"{type(strategy).__qualname__} trades {', '.join(wanted)}, but {source} {holds} no "
        f"{' or '.join(missing)} ({', '.join(sorted(assets))} only): it hears nothing of {them} "
        f"and the venue rejects its orders for {them}"
    )
