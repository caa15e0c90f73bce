"""Files replaced whole: written beside their name, synced, then renamed over it, so a reader
never sees half a file and a write cut short (a full disk, a crash) leaves the old one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["replace_whole"]


def replace_whole(dest: Path, write: Callable[[Path], object]) -> Path:
    """Has ``write`` write the file's content to a temporary path beside ``dest`` (hidden,
    named by this process), syncs it, renames it to ``dest`` and syncs the directory: the
    bytes reach the disk before the rename does, which reaches it before this returns.
    Renamed unsynced, a power cut could leave the name on an empty or torn file. On any
    failure the temporary file is removed and ``dest`` is as it was. Returns ``dest``."""
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return dest
