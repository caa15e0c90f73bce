"""Where a ``dita paper`` replay is, and where a run continuing its kernel after a kill goes on.

A place in the data is a time and how many of its rows were handled (rows of one time are
handed over in file order; a file has one row an asset and time). The state file keeps the
replay's place at each save; the kernel's write-ahead log keeps what the kernel did after it,
each act with its own place: an intent carries where it was decided in its metadata
(``TradingRuntime(record_data_place=True)``), and a fill the paper venue made on a row is of that
row's asset and time. A run killed between two saves continues after the last of them
(``last_place``), so no row the killed run traded is traded again and no row it never handled
is skipped. A paper book saved before the log's end is brought forward to it (``catch_up_book``),
for ``dita paper`` and ``dita rebalance --paper-book`` alike."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dita._numbers import is_real

if TYPE_CHECKING:
    from dita.backtest.data import MarketData
    from dita.venues.paper import CaughtUp, PaperVenue

# A place in the data: a time, and how many of its rows were handled (None: every one).
Place = tuple[float, int | None]


def place_order(place: Place) -> tuple[float, float]:
    """``place`` as it sorts: every row of a time after any count of them."""
    ts, rows = place
    return ts, math.inf if rows is None else float(rows)


@dataclass(frozen=True)
class Act:
    """What the kernel did at a place of the data: at ``ts`` after ``rows`` of its rows (None:
    all of them, the place of an act the log does not pin down), or, for a fill the paper venue
    made on market data, on the row of ``asset`` at ``ts``."""

    ts: float
    rows: int | None = None
    asset: str = ""

    def place(self, data: MarketData) -> Place:
        """Where in ``data`` this act was: a fill's row found by its asset among the rows of its
        time (every row of that time when the data has none of that asset then)."""
        if not self.asset:
            return self.ts, self.rows
        lo = int(data.ts.searchsorted(self.ts, side="left"))
        hi = int(data.ts.searchsorted(self.ts, side="right"))
        for i in range(lo, hi):
            if data.asset[i] == self.asset:
                return self.ts, i - lo + 1
        return self.ts, None


@dataclass
class LogAfterSave:
    """What the kernel's log holds after the state file's save: the fills it booked (its
    journal's ``fills`` rows, in the order booked), the client order ids of the orders it sent,
    when it last asked each trade's cancel, its acts (``Act``), and the reasons of the orders the
    venue rejected and of the intents the kernel refused (but its routine refusals), which the
    state file counts over every run."""

    fills: list[dict[str, Any]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    cancels: dict[str, float] = field(default_factory=dict)
    acts: list[Act] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


def last_place(acts: Iterable[Act], data: MarketData) -> Place | None:
    """The place in ``data`` of the last of ``acts`` (None without one): the rows up to it were
    handled; those after it were not, or made the kernel do nothing."""
    return max((act.place(data) for act in acts), key=place_order, default=None)


def read_log_after_save(kernel: Any, from_seq: int, to_seq: int) -> LogAfterSave:
    """What ``kernel``'s log records ``from_seq..=to_seq`` hold (``LogAfterSave``), derived again
    by a read-only replay of the log (``wal_journal_blocks``), whatever its journal verbosity was.
    Raises what reading the log raises (WalError, OSError, ValueError)."""
    from dita._kernel import JOURNAL_COLUMNS
    from dita.reconcile import EVENT_ID_PREFIX
    from dita.runtime.refusals import ROUTINE_REFUSALS, refusal_reason_of

    tables = ("fills", "transitions", "intents")
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}

    def sink(blocks: list[Any]) -> None:
        for block in blocks:
            if block.table in rows:
                names = JOURNAL_COLUMNS[block.table]
                rows[block.table].extend(dict(zip(names, t, strict=True)) for t in block.tuples())

    kernel.wal_journal_blocks(from_seq, to_seq, sink=sink, every_intent=True)
    by_seq = lambda r: (r["seq"], r["sub"])  # noqa: E731
    fills, moves, intents = (sorted(rows[name], key=by_seq) for name in tables)
    read = LogAfterSave(fills=fills)
    for t in moves:
        if t["trigger"] == "SUBMIT" and (sent := _sent_order(t)):
            read.sent.append(sent)
        elif t["trigger"] == "CANCEL_REQUESTED":
            read.cancels[t["trade_id"]] = float(t["ts"])
        elif t["trigger"] == "REJECT" and not str(t["event_id"]).startswith(EVENT_ID_PREFIX):
            read.rejections.append(str(_json_object(t["details"]).get("reason") or ""))
    read.refusals = [
        refusal_reason_of(str(r["diagnostic_code"]), _json_object(r["details"]))
        for r in intents
        if not r["accepted"] and r["diagnostic_code"] not in ROUTINE_REFUSALS
    ]
    read.acts = _acts(fills, moves, intents)
    return read


def _json_object(text: Any) -> dict[str, Any]:
    """``text``, a journal row's JSON object, read ({} for anything else). The kernel writes a
    whole float as an integer (1e308 as 309 digits): one past a float's exact integers is read as
    the float it was, so a refusal names it as the run that met it did."""
    try:
        value = json.loads(text or "{}", parse_int=lambda t: float(t) if len(t.lstrip("-")) > 15 else int(t))
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _unplaced(move: dict[str, Any]) -> bool:
    """A transition the log does not place among the data's rows: a slot loaded from outside, or
    an edge freeze's cancel."""
    if move["trigger"] == "SLOTS_LOADED":
        return True
    return (
        move["trigger"] == "CANCEL_REQUESTED" and _json_object(move["details"]).get("reason") == "edge_freeze"
    )


def _acts(
    fills: list[dict[str, Any]], moves: list[dict[str, Any]], intents: list[dict[str, Any]]
) -> list[Act]:
    """The kernel's acts in the log's rows, record by record. An intent is where it was decided
    (its metadata; an intent without it, of a log an older dita wrote, at every row of its time).
    A fill is on its asset's row, but one of the order an intent just sent, at that intent's
    time, as a taker: the paper venue's answer to it (a quote taken at once), at the intent's
    place. Reconciliation's events are no act on the data; a venue's other events (an
    acknowledgement, a cancel, an expiry) say their time was reached; a transition that names
    neither an intent nor an event is at every row of its time, but for a slot loaded from
    outside (``SLOTS_LOADED``: a strategy's write to its slot) and an edge freeze's cancel, which
    the log does not place: taken for acts at every row, they would skip the rows after them."""
    from dita.reconcile import EVENT_ID_PREFIX

    records: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for name, table in (("fills", fills), ("moves", moves), ("intents", intents)):
        for r in table:
            records.setdefault(r["seq"], {"fills": [], "moves": [], "intents": []})[name].append(r)
    acts: list[Act] = []
    # The order the last intent sent, its trade and time, while the records after it answer it.
    answering: tuple[str, str, float] | None = None
    last_seq = None
    for seq in sorted(records):
        record = records[seq]
        if answering is not None and not _answers(record, answering[0], seq, last_seq):
            answering = None
        last_seq = seq
        if record["intents"]:
            acts.extend(_intent_act(r) for r in record["intents"])
            sent = [_sent_order(t) for t in record["moves"] if t["trigger"] == "SUBMIT"]
            r = record["intents"][-1]
            answering = (str(r["trade_id"]), sent[-1], float(r["ts"])) if sent and sent[-1] else None
            continue
        filled = set()
        for f in record["fills"]:
            filled.add(f["event_id"])
            if str(f["event_id"]).startswith(EVENT_ID_PREFIX):
                continue
            if answering is not None and _answer_fill(f, answering):
                continue
            acts.append(Act(float(f["ts"]), asset=str(f["asset"])))
        for t in record["moves"]:
            event = str(t["event_id"])
            if event.startswith(EVENT_ID_PREFIX) or event in filled or t["intent_id"] or _unplaced(t):
                continue
            acts.append(Act(float(t["ts"]), 0 if event else None))
    return acts


def _intent_act(row: dict[str, Any]) -> Act:
    """An intent's act: at the place its metadata records, else at every row of its time."""
    meta = _json_object(row["metadata"])
    at, rows = meta.get("data_time"), meta.get("rows_at_data_time")
    counted = isinstance(rows, int) and not isinstance(rows, bool) and rows >= 0
    if is_real(at) and math.isfinite(at) and counted:
        return Act(float(at), rows)
    return Act(float(row["ts"]), None)


def _sent_order(move: dict[str, Any]) -> str:
    """The client order id a SUBMIT transition names ('' when it names none)."""
    return str(_json_object(move["details"]).get("client_order_id") or "")


def _answers(record: dict[str, list[dict[str, Any]]], trade_id: str, seq: int, last_seq: int | None) -> bool:
    """Whether ``record`` (at ``seq``) may be the venue's answer to the intent of trade
    ``trade_id`` just before it: the next record, of that trade's events only."""
    rows = [*record["moves"], *record["fills"]]
    return (
        last_seq is not None
        and seq == last_seq + 1
        and not record["intents"]
        and bool(rows)
        and all(r["event_id"] and r["trade_id"] == trade_id for r in rows)
    )


def _answer_fill(fill: dict[str, Any], answering: tuple[str, str, float]) -> bool:
    """Whether ``fill`` is the paper venue's answer to the order just sent (``answering``: its
    trade, client order id and time): taken at once, at the intent's time, as a taker. A fill on
    later data is a maker's (the order rested) or at a later time."""
    _, sent, at = answering
    return fill["client_order_id"] == sent and float(fill["ts"]) == at and fill["liquidity"] == "TAKER"


class CatchUp:
    """What a continued run read from the log after a book saved before its end, and what the
    paper venue made of it (``catch_up_book``)."""

    def __init__(self, saved: int) -> None:
        self.saved = saved
        self.rows: list[dict[str, Any]] = []  # the kernel's fills after the save, journal rows
        self.venue: CaughtUp | None = None
        self.unread = ""  # why the log could not be read (then nothing was caught up)


def catch_up_book(venue: PaperVenue, kernel: Any, saved: int, after_save: LogAfterSave) -> CatchUp:
    """Bring ``venue``'s book, just restored from a save at the kernel's seq ``saved``, forward to
    ``kernel``'s log, whose records after the save ``after_save`` holds: the fills the kernel
    booked (its journal's ``fills`` rows, derived from the log, which holds only the fills it
    accepted) and the orders it works now, with their cancels asked (``PaperVenue.catch_up``)."""
    from dita.reconcile import EVENT_ID_PREFIX
    from dita.venues.paper import BookedFill

    done = CatchUp(saved)
    done.rows = after_save.fills
    fills = [
        BookedFill(
            event_id=r["event_id"],
            fill_id=r["fill_id"],
            client_order_id=r["client_order_id"],
            venue_order_id=r["venue_order_id"],
            asset=r["asset"],
            side=r["side"],
            price=r["price"],
            qty=r["qty"],
            fee=r["fee"],
            liquidity=r["liquidity"],
        )
        # Reconciliation's own fills were the kernel catching up with what the venue held.
        for r in done.rows
        if not str(r["event_id"]).startswith(EVENT_ID_PREFIX)
    ]
    working = kernel.open_orders()
    cancels = after_save.cancels
    asked = {o.client_order_id: cancels[o.trade_id] for o in working if o.trade_id in cancels}
    done.venue = venue.catch_up(fills, working, asked, after_save.sent)
    return done


def fill_entry(row: dict[str, Any]) -> dict[str, Any]:
    """A fill of the state file's list (``PaperSession._on_fill``) from its journal row."""
    return {
        "ts": row["ts"],
        "trade_id": row["trade_id"],
        "asset": row["asset"],
        "side": row["side"],
        "price": row["price"],
        "qty": row["qty"],
        "fee": row["fee"],
        "realized_pnl": row["realized_pnl"],
        "fill_id": row["fill_id"],
    }


class Replayed:
    """Where a replay is: the time of the last row handed to the runtime and how many rows
    of that time were (across the runs continuing one kernel), for the state file."""

    def __init__(self, ts: float | None, n: int | None) -> None:
        self.ts, self.n = ts, n
        self.before: tuple[float | None, int | None] = (ts, n)
        self.yielded = 0

    @classmethod
    def after(cls, previous: dict[str, Any] | None) -> Replayed:
        """Where the run ``previous`` (its state file) left the replay; nowhere yet for None."""
        ts = (previous or {}).get("data_time")
        if not is_real(ts) or not ts:
            return cls(None, 0)
        n = (previous or {}).get("rows_at_data_time")
        # A file without the count (or a bad one) continues after every row of its time.
        return cls(float(ts), n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else None)

    def feed(self, items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            self.before = (self.ts, self.n)
            if item.ts == self.ts and self.n is not None:
                self.n += 1
            else:
                self.ts, self.n = float(item.ts), 1
            self.yielded += 1
            yield item

    def at(self, taken: int) -> tuple[float | None, int | None]:
        """Time and count as of the ``taken`` rows the runtime took this run: the last row
        fetched is not among them when the run stopped before handling it."""
        return (self.ts, self.n) if taken >= self.yielded else self.before


def rows_after(feed: Iterable[Any], after: float, skip: int) -> Iterator[Any]:
    """``feed`` without its rows before ``after`` and the first ``skip`` rows at it."""
    for item in feed:
        if item.ts < after:
            continue
        if item.ts == after and skip > 0:
            skip -= 1
            continue
        yield item


def rows_between(
    data: MarketData, make: Any, names: tuple[str, ...], since: tuple[float | None, int | None], until: Place
) -> list[Any]:
    """The rows of ``data`` (as ``make`` of the columns ``names``) after the place ``since`` (the
    state file's; a time of None: from the first row) up to the place ``until``, in order."""
    ts = data.ts
    lo = 0 if since[0] is None else _end_of(data, (since[0], since[1]))
    hi = _end_of(data, until)
    cols = [data.columns[c] for c in names]
    return [make(data.asset[i], float(ts[i]), *(float(c[i]) for c in cols)) for i in range(lo, hi)]


def _end_of(data: MarketData, place: Place) -> int:
    """The index of the first row of ``data`` after ``place``."""
    at, rows = place
    lo = int(data.ts.searchsorted(at, side="left"))
    hi = int(data.ts.searchsorted(at, side="right"))
    return hi if rows is None else min(lo + rows, hi)
