"""A measure taken in a Python process of its own: tracemalloc traces every thread of its
process, and a pytest worker still runs threads that earlier tests left (a journal's drainer, a
client), whose allocations would land in the measure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]


def in_own_process(module: str, function: str, timeout: float = 240) -> Any:
    """What ``function()`` of test module ``module`` (``runtime.test_...``) returns, as JSON,
    called by a fresh interpreter; its assertions fail the caller with the process's stderr."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        f"from {module} import {function}\n"
        f"print(json.dumps({function}()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])
