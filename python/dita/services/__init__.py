"""Local services for development and tests: real servers started from this machine's tools.

``dita.services.hazelcast`` fetches the Hazelcast member jars with Maven and runs a member
with the machine's Java on 127.0.0.1 (``python -m dita.services.hazelcast fetch|start|stop|
status``, or ``dita services hazelcast ...``). Nothing here is used by a kernel at run time,
so the package imports nothing eagerly.
"""

import contextlib
import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (a zombie, exited but not yet collected, is not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        # OverflowError: a pid past a C int (read from a file someone edited) is no process.
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def process_start(pid: int | str) -> str | None:
    """When process ``pid`` started (clock ticks since boot, ``/proc/<pid>/stat``), which
    tells it from a later process given the same pid; None when there is no such process (or
    no ``/proc`` to ask)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command, which may hold spaces
    return fields[19] if len(fields) > 19 else None
