"""What each kernel runs, applied to it: per field, the newest valid value of its own entry and
the global one, set more recently than what it last got from the plane; only real changes reach
the kernel (each is a journaled control change), and a kernel busy in another call is tried
again."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dita.control import GLOBAL, normalize_change
from dita.control.hazelcast.connection import PlaneConnection
from dita.control.hazelcast.stamps import effective_control
from dita.projection.hazelcast.kernel_borrow import kernel_reads

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

_log = logging.getLogger("dita.control.hazelcast")  # one logger for the package, as docs name it


class KernelUpdates(PlaneConnection):
    """How the plane brings each attached kernel to what its entries say."""

    def _apply_pending(self) -> None:
        """Apply the changes of the kernels whose entries changed (or that were busy)."""
        with self._lock:
            pending, self._pending = self._pending, set()
            kernels = [(kid, self._kernels[kid]) for kid in pending if kid in self._kernels]
        for kid, kernel in kernels:
            self._apply(kid, kernel)
        if self._pending:
            time.sleep(0.002)  # a kernel was mid-call in another thread: try again shortly
            self._wake.set()

    def _apply(self, kid: str, kernel: ExecutionKernel) -> None:
        """Apply to ``kernel`` every field set more recently than what it last got from us."""
        with self._lock:
            if self._kernels.get(kid) is not kernel:
                # Detached since the worker took it: left alone (checked under the lock detach
                # takes, so no kernel changes once its detach returns). Changed, the change
                # counted as applied under its id, and a kernel attached next under it never
                # took the change.
                return
            entries = [self._entries[k] for k in (GLOBAL, kid) if k in self._entries]
            applied = self._applied_at.setdefault(kid, {})
            kept = self._kept.get(kid)
            change: dict[str, Any] = {}
            stamps: dict[str, float] = {}
            for field, (value, at) in effective_control(entries).items():
                if at <= applied.get(field, -1.0):
                    continue
                if field == "mode" and kept is not None and kept.loosened_by(value, at):
                    applied[field] = at  # said once, not on every event
                    _log.warning(kept.said(kid, value, at))
                    continue
                try:
                    change.update(normalize_change(**{field: value}))
                except (ValueError, TypeError) as exc:
                    applied[field] = at  # reported once, not on every event
                    _log.error("control entry for %s ignored: %s", kid, exc)
                    continue
                stamps[field] = at
            if not change:
                return
            try:
                with kernel_reads():
                    current = kernel.control()
                    # Only real changes reach the kernel: each one is a journaled control change.
                    differing = {f: v for f, v in change.items() if _current_value(current, f) != v}
                    if differing:
                        keys = sorted(k for k in (GLOBAL, kid) if k in self._entries)
                        kernel.update_control(**differing, source="hazelcast:" + ",".join(keys))
            except RuntimeError:
                # The kernel stayed busy in a call on another thread past its wait (10 s) or is
                # being closed: not applied yet, so the worker retries it in a moment instead of
                # dropping a HALTED.
                self._pending.add(kid)
                self._wake.set()
                return
            except Exception as exc:
                applied.update(stamps)
                _log.error("control change %s refused by kernel %s: %s", change, kid, exc)
                return
            applied.update(stamps)
        if differing:
            _log.info("kernel %s control updated from the cluster: %s", kid, differing)


def _current_value(control: Mapping[str, Any], field: str) -> Any:
    value = control.get(field)
    return getattr(value, "name", value)
