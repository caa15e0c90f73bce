"""A misbehaving venue keeping the truth, played against a kernel restarted from its log
(chaos_driver.py says what the venue does and what is checked)."""

from __future__ import annotations

from pathlib import Path

import pytest
from chaos_driver import play


@pytest.mark.parametrize("seed", range(12))
def test_every_fill_a_venue_made_is_booked_once_through_restarts_and_reconciliation(
    tmp_path: Path, seed: int
) -> None:
    run = play(seed, tmp_path, steps=250, slots=4, strict=True)
    assert run.problems == [], "\n".join(run.log)


@pytest.mark.parametrize("seed", range(100, 108))
def test_fills_a_venue_hid_are_never_double_booked_nor_silently_lost(tmp_path: Path, seed: int) -> None:
    run = play(seed, tmp_path, steps=250, slots=4)
    assert run.problems == [], "\n".join(run.log)
