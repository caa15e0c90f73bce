"""Counting what was refused in a run: the orders the venues rejected (``VenueRejections``)
and the strategies' intents the kernel refused (``KernelRefusals``), each with its reasons, so
a run's summary says why it traded less than its strategies asked."""

from __future__ import annotations

import re
from collections.abc import Mapping

from dita._kernel import KernelEventKind, KernelIntent, KernelOutcome, VenueEvent
from dita._text import shortened
from dita.reconcile import EVENT_ID_PREFIX as RECONCILED

# How many reasons ``VenueRejections`` and ``KernelRefusals`` name, each with its count.
REJECTIONS_SHOWN = 5
# A figure standing alone in a reason (not a part of a name such as 1000PEPEUSDT).
_FIGURE = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?(?![\w])")
# The kernel's refusals of a strategy's intent that are its normal flow, not counted by
# ``KernelRefusals``: an exit of a trade already closed (by its exit legs, a stop), a cancel
# of an order that has filled or ended, or an exit while the entry still works, and the retry
# of an intent the kernel took.
ROUTINE_REFUSALS = frozenset({"NO_POSITION", "INVALID_TRANSITION", "DUPLICATE_INTENT"})
# The longest value a refusal's reason names (``refusal_reason``).
_REFUSED_VALUE = 60


def _reason_kind(reason: str) -> str:
    """``reason`` with its figures left out: the orders refused for one cause each name their
    own figures (``insufficient margin: the order needs 1,020.00 USDT ...``): counted by their
    text no two would be alike, and a year's run would sum up as five reasons at 1 x each and
    thousands "for other reasons"."""
    return _FIGURE.sub("#", reason)


class ReasonCounts:
    """How many things were refused (``count``), with the first ``REJECTIONS_SHOWN`` reasons met
    (``reasons``), each with how many it refused: reasons that differ only in their figures
    count as one, under the first one's text. ``VenueRejections`` and ``KernelRefusals``."""

    def __init__(self, count: int = 0, reasons: Mapping[str, int] | None = None) -> None:
        self.reasons: dict[str, int] = {}
        self._kinds: dict[str, str] = {}  # each reason's kind (``_reason_kind``) to its text kept
        self._varied: set[str] = set()  # the reasons kept that stand for others of other figures
        for reason, times in (reasons or {}).items():
            self._add(reason, times)
        # Never fewer than its reasons count (a state file edited by hand).
        self.count = max(count, sum(self.reasons.values()))

    def add(self, reason: str) -> None:
        """One more refused for ``reason``."""
        self.count += 1
        self._add(reason, 1)

    def _add(self, reason: str, count: int) -> None:
        kind = _reason_kind(reason)
        kept = self._kinds.get(kind)
        if kept is None and len(self.reasons) < REJECTIONS_SHOWN:
            kept = self._kinds[kind] = reason
        if kept is not None:
            self.reasons[kept] = self.reasons.get(kept, 0) + count
            if kept != reason:
                self._varied.add(kept)

    def _plus(self, other: ReasonCounts, both: ReasonCounts) -> None:
        """``both`` (new) made these counts and ``other``'s, this one's reasons first."""
        for reasons in (self.reasons, other.reasons):
            for reason, count in reasons.items():
                both._add(reason, count)
        both.count = self.count + other.count
        both._varied.update(r for r in self._varied | other._varied if r in both.reasons)

    def text(self) -> str:
        """Each reason with how many it refused, most first, then how many were refused for
        reasons not named: ``3 x unknown asset 'ETHUSDT': ...; 2 for other reasons``."""
        shown = sorted(self.reasons.items(), key=lambda item: -item[1])
        text = "; ".join(
            f"{count} x {reason or 'no reason given'}"
            + (" (the first's figures)" if reason in self._varied else "")
            for reason, count in shown
        )
        rest = self.count - sum(self.reasons.values())
        if not rest:
            return text
        return f"{text}; {rest} for other reasons" if text else f"{rest} for other reasons"


class VenueRejections(ReasonCounts):
    """The orders the venues rejected, counted from the venue events the runtime routes (an
    ``event_listeners`` entry: ``runtime.event_listeners.append(rejections.on_event)``).

    An order the venue refuses (one for an asset it does not list, say) is taken by the
    kernel, so the strategy's outcome reads accepted and its slot is free again at once:
    nothing else in a run tells of it. ``orders`` counts them all; ``reasons`` holds the first
    ``REJECTIONS_SHOWN`` reasons met, each with how many orders it refused (``ReasonCounts``).
    A reconciliation's REJECT (of an order the venue does not hold, after a restart or a
    doubt) is no refusal."""

    def __init__(self, orders: int = 0, reasons: Mapping[str, int] | None = None) -> None:
        super().__init__(orders, reasons)

    @property
    def orders(self) -> int:
        return self.count

    def on_event(self, event: VenueEvent) -> None:
        if event.kind == KernelEventKind.REJECT and not event.event_id.startswith(RECONCILED):
            self.add(event.reason)

    def plus(self, other: VenueRejections) -> VenueRejections:
        """These rejections and ``other``'s (a later run's), this one's reasons first."""
        both = VenueRejections()
        self._plus(other, both)
        return both


def refusal_reason(outcome: KernelOutcome) -> str:
    """The kernel's refusal ``outcome`` as one reason: ``<DIAGNOSTIC_CODE>: <field>=<value>:
    <reason>``, the rule (``edge_freeze``) standing for the field where none is named, each part
    left out where the details hold none: ``INVALID_INTENT: target_size=1e+308: must be at most
    1e15 in magnitude``. A value is shown as its repr, cut to ``_REFUSED_VALUE`` characters."""
    return refusal_reason_of(outcome.diagnostic_code.name, outcome.details)


def refusal_reason_of(code: str, details: Mapping[str, object]) -> str:
    """``refusal_reason`` of a refusal of diagnostic ``code`` with ``details`` (a journal's
    intents row holds them)."""
    parts = [code]
    if "field" in details:
        value = details.get("value")
        shown = "" if value is None else shortened(repr(value), _REFUSED_VALUE)
        parts.append(f"{details['field']}={shown}" if shown else str(details["field"]))
    elif details.get("rule"):
        parts.append(str(details["rule"]))
    if details.get("reason"):
        parts.append(str(details["reason"]))
    return ": ".join(parts)


def refusals_said(refused: int, reasons: str, intents: int | None = None) -> str:
    """``the kernel refused N of M intents: <reasons>`` (``KernelRefusals.text``); without
    ``intents``, ``the kernel refused N intents: <reasons>``."""
    of = "" if intents is None else f" of {intents:,}"
    total = refused if intents is None else intents
    return f"the kernel refused {refused:,}{of} intent{'' if total == 1 else 's'}: {reasons}"


class KernelRefusals(ReasonCounts):
    """The strategies' intents the kernel refused, counted from the intents the runtime routes
    (an ``intent_listeners`` entry: ``runtime.intent_listeners.append(refusals.on_intent)``).

    A strategy hears each refusal in its outcome, but nothing else in a run tells of them: one
    whose every order is refused (a size past the kernel's bound) would read as a run that chose
    not to trade. ``intents`` counts the intents the strategies sent, ``refused`` those refused but
    for the routine ones (``ROUTINE_REFUSALS``: NO_POSITION, INVALID_TRANSITION,
    DUPLICATE_INTENT); ``reasons`` names each refusal by ``refusal_reason`` (``ReasonCounts``)."""

    def __init__(self, refused: int = 0, reasons: Mapping[str, int] | None = None, intents: int = 0) -> None:
        super().__init__(refused, reasons)
        self.intents = intents

    @property
    def refused(self) -> int:
        return self.count

    def on_intent(self, intent: KernelIntent, outcome: KernelOutcome) -> None:
        self.intents += 1
        if not outcome.accepted and outcome.diagnostic_code.name not in ROUTINE_REFUSALS:
            self.add(refusal_reason(outcome))

    def plus(self, other: KernelRefusals) -> KernelRefusals:
        """These refusals and ``other``'s (a later run's), this one's reasons first."""
        both = KernelRefusals(intents=self.intents + other.intents)
        self._plus(other, both)
        return both

    def said(self) -> str:
        """``the kernel refused N of M intents: <reasons>`` (``refusals_said``)."""
        return refusals_said(self.refused, self.text(), self.intents)
