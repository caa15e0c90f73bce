"""The debugging queries of docs/guides/debugging-with-sql.md answer what they claim on a timeline whose every
number is known: two slots whose limit entries rest and then fill in parts. A partial fill is
a transition from ENTRY_WORKING to ENTRY_WORKING: the slot stays in its stage."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from pathlib import Path
from typing import Any

import pytest

from dita import AccountEvent, ExecutionKernel, KernelIntent, MockVenueAdapter, VenueEvent
from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import SilentVenue, silent_entries

DOC = Path(__file__).resolve().parents[2] / "docs" / "guides" / "debugging-with-sql.md"
T = 1_790_000_000.25  # 2026-09-21 14:13:20.25 UTC


def _query(number: int) -> str:
    for section in re.split(r"^### ", DOC.read_text(), flags=re.M)[1:]:
        if section.startswith(f"{number}. "):
            return re.findall(r"```sql\n(.*?)```", section, re.S)[0]
    raise AssertionError(f"no query {number} in {DOC}")


def _part_fill(
    event_id: str, slot: int, order: Any, filled: float, at: float, fill_id: str = ""
) -> VenueEvent:
    """A report of 1 of slot ``slot``'s entry (2 BTC-USDT at 99) filled, ``filled`` in all."""
    return VenueEvent(
        event_id,
        f"T{slot}",
        slot,
        "FILL",
        venue_order_id=order.venue_order_id,
        venue_client_id=order.client_order_id,
        side="BUY",
        asset="BTC-USDT",
        price=99.0,
        size=1.0,
        filled_size=filled,
        remaining_size=2.0 - filled,
        timestamp=at,
        fill_id=fill_id,
    )


def _partial_fills(journal: ClickHouseJournal) -> tuple[ClickHouseJournal, dict[str, float], ExecutionKernel]:
    """Both slots enter at T and rest in ENTRY_WORKING. Slot 0 fills half at T+1 and the rest
    at T+3 (POSITION_OPEN); slot 1 fills half at T+2 and is still working. Also what each
    trade paid in fees, as the kernel booked them."""
    kernel = ExecutionKernel(
        max_slots=2, venue=MockVenueAdapter(seed=1, fill_rate=0.0), journal=journal, kernel_id="parts"
    )
    kernel.update_control(verbosity="DEBUG", source="test")
    for slot in (0, 1):
        kernel.process_intent(
            KernelIntent(
                intent_id=f"enter-{slot}",
                trade_id=f"T{slot}",
                slot_id=slot,
                asset="BTC-USDT",
                side="LONG",
                action="ENTER",
                reference_price=100.0,
                target_size=2.0,
                order_type="LIMIT",
                limit_price=99.0,
                timestamp=T,
            )
        )
        assert kernel.slot_state(slot).fsm_state.name == "ENTRY_WORKING"

    def fill(slot: int, filled: float, at: float) -> None:
        order = kernel.slot_state(slot).active_entry_order
        assert order is not None
        out = kernel.on_venue_event(_part_fill(f"fill-{slot}-{filled}", slot, order, filled, at))
        assert out.accepted, out

    fill(0, 1.0, T + 1)
    fill(0, 2.0, T + 3)
    fill(1, 1.0, T + 2)
    assert [kernel.slot_state(s).fsm_state.name for s in (0, 1)] == ["POSITION_OPEN", "ENTRY_WORKING"]
    # The exchange charged 0.5 for slot 0's first fill, whose fee the kernel had predicted,
    # and nothing for slot 1's: what each slot paid is now the charged fee, not the prediction.
    for fill_id, fee in (("fill-0-1.0", 0.5), ("fill-1-1.0", 0.0)):
        settled = kernel.on_account_event(
            AccountEvent(f"settle-{fill_id}", "FILL_SETTLED", fill_id=fill_id, fee=fee)
        )
        assert settled.accepted, settled
    journal.flush(30)
    return journal, {f"T{s}": kernel.slot_state(s).fees_paid for s in (0, 1)}, kernel


def _funding_query() -> str:
    found: list[str] = re.findall(r"^Funding and the fees.*?```sql\n(.*?)```", DOC.read_text(), re.S | re.M)
    assert len(found) == 1
    return found[0]


def _run(loaded: tuple[ClickHouseJournal, Any], number: int, **params: Any) -> list[dict[str, Any]]:
    return loaded[0].query(_query(number), {"kernel": "parts", **params}).records()


@pytest.fixture(scope="class")
def partial_fills(class_journal: ClickHouseJournal) -> tuple[ClickHouseJournal, dict[str, float]]:
    """The timeline, made once for the class of queries that only read it."""
    loaded, paid, _ = _partial_fills(class_journal)
    return loaded, paid


class TestTheQueriesReadingOneTimeline:
    """Queries that only read the timeline: one journal holds it for all of them."""

    def test_why_a_slot_left_a_stage_lists_only_transitions_out_of_it(
        self,
        partial_fills: tuple[ClickHouseJournal, dict[str, float]],
    ) -> None:
        # Slot 0's partial fill at 14:13:21 kept it in ENTRY_WORKING: it did not leave.
        stayed = _run(partial_fills, 1, slot=0, stage="ENTRY_WORKING", at="2026-09-21 14:13:21")
        assert stayed == []
        left = _run(partial_fills, 1, slot=0, stage="ENTRY_WORKING", at="2026-09-21 14:13:23")
        assert [(r["next_state"], r["trigger"], r["venue_kind"]) for r in left] == [
            ("POSITION_OPEN", "FILL", "FILL")
        ]

    def test_slots_not_idle_say_since_when_they_are_in_their_stage(
        self,
        partial_fills: tuple[ClickHouseJournal, dict[str, float]],
    ) -> None:
        rows = {r["slot_id"]: (r["stage"], r["since"]) for r in _run(partial_fills, 5)}
        # Slot 1 has been ENTRY_WORKING since T, its partial fill at T+2 notwithstanding.
        assert rows == {
            0: ("POSITION_OPEN", "2026-09-21T14:13:23.250000"),
            1: ("ENTRY_WORKING", "2026-09-21T14:13:20.250000"),
        }

    def test_time_in_a_stage_runs_from_entering_it_to_leaving_it(
        self,
        partial_fills: tuple[ClickHouseJournal, dict[str, float]],
    ) -> None:
        rows = {r["stage"]: r for r in _run(partial_fills, 10)}
        # Slot 0 was ENTRY_WORKING from T to T+3 and left it once; slot 1 has not left it.
        working = rows["ENTRY_WORKING"]
        assert (working["left_stage"], working["p50_ms"], working["max_ms"]) == (1, 3000.0, 3000.0)
        assert {s: r["left_stage"] for s, r in rows.items()} == {
            "ORDER_REQUESTED": 2,
            "ORDER_SENT": 2,
            "ENTRY_WORKING": 1,
        }

    def test_fees_per_trade_are_what_the_exchange_charged_once_it_said(
        self,
        partial_fills: tuple[ClickHouseJournal, dict[str, float]],
    ) -> None:
        rows = {r["trade_id"]: r for r in _run(partial_fills, 6)}
        paid = partial_fills[1]
        assert paid["T0"] > 0.5  # the charged 0.5 and slot 0's second, still predicted, fee
        assert {t: r["fees"] for t, r in rows.items()} == pytest.approx(paid, rel=1e-12)
        assert rows["T1"]["fees"] == 0.0 and rows["T1"]["net_pnl"] == 0.0


def test_refused_account_events_are_journaled_and_change_no_answer(journal: ClickHouseJournal) -> None:
    loaded, paid, kernel = _partial_fills(journal)
    # The exchange's balance is off the kernel's: query 8 has a row to show.
    off = kernel.on_account_event(
        AccountEvent("acct-1", "ACCOUNT_UPDATE", wallet_balance=1.0, timestamp=T + 4)
    )
    assert off.accepted, off
    journal.flush(30)
    funding = kernel.on_account_event(AccountEvent("fund-1", "FUNDING_FEE", amount=-0.25, timestamp=T + 5))
    assert funding.accepted, funding
    journal.flush(30)
    before = {n: _run((loaded, paid), n) for n in (6, 7, 8)}
    totals = journal.query(_funding_query(), {"kernel": "parts"}).records()
    assert totals == [{"funding": -0.25, "fees_settled": 0.5, "fees_charged": 0.5, "refused_events": 0}]
    assert before[8] and len(before[7]) == 2
    refused = [
        # slot 0's first fill again at its fee, settled already: the exchange's figure is not
        # booked twice (at another fee it is held for a self-trade's other side)
        (AccountEvent("settle-again", "FILL_SETTLED", fill_id="fill-0-1.0", fee=0.5), "UNKNOWN_ORDER"),
        # slot 1's, settled already at 0.0, sent again under another id: no fill of its id waits,
        # yet it is refused, not held for a fill to come
        (AccountEvent("settle-again-1", "FILL_SETTLED", fill_id="fill-1-1.0", fee=0.0), "UNKNOWN_ORDER"),
        (AccountEvent("settle-fill-0-1.0", "FILL_SETTLED", fill_id="fill-0-2.0", fee=9.0), "DUPLICATE_EVENT"),
        (AccountEvent("settle-nan", "FILL_SETTLED", fill_id="fill-0-2.0", fee=math.nan), "INVALID_INTENT"),
        (AccountEvent("fund-inf", "FUNDING_FEE", amount=math.inf), "INVALID_INTENT"),
        (AccountEvent("acct-bad", "ACCOUNT_UPDATE", wallet_balance=-1e200), "INVALID_INTENT"),
    ]
    for ev, code in refused:
        out = kernel.on_account_event(ev)
        assert (out.accepted, out.diagnostic_code.name) == (False, code), out
    journal.flush(30)
    rows = journal.query(
        "SELECT event_id, kind, fill_id, accepted, diagnostic_code, fee_charged FROM account_events FINAL "
        "WHERE kernel_id = 'parts' AND NOT accepted ORDER BY seq"
    ).rows
    # A refused settlement charged nothing: its fee_charged is NULL, as every other kind's.
    assert rows == [[ev.event_id, ev.kind.name, ev.fill_id, False, code, None] for ev, code in refused]
    accepted = journal.query(
        "SELECT groupUniqArray(diagnostic_code), count() FROM account_events FINAL "
        "WHERE kernel_id = 'parts' AND accepted"
    ).rows
    assert accepted == [[["OK"], 4]]
    # The queries that read account events answer as without them: a refused event changes nothing.
    assert {n: _run((loaded, paid), n) for n in (6, 7, 8)} == before
    totals[0]["refused_events"] = len(refused)
    assert journal.query(_funding_query(), {"kernel": "parts"}).records() == totals


def _refused_venue_events_query() -> str:
    found: list[str] = re.findall(
        r"^Venue events the kernel refused.*?```sql\n(.*?)```", DOC.read_text(), re.S | re.M
    )
    assert len(found) == 1
    return found[0]


def test_refused_venue_events_name_the_fill_they_repeat(journal: ClickHouseJournal) -> None:
    """A fill reported again is refused, as DUPLICATE_EVENT or UNKNOWN_ORDER depending on
    what the slot still remembers: the query finds the booked fill it repeats either way."""
    _, _, kernel = _partial_fills(journal)
    booked = {
        r[0]: (r[1], r[2])
        for r in journal.query(
            "SELECT fill_id, seq, trade_id FROM fills FINAL WHERE kernel_id = 'parts'"
        ).rows
    }
    assert set(booked) == {"fill-0-1.0", "fill-0-2.0", "fill-1-1.0"}  # no venue fill ids: event ids

    def again(event_id: str, slot: int, filled: float, order: Any, fill_id: str = "") -> tuple[str, int]:
        out = kernel.on_venue_event(_part_fill(event_id, slot, order, filled, T + 6, fill_id))
        assert not out.accepted, out
        return out.diagnostic_code.name, out.seq

    working = kernel.slot_state(1).active_entry_order
    assert working is not None
    repeat = again("fill-1-1.0", 1, 1.0, working)  # slot 1's fill, same event id, order still working
    assert repeat[0] == "DUPLICATE_EVENT"
    ghost = again(
        "ghost-1", 1, 1.0, working.__class__("nobody-1", 1, "T1", "BTC-USDT", "BUY", "LIMIT", 99.0, 2.0)
    )
    journal.flush(30)
    rows = journal.query(_refused_venue_events_query(), {"kernel": "parts"}).records()
    got = {r["seq"]: (r["code"], r["repeats_fill_of_seq"], r["repeats_fill_of_trade"]) for r in rows}
    assert got == {
        repeat[1]: ("DUPLICATE_EVENT", booked["fill-1-1.0"][0], "T1"),
        ghost[1]: (ghost[0], None, ""),
    }


def test_a_fill_repeated_after_its_trade_closed_is_found_though_not_duplicate_event(
    journal: ClickHouseJournal,
) -> None:
    kernel = ExecutionKernel(max_slots=1, venue=MockVenueAdapter(seed=1), journal=journal, kernel_id="late")
    kernel.update_control(verbosity="DEBUG", source="test")
    first = None
    for n, (trade, action) in enumerate((("A", "ENTER"), ("A", "EXIT"), ("B", "ENTER"))):
        out = kernel.process_intent(
            KernelIntent(
                f"i{n}", trade, 0, "BTC-USDT", "LONG", action, 100.0, 1.0 if action == "ENTER" else 0.0
            )
        )
        assert out.accepted, out
        first = first or next(e for e in out.emitted_events if e.kind.name == "FILL")
    assert first is not None and first.fill_id
    late = kernel.on_venue_event(
        VenueEvent(
            "late-1", "A", 0, "FILL", first.status, first.venue_order_id, first.venue_client_id,
            first.order_side, first.asset, first.price, first.size, first.filled_size, first.remaining_size,
            fill_id=first.fill_id,
        )
    )  # fmt: skip
    assert (late.accepted, late.diagnostic_code.name) == (False, "UNKNOWN_ORDER")
    journal.flush(30)
    booked_at = journal.query(
        "SELECT seq FROM fills FINAL WHERE kernel_id = 'late' AND fill_id = {f:String}", {"f": first.fill_id}
    ).rows
    rows = journal.query(_refused_venue_events_query(), {"kernel": "late"}).records()
    assert [
        (r["seq"], r["code"], r["fill_id"], r["repeats_fill_of_seq"], r["repeats_fill_of_trade"])
        for r in rows
    ] == [(late.seq, "UNKNOWN_ORDER", first.fill_id, booked_at[0][0], "A")]


def test_a_trades_story_shows_what_each_venue_event_carried_and_whether_it_was_refused(
    journal: ClickHouseJournal,
) -> None:
    """Query 2 reads slot_timeline: a venue event's detail says accepted or refused as an
    intent's does, and names its fill id, the fee the venue reported and a rate limit's wait,
    so a FILL refused as a duplicate is told apart from the one it repeats."""
    kernel, coids = silent_entries(journal, "story", 2)

    def event(event_id: str, kind: str, slot: int = 0, **fields: Any) -> tuple[bool, str]:
        ev = VenueEvent(event_id, f"t{slot}", slot, kind, venue_client_id=coids[slot], **fields)
        out = kernel.on_venue_event(ev)
        return out.accepted, out.diagnostic_code.name

    fill = {"price": 100.0, "size": 0.5, "filled_size": 0.5, "remaining_size": 0.5, "fill_id": "exec-1"}
    assert event("f-1", "FILL", fee=0.05, **fill) == (True, "OK")
    assert event("f-2", "FILL", **fill) == (False, "DUPLICATE_EVENT")  # the venue said it again
    fill.update(fill_id="exec-2", size=0.25, filled_size=0.75, remaining_size=0.25)
    assert event("f-3", "FILL", fee=0.0, **fill) == (True, "OK")  # a fee of 0 the venue reported
    assert event("rl-1", "RATE_LIMITED", slot=1, retry_after=2.5) == (False, "RATE_LIMITED")
    journal.flush(30)

    def story(trade: str) -> list[tuple[str, str]]:
        rows = journal.query(_query(2), {"kernel": "story", "trade": trade}).records()
        return [(r["what"], r["detail"]) for r in rows if r["source"] == "venue_event"]

    # Made without a status, a part fill reads PARTIALLY_FILLED: its status follows its sizes.
    assert story("t0") == [
        ("FILL PARTIALLY_FILLED", "OK filled=0.5 remaining=0.5 fill_id=exec-1 fee=0.05"),
        (
            "FILL PARTIALLY_FILLED",
            "DUPLICATE_EVENT (refused) filled=0.5 remaining=0.5 fill_id=exec-1 "
            '{"field":"fill_id","value":"exec-1"}',
        ),
        ("FILL PARTIALLY_FILLED", "OK filled=0.75 remaining=0.25 fill_id=exec-2 fee=0"),
    ]
    assert story("t1") == [
        (
            "RATE_LIMITED REJECTED",
            "RATE_LIMITED (refused) filled=0 remaining=0 retry_after=2.5 "
            f'{{"retry_after":2.5,"client_order_id":"{coids[1]}"}}',
        )
    ]


def _resent_fill_example() -> list[tuple[str, str, str]]:
    """The (source, what, detail) rows of the guide's example of a fill the venue reported twice."""
    block = re.findall(r"says what it\s+repeated:\s*```\n(.*?)```", DOC.read_text(), re.S)[0]
    rows = [re.split(r"\s{2,}", line.strip()) for line in block.splitlines()[1:]]
    return [(source, what, detail) for _, source, what, detail in rows]


def test_the_guides_resent_fill_reads_as_the_journal_writes_it(journal: ClickHouseJournal) -> None:
    """A venue resending a fill repeats what it carried, its fee included: the duplicate's row
    shows the fee as the first report's does."""
    kernel, coids = silent_entries(journal, "resent", 1)
    fill = {"price": 100.0, "size": 0.5, "filled_size": 0.5, "remaining_size": 0.5, "fill_id": "exec-1"}
    for event_id in ("f-1", "f-2"):
        ev = VenueEvent(event_id, "t0", 0, "FILL", venue_client_id=coids[0], fee=0.05, **fill)
        kernel.on_venue_event(ev)
    journal.flush(30)
    rows = journal.query(_query(2), {"kernel": "resent", "trade": "t0"}).records()
    example = _resent_fill_example()
    assert [(r["source"], r["what"], r["detail"]) for r in rows][-len(example) :] == example
    kernel.close()


def _why_refused_query() -> str:
    found: list[str] = re.findall(
        r"^Why was this venue event refused.*?```sql\n(.*?)```", DOC.read_text(), re.S | re.M
    )
    assert len(found) == 1
    return found[0]


def test_why_a_venue_event_was_refused_or_warned_about_is_in_its_row(journal: ClickHouseJournal) -> None:
    """The journal keeps a venue event's outcome severity and details, as an intent's: an
    OVERFILL names the order's size, what was filled and the fill's qty; a fill applied with a
    warning names what the venue counts unreported, or that it came late; a report booked in
    part names the fee it was charged."""
    kernel, coids = silent_entries(journal, "why", 2)
    outcomes = {}

    def event(event_id: str, kind: str = "FILL", slot: int = 0, **fields: Any) -> Any:
        ev = VenueEvent(event_id, f"t{slot}", slot, kind, venue_client_id=coids[slot], price=100.0, **fields)
        outcomes[event_id] = out = kernel.on_venue_event(ev)
        return out.accepted, out.diagnostic_code.name, out.severity.name

    assert event(
        "f-1", size=0.25, filled_size=0.25, fill_id="exec-1", fee=0.05, status="PARTIALLY_FILLED"
    ) == (True, "OK", "INFO")
    assert event("f-2", size=0.5, filled_size=0.5, fill_id="exec-2", fee=0.1, status="PARTIALLY_FILLED") == (
        True,
        "OK",
        "INFO",
    )
    # The venue counts 0.9 filled; the kernel was told of 0.6.
    assert event("f-3", size=0.1, filled_size=0.9, fill_id="exec-3") == (True, "OK", "WARNING")
    assert event("f-4", size=2.0, filled_size=2.6, fill_id="exec-4") == (False, "OVERFILL", "CRITICAL")
    assert event("x-1", "EXPIRED", slot=1) == (True, "OK", "INFO")
    assert event("f-5", slot=1, size=0.5, filled_size=0.5, fill_id="exec-5") == (True, "OK", "WARNING")
    journal.flush(30)

    def why(event_id: str) -> dict[str, Any]:
        (row,) = journal.query(_why_refused_query(), {"kernel": "why", "event": event_id}).records()
        out = outcomes[event_id]
        assert (row["seq"], row["accepted"], row["code"], row["severity"]) == (
            out.seq, out.accepted, out.diagnostic_code.name, out.severity.name
        )  # fmt: skip
        details: dict[str, Any] = json.loads(row["details"])
        assert details == dict(out.details)
        return details

    assert why("f-1") == {}
    assert why("f-2") == {"fee_charged": 0.05, "reported_fee": 0.1, "booked_qty": 0.25}
    assert why("f-3") == {"venue_filled_size": 0.9, "unreported_qty": pytest.approx(0.3)}
    overfill = why("f-4")
    assert (overfill["order_size"], overfill["filled_size"]) == (1.0, pytest.approx(0.6))
    assert overfill["fill_qty"] > 1.0 - overfill["filled_size"]
    assert why("f-5") == {"late_fill": True, "client_order_id": coids[1]}


def _fees_per_fill_query() -> str:
    found: list[str] = re.findall(r"^Fees per fill.*?```sql\n(.*?)```", DOC.read_text(), re.S | re.M)
    assert len(found) == 1
    return found[0]


def test_fees_per_fill_show_a_report_charged_in_part_and_a_settled_prediction(
    journal: ClickHouseJournal,
) -> None:
    """A report of which an earlier one booked part is charged its fee in proportion; the
    outcome says fee_charged, reported_fee and booked_qty, which the journal keeps as the
    fill's fee and qty beside the venue event's fee and size. A fill without a fee is
    predicted, then settled by the exchange."""
    kernel, coids = silent_entries(journal, "fees", 1)

    def event(event_id: str, **fields: Any) -> Any:
        ev = VenueEvent(event_id, "t0", 0, "FILL", venue_client_id=coids[0], price=100.0, **fields)
        out = kernel.on_venue_event(ev)
        assert out.accepted, out
        return out

    first = event("f-1", size=0.25, filled_size=0.25, remaining_size=0.75, fill_id="exec-1", fee=0.05)
    # The venue reports 0.25 more, counted with the first again: 0.5 for a fee of 0.1.
    part = event("f-2", size=0.5, filled_size=0.5, remaining_size=0.5, fill_id="exec-2", fee=0.1)
    assert dict(part.details) == {"fee_charged": 0.05, "reported_fee": 0.1, "booked_qty": 0.25}
    event("f-3", size=0.5, filled_size=1.0, remaining_size=0.0, fill_id="exec-3")  # predicted
    settled = kernel.on_account_event(AccountEvent("s-3", "FILL_SETTLED", fill_id="exec-3", fee=0.02))
    assert settled.accepted, settled
    journal.flush(30)
    rows = journal.query(_fees_per_fill_query(), {"kernel": "fees"}).records()
    columns = ("seq", "fill_id", "booked_qty", "reported_qty", "reported_fee", "fee_charged", "settled_fee")
    got = [tuple(r[c] for c in columns) for r in rows]
    predicted = rows[2]["fee_charged"]
    assert predicted > 0
    assert got == [
        (first.seq, "exec-1", 0.25, 0.25, 0.05, 0.05, None),
        (part.seq, "exec-2", 0.25, 0.5, 0.1, 0.05, None),
        (part.seq + 1, "exec-3", 0.5, 0.5, None, predicted, 0.02),
    ]


def test_a_control_change_is_timed_by_the_wall_clock_and_placed_by_seq(journal: ClickHouseJournal) -> None:
    """The docs say control_changes.ts is the wall clock while an intent's rows carry the
    intent's own time: in a replay a halt reads as long after the trades it stopped."""
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(seed=1), journal=journal, kernel_id="parts")
    entered = kernel.process_intent(
        KernelIntent("i0", "A", 0, "BTC-USDT", "LONG", "ENTER", 100.0, 1.0, timestamp=T)
    )
    before = time.time()
    kernel.update_control(mode="HALTED", source="desk")
    refused = kernel.process_intent(
        KernelIntent("i1", "B", 1, "BTC-USDT", "LONG", "ENTER", 100.0, 1.0, timestamp=T + 1)
    )
    assert entered.accepted and refused.diagnostic_code.name == "MODE_BLOCKED"
    journal.flush(30)
    (halt,) = [r for r in _run((journal, {}), 9) if r["mode"] == "HALTED"]
    at = dt.datetime.fromisoformat(halt["ts"]).replace(tzinfo=dt.UTC).timestamp()
    assert before - 1 <= at <= time.time() + 1 and halt["source"] == "desk"
    assert entered.seq < halt["seq"] < refused.seq
    intents = journal.query("SELECT seq, toUnixTimestamp64Micro(ts) FROM intents FINAL ORDER BY seq").rows
    assert intents == [[entered.seq, int(T * 1e6)], [refused.seq, int((T + 1) * 1e6)]]


def _settle(kernel: ExecutionKernel, event_id: str, fill_id: str, fee: float, asset: str = "") -> Any:
    return kernel.on_account_event(
        AccountEvent(event_id, "FILL_SETTLED", asset=asset, fill_id=fill_id, fee=fee)
    )


def _per_fill(rows: list[dict[str, Any]], *columns: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {(r["trade_id"], r["fill_id"]): tuple(r[c] for c in columns) for r in rows}


def _enter_and_fill_123(kernel: ExecutionKernel, slot: int, asset: str, price: float) -> None:
    """Slot ``slot`` enters 1.0 of ``asset`` at ``price`` and fills whole under trade id "123"
    (venues number trades per market: fills of several assets may share it)."""
    intent = KernelIntent(f"e{slot}", f"t{slot}", slot, asset, "LONG", "ENTER", price, 1.0)
    order = kernel.process_intent(intent).order
    assert order is not None
    ev = VenueEvent(
        f"f{slot}", f"t{slot}", slot, "FILL", venue_client_id=order.client_order_id, asset=asset,
        price=price, size=1.0, filled_size=1.0, fill_id="123",
    )  # fmt: skip
    assert kernel.on_venue_event(ev).accepted


def test_fills_of_two_markets_under_one_fill_id_are_each_charged_their_own_settlement(
    journal: ClickHouseJournal,
) -> None:
    """Venues number trades per market: BTC's trade "123" and ETH's are two fills, each settled
    by the FILL_SETTLED of its asset. One naming no asset settles the one fill of
    the id waiting then: refused while both wait, it settles BTC's once ETH's is settled. SOL's
    "123", booked after, still waits. At the default verbosity: no venue event is needed."""
    kernel = ExecutionKernel(max_slots=3, venue=SilentVenue(), journal=journal, kernel_id="markets")
    _enter_and_fill_123(kernel, 0, "BTCUSDT", 50_000.0)  # 25.0 predicted
    _enter_and_fill_123(kernel, 1, "ETHUSDT", 3_000.0)  # 1.5 predicted
    ambiguous = _settle(kernel, "s0", "123", 9.0)
    assert (ambiguous.accepted, ambiguous.diagnostic_code.name) == (False, "INVALID_INTENT")
    eth = _settle(kernel, "s1", "123", 2.0, asset="ETHUSDT")
    btc = _settle(kernel, "s2", "123", 20.0)
    assert eth.accepted and btc.accepted and btc.details["predicted_fee"] == 25.0
    _enter_and_fill_123(kernel, 2, "SOLUSDT", 100.0)  # predicted, after the settlement naming no asset
    journal.flush(30)
    paid = {f"t{s}": kernel.slot_state(s).fees_paid for s in range(3)}
    assert (paid["t0"], paid["t1"]) == pytest.approx((20.0, 2.0)) and paid["t2"] > 0

    per_trade = {r["trade_id"]: r["fees"] for r in _run((journal, None), 6, kernel="markets")}
    assert per_trade == pytest.approx(paid, rel=1e-12)
    settled = _per_fill(
        _run((journal, None), 7, kernel="markets"), "asset", "predicted_fee", "actual_fee", "fee_charged"
    )
    assert settled == {
        ("t0", "123"): ("BTCUSDT", 25.0, 20.0, 20.0),
        ("t1", "123"): ("ETHUSDT", 1.5, 2.0, 2.0),
    }
    fees = journal.query(_fees_per_fill_query(), {"kernel": "markets"}).records()
    assert _per_fill(fees, "fee_charged", "settled_fee") == {
        ("t0", "123"): (25.0, 20.0),
        ("t1", "123"): (1.5, 2.0),
        ("t2", "123"): (paid["t2"], None),
    }


def _partly_booked(journal: ClickHouseJournal, kernel_id: str, verbosity: str | None) -> ExecutionKernel:
    """Slot 0: the venue reports 2 filled (a total, no trade id: the fill is known by its event
    id "s1"), then trade T2 of 3 at a total of 3, which books the 1 the total left.
    The exchange's fee for T2 (0.18) is for all 3: the kernel charges the fill 0.06.
    Slot 1 the same with a reconciliation's FILL in T2's place, whose fee the kernel charges
    whole (it stands for every fill up to its total). ``verbosity`` None keeps the kernel's
    default."""
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue(), journal=journal, kernel_id=kernel_id)
    if verbosity is not None:
        kernel.update_control(verbosity=verbosity, source="test")
    for slot, fill_id, metadata in ((0, "T2", {}), (1, "R2", {"source": "reconciliation"})):
        intent = KernelIntent(f"e{slot}", f"t{slot}", slot, "BTCUSDT", "LONG", "ENTER", 100.0, 10.0)
        order = kernel.process_intent(intent).order
        assert order is not None
        for event_id, fields in (
            (f"s{slot + 1}", {"filled_size": 2.0}),
            (f"e{slot}", {"size": 3.0, "filled_size": 3.0, "fill_id": fill_id, "metadata": metadata}),
        ):
            ev = VenueEvent(
                event_id,
                f"t{slot}",
                slot,
                "FILL",
                venue_client_id=order.client_order_id,
                price=100.0,
                **fields,
            )
            assert kernel.on_venue_event(ev).accepted
        assert kernel.slot_state(slot).size == pytest.approx(3.0)
    part = _settle(kernel, "st", "T2", 0.18, asset="BTCUSDT")
    assert part.accepted and dict(part.details)["fee_charged"] == pytest.approx(0.06)
    assert _settle(kernel, "sr", "R2", 0.18, asset="BTCUSDT").details.get("fee_charged") is None
    assert _settle(kernel, "ss", "s1", 0.2, asset="BTCUSDT").accepted  # the total: booked whole
    journal.flush(30)
    return kernel


def test_a_fill_booked_from_part_of_a_report_is_charged_its_share_of_the_settlement(
    journal: ClickHouseJournal,
) -> None:
    kernel = _partly_booked(journal, "part", "DEBUG")
    paid = {f"t{s}": kernel.slot_state(s).fees_paid for s in (0, 1)}
    assert paid == pytest.approx({"t0": 0.2 + 0.06, "t1": 0.1 + 0.18})
    rows = _run((journal, None), 6, kernel="part")
    assert {r["trade_id"]: r["fees"] for r in rows} == pytest.approx(paid, rel=1e-12)
    assert {r["trade_id"]: r["settled_unsized"] for r in rows} == {"t0": 0, "t1": 0}
    settled = _per_fill(
        _run((journal, None), 7, kernel="part"),
        "qty",
        "reported_qty",
        "actual_fee",
        "fee_charged",
        "deviation_pct",
    )
    assert settled == {
        ("t0", "s1"): (2.0, 0.0, 0.2, 0.2, 100.0),  # 0.1 predicted for 2 at the taker rate
        ("t0", "T2"): (1.0, 3.0, 0.18, pytest.approx(0.06), 20.0),  # 0.05 predicted for the 1
        ("t1", "R2"): (1.0, 3.0, 0.18, 0.18, 260.0),
    }
    fees = journal.query(_fees_per_fill_query(), {"kernel": "part"}).records()
    assert _per_fill(fees, "booked_qty", "reported_qty", "actual_fee", "settled_fee") == {
        ("t0", "s1"): (2.0, 0.0, 0.2, 0.2),
        ("t0", "T2"): (1.0, 3.0, 0.18, pytest.approx(0.06)),
        ("t1", "s2"): (2.0, 0.0, None, None),
        ("t1", "R2"): (1.0, 3.0, 0.18, 0.18),
    }


def test_at_the_default_verbosity_a_partly_booked_fill_is_charged_its_share(
    journal: ClickHouseJournal,
) -> None:
    """No venue event is journaled below DEBUG, so the report's size is not either: the
    queries read the share the kernel charged from the settlement's fee_charged (schema 9).
    Before it they showed the whole 0.18 for T2 and counted it in settled_unsized."""
    kernel = _partly_booked(journal, "normal", None)
    assert kernel.control()["verbosity"] == "NORMAL"  # the default
    assert journal.query("SELECT count() FROM venue_events WHERE kernel_id = 'normal'").rows == [[0]]
    paid = {f"t{s}": kernel.slot_state(s).fees_paid for s in (0, 1)}
    assert paid == pytest.approx({"t0": 0.2 + 0.06, "t1": 0.1 + 0.18})
    rows = _run((journal, None), 6, kernel="normal")
    assert {r["trade_id"]: r["fees"] for r in rows} == pytest.approx(paid, rel=1e-12)
    assert {r["trade_id"]: r["settled_unsized"] for r in rows} == {"t0": 0, "t1": 0}
    settled = _per_fill(
        _run((journal, None), 7, kernel="normal"), "qty", "reported_qty", "actual_fee", "fee_charged"
    )
    assert settled == {
        ("t0", "s1"): (2.0, None, 0.2, 0.2),
        ("t0", "T2"): (1.0, None, 0.18, pytest.approx(0.06)),
        ("t1", "R2"): (1.0, None, 0.18, 0.18),
    }
    fees = journal.query(_fees_per_fill_query(), {"kernel": "normal"}).records()
    assert _per_fill(fees, "reported_qty", "actual_fee", "settled_fee") == {
        ("t0", "s1"): (None, 0.2, 0.2),
        ("t0", "T2"): (None, 0.18, pytest.approx(0.06)),
        ("t1", "s2"): (None, None, None),
        ("t1", "R2"): (None, 0.18, 0.18),
    }
    totals = journal.query(_funding_query(), {"kernel": "normal"}).records()
    assert totals == [
        {
            "funding": 0.0,
            "fees_settled": pytest.approx(0.56),
            "fees_charged": pytest.approx(0.44),
            "refused_events": 0,
        }
    ]


def test_a_settlements_row_holds_what_the_kernel_charged_the_fill(journal: ClickHouseJournal) -> None:
    """fee_charged is the share for a fill booked from part of a report, the whole fee for a
    fill booked whole (and for a reconciliation's FILL), and NULL where nothing was charged: a
    refused FILL_SETTLED and the other kinds."""
    kernel = _partly_booked(journal, "rows", None)
    again = _settle(kernel, "st-again", "T2", 0.18, asset="BTCUSDT")
    assert (again.accepted, again.diagnostic_code.name) == (False, "UNKNOWN_ORDER")
    funding = kernel.on_account_event(AccountEvent("fund-1", "FUNDING_FEE", amount=-0.25))
    update = kernel.on_account_event(AccountEvent("acct-1", "ACCOUNT_UPDATE", wallet_balance=1_000.0))
    assert funding.accepted and update.accepted
    journal.flush(30)
    rows = journal.query(
        "SELECT event_id, kind, accepted, fee, fee_charged FROM account_events FINAL "
        "WHERE kernel_id = 'rows' ORDER BY seq"
    ).rows
    assert rows == [
        ["st", "FILL_SETTLED", True, 0.18, pytest.approx(0.18 * 1.0 / 3.0, rel=1e-15)],
        ["sr", "FILL_SETTLED", True, 0.18, 0.18],
        ["ss", "FILL_SETTLED", True, 0.2, 0.2],
        ["st-again", "FILL_SETTLED", False, 0.18, None],
        ["fund-1", "FUNDING_FEE", True, 0.0, None],
        ["acct-1", "ACCOUNT_UPDATE", True, 0.0, None],
    ]


def test_settlements_stored_before_fee_charged_are_worked_out_from_the_venue_events(
    journal: ClickHouseJournal,
) -> None:
    """A settlement stored before schema 9 reads fee_charged NULL: the queries work its charge
    out as they did before the column, the share from the venue event's size at DEBUG, the
    whole fee below it (counted in settled_unsized), as docs/guides/debugging-with-sql.md says."""
    kernels = {"old-debug": _partly_booked(journal, "old-debug", "DEBUG")}
    kernels["old-normal"] = _partly_booked(journal, "old-normal", "NORMAL")
    journal._connection.client.command(
        "ALTER TABLE account_events UPDATE fee_charged = NULL WHERE kernel_id IN ('old-debug', 'old-normal')",
        settings={"mutations_sync": 1},
    )
    assert journal.query("SELECT countIf(fee_charged IS NOT NULL) FROM account_events").rows == [[0]]
    for kernel in kernels.values():
        assert kernel.slot_state(0).fees_paid == pytest.approx(0.26)
    debug = {r["trade_id"]: r for r in _run((journal, None), 6, kernel="old-debug")}
    assert (debug["t0"]["fees"], debug["t0"]["settled_unsized"]) == (pytest.approx(0.26), 0)
    normal = {r["trade_id"]: r for r in _run((journal, None), 6, kernel="old-normal")}
    assert (normal["t0"]["fees"], normal["t0"]["settled_unsized"]) == (pytest.approx(0.2 + 0.18), 2)
    for kernel_id, share in (("old-debug", pytest.approx(0.06)), ("old-normal", 0.18)):
        charged = _per_fill(_run((journal, None), 7, kernel=kernel_id), "fee_charged")
        assert charged[("t0", "T2")] == (share,), kernel_id
        fees = journal.query(_fees_per_fill_query(), {"kernel": kernel_id}).records()
        assert _per_fill(fees, "settled_fee")[("t0", "T2")] == (share,), kernel_id
    totals = journal.query(_funding_query(), {"kernel": "old-debug"}).records()
    assert totals[0]["fees_charged"] == totals[0]["fees_settled"] == pytest.approx(0.56)


@pytest.mark.parametrize("verbosity", [None, "DEBUG"])
def test_a_settlement_held_for_its_fill_is_charged_in_the_fills_row(
    journal: ClickHouseJournal, verbosity: str | None
) -> None:
    """A FILL_SETTLED that comes before its fill is held (accepted, fee_charged
    NULL) and settles the fill when it is booked, whose row's fee is then what it charged. The
    queries read that fee, not the held settlement's whole fee: BTC's "123" (naming its asset),
    ETH's "777" (naming none) and T2, booked 1 of a report of 3 and charged 0.06 of its 0.18.
    SOL's settlement is held for a fill that never comes; T2's total "s1" is settled after it."""
    kernel_id = f"held-{verbosity or 'default'}"
    kernel = ExecutionKernel(max_slots=3, venue=SilentVenue(), journal=journal, kernel_id=kernel_id)
    if verbosity is not None:
        kernel.update_control(verbosity=verbosity, source="test")
    held = [
        _settle(kernel, "h0", "123", 20.0, asset="BTCUSDT"),
        _settle(kernel, "h1", "777", 2.0),
        _settle(kernel, "h2", "T2", 0.18, asset="BTCUSDT"),
        _settle(kernel, "h3", "never", 5.0, asset="SOLUSDT"),
    ]
    assert all(h.accepted and h.details["held_for_fill"] for h in held), held

    def fill(slot: int, asset: str, price: float, target: float, *reports: dict[str, Any]) -> list[Any]:
        intent = KernelIntent(f"e{slot}", f"t{slot}", slot, asset, "LONG", "ENTER", price, target)
        order = kernel.process_intent(intent).order
        assert order is not None
        outs = []
        for n, fields in enumerate(reports):
            ev = VenueEvent(
                fields.pop("event_id", f"f{slot}-{n}"), f"t{slot}", slot, "FILL",
                venue_client_id=order.client_order_id, asset=asset, price=price, **fields,
            )  # fmt: skip
            outs.append(kernel.on_venue_event(ev))
            assert outs[-1].accepted, outs[-1]
        return outs

    (btc,) = fill(0, "BTCUSDT", 50_000.0, 1.0, {"size": 1.0, "filled_size": 1.0, "fill_id": "123"})
    (eth,) = fill(1, "ETHUSDT", 3_000.0, 1.0, {"size": 1.0, "filled_size": 1.0, "fill_id": "777"})
    _, part = fill(
        2, "BTCUSDT", 100.0, 10.0,
        {"event_id": "s1", "filled_size": 2.0},
        {"size": 3.0, "filled_size": 3.0, "fill_id": "T2"},
    )  # fmt: skip
    assert [o.details["settled_by"] for o in (btc, eth, part)] == ["h0", "h1", "h2"]
    assert _settle(kernel, "a1", "s1", 0.2, asset="BTCUSDT").accepted  # after its fill
    journal.flush(30)
    paid = {f"t{s}": kernel.slot_state(s).fees_paid for s in range(3)}
    assert paid == pytest.approx({"t0": 20.0, "t1": 2.0, "t2": 0.2 + 0.06})

    rows = _run((journal, None), 6, kernel=kernel_id)
    assert {r["trade_id"]: r["fees"] for r in rows} == pytest.approx(paid, rel=1e-12)
    assert {r["trade_id"]: r["settled_unsized"] for r in rows} == {"t0": 0, "t1": 0, "t2": 0}
    # Only the settlement after its fill: the others' fills were predicted, but their rows
    # hold what they were charged, and no prediction.
    ((predicted,),) = journal.query(
        f"SELECT fee FROM fills FINAL WHERE kernel_id = '{kernel_id}' AND fill_id = 's1'"
    ).rows
    settled = _per_fill(
        _run((journal, None), 7, kernel=kernel_id), "predicted_fee", "actual_fee", "fee_charged"
    )
    assert settled == {("t2", "s1"): (predicted, 0.2, 0.2)}
    fees = journal.query(_fees_per_fill_query(), {"kernel": kernel_id}).records()
    assert _per_fill(fees, "fee_charged", "actual_fee", "settled_fee") == {
        ("t0", "123"): (20.0, None, None),
        ("t1", "777"): (2.0, None, None),
        ("t2", "s1"): (predicted, 0.2, 0.2),
        ("t2", "T2"): (pytest.approx(0.06), None, None),
    }
    # The funding query adds up the exchange's figures, the held ones whole, SOL's too; and what
    # the kernel charged for them, a held one's in its fill's row: T2 its share 0.06, SOL's
    # nothing (no fill came). It counted the held ones whole: 27.38, over what the slots paid.
    totals = journal.query(_funding_query(), {"kernel": kernel_id}).records()
    assert totals == [
        {
            "funding": 0.0,
            "fees_settled": pytest.approx(27.38),
            "fees_charged": pytest.approx(sum(paid.values()), rel=1e-12),
            "refused_events": 0,
        }
    ]


def test_two_settlements_naming_no_asset_each_charge_the_fill_of_their_id_waiting_then(
    journal: ClickHouseJournal,
) -> None:
    """BTC's trade "123" is settled by a FILL_SETTLED naming no asset (20.0) while it waits
    alone; ETH's "123", booked after, by another (2.0). Each fill is charged its own: the
    queries took the latest settlement of the id for both, BTC's fill charged ETH's 2.0."""
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue(), journal=journal, kernel_id="bare-ids")
    for slot, asset, price, fee in ((0, "BTCUSDT", 50_000.0, 20.0), (1, "ETHUSDT", 3_000.0, 2.0)):
        _enter_and_fill_123(kernel, slot, asset, price)
        assert _settle(kernel, f"s{slot}", "123", fee).accepted
    journal.flush(30)
    paid = {f"t{s}": kernel.slot_state(s).fees_paid for s in range(2)}
    assert paid == pytest.approx({"t0": 20.0, "t1": 2.0})

    rows = _run((journal, None), 6, kernel="bare-ids")
    assert {r["trade_id"]: r["fees"] for r in rows} == pytest.approx(paid, rel=1e-12)
    settled = _per_fill(_run((journal, None), 7, kernel="bare-ids"), "actual_fee", "fee_charged")
    assert settled == {("t0", "123"): (20.0, 20.0), ("t1", "123"): (2.0, 2.0)}
    fees = journal.query(_fees_per_fill_query(), {"kernel": "bare-ids"}).records()
    assert _per_fill(fees, "actual_fee", "settled_fee") == {
        ("t0", "123"): (20.0, 20.0),
        ("t1", "123"): (2.0, 2.0),
    }


@pytest.mark.parametrize("asset", ["BTCUSDT", ""])
def test_a_self_trades_second_settlement_is_charged_only_to_the_other_sides_fill(
    journal: ClickHouseJournal, asset: str
) -> None:
    """A self-trade: both slots' fills take exchange trade "123". The long's fill is booked and
    settled (0.5); a settlement at another fee (0.2) is then held for the short's fill, which
    has not come: the kernel has charged 0.5. The queries took the held one for a settlement of
    the long's fill: the exchange's fee for it read 0.2, and the fees charged 0.7."""
    kernel_id = f"self-{asset or 'bare'}"
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue(), journal=journal, kernel_id=kernel_id)
    kernel.update_control(verbosity="DEBUG", source="test")
    entries = [
        KernelIntent(f"e{s}", f"t{s}", s, "BTCUSDT", side, "ENTER", 100.0, 1.0)
        for s, side in enumerate(("LONG", "SHORT"))
    ]
    orders = [kernel.process_intent(entry).order for entry in entries]

    def fill(slot: int) -> None:
        order = orders[slot]
        assert order is not None
        ev = VenueEvent(
            f"f{slot}", f"t{slot}", slot, "FILL", venue_client_id=order.client_order_id, asset="BTCUSDT",
            price=100.0, size=1.0, filled_size=1.0, fill_id="123",
        )  # fmt: skip
        assert kernel.on_venue_event(ev).accepted

    fill(0)
    assert _settle(kernel, "s0", "123", 0.5, asset=asset).details.get("actual_fee") == 0.5
    held = _settle(kernel, "s1", "123", 0.2, asset=asset)
    assert held.accepted and held.details["held_for_fill"], held
    journal.flush(30)
    assert kernel.account()["k_fees_paid"] == pytest.approx(0.5)

    long_side = ("t0", "123")
    settled = _per_fill(_run((journal, None), 7, kernel=kernel_id), "actual_fee", "fee_charged")
    assert settled == {long_side: (0.5, 0.5)}
    fees = journal.query(_fees_per_fill_query(), {"kernel": kernel_id}).records()
    assert _per_fill(fees, "actual_fee", "settled_fee")[long_side] == (0.5, 0.5)
    totals = journal.query(_funding_query(), {"kernel": kernel_id}).records()
    assert (totals[0]["fees_settled"], totals[0]["fees_charged"]) == (pytest.approx(0.7), pytest.approx(0.5))

    fill(1)  # the short's fill takes the held settlement
    journal.flush(30)
    paid = {f"t{s}": kernel.slot_state(s).fees_paid for s in range(2)}
    assert paid == pytest.approx({"t0": 0.5, "t1": 0.2})
    rows = _run((journal, None), 6, kernel=kernel_id)
    assert {r["trade_id"]: r["fees"] for r in rows} == pytest.approx(paid)
    totals = journal.query(_funding_query(), {"kernel": kernel_id}).records()
    assert totals[0]["fees_charged"] == pytest.approx(0.7)


def test_a_fill_settled_once_a_resend_names_its_id_is_charged_the_settlements_fee(
    journal: ClickHouseJournal,
) -> None:
    """A fill booked without a trade id ("f0", so its row's fill_id is "f0") is settled by the
    settlement held for "T1" once the report is resent naming "T1" (refused, a duplicate). The
    journal writes that settlement as a FILL_SETTLED of "f0" at the resend's seq, with what it
    charged: the queries read the exchange's fee, not the fill's prediction, and the funding
    query counts the settlement's fee once."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), journal=journal, kernel_id="learned")
    order = kernel.process_intent(KernelIntent("e0", "t0", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 2.0)).order
    assert order is not None

    def report(fill_id: str) -> Any:
        return kernel.on_venue_event(
            VenueEvent(
                "f0",
                "t0",
                0,
                "FILL",
                venue_client_id=order.client_order_id,
                asset="BTCUSDT",
                price=100.0,
                size=2.0,
                filled_size=2.0,
                fill_id=fill_id,
            )
        )

    assert report("").accepted
    assert _settle(kernel, "h1", "T1", 0.5, asset="BTCUSDT").details["held_for_fill"] is True
    resent = report("T1")
    assert (resent.accepted, resent.details["settled_by"]) == (False, "h1")
    journal.flush(30)
    paid = kernel.slot_state(0).fees_paid
    assert paid == pytest.approx(0.5) == kernel.account()["k_fees_paid"]
    ((predicted,),) = journal.query("SELECT fee FROM fills FINAL WHERE kernel_id = 'learned'").rows
    assert predicted != pytest.approx(0.5)

    assert [(r["trade_id"], r["fees"]) for r in _run((journal, None), 6, kernel="learned")] == [
        ("t0", pytest.approx(paid))
    ]
    settled = _per_fill(
        _run((journal, None), 7, kernel="learned"), "predicted_fee", "actual_fee", "fee_charged"
    )
    assert settled == {("t0", "f0"): (predicted, 0.5, 0.5)}
    totals = journal.query(_funding_query(), {"kernel": "learned"}).records()
    assert totals == [
        {
            "funding": 0.0,
            "fees_settled": pytest.approx(0.5),
            "fees_charged": pytest.approx(paid),
            "refused_events": 0,
        }
    ]


@pytest.mark.parametrize("asset", ["BTC", ""])
def test_a_standing_settlement_applied_by_the_other_sides_fee_leaves_that_fee_in_fees_settled(
    journal: ClickHouseJournal, asset: str
) -> None:
    """A self-trade's two fills wait (maker 10, taker 25); a settlement saying the prediction
    stands is held for a side; the exchange's fee for the maker (9.5, naming the asset or none)
    settles it and lets the held one stand for the taker. The held one's second row takes the
    seq of the exchange's fee's row: the funding query counts the exchange's fee all the same."""
    kernel_id = f"side-{asset or 'bare'}"
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue(), journal=journal, kernel_id=kernel_id)
    kernel.set_seed_capital(1_000_000.0)
    for slot, side, liquidity in ((0, "LONG", "maker"), (1, "SHORT", "taker")):
        intent = KernelIntent(f"e{slot}", f"t{slot}", slot, "BTC", side, "ENTER", 50_000.0, 1.0)
        order = kernel.process_intent(intent).order
        assert order is not None
        ev = VenueEvent(
            f"f{slot}", f"t{slot}", slot, "FILL", venue_client_id=order.client_order_id, asset="BTC",
            price=50_000.0, size=1.0, filled_size=1.0, fill_id="777", metadata={"liquidity": liquidity},
        )  # fmt: skip
        assert kernel.on_venue_event(ev).accepted
    held = kernel.on_account_event(
        AccountEvent("s1", "FILL_SETTLED", asset="BTC", fill_id="777", predicted_fee_stands=True)
    )
    assert held.details["held_for_fill"] is True
    journal.flush(30)
    totals = journal.query(_funding_query(), {"kernel": kernel_id}).records()
    assert (totals[0]["fees_settled"], totals[0]["fees_charged"]) == (0.0, 0.0)
    # Query 6 reads both sides at the held one's fee, 0, while they wait at their predictions.
    fees = {r["trade_id"]: r["fees"] for r in _run((journal, None), 6, kernel=kernel_id)}
    assert fees == {"t0": 0.0, "t1": 0.0}

    out = _settle(kernel, "s2", "777", 9.5, asset=asset)
    assert out.details["other_side_settled_by"] == "s1", out
    journal.flush(30)
    paid = kernel.account()["k_fees_paid"]
    assert paid == pytest.approx(9.5 + 25.0)
    totals = journal.query(_funding_query(), {"kernel": kernel_id}).records()
    # The exchange's figures: 0 (the standing one's) and 9.5; the kernel charged 9.5 and 25.
    assert (totals[0]["fees_settled"], totals[0]["fees_charged"]) == (pytest.approx(9.5), pytest.approx(paid))


def test_a_quiet_kernels_working_slot_is_not_in_query_5_and_the_cli_says_why(
    journal: ClickHouseJournal, journal_dsn: str
) -> None:
    """Query 5 answered none for a kernel at QUIET with an order working, unsaid: QUIET journals
    only the transitions into CLOSED, and no intent. The guide says which queries need NORMAL,
    and `dita journal sql` warns on a query of those tables when the kernel's verbosity is QUIET."""
    from typer.testing import CliRunner

    from dita.cli import app

    kernel = ExecutionKernel(
        max_slots=1, venue=MockVenueAdapter(seed=1, fill_rate=0.0), journal=journal, kernel_id="quiet"
    )
    kernel.update_control(verbosity="QUIET", source="test")
    kernel.process_intent(
        KernelIntent(
            intent_id="enter-0",
            trade_id="T0",
            slot_id=0,
            asset="BTC-USDT",
            side="LONG",
            action="ENTER",
            reference_price=100.0,
            target_size=2.0,
            order_type="LIMIT",
            limit_price=99.0,
            timestamp=T,
        )
    )
    assert kernel.slot_state(0).fsm_state.name == "ENTRY_WORKING"
    journal.flush()
    assert journal.query(_query(5), {"kernel": "quiet"}).rows == []
    assert journal.query("SELECT count() FROM intents").rows == [[0]]
    sections = re.split(r"^### ", DOC.read_text(), flags=re.M)[1:]
    for number in (1, 3, 4, 5, 10):
        (section,) = [s for s in sections if s.startswith(f"{number}. ")]
        assert "Needs NORMAL or higher" in section.split("```sql")[0], number

    runner = CliRunner()
    said = runner.invoke(app, ["journal", "sql", "--dsn", journal_dsn, "-p", "kernel=quiet", _query(5)])
    assert said.exit_code == 0, said.output
    assert said.stderr.startswith("warning: kernel 'quiet' journals at QUIET"), said.stderr
    # A query of a table QUIET fills, or naming another kernel, is not warned about.
    for args in (["SELECT count() FROM fills"], ["-p", "kernel=other", _query(5)]):
        quiet = runner.invoke(app, ["journal", "sql", "--dsn", journal_dsn, *args])
        assert quiet.exit_code == 0 and quiet.stderr == "", (args, quiet.output)
    kernel.update_control(verbosity="NORMAL", source="test")
    journal.flush()
    normal = runner.invoke(app, ["journal", "sql", "--dsn", journal_dsn, "-p", "kernel=quiet", _query(5)])
    assert normal.exit_code == 0 and normal.stderr == "", normal.output


def test_every_query_of_the_guide_that_picks_a_slot_picks_its_kernel() -> None:
    """The guide's first example picked slot 3 of every kernel in the journal: kernels sharing a
    journal number their slots alike."""
    text = DOC.read_text()
    queries = re.findall(r"```sql\n(.*?)```", text, re.S)
    queries += [line for block in re.findall(r"```\n(.*?)```", text, re.S) for line in block.splitlines()]
    picking = [q for q in queries if re.search(r"\bslot_id = \{", q)]
    assert len(picking) >= 3
    for query in picking:
        assert re.search(r"\bkernel_id = \{kernel:String\}", query), query
