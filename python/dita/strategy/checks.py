"""What a strategy class declares, checked before it runs: its callbacks (``CALLBACKS``, none
that a plain call would not run), its subscriptions (``subscriptions``) and its name
(``strategy_name``); ``StrategyLoadError`` for a class that cannot run."""

from __future__ import annotations

import inspect
from collections.abc import Collection
from typing import cast

from dita._text import shortened
from dita.strategy.market_data import DATA_KINDS

CALLBACKS = ("on_start", "on_quote", "on_bar", "on_fill", "on_stop")
"""The methods the runtime calls (and does not await)."""


class StrategyLoadError(ValueError):
    """A ``MODULE:CLASS`` reference that does not name a Strategy subclass."""


def subscriptions(owner: str, assets: object, data: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``assets`` and ``data`` of strategy ``owner`` (its class, or an instance that sets its
    own), checked: ``assets`` a collection of asset names (a bare ``"BTCUSDT"`` would match
    ``"BTC"`` as a substring), ``data`` of ``DATA_KINDS`` (``("bar",)`` would leave it without
    data). StrategyLoadError naming the attribute and its value otherwise."""
    if not _is_collection(assets):
        raise StrategyLoadError(
            f"{owner}.assets = {assets!r} must be a tuple of asset names, e.g. ('BTCUSDT',)"
        )
    assets = cast("Collection[object]", assets)
    blank = [a for a in assets if not isinstance(a, str) or not a.strip()]
    if blank:
        raise StrategyLoadError(f"{owner}.assets = {assets!r}: {blank[0]!r} is not an asset name")
    kinds = " and ".join(map(repr, DATA_KINDS))
    where = f"{owner}.data = {data!r}"
    if not _is_collection(data):
        raise StrategyLoadError(f"{where} must be a tuple of {kinds}, e.g. ('bars',)")
    if not data:
        raise StrategyLoadError(f"{where} subscribes to nothing: give {kinds} or both")
    data = cast("Collection[object]", data)
    bad = [kind for kind in data if kind not in DATA_KINDS]
    if bad:
        raise StrategyLoadError(
            f"{where}: {', '.join(map(repr, bad))} is not a kind of market data; the kinds are {kinds}"
        )
    return tuple(cast("Collection[str]", assets)), tuple(cast("Collection[str]", data))


def strategy_name(name: object) -> str | None:
    """``name`` checked as a strategy's name (None or "" for the class name): text, not blank,
    without control characters. It names the strategy's intent and trade ids, its status and its
    logs: unchecked, a number would raise a bare "expected string" from ``add_strategy``, and a
    NUL byte would put the strategy in ERROR at its first ``buy`` (the kernel refuses the intent
    id)."""
    if name is None or name == "":
        return None
    if not isinstance(name, str):
        raise TypeError(
            f"name={shortened(repr(name), 120)} must be a str (or None for the class name), "
            f"got {type(name).__name__}"
        )
    if not name.strip() or not name.isprintable():
        raise ValueError(
            f"name={shortened(repr(name), 120)} must be a printable name, not blank and without "
            "control characters (a NUL, a newline, a tab)"
        )
    return name


def never_runs(callback: object) -> str:
    """What makes ``callback`` one whose body a plain call never runs ('' for a plain one): an
    ``async def`` (the call makes a coroutine nobody awaits), a ``def`` holding a ``yield`` (a
    generator nobody iterates) or both (an async generator)."""
    if inspect.isasyncgenfunction(callback):
        return "an async generator (an async def holding a yield)"
    if inspect.iscoroutinefunction(callback):
        return "an async def"
    if inspect.isgeneratorfunction(callback):
        return "a generator (a def holding a yield)"
    return ""


def _is_collection(value: object) -> bool:
    """A tuple, list or set of names; a bare string is not one (``in`` matches substrings)."""
    return isinstance(value, tuple | list | frozenset | set)
