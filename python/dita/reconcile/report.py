"""The report of a reconciliation: what it found and did, for a program (``to_dict``) and for a
person (``lines``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ReconciliationReport:
    """What reconciliation found and did. Every list item is a dict naming the order."""

    acknowledged: list[dict[str, Any]] = field(default_factory=list)
    missed_fills: list[dict[str, Any]] = field(default_factory=list)
    ended_at_venue: list[dict[str, Any]] = field(default_factory=list)
    lost_submits: list[dict[str, Any]] = field(default_factory=list)
    # Orders the venue acknowledged (or filled) and no longer has (purged some time after they
    # ended, or a venue's record lost): ended, with what they filled beyond what is booked
    # unknown (a fill may be missing), each with its ``venue_order_id``, ``booked_filled_size``,
    # ``ended_as`` and the ``reason``.
    purged_at_venue: list[dict[str, Any]] = field(default_factory=list)
    # Orders nobody manages (as the ``unknown_at_venue_*`` and ``foreign_orders_left`` items name
    # them): ``client_order_id``, ``venue_order_id``, ``asset``, ``size``, ``side``, and what the
    # venue lists filled, ``filled_size`` and ``avg_fill_price`` (None where it gives none).
    unknown_at_venue_canceled: list[dict[str, Any]] = field(default_factory=list)
    unknown_at_venue_left: list[dict[str, Any]] = field(default_factory=list)
    # Unknown orders whose cancel was sent and not confirmed yet (answered without a CANCEL_ACK,
    # EXPIRED or refusal): the venue may carry it out later, or the order work on and fill.
    unknown_at_venue_cancel_sent: list[dict[str, Any]] = field(default_factory=list)
    # Unknown orders whose cancel raised or the venue refused (with the reason): they may still
    # work at the venue.
    unknown_at_venue_cancel_failed: list[dict[str, Any]] = field(default_factory=list)
    # Open orders at the venue whose client id this kernel did not issue (another bot's, one
    # placed by hand): left alone unless ``cancel_foreign_orders``. Not a difference (``clean``).
    foreign_orders_left: list[dict[str, Any]] = field(default_factory=list)
    unresolved: list[dict[str, Any]] = field(default_factory=list)
    awaited_settled: list[dict[str, Any]] = field(default_factory=list)
    position_mismatches: list[dict[str, Any]] = field(default_factory=list)
    # The kernel's working orders the venue could not be told to follow (``watch`` raised):
    # their fills reach the kernel only at the next reconciliation.
    unwatched: list[dict[str, Any]] = field(default_factory=list)
    # Why the venue's positions could not be read ("" when they were compared): by then the
    # events above are applied, so the report says so rather than raising and losing them.
    positions_unchecked: str = ""
    # Why the venue could not be told the kernel's fills whose fees it waits for ("" when it was,
    # or need not be): ``settle_fills`` raised, and they keep their predicted fees meanwhile.
    fees_unsettled: str = ""
    events_applied: int = 0
    # Orders the kernel ended without the venue's filled size that were not asked about (not
    # listed open at the venue and beyond ``ended_lookups``, the oldest) or could not be (the
    # lookup failed): a fill that raced their end shows only in the positions.
    ended_not_asked: int = 0

    @property
    def clean(self) -> bool:
        """True when kernel and venue agreed and nothing had to be done (others' orders at the
        venue, left alone, are no disagreement)."""
        return not any(v for k, v in asdict(self).items() if k not in _COUNTS and k != "foreign_orders_left")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "clean": self.clean}

    def lines(self, skip: tuple[str, ...] = ()) -> list[str]:
        """The report for a person, one line per order (``to_dict()`` is the same for a
        program): ``missed_fills: 7-3 (slot 2, BTCUSDT): qty 1.5, price 100.0``. ``skip``
        leaves out lists the caller says in its own words."""
        said = []
        for name, items in asdict(self).items():
            if name == "events_applied" or name in skip or not items:
                continue
            if isinstance(items, str | int):
                said.append(f"{name}: {items}")
                continue
            said.extend(f"{name}: {_said(item)}" for item in items)
        return said


# The report's counts, which say how much was done, not that kernel and venue differed.
_COUNTS = ("events_applied", "ended_not_asked")


def _said(item: dict[str, Any]) -> str:
    """One report item as text: the order (or asset) first, then its other fields."""
    rest = dict(item)
    name = rest.pop("client_order_id", None) or rest.get("asset") or "?"
    where = [f"slot {rest.pop('slot_id')}"] if "slot_id" in rest else []
    if rest.get("asset") and name != rest["asset"]:
        where.append(str(rest.pop("asset")))
    elif name == rest.get("asset"):
        rest.pop("asset")
    head = f"{name} ({', '.join(where)})" if where else str(name)
    fields = ", ".join(f"{k} {_value(v)}" for k, v in rest.items())
    return f"{head}: {fields}" if fields else head


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return "(" + ", ".join(f"{k} {_value(x)}" for k, x in v.items()) + ")"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, str):
        # Escaped when it would not read as one word on the line: empty, blank, or holding a
        # line break or another control character (a venue's error with its HTTP body).
        return v if v.strip() and v.isprintable() else repr(v)
    return str(v)
