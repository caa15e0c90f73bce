"""A ledger-keeping venue that misbehaves, played against the kernel with a write-ahead log
(imported by module name, as kernel_helpers; `python chaos_driver.py FIRST LAST [STEPS SLOTS
[strict]]` runs seeds and prints the runs with problems or position mismatches).

The venue keeps the truth (each order's real fills, with fill ids) and reports it late and
reordered (fills before acks, acks after fills, ends before the fills they raced), repeated
(the same event, the same fill under a new event id with or without its fill id, total-only
reports), by its own order id only, with a `remaining_size` that disagrees, with cancels
throttled before the ack (the order working on), and (not strict) partly lost, with ends that
carry no filled figure. The strategy enters, exits and cancels on several slots; account
facts and marks come in between. The kernel is restarted from its log mid-stream and
reconciled with the venue mid-stream and at the end, and a twin kernel fed the same inputs is
never restarted.

Checked: at every step no trade books more entry or exit than the venue filled and
K = seed + realized - fees + funding; every outcome of the restarted kernel equals the twin's;
at the end the recovered kernel equals the live one and the twin; a position that differs from
the venue's is never silent (a CRITICAL or UNKNOWN_ORDER outcome, an `unreported_qty`, and the
reconciliation's `position_mismatches`); strict, every fill the venue made is booked (positions
equal, nothing awaited) and the fees are the truth's unless a total-only report booked another
fill's part at its own price."""

from __future__ import annotations

import gc
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dita import AccountEvent, ExecutionKernel, KernelIntent, VenueEvent, VenueOrder
from dita.reconcile import reconcile_with_venue

LOT = 0.1
RATE = 0.001
CRIT = {"CRITICAL"}


@dataclass
class Truth:
    order: VenueOrder
    vid: str
    trade_id: str
    entry: bool
    fills: list[tuple[str, float, float, float]] = field(default_factory=list)  # id, qty, price, total
    status: str = "NEW"  # NEW ACK FILLED CANCELED EXPIRED REJECTED
    cancel_pending: bool = False
    ack_sent: bool = False

    @property
    def total(self) -> float:
        return self.fills[-1][3] if self.fills else 0.0

    @property
    def open(self) -> bool:
        return self.status in ("NEW", "ACK")

    def status_order(self) -> VenueOrder:
        o = self.order
        notional = sum(q * p for _, q, p, _ in self.fills)
        st = {"NEW": "ACKNOWLEDGED", "ACK": "ACKNOWLEDGED"}.get(self.status, self.status)
        if st == "ACKNOWLEDGED" and self.fills:
            st = "PARTIALLY_FILLED"
        return VenueOrder(
            o.client_order_id,
            o.slot_id,
            o.trade_id,
            o.asset,
            o.order_side,
            o.order_type,
            o.price,
            o.size,
            venue_order_id=self.vid,
            filled_size=min(self.total, o.size),
            avg_fill_price=notional / self.total if self.total else 0.0,
            status=st,
        )


class ChaosVenue:
    name = "chaos"

    def __init__(self, rng: random.Random, sync_ack: float) -> None:
        self.rng = rng
        self.sync_ack = sync_ack
        self.vid_only = 0.0
        self.strict = False
        self.checkpoint_every = 0
        self.known_vids: set[str] = set()
        self.orders: dict[str, Truth] = {}
        self.queue: list[VenueEvent] = []
        self.answers: dict[str, list[VenueEvent]] = {}
        self.n = 0
        self.t = 1_700_000_000.0

    def ts(self) -> float:
        self.t += 1.0
        return self.t

    def eid(self, tag: str) -> str:
        self.n += 1
        return f"{tag}{self.n}"

    def ev(self, tr: Truth, kind: str, **kw: Any) -> VenueEvent:
        o = tr.order
        vid = tr.vid if (kw.pop("with_vid", True)) else ""
        coid = o.client_order_id
        known = not self.strict or vid in self.known_vids
        if vid and kind != "ORDER_ACK" and known and self.rng.random() < self.vid_only:
            coid = ""  # the venue names the order by its own id only
        return VenueEvent(
            kw.pop("event_id", None) or self.eid(kind[:2]),
            o.trade_id if self.rng.random() < 0.7 else "",
            o.slot_id,
            kind,
            venue_order_id=vid,
            venue_client_id=coid,
            side=o.order_side,
            asset=o.asset,
            timestamp=self.ts(),
            **kw,
        )

    # -- adapter interface
    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        tr = Truth(order, f"V{order.client_order_id}", order.trade_id, order.is_entry)
        self.orders[order.client_order_id] = tr
        self.answers[order.client_order_id] = []
        if self.rng.random() < self.sync_ack:
            tr.status = "ACK"
            tr.ack_sent = True
            self.answers[order.client_order_id] = [self.ev(tr, "ORDER_ACK")]
        return list(self.answers[order.client_order_id])

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        tr = self.orders.get(order.client_order_id)
        if tr is not None:
            tr.cancel_pending = True
        return []

    def open_orders(self) -> list[VenueOrder]:
        return [tr.status_order() for tr in self.orders.values() if tr.open]

    def order_status(self, coid: str) -> VenueOrder | None:
        tr = self.orders.get(coid)
        return None if tr is None else tr.status_order()

    def positions(self) -> dict[str, float]:
        pos: dict[str, float] = {}
        for tr in self.orders.values():
            sign = 1.0 if tr.order.order_side.name == "BUY" else -1.0
            pos[tr.order.asset] = pos.get(tr.order.asset, 0.0) + sign * tr.total
        return pos

    # -- venue actions (the truth moves, reports are queued)
    def do_ack(self, tr: Truth) -> None:
        if tr.status == "NEW":
            tr.status = "ACK"
        if not tr.ack_sent and tr.status not in ("REJECTED",):
            tr.ack_sent = True
            self.queue.append(self.ev(tr, "ORDER_ACK"))

    def do_fill(self, tr: Truth, lossy: float, dup: float) -> None:
        if not tr.open:
            return
        left = round((tr.order.size - tr.total) / LOT)
        if not tr.entry:  # reduce-only: an exit never takes the venue's position below 0
            left = min(left, round(self.positions().get(tr.order.asset, 0.0) / LOT))
        if left <= 0:
            return
        lots = self.rng.randint(1, left)
        qty = round(lots * LOT, 10)
        total = round(tr.total + qty, 10)
        price = round(self.rng.uniform(90, 110), 2)
        fid = f"F{tr.order.client_order_id}-{len(tr.fills)}"
        tr.fills.append((fid, qty, price, total))
        if tr.status == "NEW":
            tr.status = "ACK"
        if abs(total - tr.order.size) < 1e-9:
            tr.status = "FILLED"
        rem = tr.order.size - total
        if self.rng.random() < 0.2:
            rem = self.rng.choice([0.0, tr.order.size, rem + 1.0])  # remaining disagrees
        ev = self.ev(
            tr,
            "FILL",
            price=price,
            size=qty,
            filled_size=total,
            remaining_size=max(rem, 0.0),
            fill_id=fid,
            status="FILLED" if tr.status == "FILLED" else "PARTIALLY_FILLED",
            with_vid=self.rng.random() < 0.5,
        )
        if self.rng.random() >= lossy:
            self.queue.append(ev)
        while self.rng.random() < dup:
            form = self.rng.randrange(4)
            if form == 0:
                self.queue.append(ev)  # the same event again
            elif form == 1:  # same fill id, new event id
                self.queue.append(self.ev(tr, "FILL", price=price, size=qty, filled_size=total, fill_id=fid))
            elif form == 2:  # no fill id, its running total
                self.queue.append(self.ev(tr, "FILL", price=price, size=qty, filled_size=total))
            else:  # total only
                self.queue.append(self.ev(tr, "FILL", price=price, size=0.0, filled_size=total))

    def do_end(self, tr: Truth, kind: str, figure: bool) -> None:
        """Cancel ack / expiry / reject of an open order (reject only when it never traded)."""
        if not tr.open:
            if tr.cancel_pending and tr.status == "FILLED":
                tr.cancel_pending = False
                self.queue.append(self.ev(tr, "CANCEL_REJECT", reason="filled"))
            return
        if kind == "REJECT" and tr.fills:
            return
        tr.status = {"CANCEL_ACK": "CANCELED", "EXPIRED": "EXPIRED", "REJECT": "REJECTED"}[kind]
        tr.cancel_pending = False
        figure = figure or self.strict  # an end without a figure hides a fill it raced
        self.queue.append(self.ev(tr, kind, filled_size=tr.total if figure else 0.0))

    def do_cancel_answer(self, tr: Truth, figure: bool) -> None:
        if not tr.cancel_pending:
            return
        r = self.rng.random()
        if not tr.open:
            self.do_end(tr, "CANCEL_ACK", figure)
        elif r < 0.6:
            self.do_end(tr, "CANCEL_ACK", figure)
        elif r < 0.8:
            tr.cancel_pending = False
            self.queue.append(self.ev(tr, "CANCEL_REJECT", reason="busy"))
        else:
            # The order works on. Before the kernel heard of it (an ack or a fill), the kernel
            # ends it, as the throttle may have been its submit's, but keeps it for its fills
            # (docs/concepts/orders-and-fills.md): strict runs book them all.
            tr.cancel_pending = False
            self.queue.append(self.ev(tr, "RATE_LIMITED", retry_after=1.0))


class Echo:
    """The twin kernel's venue: answers each submit as the chaos venue answered it."""

    name = "echo"

    def __init__(self, venue: ChaosVenue) -> None:
        self.venue = venue

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        return list(self.venue.answers[order.client_order_id])

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []


def said(ev: VenueEvent) -> str:
    return f"{ev.event_id} {ev.kind.name} {ev.venue_client_id} size={ev.size} tot={ev.filled_size}"


def waits_left(k: ExecutionKernel) -> list[float]:
    return [s["awaited_fill_qty"] for s in k.slots() if s["awaited_fill_qty"]]


def open_kernel(wal: Path, venue: ChaosVenue, slots: int) -> ExecutionKernel:
    return ExecutionKernel(
        max_slots=slots,
        venue=venue,
        kernel_id="chaos",
        wal_dir=str(wal),
        fsync="none",
        wal_checkpoint_every=venue.checkpoint_every,
    )


@dataclass
class Run:
    log: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    mixed: bool = False


def play(
    seed: int, wal: Path, steps: int = 150, slots: int = 3, verbose: bool = False, strict: bool = False
) -> Run:
    """``strict``: no report is lost and every end carries its filled size, so every fill
    must end up booked."""
    rng = random.Random(seed)
    lossy = 0.0 if strict else rng.choice([0.0, 0.0, 0.1])
    dup = rng.choice([0.0, 0.3, 0.6])
    venue = ChaosVenue(rng, sync_ack=rng.choice([0.0, 0.5]))
    venue.vid_only = rng.choice([0.0, 0.0, 0.2])
    venue.strict = strict
    venue.checkpoint_every = rng.choice([0, 5, 17])
    funding = 0.0
    k = open_kernel(wal, venue, slots)
    k.set_exchange_config({"taker_rate": RATE, "maker_rate": RATE, "lot_step": LOT})
    # A twin fed the same inputs, never restarted: each outcome must be the same.
    twin = ExecutionKernel(max_slots=slots, venue=Echo(venue), kernel_id="chaos")
    twin.set_exchange_config({"taker_rate": RATE, "maker_rate": RATE, "lot_step": LOT})
    run = Run()
    nint = 0
    ntrade = 0

    def both(call: str, arg: Any) -> Any:
        out = getattr(k, call)(arg)
        other = getattr(twin, call)(arg)
        if call == "on_venue_event" and out.accepted and arg.kind.name in ("ORDER_ACK", "FILL"):
            if arg.venue_order_id and arg.venue_client_id:
                venue.known_vids.add(arg.venue_order_id)
        a = (out.accepted, out.diagnostic_code.name, out.severity.name, dict(out.details))
        b = (other.accepted, other.diagnostic_code.name, other.severity.name, dict(other.details))
        if a != b:
            run.problems.append(f"restarted and twin differ on {call}: {a} != {b}")
        return out

    def mirror(ev: VenueEvent, out: Any) -> None:
        other = twin.on_venue_event(ev)
        if (other.accepted, other.diagnostic_code) != (out.accepted, out.diagnostic_code):
            run.problems.append(f"twin refused reconciliation event {ev.event_id}: {other.details}")

    def note(what: str, out: Any) -> None:
        sev = out.severity.name
        code = out.diagnostic_code.name
        line = f"{what} -> {code} {sev} {dict(out.details)}"
        run.log.append(line)
        if verbose:
            print(line)
        # A settlement's UNKNOWN_ORDER (its fill settled already) says nothing of positions: one
        # that came before its fill is held for it, not refused.
        unknown = code == "UNKNOWN_ORDER" and not what.startswith("SETTLE")
        if sev in CRIT or code == "OVERFILL" or unknown or "unreported_qty" in out.details:
            run.flags.append(line)
        if what.startswith("FI") and "size=0.0 " in what and code == "OK":
            run.mixed = True  # a total-only report books its whole interval at its one price

    def check(where: str) -> None:
        # No double booking: a trade's booked entries and exits never pass the venue's truth.
        for s in k.slots():
            if not s["trade_id"]:
                continue
            t = s["trade_id"]
            ent = sum(tr.total for tr in venue.orders.values() if tr.trade_id == t and tr.entry)
            ext = sum(tr.total for tr in venue.orders.values() if tr.trade_id == t and not tr.entry)
            booked_exit = s["initial_size"] - s["size"]
            if s["initial_size"] > ent + 1e-9 or booked_exit > ext + 1e-9:
                run.problems.append(
                    f"{where}: slot {s['slot_id']} trade {t} booked entry {s['initial_size']} exit "
                    f"{booked_exit} > truth {ent} / {ext}"
                )
            for o in (s["active_entry_order"], s["active_exit_order"]):
                if o is not None:
                    tr = venue.orders[o["client_order_id"]]
                    if o["filled_size"] > tr.total + 1e-9:
                        run.problems.append(
                            f"{where}: order {o['client_order_id']} {o['filled_size']} > {tr.total}"
                        )
        a = k.account()
        want = a["seed_capital"] + a["k_realized_pnl"] - a["k_fees_paid"] + a["k_funding_net"]
        if abs(a["k_capital"] - want) > 1e-6:
            run.problems.append(f"{where}: k_capital {a['k_capital']} != {want}")

    for step in range(steps):
        r = rng.random()
        try:
            if r < 0.12:  # ENTER
                s = rng.randrange(slots)
                ntrade += 1
                nint += 1
                size = round(rng.randint(1, 30) * LOT, 10)
                it = KernelIntent(
                    f"i{nint}",
                    f"t{ntrade}",
                    s,
                    f"A{s}",
                    "LONG",
                    "ENTER",
                    100.0,
                    size,
                    order_type="LIMIT",
                    limit_price=100.0,
                    timestamp=venue.ts(),
                )
                note(f"ENTER s{s} t{ntrade} {size}", both("process_intent", it))
            elif r < 0.20:  # EXIT
                s = rng.randrange(slots)
                st = k.slot_dict(s)
                nint += 1
                tgt = 0.0 if rng.random() < 0.5 else round(rng.randint(1, 20) * LOT, 10)
                it = KernelIntent(
                    f"i{nint}", st["trade_id"], s, f"A{s}", "LONG", "EXIT", 100.0, tgt, timestamp=venue.ts()
                )
                note(f"EXIT s{s} {tgt}", both("process_intent", it))
            elif r < 0.26:  # CANCEL
                s = rng.randrange(slots)
                st = k.slot_dict(s)
                nint += 1
                it = KernelIntent(
                    f"i{nint}", st["trade_id"], s, f"A{s}", "LONG", "CANCEL", 100.0, 0.0, timestamp=venue.ts()
                )
                note(f"CANCEL s{s}", both("process_intent", it))
            elif r < 0.62:  # venue acts
                live = [tr for tr in venue.orders.values() if tr.open or tr.cancel_pending]
                if live:
                    tr = rng.choice(live)
                    a = rng.random()
                    if a < 0.2:
                        venue.do_ack(tr)
                    elif a < 0.75:
                        venue.do_fill(tr, lossy, dup)
                    elif a < 0.9:
                        venue.do_cancel_answer(tr, figure=rng.random() < 0.8)
                    elif a < 0.95:
                        venue.do_end(tr, "EXPIRED", figure=rng.random() < 0.8)
                    else:
                        venue.do_end(tr, "REJECT", figure=True)
            elif r < 0.93:  # deliver, reordered
                if venue.queue:
                    i = 0 if rng.random() < 0.4 else rng.randrange(len(venue.queue))
                    ev = venue.queue.pop(i)
                    note(
                        said(ev),
                        both("on_venue_event", ev),
                    )
            elif r < 0.95:  # restart from the log
                before = k.snapshot()
                k.close()
                del k
                gc.collect()
                k = open_kernel(wal, venue, slots)
                after = k.snapshot()
                if after != before:
                    diff = {
                        key: (before.get(key), after.get(key))
                        for key in set(before) | set(after)
                        if before.get(key) != after.get(key)
                    }
                    run.problems.append(f"step {step}: recovered != live: {diff}")
                run.log.append("RESTART")
            elif r < 0.98:  # account facts and marks, through both kernels
                kind = rng.randrange(3)
                if kind == 0:
                    amount = round(rng.uniform(-1, 1), 4)
                    out = both(
                        "on_account_event", AccountEvent(venue.eid("fund"), "FUNDING_FEE", amount=amount)
                    )
                    if out.accepted:
                        funding += amount
                    note("FUNDING", out)
                elif kind == 1:
                    fills = [f for tr in venue.orders.values() for f in tr.fills]
                    if fills:
                        fid, q, p, _ = rng.choice(fills)
                        ev = AccountEvent(
                            venue.eid("set"), "FILL_SETTLED", fill_id=fid, fee=round(q * p * RATE, 12)
                        )
                        note(f"SETTLE {fid}", both("on_account_event", ev))
                else:
                    s = rng.randrange(slots)
                    px = round(rng.uniform(90, 110), 2)
                    ts = venue.ts()
                    k.mark_price(f"A{s}", px, ts)
                    twin.mark_price(f"A{s}", px, ts)
            else:  # reconcile mid-stream
                rep = reconcile_with_venue(k, on_applied=mirror)
                run.log.append(f"RECONCILE {rep.to_dict()}")
                if rep.unresolved or rep.position_mismatches:
                    run.flags.append(f"reconcile: {rep.to_dict()}")
        except Exception as exc:
            run.problems.append(f"step {step}: raised {type(exc).__name__}: {exc}")
            raise
        check(f"step {step}")

    # The venue finishes: cancels answered, every queued report delivered, then reconcile.
    for tr in list(venue.orders.values()):
        venue.do_cancel_answer(tr, figure=True)
    while venue.queue:
        ev = venue.queue.pop(rng.randrange(len(venue.queue)))
        note(
            said(ev),
            both("on_venue_event", ev),
        )
    check("drained")
    rep = reconcile_with_venue(k, on_applied=mirror)
    run.log.append(f"RECONCILE {rep.to_dict()}")
    check("reconciled")
    if abs(k.account()["k_funding_net"] - funding) > 1e-9:
        run.problems.append(f"end: funding {k.account()['k_funding_net']} != {funding}")
    if twin.snapshot() != k.snapshot():
        run.problems.append("end: twin != restarted")
    # Truth vs booked, per asset; fees against the truth's notional.
    theirs = venue.positions()
    mine: dict[str, float] = {}
    for s in k.slots():
        if s["size"] > 0:
            mine[s["asset"]] = mine.get(s["asset"], 0.0) + s["size"]
    mism = {
        a: (mine.get(a, 0.0), theirs.get(a, 0.0))
        for a in set(mine) | set(theirs)
        if abs(mine.get(a, 0.0) - theirs.get(a, 0.0)) > 1e-9
    }
    fees_truth = RATE * sum(q * p for tr in venue.orders.values() for _, q, p, _ in tr.fills)
    fees = k.account()["k_fees_paid"]
    flagged = bool(run.flags) or bool(rep.position_mismatches) or bool(rep.unresolved)
    if strict and (mism or rep.position_mismatches or waits_left(k)):
        run.problems.append(f"end (strict): not every fill booked: {mism} {rep.position_mismatches}")
    if mism and not flagged:
        run.problems.append(f"end: silent position mismatch {mism}")
    if mism and not rep.position_mismatches:
        run.problems.append(f"end: reconcile says nothing of mismatch {mism}")
    if not mism and abs(fees - fees_truth) > 1e-6 and not flagged and not run.mixed:
        run.problems.append(f"end: fees {fees} != truth {fees_truth}")
    if abs(fees - fees_truth) > 1e-6:
        run.log.append(f"FEES {fees} truth {fees_truth}")
    if mism:
        run.log.append(f"MISMATCH {mism} flags={len(run.flags)}")
    waits = [s["awaited_fill_qty"] for s in k.slots() if s["awaited_fill_qty"]]
    if waits:
        run.log.append(f"AWAITED after reconcile {waits}")
    before = k.snapshot()
    k.close()
    gc.collect()
    k = open_kernel(wal, venue, slots)
    if k.snapshot() != before:
        run.problems.append("end: recovered != live")
    k.close()
    run.log.append(f"mism={mism} fees={fees:.6f} truth={fees_truth:.6f}")
    return run


if __name__ == "__main__":
    import sys
    import tempfile

    lo, hi = int(sys.argv[1]), int(sys.argv[2])
    bad = 0
    for seed in range(lo, hi):
        with tempfile.TemporaryDirectory() as d:
            try:
                run = play(
                    seed,
                    Path(d),
                    steps=int(sys.argv[3]) if len(sys.argv) > 3 else 150,
                    slots=int(sys.argv[4]) if len(sys.argv) > 4 else 3,
                    strict=len(sys.argv) > 5,
                )
            except Exception as exc:
                print(f"seed {seed}: RAISED {type(exc).__name__}: {exc}")
                bad += 1
                continue
            tail = [x for x in run.log if x.startswith(("MISMATCH", "AWAITED"))]
            if run.problems or tail:
                bad += 1
                print(f"seed {seed}: problems={run.problems[:3]} {tail} flags={len(run.flags)}")
    print("bad", bad)
