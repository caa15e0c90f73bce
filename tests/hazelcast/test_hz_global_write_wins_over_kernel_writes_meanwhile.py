"""A global write made while an operator writes a kernel's own entry, by a clock ahead of the
global writer's: the global write comes last, so it wins, whatever the clocks say."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from dita.control.hazelcast import CONTROL_PLANE_MAP, GlobalWriteOutrun, write_entry
from dita.control.hazelcast import stamps as stamps_mod
from dita.control.hazelcast import writing as writing_mod
from dita.control.hazelcast.stamps import control_values

pytestmark = pytest.mark.usefixtures("clean_control_entries")


def _entries(hz_client: Any, *keys: str) -> list[dict[str, Any]]:
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    return [json.loads(entries.get(key).to_string()) for key in keys]


def test_a_global_halt_written_last_wins_over_a_kernel_entry_stamped_ahead(
    hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = time.time()
    clock = [base]
    monkeypatch.setattr(stamps_mod, "_wall_clock", lambda: clock[0])
    write_entry(hz_client, kernel_id, {"mode": "HALTED"}, updated_by="earlier")

    def meanwhile(_given: dict[str, Any]) -> bool:
        # Between the global write's read and its write: operator B resumes the kernel, by a
        # clock 0.5 s ahead of operator A's.
        clock[0] = base + 1.5
        write_entry(hz_client, kernel_id, {"mode": "LIVE"}, updated_by="operator-b")
        clock[0] = base + 1.0
        return True

    write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="operator-a", only_if=meanwhile)

    every, own = _entries(hz_client, "*", kernel_id)
    assert own["mode"] == "LIVE" and own["updated_by"] == "operator-b"
    assert control_values([every, own])["mode"] == "HALTED"
    assert every["mode_at"] > own["mode_at"]


def test_a_kernel_entry_written_past_every_global_write_is_named(
    hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = time.time()
    clock = [base]
    monkeypatch.setattr(stamps_mod, "_wall_clock", lambda: clock[0])
    write_entry(hz_client, kernel_id, {"mode": "HALTED"}, updated_by="earlier")
    written = writing_mod._written

    def and_resumed(cp_map: Any, key: str, *args: Any) -> bool:
        # Each global write's compare-and-set is followed by operator B resuming the kernel by a
        # clock ever further ahead.
        done = written(cp_map, key, *args)
        if key == "*":
            clock[0] += 60
            write_entry(hz_client, kernel_id, {"mode": "LIVE"}, updated_by="operator-b")
            clock[0] = base
        return done

    monkeypatch.setattr(writing_mod, "_written", and_resumed)
    with pytest.raises(GlobalWriteOutrun, match=kernel_id) as raised:
        write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="operator-a")
    assert raised.value.kernel_ids == [kernel_id]
    every, own = _entries(hz_client, "*", kernel_id)
    assert every["mode"] == "HALTED" and every["updated_by"] == "operator-a"
    assert control_values([every, own])["mode"] == "LIVE"


def test_a_kernel_entry_written_meanwhile_with_the_same_value_is_left_alone(
    hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = time.time()
    clock = [base]
    monkeypatch.setattr(stamps_mod, "_wall_clock", lambda: clock[0])
    write_entry(hz_client, kernel_id, {"mode": "LIVE"}, updated_by="earlier")
    writes: list[str] = []
    written = writing_mod._written

    def counted(cp_map: Any, key: str, *args: Any) -> bool:
        writes.append(key)
        return written(cp_map, key, *args)

    def meanwhile(_given: dict[str, Any]) -> bool:
        clock[0] = base + 1.5
        write_entry(hz_client, kernel_id, {"mode": "HALTED"}, updated_by="operator-b")
        clock[0] = base + 1.0
        return True

    monkeypatch.setattr(writing_mod, "_written", counted)
    write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="operator-a", only_if=meanwhile)
    assert writes == [kernel_id, "*"]
