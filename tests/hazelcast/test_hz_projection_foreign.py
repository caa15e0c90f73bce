"""Entries of another format in the projection's maps: the projection writes on, readers skip them."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hz_helpers import FOREIGN_TYPE_ID, Foreign, ForeignSerializer, eventually, expected, projected, strip
from typer.testing import CliRunner

from dita import ExecutionKernel, InMemoryProjection, KernelIntent
from dita.cli import app
from dita.projection.hazelcast import (
    ACCOUNTS_MAP,
    SLOTS_MAP,
    HazelcastClient,
    HazelcastProjection,
    connect_client,
    kernel_writes,
    read_map,
    to_json_value,
)
from dita.services.hazelcast import HazelcastMember

runner = CliRunner()


@pytest.mark.parametrize("odd", ["7", True], ids=["text", "boolean"])
def test_a_slot_id_of_another_type_does_not_fail_every_publish(
    hz_member: HazelcastMember,
    hz_client: Any,
    kernel_id: str,
    odd: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The removal of slots beyond max_slots compares every entry's slot_id on the members: an
    entry of this kernel id whose slot_id is text or a boolean (another format, or typed by
    hand) next to a number in one partition makes the member refuse the whole removal
    (ClassCastException). The removal fails on its own, said, and the slots are published all
    the same, not every cycle's writes, of every kernel, with it for good (each a full resync,
    sync() never True)."""
    monkeypatch.setattr(kernel_writes, "PRUNE_RETRY_S", 0.5)
    slots = hz_client.get_map(SLOTS_MAP).blocking()
    # Enough entries that every partition holds both kinds (the member compares within one).
    planted = {
        f"{kernel_id}:{n}": to_json_value({"kernel_id": kernel_id, "slot_id": odd if n % 2 else n})
        for n in range(10, 610)
    }
    slots.put_all(planted)
    projection = HazelcastProjection(
        [hz_member.address], hz_member.cluster_name, interval=30.0, heartbeat=15.0
    )  # publishes on sync only
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    try:
        enter = KernelIntent(f"{kernel_id}-e", f"{kernel_id}-t", 1, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1)
        kernel.set_seed_capital(1_000.0)
        assert kernel.process_intent(enter).accepted
        assert projection.sync(timeout=10), projection.stats()["last_error"]
        stats = projection.stats()
        assert stats["errors"] == 0 and stats["last_error"] == ""
        assert "ClassCast" in stats["prune_error"] and kernel_id in stats["prune_error"]
        # The kernel's own slots are there, with what it did (read by key: the planted entries
        # beside them do not sort with them).
        entries = read_map(hz_client, SLOTS_MAP)
        mine = [strip(entries[f"{kernel_id}:{n}"]) for n in range(2)]
        want = expected(kernel.snapshot())
        assert mine == want["slots"] and mine[1]["fsm_state"] == "POSITION_OPEN"
        assert strip(read_map(hz_client, ACCOUNTS_MAP)[kernel_id]) == want["account"]
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        removal = [m for m in said if "could not remove" in m]
        assert len(removal) == 1, said
        assert f"{SLOTS_MAP} entries of kernel {kernel_id!r} numbered 2 and above" in removal[0]
        assert not [m for m in said if "write failed" in m], said
        # Once the odd entries are gone, the removal tried again takes the rest beyond max_slots.
        for key, value in planted.items():
            if value.loads()["slot_id"] is odd:
                slots.remove(key)
        assert eventually(lambda: projection.sync(timeout=10) and projection.stats()["prune_error"] == "")
        assert projected(hz_client, kernel_id) == want
    finally:
        kernel.close()
        for key in planted:
            slots.remove(key)  # other tests share this member


def test_a_value_no_reader_can_decode_is_skipped_naming_it(
    hz_member: HazelcastMember, traded: ExecutionKernel
) -> None:
    """A value another client wrote with a serializer of its own (a Java object, another
    application's) failed the decoding of the whole read: `dita status` said the cluster was lost
    while reading (exit 3) and showed no kernel at all. The entry is skipped, named, as a value
    that is not JSON is; every other entry is read."""
    writer = HazelcastClient(
        cluster_name=hz_member.cluster_name,
        cluster_members=[hz_member.address],
        custom_serializers={Foreign: ForeignSerializer},
    )
    key = f"{traded.kernel_id}-foreign"
    accounts: Any = writer.get_map(ACCOUNTS_MAP).blocking()
    accounts.set(key, Foreign())
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name]
    try:
        said: list[str] = []
        reader = connect_client([hz_member.address], hz_member.cluster_name, block=True, connect_timeout=30)
        try:
            entries = read_map(reader, ACCOUNTS_MAP, said.append)
        finally:
            reader.shutdown()
        assert traded.kernel_id in entries and key not in entries
        why = f"not a value this client can decode (serializer type id {FOREIGN_TYPE_ID})"
        assert said == [f"skipped entry {key!r} of {ACCOUNTS_MAP}: {why}"]
        result = runner.invoke(app, ["status", *hz, "--json"])
        assert result.exit_code == 0, result.output
        assert [s["kernel_id"] for s in json.loads(result.stdout) if s["kernel_id"] == traded.kernel_id]
        assert f"warning: skipped entry {key!r} of {ACCOUNTS_MAP}: not a value" in result.stderr
    finally:
        accounts.remove(key)
        writer.shutdown()


def _projections(member: HazelcastMember) -> list[Any]:
    """Both projections, the Hazelcast one publishing on sync only."""
    return [InMemoryProjection(), HazelcastProjection([member.address], member.cluster_name, interval=30.0)]


def _slot_keys(projection: Any, client: Any, kid: str) -> list[str]:
    if isinstance(projection, InMemoryProjection):
        projection.flush()
        return sorted(k for k, v in projection.slots.items() if v["kernel_id"] == kid)
    assert projection.sync(timeout=30)
    return list(projected(client, kid)["slot_keys"])


@pytest.mark.parametrize("which", [0, 1], ids=["in-memory", "hazelcast"])
def test_a_kernel_id_back_with_fewer_slots_in_the_same_projection_leaves_none_behind(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, which: int
) -> None:
    """A kernel closed and made again under its id with fewer slots, in a projection another
    kernel keeps open: InMemoryProjection kept the slots the new one no longer has (their last
    state, an open position say), where HazelcastProjection removes them."""
    projection = _projections(hz_member)[which]
    keep = ExecutionKernel(max_slots=1, projection=projection, kernel_id=f"{kernel_id}-keep")
    try:
        first = ExecutionKernel(max_slots=12, projection=projection, kernel_id=kernel_id)
        first.close()
        again = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
        assert _slot_keys(projection, hz_client, kernel_id) == [f"{kernel_id}:0", f"{kernel_id}:1"]
        again.close()
    finally:
        keep.close()


@pytest.mark.parametrize("which", [0, 1], ids=["in-memory", "hazelcast"])
def test_a_second_kernel_under_an_attached_id_is_refused_naming_it(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, which: int
) -> None:
    """Two kernels under one id in one projection wrote over each other's entries, each slot
    showing whichever changed last: InMemoryProjection took the second without a word, where
    HazelcastProjection refuses it. Refused, the first kernel's entries stay as they were."""
    projection = _projections(hz_member)[which]
    first = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    try:
        first.set_seed_capital(1_000.0)
        enter = KernelIntent(f"{kernel_id}-e", f"{kernel_id}-t", 1, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1)
        assert first.process_intent(enter).accepted
        before = _slot_keys(projection, hz_client, kernel_id)
        with pytest.raises(ValueError, match=rf"kernel_id '{kernel_id}' is already attached"):
            ExecutionKernel(max_slots=4, projection=projection, kernel_id=kernel_id)
        assert _slot_keys(projection, hz_client, kernel_id) == before
        if isinstance(projection, InMemoryProjection):
            assert projection.slots[f"{kernel_id}:1"] == first.slot_dict(1)
        else:
            assert projected(hz_client, kernel_id) == expected(first.snapshot())
        first.mark_price("ETH-USD", 3_010.0)  # the first goes on being projected
        _slot_keys(projection, hz_client, kernel_id)
        got = (
            projection.slots[f"{kernel_id}:1"]
            if isinstance(projection, InMemoryProjection)
            else strip(read_map(hz_client, SLOTS_MAP)[f"{kernel_id}:1"])
        )
        assert got["mark_price"] == 3_010.0
    finally:
        first.close()
