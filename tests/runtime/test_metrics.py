"""Backtest metrics against values worked out by hand (see the comments for the arithmetic)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dita.backtest.metrics import DAY, TradeRecord, compute_metrics, drawdown_series, period_returns

QUARTER = 365 * DAY / 4


def trade(net: float, fees: float = 1.0) -> TradeRecord:
    return TradeRecord("t", "BTCUSDT", "LONG", 0.0, 60.0, 100.0, 101.0, 1.0, net + fees, fees, net)


@pytest.fixture
def fixture_metrics():  # type: ignore[no-untyped-def]
    # Balance 1000; equity at the end of four quarters: +10 %, -10 %, +10 %, +10 %.
    # 1000 -> 1100 -> 990 -> 1089 -> 1197.9
    ts = np.arange(4) * QUARTER
    equity = np.array([1100.0, 990.0, 1089.0, 1197.9])
    trades = [trade(50), trade(-20), trade(30), trade(-10), trade(0)]
    in_pos = np.array([True, False, True, True])
    return compute_metrics(
        ts=ts, equity=equity, balance=1000.0, trades=trades, in_position=in_pos, bar_interval=QUARTER
    )


def test_pnl_and_drawdown_by_hand(fixture_metrics) -> None:  # type: ignore[no-untyped-def]
    m = fixture_metrics
    assert m.total_pnl == pytest.approx(197.9)
    assert m.total_pnl_pct == pytest.approx(19.79)
    # Peaks 1100, 1100, 1100, 1197.9; drawdowns 0, 110, 11, 0: the worst is 110 of 1100 = 10 %.
    assert m.max_drawdown == pytest.approx(110.0)
    assert m.max_drawdown_pct == pytest.approx(10.0)
    # Under water from the peak of 1100 (bar 0) until 1197.9 (bar 3): three quarters.
    assert m.max_drawdown_days == pytest.approx(3 * QUARTER / DAY)


@pytest.mark.parametrize(
    ("equity", "days"),
    [
        ([1000.0, 1000.0, 1000.0], 0.0),  # never below the balance
        ([990.0, 995.0, 1000.0, 1001.0], 2.0),  # below the balance from bar 0, back at bar 2
        (
            [1010.0, 1000.0, 1020.0, 1015.0, 1014.0, 1013.0],
            3.0,
        ),  # 2 days (peak on bar 0, back on 2), then 3 not back
        ([1010.0, 1000.0, 1000.0, 1000.0, 1020.0, 1019.0], 4.0),  # 4 days under 1010, then 1 under 1020
        ([1100.0, 1050.0, 1099.99, 1100.0], 3.0),  # 1099.99 is still under water
        # At the balance for bars 0-3, then never back: counted from the last bar at the peak.
        ([1000.0, 1000.0, 1000.0, 1000.0, 950.0, 960.0], 2.0),
    ],
)
def test_longest_drawdown_by_hand(equity: list[float], days: float) -> None:
    ts = np.arange(len(equity)) * DAY
    m = compute_metrics(ts=ts, equity=np.array(equity), balance=1000.0, trades=[], bar_interval=DAY)
    assert m.max_drawdown_days == pytest.approx(days)


def test_risk_ratios_by_hand(fixture_metrics) -> None:  # type: ignore[no-untyped-def]
    m = fixture_metrics
    # Returns 0.1, -0.1, 0.1, 0.1: mean 0.05; squared deviations 0.0025 * 3 + 0.0225 = 0.03,
    # / 3 = 0.01, sd = 0.1. Four returns in the year the quarters span: Sharpe = 0.05 / 0.1 *
    # sqrt(4) = 1.
    assert m.sharpe == pytest.approx(1.0, rel=1e-9)
    # Downside deviation sqrt((0 + 0.01 + 0 + 0) / 4) = 0.05: Sortino = 0.05 / 0.05 * sqrt(4).
    assert m.sortino == pytest.approx(2.0, rel=1e-9)
    # Exactly one year: CAGR = 19.79 %; Calmar = 0.1979 / 0.10.
    assert m.cagr == pytest.approx(0.1979)
    assert m.calmar == pytest.approx(1.979)


def test_trade_statistics_by_hand(fixture_metrics) -> None:  # type: ignore[no-untyped-def]
    m = fixture_metrics
    # Net PnL 50, -20, 30, -10, 0: two wins, two losses, one scratch.
    assert (m.trades, m.wins, m.losses) == (5, 2, 2)
    assert m.win_rate == pytest.approx(40.0)
    assert m.gross_profit == pytest.approx(80.0)
    assert m.gross_loss == pytest.approx(-30.0)
    assert m.profit_factor == pytest.approx(80 / 30)
    assert m.average_win == pytest.approx(40.0)
    assert m.average_loss == pytest.approx(-15.0)
    # 0.4 * 40 + 0.4 * (-15) = 10, the same as the mean 50 / 5.
    assert m.expectancy == pytest.approx(10.0)
    assert m.average_trade == pytest.approx(10.0)
    assert (m.largest_win, m.largest_loss) == (50.0, -20.0)
    assert m.total_fees == pytest.approx(5.0)
    assert m.exposure_pct == pytest.approx(75.0)


def test_undefined_ratios_are_none_not_infinite() -> None:
    ts = np.arange(3) * 60.0
    flat = np.full(3, 500.0)
    m = compute_metrics(ts=ts, equity=flat, balance=500.0, trades=[trade(5), trade(7)])
    assert m.profit_factor is None  # no losing trade: the ratio is unbounded
    assert m.sharpe is None and m.sortino is None  # one day of data: no dispersion to measure
    assert m.calmar is None  # no drawdown
    assert m.max_drawdown == 0.0
    d = m.to_dict()
    assert all(v is None or math.isfinite(v) for v in d.values() if isinstance(v, float))
    empty = compute_metrics(ts=ts, equity=flat, balance=500.0, trades=[])
    assert empty.win_rate is None and empty.expectancy is None and empty.average_trade is None


def test_drawdown_counts_the_balance_as_first_peak() -> None:
    # Starts losing at once: the drawdown is measured from the balance, 1000 -> 900 = 10 %.
    dd, frac = drawdown_series(np.array([950.0, 900.0, 1000.0, 980.0]), 1000.0)
    assert dd.tolist() == [50.0, 100.0, 0.0, 20.0]
    assert frac.tolist() == pytest.approx([0.05, 0.1, 0.0, 0.02])


def test_period_returns_use_each_days_last_value() -> None:
    # Two values on day 0 (the last one counts), one on day 1, one on day 3.
    ts = np.array([0.0, 3600.0, DAY + 10, 3 * DAY + 5])
    equity = np.array([1010.0, 1020.0, 1071.0, 1017.45])
    r = period_returns(ts, equity, 1000.0)
    assert r.tolist() == pytest.approx([0.02, 0.05, -0.05])


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="ts has 2 values and equity 3"):
        compute_metrics(ts=np.zeros(2), equity=np.ones(3), balance=1.0, trades=[])
    with pytest.raises(ValueError, match="balance=-5"):
        compute_metrics(ts=np.zeros(1), equity=np.ones(1), balance=-5.0, trades=[])


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"period_s": 0.0}, r"^period_s=0.0 must be a positive number of seconds$"),
        ({"period_s": math.nan}, r"^period_s=nan must be a positive number of seconds$"),
        ({"bar_interval": math.nan}, r"^bar_interval=nan must be a number of seconds >= 0$"),
        ({"bar_interval": -DAY}, r"^bar_interval=-86400.0 must be a number of seconds >= 0$"),
    ],
)
def test_a_period_or_bar_length_that_is_no_length_is_refused_naming_it(
    setting: dict[str, float], message: str
) -> None:
    """A period of 0 raised ZeroDivisionError; a NaN period or bar gave a NaN Sharpe or CAGR."""
    ts = np.arange(400.0) * DAY
    with pytest.raises(ValueError, match=message):
        compute_metrics(ts=ts, equity=np.linspace(100.0, 120.0, 400), balance=100.0, trades=[], **setting)


def test_cagr_of_a_short_profitable_run_is_none_not_a_crash() -> None:
    # 1 % in six minutes compounds past the largest float over a year: (1.01) ** 87,600.
    ts = np.arange(6) * 60.0
    equity = np.array([1000.0, 1002.0, 1004.0, 1006.0, 1008.0, 1010.0])
    m = compute_metrics(ts=ts, equity=equity, balance=1000.0, trades=[], bar_interval=60.0)
    assert m.cagr is None and m.calmar is None
    assert m.total_pnl == pytest.approx(10.0)


def test_returns_stop_at_ruin() -> None:
    # 1000 -> 500 -> -100 is ruin. Going on from a negative equity, -100 -> -200 read as +100 %
    # (a deeper hole counted as a gain) and -200 -> -50 as -75 %: the ratios mixed those in.
    ts = np.arange(5) * DAY
    equity = np.array([500.0, -100.0, -200.0, -50.0, -60.0])
    r = period_returns(ts, equity, 1000.0)
    assert r.tolist() == pytest.approx([-0.5, -1.2])
    m = compute_metrics(ts=ts, equity=equity, balance=1000.0, trades=[], bar_interval=DAY)
    # Returns -0.5, -1.2 (lost 120 % of the capital): mean -0.85, sample sd sqrt(2 * 0.35^2).
    assert m.sharpe == pytest.approx(-0.85 / math.sqrt(0.245) * math.sqrt(365))
    # Downside deviation sqrt((0.25 + 1.44) / 2).
    assert m.sortino == pytest.approx(-0.85 / math.sqrt(0.845) * math.sqrt(365))
    assert m.cagr is None and m.final_equity == -60.0
    # An equity of exactly zero is ruin too: nothing to take a return of afterwards.
    r0 = period_returns(ts[:3], np.array([500.0, 0.0, 0.0]), 1000.0)
    assert r0.tolist() == pytest.approx([-0.5, -1.0])


def test_cagr_and_calmar_are_left_out_of_a_run_shorter_than_a_year() -> None:
    # 7 % in three days annualised to (1.07) ** (365 / 3) - 1, about 375,000 %, and a 7 % loss
    # to -99.9985 %: a short run's return is not annualised (as the GIPS standards say), it
    # stays in total_pnl_pct.
    ts = np.arange(3) * DAY
    for final in (1070.0, 930.0):
        equity = np.array([1000.0, 950.0, final])
        m = compute_metrics(ts=ts, equity=equity, balance=1000.0, trades=[], bar_interval=DAY)
        assert m.cagr is None and m.calmar is None
        assert m.total_pnl_pct == pytest.approx(final / 10 - 100)
        assert m.sharpe is not None  # Sharpe is annualised from daily returns whatever the span
    # A day short of a year: still left out. A whole year of daily bars: annualised.
    ts = np.arange(364) * DAY
    equity = np.linspace(1000.0, 1100.0, 364)
    assert compute_metrics(ts=ts, equity=equity, balance=1000.0, trades=[], bar_interval=DAY).cagr is None
    ts = np.arange(365) * DAY
    equity = np.linspace(1000.0, 1100.0, 365)
    m = compute_metrics(ts=ts, equity=equity, balance=1000.0, trades=[], bar_interval=DAY)
    assert m.cagr == pytest.approx(0.1)


def test_bars_longer_than_a_day_give_one_return_each_even_of_uneven_length() -> None:
    # Month-start bars: February is 29 days, so with 31-day periods (the median spacing) it
    # shared a period with March and two months' return counted as one.
    import datetime as dt

    starts = [dt.datetime(2020 + m // 12, m % 12 + 1, 1, tzinfo=dt.UTC).timestamp() for m in range(36)]
    ts = np.array(starts, dtype=np.float64)
    equity = 1000.0 * 1.01 ** np.arange(1, 37)
    r = period_returns(ts, equity, 1000.0, period_s=31 * DAY)
    assert len(r) == 36
    assert r == pytest.approx(np.full(36, 0.01))


def test_bars_longer_than_a_day_are_annualised_by_how_many_a_year_there_are() -> None:
    # Month-start bars over three years: 12 a year, though their median spacing (31 days)
    # would make it 365 / 31 = 11.77 and understate Sharpe and Sortino by 1 %.
    import datetime as dt

    starts = [dt.datetime(2020 + m // 12, m % 12 + 1, 1, tzinfo=dt.UTC).timestamp() for m in range(37)]
    ts = np.array(starts, dtype=np.float64)
    rng = np.random.default_rng(3)
    equity = 1000.0 * np.cumprod(1 + rng.normal(0.01, 0.03, len(ts)))
    m = compute_metrics(
        ts=ts, equity=equity, balance=1000.0, trades=[], bar_interval=31 * DAY, period_s=31 * DAY
    )
    r = equity / np.concatenate(([1000.0], equity[:-1])) - 1
    per_year = 36 / ((ts[-1] - ts[0]) / (365 * DAY))  # 36 steps in 1,096 days: 11.99
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(per_year), rel=1e-12)
    downside = math.sqrt(float(np.mean(np.minimum(r, 0) ** 2)))
    assert m.sortino == pytest.approx(r.mean() / downside * math.sqrt(per_year), rel=1e-12)


def test_sharpe_of_less_than_two_whole_days_is_none_with_its_reason() -> None:
    # 24 hourly bars from noon: the day 0 close (12 hours) over the balance and the day 1 close
    # over day 0's (12 hours), two half-day returns annualised as days: +1 % and -0.99 % gave
    # a Sharpe of 0.00005 / 0.0141 * sqrt(365) = 0.067, a number that measures nothing.
    ts = (12 + np.arange(24)) * 3600.0
    equity = np.where(ts < DAY, 1010.0, 1000.0)
    m = compute_metrics(ts=ts, equity=equity, balance=1000.0, trades=[], bar_interval=3600.0)
    assert m.sharpe is None and m.sortino is None
    assert m.notes["sharpe"] == m.notes["sortino"]
    assert m.notes["sharpe"].startswith("less than two days (1 day) of data")
    assert "notes" not in m.to_dict()  # metrics stay numbers (or null)
    # Two whole days from midnight: two daily returns, +1 % and -1 / 1.01 %, are enough.
    ts = np.arange(48) * 3600.0
    equity = np.where(ts < DAY, 1010.0, 1000.0)
    m = compute_metrics(ts=ts, equity=equity, balance=1000.0, trades=[], bar_interval=3600.0)
    r = [0.01, 1000 / 1010 - 1]
    mean = (r[0] + r[1]) / 2
    sd = math.sqrt(((r[0] - mean) ** 2 + (r[1] - mean) ** 2) / 1)
    assert m.sharpe == pytest.approx(mean / sd * math.sqrt(365), rel=1e-12)
    assert "sharpe" not in m.notes and "sortino" not in m.notes


def test_quotes_over_almost_three_days_give_a_sharpe() -> None:
    # Quotes have no bar interval: from half a second past midnight to a minute before the
    # third midnight, the span holds two whole days and more, though only one UTC day lies
    # wholly inside it. Counted by UTC days inside the span, it got no Sharpe ("fewer than
    # two whole days (1)"); three daily returns, two of them of nearly whole days, are enough.
    ts = np.array([0.5, DAY + 0.5, 2 * DAY + 0.5, 3 * DAY - 60.0])
    equity = np.array([1000.0, 1010.0, 1020.0, 1000.0])
    m = compute_metrics(ts=ts, equity=equity, balance=1000.0, trades=[])
    assert m.sharpe is not None and m.sortino is not None, m.notes
    assert "sharpe" not in m.notes


def test_weekly_bars_need_two_weeks_for_a_sharpe() -> None:
    # One weekly bar: a single return, with its reason; two: two returns.
    week = 7 * DAY
    one = compute_metrics(
        ts=np.zeros(1), equity=np.array([1010.0]), balance=1000.0, trades=[], bar_interval=week, period_s=week
    )
    assert one.sharpe is None and "fewer than two" in one.notes["sharpe"]
    assert one.cagr is None and "shorter than a year" in one.notes["cagr"]


def test_sharpe_of_weekday_data_is_annualised_by_the_periods_the_data_has() -> None:
    # Two years of daily bars on weekdays only (an equity market): 261 returns a year.
    days = [d for d in range(730) if d % 7 not in (5, 6)]
    ts = np.array([1_704_067_200.0 + d * DAY for d in days])  # 2024-01-01 is a Monday
    r = np.random.default_rng(1).normal(0.001, 0.01, len(days))
    equity = 10_000.0 * np.cumprod(1 + r)
    m = compute_metrics(ts=ts, equity=equity, balance=10_000.0, trades=[], bar_interval=DAY, period_s=DAY)
    per_year = len(days) / ((ts[-1] - ts[0] + DAY) / (365 * DAY))  # ~261
    assert m.sharpe == pytest.approx(np.mean(r) / np.std(r, ddof=1) * math.sqrt(per_year), rel=1e-12)
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    assert m.sortino == pytest.approx(np.mean(r) / downside * math.sqrt(per_year), rel=1e-12)


def test_sharpe_of_data_every_day_is_annualised_by_365_days() -> None:
    ts = 1_704_067_200.0 + DAY * np.arange(400.0)
    r = np.random.default_rng(2).normal(0.001, 0.01, len(ts))
    equity = 10_000.0 * np.cumprod(1 + r)
    m = compute_metrics(ts=ts, equity=equity, balance=10_000.0, trades=[], bar_interval=DAY, period_s=DAY)
    assert m.sharpe == pytest.approx(np.mean(r) / np.std(r, ddof=1) * math.sqrt(365.0), rel=1e-12)
