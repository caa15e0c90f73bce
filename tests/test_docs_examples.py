"""The Python blocks of docs/**/*.md run as written (or, for fragments, on the few names their text
assumes), so a renamed module, class, keyword or signature cannot drift from the docs unseen.

Each block is named by its file's path under docs/ and its first line. A new block fails
`test_every_block_is_guarded` until it is listed here: run standalone, run as a fragment,
checked as a signature, or named as guarded by another test. The README's one block runs too,
each line it prints held to its comment."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
README = DOCS.parent / "README.md"


def _blocks() -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for doc in sorted(DOCS.glob("**/*.md")):
        name = doc.relative_to(DOCS).as_posix()
        for code in re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            key = (name, code.strip().splitlines()[0])
            assert key not in found, f"two Python blocks of {name} begin alike: {key[1]!r}"
            found[key] = code
    return found


# Standalone: run in a fresh interpreter in an empty working directory (the blocks write
# relative paths, and chDB hosts one directory per process), then the check after it.
STANDALONE: dict[tuple[str, str], str] = {
    ("reference/logging.md", "import logging"): """
        import json
        logging.getLogger().handlers[-1].stream.close()
        (line,) = [json.loads(text) for text in open("dita.log", encoding="utf-8")]
        assert line["message"] == "rejected with key ***", line
        assert (line["kernel_id"], line["seq"], line["trade_id"]) == ("btc-1", 42, "t1")
    """,
    ("reference/journal.md", "from dita import ExecutionKernel"): """
        from pathlib import Path
        assert Path("dita-journal").is_dir() and any(Path("wal/btc-trend-1").glob("seg-*.wal"))
        assert kernel.wal_info() is None, "kernel.close() closes the log"
    """,
    ("concepts/write-ahead-log.md", "from dita import ExecutionKernel"): """
        from pathlib import Path
        assert any(Path("var/wal/btc-1").glob("seg-*.wal"))
        assert kernel.wal_info() is None, "kernel.close() releases the log"
    """,
    ("concepts/slots-and-stages.md", "from dita import ExecutionKernel, KernelIntent, MockVenueAdapter"): """
        assert [t.next_state.name for t in kernel.process_intent(KernelIntent(
            "i-4", "trade-2", 1, "BTCUSDT", "LONG", "ENTER", reference_price=60_000.0,
            target_size=0.1, order_type="LIMIT", limit_price=59_000.0)).transitions] == [
            "ORDER_REQUESTED", "ORDER_SENT", "ENTRY_WORKING"]
        assert out.state.name == "IDLE" and not refused.accepted
        assert refused.diagnostic_code.name == "NO_POSITION"
    """,
    ("reference/kernel.md", "from dita import ExecutionKernel, KernelIntent"): """
        import math
        assert columns["accepted"].tolist() == [True, False, True]
        assert columns["diagnostic_code"].tolist() == [0, 3, 0]
        f = columns["fill_price"].tolist()
        assert f[0] == 60_000.0 and math.isnan(f[1]) and f[2] == 3_000.0
        assert kernel.stats()["intent_latency_count"] == 3
    """,
    (
        "reference/kernel.md",
        "from dita import ExecutionKernel, KernelIntent, MockVenueAdapter, TradeSlot",
    ): """
        assert slot.active_entry_order is not None
        assert slot.active_entry_order == kernel.slot_state(0).active_entry_order
        assert TradeSlot(**saved).active_entry_order == slot.active_entry_order
        kernel.close()
    """,
    ("guides/coming-from-the-original-kernel.md", "from datetime import UTC, datetime"): """
        assert out.state.value == "POSITION_OPEN" and account["reconcile_status"] == "OK"
        assert kernel.slot_state(0).metadata == {"stop": 57_000.0}
        assert slot.entry_time == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    """,
    ("guides/operations.md", "from dita.runtime.dead_man import DeadManSettings, DeadManSwitch"): """
        assert switch.status()["limits_s"] == {"strategy": 60, "control_plane": 45, "streams": 30}
        assert kernel.control()["mode"] == "PAPER", "nothing silent yet"
    """,
    ("guides/first-backtest.md", "from pathlib import Path"): """
        assert Path("var/bt/metrics.json").is_file() and Path("var/bt/report.html").is_file()
        assert result.metrics.trades > 0
    """,
}

# Needs a Hazelcast member: run with the real classes checked to exist and to take no
# arguments, as the block makes them, then swapped for the in-memory ones.
NEEDS_CLUSTER: dict[tuple[str, str], tuple[str, str]] = {
    ("guides/operations.md", "from dita import ExecutionKernel"): (
        """
        import inspect
        import dita.control.hazelcast as control
        import dita.projection.hazelcast as projection
        from dita import InMemoryControlPlane, InMemoryProjection
        inspect.signature(control.HazelcastControlPlane).bind()
        inspect.signature(projection.HazelcastProjection).bind()
        control.HazelcastControlPlane = InMemoryControlPlane
        projection.HazelcastProjection = InMemoryProjection
        """,
        """
        assert kernel.kernel_id == "trend-btc-1"
        assert kernel.projection is not None and kernel.control_plane is not None
        kernel.close()
        """,
    ),
}

# Fragments: the names their text assumes are made first, and what they do is checked after.
FRAGMENTS: dict[tuple[str, str], tuple[str, str]] = {
    ("concepts/reconciliation.md", "# Closed at the venue by hand: fields that agree, in one write."): (
        """
        from dita import ExecutionKernel, KernelIntent
        kernel = ExecutionKernel(max_slots=1)
        kernel.process_intent(KernelIntent("i-1", "t-1", 0, "BTCUSDT", "LONG", "ENTER", 60_000.0, 0.1))
        """,
        """
        assert kernel.slot(0).is_free() and kernel.slot(0).close_reason == "closed at the venue by hand"
        """,
    ),
    ("concepts/risk.md", "from dita.risk import MarketLimits, RiskLimits"): (
        """
        from dita import ExecutionKernel
        from dita.venues import PaperVenue
        venue = PaperVenue(market_limits={"BTCUSDT": {"lot_step": 0.001, "min_notional": 5.0}})
        kernel = ExecutionKernel(max_slots=2, venue=venue)
        """,
        """
        assert kernel.risk_limits()["max_notional_total"] == 1_000
        assert kernel.market_limits("BTCUSDT")["lot_step"] == 0.001
        """,
    ),
    ("reference/kernel.md", "import numpy as np"): (
        """
        from dita import ExecutionKernel, KernelIntent
        kernel = ExecutionKernel(max_slots=2)
        kernel.process_intent(KernelIntent("i-1", "t-1", 0, "BTCUSDT", "LONG", "ENTER", 60_000.0, 0.1))
        kernel.process_intent(KernelIntent("i-3", "t-3", 1, "ETHUSDT", "SHORT", "ENTER", 3_000.0, 1.0))
        """,
        """
        assert columns["accepted"].tolist() == [True, True]
        assert [kernel.slot_dict(n)["fsm_state"] for n in (0, 1)] == ["CLOSED", "CLOSED"]
        """,
    ),
    ("reference/venues.md", 'events = paper.on_quote("BTCUSDT", bid, ask, bid_size, ask_size, ts)'): (
        """
        from dita import ExecutionKernel, KernelIntent
        from dita.venues import PaperVenue
        paper = PaperVenue()
        kernel = ExecutionKernel(max_slots=2, venue=paper)
        bid, ask, bid_size, ask_size = 99.9, 100.1, 5.0, 5.0
        open, high, low, close, volume = 100.0, 100.5, 99.0, 100.2, 50.0
        ts = 1_700_000_000.0
        paper.on_quote("BTCUSDT", bid, ask, bid_size, ask_size, ts - 60)
        # A buy limit under the quote rests; the bar trading through it fills it.
        kernel.process_intent(KernelIntent("i-1", "t-1", 0, "BTCUSDT", "LONG", "ENTER", reference_price=100.0,
                                           target_size=0.1, order_type="LIMIT", limit_price=99.5))
        """,
        """
        assert kernel.slot_dict(0)["fsm_state"] == "POSITION_OPEN", kernel.slot_dict(0)
        assert kernel.slot_dict(0)["size"] == 0.1
        """,
    ),
}

# A method's signature, as `kernel.name(params) -> ret`: the parameters are the binding's.
SIGNATURES = {
    (
        "reference/journal.md",
        "kernel.wal_journal_blocks(from_seq, to_seq=None, *, sink, chunk_rows=100_000, every_intent=False)"
        " -> int",
    )
}

# Run, and held to what they print or do, by their own tests.
BREAKOUT_TEST = "tests/runtime/test_runtime_doc_example.py"
ELSEWHERE = {
    ("guides/writing-a-strategy.md", "from collections import deque"): BREAKOUT_TEST,
    ("guides/ibkr.md", "from dita import ExecutionKernel, KernelIntent"): "tests/venues/test_venues_ibkr.py",
}


def _script(before: str, code: str, after: str) -> str:
    return "\n".join((textwrap.dedent(before), code, textwrap.dedent(after)))


def _run_alone(script: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]


def test_every_block_is_guarded() -> None:
    listed = set(STANDALONE) | set(NEEDS_CLUSTER) | set(FRAGMENTS) | SIGNATURES | set(ELSEWHERE)
    blocks = set(_blocks())
    assert blocks - listed == set(), "a Python block of docs/ no test runs: list it in this file"
    assert listed - blocks == set(), "listed here but no longer in docs/: update this file"


@pytest.mark.parametrize("key", sorted(STANDALONE), ids=lambda key: f"{key[0]}")
def test_standalone_block_runs(key: tuple[str, str], tmp_path: Path) -> None:
    _run_alone(_script("", _blocks()[key], STANDALONE[key]), tmp_path)


@pytest.mark.parametrize("key", sorted(NEEDS_CLUSTER), ids=lambda key: f"{key[0]}")
def test_cluster_block_names_real_apis(key: tuple[str, str], tmp_path: Path) -> None:
    before, after = NEEDS_CLUSTER[key]
    _run_alone(_script(before, _blocks()[key], after), tmp_path)


@pytest.mark.parametrize("key", sorted(FRAGMENTS), ids=lambda key: f"{key[0]}:{key[1][:24]}")
def test_fragment_runs_on_what_it_assumes(key: tuple[str, str]) -> None:
    before, after = FRAGMENTS[key]
    namespace: dict[str, Any] = {"__name__": "docs_fragment"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(_script(before, _blocks()[key], after), key[0], "exec"), namespace)


@pytest.mark.parametrize("key", sorted(SIGNATURES), ids=lambda key: f"{key[0]}")
def test_signature_block_matches_the_binding(key: tuple[str, str]) -> None:
    from dita import ExecutionKernel

    text = _blocks()[key].strip()
    match = re.fullmatch(r"kernel\.(\w+)\((.*)\) -> \w+", text)
    assert match, text
    method = getattr(ExecutionKernel, match.group(1))
    native = method.__text_signature__.removeprefix("($self, ").removesuffix(")")
    assert re.sub(r"(?<=\d)_(?=\d)", "", match.group(2)) == native, (text, native)


def test_readme_block_prints_what_its_comments_say(tmp_path: Path) -> None:
    """The README's one Python block runs, and each `print(...)  # shown` line prints what its
    comment shows (up to a ` (remark)` or a `, ...` the comment elides)."""
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    shown = [
        re.split(r" \(|, \.\.\.", line.split("  # ", 1)[1].strip())[0]
        for line in code.splitlines()
        if line.startswith("print(") and "  # " in line
    ]
    assert len(shown) == 4, shown
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout.splitlines()
    assert len(printed) == len(shown), printed
    for want, got in zip(shown, printed, strict=True):
        assert got.startswith(want), (want, got)
