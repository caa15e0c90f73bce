"""A tight mode (REDUCE_ONLY, HALTED) a kernel recovered from its log, set outside the cluster
(a dead-man trip whose entry could not be written, the gateway): kept over an entry that would
loosen it and was stamped before it was set."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dita.control import MODE_TIGHTNESS

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

_log = logging.getLogger("dita.control.hazelcast")  # one logger for the package, as docs name it


@dataclass(frozen=True)
class _KeptMode:
    """A tight mode (REDUCE_ONLY, HALTED) a kernel recovered from its log, set outside the cluster
    (``source``: a dead-man trip, the gateway) at ``set_at``, by the kernel's wall clock."""

    mode: str
    set_at: float
    source: str

    def loosened_by(self, value: Any, stamp: float) -> bool:
        """Whether an entry's ``value`` of mode, stamped ``stamp``, loosens this mode and was
        written before it was set: its writer never saw the kernel in this mode."""
        mode = getattr(value, "name", value)
        return stamp < self.set_at and MODE_TIGHTNESS.get(mode, 0) < MODE_TIGHTNESS[self.mode]

    def said(self, kid: str, value: Any, stamp: float) -> str:
        return (
            f"kernel {kid} keeps {self.mode}, recovered from its log (set at {_utc(self.set_at)} by "
            f"{self.source!r}), over the cluster's mode {getattr(value, 'name', value)} stamped "
            f"{_utc(stamp)}, before it by this host's clock: `dita control set --kernel {kid} --mode "
            "...` from a host whose clock agrees with this one's changes it"
        )


def _kept_mode(kernel: ExecutionKernel) -> _KeptMode | None:
    """The tight mode ``kernel`` recovered from its log and keeps over older entries, or None:
    when its mode is not tight, was set by the cluster, or was set in this process before the
    attach (a run's label, which the cluster's entries override)."""
    control = kernel.control()
    mode = str(getattr(control.get("mode"), "name", control.get("mode")))
    set_by = str(control.get("mode_set_by", ""))
    seq = control.get("updated_seq")
    info = kernel.wal_info()
    recovery = info.get("recovery") if isinstance(info, dict) else None
    if mode not in MODE_TIGHTNESS or set_by.startswith("hazelcast:") or not isinstance(recovery, dict):
        return None
    if not isinstance(seq, int) or not 0 < seq <= recovery.get("last_seq", 0):
        return None
    set_at = control.get("mode_set_at")
    if not isinstance(set_at, float) or set_at <= 0.0:
        # Unknown (a log an earlier version wrote), taken as now: entries written before this
        # restart do not loosen the mode.
        set_at = time.time()
        _log.warning(
            "kernel %s: the time its mode %s was set is not in its log: cluster entries written "
            "before now do not loosen it",
            kernel.kernel_id,
            mode,
        )
    return _KeptMode(mode, set_at, set_by)


def _utc(stamp: float) -> str:
    try:
        return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):  # a stamp typed by hand, past any calendar
        return repr(stamp)
