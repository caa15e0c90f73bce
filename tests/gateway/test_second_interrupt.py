"""A second Ctrl-C while `dita serve` stops: the kernel's close (the journal's last rows, the
projection, the log's sync) is not cut short, and the operator is told the stop goes on
(uvicorn takes the second Ctrl-C for "force quit", which here only ends the wait for the
connections; nothing said so, and a third Ctrl-C, or a kill, seemed the only way out)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gateway.helpers import wait_until

SCRIPT = """
import sys, time, pathlib
from dita.kernel import ExecutionKernel
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from dita.cli._common import listen_socket
from dita.cli.gateway import _run

marker = pathlib.Path(sys.argv[1])

class SlowClose(ExecutionKernel):
    def close(self):
        if marker.exists():
            return super().close()
        print("closing the kernel", file=sys.stderr, flush=True)
        time.sleep(1.5)  # a journal flushing its last rows
        super().close()
        marker.write_text("closed")

kernel = SlowClose(max_slots=2)
settings = GatewaySettings(token="second-interrupt-token-0123", port=0)
app = create_app(kernel, settings)
sock = listen_socket("127.0.0.1", 0)
print("port", sock.getsockname()[1], file=sys.stderr, flush=True)
_run(app, kernel, settings, sock)
"""


def test_a_second_ctrl_c_during_the_stop_lets_the_close_finish_and_says_so(tmp_path: Path) -> None:
    marker = tmp_path / "closed"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(marker)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    assert proc.stderr is not None
    try:
        first = proc.stderr.readline().decode()
        assert first.startswith("port "), first
        url = f"http://127.0.0.1:{first.split()[1]}"

        def up() -> bool:
            try:
                return httpx.get(url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=30, interval=0.05)
        proc.send_signal(signal.SIGINT)
        lines: list[str] = []
        while not any("closing the kernel" in line for line in lines):
            line = proc.stderr.readline().decode()
            assert line, f"the process ended before closing the kernel: {lines}"
            lines.append(line)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        rest = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert marker.read_text() == "closed", "the second Ctrl-C cut the kernel's close short"
    assert "Traceback" not in rest, rest
    assert "stopping" in rest and "closing the kernel" in rest, rest
    assert proc.returncode == 0, (proc.returncode, rest)
