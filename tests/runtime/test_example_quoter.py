"""The example two-sided quoter (`dita.examples.quoting`) keeps the promises of its
parameters on the paper venue, as a trader reading them would expect."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.data import generate_quotes
from dita.examples.quoting import TwoSidedQuoter
from dita.strategy import Fill, Quote


class _Watched(TwoSidedQuoter):
    """The quoter, noting the largest inventory (quote currency, at the mid) it ever held."""

    def on_start(self) -> None:
        super().on_start()
        self.widest = 0.0
        self.mid = 0.0

    def on_quote(self, quote: Quote) -> None:
        self.mid = quote.mid
        self.widest = max(self.widest, abs(self.position(quote.asset)) * quote.mid)
        super().on_quote(quote)

    def on_fill(self, fill: Fill) -> None:
        self.widest = max(self.widest, abs(self.position(fill.asset)) * self.mid)


@pytest.mark.parametrize("reduce_at_usd", [100_000.0, 1_000.0], ids=["no reduce", "reduce at 1000"])
@pytest.mark.parametrize("latency_ms", [0.0, 3_000.0])
def test_inventory_stays_within_max_inventory_usd_whatever_the_latency(
    tmp_path: Path, latency_ms: float, reduce_at_usd: float
) -> None:
    # Quotes every second; with a latency of seconds a canceled quote keeps working (and
    # filling) until the cancel lands, so the cap must count the quotes still working, and the
    # exits too: a short's exit buying back while the bids it let through filled took the
    # inventory to 4,000 of a 3,000 cap.
    path = tmp_path / "quotes.csv"
    rows = generate_quotes(n=600, symbols=["BTCUSDT"], seed=7)
    path.write_text(
        "ts,asset,bid,ask,bid_size,ask_size\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    )
    quoter = _Watched({"max_inventory_usd": 3_000.0, "reduce_at_usd": reduce_at_usd}, name="quoter")
    cfg = BacktestConfig(fee_rate=0.0004, maker_fee_rate=0.00002, latency_ms=latency_ms)
    result = run_backtest(quoter, load_market_data(path), cfg)
    assert result.metrics.trades > 0
    # Prices drift a little between the quote that sized an order and its fill.
    assert quoter.widest <= 3_000.0 * 1.01, quoter.widest


class _Noted(TwoSidedQuoter):
    """The quoter, noting the spread (bps) of every quote it placed orders on."""

    def on_start(self) -> None:
        super().on_start()
        self.quoted_spreads: list[float] = []

    def on_quote(self, quote: Quote) -> None:
        sent = self.quotes_sent
        super().on_quote(quote)
        if self.quotes_sent > sent:
            self.quoted_spreads.append(quote.spread_bps)


@pytest.mark.parametrize(
    ("config", "quotes"),
    [
        (BacktestConfig(), False),
        (BacktestConfig(fee_rate=0.0004, maker_fee_rate=0.00002), True),
        # A rebate adds to the spread: each passive fill is paid 2.5 bps.
        (BacktestConfig(fee_rate=0.0004, maker_fee_rate=-0.00025), True),
    ],
    ids=["default fees", "maker 0.2 bps", "maker rebate 2.5 bps"],
)
def test_it_quotes_only_spreads_that_pay_the_maker_fee_the_run_charges(
    tmp_path: Path, config: BacktestConfig, quotes: bool
) -> None:
    # It took the maker fee as 0.2 bps whatever the run charged: under the backtest's default
    # of 10 bps (maker fee = fee_rate) it quoted spreads of 2 to 6 bps, each passive fill
    # losing 7 to 9 bps against the mid. No such spread pays 10 bps: it quotes nothing then.
    path = tmp_path / "quotes.csv"
    rows = generate_quotes(n=300, symbols=["BTCUSDT"], seed=7)
    path.write_text(
        "ts,asset,bid,ask,bid_size,ask_size\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    )
    quoter = _Noted()
    result = run_backtest(quoter, load_market_data(path), config)
    fee_bps = config.maker_rate * 10_000
    threshold = quoter.params.edge_threshold_bps
    assert threshold is not None
    assert all(spread / 2 - fee_bps >= threshold for spread in quoter.quoted_spreads)
    assert bool(quoter.quoted_spreads) is quotes
    assert (result.metrics.trades > 0) is quotes


def test_a_rebate_the_run_pays_makers_reaches_the_quoter_and_the_account(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    rows = generate_quotes(n=300, symbols=["BTCUSDT"], seed=7)
    path.write_text(
        "ts,asset,bid,ask,bid_size,ask_size\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    )
    data = load_market_data(path)
    # The run's rebate is the quoter's maker fee, read from the kernel's maker_rate.
    quoter = _Noted()
    run_backtest(quoter, data, BacktestConfig(fee_rate=0.0004, maker_fee_rate=-0.00025))
    assert quoter.maker_fee_bps == pytest.approx(-2.5)
    # Given its maker fee as a parameter, the quoter trades alike whatever the run charges
    # makers: the same trades, and the rebate lowers the fees by what the passive fills earn.
    runs = {
        maker: run_backtest(
            _Noted({"maker_fee_bps": 0.2}), data, BacktestConfig(fee_rate=0.0004, maker_fee_rate=maker)
        )
        for maker in (0.0, -0.00025)
    }
    free, rebate = runs[0.0].account, runs[-0.00025].account
    assert runs[0.0].metrics.trades == runs[-0.00025].metrics.trades > 0
    assert rebate["k_realized_pnl"] == pytest.approx(free["k_realized_pnl"])
    assert rebate["k_fees_paid"] < free["k_fees_paid"]
    for a in (free, rebate):
        want = a["seed_capital"] + a["k_realized_pnl"] - a["k_fees_paid"] + a["k_funding_net"]
        assert a["k_capital"] == pytest.approx(want)
    assert _Noted({"maker_fee_bps": -1.0}).params.maker_fee_bps == -1.0


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"quote_usd": 20_000.0}, "quote_usd=20000.0 exceeds max_inventory_usd=10000.0"),
        ({"quote_usd": 600.0, "max_inventory_usd": 500.0}, "quote_usd=600.0 exceeds max_inventory_usd=500.0"),
    ],
)
def test_a_quote_larger_than_the_inventory_cap_is_refused_naming_both(
    params: dict[str, float], named: str
) -> None:
    # From flat, a quote above the cap would grow inventory past it on either side: the quoter
    # ran, reported its edges and never quoted, a run of 0 trades without a word.
    with pytest.raises(ValidationError) as refused:
        TwoSidedQuoter(params)
    assert named in str(refused.value), refused.value
    assert TwoSidedQuoter({"quote_usd": 500.0, "max_inventory_usd": 500.0}).params.quote_usd == 500.0
