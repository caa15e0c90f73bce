"""The strategy API: what a quant writes.

A strategy subclasses ``Strategy``, declares its parameters as a pydantic model and reacts
to market data::

    class Params(BaseModel):
        fast: int = 10

    class MyStrategy(Strategy[Params]):
        Params = Params

        def on_bar(self, bar: Bar) -> None:
            if self.position(bar.asset) == 0 and bar.close > 100:
                self.buy(bar.asset, 0.1, price=bar.close)

Decisions go through the helpers (``buy``, ``sell``, ``close``, ``cancel``), which build
``KernelIntent`` objects and hand them to the kernel through the runtime; the kernel's
answer (``KernelOutcome``) comes back, refusals included. Fills arrive in ``on_fill`` and
are kept in ``self.fills`` (every fill of a replay, the latest ones of a live run: see the
runtime's ``fills_kept``), counted in ``self.fills_total``; ``self.slots()`` and
``self.account()`` read the kernel.
The same class runs in a backtest, a shadow run, paper and live: only the runtime's feed
and the kernel's venue change.

The package, one module per part:

- ``base``: the ``Strategy`` base class;
- ``market_data``: ``Bar`` and ``Quote``, and whether a feed gives a strategy any (``feed_problem``);
- ``orders``: what the order helpers make and check (``cancel_intent``), and ``Fill``;
- ``params``: the parameters' model read and checked (``validate_params``, ``NoParams``);
- ``checks``: a strategy class's callbacks, subscriptions and name checked (``StrategyLoadError``);
- ``loading``: a strategy class found by its ``MODULE:CLASS`` reference (``load_strategy_class``).
"""

from dita.strategy.base import P as P
from dita.strategy.base import Strategy
from dita.strategy.checks import CALLBACKS as CALLBACKS
from dita.strategy.checks import StrategyLoadError
from dita.strategy.checks import subscriptions as subscriptions
from dita.strategy.loading import load_strategy_class
from dita.strategy.market_data import DATA_KINDS, Bar, Quote, feed_gaps, feed_problem
from dita.strategy.orders import FREE_STAGES as FREE_STAGES
from dita.strategy.orders import INTENT_FIELDS as INTENT_FIELDS
from dita.strategy.orders import Fill, cancel_intent
from dita.strategy.orders import is_free_stage as is_free_stage
from dita.strategy.params import NoParams, validate_params

__all__ = [
    "DATA_KINDS",
    "Bar",
    "Fill",
    "NoParams",
    "Quote",
    "Strategy",
    "StrategyLoadError",
    "cancel_intent",
    "feed_gaps",
    "feed_problem",
    "load_strategy_class",
    "validate_params",
]
