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
        # Running sums over fixed windows: O(1) per bar, no re-summing.
        self._closes: dict[str, deque[float]] = {}
        self._fast_sum: dict[str, float] = {}
        self._slow_sum: dict[str, float] = {}
        self._above: dict[str, bool | None] = {}

    def on_bar(self, bar: Bar) -> None:
        asset = bar.asset
        closes = self._closes.get(asset)
        if closes is None:
            closes = self._closes[asset] = deque()
            self._fast_sum[asset] = self._slow_sum[asset] = 0.0
            self._above[asset] = None
        close = bar.close
        closes.append(close)
        n = len(closes)
        fast_sum = self._fast_sum[asset] + close
        slow_sum = self._slow_sum[asset] + close
        if n > self._fast_n:
            fast_sum -= closes[-self._fast_n - 1]
        if n > self._slow_n:
            slow_sum -= closes.popleft()
            n -= 1
        self._fast_sum[asset] = fast_sum
        self._slow_sum[asset] = slow_sum
        if n < self._slow_n:
            return
        above = fast_sum / self._fast_n > slow_sum / self._slow_n
        was = self._above[asset]
        self._above[asset] = above
        if was is None or above == was:
            return
        self._on_cross(asset, close, bullish=above)

    def _on_cross(self, asset: str, price: float, *, bullish: bool) -> None:
        p = self.params
        if self.busy(asset):
            self.close(asset, price=price, reason="cross")
        if bullish:
            self.buy(asset, p.trade_size, price=price, reason="bullish cross")
        elif p.allow_short:
            self.sell(asset, p.trade_size, price=price, reason="bearish cross")
