"""What became of the legs an earlier run of a plan sent, as the kernel's write-ahead log tells
it: each intent the kernel took, the order it sent, that order's fills and how it ended. The
log is read by a read-only replay (``wal_journal_blocks``) from where the plan was written, so
a resumed run reports the fills of its legs sent before (exits and entries alike) and knows a
leg whose order ended with nothing filled, which it sends again."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dita._kernel import JOURNAL_COLUMNS, JournalBlock, WalError
from dita.rebalance.audit import replay_rows

__all__ = ["ENDINGS", "Fill", "LogUnread", "LoggedOrder", "logged_orders", "orders_in_log"]

# The transitions that end an order short of its size, as the log names their triggers.
ENDINGS = frozenset({"REJECT", "RATE_LIMITED", "CANCEL_ACK", "EXPIRED"})
_INTENT = JOURNAL_COLUMNS["intents"].index
_TRANSITION = JOURNAL_COLUMNS["transitions"].index
_FILL = JOURNAL_COLUMNS["fills"].index


@dataclass
class Fill:
    price: float
    quantity: float
    fee: float
    fill_id: str


@dataclass
class LoggedOrder:
    """The order an intent the kernel took sent: its client order id ('' when none was sent),
    its fills, and its end short of its size where the log holds one (``ending`` the trigger,
    ``filled_at_end`` the size the end states, ``reason`` the venue's)."""

    intent_id: str
    trade_id: str
    slot_id: int
    client_order_id: str = ""
    fills: list[Fill] = field(default_factory=list)
    ending: str = ""
    filled_at_end: float | None = None
    reason: str = ""


def logged_orders(kernel: Any, from_seq: int, intent_ids: Iterable[str]) -> dict[str, LoggedOrder] | None:
    """The orders of the intents among ``intent_ids`` (and their retries, ``ID:retry-N``) the
    kernel took from seq ``from_seq`` on, by intent id. None for a kernel without a log; raises
    ``LogUnread`` for one whose log cannot be read from there (its segments archived, damaged)."""
    if kernel.wal_info() is None:
        return None
    wanted = set(intent_ids)
    rows = _Rows(wanted)
    try:
        kernel.wal_journal_blocks(max(from_seq, 1), sink=rows.take, every_intent=True)
    except (ValueError, WalError, OSError) as exc:
        raise LogUnread(f"its log from seq {max(from_seq, 1):,} cannot be read ({exc})") from exc
    return rows.orders()


def orders_in_log(
    wal_dir: Path, kernel_id: str, from_seq: int, intent_ids: Iterable[str]
) -> dict[str, LoggedOrder]:
    """``logged_orders`` of the log in ``wal_dir``, read from a copy of it with no kernel open on
    it (a dry run's). Raises ``LogUnread`` for a log that cannot be read from there."""
    rows = _Rows(set(intent_ids))
    try:
        replay_rows(wal_dir, kernel_id, rows.take, max(from_seq, 1))
    except (ValueError, WalError, OSError) as exc:
        raise LogUnread(f"its log from seq {max(from_seq, 1):,} cannot be read ({exc})") from exc
    return rows.orders()


class LogUnread(Exception):
    """The kernel's log cannot be read from where a plan's legs were sent: what they did is not
    known."""


def retried(intent_id: str) -> str:
    """The leg's intent id an intent id is a retry of (itself when it is not a retry)."""
    base, sep, n = intent_id.rpartition(":retry-")
    return base if sep and n.isdigit() else intent_id


@dataclass
class _Rows:
    """The replay's rows of the wanted intents, their SUBMIT and ending transitions and fills,
    kept as they go by and put in log order at the end (a chunk holds its tables apart)."""

    wanted: set[str]
    intents: list[tuple[Any, ...]] = field(default_factory=list)
    transitions: list[tuple[Any, ...]] = field(default_factory=list)
    fills: list[tuple[Any, ...]] = field(default_factory=list)

    def take(self, blocks: list[JournalBlock]) -> None:
        for block in blocks:
            if block.table == "intents":
                self.intents += [r for r in block.tuples() if self._wanted(r[_INTENT("intent_id")])]
            elif block.table == "transitions":
                triggers = ENDINGS | {"SUBMIT"}
                self.transitions += [r for r in block.tuples() if r[_TRANSITION("trigger")] in triggers]
            elif block.table == "fills":
                self.fills += block.tuples()

    def _wanted(self, intent_id: str) -> bool:
        # A leg planned again at a moved price goes under a retry id of its own (``run``).
        return intent_id in self.wanted or retried(intent_id) in self.wanted

    def orders(self) -> dict[str, LoggedOrder]:
        taken: dict[str, LoggedOrder] = {}
        for row in self.intents:
            intent_id = row[_INTENT("intent_id")]
            # A duplicate's refusal is logged too: the first row taken is the intent's.
            if row[_INTENT("accepted")] and intent_id not in taken:
                taken[intent_id] = LoggedOrder(intent_id, row[_INTENT("trade_id")], row[_INTENT("slot_id")])
        by_order: dict[str, LoggedOrder] = {}
        working: dict[tuple[str, int], LoggedOrder] = {}  # the order each trade's slot works
        key = _TRANSITION("seq"), _TRANSITION("sub")
        for row in sorted(self.transitions, key=lambda r: (r[key[0]], r[key[1]])):
            slot = (row[_TRANSITION("trade_id")], row[_TRANSITION("slot_id")])
            details = json.loads(row[_TRANSITION("details")] or "{}")
            if row[_TRANSITION("trigger")] == "SUBMIT":
                order = taken.get(row[_TRANSITION("intent_id")])
                working.pop(slot, None)
                if order is not None and details.get("client_order_id"):
                    order.client_order_id = str(details["client_order_id"])
                    by_order[order.client_order_id] = working[slot] = order
            elif (order := working.pop(slot, None)) is not None:
                order.ending = row[_TRANSITION("trigger")]
                order.filled_at_end = float(details.get("filled_size", 0.0))
                order.reason = str(details.get("reason", ""))
        for row in self.fills:
            order = by_order.get(row[_FILL("client_order_id")])
            if order is not None:
                fill = Fill(row[_FILL("price")], row[_FILL("qty")], row[_FILL("fee")], row[_FILL("fill_id")])
                order.fills.append(fill)
        return taken
