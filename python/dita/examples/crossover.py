"""Moving-average crossover: long when the fast average crosses above the slow one, short
(or flat) when it crosses below. The classic first strategy, and the one the backtest
benchmark runs."""

from __future__ import annotations

from collections import deque

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dita.strategy import Bar, Strategy

__all__ = ["CrossoverParams", "SmaCrossover"]


class CrossoverParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    fast: int = Field(default=10, ge=1, description="bars in the fast simple moving average")
    slow: int = Field(default=30, ge=2, description="bars in the slow simple moving average")
    trade_size: float = Field(default=0.1, gt=0, description="size of each trade, base units")
    allow_short: bool = Field(default=True, description="go short on a bearish cross (else stay flat)")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> CrossoverParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast={self.fast} must be below slow={self.slow}")
        return self


class SmaCrossover(Strategy[CrossoverParams]):
    """Simple moving-average crossover on bar closes, one position at a time per asset."""

    Params = CrossoverParams
    data = ("bars",)

    def on_start(self) -> None:
        p = self.params
        self._fast_n, self._slow_n = p.fast, p.slow
        self._state: dict[str, _Averages] = {}

    def on_bar(self, bar: Bar) -> None:
        # Runs on every bar of a backtest, so it keeps to local variables and running sums.
        st = self._state.get(bar.asset)
        if st is None:
            st = self._state[bar.asset] = _Averages()
        close = bar.close
        closes = st.closes
        closes.append(close)
        n = len(closes)
        fast_n, slow_n = self._fast_n, self._slow_n
        fast_sum = st.fast_sum + close
        slow_sum = st.slow_sum + close
        if n > fast_n:
            fast_sum -= closes[-fast_n - 1]
        if n > slow_n:
            slow_sum -= closes.popleft()
            n -= 1
        st.fast_sum = fast_sum
        st.slow_sum = slow_sum
        if n < slow_n:
            return
        above = fast_sum / fast_n > slow_sum / slow_n
        was = st.above
        if above is was:
            if st.pending:  # the last cross's old side is not gone yet: closed again
                self._on_cross(st, bar.asset, close, bullish=above)
            return
        st.above = above
        if was is not None:
            self._on_cross(st, bar.asset, close, bullish=above)

    def _on_cross(self, st: _Averages, asset: str, price: float, *, bullish: bool) -> None:
        p = self.params
        if self.busy(asset):
            self.close(asset, price=price, reason="cross")
        # The new side waits until every slot of the old one is free, or a long and a short are
        # held at once: an exit still filling or refused, an entry whose cancel is in flight
        # (with latency) and whose filled part needs an exit once the venue acknowledges it.
        st.pending = self.busy(asset)
        if st.pending:
            return
        if bullish:
            self.buy(asset, p.trade_size, price=price, reason="bullish cross")
        elif p.allow_short:
            self.sell(asset, p.trade_size, price=price, reason="bearish cross")


class _Averages:
    """Per-asset state: the slow window of closes and the running sums of both windows."""

    __slots__ = ("above", "closes", "fast_sum", "pending", "slow_sum")

    def __init__(self) -> None:
        self.closes: deque[float] = deque()
        self.fast_sum = 0.0
        self.slow_sum = 0.0
        self.above: bool | None = None
        self.pending = False  # the last cross's old side is not gone yet: its entry waits
