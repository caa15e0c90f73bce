"""Child process of the crash test: runs the workload on a kernel with a write-ahead log and
prints ``<step> <seq>`` after each input returns (an acknowledgement), until it is killed.

Usage: python crash_child.py WAL_DIR FSYNC SEED STEPS
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wal_workload import make_kernel, run


def main() -> None:
    wal_dir, fsync, seed, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    kernel = make_kernel(Path(wal_dir), fsync=fsync, wal_checkpoint_every=97)
    out = sys.stdout
    out.write(f"ready {kernel.seq}\n")
    out.flush()
    for i in run(kernel, seed, steps):
        out.write(f"{i} {kernel.seq}\n")
        out.flush()
    out.write("done\n")
    out.flush()


if __name__ == "__main__":
    main()
