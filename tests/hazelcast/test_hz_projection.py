"""HazelcastProjection against a real member: the maps equal the kernel's snapshot()."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from hz_helpers import eventually, expected, make_venue, mixed_workload, projected

from dita import ExecutionKernel, KernelIntent
from dita.projection import Projection
from dita.projection.hazelcast import (
    ACCOUNTS_MAP,
    LIVE_WITHIN_S,
    SLOTS_MAP,
    HazelcastProjection,
    LifecycleState,
    cluster_settings,
    read_map,
    to_json_value,
)
from dita.services.hazelcast import HazelcastMember


def _projection(member: HazelcastMember, **kwargs: Any) -> HazelcastProjection:
    return HazelcastProjection([member.address], member.cluster_name, **kwargs)


def test_projection_equals_snapshot_after_mixed_workload(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    projection = _projection(hz_member, interval=0.01)
    assert isinstance(projection, Projection)
    kernel = ExecutionKernel(max_slots=16, venue=make_venue(), projection=projection, kernel_id=kernel_id)
    try:
        outcomes = mixed_workload(kernel, rounds=3_000, seed=11)
        # The workload really was mixed: every kind of input happened and some were refused.
        for kind in ("enter:OK", "exit:OK", "fill:OK", "cancel:OK", "mark", "account:OK"):
            assert outcomes[kind] > 0, (kind, outcomes)
        assert any(k.startswith("refused:") and not k.endswith(":OK") for k in outcomes), outcomes
        assert projection.sync(timeout=30)
        assert projected(hz_client, kernel_id) == expected(kernel.snapshot())
        stages = {s["fsm_state"] for s in kernel.snapshot()["slots"]}
        assert "POSITION_OPEN" in stages
    finally:
        kernel.close()


def test_burst_to_one_slot_costs_one_write(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    # A long interval and heartbeat: the publisher runs only when sync() asks it to.
    projection = _projection(hz_member, interval=30.0, heartbeat=15.0)
    kernel = ExecutionKernel(max_slots=4, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=30)
        enter = KernelIntent(f"{kernel_id}-e", f"{kernel_id}-t", 2, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1)
        assert kernel.process_intent(enter).accepted
        assert projection.sync(timeout=30)
        before = projection.stats()["updates_published"]
        for i in range(10_000):
            kernel.mark_price("ETH-USD", 3_000.0 + (i % 100))
        assert projection.sync(timeout=30)
        # One slot and the account changed: two writes for 10,000 updates.
        assert projection.stats()["updates_published"] - before == 2
        slot = projected(hz_client, kernel_id)["slots"][2]
        assert slot["mark_price"] == kernel.slot_dict(2)["mark_price"] == 3_099.0
    finally:
        kernel.close()


def test_stats_report_staleness_and_counters(hz_member: HazelcastMember, kernel_id: str) -> None:
    projection = _projection(hz_member, interval=0.01)
    kernel = ExecutionKernel(max_slots=4, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=30)
        stats = projection.stats()
        assert stats["connected"] is True
        assert stats["kernels"] == 1
        assert stats["resyncs"] >= 1  # the first publish of a kernel is a full one
        assert stats["updates_published"] >= 4 + 2  # every slot, the account and the control
        assert stats["errors"] == 0 and stats["last_error"] == ""
        assert 0 < stats["staleness_p50_s"] <= stats["staleness_p99_s"] <= stats["staleness_max_s"]
        assert stats["staleness_s"] >= 0
    finally:
        kernel.close()


def test_the_accounts_heartbeat_goes_on_through_a_long_duty_pause(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """After a cycle that kept the publisher busy (a full publish of 80,000 slots: 3.4 s), the
    duty cap held it off nine times as long, and nothing wrote the account meanwhile: readers
    took a live kernel for gone (its account over 30 s old). Accounts are now rewritten by
    heartbeats of their own through such a pause, and staleness_s says how long it lasts."""
    from dita.projection.hazelcast import ACCOUNTS_MAP

    # A duty cap so low that any cycle holds the publisher off for far longer than the test:
    # the pause is the cycle's CPU time over the cap, and an idle cycle takes tens of
    # microseconds (at 1e-5, one of 48 us paused 4.8 s, under the 5 s asserted below).
    projection = _projection(hz_member, interval=0.01, heartbeat=0.4, max_duty=1e-8)
    kernel = ExecutionKernel(max_slots=64, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=30)
        accounts = hz_client.get_map(ACCOUNTS_MAP).blocking()

        def stamp() -> float:
            return float(json.loads(accounts.get(kernel_id).to_string())["projected_at"])

        assert projection.stats()["staleness_s"] > 5  # the pause the cap imposes is said
        # Rewritten every heartbeat (0.2 s here) through the pause: twice, whenever they land.
        first = stamp()
        assert eventually(lambda: stamp() > first, timeout=15)
        second = stamp()
        assert eventually(lambda: stamp() > second, timeout=15)
        # Not a cycle: a sync still publishes what changed (it ends the pause).
        enter = KernelIntent(f"{kernel_id}-e", f"{kernel_id}-t", 1, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1)
        assert kernel.process_intent(enter).accepted
        assert projection.sync(timeout=30)
        assert projected(hz_client, kernel_id)["slots"][1]["fsm_state"] == "POSITION_OPEN"
    finally:
        kernel.close()


def _positions_shown(projection: dict[str, Any]) -> int:
    return sum(1 for s in projection["slots"] if s["fsm_state"] == "POSITION_OPEN" and s["size"] > 0.0)


def test_a_heartbeat_through_a_duty_pause_writes_the_account_of_the_slots_in_the_maps(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """An entry made during a long duty pause waits, its slot and the account with it, for the
    next cycle: the heartbeats meanwhile rewrite the account the last cycle wrote, not the
    kernel's account now, which counts a position the slots in the maps do not hold."""
    projection = _projection(hz_member, interval=0.01, heartbeat=0.4, max_duty=1e-8)  # as above
    kernel = ExecutionKernel(max_slots=4, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=30)
        accounts = hz_client.get_map(ACCOUNTS_MAP).blocking()

        def stamp() -> float:
            return float(json.loads(accounts.get(kernel_id).to_string())["projected_at"])

        enter = KernelIntent(f"{kernel_id}-e", f"{kernel_id}-t", 1, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1)
        assert kernel.process_intent(enter).accepted
        first = stamp()
        assert eventually(lambda: stamp() > first, timeout=15)  # a heartbeat since the entry
        shown = projected(hz_client, kernel_id)
        assert shown["slots"][1]["fsm_state"] != "POSITION_OPEN"  # the slot waits
        assert shown["account"]["open_positions"] == _positions_shown(shown) == 0
        assert projection.sync(timeout=30)  # the next cycle writes both
        shown = projected(hz_client, kernel_id)
        assert shown["account"]["open_positions"] == _positions_shown(shown) == 1
    finally:
        kernel.close()


def test_a_cycle_rewrites_the_account_of_the_state_of_the_slots_it_writes(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """A cycle whose heartbeat is due rewrites the account though it did not change: read after
    the cycle's slots, it would count an entry made in between, whose slot waits for the next
    cycle. Here the strategy enters right after such a cycle's read, and the next cycle is held
    off at its read while the maps are looked at."""
    import threading
    import time

    class EntersAfterARead(ExecutionKernel):
        pausing = False  # the next read is followed by two heartbeats' pause: the one after is due
        armed = False  # the next read is followed by the entry
        entered: list[bool] = []
        held = threading.Event()  # the cycle after the entry's reached its read
        release = threading.Event()

        def projection_changes(
            self, *, full: bool = False, with_account: bool = False
        ) -> tuple[dict[int, dict[str, Any]], dict[str, Any] | None, dict[str, Any] | None]:
            if self.entered:
                self.held.set()
                self.release.wait(10)
            changes = super().projection_changes(full=full, with_account=with_account)
            if self.armed:
                self.armed = False
                enter = KernelIntent(
                    f"{kernel_id}-e", f"{kernel_id}-t", 1, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1
                )
                self.entered.append(self.process_intent(enter).accepted)
            elif self.pausing:
                self.pausing = False
                time.sleep(0.1)
                self.armed = True
            return changes

    # Cycles every 10 ms, an account rewrite due 50 ms after the last (no heartbeats between cycles).
    projection = _projection(hz_member, interval=0.01, heartbeat=0.05)
    kernel = EntersAfterARead(max_slots=4, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=30)
        kernel.pausing = True
        # The next cycle reads only once the writes of the entry's cycle were confirmed.
        assert kernel.held.wait(10) and kernel.entered == [True]
        shown = projected(hz_client, kernel_id)
        assert shown["slots"][1]["fsm_state"] != "POSITION_OPEN"  # the slot waits
        assert shown["account"]["open_positions"] == _positions_shown(shown) == 0
    finally:
        kernel.release.set()
        kernel.close()


def test_bad_settings_are_refused_naming_the_value() -> None:
    with pytest.raises(ValueError, match=r"interval .* got -1"):
        HazelcastProjection(["127.0.0.1:1"], interval=-1)
    with pytest.raises(ValueError, match=r"heartbeat .* got 0"):
        HazelcastProjection(["127.0.0.1:1"], heartbeat=0)
    # Readers take a kernel whose account is older than LIVE_WITHIN_S for gone: a slower
    # heartbeat would show every idle live kernel as stopped (and `control set --wait` skip it).
    for slow in (LIVE_WITHIN_S, 60.0, float("inf")):
        with pytest.raises(ValueError, match=rf"heartbeat must be .* at most 15 s .*, got {slow!r}"):
            HazelcastProjection(["127.0.0.1:1"], heartbeat=slow)
    with pytest.raises(ValueError, match=r"max_duty must be a fraction in \(0, 1\], got 1.5"):
        HazelcastProjection(["127.0.0.1:1"], max_duty=1.5)
    # A call to a member that stopped answering must time out.
    for endless in (float("nan"), float("inf"), 0, -1.0):
        with pytest.raises(ValueError, match=rf"invocation_timeout must be .*, got {endless!r}"):
            HazelcastProjection(["127.0.0.1:1"], invocation_timeout=endless)
    with pytest.raises(ValueError, match=r"invocation_timeout must be a number of seconds, got '5'"):
        HazelcastProjection(["127.0.0.1:1"], invocation_timeout="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"host:port, got 'nohost'"):
        cluster_settings("nohost")
    with pytest.raises(ValueError, match=r"host:port, got 'h:99999'"):
        cluster_settings(["h:99999"])
    with pytest.raises(ValueError, match=r"cluster name must not be empty"):
        cluster_settings("127.0.0.1:5701", " ")
    # Other types: refused naming the value, not an AttributeError from inside.
    with pytest.raises(ValueError, match=r"cluster member must be host:port text, got 5701"):
        HazelcastProjection([5701])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"must be host:port text or a list of them, got 5701"):
        HazelcastProjection(5701)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"cluster members must be .*, got b'127.0.0.1:5701'"):
        cluster_settings(b"127.0.0.1:5701")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"cluster name must be UTF-8 text, got 5"):
        HazelcastProjection(["127.0.0.1:1"], 5)  # type: ignore[arg-type]


def test_attaching_a_kernel_twice_is_refused_and_changes_nothing(
    hz_member: HazelcastMember, kernel_id: str
) -> None:
    projection = _projection(hz_member)
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    try:
        with pytest.raises(ValueError, match=kernel_id):
            projection.attach(kernel)
        assert projection.stats()["kernels"] == 1
        assert projection.sync(timeout=30)
    finally:
        kernel.close()


def test_closing_kernels_publishes_their_last_state_and_shares_the_projection(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """kernel.close() publishes that kernel's last changes; the projection goes on for the
    kernels still open, closes with the last, and refuses to be attached to afterwards."""
    projection = _projection(hz_member, interval=30.0, heartbeat=15.0)  # publishes on sync only
    first = ExecutionKernel(max_slots=2, projection=projection, kernel_id=f"{kernel_id}-a")
    second = ExecutionKernel(max_slots=2, projection=projection, kernel_id=f"{kernel_id}-b")
    assert projection.sync(timeout=30)
    for kernel in (first, second):
        enter = KernelIntent(f"{kernel.kernel_id}-e", "t", 0, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1)
        assert kernel.process_intent(enter).state.name == "POSITION_OPEN"
    first.close()
    assert projected(hz_client, first.kernel_id)["slots"][0]["fsm_state"] == "POSITION_OPEN"
    assert projection.stats()["kernels"] == 1
    second.close()
    assert projected(hz_client, second.kernel_id)["slots"][0]["fsm_state"] == "POSITION_OPEN"
    with pytest.raises(RuntimeError, match="HazelcastProjection is closed"):
        ExecutionKernel(max_slots=2, projection=projection, kernel_id=f"{kernel_id}-c")


def test_closing_a_detached_kernel_leaves_the_one_attached_under_its_id(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """A kernel detached and then closed was released from the projection by its id: the
    kernel attached under that id since was dropped with it (its later changes never
    published) and its account marked closed, so readers took it for stopped."""
    projection = _projection(hz_member, interval=30.0, heartbeat=15.0)  # publishes on sync only
    keeper = ExecutionKernel(max_slots=1, projection=projection, kernel_id=f"{kernel_id}-keeper")
    old = ExecutionKernel(max_slots=1, projection=projection, kernel_id=kernel_id)
    projection.detach(old)
    new = ExecutionKernel(max_slots=1, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=30)
        old.close()
        new.set_seed_capital(777.0)
        assert projection.sync(timeout=30)
        assert projection.stats()["kernels"] == 2
        account = projected(hz_client, kernel_id)["account"]
        assert account is not None and account["capital"] == 777.0
        assert read_map(hz_client, ACCOUNTS_MAP)[kernel_id]["closed_at"] is None
    finally:
        new.close()
        old.close()
        keeper.close()


def test_a_projection_closed_while_a_kernel_attaches_refuses_it(
    hz_member: HazelcastMember, kernel_id: str
) -> None:
    """close() landing between attach()'s check and its registration must not leave the
    kernel registered with a projection that will never publish it."""
    projection = _projection(hz_member)
    kernel = ExecutionKernel(max_slots=2, kernel_id=kernel_id)
    enable = kernel.set_projection_enabled

    def closing_meanwhile(on: bool) -> None:
        if on:
            projection.close()
        enable(on)

    kernel.set_projection_enabled = closing_meanwhile  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="HazelcastProjection is closed"):
        projection.attach(kernel)
    assert projection.stats()["kernels"] == 0
    kernel.close()


def test_unreachable_cluster_never_reaches_the_strategy(kernel_id: str) -> None:
    from dita.services.hazelcast import free_port

    projection = HazelcastProjection([f"127.0.0.1:{free_port()}"], "nobody-home", interval=0.01)
    kernel = ExecutionKernel(max_slots=4, projection=projection, kernel_id=kernel_id)
    try:
        enter = KernelIntent(
            f"{kernel_id}-e", f"{kernel_id}-t", 0, "BTC-USD", "LONG", "ENTER", 60_000.0, 0.01
        )
        assert kernel.process_intent(enter).accepted
        kernel.mark_price("BTC-USD", 60_100.0)
        assert projection.sync(timeout=0.3) is False
        stats = projection.stats()
        assert stats["connected"] is False
        assert stats["updates_published"] == 0
        assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    finally:
        kernel.close()  # must not raise either


def _open_positions(kernel: ExecutionKernel, slots: range) -> None:
    for slot_id in slots:
        tag = f"{kernel.kernel_id}-{slot_id}"
        enter = KernelIntent(f"{tag}-e", f"{tag}-t", slot_id, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1)
        assert kernel.process_intent(enter).state.name == "POSITION_OPEN"


def test_a_kernel_restarted_with_fewer_slots_leaves_no_stale_slots(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """The slots a restarted kernel no longer has leave dita_slots (else their old open
    positions stay in the operators' queries for good); kernels whose ids share a prefix
    with it, or extend it past a colon, keep theirs."""
    neighbours = (f"{kernel_id}0", f"{kernel_id}:1")
    first = _projection(hz_member, interval=30.0, heartbeat=15.0)  # publishes on sync only
    # 12 slots: slot 10 is above the new 4 as a number, below it as a string.
    kids = (kernel_id, *neighbours)
    before = [ExecutionKernel(max_slots=12, projection=first, kernel_id=kid) for kid in kids]
    for kernel in before:
        _open_positions(kernel, range(12))
    assert first.sync(timeout=30)
    neighbour_rows = {kid: projected(hz_client, kid) for kid in neighbours}
    for kernel in before:
        kernel.close()

    second = _projection(hz_member, interval=30.0, heartbeat=15.0)
    kernel = ExecutionKernel(max_slots=4, projection=second, kernel_id=kernel_id)
    try:
        _open_positions(kernel, range(1, 3))
        assert second.sync(timeout=30)
        assert projected(hz_client, kernel_id) == expected(kernel.snapshot())
        # What an operator sees: the open-positions query names only slots the kernel has.
        with hz_client.sql.execute(
            "SELECT slot_id FROM dita_slots WHERE fsm_state = 'POSITION_OPEN' AND kernel_id = ? "
            "ORDER BY slot_id",
            kernel_id,
        ).result() as rows:
            assert [row["slot_id"] for row in rows] == [1, 2]
        for kid, rows in neighbour_rows.items():
            assert projected(hz_client, kid) == rows
            assert len(rows["slot_keys"]) == 12
    finally:
        kernel.close()


def test_a_reconnect_removes_slots_beyond_max_slots_again(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """Entries beyond max_slots that reach the cluster after the attach (a merge after a
    split brain) go with the republish on the next connect."""
    projection = _projection(hz_member, interval=30.0, heartbeat=15.0)
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=30)
        stale = dict(kernel.slot_dict(0), slot_id=5, kernel_id=kernel_id, fsm_state="POSITION_OPEN")
        hz_client.get_map(SLOTS_MAP).blocking().set(f"{kernel_id}:5", to_json_value(stale))
        assert len(projected(hz_client, kernel_id)["slot_keys"]) == 3
        projection._on_lifecycle(LifecycleState.CONNECTED)  # what the client reports on a reconnect
        assert projection.sync(timeout=30)
        assert projected(hz_client, kernel_id) == expected(kernel.snapshot())
    finally:
        kernel.close()


def test_the_mapping_samples_are_read_with_the_collector_held_off(hz_client: Any, kernel_id: str) -> None:
    """create_mappings reads the kernel off the hot path, like a publish: a collection during
    such a read could run Python code and hand the GIL to the strategy while the kernel is
    borrowed ("Already borrowed" in the strategy's next call), so none may start."""
    from dita.projection.hazelcast import create_mappings

    gc_during_reads: list[bool] = []

    class Recording(ExecutionKernel):
        def slot_dict(self, slot_id: int) -> dict[str, Any]:
            gc_during_reads.append(gc.isenabled())
            return super().slot_dict(slot_id)

        def account(self) -> dict[str, Any]:
            gc_during_reads.append(gc.isenabled())
            return super().account()

        def control(self) -> dict[str, Any]:
            gc_during_reads.append(gc.isenabled())
            return super().control()

    kernel = Recording(max_slots=2, kernel_id=kernel_id)
    assert gc.isenabled()
    create_mappings(hz_client, kernel)
    assert gc_during_reads == [False, False, False]
    assert gc.isenabled()
    kernel.close()


def test_a_kernel_detached_while_its_writes_are_out_leaves_staleness_alone(
    hz_member: HazelcastMember, kernel_id: str
) -> None:
    """A kernel closed while a cycle's writes for it are still out must not come back into
    the staleness bound when they land: staleness_s (the gateway's lag gauge) would grow for
    good for a kernel no longer there."""
    import time

    projection = _projection(hz_member, interval=30.0, heartbeat=15.0)  # publishes on sync only
    keep = ExecutionKernel(max_slots=2, projection=projection, kernel_id=f"{kernel_id}-keep")
    detached_at: list[float] = []

    class ClosedMidCycle(ExecutionKernel):
        def projection_changes(
            self, *, full: bool = False, with_account: bool = False
        ) -> tuple[dict[int, dict[str, Any]], dict[str, Any] | None, dict[str, Any] | None]:
            drained = super().projection_changes(full=full, with_account=with_account)
            if self.projection is not None and not detached_at:
                # What kernel.close() on the strategy's thread does between this cycle's
                # drain and the cluster's answer to its writes.
                self.projection.detach(self)
                detached_at.append(time.monotonic())
            return drained

    gone = ClosedMidCycle(max_slots=2, projection=projection, kernel_id=f"{kernel_id}-gone")
    try:
        assert projection.sync(timeout=30)
        assert detached_at and projection.stats()["kernels"] == 1
        time.sleep(0.2)
        keep.mark_price("ETH-USD", 3_000.0)
        assert projection.sync(timeout=30)
        # Bounded by keep's last publish, which started after the detach (staleness_s also
        # holds the 30 s pause until the next cycle of this publish-on-sync projection).
        assert projection.stats()["publish_age_s"] < time.monotonic() - detached_at[0]
    finally:
        gone.projection = None
        gone.close()
        keep.close()


def test_reads_of_two_threads_keep_the_collector_off_until_both_are_done() -> None:
    """The publisher and the control plane's listener read kernels from their own threads;
    when one finishes while the other is still inside a read, the collector must stay off
    (and come back on once both are done)."""
    import threading

    from dita.projection.hazelcast import kernel_reads

    assert gc.isenabled()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with kernel_reads():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with kernel_reads():
            second_in.set()
            first_out.wait(10)
            seen.append(gc.isenabled())  # still inside this thread's read

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_a_value_typed_by_hand_into_dita_slots_does_not_fail_every_publish(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """The removal of slots beyond max_slots is a predicate on every entry of dita_slots: a
    value there that is not JSON (text put by hand from a console) made the member refuse it
    ("no suitable accessor for 'kernel_id'"), so every cycle failed for good, every kernel's
    at that: each a full resync, sync() never True, errors and staleness_s growing, and a
    close waiting out its 5 s to warn its account may not say it closed. Such an entry is
    left alone, as the readers skip it."""
    slots = hz_client.get_map(SLOTS_MAP).blocking()
    stray_key = f"{kernel_id}-typed-by-hand"
    slots.set(stray_key, "hello")
    # An entry of an earlier run with more slots, to be removed with the value beside it.
    earlier = ExecutionKernel(max_slots=1, kernel_id=kernel_id)
    stale = dict(earlier.slot_dict(0), slot_id=5, kernel_id=kernel_id, fsm_state="POSITION_OPEN")
    earlier.close()
    slots.set(f"{kernel_id}:5", to_json_value(stale))
    projection = _projection(hz_member, interval=30.0, heartbeat=15.0)  # publishes on sync only
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=10), projection.stats()["last_error"]
        stats = projection.stats()
        assert stats["errors"] == 0 and stats["last_error"] == ""
        # The slot beyond max_slots went all the same; the value typed by hand is still there.
        assert projected(hz_client, kernel_id) == expected(kernel.snapshot())
        assert slots.get(stray_key) == "hello"
        enter = KernelIntent(f"{kernel_id}-e", f"{kernel_id}-t", 1, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1)
        assert kernel.process_intent(enter).accepted
        assert projection.sync(timeout=10)
        assert projection.stats()["errors"] == 0
        assert projected(hz_client, kernel_id)["slots"][1]["fsm_state"] == "POSITION_OPEN"
    finally:
        kernel.close()
        slots.remove(stray_key)  # other tests share this member


def test_a_sync_on_a_closed_projection_says_false_instead_of_waiting_for_ever(
    hz_member: HazelcastMember, kernel_id: str
) -> None:
    """Once closed, no cycle ever completes: sync(timeout=None), as flush(None) asks, waited for
    ever (a script flushing after its kernels closed hung on its way out)."""
    import threading

    projection = _projection(hz_member, interval=30.0, heartbeat=15.0)
    kernel = ExecutionKernel(max_slots=1, projection=projection, kernel_id=kernel_id)
    kernel.close()  # the projection closes with its last kernel
    answers: list[bool] = []
    waiter = threading.Thread(target=lambda: answers.append(projection.sync(timeout=None)), daemon=True)
    waiter.start()
    waiter.join(60)
    assert answers == [False]
