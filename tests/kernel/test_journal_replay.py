"""A kernel restarted on its write-ahead log refills the journal rows the crash lost."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import SilentVenue, intent

from dita import JOURNAL_COLUMNS, AccountEvent, ExecutionKernel, InMemoryJournal, MockVenueAdapter, VenueEvent


def workload(kernel: ExecutionKernel, part: int) -> None:
    fill_ids = []
    for n in range(part * 10, part * 10 + 10):
        slot = n % 3
        out = kernel.process_intent(
            intent("ENTER", slot, intent_id=f"e{n}", trade_id=f"t{n}", timestamp=1000.0 + n)
        )
        fill_ids += [e["fill_id"] for e in out.to_dict()["emitted_events"] if e["kind"] == "FILL"]
        kernel.process_intent(intent("EXIT", slot, intent_id=f"x{n}", trade_id="", timestamp=1000.5 + n))
    kernel.on_account_event(AccountEvent(f"fund{part}", "FUNDING_FEE", amount=-0.25, timestamp=2000.0 + part))
    settled = {"fill_id": fill_ids[0], "asset": "BTCUSDT", "fee": 0.04}
    kernel.on_account_event(AccountEvent(f"paid{part}", "FILL_SETTLED", timestamp=2000.05 + part, **settled))
    # Refused, and journaled as refused: the exchange settles a fill the kernel settled already
    # (its settlement resent under another id), and sends the funding again.
    kernel.on_account_event(AccountEvent(f"settle{part}", "FILL_SETTLED", timestamp=2000.1 + part, **settled))
    kernel.on_account_event(AccountEvent(f"fund{part}", "FUNDING_FEE", amount=-0.25, timestamp=2000.2 + part))


def keyed(journal: InMemoryJournal) -> dict[tuple[str, int, int], dict[str, Any]]:
    tables = ("intents", "transitions", "fills", "account_events", "control_changes", "venue_events")
    return {(t, r["seq"], r["sub"]): r for t in tables for r in journal.rows(t)}


def rows_live_and_from_the_log(kernel: ExecutionKernel, table: str) -> list[Any]:
    """The rows of ``table`` the kernel made live, once the log gave the same rows back."""
    kernel.wal_sync()
    live = kernel.drain_journal(1_000_000)[table]
    chunks: list[list[Any]] = []
    kernel.wal_journal_blocks(1, sink=chunks.append)
    replayed = [row for blocks in chunks for b in blocks if b.table == table for row in b.tuples()]
    assert replayed == live
    return live


def test_restart_on_the_log_fills_the_journal_gap(tmp_path: Path) -> None:
    reference = InMemoryJournal()
    ref = ExecutionKernel(max_slots=3, venue=MockVenueAdapter(seed=5), journal=reference, kernel_id="jr")
    for part in (0, 1):
        workload(ref, part)

    before_crash = InMemoryJournal()
    held = [
        ExecutionKernel(
            max_slots=3,
            venue=MockVenueAdapter(seed=5),
            journal=before_crash,
            kernel_id="jr",
            wal_dir=str(tmp_path),
            fsync="always",
        )
    ]
    workload(held[0], 0)
    written = keyed(before_crash)  # what reached the journal before the crash
    workload(held[0], 1)  # these rows were still in the outbox when the process died
    held.clear()
    del before_crash  # the journal's writer dies with the process too
    gc.collect()

    after_restart = InMemoryJournal()
    restarted = ExecutionKernel(venue=MockVenueAdapter(seed=5), journal=after_restart, wal_dir=str(tmp_path))
    assert restarted.kernel_id == "jr"
    refilled = keyed(after_restart)
    expected = keyed(reference)
    assert len(refilled) > len(expected) // 2
    combined = {**written, **refilled}
    assert combined.keys() == expected.keys()
    assert combined == expected
    # The refused account events of the lost part came back as refused.
    refused = [
        (r["event_id"], r["diagnostic_code"])
        for (t, _, _), r in sorted(refilled.items())
        if t == "account_events" and not r["accepted"]
    ]
    assert refused[-2:] == [("settle1", "UNKNOWN_ORDER"), ("fund1", "DUPLICATE_EVENT")]


def test_the_log_gives_back_the_rows_made_live_for_any_span(tmp_path: Path) -> None:
    kernel = ExecutionKernel(
        max_slots=3, venue=MockVenueAdapter(seed=5), kernel_id="jr", wal_dir=str(tmp_path), fsync="none"
    )
    kernel.set_journal_enabled(True)
    for part in range(4):
        workload(kernel, part)
        if part == 1:
            kernel.wal_checkpoint()
    kernel.wal_sync()  # the outbox hands out the rows of the inputs the log holds
    live = kernel.drain_journal(1_000_000)
    last = kernel.wal_info()["last_seq"]
    for first, to in ((1, None), (last // 3, 2 * last // 3), (last, last)):
        chunks: list[list[Any]] = []
        rows = kernel.wal_journal_blocks(first, to, sink=chunks.append, chunk_rows=40)
        got: dict[str, list[Any]] = {t: [] for t in live}
        for blocks in chunks:
            for block in blocks:
                assert block.kernel_id == "jr"
                got[block.table].extend(block.tuples())
        end = last if to is None else to
        want = {t: [r for r in rs if first <= r[0] <= end] for t, rs in live.items()}
        assert {t: sorted(rs) for t, rs in got.items()} == {t: sorted(rs) for t, rs in want.items()}
        assert rows == sum(len(rs) for rs in want.values())
        if to is None:
            assert len(chunks) > 2  # handed over in chunks, not all at once
            accepted = JOURNAL_COLUMNS["account_events"].index("accepted")
            assert [r[accepted] for r in got["account_events"]].count(False) == 8  # refused, replayed


def test_the_log_gives_back_venue_events_with_what_they_carried(tmp_path: Path) -> None:
    """A venue event's fill id, fee and retry_after come back from the log as they went live,
    for the fill booked, the duplicate refused and the rate limit alike."""
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="jr", wal_dir=str(tmp_path))
    kernel.set_journal_enabled(True)
    kernel.update_control(verbosity="DEBUG", source="test")
    coids = []
    for slot in (0, 1):
        assert kernel.process_intent(intent("ENTER", slot, trade_id=f"t{slot}")).accepted
        order = kernel.slot_state(slot).active_entry_order
        assert order is not None
        coids.append(order.client_order_id)
    fills = (("f1", "exec-1", 0.02), ("f1-resent", "exec-1", 0.02), ("f2", "exec-2", None))
    for event_id, fill_id, fee in fills:
        kernel.on_venue_event(
            VenueEvent(
                event_id,
                "",
                -1,
                "FILL",
                venue_client_id=coids[0],
                price=100.0,
                size=0.4,
                fill_id=fill_id,
                fee=fee,
            )
        )
    kernel.on_venue_event(VenueEvent("r1", "", -1, "RATE_LIMITED", venue_client_id=coids[1], retry_after=2.5))
    live = rows_live_and_from_the_log(kernel, "venue_events")
    cols = JOURNAL_COLUMNS["venue_events"]
    carried = [
        tuple(row[cols.index(c)] for c in ("event_id", "fill_id", "fee", "retry_after", "diagnostic_code"))
        for row in live
    ]
    assert carried == [
        ("f1", "exec-1", 0.02, 0.0, "OK"),
        ("f1-resent", "exec-1", 0.02, 0.0, "DUPLICATE_EVENT"),
        ("f2", "exec-2", None, 0.0, "OK"),
        ("r1", "", None, 2.5, "RATE_LIMITED"),
    ]


def test_bad_spans_and_sinks_are_refused_and_change_nothing(tmp_path: Path) -> None:
    bare = ExecutionKernel(max_slots=3, kernel_id="bare")
    with pytest.raises(ValueError, match="needs a kernel with a write-ahead log"):
        bare.wal_journal_blocks(1, sink=print)
    kernel = ExecutionKernel(
        max_slots=3, venue=MockVenueAdapter(seed=5), kernel_id="jr", wal_dir=str(tmp_path)
    )
    kernel.set_journal_enabled(True)
    workload(kernel, 0)
    last = kernel.wal_info()["last_seq"]
    for kwargs, error, says in (
        ({"from_seq": 0}, ValueError, "invalid from_seq: 0"),
        ({"from_seq": last + 1}, ValueError, f"invalid from_seq: {last + 1}"),
        ({"from_seq": 5, "to_seq": 4}, ValueError, "invalid to_seq: 4"),
        ({"from_seq": 1, "to_seq": last + 7}, ValueError, f"invalid to_seq: {last + 7}"),
        ({"from_seq": 1, "chunk_rows": 0}, ValueError, "invalid chunk_rows: 0"),
        ({"from_seq": 1, "sink": 5}, TypeError, "sink must be callable, got int"),
    ):
        kwargs.setdefault("sink", print)
        with pytest.raises(error, match=says):
            kernel.wal_journal_blocks(**kwargs)

    def broken(blocks: list[Any]) -> None:
        raise RuntimeError("sink broke")

    before = (kernel.snapshot(), kernel.wal_info()["last_seq"], kernel.stats()["journal_queued"])
    with pytest.raises(RuntimeError, match="sink broke"):
        kernel.wal_journal_blocks(1, sink=broken)
    assert (kernel.snapshot(), kernel.wal_info()["last_seq"], kernel.stats()["journal_queued"]) == before
    workload(kernel, 1)  # and the kernel goes on
    assert kernel.wal_info()["last_seq"] > last


def test_the_log_gives_back_why_each_venue_event_was_refused_or_warned_about(tmp_path: Path) -> None:
    """A venue event's severity and details (an OVERFILL's figures, a fill's warnings, the fee
    split of a report booked in part) come back from the log as they were journaled live."""
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="jr", wal_dir=str(tmp_path))
    kernel.set_journal_enabled(True)
    kernel.update_control(verbosity="DEBUG", source="test")
    coids = []
    for slot in (0, 1):
        assert kernel.process_intent(intent("ENTER", slot, trade_id=f"t{slot}")).accepted
        order = kernel.slot_state(slot).active_entry_order
        assert order is not None
        coids.append(order.client_order_id)
    events = (
        (
            "f1",
            0,
            "FILL",
            {
                "size": 0.25,
                "filled_size": 0.25,
                "fill_id": "exec-1",
                "fee": 0.05,
                "status": "PARTIALLY_FILLED",
            },
        ),
        (
            "f2",
            0,
            "FILL",
            {"size": 0.5, "filled_size": 0.5, "fill_id": "exec-2", "fee": 0.1, "status": "PARTIALLY_FILLED"},
        ),
        ("f3", 0, "FILL", {"size": 0.1, "filled_size": 0.9, "fill_id": "exec-3"}),
        ("f4", 0, "FILL", {"size": 5.0, "filled_size": 5.6, "fill_id": "exec-4"}),
        ("x1", 1, "EXPIRED", {}),
        ("f5", 1, "FILL", {"size": 0.5, "filled_size": 0.5, "fill_id": "exec-5"}),
    )
    outcomes = [
        kernel.on_venue_event(
            VenueEvent(event_id, "", -1, kind, venue_client_id=coids[slot], price=100.0, **fields)
        )
        for event_id, slot, kind, fields in events
    ]
    live = rows_live_and_from_the_log(kernel, "venue_events")
    cols = JOURNAL_COLUMNS["venue_events"]
    got = [(row[cols.index("severity")], json.loads(row[cols.index("details")])) for row in live]
    assert got == [(out.severity.name, dict(out.details)) for out in outcomes]
    # Each kind of reason is there: nothing to say, a fee split, a warning, a refusal, a late fill.
    assert [(out.diagnostic_code.name, out.severity.name, sorted(out.details)) for out in outcomes] == [
        ("OK", "INFO", []),
        ("OK", "INFO", ["booked_qty", "fee_charged", "reported_fee"]),
        ("OK", "WARNING", ["unreported_qty", "venue_filled_size"]),
        ("OVERFILL", "CRITICAL", ["client_order_id", "fill_qty", "filled_size", "order_size"]),
        ("OK", "INFO", []),
        ("OK", "WARNING", ["client_order_id", "late_fill"]),
    ]


def test_the_log_gives_back_what_each_settlement_charged(tmp_path: Path) -> None:
    """account_events.fee_charged comes back from the log as it went live (a WAL resend writes
    the rows the live kernel did): the share for a fill booked from part of a report, the
    whole fee for one booked whole, None for a refused settlement and the other kinds."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="jr", wal_dir=str(tmp_path))
    kernel.set_journal_enabled(True)
    assert kernel.process_intent(intent("ENTER", 0, target_size=10.0)).accepted
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    # A total of 2 (the fill is known by its event id "s1"), then trade T2 of 3 at total 3: 1 booked.
    for event_id, fields in (
        ("s1", {"filled_size": 2.0}),
        ("e2", {"size": 3.0, "filled_size": 3.0, "fill_id": "T2"}),
    ):
        out = kernel.on_venue_event(
            VenueEvent(event_id, "", -1, "FILL", venue_client_id=order.client_order_id, price=100.0, **fields)
        )
        assert out.accepted, out
    events = (
        AccountEvent("st", "FILL_SETTLED", asset="BTCUSDT", fill_id="T2", fee=0.18),
        AccountEvent("ss", "FILL_SETTLED", asset="BTCUSDT", fill_id="s1", fee=0.2),
        AccountEvent("st-again", "FILL_SETTLED", asset="BTCUSDT", fill_id="T2", fee=0.18),
        AccountEvent("fund", "FUNDING_FEE", amount=-0.25),
    )
    assert [kernel.on_account_event(ev).accepted for ev in events] == [True, True, False, True]
    live = rows_live_and_from_the_log(kernel, "account_events")
    cols = JOURNAL_COLUMNS["account_events"]
    charged = [(row[cols.index("event_id")], row[cols.index("fee_charged")]) for row in live]
    assert charged == [("st", pytest.approx(0.06)), ("ss", 0.2), ("st-again", None), ("fund", None)]


def test_the_log_gives_rows_only_of_inputs_it_holds(tmp_path: Path) -> None:
    """Under fsync="batch" the replay synced the log only when records were still in the
    writer's buffer: records handed to the OS but not yet synced (the group commit comes every
    10 ms) gave rows, and a machine crash then left journal rows of inputs the log lost. Its
    rows are now of inputs the log holds (``journaled_through()``), as the outbox's are."""
    kernel = ExecutionKernel(
        max_slots=1, venue=MockVenueAdapter(seed=5), kernel_id="jr-held", wal_dir=str(tmp_path), fsync="batch"
    )
    kernel.set_journal_enabled(True)
    held: list[tuple[int, int]] = []  # (the span's last seq, what the log held as it gave rows)
    for n in range(40):
        assert kernel.process_intent(intent("ENTER" if n % 2 == 0 else "EXIT", 0)).accepted
        to = kernel.wal_info()["last_seq"]  # its head hash hands the buffer to the OS, unsynced
        kernel.wal_journal_blocks(to, sink=lambda _, to=to: held.append((to, kernel.journaled_through())))
    assert len(held) == 40, "each record gave rows"
    assert [(to, h) for to, h in held if h < to] == []


def test_the_log_gives_back_a_settlement_at_the_predicted_fee_and_what_it_charged(tmp_path: Path) -> None:
    """A FILL_SETTLED saying the predicted fee stands is journaled with its fee, 0, and the
    prediction it charged, and the log gives the same row back; a kernel restarted on the log
    holds the account it left."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="jp", wal_dir=str(tmp_path))
    kernel.set_journal_enabled(True)
    assert kernel.process_intent(intent("ENTER", 0, target_size=10.0)).accepted
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    coid = order.client_order_id
    fill = VenueEvent("e1", "", -1, "FILL", venue_client_id=coid, price=100.0, filled_size=10.0, fill_id="T1")
    assert kernel.on_venue_event(fill).accepted
    predicted = kernel.account()["k_unsettled_fees"]
    assert predicted > 0
    stands = AccountEvent("s1", "FILL_SETTLED", asset="BTCUSDT", fill_id="T1", predicted_fee_stands=True)
    assert kernel.on_account_event(stands).accepted
    account = kernel.account()
    assert account["k_unsettled_fees"] == 0.0
    live = rows_live_and_from_the_log(kernel, "account_events")
    cols = JOURNAL_COLUMNS["account_events"]
    ((row),) = live
    assert (row[cols.index("fee")], row[cols.index("fee_charged")]) == (0.0, pytest.approx(predicted))
    kernel.close()
    del kernel
    gc.collect()
    restarted = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="jp", wal_dir=str(tmp_path))
    assert {k: restarted.account()[k] for k in ("k_fees_paid", "k_unsettled_fees")} == {
        k: account[k] for k in ("k_fees_paid", "k_unsettled_fees")
    }
    restarted.close()


def test_a_predicted_fee_standing_held_for_a_self_trades_side_is_journaled_again_once_applied(
    tmp_path: Path,
) -> None:
    """Both sides of a self-trade booked (the maker's predicted at 10, the taker's at 25), the
    standing settlement is held, charging nothing; the exchange's maker fee then settles the
    maker's fill, and the held one the taker's, in a second row under the fill id holding what it
    charged. The log gives the same rows back."""
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="js", wal_dir=str(tmp_path))
    kernel.set_seed_capital(1_000_000.0)
    kernel.set_journal_enabled(True)
    for slot, side, liquidity in ((0, "LONG", "maker"), (1, "SHORT", "taker")):
        order = kernel.process_intent(
            intent("ENTER", slot, asset="BTC", side=side, reference_price=50_000.0, target_size=1.0)
        ).order
        fill = VenueEvent(
            f"e{slot}", f"t{slot}", slot, "FILL", venue_client_id=order.client_order_id, asset="BTC",
            price=50_000.0, size=1.0, filled_size=1.0, fill_id="777", metadata={"liquidity": liquidity},
        )  # fmt: skip
        assert kernel.on_venue_event(fill).accepted
    held = kernel.on_account_event(
        AccountEvent("s1", "FILL_SETTLED", asset="BTC", fill_id="777", predicted_fee_stands=True)
    )
    assert held.details["held_for_fill"] is True
    out = kernel.on_account_event(AccountEvent("s2", "FILL_SETTLED", asset="BTC", fill_id="777", fee=10.0))
    assert out.details["other_side_settled_by"] == "s1"
    assert (kernel.slot_dict(0)["fees_paid"], kernel.slot_dict(1)["fees_paid"]) == pytest.approx((10.0, 25.0))
    live = rows_live_and_from_the_log(kernel, "account_events")
    cols = JOURNAL_COLUMNS["account_events"]
    rows = [tuple(row[cols.index(c)] for c in ("event_id", "fill_id", "fee", "fee_charged")) for row in live]
    held_row, applied_row = ("s1", "777", 0.0, None), ("s1", "777", 0.0, pytest.approx(25.0))
    assert rows == [held_row, applied_row, ("s2", "777", 10.0, 10.0)]
    kernel.close()
