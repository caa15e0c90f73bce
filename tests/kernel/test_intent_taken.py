"""`intent_taken` says which intent ids the kernel refuses as taken, reading its memory alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import intent

from dita import ExecutionKernel, KernelDiagnosticCode


def test_an_id_is_taken_once_its_intent_is_accepted_and_not_when_refused(tmp_path: Path) -> None:
    with ExecutionKernel(max_slots=2, kernel_id="taken", wal_dir=str(tmp_path / "wal")) as k:
        accepted = intent("ENTER", 0)
        assert not k.intent_taken(accepted.intent_id)
        assert k.process_intent(accepted).accepted
        refused = intent("ENTER", 7)  # no slot 7
        assert not k.process_intent(refused).accepted
        assert k.intent_taken(accepted.intent_id)
        assert not k.intent_taken(refused.intent_id)
        assert k.process_intent(accepted).diagnostic_code == KernelDiagnosticCode.DUPLICATE_INTENT
    with ExecutionKernel(max_slots=2, kernel_id="taken", wal_dir=str(tmp_path / "wal")) as recovered:
        assert recovered.intent_taken(accepted.intent_id)
        assert not recovered.intent_taken(refused.intent_id)


def test_asking_changes_nothing_the_kernel_does() -> None:
    k = ExecutionKernel(max_slots=1, kernel_id="asked")
    asked = intent("ENTER", 0)
    before = k.stats()
    assert not k.intent_taken(asked.intent_id)
    assert k.stats() == before
    assert k.process_intent(asked).accepted


@pytest.mark.parametrize("bad", [None, 7, b"i1", ["i1"]])
def test_an_intent_id_not_a_str_is_a_type_error_naming_it(bad: Any) -> None:
    k = ExecutionKernel(max_slots=1, kernel_id="bad")
    with pytest.raises(TypeError, match=r"intent_id must be a str, got \w+ "):
        k.intent_taken(bad)
