"""``process_intents`` answers a batch in columns and leaves the kernel, its log and its journal
outbox exactly as one ``process_intent`` call per intent does, refusals included; a batch given
as columns (NumPy, Arrow, lists, a pandas DataFrame) is read as the same intents made one by one
would be."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dita import ExecutionKernel, KernelIntent, KernelOutcome, MockVenueAdapter
from dita._kernel import wal_replay

COLUMNS = (
    "accepted",
    "applied",
    "seq",
    "slot_id",
    "state",
    "diagnostic_code",
    "severity",
    "submitted",
    "fills",
    "filled_size",
    "fill_price",
)


def intent_of(n: int, draw: dict[str, Any]) -> KernelIntent:
    """Intent ``n``: its id repeats an earlier one when ``draw`` says so (a duplicate)."""
    return KernelIntent(
        intent_id=f"i{draw['same_id_as'] if draw['same_id_as'] is not None else n}",
        trade_id=f"t{draw['slot']}-{draw['trade']}",
        slot_id=draw["slot"],
        asset=draw["asset"],
        side=draw["side"],
        action=draw["action"],
        reference_price=draw["price"],
        target_size=draw["size"],
        order_type=draw["order_type"],
        limit_price=draw["price"] if draw["order_type"] == "LIMIT" else 0.0,
        timestamp=1_700_000_000.0 + n,
    )


intent_draws = st.fixed_dictionaries(
    {
        "slot": st.sampled_from([0, 0, 1, 2, 7]),  # 7: past max_slots, refused
        "trade": st.integers(0, 2),
        "asset": st.sampled_from(["BTCUSDT", "ETHUSDT"]),
        "side": st.sampled_from(["LONG", "SHORT"]),
        "action": st.sampled_from(["ENTER", "ENTER", "EXIT", "EXIT", "CANCEL"]),
        "price": st.sampled_from([100.0, 101.5, 0.0, math.nan]),  # 0 and NaN: refused
        "size": st.sampled_from([1.0, 0.5, 0.0, -1.0]),
        "order_type": st.sampled_from(["MARKET", "MARKET", "LIMIT"]),
        "same_id_as": st.one_of(st.none(), st.integers(0, 3)),
    }
)

venue_draws = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 1000),
        "reject_rate": st.sampled_from([0.0, 0.2]),
        "fill_rate": st.sampled_from([1.0, 0.5]),
        "partial_fill_rate": st.sampled_from([0.0, 0.5]),
        "rate_limit_rate": st.sampled_from([0.0, 0.1]),
    }
)


def column_of(out: KernelOutcome) -> dict[str, Any]:
    """The figures ``process_intents`` gives for one outcome, read from the outcome."""
    fills = [e for e in out.emitted_events if e.kind == "FILL"]
    size = notional = 0.0
    for fill in fills:
        size += fill.size
        notional += fill.size * fill.price
    return {
        "accepted": out.accepted,
        "applied": out.applied,
        "seq": out.seq,
        "slot_id": out.slot_id,
        "state": out.state,
        "diagnostic_code": out.diagnostic_code,
        "severity": out.severity,
        "submitted": out.order is not None,
        "fills": len(fills),
        "filled_size": size,
        "fill_price": notional / size if fills else math.nan,
    }


def kernel_state(kernel: ExecutionKernel) -> dict[str, Any]:
    # The outbox hands over the rows of inputs the log has written: both logs wholly, first.
    kernel.wal_sync()
    stats = {k: v for k, v in kernel.stats().items() if not k.startswith("intent_latency")}
    return {
        "snapshot": kernel.snapshot(),
        "stats": stats,
        "open_orders": [o.to_dict() for o in kernel.open_orders()],
        "journal": kernel.drain_journal(),
    }


def made(venue: dict[str, Any], wal_dir: Path | None) -> ExecutionKernel:
    logged = {} if wal_dir is None else {"wal_dir": str(wal_dir), "fsync": "none"}
    kernel = ExecutionKernel(max_slots=3, venue=MockVenueAdapter(**venue), kernel_id="batch", **logged)
    kernel.set_journal_enabled(True)
    return kernel


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(intent_draws, max_size=40), venue_draws, st.booleans())
def test_a_batch_does_what_one_call_per_intent_does(
    draws: list[dict[str, Any]], venue: dict[str, Any], logged: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        one_by_one = made(venue, Path(tmp, "one") if logged else None)
        batched = made(venue, Path(tmp, "batch") if logged else None)
        intents = [intent_of(n, d) for n, d in enumerate(draws)]
        expected = [column_of(one_by_one.process_intent(i)) for i in intents]
        columns = batched.process_intents(intents)
        assert set(columns) == set(COLUMNS)
        for name in COLUMNS:
            assert len(columns[name]) == len(intents), name
            for n, (got, want) in enumerate(zip(columns[name].tolist(), expected, strict=True)):
                want = want[name]
                both_nan = name == "fill_price" and math.isnan(got) and math.isnan(want)
                assert both_nan or got == want, f"intent {n} {name}: batch {got!r}, one by one {want!r}"
        # Compared as text: a refused intent's NaN price is in the journal's rows, unequal to itself.
        assert repr(kernel_state(batched)) == repr(kernel_state(one_by_one))
        assert batched.stats()["intent_latency_count"] == one_by_one.stats()["intent_latency_count"]
        if logged:
            one_by_one.close()
            batched.close()
            replayed_one, _ = wal_replay(Path(tmp, "one"))
            replayed_batch, _ = wal_replay(Path(tmp, "batch"))
            assert repr(replayed_batch.snapshot()) == repr(replayed_one.snapshot())
            assert replayed_batch.seq == replayed_one.seq


def test_the_columns_are_numpy_arrays_of_their_types() -> None:
    kernel = ExecutionKernel(max_slots=2, kernel_id="types")
    intents = [
        KernelIntent("a", "t0", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0),
        KernelIntent("b", "t1", 5, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0),
    ]
    columns = kernel.process_intents(intents)
    dtypes = {name: columns[name].dtype for name in COLUMNS}
    assert dtypes == {
        "accepted": np.bool_,
        "applied": np.bool_,
        "seq": np.uint64,
        "slot_id": np.int64,
        "state": np.uint8,
        "diagnostic_code": np.uint8,
        "severity": np.uint8,
        "submitted": np.bool_,
        "fills": np.uint32,
        "filled_size": np.float64,
        "fill_price": np.float64,
    }
    assert columns["accepted"].tolist() == [True, False]
    assert columns["filled_size"].tolist() == [1.0, 0.0]
    assert columns["fill_price"][0] == 100.0 and np.isnan(columns["fill_price"][1])
    assert columns["diagnostic_code"][1] == 1  # INVALID_SLOT_ID's number
    columns["accepted"][0] = False  # each array its own, writable
    assert kernel.process_intents([])["seq"].tolist() == []


def test_an_item_not_an_intent_is_refused_before_any_is_taken() -> None:
    kernel = ExecutionKernel(max_slots=1, kernel_id="refused")
    good = KernelIntent("a", "t0", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)
    with pytest.raises(TypeError, match=r"KernelIntent items \(item 1\), got dict"):
        kernel.process_intents([good, {"intent_id": "b"}])
    with pytest.raises(TypeError, match="sequence of KernelIntent"):
        kernel.process_intents(5)  # type: ignore[arg-type]
    assert kernel.seq == 0


def test_an_error_at_an_intent_carries_those_taken_before_it() -> None:
    class InterruptedAtTheSecondOrder:
        """Answers the first order with nothing and is interrupted (Ctrl-C) in the second."""

        name = "interrupted"

        def __init__(self) -> None:
            self.orders = 0

        def submit(self, order: Any) -> list[Any]:
            self.orders += 1
            if self.orders == 2:
                raise KeyboardInterrupt
            return []

        def cancel(self, order: Any) -> list[Any]:
            return []

    kernel = ExecutionKernel(max_slots=3, venue=InterruptedAtTheSecondOrder(), kernel_id="interrupted")
    intents = [KernelIntent(f"i{n}", f"t{n}", n, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0) for n in range(3)]
    with pytest.raises(KeyboardInterrupt) as raised:
        kernel.process_intents(intents)
    assert raised.value.processed == 1  # type: ignore[attr-defined]
    assert raised.value.outcomes["accepted"].tolist() == [True]  # type: ignore[attr-defined]
    assert raised.value.outcomes["seq"].tolist() == [1]  # type: ignore[attr-defined]
    # The second was taken as process_intent takes it (its order in flight); the third never.
    assert kernel.seq == 2 and kernel.free_slot_id() == 2


def columns_of(intents: list[KernelIntent]) -> dict[str, Any]:
    """The intents as columns: NumPy arrays for the numbers and slots, lists for the text."""
    return {
        "intent_id": [i.intent_id for i in intents],
        "trade_id": np.array([i.trade_id for i in intents]),
        "slot_id": np.array([i.slot_id for i in intents], dtype=np.int64),
        "asset": [i.asset for i in intents],
        "side": [i.side.name for i in intents],
        "action": [i.action.name for i in intents],
        "reference_price": np.array([i.reference_price for i in intents]),
        "target_size": np.array([i.target_size for i in intents]),
        "order_type": [i.order_type.name for i in intents],
        "limit_price": np.array([i.limit_price for i in intents]),
        "timestamp": np.array([i.timestamp for i in intents]),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(intent_draws, max_size=30), venue_draws, st.sampled_from(["dict", "arrow", "pandas"]))
def test_a_batch_of_columns_does_what_one_call_per_intent_does(
    draws: list[dict[str, Any]], venue: dict[str, Any], form: str
) -> None:
    one_by_one, batched = made(venue, None), made(venue, None)
    intents = [intent_of(n, d) for n, d in enumerate(draws)]
    expected = [column_of(one_by_one.process_intent(i)) for i in intents]
    given_columns: Any = columns_of(intents)
    if form == "arrow":
        given_columns = pa.table(given_columns)
    elif form == "pandas":
        given_columns = pd.DataFrame(given_columns)
    columns = batched.process_intents(given_columns)
    for name in COLUMNS:
        for n, (got, want) in enumerate(zip(columns[name].tolist(), expected, strict=True)):
            want = want[name]
            both_nan = name == "fill_price" and math.isnan(got) and math.isnan(want)
            assert both_nan or got == want, f"intent {n} {name}: columns {got!r}, one by one {want!r}"
    assert repr(kernel_state(batched)) == repr(kernel_state(one_by_one))


def test_the_optional_columns_reach_the_intents_as_keywords_would() -> None:
    keywords = {
        "leverage": 2.0,
        "order_type": "LIMIT",
        "limit_price": 99.0,
        "reason": "signal",
        "timestamp": 5.0,
    }
    one = ExecutionKernel(max_slots=1, kernel_id="columns")
    batched = ExecutionKernel(max_slots=1, kernel_id="columns")
    one.process_intent(KernelIntent("a", "t", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, **keywords))
    columns = {
        "intent_id": ["a"],
        "trade_id": ["t"],
        "slot_id": [0],
        "asset": ["BTCUSDT"],
        "side": ["LONG"],
        "action": ["ENTER"],
        "reference_price": [100.0],
        "target_size": [1.0],
        **{name: [value] for name, value in keywords.items()},
    }
    batched.process_intents(columns)
    assert repr(batched.snapshot()) == repr(one.snapshot())
    assert [o.to_dict() for o in batched.open_orders()] == [o.to_dict() for o in one.open_orders()]


GOOD_COLUMNS: dict[str, Any] = {
    "intent_id": ["a", "b"],
    "trade_id": ["t0", "t1"],
    "slot_id": [0, 1],
    "asset": ["BTCUSDT", "BTCUSDT"],
    "side": ["LONG", "LONG"],
    "action": ["ENTER", "ENTER"],
    "reference_price": [100.0, 100.0],
    "target_size": [1.0, 1.0],
}


def test_a_data_frame_with_a_bad_value_is_refused_naming_its_row_and_nothing_is_taken() -> None:
    kernel = ExecutionKernel(max_slots=2, kernel_id="bad-frame")
    frame = pd.DataFrame({**GOOD_COLUMNS, "side": ["LONG", "SIDEWAYS"]})
    with pytest.raises(ValueError, match='process_intents row 1: invalid side: unknown TradeSide "SIDEWAYS"'):
        kernel.process_intents(frame)
    with pytest.raises(ValueError, match='unknown column "sides"'):
        kernel.process_intents(frame.rename(columns={"side": "sides"}))
    assert kernel.seq == 0 and kernel.free_slot_id() == 0


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"size": [1.0, 1.0]}, ValueError, r'unknown column "size" \(the columns are intent_id, '),
        ({"side": None}, ValueError, r"missing column side$"),
        ({"slot_id": [0]}, ValueError, "column slot_id has 1 rows, column intent_id has 2"),
        (
            {"side": ["LONG", "SIDEWAYS"]},
            ValueError,
            'process_intents row 1: invalid side: unknown TradeSide "SIDEWAYS"',
        ),
        ({"slot_id": [0, "one"]}, TypeError, "process_intents row 1: .*slot_id"),
        ({"intent_id": ["a", 5]}, TypeError, "process_intents row 1: .*intent_id"),
        (
            {"target_size": 1.0},
            TypeError,
            "column target_size must be a NumPy or Arrow array, a list or a tuple",
        ),
    ],
)
def test_bad_columns_are_refused_naming_them_and_nothing_is_taken(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    kernel = ExecutionKernel(max_slots=2, kernel_id="bad-columns")
    columns = {name: value for name, value in {**GOOD_COLUMNS, **change}.items() if value is not None}
    with pytest.raises(error, match=message):
        kernel.process_intents(columns)
    assert kernel.seq == 0 and kernel.free_slot_id() == 0


def test_a_column_that_changes_the_batch_while_it_is_read_gets_no_panic() -> None:
    """The batch's columns are read from a copy of its items: a column's own ``tolist`` (or
    ``len``, ``dtype``) that adds a column to the dict made PyO3's dict iterator panic
    (PanicException, which ``except Exception`` does not catch)."""
    kernel = ExecutionKernel(max_slots=3)
    batch: dict[str, Any] = {
        "trade_id": ["t-1"],
        "slot_id": [0],
        "asset": ["BTCUSDT"],
        "side": ["LONG"],
        "action": ["ENTER"],
        "reference_price": [100.0],
        "target_size": [1.0],
    }

    class Column(list):  # type: ignore[type-arg]
        def tolist(self) -> list[Any]:
            batch["reason"] = ["added while read"]
            return list(self)

    batch["intent_id"] = Column(["i-1"])
    try:
        out = kernel.process_intents(batch)
    except BaseException as exc:  # a PanicException is no Exception
        pytest.fail(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
    assert list(out["accepted"]) == [True] and kernel.slot_state(0).trade_id == "t-1"


def _frame_of_three() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "intent_id": ["a", "b", "c"],
            "trade_id": ["t0", "t1", "t2"],
            "slot_id": [0, 1, 2],
            "asset": ["X", "Y", "Z"],
            "side": ["LONG", "SHORT", "LONG"],
            "action": ["ENTER"] * 3,
            "reference_price": [10.0, 20.0, 30.0],
            "target_size": [1.0, 2.0, 3.0],
        }
    )


def test_a_series_in_another_row_order_is_refused_naming_it_and_nothing_is_taken() -> None:
    """Columns are read by position: a price Series sorted apart from the rest would pair
    asset X with Z's price, so Series of another index are refused, not read."""
    frame = _frame_of_three()
    columns = {name: frame[name] for name in frame.columns}
    columns["reference_price"] = frame.sort_values("reference_price", ascending=False)["reference_price"]
    kernel = ExecutionKernel(max_slots=3, kernel_id="series-order")
    with pytest.raises(ValueError, match="column reference_price's index differs from column intent_id's"):
        kernel.process_intents(columns)
    assert kernel.seq == 0 and kernel.free_slot_id() == 0


def test_series_of_one_index_are_read_by_position_whatever_its_labels() -> None:
    frame = _frame_of_three().sort_values("reference_price", ascending=False)  # index 2, 1, 0
    one_index = {name: frame[name] for name in frame.columns}
    # A plain list beside them is read by position, as pandas pairs it.
    with_a_list = {**one_index, "target_size": [3.0, 2.0, 1.0]}
    for columns in (one_index, with_a_list, frame):
        kernel = ExecutionKernel(max_slots=3, kernel_id="series-one-index")
        assert kernel.process_intents(columns)["accepted"].tolist() == [True] * 3
        entered = {kernel.slot_state(i).asset: kernel.slot_state(i).entry_price for i in range(3)}
        assert entered == {"X": 10.0, "Y": 20.0, "Z": 30.0}


def test_a_frame_of_intent_dicts_is_taken_as_the_intents_would_be() -> None:
    """The columns are KernelIntent's arguments by name, ``stage`` too (kept by the intent, not
    acted on by the kernel): a frame of the intents' own ``to_dict()`` is taken."""
    intents = [
        KernelIntent(f"i{i}", f"t{i}", i, "X", "LONG", "ENTER", 100.0, 1.0, timestamp=1.7e9, stage=stage)
        for i, stage in enumerate([None, "IDLE"])
    ]
    one_by_one = made({}, None)
    for intent in intents:
        one_by_one.process_intent(intent)
    kernel = made({}, None)
    columns = kernel.process_intents(pd.DataFrame([intent.to_dict() for intent in intents]))
    assert columns["accepted"].tolist() == [True, True]
    assert repr(kernel_state(kernel)) == repr(kernel_state(one_by_one))


def test_a_bad_stage_column_is_refused_naming_its_row_as_the_intent_would_be() -> None:
    kernel = ExecutionKernel(max_slots=2, kernel_id="bad-stage")
    with pytest.raises(ValueError, match='process_intents row 1: invalid stage: unknown TradeStage "OPEN"'):
        kernel.process_intents({**GOOD_COLUMNS, "stage": [None, "OPEN"]})
    assert kernel.seq == 0 and kernel.free_slot_id() == 0


def test_a_missing_pandas_time_in_a_column_is_refused_naming_the_row_field_and_value() -> None:
    kernel = ExecutionKernel(max_slots=2, kernel_id="nat-column")
    with pytest.raises(ValueError, match=r"process_intents row 1: invalid timestamp: NaT \("):
        kernel.process_intents({**GOOD_COLUMNS, "timestamp": [1.7e9, pd.NaT]})
    assert kernel.seq == 0 and kernel.free_slot_id() == 0
