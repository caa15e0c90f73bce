"""The state one gateway app keeps for its kernel, shared by its routes (``CurrentState``), its
venue polling and its stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request

from dita._kernel import AccountEvent
from dita.gateway.asset_marks import AssetMarks
from dita.gateway.config import GatewaySettings
from dita.gateway.events import Broadcaster
from dita.gateway.lane import KernelLane
from dita.gateway.metrics import GatewayMetrics
from dita.kernel import ExecutionKernel
from dita.runtime.dead_man import DeadManSwitch
from dita.venues._events import PolledEvents

__all__ = ["REMEMBERED_INTENTS", "CurrentState", "GatewayState", "HealthRead", "gateway_state"]

# The HTTP gateway logs under one name, that of the module embedders serve: dita.gateway.app.
log = logging.getLogger("dita.gateway.app")

# How many ENTERs' slots, and intents' outcomes, the gateway remembers by their intent_id,
# for retries.
REMEMBERED_INTENTS = 10_000

# The kernel's mode, and whether it takes input: "ok", "failed" or "closed", with why.
HealthRead = tuple[Any, str, str | None]

T = TypeVar("T")


class GatewayState:
    """What the routes of one app share: the kernel and its lane, the settings and the token,
    the metrics, the event broadcaster (its history and subscribers), what the gateway
    remembers of the intents its clients named, and the venue events polled and not applied."""

    def __init__(self, kernel: ExecutionKernel, settings: GatewaySettings) -> None:
        self.kernel = kernel
        self.settings = settings
        # Without a configured token a random one, so the mutating endpoints are never open.
        self.token = settings.token or secrets.token_urlsafe(24)
        self.metrics = GatewayMetrics(kernel)
        self.broadcaster = Broadcaster(
            history=settings.sse_history,
            client_buffer=settings.sse_client_buffer,
            history_bytes=settings.sse_history_bytes,
            client_buffer_bytes=settings.sse_client_buffer_bytes,
            on_drop=self.metrics.sse_dropped.inc,
        )
        self.metrics.watch_events(self.broadcaster)
        # Read once: each read of them waits for the kernel, and /healthz must not.
        self.kernel_id, self.max_slots = kernel.kernel_id, kernel.max_slots
        # The ClickHouse debug switch means something only with a journal: the page shows it then.
        self.journal_attached = getattr(kernel, "journal", None) is not None
        self.lane = KernelLane(kernel, self.kernel_id)
        # A mark reaches the slots an older log left under another spelling of its asset.
        self.asset_marks = AssetMarks(kernel)
        # The slot and trade of each ENTER taken under an intent_id its client chose, newest
        # last: a retry without slot_id goes back to that slot while the trade holds it, so the
        # kernel's DUPLICATE_INTENT names where the intent went (and is no 409 when every slot
        # is busy by then). The oldest are forgotten first.
        self.entered_slots: OrderedDict[str, tuple[int, str]] = OrderedDict()
        # What became of each intent taken under an intent_id its client chose, newest last: a
        # retry the kernel refuses as DUPLICATE_INTENT carries it as details.first_outcome,
        # since the refusal alone cannot tell an order in the market from one the venue rate
        # limited or rejected (nothing placed: send it again under a new id).
        self.first_outcomes: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # Polled venue events the kernel raised on (busy), given to it first at the next poll;
        # and, once the kernel takes no more input, why: the venue is then polled no more.
        self.polled = PolledEvents()
        self.account_waiting: deque[AccountEvent] = deque()  # as ``polled``, of account events
        self.polling_ended: str | None = None
        # The control state the event stream last sent (or the page loaded at the start).
        self.published_control: dict[str, Any] = dict(kernel.control())
        # The health read under way, shared by the checks made while the kernel is held.
        self.health_read: asyncio.Future[HealthRead] | None = None
        # Checked on every round of the polling; heard from through POST /v1/heartbeat.
        self.dead_man: DeadManSwitch | None = None

    # --- events --------------------------------------------------------------------------

    def publish(self, event_type: str, data: dict[str, Any]) -> None:
        """Send an event to the streams, from the event loop or from the lane (the events of one
        lane call count as one in a client's buffer)."""
        loop = self.lane.running_loop()
        if loop is None:
            self.broadcaster.publish(event_type, data)
            self.metrics.sse_events.inc()
            return
        # From the lane: the broadcaster's queues are the event loop's. Its id given here, so a
        # read after it on the lane answers at least that id; sent in the lane's order, and
        # before the call's result wakes its request (which is scheduled after these).
        with contextlib.suppress(RuntimeError):  # the loop closed: no stream is left to tell
            self.broadcaster.publish_later(loop, event_type, data, self.lane.running_call())
            self.metrics.sse_events.inc()

    def announce_control(self) -> dict[str, Any]:
        """The kernel's control state, sent as a `control` event (on the lane)."""
        control = self.kernel.control()
        self.published_control.update(control)
        self.publish("control", control)
        return control

    def publish_control_if_changed(self) -> None:
        """Sends the kernel's control state as a `control` event when it changed by another way
        than PUT /v1/control: a HALTED set through the cluster (`dita control set`) or an edge
        freeze would leave the page showing the mode it loaded until reloaded."""
        control = self.kernel.control()
        if control != self.published_control:
            self.published_control.clear()
            self.published_control.update(control)
            self.publish("control", control)

    async def read(self, read: Callable[[], T]) -> tuple[T, int]:
        """``read``'s result, run on the lane, and the id of the last event published before it
        ran (``X-Last-Event-Id``): a lane call's events are given their ids on the lane, so a
        later call's are higher, and the events at or below it are of the calls before, which
        it reads (some perhaps still on their way to the streams)."""

        def read_with_id() -> tuple[T, int]:
            return read(), self.broadcaster.last_id

        return await self.lane.run(read_with_id)

    # --- slots ---------------------------------------------------------------------------

    def engaged_slots(self) -> list[dict[str, Any]]:
        """The slots holding a position, working an order or keeping one in doubt, in slot
        order: all a flatten touches, read without the idle ones (a kernel may have 100,000
        slots)."""
        ids = set(self.kernel.open_slot_ids())
        ids.update(order.slot_id for order in self.kernel.open_orders())
        ids.update(order.slot_id for order in self.kernel.orders_in_doubt())
        # slot_dict(), not slots(): every answer and event gives a slot the same fields
        # (slots() leaves out kernel_id).
        return [self.kernel.slot_dict(i) for i in sorted(ids)]

    def slot_or_404(self, slot_id: int) -> dict[str, Any]:
        self.check_slot_id(slot_id)
        return self.kernel.slot_dict(slot_id)

    def check_slot_id(self, slot_id: int, name: str = "slot_id") -> None:
        """A 404 naming ``name`` when ``slot_id`` is no slot of the kernel."""
        if not 0 <= slot_id < self.max_slots:
            raise HTTPException(
                404, f"{name} {slot_id} is out of range: this kernel has slots 0..{self.max_slots - 1}"
            )

    def publish_slots(self, slot_ids: dict[int, None]) -> None:
        """A `slot` event for each of ``slot_ids`` that names a slot (in their order)."""
        for slot_id in slot_ids:
            if 0 <= slot_id < self.max_slots:
                self.publish("slot", self.kernel.slot_dict(slot_id))

    # --- the stop ------------------------------------------------------------------------

    def polled_not_applied(self) -> str:
        """The polled venue events not applied yet, as a stop that gave up names them ("none")."""
        with contextlib.suppress(RuntimeError):  # the lane took them meanwhile
            return self.polled.described() or "none"
        return "none"

    async def close_kernel(self, timeout: float, deadline: float | None = None) -> bool:
        """Close the kernel on its lane (after the calls queued there) and shut the lane down, at
        the stop, once the requests are done: closed beside a call on the lane, the kernel would
        wait 10 s for that call's venue answer, then raise busy and skip the close's sync. Waits
        for a call holding the lane until ``deadline`` (monotonic; by default ``timeout`` seconds
        from now: the stop's grace); False, logged with what was not synced, when it gave up."""
        lane = self.lane
        if lane.ended == "stopped":
            lane.open()  # after a lifespan's end: a lane of its own for the close
        if lane.ended is not None:
            return True
        lane.ended = "closed"
        if deadline is None:
            deadline = time.monotonic() + timeout
        closing = await lane.run_at_stop(self.kernel.close, deadline, "closing the kernel")
        lane.shut_down(wait=False)  # its thread ends once the calls queued are done
        if closing is None:
            log.error(
                "stopping: the kernel %r is not closed: the call holding the kernel's lane did not"
                " return within the stop's %g s (stop_grace_seconds); not synced: the write-ahead"
                " log's newest inputs (under fsync batch or none), the journal's last rows and the"
                " projection's last state; not applied, to reconcile: the venue events polled, %s."
                " A new kernel on its wal_dir recovers what the log holds (and runs"
                " reconcile_with_venue); this one takes them and closes on the lane once that call"
                " returns, if the process still runs",
                self.kernel_id,
                timeout,
                self.polled_not_applied(),
            )
            return False
        await anyio.to_thread.run_sync(lane.shut_down)  # nothing is queued after the close: it ends now
        closing.result()  # the close's own error (a journal that failed to flush) is raised
        return True

    async def end_lane(self, deadline: float) -> bool:
        """At a lifespan's end: no more calls on the lane, and its thread ended once the calls
        queued there are done, the kernel left open (its embedder's to close). Waits for a call
        holding the lane until ``deadline`` (monotonic); False, logged, when it gave up: the
        thread then ends once that call and those behind it have returned."""
        lane = self.lane
        if lane.ended is not None:
            return True
        lane.ended = "stopped"
        ended = await lane.run_at_stop(lambda: None, deadline, "shutting the kernel's lane down")
        lane.shut_down(wait=False)  # its thread ends once the calls queued are done
        if ended is None:
            log.error(
                "stopping: the call holding the kernel's lane did not return within the stop's %g s"
                " (stop_grace_seconds): the lane's thread ends once it returns, after the calls"
                " queued behind it; not applied yet, to reconcile if the process ends before: the"
                " venue events polled, %s. The kernel %r is not closed by the gateway: a close"
                " made meanwhile waits for that call (10 s, then raises busy)",
                self.settings.stop_grace_seconds,
                self.polled_not_applied(),
                self.kernel_id,
            )
            return False
        await anyio.to_thread.run_sync(lane.shut_down)  # nothing is queued after it: it ends now
        return True


async def gateway_state(request: Request) -> GatewayState:
    """The app's state, for a route (async: a plain function would run on a worker thread)."""
    state: GatewayState = request.app.state.gateway
    return state


CurrentState = Annotated[GatewayState, Depends(gateway_state)]
