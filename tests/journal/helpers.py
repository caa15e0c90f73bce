"""A deterministic trading workload for journal tests, run on a real kernel and, in lockstep,
on a twin kernel journaling into memory: the twin's rows are the reference the ClickHouse
rows must equal (no loss, no duplicates, same values)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dita import (
    JOURNAL_COLUMNS,
    AccountEvent,
    ExecutionKernel,
    InMemoryJournal,
    KernelIntent,
    KernelOutcome,
    MockVenueAdapter,
    VenueEvent,
)
from dita.journal.clickhouse import ClickHouseJournal

ASSETS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
PRICES = {"BTC-USDT": 64_000.0, "ETH-USDT": 3_100.0, "SOL-USDT": 140.0}
T0 = 1_790_000_000.0  # 2026-09-21, a fixed clock so twins produce identical rows


def venue(seed: int = 11) -> MockVenueAdapter:
    # Some orders rest (ENTRY_WORKING / EXIT_WORKING) and some fill partially, so the journal
    # sees cancels, partial fills and venue-driven fills, not only instant fills.
    return MockVenueAdapter(seed=seed, fill_rate=0.7, partial_fill_rate=0.2, partial_fill_ratio=0.5)


class SilentVenue:
    """Takes every order and answers nothing: the test plays the venue."""

    name = "silent"

    def submit(self, order: Any) -> list[VenueEvent]:
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def silent_entries(journal: Any, kernel_id: str, slots: int) -> tuple[ExecutionKernel, list[str]]:
    """A kernel journaling venue events (DEBUG) into ``journal`` with an entry order sent in
    each of ``slots`` slots and not answered; the kernel and the orders' client ids."""
    kernel = ExecutionKernel(max_slots=slots, venue=SilentVenue(), journal=journal, kernel_id=kernel_id)
    kernel.update_control(verbosity="DEBUG", source="test")
    coids = []
    for slot in range(slots):
        intent = KernelIntent(f"e{slot}", f"t{slot}", slot, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)
        assert kernel.process_intent(intent).accepted
        order = kernel.slot_state(slot).active_entry_order
        assert order is not None
        coids.append(order.client_order_id)
    return kernel, coids


@dataclass
class Side:
    """One kernel of a twin pair and what the workload saw happen on it."""

    kernel: ExecutionKernel
    venue: MockVenueAdapter
    outcomes: list[KernelOutcome] = field(default_factory=list)


@dataclass
class Workload:
    """Drives one or two kernels with the same inputs."""

    sides: list[Side]
    max_slots: int
    clock: float = T0
    step: int = 0
    fills_settled: int = 0
    account_refused: int = 0
    last_settled: str = ""  # the fill id of the latest settlement
    last_settled_fee: float = 0.0  # and its fee
    on_step: Callable[[Workload], None] | None = None

    @property
    def main(self) -> ExecutionKernel:
        return self.sides[0].kernel

    def tick(self, dt: float = 0.05) -> float:
        self.clock += dt
        return self.clock

    def each(self) -> Iterator[Side]:
        return iter(self.sides)

    def intent(self, **kw: Any) -> None:
        kw.setdefault("timestamp", self.tick())
        for side in self.each():
            side.outcomes.append(side.kernel.process_intent(KernelIntent(**kw)))

    def feed(self, make: Callable[[Side], list[VenueEvent]]) -> None:
        for side in self.each():
            for ev in make(side):
                side.outcomes.append(side.kernel.on_venue_event(ev))

    def account(self, **kw: Any) -> None:
        kw.setdefault("timestamp", self.tick())
        for side in self.each():
            side.outcomes.append(side.kernel.on_account_event(AccountEvent(**kw)))

    def control(self, **kw: Any) -> None:
        for side in self.each():
            side.kernel.update_control(**kw, source="journal-test")

    def stage(self, slot: int) -> str:
        return self.main.slot_state(slot).fsm_state.name

    def fill_resting(self, slot: int) -> None:
        """Let the venue fill whatever order of ``slot`` is resting."""

        def events(side: Side) -> list[VenueEvent]:
            st = side.kernel.slot_state(slot)
            order = st.active_exit_order or st.active_entry_order
            if order is None:
                return []
            if order.client_order_id not in {o.client_order_id for o in side.venue.open_orders()}:
                return []
            return side.venue.fill_open_order(order.client_order_id)

        self.feed(events)

    def settle_fees(self, first_outcome: int) -> None:
        """FILL_SETTLED for each fill since ``first_outcome``: the exchange charged 2 % more."""
        main = self.sides[0]
        for out in main.outcomes[first_outcome:]:
            for ev in out.emitted_events:
                if ev.kind.name == "FILL" and ev.fill_id:
                    fee = 0.0004 * ev.price * (ev.size or ev.filled_size) * 1.02
                    self.account(
                        event_id=f"settle-{ev.fill_id}", kind="FILL_SETTLED", fill_id=ev.fill_id, fee=fee
                    )
                    self.fills_settled += 1
                    self.last_settled, self.last_settled_fee = ev.fill_id, fee

    def trade(self, i: int) -> None:
        slot = i % self.max_slots
        asset = ASSETS[i % len(ASSETS)]
        price = PRICES[asset] * (1 + ((i * 37) % 200 - 100) / 10_000)
        side = "LONG" if i % 2 == 0 else "SHORT"
        limit = i % 4 == 3
        mark = len(self.sides[0].outcomes)
        self.intent(
            intent_id=f"enter-{i}",
            trade_id=f"T{i}",
            slot_id=slot,
            asset=asset,
            side=side,
            action="ENTER",
            reference_price=price,
            target_size=round(0.1 + (i % 5) * 0.05, 2),
            order_type="LIMIT" if limit else "MARKET",
            limit_price=price * (0.999 if side == "LONG" else 1.001) if limit else 0.0,
            reason="journal-workload",
        )
        if self.stage(slot) in ("ORDER_SENT", "ENTRY_WORKING"):
            if i % 5 == 0:
                self.intent(
                    intent_id=f"cancel-{i}",
                    trade_id=f"T{i}",
                    slot_id=slot,
                    asset=asset,
                    side=side,
                    action="CANCEL",
                    reference_price=price,
                    target_size=0.0,
                    reason="too slow",
                )
            self.fill_resting(slot)
        if self.stage(slot) == "POSITION_OPEN":
            for k in self.sides:
                k.kernel.mark_price(asset, price * 1.001)
            self.intent(
                intent_id=f"exit-{i}",
                trade_id=f"T{i}",
                slot_id=slot,
                asset=asset,
                side=side,
                action="EXIT",
                reference_price=price * 1.002,
                target_size=0.0,
                reason="take profit",
            )
            for _ in range(3):
                if self.stage(slot) in ("EXIT_SENT", "EXIT_WORKING", "POSITION_OPEN"):
                    self.fill_resting(slot)
                if self.stage(slot) == "POSITION_OPEN":
                    self.intent(
                        intent_id=f"exit-{i}-again-{_}",
                        trade_id=f"T{i}",
                        slot_id=slot,
                        asset=asset,
                        side=side,
                        action="EXIT",
                        reference_price=price,
                        target_size=0.0,
                        reason="retry exit",
                    )
        self.settle_fees(mark)

    def run(self, trades: int, start: int = 0) -> None:
        for i in range(start, start + trades):
            self.trade(i)
            if i % 97 == 13:  # a refused intent: the slot does not exist
                self.intent(
                    intent_id=f"bad-{i}",
                    trade_id=f"B{i}",
                    slot_id=self.max_slots + 3,
                    asset="BTC-USDT",
                    side="LONG",
                    action="ENTER",
                    reference_price=100.0,
                    target_size=1.0,
                )
            if i % 150 == 149:  # the exchange reports a balance a little off the kernel's
                self.account(
                    event_id=f"acct-{i}",
                    kind="ACCOUNT_UPDATE",
                    wallet_balance=10_000.0 + i,
                    available_margin=9_000.0,
                    used_margin=1_000.0 + i,
                    maint_margin=50.0,
                )
            if i % 150 == 75 and self.last_settled:
                # Refused, and journaled so: the latest settlement resent under another id, at its
                # fee (at another fee it is held for a self-trade's other side)
                fill_id, fee = self.last_settled, self.last_settled_fee
                self.account(event_id=f"late-{i}", kind="FILL_SETTLED", fill_id=fill_id, fee=fee)
                self.account_refused += 1
            if i % 400 == 100:
                self.control(verbosity="DEBUG")
            if i % 400 == 150:  # at DEBUG: the venue reports a fill again, refused and journaled so
                self.feed(_last_fill_again)
            if i % 400 == 300:
                self.control(verbosity="NORMAL")
            self.step += 1
            if self.on_step is not None:
                self.on_step(self)


def _last_fill_again(side: Side) -> list[VenueEvent]:
    """The side's latest fill report, sent again as a venue resends one."""
    for out in reversed(side.outcomes):
        for ev in out.emitted_events:
            if ev.kind.name == "FILL":
                return [ev]
    return []


def twins(
    journal: Any, kernel_id: str = "desk-1", max_slots: int = 8, **options: Any
) -> tuple[Workload, InMemoryJournal]:
    """A kernel on ``journal`` (None: no journal yet) and a twin on an InMemoryJournal, driven
    in lockstep; ``options`` (a write-ahead log, say) are the first kernel's only."""
    reference = InMemoryJournal()
    sides = []
    for j, extra in ((journal, options), (reference, {})):
        v = venue()
        k = ExecutionKernel(
            max_slots=max_slots, venue=v, journal=j, kernel_id=kernel_id, seed_capital=10_000.0, **extra
        )
        sides.append(Side(k, v))
    return Workload(sides, max_slots), reference


def reference_rows(reference: InMemoryJournal) -> dict[str, list[tuple[Any, ...]]]:
    """The twin's rows per table as tuples in JOURNAL_COLUMNS order, sorted by (seq, sub)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table, cols in JOURNAL_COLUMNS.items():
        rows = [tuple(r[c] for c in cols) for r in reference.rows(table)]
        out[table] = sorted(rows, key=lambda r: (r[0], r[1]))
    return out


def normalize(table: str, row: tuple[Any, ...] | list[Any]) -> tuple[Any, ...]:
    """Make a row comparable across the two journals: ts to microseconds, JSON parsed."""
    cols = JOURNAL_COLUMNS[table]
    out = []
    for name, value in zip(cols, row, strict=True):
        if name == "ts":
            value = round(value * 1_000_000) if isinstance(value, float) else value
        elif name in ("details", "metadata"):
            value = json.loads(value) if value else {}
        elif name == "side" and table == "venue_events" and value is None:
            value = ""
        out.append(value)
    return tuple(out)


def journal_rows(journal: Any, table: str, kernel_id: str, final: bool = True) -> list[tuple[Any, ...]]:
    """Rows of ``table`` for ``kernel_id`` from ClickHouse, ts as integer microseconds."""
    cols = JOURNAL_COLUMNS[table]
    select = ", ".join("toUnixTimestamp64Micro(ts)" if c == "ts" else f"`{c}`" for c in cols)
    res = journal.query(
        f"SELECT {select} FROM {table} {'FINAL' if final else ''} WHERE kernel_id = {{k:String}} "
        "ORDER BY seq, sub",
        {"k": kernel_id},
    )
    return [normalize(table, r) for r in res.rows]


def assert_same_rows(journal: ClickHouseJournal, reference: Any, kernel_id: str) -> dict[str, int]:
    """Every table equals the twin's rows (values, order, count) and holds no physical duplicate."""
    expected = reference_rows(reference)
    counts = {}
    for table in JOURNAL_COLUMNS:
        got = journal_rows(journal, table, kernel_id)
        want = [normalize(table, r) for r in expected[table]]
        if table == "control_changes":  # stamped with the wall clock when applied, per twin
            got = [r[:2] + r[3:] for r in got]
            want = [r[:2] + r[3:] for r in want]
        assert len(got) == len(want), f"{table}: {len(got)} rows in ClickHouse, kernel produced {len(want)}"
        assert got == want, f"{table}: rows differ from what the kernel produced"
        physical = journal.query(
            f"SELECT count(), uniqExact(seq, sub) FROM {table} WHERE kernel_id = {{k:String}}",
            {"k": kernel_id},
        ).rows[0]
        assert physical == [len(want), len(want)], f"{table}: stored copies {physical} for {len(want)} rows"
        counts[table] = len(want)
    return counts


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dita.cli", "journal", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Wait for a background thread to reach a state (not a speed check: the limit is generous)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def journal_query_holding(directory: Path, sql: str) -> subprocess.Popen[str]:
    """`dita journal sql` running ``sql`` on ``directory`` in its own process, returned once it
    holds the directory: its mark written and its engine's lock taken (the mark comes first, so
    a fixed wait after it let a kernel on a loaded machine open the directory before it)."""
    from dita.journal.query import chdb_holder

    cli = [sys.executable, "-m", "dita.cli", "journal", "sql", "--dsn", f"chdb://{directory}", sql]
    query = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while chdb_holder(directory) is None or not list(directory.glob(".dita-query-*")):
            assert time.monotonic() < deadline and query.poll() is None, (
                "the query never opened the directory"
            )
            time.sleep(0.02)
    except BaseException:
        query.kill()
        query.communicate()
        raise
    return query


@contextmanager
def held_chdb_directory(
    directory: Path, *, serve_sql: bool = True, tz: str | None = None
) -> Iterator[subprocess.Popen[str]]:
    """Another process holding an embedded (chDB) journal in ``directory`` while the block
    runs (serving SQL on its socket unless ``serve_sql`` is False; its time zone ``tz`` when
    given); it lets go when the block ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom dita.journal.clickhouse import ClickHouseJournal\n"
            f"j = ClickHouseJournal({f'chdb://{directory}'!r}, serve_sql={serve_sql!r})\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\nj.close()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=None if tz is None else {**os.environ, "TZ": tz},
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.stdin.close()
        holder.wait(30)
        holder.stdout.close()


def pnl_rows(*args: str) -> list[dict[str, Any]]:
    """`dita pnl ARGS --json`'s rows, run in its own process (chDB lets one process hold a
    directory at a time)."""
    proc = subprocess.run(
        [sys.executable, "-m", "dita.cli", "pnl", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return rows
