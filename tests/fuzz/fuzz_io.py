"""Hostile bytes through the places dita reads what it did not write: a fuzz harness.

Not a test (pytest does not collect it, `make test` does not run it): run it by hand, one
target at a time, for as long as you like::

    python tests/fuzz/fuzz_io.py stdio --examples 5000
    python tests/fuzz/fuzz_io.py status|paper|csv|backtest|http --examples 1000

Targets: ``stdio`` (`dita stdio` lines: text, JSON, bytes that are not UTF-8), ``status``
(a state file in `dita status/orders/pnl`'s directory), ``paper`` (the state file a
`dita paper --wal-dir` run continues from), ``csv`` (`load_market_data`), ``backtest`` (a
`dita backtest` of every CSV that loads) and ``http`` (gateway request bodies). Each checks
what the docs promise: a clear refusal (an error event, exit 2, a 4xx) or success, never a
traceback or a 5xx, and nothing changed by a refused input. It uses hypothesis, a dev
dependency; a failure prints the smallest input hypothesis found. Runs leave no files behind.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from runtime import test_cli as runs  # noqa: E402  (the state file and paper runs of the tests)

NUMBERS = [
    float("nan"),
    float("inf"),
    -float("inf"),
    1e308,
    -1.0,
    0.0,
    -0.0,
    5e-324,
    1e18,
    2**31,
    2**63,
    2**64,
    10**30,
]
ODD = [True, False, None, "", "x", "1.5", "nan", "\x00", "\ufeff", "\ud800", [], {}, [1], {"a": 1}, "x" * 300]
hostile = st.one_of(st.sampled_from(NUMBERS + ODD), st.floats(), st.integers(), st.text(max_size=6))
DELETE = object()  # a change that drops the field


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def _changed(doc: dict[str, Any], changes: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
    """``doc`` with each (path, value) change made where the path still exists."""
    out = copy.deepcopy(doc)
    for path, value in changes:
        node: Any = out
        try:
            for key in path[:-1]:
                node = node[key]
            if value is DELETE:
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            pass
    return out


def _changes(doc: dict[str, Any]) -> st.SearchStrategy[list[tuple[tuple[Any, ...], Any]]]:
    return st.lists(
        st.tuples(st.sampled_from(list(_paths(doc))), hostile | st.just(DELETE)), min_size=1, max_size=3
    )


def _cli_ok(result: Any, *codes: int) -> None:
    """A CLI run ended by its own exit (no traceback) with one of ``codes``."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in codes, (result.exit_code, result.output[-800:])


# --- stdio -------------------------------------------------------------------------------

WORDS = ["ORDER", "CANCEL", "QUERY", "MARK", "BUY", "SELL", "MKT", "ORDERS", "ACCOUNT", "SLOTS", "BTCUSDT"]
WORDS += ["c1", "c2", "1", "0.5", "50000", "1e400", "nan", "-0.0", "#", "{", "\x00", "\ufeff", "\ud800"]
json_value = st.recursive(
    hostile | st.sampled_from(WORDS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
json_line = st.dictionaries(
    st.sampled_from(["cmd", "side", "symbol", "qty", "price", "client_id", "what", "x"]),
    json_value,
    max_size=7,
).map(lambda d: json.dumps(d, allow_nan=True))
text_line = st.lists(st.sampled_from(WORDS), max_size=7).map(" ".join)
stdio_line = st.one_of(text_line, json_line, st.text(max_size=50)).map(
    lambda s: s.encode("utf-8", "surrogatepass")
)


@given(st.lists(stdio_line | st.binary(max_size=60), max_size=25), st.booleans())
def fuzz_stdio(lines: list[bytes], newline_at_end: bool) -> None:
    from dita.gateway.stdio import run_stdio
    from dita.kernel import ExecutionKernel

    data = b"\n".join(line.replace(b"\n", b" ") for line in lines) + (b"\n" if newline_at_end else b"")
    out = io.BytesIO()
    assert run_stdio(ExecutionKernel(max_slots=2), io.BytesIO(data), out) == 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[-1]["type"] == "engine_stopped"
    assert not [e for e in events if e.get("code") == "ENGINE_ERROR"]  # a Python exception let through


# --- state files -------------------------------------------------------------------------

# test_cli's state file, and the commands that read one (`dita pnl --json` too). Running, so the
# commands look its pid up (a pid past a C int was an OverflowError from os.kill).
STATE = {**runs.GOOD_STATE, "running": True}
READERS = [*runs.STATE_READERS, ["pnl", "--json"]]


@given(_changes(STATE), st.sampled_from(READERS))
def fuzz_status(changes: list[tuple[tuple[Any, ...], Any]], command: list[str]) -> None:
    from typer.testing import CliRunner

    from dita.cli import app

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bad.json").write_text(json.dumps(_changed(STATE, changes), allow_nan=True))
        _cli_ok(CliRunner().invoke(app, [*command, "--state-dir", tmp]), 0)


def fuzz_paper(examples: int) -> None:
    """A first `dita paper --wal-dir` run leaves a state file; each example changes it and
    continues the run on a copy of the log."""
    base = Path(tempfile.mkdtemp())
    try:
        (base / "fuzz_resting.py").write_text(runs.RESTING)
        sys.path.insert(0, str(base))
        first = runs._paper_on(base, "fuzz_resting:FarBid", runs._bars_csv(base / "a.csv", [99.0] * 5))
        _cli_ok(first, 0)
        more = runs._bars_csv(base / "b.csv", [99.0] * 7 + [40.0])
        saved = json.loads((base / "state" / "rest.json").read_text())

        @given(_changes(saved))
        @settings(
            max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def one(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
            run = Path(tempfile.mkdtemp())
            try:
                shutil.copytree(base / "state", run / "state")
                shutil.copytree(base / "wal", run / "wal")
                (run / "state" / "rest.json").write_text(json.dumps(_changed(saved, changes), allow_nan=True))
                _cli_ok(runs._paper_on(run, "fuzz_resting:FarBid", more), 0, 2)
            finally:
                shutil.rmtree(run)

        one()
    finally:
        shutil.rmtree(base)


# --- CSV market data ---------------------------------------------------------------------

CSVS = [
    [
        "timestamp,open,high,low,close,volume",
        *(f"{1704067200 + 60 * i},100,101,99,100.5,3" for i in range(6)),
    ],
    ["ts,asset,open,high,low,close,volume"]
    + [f"{1704067200 + 60 * (i // 2)},{'BTC' if i % 2 else 'ETH'},100,101,99,100.5,3" for i in range(8)],
    ["ts,bid,ask,bid_size,ask_size", *(f"{1704067200000 + 250 * i},100,100.5,1,2" for i in range(6))],
    ["time,symbol,bid,ask", *(f"2024-01-01T00:00:0{i}Z,X,100,100.5" for i in range(6))],
]
CELLS = ["1704067200", "1704067200000", "1704067200000000000", "2024-01-01", "2024-01-01T00:01:00+14:00"]
CELLS += [
    "0",
    "-1",
    "nan",
    "inf",
    "1e400",
    "",
    " ",
    "\ufeff",
    '"',
    "1_000",
    "1e308",
    "-0.0",
    "5e-324",
    "12:00:00",
]
cell = st.one_of(st.sampled_from(CELLS), st.text(max_size=4), st.floats().map(repr), st.integers().map(str))


@st.composite
def csv_bytes(draw: st.DrawFn) -> bytes:
    """One of CSVS with a few cells changed, rows repeated or dropped, cells added or
    removed, then maybe a few raw bytes (not UTF-8, a NUL) spliced in anywhere."""
    rows = [line.split(",") for line in draw(st.sampled_from(CSVS))]
    for _ in range(draw(st.integers(1, 4))):
        r = draw(st.integers(0, len(rows) - 1))
        op = draw(st.sampled_from(["cell", "cell", "repeat", "drop", "add", "pop"]))
        if op == "cell":
            rows[r][draw(st.integers(0, len(rows[r]) - 1))] = draw(cell)
        elif op == "repeat":
            rows.insert(draw(st.integers(1, len(rows))), list(rows[r]))
        elif op == "drop" and len(rows) > 2:
            del rows[draw(st.integers(1, len(rows) - 1))]
        elif op == "add":
            rows[r].append(draw(cell))
        elif len(rows[r]) > 1:
            rows[r].pop()
    data = "\n".join(",".join(row) for row in rows).encode("utf-8", "surrogatepass")
    data += draw(st.sampled_from([b"", b"\n", b"\r\n"]))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=4)) + data[at:]
    return data


@contextmanager
def _csv_file(data: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "BTCUSDT_1m.csv")
        path.write_bytes(data)
        yield path


@given(csv_bytes(), st.booleans())
def fuzz_csv(data: bytes, allow_gaps: bool) -> None:
    import numpy as np

    from dita.backtest.data import DataError, load_market_data

    with _csv_file(data) as path:
        try:
            m = load_market_data(path, allow_gaps=allow_gaps)
        except DataError:
            return
        assert len(m) and np.all(np.isfinite(m.ts)) and np.all(np.diff(m.ts) >= 0)
        prices = ("open", "high", "low", "close") if m.kind == "bars" else ("bid", "ask")
        assert all(np.all(np.isfinite(v)) and len(v) == len(m) for v in m.columns.values())
        assert all(np.all(m.columns[c] > 0) for c in prices)


CHURN = '''
from dita.strategy import Bar, Quote, Strategy


class Churn(Strategy):
    """Enters on one row and closes on the next: every row makes the venue fill."""

    data = ("bars", "quotes")

    def _step(self, asset: str, price: float) -> None:
        if not self.busy(asset):
            self.close(asset, price=price) if self.position(asset) else self.buy(asset, 0.5, price=price)

    def on_bar(self, bar: Bar) -> None:
        self._step(bar.asset, bar.close)

    def on_quote(self, quote: Quote) -> None:
        self._step(quote.asset, quote.mid)
'''


@given(csv_bytes())
def fuzz_backtest(data: bytes) -> None:
    from typer.testing import CliRunner

    from dita.cli import app

    with _csv_file(data) as path:
        (path.parent / "fuzz_churn.py").write_text(CHURN)
        sys.path.insert(0, str(path.parent))
        try:
            args = ["backtest", "--strategy", "fuzz_churn:Churn", "--data", str(path), "--allow-gaps"]
            _cli_ok(CliRunner().invoke(app, [*args, "--out", str(path.parent / "out")]), 0, 2)
        finally:
            sys.path.remove(str(path.parent))
            sys.modules.pop("fuzz_churn", None)


# --- gateway HTTP bodies -----------------------------------------------------------------

BODIES = [
    {"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "reference_price": 100, "target_size": 1},
    {"action": "EXIT", "slot_id": 0, "reference_price": 100},
    {"action": "CANCEL", "slot_id": 0},
    {"asset": "BTCUSDT", "price": 100},
    {"mode": "HALTED"},
    {"mode": "PAPER", "verbosity": "DEBUG"},
    {"reason": "r"},
]
ENDPOINTS = [
    ("POST", "/v1/intents"),
    ("POST", "/v1/slots/0/cancel"),
    ("POST", "/v1/marks"),
    ("PUT", "/v1/control"),
]
http_body = st.one_of(
    st.tuples(
        st.sampled_from(BODIES),
        st.dictionaries(st.sampled_from(sorted({k for b in BODIES for k in b})), json_value, max_size=2),
    ).map(lambda pair: json.dumps({**pair[0], **pair[1]}, allow_nan=True).encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
    st.just(b"[" * 5000),
)


def fuzz_http(examples: int) -> None:
    from fastapi.testclient import TestClient

    from dita.gateway.app import create_app
    from dita.gateway.config import GatewaySettings
    from dita.kernel import ExecutionKernel

    kernel = ExecutionKernel(max_slots=3)
    client = TestClient(
        create_app(kernel, GatewaySettings(token="t" * 16)),
        base_url="http://localhost",
        raise_server_exceptions=False,
    )
    headers = {"Authorization": "Bearer " + "t" * 16, "Content-Type": "application/json"}

    def state() -> str:
        account = {k: v for k, v in kernel.account().items() if k != "event_seq"}
        return json.dumps([kernel.slots(), account, kernel.control()], default=str, sort_keys=True)

    @given(st.sampled_from(ENDPOINTS), http_body)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def one(endpoint: tuple[str, str], body: bytes) -> None:
        before = state()
        answer = client.request(*endpoint, content=body, headers=headers)
        assert answer.status_code < 500, (answer.status_code, answer.text[:300])
        if answer.status_code >= 400:
            assert state() == before, answer.text[:300]

    one()


TARGETS: dict[str, Callable[..., None]] = {
    "stdio": fuzz_stdio,
    "status": fuzz_status,
    "paper": fuzz_paper,
    "csv": fuzz_csv,
    "backtest": fuzz_backtest,
    "http": fuzz_http,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--examples", type=int, default=1000, help="inputs to try (default 1000)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the test client's deprecation notes, not findings
    target = TARGETS[args.target]
    if hasattr(target, "hypothesis"):
        limits = settings(
            max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        limits(target)()
    else:
        target(args.examples)
    print(f"{args.target}: {args.examples} examples, no failure")


if __name__ == "__main__":
    main()
