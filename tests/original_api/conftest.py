"""Shared by the tests of the original kernel's API (docs/guides/coming-from-the-original-kernel.md):
strategy code written for the original kernel, as it reads, runs on dita unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dita import ExecutionKernel


@pytest.fixture
def kernel() -> Iterator[ExecutionKernel]:
    k = ExecutionKernel(max_slots=3, kernel_id="original-api")
    k.set_seed_capital(10_000.0)
    yield k
    k.close()
