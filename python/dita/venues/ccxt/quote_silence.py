"""How long one symbol of a live quote feed has given no quote (``QuoteSilence``), said once as
it begins, again at most every ``repeat_s`` while it lasts, and at its end: the polled ticker's
failed polls and the streamed book's quiet symbols are told the same way."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["QuoteSilence"]


class QuoteSilence:
    """One symbol's silence, said through ``say`` (a line without the symbol's feed name)."""

    def __init__(self, symbol: str, say: Callable[[str], None], *, repeat_s: float | None) -> None:
        self.symbol = symbol
        self.say = say
        self.repeat_s = repeat_s  # None: the silence is said once, as it begins
        self.since: float | None = None  # when the current silence began
        self.told = 0.0
        self.misses = 0  # polls without a quote (or checks finding none) in this silence

    def missed(self, why: str, now: float, *, since: float | None = None, tell: bool = True) -> None:
        """No quote at ``now``, for ``why``; ``since``: when the silence began (default ``now``).
        Its first miss is said at once (unless not ``tell``: a miss that is no news, as a ticker
        without a book), later ones every ``repeat_s``."""
        self.misses += 1
        if self.since is None:
            self.since = now if since is None else since
            self.told = now
            if tell:
                self.say(f"{self.symbol}: {why}")
            return
        if self.repeat_s is not None and now - self.told >= self.repeat_s:
            self.told = now
            self.say(
                f"{self.symbol}: no quote for {now - self.since:.0f}s "
                f"({self.misses:,} polls without one; last: {why})"
            )

    def quote(self, now: float) -> None:
        """A quote came at ``now``: the end of a silence said past its start is said too."""
        if self.since is not None and self.told > self.since:
            self.say(f"{self.symbol}: quotes again after {now - self.since:.0f}s")
        self.since = None
        self.misses = 0
