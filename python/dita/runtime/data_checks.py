"""The checks a data point passes before the runtime takes it: what the venues or the kernel
would refuse (no asset name, numbers that are not real, not finite or out of the kernel's
bounds, an inconsistent bar, a crossed quote, a time earlier than the clock's) is refused first,
with an error naming the field and value, before anything changes."""

from __future__ import annotations

import sys
from collections.abc import Container, Sequence
from typing import Any

from dita._numbers import LAST_DATETIME_SECOND, PAST_LAST_DATETIME, is_finite, is_real
from dita._text import shortened
from dita.risk import KERNEL_MAX, KERNEL_MIN_PRICE
from dita.strategy import Bar, Quote

# The longest text the kernel takes as an id or asset name, in UTF-8 bytes.
KERNEL_MAX_TEXT_BYTES = 1 << 20
# Rows compared at a time by ``rows_passing_checks``: its temporary arrays stay small.
_CHECK_BLOCK = 1 << 16


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def numbers_fit_floats(item: Bar | Quote) -> bool:
    """Whether every number of ``item`` (each field but the asset) is a real number as
    ``is_real`` says, finite as a float. A Decimal, or an int too large for a float, compares
    with floats, so it passes the range checks, and the venues, the kernel's marks and the
    clock's arithmetic would raise on it after the runtime had moved its clock on."""
    return all(is_real(value) and is_finite(value) for value in item[1:])


def asset_flaw(asset: str) -> str:
    """Why the kernel would refuse ``asset``, a non-empty str, as an asset name to mark ('' when
    it would not). Taken, such a data point would become the asset's mark, and every later order
    of every strategy, and ``finish()``, raise on marking it. Python's whitespace is a little
    wider than the kernel's (``\\x1c``): what it refuses besides is no asset name either."""
    if not asset.strip():
        return "only whitespace"
    if "\0" in asset:
        return "it holds a NUL"
    try:
        size = len(asset.encode("utf-8"))
    except UnicodeEncodeError:
        return "not UTF-8: it holds a lone surrogate"
    if size > KERNEL_MAX_TEXT_BYTES:
        return f"{size} bytes long, at most {KERNEL_MAX_TEXT_BYTES}"
    return ""


def bar_problem(bar: Bar, now: float) -> str:
    """What is wrong with ``bar``, which failed the quick check of ``on_bar``."""
    where = f"bar for {shortened(repr(bar.asset))} at ts {shortened(repr(bar.ts))}"
    problem = _time_or_price_problem(where, bar, now, ("open", "high", "low", "close"), ("volume",))
    if problem:
        return problem
    if not (is_finite(bar.volume) and bar.volume >= 0):
        return f"{where}: volume {shortened(repr(bar.volume))} is not a finite number >= 0"
    return (
        f"{where} is inconsistent: high {bar.high!r} and low {bar.low!r} must bound "
        f"open {bar.open!r} and close {bar.close!r}"
    )


def quote_problem(quote: Quote, now: float) -> str:
    """What is wrong with ``quote``, which failed the quick check of ``on_quote``."""
    where = f"quote for {shortened(repr(quote.asset))} at ts {shortened(repr(quote.ts))}"
    problem = _time_or_price_problem(where, quote, now, ("bid", "ask"), ("bid_size", "ask_size"))
    if problem:
        return problem
    for name in ("bid_size", "ask_size"):
        value = getattr(quote, name)
        if not (is_finite(value) and value >= 0):
            return f"{where}: {name} {shortened(repr(value))} is not a finite size >= 0"
    return f"{where}: ask {quote.ask!r} is below bid {quote.bid!r} (a crossed quote)"


def not_a(what: str, item: object, *kinds: type[Bar] | type[Quote]) -> str:
    """The error for a feed item that is not a bar or quote, naming what came and what is taken."""
    shown = shortened(repr(item), 120)
    taken = " or ".join(f"dita.strategy.{k.__name__}({', '.join(k._fields)})" for k in kinds)
    return f"{what} takes a {taken}, got {type(item).__name__}: {shown}"


def _time_or_price_problem(
    where: str, item: Bar | Quote, now: float, prices: tuple[str, ...], sizes: tuple[str, ...]
) -> str | None:
    """What is wrong with a data point's asset, its numbers' types, its time or its prices, if
    anything (shared by bars and quotes)."""
    if not (isinstance(item.asset, str) and item.asset):
        return f"{where}: asset {item.asset!r} is not an asset name (a non-empty string)"
    flaw = asset_flaw(item.asset)
    if flaw:
        return f"{where}: asset {shortened(repr(item.asset))} is not an asset name ({flaw})"
    for name in ("ts", *prices, *sizes):
        value = getattr(item, name)
        if not is_real(value):
            return f"{where}: {name} {value!r} is not a number"
    if not (is_finite(item.ts) and item.ts >= 0):
        return f"{where}: ts must be a finite time >= 0"
    if item.ts > LAST_DATETIME_SECOND:
        # Every intent the strategies decide on it, dated by it, the kernel would refuse.
        return f"{where}: ts {item.ts!r} {PAST_LAST_DATETIME}"
    if item.ts < now:
        return f"{where}: ts is earlier than the last data point's ({now!r}); data must be in time order"
    for name in prices:
        value = getattr(item, name)
        if not (is_finite(value) and value > 0):
            return f"{where}: {name} {shortened(repr(value))} is not a finite price above 0"
        if value < KERNEL_MIN_PRICE:
            # A subnormal price, which the kernel refuses as a mark.
            return f"{where}: {name} {value!r} is below the kernel's least price of {KERNEL_MIN_PRICE!r}"
        if value > KERNEL_MAX:
            # The venues would fill at it, and the kernel refuse the fill: the two apart.
            return f"{where}: {name} {value!r} is above the kernel's bound of {KERNEL_MAX:g}"
    return None


def rows_passing_checks(kind: str, ts: Any, asset: Any, columns: Sequence[Any], named: Container[str]) -> int:
    """How many leading rows of ``run_columns``'s columns pass the checks of ``on_bar`` (``kind``
    "bars") or ``on_quote``, all but the time against the clock's (which moves as the rows are
    taken), found on whole columns at once: a replay's rows then skip them one by one. Only
    float64 arrays and a list or str array of asset names are read so (their rows are floats and
    str); other columns give 0, every row checked as it comes. ``named``: the asset names the
    runtime took data of (they passed)."""
    # Not imported (the runtime does not import it), no column can be an array.
    np = sys.modules.get("numpy")
    if np is None or not all(
        type(c) is np.ndarray and c.dtype == np.float64 and c.ndim == 1 for c in (ts, *columns)
    ):
        return 0
    if type(asset) is list:
        if set(map(type, asset)) - {str}:
            return 0
        names = set(asset)
    elif type(asset) is np.ndarray and asset.dtype.kind == "U" and asset.ndim == 1:
        names = set(np.unique(asset).tolist())
    else:
        return 0
    if not all(name and (name in named or not asset_flaw(name)) for name in names):
        return 0
    n = len(ts)
    for lo in range(0, n, _CHECK_BLOCK):
        part = slice(lo, lo + _CHECK_BLOCK)
        t = ts[part]
        # As the rows' chained comparisons: a NaN fails each.
        if kind == "bars":
            open_, high, low, close, volume = (c[part] for c in columns)
            ok = (t <= LAST_DATETIME_SECOND) & (KERNEL_MIN_PRICE <= low) & (low <= open_) & (open_ <= high)
            ok &= (high <= KERNEL_MAX) & (low <= close) & (close <= high) & (0 <= volume) & (volume < np.inf)
        else:
            bid, ask, bid_size, ask_size = (c[part] for c in columns)
            ok = (t <= LAST_DATETIME_SECOND) & (KERNEL_MIN_PRICE <= bid) & (bid <= ask) & (ask <= KERNEL_MAX)
            ok &= (0 <= bid_size) & (bid_size < np.inf) & (0 <= ask_size) & (ask_size < np.inf)
        if not ok.all():
            return lo + int(np.argmin(ok))
    return n
