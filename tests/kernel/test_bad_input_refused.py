"""Bad input the kernel's Python API once took wrong, found by a hunt with odd values: each is
refused naming the field and the value, changes nothing, and neither crashes nor stalls the
process."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from kernel_helpers import SilentVenue, intent

from dita import AccountEvent, ExecutionKernel, KernelIntent, VenueEvent


def enter(n: int = 0) -> KernelIntent:
    return KernelIntent(f"i{n}", f"t{n}", 0, "BTC", "LONG", "ENTER", 100.0, 1.0)


def test_an_update_dict_whose_mode_is_another_update_is_refused() -> None:
    kernel = ExecutionKernel(max_slots=2)
    with pytest.raises(TypeError, match="invalid control update: mode must be a mode name, got a dict"):
        kernel.update_control({"mode": {"mode": "HALTED"}})
    assert kernel.control()["mode"] == "PAPER" and kernel.seq == 0


def test_an_update_dict_nested_deep_is_refused_without_crashing_the_process() -> None:
    """Read as updates of their own, 20,000 nested dicts overflowed the stack: a segfault."""
    script = (
        "from dita import ExecutionKernel\n"
        "k = ExecutionKernel(max_slots=2)\n"
        "d = 'HALTED'\n"
        "for _ in range(20_000): d = {'mode': d}\n"
        "try:\n"
        "    k.update_control(d)\n"
        "except TypeError as e:\n"
        "    print('refused', k.control()['mode'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "refused PAPER\n"), done.stderr


def test_an_update_dicts_source_that_is_no_text_is_named() -> None:
    kernel = ExecutionKernel(max_slots=2)
    with pytest.raises(TypeError, match="invalid control update: source"):
        kernel.update_control({"mode": "HALTED", "source": 5})
    with pytest.raises(ValueError, match="holds a NUL byte"):  # a bad text names itself
        kernel.update_control({"mode": "HALTED", "source": "a\0b"})
    assert kernel.control()["mode"] == "PAPER"


def test_a_batch_without_end_is_refused_past_the_limit_and_nothing_is_taken() -> None:
    """An endless generator was read until memory ran out, and the process aborted."""
    kernel = ExecutionKernel(max_slots=2)
    with pytest.raises(ValueError, match="more than 10000000 intents; one call takes at most"):
        kernel.process_intents(itertools.repeat(enter()))
    assert kernel.seq == 0 and kernel.stats()["intents"] == 0


class CountedColumn(list):  # type: ignore[type-arg]
    """A column that says how long it is and records whether it was read."""

    listed = False

    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows

    def __len__(self) -> int:
        return self.rows

    def tolist(self) -> list[Any]:
        type(self).listed = True
        raise AssertionError("a column past the limit was made a list")


def test_columns_past_the_limit_are_refused_before_they_are_read() -> None:
    kernel = ExecutionKernel(max_slots=2)
    columns = {"intent_id": CountedColumn(10_000_001), "trade_id": ["t0"]}
    with pytest.raises(ValueError, match="10000001 rows; one call takes at most 10000000"):
        kernel.process_intents(columns)
    assert not CountedColumn.listed and kernel.seq == 0


@pytest.mark.parametrize("dtype", ["datetime64[ns]", "datetime64[s]", "timedelta64[ms]"])
def test_a_column_of_numpy_times_is_refused_naming_it(dtype: str) -> None:
    """datetime64[ns] listed as nanoseconds, which were taken for seconds."""
    kernel = ExecutionKernel(max_slots=2)
    columns: dict[str, Any] = {
        "intent_id": ["i0"],
        "trade_id": ["t0"],
        "slot_id": [0],
        "asset": ["BTC"],
        "side": ["LONG"],
        "action": ["ENTER"],
        "reference_price": [100.0],
        "target_size": [1.0],
        "timestamp": np.array([1], dtype=dtype),
    }
    with pytest.raises(TypeError, match=rf"column timestamp holds {dtype.split('[')[0]}.* values"):
        kernel.process_intents(columns)
    assert kernel.seq == 0


def test_a_pandas_time_column_with_a_time_zone_is_read_as_its_times() -> None:
    pd = pytest.importorskip("pandas")
    kernel = ExecutionKernel(max_slots=2)
    columns = pd.DataFrame(
        {
            "intent_id": ["i0"], "trade_id": ["t0"], "slot_id": [0], "asset": ["BTC"],
            "side": ["LONG"], "action": ["ENTER"], "reference_price": [100.0], "target_size": [1.0],
            "timestamp": pd.to_datetime(["2024-01-01T00:00:00Z"]),
        }
    )  # fmt: skip
    assert kernel.process_intents(columns)["accepted"].tolist() == [True]
    assert kernel.slot_state(0).entry_time_s == 1_704_067_200.0


class CallsBack(Fraction):
    """A number whose reading calls into the kernel it is given to."""

    kernel: ExecutionKernel

    def __float__(self) -> float:
        assert self.kernel.seq >= 0
        return float(self.numerator / self.denominator)


@pytest.mark.parametrize(
    "call",
    [
        lambda k, n: k.mark_price("BTC", n),
        lambda k, n: k.on_edge_update("BTC", n),
        lambda k, n: k.set_seed_capital(n),
        lambda k, n: k.set_exchange_config({"taker_rate": n}),
        lambda k, n: k.set_market_limits("BTC", {"lot_step": n}),
        lambda k, n: k.set_risk_limits({"max_notional_total": n}),
        lambda k, n: k.calibrate_fee(n, 1.0, 0.01),
    ],
    ids=[
        "mark_price",
        "on_edge_update",
        "set_seed_capital",
        "set_exchange_config",
        "set_market_limits",
        "set_risk_limits",
        "calibrate_fee",
    ],
)
def test_an_argument_read_calling_back_into_the_kernel_does_not_wait_for_it(call: Any) -> None:
    """The kernel was taken before its arguments were read: a read calling back into it waited
    the busy limit (10 s) for itself, then failed saying another thread held it."""
    kernel = ExecutionKernel(max_slots=2)
    number = CallsBack(1, 1000)
    number.kernel = kernel
    started = time.monotonic()
    call(kernel, number)
    assert time.monotonic() - started < 8.0  # short of the busy limit's 10 s, whatever the load


def test_slot_metadata_read_calling_back_into_the_kernel_does_not_wait_for_it() -> None:
    kernel = ExecutionKernel(max_slots=2)
    kernel.process_intent(enter())

    class Reads(Mapping[str, str]):
        def __getitem__(self, key: str) -> str:
            assert kernel.seq > 0
            return {"note": "x"}[key]

        def __iter__(self) -> Iterator[str]:
            return iter(["note"])

        def __len__(self) -> int:
            return 1

    started = time.monotonic()
    kernel.set_slot_metadata(0, Reads())
    assert time.monotonic() - started < 8.0  # short of the busy limit's 10 s, whatever the load
    assert kernel.slot_state(0).metadata == {"note": "x"}


@pytest.mark.parametrize("field", ["fill_id", "asset"])
def test_a_settlement_naming_an_id_of_only_whitespace_is_refused(field: str) -> None:
    kernel = ExecutionKernel(max_slots=2)
    before = kernel.snapshot()["account"]
    ids = {"fill_id": "f1", "asset": "BTC", field: "  "}
    out = kernel.on_account_event(AccountEvent("a1", "FILL_SETTLED", fee=0.1, **ids))
    assert not out.accepted and out.diagnostic_code.name == "INVALID_INTENT"
    assert out.details["field"] == field and out.details["value"] == '"  "'
    assert "held_for_fill" not in out.details and kernel.snapshot()["account"] == before


PADDED_ASSETS = ["BTC ", " BTC", "\tBTC", "BTC\n", "BTC\u00a0"]


@pytest.mark.parametrize("asset", PADDED_ASSETS)
def test_an_entry_whose_asset_has_whitespace_at_either_end_is_refused_naming_it(asset: str) -> None:
    """An asset "BTC " would be a market of its own, outside BTC's per-asset cap and limits."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    out = kernel.process_intent(KernelIntent("i0", "t0", 0, asset, "LONG", "ENTER", 100.0, 1.0))
    assert not out.accepted and out.diagnostic_code.name == "INVALID_INTENT", out.details
    # The value quoted, so its whitespace shows.
    value = out.details["value"]
    assert out.details["field"] == "asset" and value[0] == value[-1] == '"' and value != '"BTC"', out.details
    assert "either end" in str(out.details["reason"]) and out.order is None
    assert kernel.slot_state(0).trade_id == ""


@pytest.mark.parametrize("asset", PADDED_ASSETS)
def test_market_data_and_limits_for_an_asset_with_whitespace_at_either_end_are_refused(asset: str) -> None:
    kernel = ExecutionKernel(max_slots=1)
    for call in (
        lambda: kernel.mark_price(asset, 100.0),
        lambda: kernel.set_market_limits(asset, {"lot_step": 1.0}),
        lambda: kernel.on_edge_update(asset, 5.0),
    ):
        with pytest.raises(ValueError, match=r"invalid asset: .*BTC.* \(must not have whitespace at either"):
            call()
    assert kernel.seq == 0


@pytest.mark.parametrize("kind", ["FILL_SETTLED", "FUNDING_FEE"])
def test_an_account_event_whose_asset_has_whitespace_at_either_end_is_refused(kind: str) -> None:
    """A FILL_SETTLED for "BTC " was held for a fill of that asset, which no venue reports: the
    fill's fee never settled."""
    kernel = ExecutionKernel(max_slots=1)
    figures = {"fee": 0.1, "fill_id": "f1"} if kind == "FILL_SETTLED" else {"amount": -1.0}
    before = kernel.snapshot()["account"]
    out = kernel.on_account_event(AccountEvent("e1", kind, asset="BTC ", **figures))
    assert not out.accepted and out.diagnostic_code.name == "INVALID_INTENT", out.details
    assert out.details["field"] == "asset" and out.details["value"] == '"BTC "'
    assert "either end" in str(out.details["reason"]) and "held_for_fill" not in out.details
    after = kernel.snapshot()["account"]
    assert {k: v for k, v in after.items() if k not in ("event_seq", "last_update_time")} == {
        k: v for k, v in before.items() if k not in ("event_seq", "last_update_time")
    }


def test_a_loaded_slot_whose_asset_has_whitespace_at_either_end_is_refused() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="padded-load")
    kernel.process_intent(enter())
    before = kernel.slots()
    with pytest.raises(ValueError, match=r"slots\[0\]\.asset: \"BTC \" \(must not have whitespace at either"):
        kernel.load_slots([{**before[0], "asset": "BTC "}])
    assert kernel.slots() == before


def test_a_tiny_negative_figure_of_a_venue_event_is_shown_in_exponent_form() -> None:
    """Written out, -5e-324 took more than 300 characters of the refusal."""
    kernel = ExecutionKernel(max_slots=2)
    coid = kernel.process_intent(enter()).order.client_order_id
    fill = VenueEvent("e1", "", -1, "FILL", venue_client_id=coid, price=100.0, size=-5e-324)
    out = kernel.on_venue_event(fill)
    assert not out.accepted and out.details["field"] == "size"
    assert out.details["value"] == "-5e-324"


@pytest.mark.parametrize(
    "call",
    [
        lambda k, ts: k.mark_price("BTC", 100.0, ts),
        lambda k, ts: k.on_edge_update("BTC", 5.0, ts),
    ],
    ids=["mark_price", "on_edge_update"],
)
@pytest.mark.parametrize(("ts", "shown"), [(-1.0, "-1"), (-5e-324, "-5e-324")])
def test_a_time_before_the_epoch_is_refused_as_intents_and_venue_events_refuse_it(
    call: Any, ts: float, shown: str
) -> None:
    kernel = ExecutionKernel(max_slots=2)
    kernel.process_intent(enter())
    before = kernel.snapshot()
    with pytest.raises(ValueError, match=r"timestamp.*must not be negative") as refused:
        call(kernel, ts)
    assert f"timestamp: {shown} " in str(refused.value)
    assert kernel.snapshot() == before


def test_a_cancel_with_a_size_is_refused_naming_it_and_the_order_keeps_working() -> None:
    """A CANCEL cancels the slot's whole working order: one of 0.3 meant to take part of a
    resting order of 1 off took all of it off, answered accepted."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue())
    assert kernel.process_intent(intent("ENTER", 0)).accepted
    before = kernel.snapshot()
    out = kernel.process_intent(intent("CANCEL", 0, target_size=0.3))
    assert (out.accepted, out.diagnostic_code.name) == (False, "INVALID_INTENT")
    assert (out.details["field"], out.details["value"]) == ("target_size", 0.3)
    assert kernel.snapshot() == before
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    order = kernel.slot_state(0).active_entry_order
    assert order is not None and order.cancel_requested
