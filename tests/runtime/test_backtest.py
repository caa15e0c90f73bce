"""The backtest engine: its two accountings agree, fills follow the paper venue's rules, and
metrics.json matches an independent pandas computation from the CSV artefacts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, Field, ValidationError

from dita import ExecutionKernel
from dita.backtest.data import MarketData, load_market_data
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.backtest.metrics import TradeRecord, compute_metrics
from dita.backtest.report import ARTEFACTS, write_report
from dita.data import generate_bars, write_bars
from dita.examples.crossover import SmaCrossover
from dita.strategy import Bar, Quote, Strategy


class _SizeParams(BaseModel):
    size: float = 1.0


def test_equity_from_fills_matches_the_kernel_account(sample_bars: MarketData) -> None:
    result = run_backtest(SmaCrossover(), sample_bars, BacktestConfig(balance=10_000, fee_rate=0.001))
    acct = result.account
    assert result.metrics.trades > 50
    # The kernel's K account (seed + realized - fees + unrealized at the last close) and the
    # fill-by-fill cash/position accounting of the equity curve are computed independently.
    assert acct["equity"] == pytest.approx(result.equity[-1], abs=1e-6)
    # Fees count every fill's, the entry of a trade still open at the end too.
    assert acct["k_fees_paid"] == pytest.approx(result.metrics.total_fees, abs=1e-6)
    closed_fees = sum(t.fees for t in result.trades)
    closed = sum(t.net_pnl for t in result.trades)
    assert acct["realized_pnl"] - closed_fees == pytest.approx(closed, abs=1e-6)


def test_fills_follow_the_paper_rules(sample_bars: MarketData) -> None:
    slip = 2.0
    # The whole bar's volume is available, so every order fills in one piece at one open.
    cfg = BacktestConfig(slippage_bps=slip, fee_rate=0.001, volume_share=1.0)
    result = run_backtest(SmaCrossover(), sample_bars, cfg)
    opens = dict(zip(sample_bars.ts.tolist(), sample_bars.columns["open"].tolist(), strict=True))
    for t in result.trades[:50]:
        # Entered at the open of the bar after the signal, moved against the order by 2 bps.
        sign = 1 if t.side == "LONG" else -1
        assert t.entry_price == pytest.approx(opens[t.entry_time] * (1 + sign * slip / 1e4))
        assert t.exit_price == pytest.approx(opens[t.exit_time] * (1 - sign * slip / 1e4))
        assert t.fees == pytest.approx((t.entry_price + t.exit_price) * t.size * 0.001)
        assert t.gross_pnl == pytest.approx(sign * (t.exit_price - t.entry_price) * t.size)


def test_metrics_match_an_independent_pandas_computation(two_months: Path, tmp_path: Path) -> None:
    data = load_market_data(two_months)
    balance = 10_000.0
    strategy = SmaCrossover({"fast": 20, "slow": 60, "trade_size": 0.02})
    result = run_backtest(strategy, data, BacktestConfig(balance=balance, fee_rate=0.0005))
    out = tmp_path / "run"
    result.write_report(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(ARTEFACTS)
    m = json.loads((out / "metrics.json").read_text())["metrics"]
    eq = pd.read_csv(out / "equity.csv", parse_dates=["timestamp"]).set_index("timestamp")["equity"]
    trades = pd.read_csv(out / "trades.csv")
    assert len(eq) == len(data) == 60 * 1440
    assert m["trades"] == len(trades) > 100

    # Equity and drawdown.
    assert m["total_pnl"] == pytest.approx(eq.iloc[-1] - balance, abs=1e-6)
    peak = eq.cummax().clip(lower=balance)
    assert m["max_drawdown"] == pytest.approx((peak - eq).max(), abs=1e-6)
    assert m["max_drawdown_pct"] == pytest.approx(((peak - eq) / peak).max() * 100, rel=1e-9)

    # Daily returns -> Sharpe / Sortino (365-day year), CAGR and Calmar.
    daily = eq.resample("1D").last().dropna()
    rets = pd.concat([pd.Series([balance]), daily.reset_index(drop=True)]).pct_change().dropna()
    assert len(rets) == 60
    assert m["sharpe"] == pytest.approx(rets.mean() / rets.std() * math.sqrt(365), rel=1e-9)
    downside = math.sqrt((rets.clip(upper=0) ** 2).mean())
    assert m["sortino"] == pytest.approx(rets.mean() / downside * math.sqrt(365), rel=1e-9)
    # Two months are not annualised (metrics.py): total_pnl_pct is the run's return.
    assert m["cagr"] is None and m["calmar"] is None

    # Trade statistics from trades.csv.
    pnl = trades["net_pnl"]
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    assert m["win_rate"] == pytest.approx(len(wins) / len(pnl) * 100)
    assert m["profit_factor"] == pytest.approx(wins.sum() / -losses.sum(), rel=1e-9)
    assert m["average_trade"] == pytest.approx(pnl.mean(), rel=1e-9)
    assert m["average_win"] == pytest.approx(wins.mean(), rel=1e-9)
    assert m["average_loss"] == pytest.approx(losses.mean(), rel=1e-9)
    assert m["expectancy"] == pytest.approx(pnl.mean(), rel=1e-9)
    assert (trades["net_pnl"] - (trades["gross_pnl"] - trades["fees"])).abs().max() < 1e-9

    # Exposure: the position column is the net size held at each bar's close.
    position = pd.read_csv(out / "equity.csv")["position"]
    assert m["exposure_pct"] == pytest.approx((position != 0).mean() * 100)


def test_cagr_of_a_year_of_hourly_bars(tmp_path: Path) -> None:
    # 400 days of one-hour bars: the span counts the last bar's hour, and CAGR is annualised.
    path = write_bars(generate_bars(days=400, interval_s=3600.0, seed=5), tmp_path / "hourly.parquet")
    data = load_market_data(path)
    balance = 10_000.0
    result = run_backtest(SmaCrossover({"trade_size": 0.02}), data, BacktestConfig(balance=balance))
    m = result.metrics
    assert len(data) == 400 * 24 and m.trades > 10
    cagr = (result.equity[-1] / balance) ** (365 / 400) - 1
    assert m.cagr == pytest.approx(cagr, rel=1e-9)
    assert m.calmar == pytest.approx(cagr / (m.max_drawdown_pct / 100), rel=1e-9)


def test_sharpe_of_weekly_bars_is_annualised_by_weeks(tmp_path: Path) -> None:
    # Each weekly bar fell in its own UTC day, and its week's return was annualised as a day's,
    # by sqrt(365) instead of sqrt(365 / 7): Sharpe and Sortino came out 2.6 times too large.
    week = 7 * 86_400.0
    bars = generate_bars(days=7 * 300, interval_s=week, seed=3, volatility=0.02)
    data = load_market_data(write_bars(bars, tmp_path / "weekly.parquet"))
    balance = 1_000.0
    result = run_backtest(
        SmaCrossover({"fast": 3, "slow": 8, "trade_size": 0.01}), data, BacktestConfig(balance=balance)
    )
    assert len(data) == 300 and result.metrics.trades > 10
    closes = np.concatenate(([balance], result.equity))
    rets = closes[1:] / closes[:-1] - 1.0
    per_year = 365 / 7
    sharpe = rets.mean() / rets.std(ddof=1) * math.sqrt(per_year)
    assert result.metrics.sharpe == pytest.approx(sharpe, rel=1e-9)
    downside = math.sqrt(float(np.mean(np.minimum(rets, 0.0) ** 2)))
    assert result.metrics.sortino == pytest.approx(rets.mean() / downside * math.sqrt(per_year), rel=1e-9)


def test_a_blown_account_stops_opening_trades(sample_bars: MarketData) -> None:
    # 1 BTC a trade on a 1,000 balance with 1 % fees: the account is gone within a few trades.
    # Without the venue's margin check (leverage None), which refuses a position of 40 times the
    # balance: the halt is what is tested, the last guard when a position outran its margin.
    strategy = SmaCrossover({"fast": 3, "slow": 8, "trade_size": 1.0})
    cfg = BacktestConfig(balance=1_000, fee_rate=0.01, volume_share=1.0, leverage=None)
    result = run_backtest(strategy, sample_bars, cfg)
    info = result.run_info
    assert info["halted_equity"] <= 0
    halted_at = info["halted_at"]
    assert all(t.entry_time <= halted_at for t in result.trades)  # no entry after the halt
    assert result.strategy_status[0]["refused"] > 0  # the strategy's later entries were refused
    # The next cross after the halt closed what was open; nothing has been opened since.
    assert result.account["open_positions"] == 0 and result.open_trades == 0
    flat = result.equity[info["halted_row"] - 1 + 60 :]  # numbered from 1
    assert flat.max() == flat.min()  # no position, no fees: the equity stops moving
    unguarded = run_backtest(
        SmaCrossover({"fast": 3, "slow": 8, "trade_size": 1.0}),
        sample_bars,
        cfg.model_copy(update={"halt_when_bust": False}),
    )
    assert "halted_at" not in unguarded.run_info
    assert unguarded.metrics.trades > result.metrics.trades


class _BuysUntilBlown(Strategy):
    """Buys 100 once, then asks small entries once the price has collapsed."""

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset) and self.position(bar.asset) == 0:
            self.buy(bar.asset, 100.0, price=bar.close)
        elif bar.close < 10:
            self.buy(bar.asset, 0.01, price=bar.close)


def test_the_halted_row_is_the_files_row_under_a_from_window(tmp_path: Path) -> None:
    """halted_row numbers rows as the data's errors do, the file's: a --from window starting at
    the file's row 11 moves neither the halt nor its row."""
    t0 = 1_704_067_200
    prices = [100] * 12 + [50, 5, 5, 5]
    path = tmp_path / "bars.csv"
    path.write_text(
        "ts,open,high,low,close,volume\n"
        + "".join(f"{t0 + 60 * i},{x},{x},{x},{x},1000\n" for i, x in enumerate(prices))
    )
    cfg = BacktestConfig(balance=1000, leverage=None, fee_rate=0, slippage_bps=0, volume_share=1)
    whole = run_backtest(_BuysUntilBlown(), load_market_data(path), cfg).run_info
    windowed = run_backtest(_BuysUntilBlown(), load_market_data(path, start=t0 + 600), cfg).run_info
    assert windowed["halted_at"] == whole["halted_at"] == t0 + 60 * 13  # the file's row 14
    assert windowed["halted_row"] == whole["halted_row"] == 14


class _BuyThenBuyAgain(Strategy):
    """Buys 10 on the first bar and 1 more on the third and fourth, noting each answer."""

    def on_start(self) -> None:
        self.bars = 0
        self.asked: list[tuple[float, bool]] = []

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == 1:
            self.buy(bar.asset, 10, price=bar.close)
        elif self.bars in (3, 4):
            self.asked.append((self.account()["equity"], self.buy(bar.asset, 1, price=bar.close).accepted))


def test_an_account_blown_by_prices_alone_takes_no_entry(tmp_path: Path) -> None:
    """The halt was looked at only when a fill landed: a position that fell through the
    balance between fills left the equity at -300, and the next entry was taken and filled."""
    closes = [100.0, 90.0, 20.0, 20.0, 20.0, 20.0]
    rows = "".join(
        f"2024-01-01T00:0{i}:00Z,{c},{max(c, 100.0 if i == 0 else c)},{c},{c},1000\n"
        for i, c in enumerate(closes)
    )
    path = tmp_path / "BTCUSDT_1m.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + rows)
    strategy = _BuyThenBuyAgain()
    # 1,000 bought on 500: at leverage 2, the venue takes it.
    cfg = BacktestConfig(balance=500, fee_rate=0, slippage_bps=0, volume_share=1.0, leverage=2.0)
    result = run_backtest(strategy, load_market_data(path), cfg)
    # 10 bought at 90 (the second bar's open) and marked at 20: 500 - 700.
    assert strategy.asked == [(pytest.approx(-200.0), False), (pytest.approx(-200.0), False)]
    assert result.run_info["halted_equity"] == pytest.approx(-200.0)
    assert result.run_info["halted_at"] == load_market_data(path).ts[2]
    assert result.strategy_status[0]["refused"] == 2


class _BuyOnFirstQuote(Strategy[_SizeParams]):
    Params = _SizeParams
    data = ("quotes",)

    def on_quote(self, quote: Quote) -> None:
        if not self.busy(quote.asset) and self.position(quote.asset) == 0:
            self.buy(quote.asset, self.params.size, price=quote.ask)


def test_quotes_without_sizes_fill_an_order_whole_at_the_touch(tmp_path: Path) -> None:
    # The file says nothing of depth: a size of 1 made up for it filled a market buy of 5 one
    # unit a quote, at five different asks, and the run's numbers were the made-up depth's.
    path = tmp_path / "ETHUSDT.csv"
    path.write_text("ts,bid,ask\n" + "".join(f"{1704067200 + i},{100 + i},{100.5 + i}\n" for i in range(6)))
    data = load_market_data(path)
    result = run_backtest(_BuyOnFirstQuote({"size": 5.0}), data, BacktestConfig(fee_rate=0, slippage_bps=0))
    assert result.run_info["fills"] == 1
    assert result.position.tolist() == [5.0] * 6
    # Sizes given in the file still bound the fill.
    path.write_text(
        "ts,bid,ask,bid_size,ask_size\n"
        + "".join(f"{1704067200 + i},{100 + i},{100.5 + i},2,2\n" for i in range(6))
    )
    result = run_backtest(
        _BuyOnFirstQuote({"size": 5.0}), load_market_data(path), BacktestConfig(fee_rate=0, slippage_bps=0)
    )
    assert result.position.tolist()[:3] == [2.0, 4.0, 5.0]


def test_the_report_shows_the_prices_of_an_asset_below_a_cent(tmp_path: Path) -> None:
    # Two decimals printed every price of a sub-cent coin as 0.00 and its trade's PnL as -0.00.
    # Below 1, four significant digits are shown.
    ts = np.array([1704067200.0, 1704067260.0])
    equity = np.array([10_000.0, 9_999.9966])
    trade = TradeRecord(
        trade_id="t1",
        asset="SHIBUSDT",
        side="LONG",
        entry_time=ts[0],
        exit_time=ts[1],
        entry_price=0.00002134,
        exit_price=0.00002131,
        size=300_000.0,
        gross_pnl=-0.003,
        fees=0.0004,
        net_pnl=-0.0034,
    )
    metrics = compute_metrics(ts=ts, equity=equity, balance=10_000.0, trades=[trade])
    info = {"strategy": "m:S", "data": "SHIBUSDT.csv"}
    position = np.zeros(2)
    write_report(
        tmp_path, metrics=metrics, trades=[trade], ts=ts, equity=equity, position=position, run_info=info
    )
    page = (tmp_path / "report.html").read_text()
    row = page[page.index("<td>t1</td>") :].split("</tr>")[0]
    assert "<td>0.00002134</td><td>0.00002131</td>" in row
    assert "<td>-0.003400</td>" in row


def test_the_report_of_a_quote_replay_counts_quotes(tmp_path: Path) -> None:
    path = tmp_path / "ETHUSDT.csv"
    path.write_text("ts,bid,ask\n" + "".join(f"{1704067200 + i},{100 + i},{100.5 + i}\n" for i in range(3)))
    result = run_backtest(_BuyOnFirstQuote({"size": 1.0}), load_market_data(path), BacktestConfig())
    result.write_report(tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    assert "UTC, 3 quotes</p>" in page  # not "3 bars"
    assert "<th>Total PnL</th>" in page


class _StopParams(BaseModel):
    size: float = 1.0
    stop_pct: float = Field(default=math.inf, allow_inf_nan=True)  # "no stop", which the field allows


class _Idle(Strategy[_StopParams]):
    Params = _StopParams
    data = ("bars",)


def _strict(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def test_metrics_json_stays_strict_json_with_an_infinite_parameter(
    sample_bars: MarketData, tmp_path: Path
) -> None:
    # json.dumps wrote the parameter as Infinity, which strict JSON readers (jq, JSON.parse,
    # Go, Rust) refuse, so the whole file could not be read.
    result = run_backtest(_Idle({"stop_pct": math.inf}), sample_bars)
    result.write_report(tmp_path)
    doc = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=_strict)
    assert doc["run"]["params"] == {"size": 1.0, "stop_pct": "inf"}  # still says what was run
    assert doc["metrics"]["sharpe"] is None and doc["metrics"]["trades"] == 0


def test_equity_csv_position_is_size_for_one_asset_and_exposure_for_several(tmp_path: Path) -> None:
    # One asset: the signed size held after the row's fills. Several assets, whose sizes do not
    # add up: the gross exposure, sum of |size| x the asset's last price, in quote currency.
    path = tmp_path / "two.csv"
    rows = [(1704067200, "AAA", 100, 101), (1704067200, "BBB", 10, 10.5), (1704067201, "AAA", 102, 103)]
    path.write_text("ts,asset,bid,ask\n" + "".join(f"{t},{a},{b},{k}\n" for t, a, b, k in rows))
    result = run_backtest(
        _BuyOnFirstQuote({"size": 2.0}), load_market_data(path), BacktestConfig(fee_rate=0, slippage_bps=0)
    )
    assert result.run_info["fills"] == 2
    # Mids 100.5, 10.25, 102.5; one point a time, after both of the first time's rows.
    exposure = [2 * 100.5 + 2 * 10.25, 2 * 102.5 + 2 * 10.25]
    assert result.position.tolist() == pytest.approx(exposure)
    result.write_report(tmp_path / "out")
    assert pd.read_csv(tmp_path / "out" / "equity.csv")["position"].tolist() == pytest.approx(
        result.position.tolist()
    )


def test_a_closed_position_of_a_coin_in_large_sizes_holds_nothing(sample_bars: MarketData) -> None:
    # A coin priced below a cent trades 1e8 units; partial fills of that size summed leave float
    # dust (1.5e-8) in a running position, above the 1e-12 that counted as flat. Every row after
    # the first round trip held "a position": exposure was 99 % for a strategy flat a fifth of it.
    scale = 1e-9
    cols = {c: v / scale if c == "volume" else v * scale for c, v in sample_bars.columns.items()}
    data = MarketData(
        kind="bars", ts=sample_bars.ts, asset=["SHIBUSDT"] * len(sample_bars), columns=cols,
        interval=sample_bars.interval,
    )  # fmt: skip
    strategy = SmaCrossover({"fast": 3, "slow": 8, "trade_size": 5 / scale, "allow_short": False})
    result = run_backtest(strategy, data, BacktestConfig(balance=1e6, volume_share=0.02))
    assert result.metrics.trades > 100 and result.run_info["fills"] > 2 * result.metrics.trades
    held = np.zeros(len(data), dtype=bool)
    for t in result.trades:
        held |= (data.ts >= t.entry_time) & (data.ts < t.exit_time)
    # Up to the last exit (a trade still open at the end is not in the list).
    upto = data.ts < result.trades[-1].exit_time
    assert ((result.position != 0) == held)[upto].all()
    assert result.metrics.exposure_pct == pytest.approx(np.mean(result.position != 0) * 100)
    assert result.metrics.exposure_pct < 90


class _BuyOnFirstBar(Strategy[_SizeParams]):
    Params = _SizeParams
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset):
            self.buy(bar.asset, self.params.size, price=bar.close)


def test_a_position_opened_at_an_unchanged_close_is_marked_in_the_kernel(tmp_path: Path) -> None:
    # Bought at the second bar's open, 95; every close is 100. The runtime marked an asset only
    # when its price moved since its last mark (taken at the order, before the trade existed),
    # so the new trade was never marked: the kernel's account, which the bust halt reads,
    # showed no unrealized PnL while the equity curve showed +5.
    path = tmp_path / "BTCUSDT.csv"
    opens = [100, 95, 100, 100]
    path.write_text(
        "ts,open,high,low,close,volume\n"
        + "".join(f"{1704067200 + 60 * i},{o},110,90,100,1000\n" for i, o in enumerate(opens))
    )
    cfg = BacktestConfig(fee_rate=0, slippage_bps=0)
    result = run_backtest(_BuyOnFirstBar(), load_market_data(path), cfg)
    assert result.equity.tolist() == [10_000, 10_005, 10_005, 10_005]
    assert result.account["unrealized_pnl"] == pytest.approx(5.0)
    assert result.account["equity"] == pytest.approx(result.equity[-1])


class _BuysAnotherAssetFirst(Strategy[_SizeParams]):
    """Buys ETHUSDT, which the data does not hold, on the first bar, then the bar's asset."""

    Params = _SizeParams
    data = ("bars",)

    def on_start(self) -> None:
        self.outcomes: list = []

    def on_bar(self, bar: Bar) -> None:
        if not self.outcomes:
            self.outcomes.append(self.buy("ETHUSDT", 1.0, price=bar.close))
        elif len(self.outcomes) == 1:
            self.outcomes.append(self.buy(bar.asset, 1.0, price=bar.close))


def test_an_order_for_an_asset_without_data_is_rejected_and_frees_its_slot(tmp_path: Path) -> None:
    # The venue had no data for ETHUSDT: the order was acknowledged, never filled, and held
    # its slot in ENTRY_WORKING for the whole run (with one slot, no other trade could open).
    path = tmp_path / "BTCUSDT.csv"
    path.write_text(
        "ts,open,high,low,close,volume\n"
        + "".join(f"{1704067200 + 60 * i},100,110,90,100,1000\n" for i in range(4))
    )
    strategy = _BuysAnotherAssetFirst()
    result = run_backtest(strategy, load_market_data(path), BacktestConfig(max_slots=1))
    eth, btc = strategy.outcomes
    reject = [e for e in eth.emitted_events if e.kind.name == "REJECT"]
    assert len(reject) == 1 and reject[0].reason == "unknown asset 'ETHUSDT': paper lists BTCUSDT only"
    assert btc.accepted and result.run_info["fills"] == 1
    assert not strategy.busy("ETHUSDT")
    held = [s for s in strategy.ctx.kernel.slots() if s["fsm_state"] not in ("IDLE", "CLOSED")]
    assert [s["asset"] for s in held] == ["BTCUSDT"]


class _LongAndShortOfOneAsset(Strategy[_SizeParams]):
    """On the first quote of each asset: AAA long 2 and short 1 (two trades), BBB long 2."""

    Params = _SizeParams
    data = ("quotes",)

    def on_quote(self, quote: Quote) -> None:
        if self.busy(quote.asset):
            return
        self.buy(quote.asset, 2.0, price=quote.ask)
        if quote.asset == "AAA":
            self.sell(quote.asset, 1.0, price=quote.bid)


def test_equity_csv_position_nets_long_and_short_trades_of_an_asset(tmp_path: Path) -> None:
    # docs/guides/first-backtest.md: for several assets, each asset's net size (long and short trades in it
    # netted, as the venue holds them) x its last price, summed as absolute values.
    path = tmp_path / "two.csv"
    rows = [(1704067200, "AAA", 100, 101), (1704067200, "BBB", 10, 10.5), (1704067201, "AAA", 102, 103)]
    path.write_text("ts,asset,bid,ask\n" + "".join(f"{t},{a},{b},{k}\n" for t, a, b, k in rows))
    cfg = BacktestConfig(fee_rate=0, slippage_bps=0)
    result = run_backtest(_LongAndShortOfOneAsset(), load_market_data(path), cfg)
    assert result.run_info["fills"] == 3
    exposure = [1 * 100.5 + 2 * 10.25, 1 * 102.5 + 2 * 10.25]  # not 3 x AAA's mid
    assert result.position.tolist() == pytest.approx(exposure)


class _HedgedThenClosed(Strategy[_SizeParams]):
    """On the first bar: AAA long 1 and short 1 (two slots; the venue, netting them, holds
    nothing); on the third, close both."""

    Params = _SizeParams
    data = ("bars",)
    seen = 0

    def on_bar(self, bar: Bar) -> None:
        self.seen += 1
        if self.seen == 1:
            self.buy(bar.asset, 1.0, price=bar.close)
            self.sell(bar.asset, 1.0, price=bar.close)
        elif self.seen == 3:
            self.close(bar.asset, price=bar.close)


def test_a_hedged_books_trades_both_close(tmp_path: Path) -> None:
    # The exits of a long and a short that net flat at the venue, sent reduce-only, would both
    # expire there (nothing to reduce) and neither trade could close; the kernel sends them
    # plain (docs/concepts/orders-and-fills.md), and the backtest sends what the kernel decided.
    path = tmp_path / "AAA.csv"
    rows = [(1704067200 + 60 * i, 100.0 + i) for i in range(6)]
    path.write_text(
        "ts,open,high,low,close,volume\n" + "".join(f"{t},{c},{c + 1},{c - 1},{c},1000\n" for t, c in rows)
    )
    cfg = BacktestConfig(fee_rate=0, slippage_bps=0)
    result = run_backtest(_HedgedThenClosed(), load_market_data(path), cfg)
    assert result.run_info["open_trades_at_end"] == 0 and result.run_info["fills"] == 4
    # Entered at the second bar's open, both exited at the fourth's.
    assert sorted((t.side, t.entry_price, t.exit_price) for t in result.trades) == [
        ("LONG", 101.0, 103.0),
        ("SHORT", 101.0, 103.0),
    ]


def test_trades_csv_keeps_the_times_of_sub_second_data(tmp_path: Path) -> None:
    # trades.csv wrote its times to the second while equity.csv keeps milliseconds: a trade
    # on quotes opened at .250 and closed at .750 read as opened and closed at the same time,
    # and no trade could be matched to its equity.csv row.
    ts = np.array([1704067200.25, 1704067200.75])
    trade = TradeRecord(
        trade_id="t1",
        asset="BTCUSDT",
        side="LONG",
        entry_time=ts[0],
        exit_time=ts[1],
        entry_price=100.0,
        exit_price=101.0,
        size=1.0,
        gross_pnl=1.0,
        fees=0.0,
        net_pnl=1.0,
    )
    equity = np.array([10_000.0, 10_001.0])
    metrics = compute_metrics(ts=ts, equity=equity, balance=10_000.0, trades=[trade])
    write_report(
        tmp_path,
        metrics=metrics,
        trades=[trade],
        ts=ts,
        equity=equity,
        position=np.zeros(2),
        run_info={"strategy": "m:S", "data": "BTCUSDT.csv"},
    )
    trades = pd.read_csv(tmp_path / "trades.csv", parse_dates=["entry_time", "exit_time"])
    eq = pd.read_csv(tmp_path / "equity.csv", parse_dates=["timestamp"])
    assert trades["entry_time"][0] == eq["timestamp"][0]
    assert trades["exit_time"][0] == eq["timestamp"][1]
    assert trades["entry_time"][0].timestamp() == 1704067200.25


def test_the_report_shows_trade_times_as_trades_csv_writes_them(tmp_path: Path) -> None:
    # The HTML trade table cut times to the second while trades.csv keeps milliseconds: two
    # trades in the same second on quotes read as opened and closed at one time.
    ts = np.array([1704067200.25, 1704067200.5, 1704067200.75])
    trades = [
        TradeRecord(
            trade_id=f"t{i}",
            asset="BTCUSDT",
            side="LONG",
            entry_time=ts[i],
            exit_time=ts[i + 1],
            entry_price=100.0,
            exit_price=101.0,
            size=1.0,
            gross_pnl=1.0,
            fees=0.0,
            net_pnl=1.0,
        )
        for i in range(2)
    ]
    equity = np.array([10_000.0, 10_001.0, 10_002.0])
    metrics = compute_metrics(ts=ts, equity=equity, balance=10_000.0, trades=trades)
    write_report(
        tmp_path,
        metrics=metrics,
        trades=trades,
        ts=ts,
        equity=equity,
        position=np.zeros(3),
        run_info={"strategy": "m:S", "data": "BTCUSDT.csv"},
    )
    page = (tmp_path / "report.html").read_text()
    csv_rows = (tmp_path / "trades.csv").read_text().splitlines()[1:]
    for i, line in enumerate(csv_rows):
        entry, exit_ = (cell.strip('"') for cell in line.split(",")[3:5])
        row = page[page.index(f"<td>t{i}</td>") :].split("</tr>")[0]
        assert f"<td>{entry}</td><td>{exit_}</td>" in row
    assert "<td>2024-01-01 00:00:00.250Z</td><td>2024-01-01 00:00:00.500Z</td>" in page


@pytest.mark.parametrize("latency_ms", [60_000.5, 1e300, -1.0])
def test_a_latency_the_paper_venue_refuses_is_refused_by_the_config(latency_ms: float) -> None:
    """BacktestConfig takes what its paper venue takes: a latency above a minute was taken and
    refused by the venue only once the run began (1e300 left every order waiting for good)."""
    with pytest.raises(ValidationError, match="latency_ms"):
        BacktestConfig(latency_ms=latency_ms)
    assert BacktestConfig(latency_ms=60_000).latency_ms == 60_000


def test_a_maker_rebate_up_to_the_taker_fee_is_taken_by_the_config_its_venue_and_kernel() -> None:
    config = BacktestConfig(fee_rate=0.0005, maker_fee_rate=-0.00025)
    assert config.maker_rate == -0.00025
    assert config.paper_venue(None).settings.maker_rate == -0.00025
    kernel = ExecutionKernel(max_slots=1)
    config.set_up(kernel, "test")
    assert kernel.exchange_config()["maker_rate"] == -0.00025
    with pytest.raises(ValidationError, match=r"maker_fee_rate=-0\.0006 is a rebate above fee_rate=0\.0005"):
        BacktestConfig(fee_rate=0.0005, maker_fee_rate=-0.0006)
    with pytest.raises(ValidationError, match="fee_rate"):
        BacktestConfig(fee_rate=-0.0001)


@pytest.mark.parametrize("field", ["balance", "fee_rate", "latency_ms", "volume_share", "max_slots"])
def test_a_flag_given_for_a_number_is_refused_by_the_config(field: str) -> None:
    """pydantic took True as 1: a run on one slot, or a latency of a millisecond, unasked."""
    with pytest.raises(ValidationError, match=rf"{field}\n.*True is a flag, not a number"):
        BacktestConfig(**{field: True})


class _RaisesOnItsThirdBar(Strategy[_SizeParams]):
    Params = _SizeParams

    def on_bar(self, bar: Bar) -> None:
        self.seen = getattr(self, "seen", 0) + 1
        if self.seen == 1:
            self.buy(bar.asset, 1.0, price=bar.close)
        if self.seen == 3:
            raise RuntimeError("boom")


def test_a_strategy_that_raised_is_said_in_metrics_json_and_the_report(tmp_path: Path) -> None:
    """Only stderr and the exit code said a strategy raised: metrics.json and report.html,
    the artefacts people keep, read as a whole run (its position valued to the end)."""
    path = tmp_path / "bars.csv"
    path.write_text(
        "ts,open,high,low,close,volume\n"
        + "".join(f"{1704067200 + 60 * i},100,110,90,100,1000\n" for i in range(6))
    )
    result = run_backtest(_RaisesOnItsThirdBar(), load_market_data(path), BacktestConfig())
    said = "_RaisesOnItsThirdBar raised in on_bar: RuntimeError: boom (it took no more data"
    assert result.run_info["strategy_error"].startswith(said)
    result.write_report(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["run"]["strategy_error"].startswith(
        said
    )
    assert "strategy_error" in (tmp_path / "out" / "report.html").read_text()
    whole = run_backtest(SmaCrossover(), load_market_data(path), BacktestConfig())
    assert "strategy_error" not in whole.run_info
