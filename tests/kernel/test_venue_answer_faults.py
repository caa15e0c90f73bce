"""A venue's answer to submit or cancel that is endless, holds items that are not events, or
holds events the kernel refuses after a rate limit: every event the kernel can take is
applied, and every fault and refusal is named in the outcome."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import SilentVenue, intent

from dita import ExecutionKernel, KernelDiagnosticCode, KernelSeverity, TradeStage, VenueEvent
from dita._kernel import MAX_VENUE_ANSWER_ITEMS

D = KernelDiagnosticCode


def said(order: Any, event_id: str, kind: str, **kw: Any) -> VenueEvent:
    return VenueEvent(
        event_id, order.trade_id, order.slot_id, kind, venue_client_id=order.client_order_id,
        timestamp=1_700_000_100.0, **kw,
    )  # fmt: skip


def filled(order: Any, event_id: str = "f1") -> VenueEvent:
    done = {"size": order.size, "filled_size": order.size, "status": "FILLED"}
    return said(order, event_id, "FILL", price=100.0, **done)


def partial(order: Any, event_id: str, size: float, total: float) -> VenueEvent:
    return said(order, event_id, "FILL", price=100.0, size=size, filled_size=total, status="PARTIALLY_FILLED")


class Counted:
    """An answer of `first` then `again` without end (up to `bound`, so a kernel reading it
    whole ends), counting the items it was asked for."""

    def __init__(self, first: list[Any], again: Any, bound: int) -> None:
        self.first, self.again, self.bound, self.read = first, again, bound, 0

    def __iter__(self) -> Iterator[Any]:
        for item in itertools.chain(self.first, itertools.repeat(self.again, self.bound)):
            self.read += 1
            yield item


def test_the_limit_is_a_documented_number() -> None:
    assert MAX_VENUE_ANSWER_ITEMS == 10_000


@pytest.mark.parametrize("method", ["submit", "cancel"])
def test_an_endless_answer_is_read_up_to_the_limit_and_what_came_before_is_applied(method: str) -> None:
    """An adapter returning itertools.repeat(ack) was read whole before anything was applied:
    memory grew until Rust aborted the process. It is read up to the limit (plus one item, to
    know there is more), the events read are applied, and the fault names the limit."""
    answers: list[Counted] = []

    class Endless(SilentVenue):
        def submit(self, order: Any) -> Any:
            if method == "cancel":
                return [said(order, "a1", "ORDER_ACK"), partial(order, "p1", 0.5, 0.5)]
            again = said(order, "a1", "ORDER_ACK")
            answers.append(Counted([filled(order)], again, 5 * MAX_VENUE_ANSWER_ITEMS))
            return answers[-1]

        def cancel(self, order: Any) -> Any:
            end = said(order, "c1", "CANCEL_ACK", filled_size=0.5)
            answers.append(Counted([end], end, 5 * MAX_VENUE_ANSWER_ITEMS))
            return answers[-1]

    kernel = ExecutionKernel(max_slots=1, venue=Endless())
    out = kernel.process_intent(intent("ENTER", 0))
    if method == "cancel":
        assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
        out = kernel.process_intent(intent("CANCEL", 0))
        assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
        assert kernel.slot_state(0).size == 0.5
    else:
        assert out.accepted and out.state == TradeStage.POSITION_OPEN
        assert kernel.slot_state(0).size == 1.0
    assert len(answers) == 1 and answers[0].read == MAX_VENUE_ANSWER_ITEMS + 1
    assert out.severity == KernelSeverity.ERROR
    assert out.details["venue_answer_error"] == (
        f"venue {method}() answer holds more than {MAX_VENUE_ANSWER_ITEMS} items: the first "
        f"{MAX_VENUE_ANSWER_ITEMS} were read, the rest was not"
    )
    # The events read were each fed to the kernel: the repeats it refused are counted.
    assert out.details["venue_events_refused"] == MAX_VENUE_ANSWER_ITEMS - 1


ENDLESS = """
import itertools, resource, sys
sys.path.insert(0, {tests!r})
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from kernel_helpers import SilentVenue, intent
from dita import ExecutionKernel, VenueEvent

def said(order, event_id, kind):
    return VenueEvent(event_id, order.trade_id, order.slot_id, kind, venue_client_id=order.client_order_id)

class Endless(SilentVenue):
    def submit(self, order):
        return itertools.repeat(said(order, "a1", "ORDER_ACK"))

    def cancel(self, order):
        def answer():
            while True:
                yield said(order, "c1", "CANCEL_ACK")
        return answer()

kernel = ExecutionKernel(max_slots=1, venue=Endless())
submitted = kernel.process_intent(intent("ENTER", 0))
canceled = kernel.process_intent(intent("CANCEL", 0))
print(submitted.state.name, canceled.state.name)
print(submitted.details["venue_answer_error"])
print(canceled.details["venue_answer_error"])
"""


def test_an_endless_iterator_or_generator_does_not_abort_the_process(tmp_path: Path) -> None:
    """itertools.repeat(ack) from submit, a generator without end from cancel: the process
    ran out of memory and aborted (SIGABRT), with 3 GiB of address space here at once."""
    script = tmp_path / "endless.py"
    script.write_text(ENDLESS.format(tests=str(Path(__file__).parent)))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    states, submit_fault, cancel_fault = run.stdout.splitlines()
    assert states == "ENTRY_WORKING IDLE"
    assert submit_fault.startswith(f"venue submit() answer holds more than {MAX_VENUE_ANSWER_ITEMS} items")
    assert cancel_fault.startswith(f"venue cancel() answer holds more than {MAX_VENUE_ANSWER_ITEMS} items")


@pytest.mark.parametrize("shape", [list, tuple])
def test_a_fill_after_an_item_that_is_not_an_event_in_a_list_is_applied(shape: Any) -> None:
    """The list is read whole without running the venue's code: the bad item is skipped and
    named, and the fill after it is booked (it was dropped: the order stayed ORDER_SENT)."""

    class Sloppy(SilentVenue):
        def submit(self, order: Any) -> Any:
            return shape([{"kind": "FILL"}, filled(order)])

    kernel = ExecutionKernel(max_slots=1, venue=Sloppy())
    out = kernel.process_intent(intent("ENTER", 0))
    assert out.accepted and out.state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == 1.0
    assert [e.event_id for e in out.emitted_events] == ["f1"]
    assert out.severity == KernelSeverity.ERROR
    assert out.details["venue_answer_error"] == (
        "venue submit() must return VenueEvent objects, got dict at item 0: {'kind': 'FILL'} (skipped)"
    )


def test_every_bad_item_is_skipped_and_the_first_few_are_named() -> None:
    class Sloppy(SilentVenue):
        def submit(self, order: Any) -> Any:
            ack = said(order, "a1", "ORDER_ACK")
            return [None, ack, "x", partial(order, "p1", 0.25, 0.25), 7, 8.5, b"y", filled(order, "f2")]

    kernel = ExecutionKernel(max_slots=1, venue=Sloppy())
    out = kernel.process_intent(intent("ENTER", 0))
    assert [e.event_id for e in out.emitted_events] == ["a1", "p1", "f2"]
    assert out.state == TradeStage.POSITION_OPEN and kernel.slot_state(0).size == 1.0
    assert out.details["venue_answer_error"] == (
        "venue submit() must return VenueEvent objects, got NoneType at item 0: None (skipped); "
        "got str at item 2: 'x' (skipped); got int at item 4: 7 (skipped); "
        "and 2 more items that are not VenueEvent objects (skipped)"
    )


def test_a_generator_yielding_a_bad_item_is_read_on_and_one_raising_stops_there() -> None:
    """A generator that yields a bad item is read on like a list (its events after it are
    applied); one that raises cannot be: the events before are applied, and both faults named."""

    class Generating(SilentVenue):
        def submit(self, order: Any) -> Any:
            def answer() -> Iterator[Any]:
                yield said(order, "a1", "ORDER_ACK")
                yield {"kind": "FILL"}
                yield filled(order)
                raise ConnectionError("socket closed")

            return answer()

    kernel = ExecutionKernel(max_slots=1, venue=Generating())
    out = kernel.process_intent(intent("ENTER", 0))
    assert [e.event_id for e in out.emitted_events] == ["a1", "f1"]
    assert out.state == TradeStage.POSITION_OPEN
    assert out.details["venue_answer_error"] == (
        "venue submit() must return VenueEvent objects, got dict at item 1: {'kind': 'FILL'} (skipped); "
        "venue submit() answer raised part-way: ConnectionError: socket closed"
    )


def test_a_fill_after_a_rate_limit_in_the_same_answer_is_booked_and_named() -> None:
    """[RATE_LIMITED, FILL]: the rate limit ends the order as a throttled submit, and the fill
    shows the venue took it after all: booked as a late fill of the kept order. The outcome
    stays RATE_LIMITED, its own details standing, but CRITICAL and saying the venue holds the
    order, so the caller does not send it again."""

    class Throttled(SilentVenue):
        def submit(self, order: Any) -> Any:
            return [said(order, "r1", "RATE_LIMITED", retry_after=2.0), filled(order, "f9")]

    kernel = ExecutionKernel(max_slots=1, venue=Throttled())
    out = kernel.process_intent(intent("ENTER", 0))
    assert out.diagnostic_code == D.RATE_LIMITED and (out.accepted, out.applied) == (False, True)
    assert out.state == kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == 1.0
    assert [e.event_id for e in out.emitted_events] == ["r1", "f9"]
    assert out.details["retry_after"] == 2.0  # the rate limit's own details are not overwritten
    assert out.order is not None and out.details["client_order_id"] == out.order.client_order_id
    assert out.details["late_fill"] and "RATE_LIMITED" in out.details["order_kept"]
    assert out.severity == KernelSeverity.CRITICAL


def test_every_refused_event_of_an_answer_is_listed_in_order() -> None:
    class Resends(SilentVenue):
        def submit(self, order: Any) -> Any:
            return [said(order, "a1", "ORDER_ACK"), filled(order), filled(order, "f1"), filled(order, "f2")]

    kernel = ExecutionKernel(max_slots=1, venue=Resends())
    out = kernel.process_intent(intent("ENTER", 0))
    assert out.accepted and kernel.slot_state(0).size == 1.0
    refusals = json.loads(out.details["venue_refusals"])
    assert [r["event_id"] for r in refusals] == ["f1", "f2"]
    assert all(r["kind"] == "FILL" for r in refusals)
    assert [r["code"] for r in refusals] == [out.details["venue_event_refused"]] * 2
    assert out.details["venue_events_refused"] == 2


def test_each_event_taken_keeps_its_own_payload_and_status_around_a_refused_one() -> None:
    """[ACK, part fill, the part fill resent (refused), a fill without a status]: the outcome's
    events are those taken, each with the raw payload it came with, and the last fill takes
    PARTIALLY_FILLED from its sizes (not the kind's FILLED)."""

    class Resends(SilentVenue):
        def submit(self, order: Any) -> Any:
            part = partial(order, "p1", 0.4, 0.4)
            raw = {"raw_payload": {"n": 3}}
            more = said(order, "p2", "FILL", price=100.0, size=0.3, filled_size=0.7, **raw)
            first = said(order, "a1", "ORDER_ACK", raw_payload={"n": 0})
            return [first, part, partial(order, "p1", 0.4, 0.4), more]

    kernel = ExecutionKernel(max_slots=1, venue=Resends())
    out = kernel.process_intent(intent("ENTER", 0))
    assert out.accepted and kernel.slot_state(0).size == pytest.approx(0.7)
    assert [e.event_id for e in out.emitted_events] == ["a1", "p1", "p2"]
    assert [e.raw_payload for e in out.emitted_events] == [{"n": 0}, {}, {"n": 3}]
    assert out.emitted_events[2].status == "PARTIALLY_FILLED"
    assert out.details["venue_events_refused"] == 1


def test_an_answer_the_kernel_takes_whole_names_no_refusal() -> None:
    class Fine(SilentVenue):
        def submit(self, order: Any) -> Any:
            return [said(order, "a1", "ORDER_ACK"), filled(order)]

    out = ExecutionKernel(max_slots=1, venue=Fine()).process_intent(intent("ENTER", 0))
    assert out.accepted and out.severity == KernelSeverity.INFO
    assert not {"venue_refusals", "venue_events_refused", "venue_answer_error"} & out.details.keys()


@pytest.mark.parametrize("method", ["stop_input", "close_core", "close"])
def test_stopping_from_inside_the_kernels_own_venue_call_names_the_method_called(method: str) -> None:
    seen: list[str] = []

    class Stopping(SilentVenue):
        kernel: ExecutionKernel

        def submit(self, order: Any) -> Any:
            try:
                getattr(self.kernel, method)()
            except RuntimeError as exc:
                seen.append(str(exc))
            return []

    venue = Stopping()
    kernel = ExecutionKernel(max_slots=1, venue=venue)
    venue.kernel = kernel
    assert kernel.process_intent(intent("ENTER", 0)).accepted
    assert len(seen) == 1
    # ExecutionKernel.close() stops the input first: the method the kernel was called by.
    called = "stop_input" if method == "close" else method
    assert seen[0].startswith(f"{called}() was called from inside this kernel's own venue call"), seen[0]
    assert kernel.input_refused_reason() is None  # nothing changed
    kernel.close()


def test_a_real_answer_is_far_below_the_limit() -> None:
    """The limit is per answer: a long answer below it is read whole."""

    class Chatty(SilentVenue):
        def submit(self, order: Any) -> Any:
            parts = [partial(order, f"p{n}", 0.0005, 0.0005 * (n + 1)) for n in range(1000)]
            return [said(order, "a1", "ORDER_ACK"), *parts]

    kernel = ExecutionKernel(max_slots=1, venue=Chatty())
    out = kernel.process_intent(intent("ENTER", 0))
    assert "venue_answer_error" not in out.details
    assert len(out.emitted_events) == 1001
    assert kernel.slot_state(0).size == pytest.approx(0.5)
