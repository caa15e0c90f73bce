"""What a flooding client can make ``dita stdio`` hold: bounded, however much one read holds."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from dita import ExecutionKernel, MockVenueAdapter
from dita.gateway import stdio
from dita.gateway.stdio import run_stdio


def test_the_answers_of_one_read_are_written_as_they_come_not_held_until_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 64 KiB of `QUERY ORDERS` lines, each answered with 100 working orders (~25 KB): held until
    # the read's last line was answered, one read cost ~125 MB (a wider book, gigabytes).
    held: list[int] = []
    emit = stdio.NdjsonWriter.emit

    def spy(self: stdio.NdjsonWriter, event_type: str, fields: dict[str, Any]) -> None:
        emit(self, event_type, fields)
        held.append(len(self._pending))

    monkeypatch.setattr(stdio.NdjsonWriter, "emit", spy)
    slots = 100
    script = "".join(f"ORDER BUY BTCUSDT 1 100 c{i}\n" for i in range(slots)) + "QUERY ORDERS\n" * 2000
    kernel = ExecutionKernel(max_slots=slots, venue=MockVenueAdapter(fill_rate=0.0))
    out_path = tmp_path / "out.ndjson"
    with out_path.open("wb") as out:  # a file descriptor: the writer keeps what is not written yet
        assert run_stdio(kernel, cast(BinaryIO, io.BytesIO(script.encode())), out) == 0
    size = os.path.getsize(out_path)
    assert size > 20 * stdio.FLUSH_BYTES  # the session wrote far more than the bound
    with out_path.open("rb") as lines:
        queries = [json.loads(line) for line in lines if b'"query_received"' in line]
    assert len(queries) == 2000 and all(len(q["result"]) == slots for q in queries)
    one_answer = max(len(json.dumps(q)) for q in queries[:1]) + 4096
    # At most the bound, plus the events of the one command under way.
    assert max(held) <= stdio.FLUSH_BYTES + one_answer
