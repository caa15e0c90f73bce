"""Run by test_answer_not_logged.py in a process of its own: a venue that sets a file size
limit of one byte inside its ``submit`` (so the write-ahead log's next write fails, as on a full
disk, without root), then acks and fills the order. Prints, as one JSON line, what the caller
was told through ``mode``: the Python API, stdio or HTTP."""

from __future__ import annotations

import asyncio
import glob
import io
import json
import os
import resource
import signal
import sys
from typing import Any

import httpx

from dita import ExecutionKernel, KernelIntent, VenueAnswerNotLogged, VenueEvent, VenueOrder
from dita._kernel import WalError
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from dita.gateway.stdio import run_stdio

TOKEN = "test-token-0123456789abcdef"


class FillsThenDiskFull:
    """Acks and fills each order in full at its price, its log's next write failing."""

    name = "venue"

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
        ids = {"venue_client_id": order.client_order_id, "venue_order_id": "V-77"}
        price = order.price or order.reference_price
        return [
            VenueEvent("ack-1", order.trade_id, order.slot_id, "ORDER_ACK", **ids),
            VenueEvent(
                "fill-1", order.trade_id, order.slot_id, "FILL", price=price, size=order.size,
                filled_size=order.size, fill_id="T-9", **ids,
            ),
        ]  # fmt: skip

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def open_orders(self) -> list[VenueOrder]:
        return []

    def positions(self) -> dict[str, float]:
        return {}


class AcksThenDiskFull(FillsThenDiskFull):
    """Acks each order and leaves it working, its log's next write failing."""

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        return super().submit(order)[:1]


class AnswersTwiceThenDiskFull(FillsThenDiskFull):
    """Acks twice (the kernel refuses the second as a duplicate) and fills; the log's room ends
    after the acks' records, so the fill's write fails."""

    def __init__(self, wal_dir: str) -> None:
        self.wal_dir = wal_dir

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        events = super().submit(order)  # the limit of one byte, replaced below
        segment = max(glob.glob(os.path.join(self.wal_dir, "seg-*.wal")))
        room = os.path.getsize(segment) + 600  # the two acks' records, not the fill's
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, resource.RLIM_INFINITY))
        return [events[0], events[0], events[1]]


def refused_before(wal_dir: str) -> dict[str, Any]:
    kernel = ExecutionKernel(
        max_slots=2, venue=AnswersTwiceThenDiskFull(wal_dir), wal_dir=wal_dir, fsync="always"
    )
    try:
        kernel.process_intent(KernelIntent("i1", "t1", 0, "BTC", "LONG", "ENTER", 100.0, 1.0))
    except VenueAnswerNotLogged as exc:
        return {
            "type": type(exc).__name__, "logged": exc.logged, "live": exc.live, "message": str(exc),
            "answer": [e.to_dict()["event_id"] for e in exc.answer],
        }  # fmt: skip
    except BaseException as exc:
        return {"type": type(exc).__name__, "message": str(exc)}
    return {"type": "none"}


def python_api(kernel: ExecutionKernel) -> dict[str, Any]:
    try:
        kernel.process_intent(KernelIntent("i1", "t1", 0, "BTC", "LONG", "ENTER", 100.0, 1.0))
    except VenueAnswerNotLogged as exc:
        told = {
            "type": type(exc).__name__, "message": str(exc),
            "is_oserror": isinstance(exc, OSError), "is_wal_error": isinstance(exc, WalError),
            "client_order_id": exc.client_order_id, "venue_order_id": exc.venue_order_id,
            "slot_id": exc.slot_id, "trade_id": exc.trade_id, "logged": exc.logged, "live": exc.live,
            "answer": [e.to_dict()["kind"] for e in exc.answer], "cause": repr(exc.__cause__),
        }  # fmt: skip
    try:
        kernel.process_intent(KernelIntent("i2", "t2", 0, "BTC", "LONG", "ENTER", 100.0, 1.0))
    except Exception as exc:
        told["next_input"] = f"{type(exc).__name__}: {exc}"
    return told


def stdio(kernel: ExecutionKernel) -> dict[str, Any]:
    out = io.BytesIO()
    status = run_stdio(kernel, io.BytesIO(b"ORDER BUY BTC 1 100 c1\nORDER BUY ETH 1 100 c2\n"), out)
    return {"status": status, "events": [json.loads(line) for line in out.getvalue().splitlines()]}


def http(kernel: ExecutionKernel) -> dict[str, Any]:
    app = create_app(kernel, GatewaySettings(token=TOKEN))

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            intent = {
                "action": "ENTER",
                "asset": "BTC",
                "side": "LONG",
                "target_size": 1,
                "reference_price": 100,
            }
            return await client.post("/v1/intents", json=intent, headers={"authorization": f"Bearer {TOKEN}"})

    answer = asyncio.run(call())
    return {"status": answer.status_code, "body": answer.json()}


def main() -> None:
    mode, wal_dir = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    if mode == "ack_only":
        kernel = ExecutionKernel(max_slots=2, venue=AcksThenDiskFull(), wal_dir=wal_dir, fsync="always")
        sys.stdout.write(json.dumps(python_api(kernel)) + "\n")
        return
    if mode == "refused_before":
        sys.stdout.write(json.dumps(refused_before(wal_dir)) + "\n")
        return
    kernel = ExecutionKernel(max_slots=2, venue=FillsThenDiskFull(), wal_dir=wal_dir, fsync="always")
    told = {"python": python_api, "stdio": stdio, "http": http}[mode](kernel)
    sys.stdout.write(json.dumps(told) + "\n")  # a pipe: no file size limit


if __name__ == "__main__":
    main()
