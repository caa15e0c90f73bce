"""The bars' grid: each asset's bars a steady step apart, and the assets of one file on one clock.

A bar reaches the strategy at its open time carrying its close, so a bar that opens while
another is still open lets a decision on that close fill before the close existed: profits no
live run could have. The loader (``data``) takes, for each asset, its bars' length
(``bar_length``: the shortest step its bars take often, or twice where they are sparse), refuses
a gap of more than one and a half lengths (``refuse_gaps``), a bar opening inside the one before
(``refuse_bar_inside_bar``), and across assets a bar opening inside another asset's
(``check_one_clock``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dita.backtest.data_error import DataError
from dita.backtest.times import FloatArray, iso

__all__ = ["bar_length", "check_one_clock", "refuse_bar_inside_bar", "refuse_gaps"]


def refuse_gaps(
    name: str,
    ts: FloatArray,
    rows: np.ndarray,
    steps: np.ndarray,
    length: float,
    src: str,
    *,
    allow_gaps: bool,
) -> None:
    """Refuses a step between an asset's bars (``rows`` of ``ts``, ``steps`` apart) of more than one
    and a half times their ``length`` (``bar_length``) unless ``allow_gaps``: sparse minute bars
    an hour apart are minute bars with gaps, not hourly bars."""
    gap = np.flatnonzero(steps > length * 1.5)
    if gap.size and not allow_gaps:
        j = int(gap[0])
        i = int(rows[j + 1])
        raise DataError(
            f"gap in {name} bars: {iso(ts[i])} follows {iso(ts[rows[j]])}, "
            f"{steps[j]:g} s apart where bars are {length:g} s (pass allow_gaps / --allow-gaps to accept)",
            path=src,
            row=i + 1,
        )


def refuse_bar_inside_bar(
    name: str, ts: FloatArray, rows: np.ndarray, steps: np.ndarray, length: float, src: str
) -> None:
    """Refuses a bar of an asset opening less than half its bars' ``length`` (``bar_length``)
    after the one before, or exactly half where its bars open on the length's grid (two feeds
    merged, a bar stamped off the grid): the earlier bar reaches the strategy carrying its
    close, and an order decided on it would fill at the later bar's open, before that close
    existed. ``--allow-gaps`` does not accept it: it is no missing bar. Bars none of whose steps
    repeats are not judged: their length is unknown, and one stray bar's step is taken once."""
    if np.unique(steps).size == steps.size:
        return
    # Calendar months (28 to 31 days) step more than half a bar. A bar at exactly half a bar is
    # a stray where the bars open on the length's grid; where they do not, the length is a guess
    # (sparse minute bars read as two minutes long), and half of it one of their own steps.
    # On the grid: nine bars in ten open at one offset in the length (from any one bar: a stray
    # first bar would otherwise put all the others off it).
    own = ts[rows]
    off = np.round(np.remainder(own - own[0], length), 6) % length
    on_grid = np.unique(off, return_counts=True)[1].max() >= 0.9 * own.size
    short = np.flatnonzero((steps < length / 2) | ((steps == length / 2) & on_grid))
    if short.size:
        j = int(short[0])
        before, after = int(rows[j]), int(rows[j + 1])
        raise DataError(
            f"{name} bar at {iso(ts[after])} opens {steps[j]:g} s after the {name} bar of "
            f"{iso(ts[before])} (row {before + 1}), where its bars are {length:g} s long: it opens "
            "while that bar is open, and an order decided on that bar's close would fill on it "
            "before the close existed; keep one bar per time on the bars' grid (resample)",
            path=src,
            row=after + 1,
        )


def bar_length(steps: np.ndarray) -> float:
    """The length of an asset's bars from the steps between them: the shortest step they take
    more than once and in at least 1 % of the steps, not a single one (one stray bar an hour
    after a daily one would make every bar an hour long) nor the most common (sparse minute bars
    would read as longer). Bars too sparse for any (an illiquid asset's minute bars, one every
    few hours) take the shortest step taken twice, and bars none of whose steps repeats the
    shortest step."""
    values, counts = np.unique(steps, return_counts=True)
    often, twice = values[_often(counts, steps.size)], values[counts >= 2]
    return float(often[0] if often.size else twice[0] if twice.size else values[0])


def _often(counts: np.ndarray, steps: int) -> np.ndarray:
    """Which of the steps counted ``counts`` times, of ``steps`` in all, are taken often: more
    than once and in at least 1 % of the steps."""
    return counts >= max(2, 0.01 * steps)


def check_one_clock(
    ts: np.ndarray, assets: Any, per_asset: list[tuple[str, np.ndarray, float]], src: str
) -> None:
    """Refuses bars of one asset opening while a bar of another is still open. A bar reaches
    the strategy at its open time carrying its close: a decision on an hourly bar's close
    would fill on another asset's minute bars inside that hour, before that close existed, and
    so would one on a bar opening half a step later. That look-ahead makes profits no live run
    could have. A bar is taken to last until its asset's next bar, or its length when that comes
    later (a gap): ``bar_length``, so calendar months and bars with gaps on one clock load. An
    asset of one bar is not judged (its length is unknown).
    ``per_asset``: the name, rows and bar length (``bar_length``) of each asset of two bars or
    more, as the caller's checks found them."""
    names = np.asarray(assets)
    opens = np.unique(ts)  # every time some bar opens, sorted
    for name, rows, length in per_asset:
        own = ts[rows]
        until = np.minimum(np.append(own[1:], np.inf), own + length)
        # The first time any bar opens after each of this asset's bars opened.
        nxt = np.searchsorted(opens, own, side="right")
        later = np.where(nxt < opens.size, opens[np.minimum(nxt, opens.size - 1)], np.inf)
        inside = np.flatnonzero(later < until - 1e-6)
        if inside.size:
            k = int(inside[0])
            at = float(later[k])
            i = int(np.flatnonzero(ts == at)[0])
            raise DataError(
                f"{names[i]} bar at {iso(at)} opens while the {name} bar of {iso(float(own[k]))} "
                f"is open (until {iso(float(until[k]))}): a decision on that {name} bar's close "
                "would fill on it before the close existed; assets of one file must share one "
                "bar length and open their bars at the same times (resample, or run each length "
                "in its own backtest)",
                path=src,
                row=i + 1,
            )
