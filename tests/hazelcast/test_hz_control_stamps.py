"""The control plane's stamps against foreign and hand-typed values, without a member: events
are handed to the plane's listener as the client would, and writes go to a map in memory."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hazelcast.future import ImmediateFuture
from hz_helpers import btc_entry, eventually, mode

from dita import ExecutionKernel
from dita.control.hazelcast import HazelcastControlPlane, effective_control, stamps, write_entry
from dita.projection.hazelcast import HazelcastJsonValue
from dita.services.hazelcast import free_port


class Event:
    """An entry event as the client hands it to the listener."""

    def __init__(self, key: str, text: str) -> None:
        self.key = key
        self.value = HazelcastJsonValue(text)


def entry(**fields: Any) -> str:
    """An entry's JSON as another client writes it (``float("inf")`` as ``1e999``, NaN as ``NaN``)."""
    return json.dumps(fields).replace("Infinity", "1e999")


@pytest.fixture()
def plane_and_kernel(
    caplog: pytest.LogCaptureFixture,
) -> Iterator[tuple[HazelcastControlPlane, ExecutionKernel]]:
    """A plane whose cluster is away (its worker still applies what the listener hands it) and
    a kernel attached to it."""
    plane = HazelcastControlPlane([f"127.0.0.1:{free_port()}"], "nobody-home", attach_timeout=0)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id="k1")
    caplog.clear()
    yield plane, kernel
    kernel.close()


def test_updated_at_in_milliseconds_does_not_make_a_later_halt_look_older(
    plane_and_kernel: tuple[HazelcastControlPlane, ExecutionKernel],
) -> None:
    """Another client's tool wrote `updated_at` in milliseconds: every later `set` (stamped in
    seconds) looked older than it and was dropped, HALTED included."""
    plane, kernel = plane_and_kernel
    now = time.time()
    for key in ("k1", "*"):
        tool = entry(mode="SHADOW", mode_at=now, updated_at=int(now * 1000), updated_by="java-tool")
        plane._on_entry(Event(key, tool))
        assert eventually(lambda: mode(kernel) == "SHADOW", timeout=5.0)
        halt = entry(mode="HALTED", mode_at=now + 1, updated_at=now + 1, updated_by="operator")
        plane._on_entry(Event(key, halt))
        assert eventually(lambda: mode(kernel) == "HALTED", timeout=5.0), key
        assert plane.entries()[key]["mode"] == "HALTED"
        kernel.update_control(mode="PAPER", source="test")
        now += 10


def test_a_late_event_still_does_not_replace_a_newer_entry(
    plane_and_kernel: tuple[HazelcastControlPlane, ExecutionKernel],
) -> None:
    """What the older-event check is for: an event of a version older than the one a resync
    read (its fields stamped no later, one earlier) comes after the read and is dropped,
    whatever its `updated_at` says."""
    plane, kernel = plane_and_kernel
    now = time.time()
    newer = {"mode": "HALTED", "mode_at": now + 1, "verbosity": "DEBUG", "verbosity_at": now}
    with plane._lock:
        plane._entries["k1"] = dict(newer)  # as a resync read it
    plane._on_entry(
        Event(
            "k1", entry(mode="LIVE", mode_at=now, verbosity="DEBUG", verbosity_at=now, updated_at=now * 1000)
        )
    )
    plane._on_entry(Event("k1", entry(verbosity="QUIET", verbosity_at=now - 1)))
    assert plane.entries()["k1"] == newer
    # A version with one field set later is newer, though another field is as before.
    plane._on_entry(
        Event("k1", entry(mode="HALTED", mode_at=now + 1, verbosity="QUIET", verbosity_at=now + 2))
    )
    assert plane.entries()["k1"]["verbosity"] == "QUIET"
    assert eventually(lambda: kernel.control()["verbosity"] == "QUIET", timeout=5.0)


@pytest.mark.parametrize(
    "bad",
    [float("inf"), float("-inf"), float("nan"), 10**400, "1700000000", True, None, -5.0, 0],
    ids=["inf", "-inf", "nan", "int-past-float", "text", "bool", "null", "negative", "zero"],
)
def test_a_stamp_that_is_not_a_finite_number_counts_as_missing(bad: Any) -> None:
    now = time.time()
    stamped = {"mode": "HALTED", "mode_at": now}
    typed = {"mode": "LIVE", "mode_at": bad}
    # Whichever entry comes first, the stamped value is the newer.
    assert effective_control([typed, stamped])["mode"] == ("HALTED", now)
    assert effective_control([stamped, typed])["mode"] == ("HALTED", now)
    assert effective_control([typed])["mode"] == ("LIVE", 0.0)


def test_an_infinite_stamp_does_not_leave_the_kernel_deaf(
    plane_and_kernel: tuple[HazelcastControlPlane, ExecutionKernel], caplog: pytest.LogCaptureFixture
) -> None:
    """`mode_at: 1e999` typed by hand was applied as infinity: no later write, however stamped,
    was newer, even after `set` rewrote that very entry."""
    plane, kernel = plane_and_kernel
    typed = entry(mode="SHADOW", mode_at=float("inf"))
    plane._on_entry(Event("k1", typed))
    assert eventually(lambda: mode(kernel) == "SHADOW", timeout=5.0)  # a kernel on its local state takes it
    plane._on_entry(Event("k1", entry(mode="HALTED", mode_at=time.time())))
    assert eventually(lambda: mode(kernel) == "HALTED", timeout=5.0)
    assert all(at < float("inf") for at in plane._applied_at["k1"].values())
    # Logged once per entry and field, not on every event that still carries it.
    for verbosity in ("DEBUG", "QUIET", "NORMAL"):
        plane._on_entry(Event("*", entry(mode="LIVE", mode_at=float("inf"), verbosity=verbosity)))
    warned = [r.getMessage() for r in caplog.records if "is not a finite number" in r.getMessage()]
    assert warned == [
        "control entry k1: mode_at inf is not a finite number: its mode 'SHADOW' counts as never set "
        "(never newer than a stamped value)",
        "control entry *: mode_at inf is not a finite number: its mode 'LIVE' counts as never set "
        "(never newer than a stamped value)",
    ]
    time.sleep(0.1)
    assert mode(kernel) == "HALTED"


def test_a_nan_stamp_in_the_global_entry_does_not_override_a_kernels_entry(
    plane_and_kernel: tuple[HazelcastControlPlane, ExecutionKernel], caplog: pytest.LogCaptureFixture
) -> None:
    plane, kernel = plane_and_kernel
    plane._on_entry(Event("*", entry(mode="LIVE", mode_at=float("nan"))))
    assert eventually(lambda: mode(kernel) == "LIVE", timeout=5.0)
    plane._on_entry(Event("k1", entry(mode="HALTED", mode_at=time.time())))
    assert eventually(lambda: mode(kernel) == "HALTED", timeout=5.0)
    assert kernel.process_intent(btc_entry("k1")).diagnostic_code.name == "MODE_BLOCKED"
    assert "control entry *: mode_at nan is not a finite number" in caplog.text


class MemoryMap:
    """The calls `write_entry` makes on a map, in memory, each answered at once."""

    def __init__(self, entries: dict[str, str]) -> None:
        self.values = {k: HazelcastJsonValue(v) for k, v in entries.items()}

    def get(self, key: str) -> Any:
        return ImmediateFuture(self.values.get(key))

    def entry_set(self) -> Any:
        return ImmediateFuture(list(self.values.items()))

    def put_if_absent(self, key: str, value: Any) -> Any:
        if key in self.values:
            return ImmediateFuture(self.values[key])
        self.values[key] = value
        return ImmediateFuture(None)

    def replace_if_same(self, key: str, old: Any, new: Any) -> Any:
        if self.values.get(key) is not old:
            return ImmediateFuture(False)
        self.values[key] = new
        return ImmediateFuture(True)

    def read(self, key: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.values[key].to_string())
        return decoded


class MemoryClient:
    def __init__(self, entries: dict[str, str]) -> None:
        self.map = MemoryMap(entries)

    def get_map(self, name: str) -> MemoryMap:
        return self.map


def test_a_writer_never_writes_a_stamp_that_is_not_a_finite_number(caplog: pytest.LogCaptureFixture) -> None:
    """A competing stamp of the largest float: just past it is infinity, which JSON stored as
    null, a stamp missing to every kernel (the HALTED ignored). Refused, naming the entry."""
    largest = sys.float_info.max
    client = MemoryClient({"*": entry(mode="LIVE", mode_at=largest), "k1": entry(mode="LIVE", mode_at=1.0)})
    before = dict(client.map.values)
    for key in (None, "k1"):
        with pytest.raises(
            ValueError, match=r"mode_at of entry '\*' is 1\.7976931348623157e\+308, the largest"
        ):
            write_entry(client, key, {"mode": "HALTED"})  # type: ignore[arg-type]
    assert client.map.values == before  # nothing written
    # A field the write does not set keeps its value; a stamp of it that is not a number is
    # dropped (it counts as missing either way) rather than written as null.
    client = MemoryClient(
        {"k1": entry(mode="SHADOW", mode_at=float("inf"), verbosity="DEBUG", verbosity_at=float("nan"))}
    )
    written = write_entry(client, "k1", {"verbosity": "QUIET"})  # type: ignore[arg-type]
    stored = client.map.read("k1")
    assert stored["mode"] == "SHADOW" and "mode_at" not in stored
    assert stored["verbosity"] == "QUIET" and stored["verbosity_at"] == written["verbosity_at"]
    assert all(isinstance(v, float) and v < largest for k, v in stored.items() if k.endswith("_at"))
    assert "control entry k1: mode_at inf dropped" in caplog.text


def test_a_writer_stamps_past_a_stamp_far_ahead_and_says_so(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stamps, "_wall_clock", lambda: 1_700_000_000.0)  # where _stamp_after reads it
    ahead = 1_700_000_000_000.0  # a tool's milliseconds
    client = MemoryClient({"*": entry(mode="LIVE", mode_at=ahead)})
    with caplog.at_level(logging.WARNING):
        written = write_entry(client, "k1", {"mode": "HALTED"})  # type: ignore[arg-type]
    assert written["mode_at"] > ahead
    assert effective_control([client.map.read("*"), client.map.read("k1")])["mode"][0] == "HALTED"
    assert "control entry k1: mode stamped" in caplog.text
    assert "just past mode_at of entry *, which is 1698300000000s ahead of this clock" in caplog.text


@pytest.mark.parametrize(
    ("bad", "shown"),
    [(None, "None"), (3, "3"), ("HALT", "'HALT'")],
    ids=["null", "number", "misspelt"],
)
def test_a_bad_value_newer_than_a_global_halt_does_not_keep_a_kernel_from_it(
    plane_and_kernel: tuple[HazelcastControlPlane, ExecutionKernel],
    caplog: pytest.LogCaptureFixture,
    bad: Any,
    shown: str,
) -> None:
    """A kernel's entry holding a mode no kernel takes (typed by hand, stamped after the global
    HALTED) was still the newest mode: refused in the kernel, it hid the global HALTED, so a
    kernel attaching (or resyncing) ran on its local state, LIVE or PAPER, under a global halt.
    A null mode was not even logged: it read as "nothing to change". The bad value is skipped,
    said once naming the entry, field and value, and the newest valid value counts."""
    plane, kernel = plane_and_kernel
    now = time.time()
    assert effective_control([{"mode": "HALTED", "mode_at": now}, {"mode": bad, "mode_at": now + 1}]) == {
        "mode": ("HALTED", now)
    }
    plane._on_entry(Event("k1", entry(mode=bad, mode_at=now + 1)))
    plane._on_entry(Event("*", entry(mode="HALTED", mode_at=now)))  # written before, its event later
    assert eventually(lambda: mode(kernel) == "HALTED", timeout=5.0)
    assert kernel.process_intent(btc_entry("k1")).diagnostic_code.name == "MODE_BLOCKED"
    for _ in range(3):  # said once, not on every event that still carries it
        plane._on_entry(Event("k1", entry(mode=bad, mode_at=now + 1)))
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("control entry k1: mode ")]
    assert len(said) == 1, said
    assert f"control entry k1: mode {shown} ignored: mode must be one of" in said[0], said


def test_a_stamp_before_1970_counts_as_missing_and_is_said(
    plane_and_kernel: tuple[HazelcastControlPlane, ExecutionKernel], caplog: pytest.LogCaptureFixture
) -> None:
    """`mode_at: -5` typed by hand ranked below a field with no stamp at all: a kernel on its local
    state, which takes an unstamped HALTED, never took this one, and nothing said why."""
    plane, kernel = plane_and_kernel
    plane._on_entry(Event("k1", entry(mode="HALTED", mode_at=-5.0)))
    assert eventually(lambda: mode(kernel) == "HALTED", timeout=5.0)
    for _ in range(3):  # said once, not on every event that still carries it
        plane._on_entry(Event("k1", entry(mode="HALTED", mode_at=-5.0, verbosity="DEBUG")))
    said = [r.getMessage() for r in caplog.records if "mode_at" in r.getMessage()]
    assert said == [
        "control entry k1: mode_at -5.0 is not a time after 1970: its mode 'HALTED' counts as never set "
        "(never newer than a stamped value)"
    ], said
    plane._on_entry(Event("k1", entry(mode="LIVE", mode_at=time.time())))
    assert eventually(lambda: mode(kernel) == "LIVE", timeout=5.0)


def test_a_value_without_its_stamp_a_kernel_ignores_is_said_once(
    plane_and_kernel: tuple[HazelcastControlPlane, ExecutionKernel], caplog: pytest.LogCaptureFixture
) -> None:
    """A global HALTED typed by hand without its `mode_at` never counts as newer than the stamped
    mode a kernel took: the kernel trades on, and a stamp that is there but unusable was logged
    while a missing one said nothing, so the operator's halt was ignored without a word."""
    plane, kernel = plane_and_kernel
    plane._on_entry(Event("k1", entry(mode="REDUCE_ONLY", mode_at=time.time())))
    assert eventually(lambda: mode(kernel) == "REDUCE_ONLY", timeout=5.0)
    for _ in range(3):  # said once, not on every event that still carries it
        plane._on_entry(Event("*", entry(mode="HALTED", verbosity="DEBUG")))
        time.sleep(0.2)
    assert mode(kernel) == "REDUCE_ONLY"
    assert kernel.control()["verbosity"] == "DEBUG"  # no stamp in the way: taken, not said
    said = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("dita")
    ]
    assert said == [
        "control entry *: mode 'HALTED' has no mode_at stamp, so it never counts as newer than a "
        "stamped value: kernel k1 ignores it and runs mode 'REDUCE_ONLY' (write it with `dita control "
        "set`, which stamps it)"
    ], said
    # The value the kernel runs, unstamped, is nothing to say; typed again once stamped, it is.
    caplog.clear()
    plane._on_entry(Event("*", entry(mode="REDUCE_ONLY")))
    plane._on_entry(Event("*", entry(mode="HALTED", mode_at=time.time())))
    assert eventually(lambda: mode(kernel) == "HALTED", timeout=5.0)
    plane._on_entry(Event("k1", entry(mode="REDUCE_ONLY", mode_at=time.time())))
    assert eventually(lambda: mode(kernel) == "REDUCE_ONLY", timeout=5.0)
    plane._on_removed(Event("*", "{}"))  # an unstamped entry's event over a stamped one reads as late
    plane._on_entry(Event("*", entry(mode="HALTED")))
    assert eventually(lambda: any("mode 'HALTED' has no mode_at" in r.getMessage() for r in caplog.records))
    said = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("dita")
    ]
    assert len(said) == 1, said


def test_a_hand_typed_mode_tighter_than_the_hand_typed_one_a_kernel_took_is_taken(
    plane_and_kernel: tuple[HazelcastControlPlane, ExecutionKernel], caplog: pytest.LogCaptureFixture
) -> None:
    """With no stamp anywhere, two hand-typed values both counted as set at 0: a kernel that took
    a hand-typed REDUCE_ONLY ignored the hand-typed HALTED replacing it, and the warning blamed a
    stamped value there was none of. A tighter mode is taken; a looser one is not, said so."""
    plane, kernel = plane_and_kernel
    plane._on_entry(Event("*", entry(mode="REDUCE_ONLY")))
    assert eventually(lambda: mode(kernel) == "REDUCE_ONLY", timeout=5.0)
    plane._on_entry(Event("*", entry(mode="HALTED")))
    assert eventually(lambda: mode(kernel) == "HALTED", timeout=5.0)
    for _ in range(3):  # said once, not on every event that still carries it
        plane._on_entry(Event("*", entry(mode="PAPER")))
        time.sleep(0.2)
    assert mode(kernel) == "HALTED"
    said = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("dita")
    ]
    assert said == [
        "control entry *: mode 'PAPER' has no mode_at stamp, so it never counts as newer than the "
        "value without a stamp the kernel took, unless a mode tighter than that and than the one the "
        "kernel runs (REDUCE_ONLY over PAPER, SHADOW and LIVE; HALTED over any): kernel k1 ignores it "
        "and runs mode 'HALTED' (write it with `dita control set`, which stamps it)"
    ], said
    plane._on_entry(Event("*", entry(mode="LIVE", mode_at=time.time())))
    assert eventually(lambda: mode(kernel) == "LIVE", timeout=5.0)  # a stamped one is newer


def test_a_hand_typed_mode_does_not_loosen_a_kernel_its_own_process_halted(
    plane_and_kernel: tuple[HazelcastControlPlane, ExecutionKernel], caplog: pytest.LogCaptureFixture
) -> None:
    """A hand-typed mode tighter than the hand-typed one a kernel took is taken only if tighter
    than the mode the kernel runs too: a kernel its own process halted after it took a hand-typed
    SHADOW is not loosened to a hand-typed REDUCE_ONLY, said so; one it resumed halts on a
    hand-typed HALTED."""
    plane, kernel = plane_and_kernel
    plane._on_entry(Event("*", entry(mode="SHADOW")))
    assert eventually(lambda: mode(kernel) == "SHADOW", timeout=5.0)
    kernel.update_control(mode="HALTED", source="risk check")
    caplog.clear()
    for _ in range(3):  # said once, not on every event that still carries it
        plane._on_entry(Event("*", entry(mode="REDUCE_ONLY")))
        time.sleep(0.2)
    assert mode(kernel) == "HALTED"
    said = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("dita")
    ]
    assert said == [
        "control entry *: mode 'REDUCE_ONLY' has no mode_at stamp, so it never counts as newer than "
        "the value without a stamp the kernel took, unless a mode tighter than that and than the one "
        "the kernel runs (REDUCE_ONLY over PAPER, SHADOW and LIVE; HALTED over any): kernel k1 ignores "
        "it and runs mode 'HALTED' (write it with `dita control set`, which stamps it)"
    ], said
    kernel.update_control(mode="LIVE", source="risk check")
    plane._on_entry(Event("*", entry(mode="HALTED")))
    assert eventually(lambda: mode(kernel) == "HALTED", timeout=5.0)


def test_a_hand_typed_halt_in_a_kernels_own_entry_beats_a_hand_typed_global_mode(
    plane_and_kernel: tuple[HazelcastControlPlane, ExecutionKernel], caplog: pytest.LogCaptureFixture
) -> None:
    """Two modes without a stamp are set at once (0): the tighter of the global entry and the
    kernel's own counts, whichever entry holds it, so a hand-typed HALTED in its own entry halts
    a kernel that took a hand-typed global REDUCE_ONLY."""
    plane, kernel = plane_and_kernel
    plane._on_entry(Event("*", entry(mode="REDUCE_ONLY")))
    assert eventually(lambda: mode(kernel) == "REDUCE_ONLY", timeout=5.0)
    plane._on_entry(Event("k1", entry(mode="HALTED")))
    assert eventually(lambda: mode(kernel) == "HALTED", timeout=5.0)
    assert effective_control([{"mode": "HALTED"}, {"mode": "PAPER"}])["mode"] == ("HALTED", 0.0)
    assert effective_control([{"mode": "PAPER"}, {"mode": "LIVE"}])["mode"] == ("PAPER", 0.0)
    now = time.time()
    typed, stamped = {"mode": "REDUCE_ONLY", "mode_at": now}, {"mode": "HALTED", "mode_at": now}
    assert effective_control([stamped, typed])["mode"] == ("HALTED", now)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"mode": "HALTED", "mode_at": -5.0}, "mode_at=-5.0"),
        ({"mode": "HALTED", "mode_at": float("nan")}, "mode_at=nan"),
        ({"mode": "HALTED", "mode_at": float("inf")}, "mode_at=inf"),
        ({"mode": "HALTED", "mode_at": "1700000000"}, "mode_at='1700000000'"),
        ({"mode": "HALTED", "mode_at": 1_700_000_000.0}, "mode_at=1700000000.0"),
        ({"verbosity": "QUIET", "verbosity_at": True}, "verbosity_at=True"),
        ({"verbosity": "QUIET", "updated_at": 1.0}, "updated_at=1.0"),
        ({"mode": "HALTED", "updated_by": "someone"}, "updated_by='someone'"),
        ({"mode": "HALTED", "kernel_id": "k2"}, "kernel_id='k2'"),
        ({"mode": "HALTED", "moed": "LIVE"}, "moed='LIVE'"),
        ({"mode": "HALT"}, "mode must be one of HALTED, LIVE, PAPER, REDUCE_ONLY, SHADOW, got 'HALT'"),
        ({"mode": None}, "mode must be one of HALTED, LIVE, PAPER, REDUCE_ONLY, SHADOW, got None"),
        ({"mode": 3}, "got 3"),
        ({"verbosity": float("nan")}, "verbosity must be one of DEBUG, NORMAL, QUIET, got nan"),
        ({"debug_clickhouse_enabled": 1}, "debug_clickhouse_enabled must be true or false, got 1"),
        (
            {"debug_clickhouse_enabled": float("inf")},
            "debug_clickhouse_enabled must be true or false, got inf",
        ),
        ({}, "nothing to set: give mode, verbosity or debug_clickhouse_enabled"),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else "said",
)
def test_a_bad_change_is_refused_naming_the_field_and_the_value_and_nothing_is_written(
    change: dict[str, Any], said: str
) -> None:
    """`write_entry` merged whatever it was handed: `mode_at: -5` replaced the stamp it had just
    made, so the HALTED counted as older than every other value (no kernel took it), and a
    misspelt mode was written for every kernel to ignore. Only the control fields are a change's,
    each a value a kernel takes; the writer stamps them."""
    client = MemoryClient(
        {"k1": entry(mode="LIVE", mode_at=1.0), "*": entry(verbosity="NORMAL", verbosity_at=1.0)}
    )
    before = dict(client.map.values)
    for key in (None, "k1", "k2"):
        with pytest.raises(ValueError, match=re.escape(said)):
            write_entry(client, key, change)  # type: ignore[arg-type]
    assert client.map.values == before


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (
            {"change": [("mode", "HALTED")]},
            "change must map control fields to their values, got [('mode', 'HALTED')]",
        ),
        ({"updated_by": ""}, "updated_by must name who writes the entry in UTF-8 text, got ''"),
        ({"updated_by": 7}, "updated_by must name who writes the entry in UTF-8 text, got 7"),
        (
            {"updated_by": "op\udcff"},
            "updated_by must name who writes the entry in UTF-8 text, got 'op\\udcff'",
        ),
    ],
    ids=["change-not-a-mapping", "by-blank", "by-number", "by-not-utf8"],
)
def test_a_bad_writer_argument_is_refused_naming_it(arguments: dict[str, Any], said: str) -> None:
    client = MemoryClient({})
    with pytest.raises(ValueError, match=re.escape(said)):
        write_entry(client, "k1", **{"change": {"mode": "HALTED"}, **arguments})  # type: ignore[arg-type]
    assert client.map.values == {}
