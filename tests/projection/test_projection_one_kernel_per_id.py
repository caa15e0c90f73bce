"""Two kernels of one id attached at once to one projection: one is taken, the other refused, so
no kernel is replaced while it goes on tracking changes no one drains."""

from __future__ import annotations

from attach_race import attach_at_once
from dita import InMemoryProjection


def test_two_kernels_of_one_id_attached_at_once_take_one_and_refuse_the_other() -> None:
    projection = InMemoryProjection()
    refused = attach_at_once(projection, "desk", timeout=10)
    assert refused == ["kernel_id 'desk' is already attached to this projection"]
    assert len(projection._kernels) == 1
