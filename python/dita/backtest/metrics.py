"""Backtest metrics from an equity curve and a list of closed trades.

Definitions (so the numbers can be checked by hand). The curve has one point a time
(``run_backtest`` keeps the last row of each: with several assets, a row marks one asset at
its new price and the others at their old); "bar" below is such a point.

- ``total_pnl`` = final equity - starting balance; ``total_pnl_pct`` = that / balance * 100.
- Drawdown at a bar = running peak of equity (the balance counts as the first peak) minus
  equity; ``max_drawdown`` is its largest value and ``max_drawdown_pct`` the largest
  drawdown / peak * 100. ``max_drawdown_days`` is the longest time under water, in days: from
  the last bar at the peak before equity fell below it (the first bar, when that one is already
  below the balance) to the first bar back at or above it, or to the last bar when none is. A
  drawdown of at most 1e-12 of its peak (``ROUNDING``, float rounding's: a position bought and
  sold at one price with no fee leaves equity 1.8e-12 under 10,000) counts as none.
- Period returns: equity at the last bar of each period (UTC days by default; each bar
  its own period, one a time, when ``period_s`` is above a day) over the previous period's
  (the balance for the first), up to the first period ending at or below
  zero (ruin): a return of a negative equity has its sign flipped, so none is taken after
  it. ``sharpe`` = mean / sample std (ddof=1) * sqrt(periods per year: the periods with
  data per year of the span from the first period to the last, or to the end of the last bar
  when that is later; 365 days over the period for data in every period, about 261 days for
  weekday-only data; for bars longer than a day the times a year the data has); ``sortino``
  = mean / downside deviation * sqrt(periods per year), downside deviation =
  sqrt(mean(min(r, 0)^2)) over all periods. Crypto trades every day, so a year is 365 days.
  Both are ``None`` for data covering less than two periods (the span, last time -
  first time + one bar, is shorter than two days; for bars longer than a day, fewer than two
  bars): the first and last days' returns are over the part of the day the data covers, and
  two half-day returns annualised as days measure nothing. Fewer than
  two returns, no dispersion (Sharpe) or no losing period (Sortino) gives ``None`` too, a
  deviation of at most 1e-12 (``ROUNDING``, float rounding's) counting as none.
- ``cagr`` = (final / balance) ** (1 / years) - 1 over the data's span (last time - first
  time + one bar); ``calmar`` = cagr / (max_drawdown_pct / 100). Both are ``None`` for a
  span shorter than a year (365 days), as the GIPS standards do not annualise a return of
  less than a year: 7 % in three days compounds to about 375,000 % a year, which says
  nothing (``total_pnl_pct`` is the run's return), and when the final equity is not above
  zero.
- ``notes``: why each of ``sharpe``, ``sortino``, ``cagr`` and ``calmar`` that is ``None`` is
  (metrics.json's ``notes``, the report's n/a); not in ``to_dict``, whose values are numbers.
- Trades (net of fees): ``win_rate`` = trades with net PnL > 0 / trades * 100;
  ``profit_factor`` = gross profit / |gross loss| (``None`` without a losing trade);
  ``expectancy`` = win share * average win + loss share * average loss (a loss is negative),
  the PnL a trade is expected to add; ``average_trade`` is the mean net PnL.
- ``exposure_pct`` = share of bars that ended with a position open * 100. ``bars`` is the
  data's rows (``run_backtest`` passes them), or the curve's points.
- ``total_fees`` = every fee paid in the run (``fees_paid``, the fills' fees, when given:
  a trade still open at the end paid its entry's; else the closed trades' fees), so that
  ``total_pnl`` is net of exactly it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt

__all__ = [
    "DAY",
    "Metrics",
    "TradeRecord",
    "compute_metrics",
    "drawdown_series",
    "last_of_each_time",
    "longest_drawdown",
    "period_returns",
]

DAY = 86_400.0
YEAR_DAYS = 365.0
# A deviation of returns at most this is float rounding's, not the equity's: equity growing by
# one factor a day has returns differing in their 17th digit, and their Sharpe would be 2e15.
# So is a drawdown of at most this share of its peak.
ROUNDING = 1e-12
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TradeRecord:
    """One closed round trip (a slot from ENTER to CLOSED)."""

    trade_id: str
    asset: str
    side: str
    entry_time: float
    exit_time: float
    entry_price: float
    exit_price: float
    size: float
    gross_pnl: float
    fees: float
    net_pnl: float

    @property
    def return_pct(self) -> float:
        notional = self.entry_price * self.size
        return self.net_pnl / notional * 100.0 if notional else 0.0


@dataclass(frozen=True)
class Metrics:
    starting_balance: float
    final_equity: float
    total_pnl: float
    total_pnl_pct: float
    trades: int
    wins: int
    losses: int
    win_rate: float | None
    gross_profit: float
    gross_loss: float
    profit_factor: float | None
    max_drawdown: float
    max_drawdown_pct: float
    max_drawdown_days: float
    sharpe: float | None
    sortino: float | None
    cagr: float | None
    calmar: float | None
    expectancy: float | None
    average_trade: float | None
    average_win: float | None
    average_loss: float | None
    largest_win: float | None
    largest_loss: float | None
    total_fees: float
    exposure_pct: float
    bars: int
    start: float
    end: float
    notes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, float | int | None]:
        """The metrics by name (not ``notes``), ``None`` for one that is not finite."""
        return {f.name: _clean(getattr(self, f.name)) for f in fields(self) if f.name != "notes"}


def _clean(v: float | int | None) -> float | int | None:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def drawdown_series(equity: FloatArray, balance: float) -> tuple[FloatArray, FloatArray]:
    """Absolute and fractional drawdown at each bar; the balance is the first peak. A drawdown
    of at most ``ROUNDING`` of its peak is float rounding's, and counts as none."""
    # In place (the running peak becomes the fraction): a float a row for each result.
    equity = np.asarray(equity, dtype=np.float64)
    frac = np.maximum.accumulate(equity)
    np.maximum(frac, balance, out=frac)
    dd = frac - equity
    above = frac > 0
    np.divide(dd, frac, out=frac, where=above)
    frac[~above] = 0.0
    # Cash and size x price summed leave equity a few ulps off the peak (1.8e-12 under 10,000
    # with a position bought and sold at one price): a drawdown and time under water of nothing.
    dust = frac <= ROUNDING
    dust &= above
    np.copyto(dd, 0.0, where=dust)
    np.copyto(frac, 0.0, where=dust)
    return dd, frac


def longest_drawdown(ts: FloatArray, dd: FloatArray) -> float:
    """The longest time under water, in seconds, from the drawdown at each bar (``dd``, of
    ``drawdown_series``): from the last bar at the peak before equity fell below it (the first
    bar, when that one is already below the balance) to the first bar back at or above it, or
    to the last bar when none is."""
    n = len(ts)
    if n == 0:
        return 0.0
    under = np.zeros(n + 2, dtype=np.int8)  # a byte a bar (concatenated with [0], 8)
    under[1:-1] = dd > 0
    edges = np.diff(under)
    starts = np.flatnonzero(edges == 1)  # the first bar of each spell under water
    ends = np.flatnonzero(edges == -1)  # the bar after its last: back at the peak, or n
    if not starts.size:
        return 0.0
    since = ts[np.maximum(starts - 1, 0)]
    until = ts[np.minimum(ends, n - 1)]
    return float((until - since).max())


def last_of_each_time(ts: FloatArray) -> npt.NDArray[np.int64]:
    """Index of the last row of each distinct time in ``ts`` (sorted): with several assets the
    rows of one time are marked one asset at a time, and only after the last one is every asset
    at that time's price."""
    n = len(ts)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    return np.append(np.flatnonzero(ts[1:] != ts[:-1]), n - 1).astype(np.int64, copy=False)


def period_returns(ts: FloatArray, equity: FloatArray, balance: float, period_s: float = DAY) -> FloatArray:
    """Return of each period (UTC-aligned) from its last equity value over the previous one,
    up to the first period that ends at or below zero (ruin): a return of a negative equity has
    its sign flipped (a deeper loss would read as a gain), so none is taken after it."""
    if len(equity) == 0:
        return np.empty(0)
    if period_s > DAY:
        # Bars longer than a day are each a period, one a time (several assets' bars of a
        # time make one): calendar months are of uneven length, and fixed windows of their
        # median spacing would put two in one.
        bucket = ts
    else:
        bucket = ts / period_s
        np.floor(bucket, out=bucket)  # whole numbers as floats: compared, not counted
    last = np.flatnonzero(bucket[1:] != bucket[:-1])
    closes = np.concatenate((equity[last], equity[-1:]))
    ruin = np.flatnonzero(closes <= 0)
    if ruin.size:
        closes = closes[: ruin[0] + 1]
    prev = np.concatenate(([balance], closes[:-1]))  # all above zero: the balance is
    return closes / prev - 1.0


def compute_metrics(
    *,
    ts: FloatArray,
    equity: FloatArray,
    balance: float,
    trades: Sequence[TradeRecord],
    in_position: npt.NDArray[np.bool_] | None = None,
    bar_interval: float = 0.0,
    period_s: float = DAY,
    fees_paid: float | None = None,
    bars: int | None = None,
) -> Metrics:
    """Every metric of a run; see the module docstring for the definitions."""
    if len(ts) != len(equity):
        raise ValueError(f"ts has {len(ts)} values and equity {len(equity)}; they must match")
    if balance <= 0 or not math.isfinite(balance):
        raise ValueError(f"balance={balance} must be a positive number")
    # A period of 0 would divide by zero, and a NaN one or a NaN bar would make the Sharpe or
    # the CAGR NaN without a word.
    if not (period_s > 0 and math.isfinite(period_s)):
        raise ValueError(f"period_s={period_s} must be a positive number of seconds")
    if not (bar_interval >= 0 and math.isfinite(bar_interval)):
        raise ValueError(f"bar_interval={bar_interval} must be a number of seconds >= 0")
    final = float(equity[-1]) if len(equity) else balance
    total = final - balance

    dd, dd_frac = drawdown_series(equity, balance) if len(equity) else (np.zeros(1), np.zeros(1))
    max_dd = float(dd.max())
    max_dd_pct = float(dd_frac.max()) * 100.0

    r = period_returns(ts, equity, balance, period_s)
    per_year = YEAR_DAYS * DAY / period_s
    if period_s > DAY and len(ts) >= 2 and ts[-1] > ts[0]:
        # Each time is a period: as many a year as there are, not a year over the median
        # spacing (365 / 31 for month-start bars, not 12), nor one a row of each asset.
        steps = len(last_of_each_time(ts)) - 1
        per_year = YEAR_DAYS * DAY * steps / float(ts[-1] - ts[0])
    elif len(ts) >= 2:
        # Only periods with data are returns: as many a year as the data has (365 days for data
        # every day, about 261 for weekdays only), not every calendar period's worth. The span
        # runs to the end of the last bar when that is past the last period (bars longer than
        # the period: quarterly bars give 4 a year).
        bucket = ts / period_s
        np.floor(bucket, out=bucket)  # in place: one array a row at a time, as period_returns
        with_data = 1 + int(np.count_nonzero(bucket[1:] != bucket[:-1]))
        spanned = max(float(bucket[-1] - bucket[0]) + 1.0, float(ts[-1] - ts[0] + bar_interval) / period_s)
        per_year *= with_data / spanned
    notes: dict[str, str] = {}
    sharpe = sortino = None
    covered = _periods_covered(ts, bar_interval, period_s)
    unit = "day" if period_s == DAY else "bar" if period_s > DAY else f"{period_s:g} s period"
    if covered < 2:
        amount = f"fewer than two bars ({covered:g})" if period_s > DAY else f"less than two {unit}s"
        amount += "" if period_s > DAY else f" ({covered:.4g} {unit}{'' if covered == 1 else 's'})"
        notes["sharpe"] = notes["sortino"] = (
            f"{amount} of data: returns over part of a {unit}, annualised as whole {unit}s', measure nothing"
        )
    elif len(r) < 2:
        notes["sharpe"] = notes["sortino"] = "fewer than two returns before the equity reached zero"
    else:
        sd = float(np.std(r, ddof=1))
        mean = float(np.mean(r))
        if sd > ROUNDING:
            sharpe = mean / sd * math.sqrt(per_year)
        else:
            notes["sharpe"] = f"no dispersion: every {unit}'s return is the same"
        downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
        if downside > ROUNDING:
            sortino = mean / downside * math.sqrt(per_year)
        else:
            notes["sortino"] = f"no {unit} lost money: no downside deviation to divide by"

    span = float(ts[-1] - ts[0]) + bar_interval if len(ts) else 0.0
    years = span / (YEAR_DAYS * DAY)
    cagr = calmar = None
    if years < 1.0:  # not annualised under a year: 7 % in 3 days is not 375,000 %
        days = f"{span / DAY:g}"
        notes["cagr"] = notes["calmar"] = (
            f"the run is shorter than a year ({days} day{'' if days == '1' else 's'}): "
            "not annualised, total_pnl_pct is its return"
        )
    elif final <= 0:
        notes["cagr"] = notes["calmar"] = "the final equity is not above zero"
    else:
        cagr = (final / balance) ** (1.0 / years) - 1.0
        if max_dd_pct > 0:
            calmar = cagr / (max_dd_pct / 100.0)
        else:
            notes["calmar"] = "no drawdown to divide by"

    pnl = np.array([t.net_pnl for t in trades], dtype=np.float64)
    wins = pnl[pnl > 0]
    losses = pnl[pnl < 0]
    n = len(pnl)
    gross_profit = float(wins.sum())
    gross_loss = float(losses.sum())
    avg_win = float(wins.mean()) if len(wins) else None
    avg_loss = float(losses.mean()) if len(losses) else None
    expectancy = None
    if n:
        expectancy = (len(wins) / n) * (avg_win or 0.0) + (len(losses) / n) * (avg_loss or 0.0)

    exposure = float(np.mean(in_position)) * 100.0 if in_position is not None and len(in_position) else 0.0
    return Metrics(
        starting_balance=float(balance),
        final_equity=final,
        total_pnl=total,
        total_pnl_pct=total / balance * 100.0,
        trades=n,
        wins=len(wins),
        losses=len(losses),
        win_rate=len(wins) / n * 100.0 if n else None,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        profit_factor=gross_profit / -gross_loss if gross_loss < 0 else None,
        max_drawdown=max_dd,
        max_drawdown_pct=max_dd_pct,
        max_drawdown_days=longest_drawdown(ts, dd) / DAY,
        sharpe=sharpe,
        sortino=sortino,
        cagr=cagr,
        calmar=calmar,
        expectancy=expectancy,
        average_trade=float(pnl.mean()) if n else None,
        average_win=avg_win,
        average_loss=avg_loss,
        largest_win=float(wins.max()) if len(wins) else None,
        largest_loss=float(losses.min()) if len(losses) else None,
        total_fees=float(sum(t.fees for t in trades) if fees_paid is None else fees_paid),
        exposure_pct=exposure,
        bars=len(equity) if bars is None else bars,
        start=float(ts[0]) if len(ts) else 0.0,
        end=float(ts[-1]) if len(ts) else 0.0,
        notes=notes,
    )


def _periods_covered(ts: FloatArray, bar_interval: float, period_s: float) -> float:
    """How many periods the data covers: bars longer than a day, one a time (each bar is its
    period); else the span, first time to last + a bar, in periods (quotes, which have no bar
    interval, from just past one midnight to just before the third cover 2.99 days)."""
    if len(ts) == 0:
        return 0.0
    if period_s > DAY:
        return float(len(last_of_each_time(ts)))
    return (float(ts[-1]) - float(ts[0]) + bar_interval) / period_s
