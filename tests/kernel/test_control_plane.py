"""The in-memory control plane composes entries as the Hazelcast one does: most recent wins."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dita import ControlChangeRefused, ExecutionKernel, InMemoryControlPlane
from dita._text import shortened


def mode(kernel: ExecutionKernel) -> str:
    value: str = kernel.control()["mode"]
    return value


def test_a_kernel_attached_after_a_global_halt_starts_halted() -> None:
    plane = InMemoryControlPlane()
    plane.set("k1", mode="LIVE")  # older entry of its own
    plane.set(mode="HALTED")  # newer: the operator halts everyone
    k1 = ExecutionKernel(max_slots=1, kernel_id="k1", control_plane=plane)
    assert mode(k1) == "HALTED"
    plane.set("k1", mode="PAPER")  # newer again: only k1 resumes
    k2 = ExecutionKernel(max_slots=1, kernel_id="k2", control_plane=plane)
    assert (mode(k1), mode(k2)) == ("PAPER", "HALTED")


def test_entries_compose_field_by_field() -> None:
    plane = InMemoryControlPlane()
    plane.set("k", verbosity="DEBUG")
    plane.set(mode="HALTED", verbosity="QUIET")
    plane.set("k", mode="REDUCE_ONLY")
    k = ExecutionKernel(max_slots=1, kernel_id="k", control_plane=plane)
    assert k.control()["mode"] == "REDUCE_ONLY"  # its own entry is newer for mode
    assert k.control()["verbosity"] == "QUIET"  # the global entry is newer for verbosity


def test_a_conditional_set_sees_what_the_entries_give_the_kernel_and_refused_changes_nothing() -> None:
    plane = InMemoryControlPlane()
    plane.set("k", verbosity="DEBUG")
    plane.set(mode="HALTED")
    k = ExecutionKernel(max_slots=1, kernel_id="k", control_plane=plane)
    seen: list[dict[str, Any]] = []
    assert plane.set("k", mode="LIVE", only_if=lambda given: seen.append(given) or False) is None
    assert seen == [{"verbosity": "DEBUG", "mode": "HALTED"}]
    assert plane.entries["k"] == {"verbosity": "DEBUG"} and mode(k) == "HALTED"
    assert plane.set(mode="PAPER", only_if=lambda given: given == {"mode": "HALTED"}) == {"mode": "PAPER"}
    assert mode(k) == "PAPER"


@pytest.mark.parametrize("kernel_id", ["", "  ", 7])
def test_a_blank_kernel_id_is_refused_not_taken_as_global(kernel_id: object) -> None:
    plane = InMemoryControlPlane()
    x = ExecutionKernel(max_slots=1, kernel_id="x", control_plane=plane)
    plane.set(mode="HALTED")
    with pytest.raises(ValueError, match="kernel_id"):
        plane.set(kernel_id, mode="LIVE")  # type: ignore[arg-type]
    assert mode(x) == "HALTED"
    assert plane.entries == {"*": {"mode": "HALTED"}}


def test_detaching_one_kernel_leaves_the_others_attached() -> None:
    plane = InMemoryControlPlane()
    p = ExecutionKernel(max_slots=1, kernel_id="p", control_plane=plane)
    q = ExecutionKernel(max_slots=1, kernel_id="q", control_plane=plane)
    plane.detach(p)
    plane.set(mode="HALTED")
    assert mode(q) == "HALTED"
    assert mode(p) != "HALTED"
    plane.detach(p)  # twice is harmless
    again = ExecutionKernel(max_slots=1, kernel_id="p", control_plane=plane)  # the id is free again
    assert mode(again) == "HALTED"


def test_a_kernel_id_is_attached_once() -> None:
    plane = InMemoryControlPlane()
    first = ExecutionKernel(max_slots=1, kernel_id="same", control_plane=plane)
    with pytest.raises(ValueError, match="'same' is already attached"):
        ExecutionKernel(max_slots=1, kernel_id="same", control_plane=plane)
    plane.set(mode="HALTED")
    assert mode(first) == "HALTED"  # the refused second kernel did not displace the first


def test_closing_one_kernel_leaves_the_plane_to_the_others() -> None:
    """kernel.close() releases its shared components: the plane goes on serving the kernels
    still open, and closes with the last of them."""
    plane = InMemoryControlPlane()
    p = ExecutionKernel(max_slots=1, kernel_id="p", control_plane=plane)
    q = ExecutionKernel(max_slots=1, kernel_id="q", control_plane=plane)
    p.close()
    plane.set(mode="HALTED")
    assert mode(q) == "HALTED" and mode(p) != "HALTED"
    q.close()
    plane.set(mode="PAPER")
    assert mode(q) == "HALTED", "a closed plane applies nothing"


def test_a_global_halt_reaches_every_kernel_when_one_refuses_it() -> None:
    """A kernel that stopped taking input (closing, or its log failed) refuses the change: the
    others are halted all the same, kernels attached later start halted, and the error names
    the one that refused."""
    plane = InMemoryControlPlane()
    a = ExecutionKernel(max_slots=1, kernel_id="a", control_plane=plane)
    b = ExecutionKernel(max_slots=1, kernel_id="b", control_plane=plane)
    a.stop_input()
    with pytest.raises(ControlChangeRefused, match=r"1 refused it: kernel 'a': .*closed"):
        plane.set(mode="HALTED")
    assert mode(b) == "HALTED"
    assert plane.entries == {"*": {"mode": "HALTED"}}
    c = ExecutionKernel(max_slots=1, kernel_id="c", control_plane=plane)
    assert mode(c) == "HALTED"


@pytest.mark.parametrize(
    ("field", "value", "names"),
    [
        ("mode", 5, "HALTED, LIVE, PAPER, REDUCE_ONLY, SHADOW"),
        ("verbosity", True, "DEBUG, NORMAL, QUIET"),
        ("verbosity", 7, "DEBUG, NORMAL, QUIET"),
    ],
)
def test_a_control_value_of_another_type_is_refused_listing_the_names(
    field: str, value: object, names: str
) -> None:
    """A number where a mode belongs (JSON typed by hand, a script) gets the same refusal as a
    misspelt name: the field, the value and the names it takes, and nothing is set."""
    plane = InMemoryControlPlane()
    with pytest.raises(ValueError, match=rf"^{field} must be one of {names}, got {value!r}$"):
        plane.set(**{field: value})
    assert plane.entries == {}


def test_numpy_s_bool_is_taken_as_a_flag_and_stored_as_python_s() -> None:
    """A flag read from a data frame is numpy's bool: the plane takes it as the kernel does,
    and keeps Python's bool, which its JSON entries (Hazelcast's) can hold. A number is
    still no flag."""
    np = pytest.importorskip("numpy")
    plane = InMemoryControlPlane()
    kernel = ExecutionKernel(kernel_id="np-flag")
    plane.attach(kernel)
    plane.set(debug_clickhouse_enabled=np.bool_(True))
    assert plane.entries["*"]["debug_clickhouse_enabled"] is True
    assert kernel.snapshot()["control"]["debug_clickhouse_enabled"] is True
    with pytest.raises(ValueError, match=r"^debug_clickhouse_enabled must be true or false, got 1$"):
        plane.set(debug_clickhouse_enabled=1)
    assert plane.entries["*"]["debug_clickhouse_enabled"] is True


@pytest.mark.parametrize(
    ("kernel_id", "why"),
    [
        ("k1\n", "white space"),  # read from a file with its newline
        ("k1 ", "white space"),
        ("k\u00a01", "white space"),
        ("k\x001", "NUL"),
        ("k" * 201, "over 200 bytes"),
        ("\u00e9" * 101, "over 200 bytes"),  # 202 bytes of UTF-8, as the kernel counts them
    ],
)
def test_a_change_for_an_id_no_kernel_can_have_is_refused(kernel_id: str, why: str) -> None:
    """A halt for "k1\\n" (an id read from a file, newline and all) was stored under a key no kernel
    can take (kernel ids are 1-200 bytes without white space or NUL): set() returned, and k1 traded on."""
    plane = InMemoryControlPlane()
    k1 = ExecutionKernel(max_slots=1, kernel_id="k1", control_plane=plane)
    # Named cut to 80 characters: an id of a megabyte is no message.
    with pytest.raises(ValueError, match=rf"^kernel_id {re.escape(shortened(repr(kernel_id)))} .*{why}"):
        plane.set(kernel_id, mode="HALTED")
    assert plane.entries == {}
    assert mode(k1) != "HALTED"
    # An id the kernel takes, however odd, is still written (a control character is no white space).
    plane.set("k\x1b1", mode="HALTED")
    assert plane.entries == {"k\x1b1": {"mode": "HALTED"}}


def test_a_kernel_attached_while_a_global_halt_is_being_set_starts_halted() -> None:
    """A kernel (re)started on one thread while an operator's halt is set on another: attached
    after set() had listed its kernels and before it stored the entry, the kernel got neither
    the entry nor the change, and traded on unhalted."""
    import threading

    plane = InMemoryControlPlane()
    first = ExecutionKernel(max_slots=1, kernel_id="first", control_plane=plane)
    late = ExecutionKernel(max_slots=1, kernel_id="late")
    attaching = threading.Thread(target=plane.attach, args=(late,))

    class Entries(dict):  # type: ignore[type-arg]
        def setdefault(self, *args: object) -> object:
            # The other thread attaches now, while set() is between its two steps.
            attaching.start()
            attaching.join(0.5)
            return super().setdefault(*args)

    plane.entries = Entries()
    plane.set(mode="HALTED")
    attaching.join(10)
    assert not attaching.is_alive()
    assert (mode(first), mode(late)) == ("HALTED", "HALTED")


def test_two_sets_at_once_leave_the_kernel_running_the_entry_set_last() -> None:
    """Two operators' writes at once: each stored its entry, then applied it, so the one stored
    first could reach the kernel last, which then ran a mode its entries did not say (and a
    kernel attached under its id afterwards ran the other)."""
    import threading

    plane = InMemoryControlPlane()
    resuming = threading.Thread(target=lambda: plane.set("k", mode="LIVE"))

    class Kernel(ExecutionKernel):
        def update_control(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            if kwargs.get("mode") == "HALTED" and resuming.ident is None:
                # The halt is stored: the resume is set on another thread before it is applied.
                resuming.start()
                resuming.join(0.5)
            return super().update_control(*args, **kwargs)

    k = Kernel(max_slots=1, kernel_id="k", control_plane=plane)
    plane.set(mode="HALTED")
    resuming.join(10)
    assert not resuming.is_alive()
    plane.detach(k)
    again = ExecutionKernel(max_slots=1, kernel_id="k", control_plane=plane)
    assert mode(k) == mode(again)


def test_a_kernel_attached_while_the_last_one_closes_keeps_the_plane() -> None:
    """A kernel restarted on another thread attaches while the old one closes: attached after the
    old one's release found no kernel left and before it closed the plane, it was dropped, and
    no later halt reached it."""
    import threading

    new = ExecutionKernel(max_slots=1, kernel_id="new")
    attaching = threading.Thread(target=lambda: plane.attach(new))

    class Plane(InMemoryControlPlane):
        def close(self) -> None:
            if attaching.ident is None:
                attaching.start()
                attaching.join(0.5)
            super().close()

    plane = Plane()
    old = ExecutionKernel(max_slots=1, kernel_id="old", control_plane=plane)
    old.close()
    attaching.join(10)
    assert not attaching.is_alive()
    plane.set(mode="HALTED")
    assert mode(new) == "HALTED"


def test_the_control_says_when_and_by_whom_its_mode_was_set_across_a_restart(tmp_path: Path) -> None:
    """A later change of another field (a cluster's verbosity) leaves when and by whom the mode
    was set: what a control plane keeps a tight mode by (docs/reference/hazelcast.md)."""
    wal = str(tmp_path / "wal")
    kernel = ExecutionKernel(max_slots=1, kernel_id="mode-set", wal_dir=wal)
    kernel.update_control(mode="HALTED", source="dead-man")
    set_at = kernel.control()["mode_set_at"]
    kernel.update_control(verbosity="DEBUG", source="hazelcast:ops")
    assert (kernel.control()["mode_set_by"], kernel.control()["mode_set_at"]) == ("dead-man", set_at)
    assert set_at > 0.0
    kernel.close()
    again = ExecutionKernel(kernel_id="mode-set", wal_dir=wal)
    try:
        assert (again.control()["mode_set_by"], again.control()["mode_set_at"]) == ("dead-man", set_at)
    finally:
        again.close()
