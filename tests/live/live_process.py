"""Running ``dita`` in a child process for the live run's tests, and asking its gateway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def dita(log: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``dita ARGS`` in a child process (this interpreter), its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from dita.cli import main; main()", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )


def ended(run: subprocess.Popen[bytes]) -> None:
    """Kill ``run`` if it still runs (a test that failed half-way)."""
    if run.poll() is None:
        run.kill()
        run.wait(10)


def get(gateway: str, path: str) -> Any:
    with urllib.request.urlopen(gateway + path, timeout=5) as answer:
        body = answer.read().decode()
    return body if path == "/metrics" else json.loads(body)


def post(gateway: str, path: str, body: dict[str, Any], token: str) -> Any:
    request = urllib.request.Request(
        gateway + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read().decode())


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    log: Path,
    run: subprocess.Popen[bytes] | None = None,
    gateway: str | None = None,
) -> Any:
    """``check()``'s first true answer within ``timeout`` seconds (an OSError: not yet). Past
    it, the failure shows the gateway's /metrics and what ``run`` says as SIGTERM ends it (its
    feed's count of bars among it): what the run was doing, not only that it did not do it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
        except OSError:
            got = None
        if got:
            return got
        time.sleep(0.25)
    metrics = ""
    if gateway is not None:
        try:
            metrics = "\nits /metrics:\n" + get(gateway, "/metrics")
        except OSError as exc:
            metrics = f"\nits /metrics did not answer: {exc}"
    if run is not None and run.poll() is None:
        run.terminate()
        try:
            run.wait(15)
        except subprocess.TimeoutExpired:
            pass
    raise AssertionError(f"{what} within {timeout:g} s; the run said:\n{log.read_text()}{metrics}")


def traded_then_stopped(config: Path, log: Path, gateway: str, what: str, timeout: float) -> None:
    """Run ``dita live`` on ``config`` until its gateway shows a slot holding a position (``what``,
    within ``timeout`` seconds), then stop it with SIGINT, as an operator's Ctrl-C: exit 0."""
    from test_live_run_resumes import start

    run = start(config, log)
    try:
        wait_for(what, lambda: any(s["size"] for s in get(gateway, "/v1/slots")), timeout, log, run)
        run.send_signal(signal.SIGINT)
        assert run.wait(30) == 0, log.read_text()
    finally:
        ended(run)


def halted_by_operator(wal_dir: Path, kernel_id: str) -> None:
    """An operator's HALTED written to the stopped kernel's log: its label no longer says how it ran."""
    from dita import ExecutionKernel

    with ExecutionKernel(kernel_id=kernel_id, wal_dir=str(wal_dir)) as kernel:
        kernel.update_control(mode="HALTED", source="operator")


def archived_log(wal_dir: Path, kernel_id: str, mode: str, by: str, *, told_since: bool = True) -> None:
    """A log labelled ``mode`` by ``by`` whose first segments an operator archived, then halted by
    the operator. ``told_since`` False: halted by the operator before its records went on, so
    neither its checkpoints kept nor its records kept say how it ran."""
    from dita import ExecutionKernel

    small = {"max_slots": 10, "wal_segment_bytes": 4096, "wal_checkpoint_every": 50}
    with ExecutionKernel(kernel_id=kernel_id, wal_dir=str(wal_dir), **small) as kernel:
        kernel.set_seed_capital(10_000.0)
        kernel.update_control(mode=mode, source=by)
        if not told_since:
            kernel.update_control(mode="HALTED", source="operator")
        for i in range(400):  # records enough for several segments
            kernel.update_control(
                verbosity="DEBUG" if i % 2 else "NORMAL", source=by if told_since else "operator"
            )
    segments = sorted(wal_dir.glob("seg-*.wal"))
    assert len(segments) > 2, segments
    segments[0].unlink()  # the operator archives the oldest segment
    halted_by_operator(wal_dir, kernel_id)


def refused_start(config: Path, log: Path) -> str:
    """Run ``dita live`` on ``config``, which must refuse to start (exit 1 within 60 s): what it said."""
    from test_live_run_resumes import start

    run = start(config, log)
    try:
        assert run.wait(60) == 1, log.read_text()
    finally:
        ended(run)
    return log.read_text()
