"""The dead-man switch: a kernel whose strategy, control plane or venue streams fall silent
longer than their limit goes to REDUCE_ONLY or HALTED, and says why.

Each source counts as heard when:

- the strategy process: the kernel takes an intent (its ``intents`` count moves), or the
  strategy says so itself (``heard_from_strategy``: ``POST /v1/heartbeat``);
- the control plane: its last read of the cluster succeeded (``status()["last_sync_at"]``, a
  wall-clock stamp, aged on the wall clock when first seen); an in-process plane, or none, is
  never silent;
- the venue's streams: a frame arrived (``stream_status().since_last_frame_s``; behind a
  ``VenueRouter``, the stream silent longest among its venues); a venue without a user stream is
  never silent, and a switch with ``streams_silence_s`` set over one says so at WARNING when built.

``check`` (the gateway's poll, a runtime's data point) compares each with its limit, the silences
measured on the monotonic clock. A trip
puts the kernel into ``action`` the way an operator's mode change goes (its own control
state at once, then its control plane's entry, so the whole cluster sees it), with the
reason as the change's source. The entry is written in the background, one trip after the
other, so the check (on the strategy's thread) does not wait for the cluster; ``close`` waits
for the writes left, up to ``CLOSE_WAIT_S``, and says which were not written. A trip logs at
ERROR and is kept in ``status()``. It never loosens a mode: a kernel already HALTED stays so,
and a change an operator makes while the trip is being made stands (the kernel sets the trip's
mode only while it runs the mode the trip read, and its plane's entry is written only while the
kernel still runs the trip and the entries give it that mode, the mode they gave it at the
trip, or none, in each case stamped before the trip). A source trips once per silence: heard
from again, it is watched again; the mode stays until an operator changes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dita._numbers import OptionalPlainNumber
from dita._text import shortened
from dita.control import MODE_TIGHTNESS

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = ["SOURCES", "DeadManSettings", "DeadManSwitch", "Silence", "Source"]

log = logging.getLogger(__name__)

Source = Literal["strategy", "control_plane", "streams"]
SOURCES: tuple[Source, ...] = ("strategy", "control_plane", "streams")
_SAID: dict[Source, str] = {
    "strategy": "the strategy process",
    "control_plane": "the control plane",
    "streams": "the venue's streams",
}
TRIPS_KEPT = 20
"""How many trips ``status()`` lists, the newest last."""
CLOSE_WAIT_S = 10.0
"""How long ``close`` waits for the trips' plane entries still being written (a plane's own
write gives up after its write timeout, 10 s for the Hazelcast one)."""


class DeadManSettings(BaseModel):
    """The ``[dead_man]`` table: the longest silence of each source, in seconds (unset: not
    watched), and the mode a silence puts the kernel in."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    strategy_silence_s: OptionalPlainNumber = Field(default=None, gt=0)
    control_plane_silence_s: OptionalPlainNumber = Field(default=None, gt=0)
    streams_silence_s: OptionalPlainNumber = Field(default=None, gt=0)
    action: Literal["REDUCE_ONLY", "HALTED"] = "REDUCE_ONLY"

    def limits(self) -> dict[Source, float]:
        """The watched sources and their limits."""
        given: dict[Source, float | None] = {
            "strategy": self.strategy_silence_s,
            "control_plane": self.control_plane_silence_s,
            "streams": self.streams_silence_s,
        }
        return {source: limit for source, limit in given.items() if limit is not None}


@dataclass(frozen=True)
class Silence:
    """One trip: which source, how long it had been silent, its limit, and what was done."""

    source: Source
    silent_s: float
    limit_s: float
    action: str
    at: float  # wall time (time.time())
    applied: bool  # False: the kernel ran that mode or a tighter one, or another change landed

    def reason(self) -> str:
        return (
            f"dead-man switch: {_SAID[self.source]} silent for {self.silent_s:.1f}s (limit {self.limit_s:g}s)"
        )


class DeadManSwitch:
    """Watches ``kernel``'s sources against ``settings``. ``clock`` measures the silences, in
    seconds (monotonic: a wall clock set back or forward would blind the switch or trip every
    source); ``wall_clock`` turns the control plane's stamp of its last read into an age and
    stamps a trip (``Silence.at``). ``stream_status`` is the venue's by default."""

    def __init__(
        self,
        kernel: ExecutionKernel,
        settings: DeadManSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        stream_status: Callable[[], Any] | None = None,
        control_plane: Any = None,
    ) -> None:
        if not isinstance(settings, DeadManSettings):
            # Read field by field below: a dict (the TOML table as read) would fail on a field's
            # name, saying nothing of what to pass.
            raise TypeError(
                f"settings={shortened(repr(settings))} (a {type(settings).__name__}) must be a "
                "DeadManSettings; build one from a [dead_man] table with "
                "DeadManSettings.model_validate(table)"
            )
        self.kernel = kernel
        self.settings = settings
        self._clock = clock
        self._wall_clock = wall_clock
        self._stream_status = stream_status or getattr(kernel.venue, "stream_status", None)
        if settings.streams_silence_s is not None and not self._has_streams():
            venue = getattr(kernel.venue, "name", type(kernel.venue).__name__)
            log.warning(
                "dead-man switch: streams_silence_s is set (%gs), but venue %r of kernel %r has no user "
                "stream: the streams are not watched",
                settings.streams_silence_s, venue, kernel.kernel_id,
            )  # fmt: skip
        self._control_plane = control_plane if control_plane is not None else kernel.control_plane
        started = clock()
        # A source is heard from at the start: its limit runs from there.
        self._heard: dict[Source, float] = dict.fromkeys(SOURCES, started)
        self._intents = self._intents_taken()
        # The plane's stamp of its last read as last seen, and the clock's time then.
        self._plane_read: float | None = None
        self._listened_at = started
        self._silent: set[Source] = set()  # tripped and not heard from since
        self._lock = threading.Lock()
        self.trips: list[Silence] = []
        # The trips' plane entries to write, oldest first, and whether the writer thread runs.
        self._to_write: list[tuple[str, str, str, Any]] = []
        self._writing = threading.Condition()
        self._writer_runs = False
        # What the last check_or_tell raised (None once one passes), told once whoever checks.
        self._failure_told: str | None = None

    def _has_streams(self) -> bool:
        if self._stream_status is None:
            return False
        try:
            return self._stream_status() is not None
        except Exception:  # a stream that cannot tell its state yet is a stream
            return True

    # --- what the sources say ----------------------------------------------------------

    def heard_from_strategy(self) -> None:
        """The strategy process is alive (a heartbeat, or an intent sent another way)."""
        self._heard["strategy"] = self._clock()

    def _intents_taken(self) -> int:
        taken = self.kernel.stats().get("intents")
        return taken if isinstance(taken, int) else 0

    def _listen(self, now: float) -> Exception | None:
        """Read what the kernel, the control plane and the venue say of their last signs of life,
        each on its own: one that cannot be read keeps its last heard time (its silence grows and
        trips past its limit) and the others are still read. The first error a read raised."""
        failed: Exception | None = None
        for read in (self._listen_to_kernel, self._listen_to_plane, self._listen_to_streams):
            try:
                read(now)
            except Exception as exc:
                failed = failed or exc
        return failed

    def _listen_to_kernel(self, now: float) -> None:
        intents = self._intents_taken()
        if intents != self._intents:
            self._intents = intents
            self._heard["strategy"] = now

    def _listen_to_plane(self, now: float) -> None:
        plane_status = getattr(self._control_plane, "status", None)
        if callable(plane_status):
            last_read = plane_status().get("last_sync_at")
            if isinstance(last_read, int | float) and last_read != self._plane_read:
                # A new read: its stamp is the wall clock's, its age taken on it too, but no
                # older than the last look (it was not there then) nor below 0 (the clock set back).
                self._plane_read = float(last_read)
                age = min(max(0.0, self._wall_clock() - float(last_read)), now - self._listened_at)
                self._heard["control_plane"] = max(self._heard["control_plane"], now - age)
        else:
            self._heard["control_plane"] = now  # in process (or none): never silent
        # Only a look that read the plane: a read since a look that failed may be that old.
        self._listened_at = now

    def _listen_to_streams(self, now: float) -> None:
        stream = self._stream_status() if self._stream_status is not None else None
        if stream is None:
            self._heard["streams"] = now  # no stream to fall silent
        elif stream.since_last_frame_s is not None:
            self._heard["streams"] = max(self._heard["streams"], now - stream.since_last_frame_s)

    # --- the check -----------------------------------------------------------------------

    def check(self) -> list[Silence]:
        """Compare each watched source's silence with its limit; trip those past it. The trips
        made by this call (mostly none). A trip that raises (the kernel busy in another thread's
        call past its wait) is raised once the others are made, and made at the next check; so
        is a source that cannot be read (a busy kernel's plane, a stream that cannot say its
        state): it keeps its last heard time, and the others are compared."""
        # ``dita live`` checks from the gateway's lane and the strategies' thread: one at a time,
        # so a silence trips once. The plane's entries are written on a thread of their own: a
        # cluster write may take its whole timeout (a member frozen), and this is the strategy's
        # thread.
        with self._lock:
            made, failed = self._check()
            with self._writing:
                for silence, tripped_from, entries_gave in made:
                    if silence.applied:
                        self._to_write.append((silence.action, silence.reason(), tripped_from, entries_gave))
                if self._to_write and not self._writer_runs:
                    self._writer_runs = True
                    threading.Thread(
                        target=self._write_trips, name="dita-dead-man-write", daemon=True
                    ).start()
        if failed is not None:
            raise failed
        return [silence for silence, _, _ in made]

    def check_or_tell(self, tell: Callable[[str], None]) -> None:
        """``check`` for a caller that goes on whatever it raises (the next check makes the trip
        a busy kernel refused). What it raised goes to ``tell`` as ``"Type: message"``, once
        until a check passes or raises something else, whichever caller it reaches."""
        try:
            self.check()
        except Exception as exc:
            failure = f"{type(exc).__name__}: {shortened(str(exc), 300)}"
            if failure != self._failure_told:
                self._failure_told = failure
                tell(failure)
            return
        self._failure_told = None

    def _write_trips(self) -> None:
        """The writer thread: the trips' plane entries, one after the other in the order of the
        trips; it ends when none is left."""
        while True:
            with self._writing:
                if not self._to_write:
                    self._writer_runs = False
                    self._writing.notify_all()
                    return
                action, reason, tripped_from, entries_gave = self._to_write[0]
            try:
                self._write_to_plane(action, reason, tripped_from, entries_gave)
            except Exception:  # the kernel's own mode is set: the thread must go on to the next
                log.exception(
                    "%s: writing kernel %s's control plane entry failed", reason, self.kernel.kernel_id
                )
            with self._writing:
                del self._to_write[0]

    def close(self, timeout: float = CLOSE_WAIT_S) -> bool:
        """Wait up to ``timeout`` seconds for the trips' plane entries still being written; False,
        logged at ERROR naming each trip, when some are not written by then (the kernel runs the
        trip's mode all the same; a write that failed said so when it failed). Close the switch
        before its kernel: the kernel's plane closes with it."""
        deadline = time.monotonic() + timeout
        with self._writing:
            while self._writer_runs and (left := deadline - time.monotonic()) > 0:
                self._writing.wait(left)
            unwritten = [reason for _, reason, _, _ in self._to_write]
        for reason in unwritten:
            log.error(
                "%s: kernel %s's control plane entry not written within %gs of closing the switch "
                "(the cluster not answering): the kernel runs the trip's mode, the cluster may not show it",
                reason,
                self.kernel.kernel_id,
                timeout,
            )
        return not unwritten

    def _check(self) -> tuple[list[tuple[Silence, str, Any]], Exception | None]:
        """The trips made, each with the mode the kernel ran when it was made and the mode its
        plane's entries gave it then; and the first error a trip raised (the kernel busy in
        another thread's call), whose source is tripped at the next check, or the first a read
        of a source raised (the others compared all the same)."""
        now = self._clock()
        failed = self._listen(now)
        made: list[tuple[Silence, str, Any]] = []
        for source, limit in self.settings.limits().items():
            silent = now - self._heard[source]
            if silent <= limit:
                self._silent.discard(source)  # heard from again: watched again
                continue
            if source in self._silent:
                continue
            try:
                made.append(self._trip(source, silent, limit))
            except Exception as exc:
                # Counted as tripped only once the trip is made: a source marked before its
                # trip raised would be skipped for the rest of its silence, the switch spent.
                failed = failed or exc
                continue
            self._silent.add(source)
        return made, failed

    on_data_point = check
    """What a runtime calls on each data point (a bar, a tick)."""

    def _trip(self, source: Source, silent: float, limit: float) -> tuple[Silence, str, Any]:
        """Puts the kernel's own state into ``action`` at once (the control plane away or not),
        unless it runs that mode or a tighter one, or another change lands after the trip's read.
        The trip, the mode the kernel ran and the mode its plane's entries gave it."""
        action = self.settings.action
        at = self._wall_clock()
        reason = Silence(source, silent, limit, action, at, True).reason()
        # Set only while the kernel runs the mode read (``if_mode``): a change another thread
        # makes in between (an operator's halt) is newer than the trip, and stands. Logged
        # after, as logging may take its time.
        running = str(self.kernel.control().get("mode"))
        entries_gave = self._plane_mode()
        if MODE_TIGHTNESS.get(str(entries_gave), 0) >= MODE_TIGHTNESS[action]:
            # An operator's halt the entries hold and the kernel has yet to apply: the trip's
            # entry written over it would loosen it.
            entries_gave = None
        applied = MODE_TIGHTNESS.get(running, 0) < MODE_TIGHTNESS[action] and (
            self.kernel.update_control(mode=action, source=reason, if_mode=running) is not None
        )
        silence = Silence(source, silent, limit, action, at, applied)
        self.trips = [*self.trips[-(TRIPS_KEPT - 1) :], silence]
        if applied:
            log.error("%s: kernel %s goes %s", reason, self.kernel.kernel_id, action)
        else:
            log.error("%s: the kernel runs %s, left as is", reason, self.kernel.control().get("mode"))
        return silence, running, entries_gave

    def _plane_mode(self) -> Any:
        """The mode the kernel's plane entries, as the plane last saw them, give it; None with no
        plane, none given, or a plane that cannot say."""
        given = getattr(self.kernel.control_plane, "given", None)
        try:
            return given(self.kernel.kernel_id).get("mode") if callable(given) else None
        except Exception:
            return None

    def _write_to_plane(self, action: str, reason: str, tripped_from: str, entries_gave: Any) -> None:
        """The trip's mode, set in the kernel's own state, written to its plane's entry as an
        operator's change is, so the cluster sees it too: only while the kernel still runs the
        trip and the entries give it ``tripped_from``, the mode they gave it at the trip (the
        kernel may run another, kept from its log), or no mode, stamped before the trip, so a
        change an operator made since stands."""
        kernel = self.kernel
        plane = kernel.control_plane
        if plane is None:
            return
        found: list[str] = []  # what each read of only_if found: the last, why no write was made

        def undisturbed(control: dict[str, Any]) -> bool:
            # Run on each read of the write's compare-and-set: a mode written since the trip (an
            # operator's halt, or resume) is newer than it, and a write stamped past it would undo it.
            # A resume to the mode the trip read is told by the kernel no longer running the trip
            # (its mode last set by another: a verbosity change leaves the mode's setter).
            running = kernel.control()
            if running.get("mode") != action or running.get("mode_set_by") != reason:
                found.append(f"the kernel runs {running.get('mode')}, set since the trip")
                return False
            if _stamped_after_the_trip(control.get("mode_at"), running.get("mode_set_at")):
                found.append(f"the entries give it mode {control.get('mode')}, written after the trip")
                return False
            found.append(
                f"the entries give it mode {control.get('mode')}, not the {tripped_from} the trip read"
            )
            return control.get("mode") in (None, tripped_from, entries_gave)

        try:
            written = plane.set(kernel.kernel_id, mode=action, only_if=undisturbed)
        except Exception as exc:
            log.error(
                "%s: kernel %s runs %s, but its control plane entry was not written: %s",
                reason,
                kernel.kernel_id,
                action,
                exc,
            )
        else:
            if written is None and found:  # a plane that asked nothing of only_if wrote as it could
                log.warning(
                    "%s: kernel %s's control plane entry not written: %s (a change made since the "
                    "trip, which stands)",
                    reason,
                    kernel.kernel_id,
                    found[-1],
                )
                return
        # An in-process plane applies its entry at once, under its own source: the reason is
        # put back, only while the kernel runs the trip's mode. An operator's change made while
        # the entry was written (it may take seconds) runs another mode, and stands.
        if kernel.control().get("source") != reason:
            kernel.update_control(mode=action, source=reason, if_mode=action)

    # --- what an operator sees -------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The limits, each watched source's silence now, and the trips, newest last."""
        now = self._clock()
        limits = self.settings.limits()
        return {
            "action": self.settings.action,
            "limits_s": dict(limits),
            "silent_s": {source: max(0.0, now - self._heard[source]) for source in limits},
            "tripped": sorted(self._silent),
            "trips": [{**asdict(t), "reason": t.reason()} for t in self.trips],
        }


def _stamped_after_the_trip(mode_at: Any, trip_set_at: Any) -> bool:
    """Whether the entries' mode, stamped ``mode_at``, was written after the trip set the kernel's
    mode at ``trip_set_at``: an operator's resume to the mode the trip read, which the kernel has
    yet to apply, stands. False when either is unknown (a plane that gives no stamps applies its
    entries at once: the kernel no longer running the trip tells such a change)."""
    # ``mode_at`` is the writer's wall clock (or just past the stamp it competed with), the trip's
    # ``mode_set_at`` the kernel host's; the entry holds no stamp of the cluster's own. Only a write
    # within the hosts' clock difference (milliseconds under NTP) of the trip may be misordered:
    # the trip's entry then goes over it (the kernel stays tight), or one made just before stands.
    if not isinstance(mode_at, float) or not isinstance(trip_set_at, float) or trip_set_at <= 0:
        return False
    return mode_at > trip_set_at
