"""What each kernel runs, applied to it: per field, the newest valid value of its own entry and
the global one, set more recently than what it last got from the plane; only real changes reach
the kernel (each is a journaled control change), and a kernel busy in another call is tried
again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dita._text import shortened
from dita.control import GLOBAL, MODE_TIGHTNESS, normalize_change
from dita.control.hazelcast.connection import PlaneConnection
from dita.control.hazelcast.entries import CONTROL_FIELDS, _control_value
from dita.control.hazelcast.stamps import effective_control
from dita.projection.hazelcast.kernel_borrow import kernel_reads

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

_log = logging.getLogger("dita.control.hazelcast")  # one logger for the package, as docs name it


SYNC_APPLY_WAIT_S = 1.0
"""How long a read of every entry waits for the kernels to take what it read before the plane
says it is in sync; a kernel held longer by another thread takes it once free."""

REFUSED_RETRY_S = 1.0
"""How soon a change a kernel refused as taking no more input is tried again: a close that gives
up ("kernel busy") has it take input again, and it must not then trade on without the change."""


class KernelApplier:
    """Brings one kernel to what its entries say, on a thread of its own.

    A change waits for the kernel while another thread is inside it (up to the kernel's own 10 s
    limit, then again): on a thread of this kernel's own, that wait holds up no other kernel's
    changes, a HALTED among them, nor the plane's events. ``lock`` is held while a change is
    applied, so a kernel's detach returns only once no change is being made to it."""

    def __init__(self, plane: KernelUpdates, kid: str, kernel: ExecutionKernel) -> None:
        self.kernel = kernel
        self.lock = threading.RLock()  # a release holds it around the detach, which takes it too
        self._plane = plane
        self._kid = kid
        self._changed = threading.Condition()
        self._asked = self._done = 0
        self._retry_at: float | None = None  # monotonic: when a refused change is tried again
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"dita-control-apply-{kid}", daemon=True)
        self._thread.start()

    def ask(self) -> int:
        """Have the kernel brought to its entries as they are now; a ticket for ``wait``."""
        with self._changed:
            self._asked += 1
            self._changed.notify_all()
            return self._asked

    def wait(self, ticket: int, deadline: float) -> bool:
        """Whether the apply ``ticket`` asked for is done by ``deadline`` (monotonic)."""
        with self._changed:
            while self._done < ticket and not self._stopped:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return self._done >= ticket

    def later(self, delay: float) -> None:
        """Have the kernel brought to its entries again in ``delay`` seconds, unless asked sooner."""
        with self._changed:
            self._retry_at = time.monotonic() + delay

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._done >= self._asked and not self._stopped:
                    if self._retry_at is None:
                        self._changed.wait()
                    elif self._retry_at <= time.monotonic():
                        self._asked += 1
                    else:
                        self._changed.wait(self._retry_at - time.monotonic())
                if self._stopped:
                    return
                self._retry_at = None
                asked = self._asked
            try:
                applied = self._plane._apply(self._kid, self.kernel)  # looked up: tests wrap it
            except Exception:  # the applier must outlive anything an apply throws
                _log.exception("control plane: applying the entries to kernel %s failed", self._kid)
                applied = True
            if applied is False:
                time.sleep(0.002)  # the kernel stayed busy past its wait: again in a moment
                self.ask()
            with self._changed:
                self._done = max(self._done, asked)
                self._changed.notify_all()


class KernelUpdates(PlaneConnection):
    """How the plane brings each attached kernel to what its entries say."""

    def _apply_pending(self) -> None:
        """Hand the kernels whose entries changed to their appliers; never waits for a kernel."""
        with self._lock:
            pending, self._pending = self._pending, set()
            appliers = [self._appliers[kid] for kid in pending if kid in self._appliers]
        for applier in appliers:
            applier.ask()

    def _apply_all(self, kernels: list[tuple[str, ExecutionKernel]]) -> None:
        """Have ``kernels`` take the entries just read, waiting SYNC_APPLY_WAIT_S at most."""
        with self._lock:
            appliers = [a for kid, k in kernels if (a := self._appliers.get(kid)) and a.kernel is k]
        tickets = [(applier, applier.ask()) for applier in appliers]
        deadline = time.monotonic() + SYNC_APPLY_WAIT_S
        for applier, ticket in tickets:
            applier.wait(ticket, deadline)

    def _apply(self, kid: str, kernel: ExecutionKernel) -> bool:
        """Apply to ``kernel`` every field set more recently than what it last got from us; False
        when the kernel stayed busy in another thread's call past its wait (tried again)."""
        with self._lock:
            applier = self._appliers.get(kid)
        if applier is None or applier.kernel is not kernel:
            return True  # detached since it was asked for
        with applier.lock:
            return self._apply_held(kid, kernel)

    def _apply_held(self, kid: str, kernel: ExecutionKernel) -> bool:
        """``_apply`` with the kernel's applier lock held: the plane's own lock is not held while
        the kernel is waited for, so events and other kernels' changes go on meanwhile."""
        with self._lock:
            if self._kernels.get(kid) is not kernel:
                # Detached since the worker took it: left alone (checked under the lock detach
                # takes, so no kernel changes once its detach returns). Changed, the change
                # counted as applied under its id, and a kernel attached next under it never
                # took the change.
                return True
            entries = [self._entries[k] for k in (GLOBAL, kid) if k in self._entries]
            applied = self._applied_at.setdefault(kid, {})
            kept = self._kept.get(kid)
            change: dict[str, Any] = {}
            stamps: dict[str, float] = {}
            tightens = False  # the mode is in change only for being tighter (_tightens_unstamped_locked)
            for field, (value, at) in effective_control(entries).items():
                took = applied.get(field, -1.0)
                if at < took or (at == took and not self._tightens_unstamped_locked(kid, field, value, at)):
                    continue
                if field == "mode":
                    tightens = at == took
                if field == "mode" and kept is not None and kept.loosened_by(value, at):
                    applied[field] = at  # said once, not on every event
                    self._modes_taken[kid] = kept.mode
                    _log.warning(kept.said(kid, value, at))
                    continue
                try:
                    change.update(normalize_change(**{field: value}))
                except (ValueError, TypeError) as exc:
                    applied[field] = at  # reported once, not on every event
                    _log.error("control entry for %s ignored: %s", kid, exc)
                    continue
                stamps[field] = at
            unstamped = self._unstamped_ignored_locked(kid, applied)
            if not change and not unstamped:
                return True
            keys = sorted(k for k in (GLOBAL, kid) if k in self._entries)
        try:
            with kernel_reads():
                current = kernel.control()
                runs_mode = _current_value(current, "mode")
                if tightens and "mode" in change and not _tighter(change["mode"], runs_mode):
                    # Not tighter than the mode the kernel runs, set by its own process (a HALTED
                    # of a risk check): taking it would loosen the kernel.
                    del change["mode"]
                    stamps.pop("mode", None)
                # Only real changes reach the kernel: each one is a journaled control change.
                differing = {f: v for f, v in change.items() if _current_value(current, f) != v}
                if differing:
                    kernel.update_control(**differing, source="hazelcast:" + ",".join(keys))
        except RuntimeError as exc:
            if not change:
                return True  # only a warning to give: at the kernel's next apply
            try:
                refused = kernel.input_refused_reason()
            except RuntimeError:
                # The read waits for a held kernel as the change does, and is busy too: not
                # applied, tried again as the change is.
                return False
            if refused is None:
                # The kernel stayed busy in a call on another thread past its wait (10 s): not
                # applied yet, so it is tried again instead of dropping a HALTED.
                return False
            # It takes no more input (input stopped, closing), which a close that gives up
            # undoes: not booked, the change is tried again while the kernel stays attached.
            with self._lock:
                applier = self._appliers.get(kid)
                said = kid in self._refusing
                self._refusing.add(kid)
            if applier is not None and applier.kernel is kernel:
                applier.later(REFUSED_RETRY_S)
            if not said:
                _log.warning(
                    "control change %s not taken by kernel %s, which takes no more input (%s): %s; "
                    "tried again every %g s while it stays attached, dropped once it is closed",
                    change,
                    kid,
                    refused,
                    exc,
                    REFUSED_RETRY_S,
                )
            return True
        except Exception as exc:
            self._booked(kid, stamps)
            _log.error("control change %s refused by kernel %s: %s", change, kid, exc)
            return True
        self._booked(kid, stamps)
        with self._lock:
            self._refusing.discard(kid)  # a later refusal is said again
            if "mode" in change:
                self._modes_taken[kid] = _name(change["mode"])
        if differing:
            _log.info("kernel %s control updated from the cluster: %s", kid, differing)
        runs = {f: differing.get(f, _current_value(current, f)) for f in CONTROL_FIELDS}
        self._say_unstamped(kid, unstamped, runs)
        return True

    def _tightens_unstamped_locked(self, kid: str, field: str, value: Any, at: float) -> bool:
        """Whether ``value`` of ``field``, without a stamp (``at`` 0) as the value kernel ``kid``
        took last, may be taken all the same: a mode tighter than the one it took, the safe way
        for a hand-typed HALTED replacing a hand-typed REDUCE_ONLY. It is taken only if tighter
        than the mode the kernel runs too, checked once the kernel is read (``_apply_held``)."""
        return at == 0 and field == "mode" and _tighter(value, self._modes_taken.get(kid, ""))

    def _unstamped_ignored_locked(
        self, kid: str, applied: Mapping[str, float]
    ) -> list[tuple[str, str, Any, bool]]:
        """The values of ``kid``'s entries without a stamp that it does not take, not said yet,
        as (key, field, value, stamped): a field without its stamp never counts as newer than a
        value the kernel took from a stamped one (``stamped``), so a hand-typed global HALTED is
        ignored by it; nor than one it took without a stamp, unless a mode tighter than that and
        than the mode it runs."""
        held = effective_control([self._entries[k] for k in (GLOBAL, kid) if k in self._entries])
        ignored = []
        for key in (GLOBAL, kid):
            entry = self._entries.get(key, {})
            for field in CONTROL_FIELDS:
                if field not in entry or f"{field}_at" in entry or field not in held:
                    continue  # a stamp there but unusable is said where entries are noted
                if held[field][1] <= 0 and applied.get(field, -1.0) < 0:
                    continue  # no stamped value in the way: the kernel takes it
                try:
                    value = _control_value(field, entry[field])
                except ValueError:
                    continue  # said where entries are noted
                if self._unstamped.get((key, field)) != shortened(repr(value)):
                    stamped = held[field][1] > 0 or applied.get(field, -1.0) > 0
                    ignored.append((key, field, value, stamped))
        return ignored

    def _say_unstamped(
        self, kid: str, ignored: list[tuple[str, str, Any, bool]], runs: Mapping[str, Any]
    ) -> None:
        """Warn of each of ``ignored`` (``_unstamped_ignored_locked``) that differs from what
        kernel ``kid`` ``runs``, once per entry and field while it stays so."""
        for key, field, value, stamped in ignored:
            if runs.get(field) == value:
                continue
            shown = shortened(repr(value))
            with self._lock:
                gone = self._entries.get(key, {}).get(field) is None
                if gone or self._unstamped.get((key, field)) == shown:
                    continue  # removed meanwhile, or said by another kernel's apply
                self._unstamped[(key, field)] = shown
            _log.warning(
                "control entry %s: %s %s has no %s_at stamp, so it never counts as newer than %s: "
                "kernel %s ignores it and runs %s %s (write it with `dita control set`, which "
                "stamps it)",
                key,
                field,
                shown,
                field,
                "a stamped value"
                if stamped
                else "the value without a stamp the kernel took, unless a mode tighter than that and "
                "than the one the kernel runs (REDUCE_ONLY over PAPER, SHADOW and LIVE; HALTED over any)",
                kid,
                field,
                shortened(repr(runs.get(field))),
            )

    def _booked(self, kid: str, stamps: dict[str, float]) -> None:
        """Count ``stamps`` as applied to ``kid``, each at most the newest its entries still hold:
        an entry removed while the kernel was waited for must not leave a stamp above what is
        left, or a later write stamped below it would be ignored (see _forget_removed_stamps)."""
        with self._lock:
            applied = self._applied_at.setdefault(kid, {})
            held = effective_control([self._entries[k] for k in (GLOBAL, kid) if k in self._entries])
            for field, at in stamps.items():
                newest = held[field][1] if field in held else -1.0
                applied[field] = max(applied.get(field, -1.0), min(at, newest))


def _name(value: Any) -> Any:
    return getattr(value, "name", value)


def _tighter(mode: Any, than: Any) -> bool:
    """Whether ``mode`` holds trading back further than ``than`` (``MODE_TIGHTNESS``)."""
    return MODE_TIGHTNESS.get(str(_name(mode)), 0) > MODE_TIGHTNESS.get(str(_name(than)), 0)


def _current_value(control: Mapping[str, Any], field: str) -> Any:
    return _name(control.get(field))
