"""The in-memory control plane composes entries as the Hazelcast one does: most recent wins."""

from __future__ import annotations

import pytest

from dita import ControlChangeRefused, ExecutionKernel, InMemoryControlPlane


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
