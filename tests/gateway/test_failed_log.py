"""The HTTP gateway over a kernel whose write-ahead log failed: it takes no more input, and
the gateway must say so (to a health check and to each command), not answer as if all is well."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path

import httpx
import pytest

from dita import ExecutionKernel, MockVenueAdapter
from dita._kernel import WalError
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from gateway.helpers import AUTH, TOKEN

ENTER_ONE = {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1, "reference_price": 100}


def test_a_kernel_whose_log_failed_is_unhealthy_and_each_command_is_told_why(tmp_path: Path) -> None:
    """/healthz said `"status": "ok"` (200) while the kernel refused every input, and each
    intent, mark or control change got a bare `500 Internal Server Error`: a monitor kept the
    gateway in service, and a strategy could not tell why its order was not taken."""
    wal = tmp_path / "wal"
    kernel = ExecutionKernel(
        max_slots=2,
        venue=MockVenueAdapter(fill_rate=0.0),
        wal_dir=str(wal),
        fsync="always",
        wal_segment_bytes=1024,
    )
    app = create_app(kernel, GatewaySettings(token=TOKEN))

    async def run() -> dict[str, httpx.Response]:
        out: dict[str, httpx.Response] = {}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://localhost"
        ) as c:
            assert (await c.get("/healthz")).json()["status"] == "ok"
            if subprocess.run(["chattr", "+i", str(wal)], capture_output=True).returncode != 0:
                pytest.skip("chattr +i is not permitted here, so no log can be made to fail: NOT tested")
            # Marks until a new segment is due: its file cannot be made, and the log fails.
            for i in range(200):
                res = await c.post("/v1/marks", json={"asset": "BTC", "price": 100 + i}, headers=AUTH)
                if res.status_code != 200:
                    out["mark"] = res
                    break
            out["intent"] = await c.post("/v1/intents", json=ENTER_ONE, headers=AUTH)
            out["cancel"] = await c.post("/v1/slots/0/cancel", headers=AUTH)
            out["control"] = await c.put("/v1/control", json={"mode": "HALTED"}, headers=AUTH)
            out["health"] = await c.get("/healthz")
        return out

    try:
        answers = asyncio.run(run())
    finally:
        subprocess.run(["chattr", "-i", str(wal)], capture_output=True)
        with contextlib.suppress(WalError):  # the close syncs the log that failed: it says so
            kernel.close()
    health = answers.pop("health")
    assert health.status_code == 503, health.text
    assert health.json()["status"] == "failed"
    assert "write-ahead log" in health.json()["reason"] and health.json()["kernel_id"] == kernel.kernel_id
    assert set(answers) == {"mark", "intent", "cancel", "control"}
    for what, res in answers.items():
        assert res.status_code == 503, (what, res.text)
        detail = res.json()["detail"]
        assert detail.startswith("the kernel takes no more input: its write-ahead log failed"), (what, detail)
