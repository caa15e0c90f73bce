"""Exit-leg ratios are read no further than the 1024 legs a trade may have: a sequence whose
``len()`` says more is refused before an item is read (none allocated for), an endless one at
the first item past the cap, through every door (``KernelIntent``, ``set_slot_exit_leg_ratios``,
the live view's ``exit_leg_ratios``, ``load_slots``), naming the field and the cap. Each runs in
a child process: read to its end, an endless sequence holds the GIL for ever, and 2**40 items
allocated abort the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SETUP = textwrap.dedent(
    """
    import itertools
    from collections.abc import Sequence
    from dita import ExecutionKernel, KernelIntent

    class Claimed(Sequence):  # says 2**40 items, holds two
        def __len__(self): return 2**40
        def __getitem__(self, i):
            if isinstance(i, int) and i < 2: return 0.5
            raise IndexError(i)

    class Endless:  # indexed as a sequence, without end or length
        def __getitem__(self, i): return 0.5

    k = ExecutionKernel(max_slots=3)
    k.process_intent(KernelIntent("i-1", "t-1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0))
    before = k.slots()
    """
)

DOORS = {
    "KernelIntent": "KernelIntent('i-2', 't-2', 1, 'BTCUSDT', 'LONG', 'ENTER', 100, 1, exit_leg_ratios=LEGS)",
    "set_slot_exit_leg_ratios": "k.set_slot_exit_leg_ratios(0, LEGS)",
    "view": "setattr(k.slot(0), 'exit_leg_ratios', LEGS)",
    "load_slots": "k.load_slots([dict(before[0], exit_leg_ratios=LEGS), *before[1:]])",
}


@pytest.mark.parametrize("legs", ["Claimed()", "Endless()", "itertools.repeat(0.5)", "range(10**12)"])
@pytest.mark.parametrize("door", DOORS)
def test_legs_past_the_cap_are_refused_unread(door: str, legs: str) -> None:
    code = SETUP + textwrap.dedent(
        f"""
        try:
            {DOORS[door].replace("LEGS", legs)}
            print("taken")
        except (TypeError, ValueError) as exc:
            print("refused:", exc)
        assert k.slots() == before
        """
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr[-500:]
    out = child.stdout
    assert out.startswith("refused:"), out
    if legs == "itertools.repeat(0.5)":  # no sequence: refused as no list of legs
        assert "expected a list of numbers" in out or "must be a list of numbers" in out, out
    else:
        assert "exit_leg_ratios" in out or "ratios" in out, out
        assert "legs (at most 1024" in out, out
