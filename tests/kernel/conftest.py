from __future__ import annotations

from collections.abc import Callable

import pytest
from kernel_helpers import intent

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter


@pytest.fixture
def mk() -> Callable[..., KernelIntent]:
    return intent


@pytest.fixture
def kernel() -> ExecutionKernel:
    k = ExecutionKernel(max_slots=4, kernel_id="test")
    k.set_seed_capital(10_000.0)
    return k


@pytest.fixture
def resting() -> tuple[ExecutionKernel, MockVenueAdapter]:
    """A kernel whose venue acknowledges orders but leaves them resting (no fills)."""
    venue = MockVenueAdapter(fill_rate=0.0)
    k = ExecutionKernel(max_slots=4, venue=venue, kernel_id="rest")
    k.set_seed_capital(10_000.0)
    return k, venue
