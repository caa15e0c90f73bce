"""Loopback load test of the HTTP gateway: N SSE clients while intents are posted.

Starts ``dita serve`` as a subprocess on a free port, then runs two phases with the same
bounded number of posted intents (ENTER then EXIT on rotating slots):

1. baseline: no SSE clients;
2. load: ``--clients`` SSE clients, each of which must receive every event.

Prints requests/s of both phases and their ratio, the fan-out latency (server publish time
to client receipt) p50/p99, the server's memory before and after, and any errors. Exits 1
when a request failed, a client lost events or was dropped.

    .venv/bin/python benches/bench_gateway.py [--clients 20] [--intents 1000] [--concurrency 4]

``--forgotten-ids N`` times only the memory of the client ids `dita stdio` forgot (``ForgottenIds``)
after N of them: an add, a lookup of a kept id and of a never used one (every new ORDER's), and its size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import psutil

TOKEN = "bench-token-0123456789abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@dataclass
class Client:
    received: int = 0
    outcomes: int = 0
    latencies: list[float] = field(default_factory=list)
    closed_early: bool = False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def sse_client(port: int, client: Client, stop: asyncio.Event, ready: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    await writer.drain()
    ready.set()
    try:
        while not stop.is_set():
            line = await reader.readline()
            if not line:
                client.closed_early = not stop.is_set()
                return
            if line.startswith(b"data: "):
                now = time.time()
                event = orjson.loads(line[6:])
                client.received += 1
                client.latencies.append(now - event["ts"])
                if event["type"] == "outcome":
                    client.outcomes += 1
    finally:
        writer.close()


async def post_intents(port: int, count: int, concurrency: int, slots: int) -> tuple[float, int]:
    """Posts ``count`` intents (ENTER/EXIT pairs); returns (seconds, failed requests)."""
    failed = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as http:
        # Each worker owns its slots, so its ENTER and EXIT pairs never collide with another's.
        async def worker(w: int) -> None:
            nonlocal failed
            mine = [s for s in range(slots) if s % concurrency == w]
            for i in range(w, count, concurrency):
                slot = mine[(i // concurrency // 2) % len(mine)]
                if (i // concurrency) % 2 == 0:
                    body: dict[str, Any] = {
                        "action": "ENTER",
                        "slot_id": slot,
                        "asset": f"A{slot}",
                        "side": "LONG",
                    }
                    body.update(target_size=1.0, reference_price=100.0)
                else:
                    body = {"action": "EXIT", "slot_id": slot, "reference_price": 101.0}
                res = await http.post("/v1/intents", json=body, headers=AUTH)
                if res.status_code != 200 or not res.json()["accepted"]:
                    failed += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        return time.perf_counter() - start, failed


async def phase(port: int, clients: int, intents: int, concurrency: int, slots: int) -> dict[str, Any]:
    stop = asyncio.Event()
    states = [Client() for _ in range(clients)]
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = [asyncio.create_task(sse_client(port, c, stop, r)) for c, r in zip(states, readies, strict=True)]
    for r in readies:
        await r.wait()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        while (await http.get("/healthz")).json()["sse_clients"] < clients:
            await asyncio.sleep(0.05)
    seconds, failed = await post_intents(port, intents, concurrency, slots)
    # Let the last events arrive (bounded wait), then stop the clients.
    deadline = time.monotonic() + 30
    while any(c.outcomes < intents for c in states) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = sorted(x for c in states for x in c.latencies)
    return {
        "seconds": seconds,
        "rps": intents / seconds,
        "failed": failed,
        "lost": sum(intents - c.outcomes for c in states),
        "dropped": sum(c.closed_early for c in states),
        "events": sum(c.received for c in states),
        "p50": latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
    }


def stdio_lines(count: int) -> list[str]:
    """ENTER/EXIT pairs across symbols, with a query or a garbage line now and then."""
    lines: list[str] = []
    n = 0
    while len(lines) < count:
        n += 1
        lines.append(f"ORDER BUY SYM{n % 7} 1 {100 + n % 50} b{n}")
        lines.append(f"ORDER SELL SYM{n % 7} 1 {101 + n % 50} s{n}")
        if n % 5 == 0:
            lines.append(f"QUERY b{n}")
        if n % 9 == 0:
            lines.append("not a command")
    return lines[:count]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_stdio(count: int) -> int:
    """``dita stdio`` on ``count`` lines, against the same orders straight into a kernel."""
    from dita import ExecutionKernel, KernelIntent

    lines = stdio_lines(count)
    data = ("\n".join(lines) + "\n").encode()
    cmd = [sys.executable, "-c", "from dita.cli import main; main()", "stdio", "--max-slots", "8"]
    start = time.perf_counter()
    empty = subprocess.run(cmd, input=b"", capture_output=True, check=True)
    startup = time.perf_counter() - start
    start = time.perf_counter()
    cpu_before = _children_cpu()
    proc = subprocess.run(cmd, input=data, capture_output=True, check=False)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    out = proc.stdout.splitlines()
    last = orjson.loads(out[-1]) if out else {}
    ok = proc.returncode == 0 and last.get("type") == "engine_stopped" and last.get("lines") == count
    assert orjson.loads(empty.stdout.splitlines()[-1])["type"] == "engine_stopped"

    # Baseline: the same ENTER/EXIT intents straight into a kernel, no protocol around them.
    kernel = ExecutionKernel(max_slots=8)
    orders = [line.split() for line in lines if line.startswith("ORDER")]
    start = time.perf_counter()
    for i, (_, side, symbol, qty, price, cid) in enumerate(orders):
        slot = (i // 2) % 8
        action = "ENTER" if side == "BUY" else "EXIT"
        kernel.process_intent(
            KernelIntent(cid, f"t{i // 2}", slot, symbol, "LONG", action, float(price), float(qty),
                         order_type="LIMIT", limit_price=float(price))
        )  # fmt: skip
    direct = time.perf_counter() - start
    per_line = (wall - startup) / count
    print(f"stdio engine: {count} lines, {len(out)} events, exit {proc.returncode}")
    print(f"  wall {wall:.2f} s (startup {startup:.2f} s): {count / (wall - startup):,.0f} lines/s")
    # CPU time is what the run costs on an idle core; wall time also counts other load.
    print(f"  engine CPU time {cpu:.2f} s: {count / cpu:,.0f} lines per CPU second")
    print(f"  in-process kernel, same {len(orders)} orders: {len(orders) / direct:,.0f} intents/s")
    print(f"  gateway cost per order line vs direct call: {per_line / (direct / len(orders)):.1f}x")
    return 0 if ok else 1


def bench_forgotten_ids(count: int) -> int:
    """``ForgottenIds`` after ``count`` ids: add and lookup times, the memory it holds."""
    import timeit

    from dita.gateway.forgotten_ids import ForgottenIds

    ids = ForgottenIds()
    keys = [f"order-{n}" for n in range(count)]
    start = time.perf_counter()
    for key in keys:
        ids.add(key)
    add = (time.perf_counter() - start) / count
    found = [f"order-{n}" for n in range(max(0, count - 100_000), count, 7)]
    new = [f"new-{n}" for n in range(len(found))]
    best: dict[str, float] = {}
    for name, probe in (("kept", found), ("never used", new)):
        runs = timeit.repeat(lambda: [key in ids for key in probe], number=1, repeat=5)  # noqa: B023
        best[name] = min(runs) / len(probe)
    held = sum(sys.getsizeof(a) for a in (ids._table, ids._ring) if a is not None)
    print(f"forgotten ids: {count:,} added, {len(ids):,} kept, {held / 1e6:.1f} MB")
    print(
        f"  add {add * 1e6:.2f} us; lookup of a kept id {best['kept'] * 1e9:.0f} ns,"
        f" of a never used one {best['never used'] * 1e9:.0f} ns"
    )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--intents", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--stdio-lines", type=int, default=100_000, help="0 skips the stdio run")
    ap.add_argument("--forgotten-ids", type=int, default=0, help="time only ForgottenIds after N ids")
    args = ap.parse_args()
    if args.forgotten_ids:
        return bench_forgotten_ids(args.forgotten_ids)
    # Whole ENTER/EXIT pairs per worker, so every phase starts with every slot free.
    args.intents = max(2 * args.concurrency, args.intents - args.intents % (2 * args.concurrency))
    stdio_failed = bench_stdio(args.stdio_lines) if args.stdio_lines else 0
    port = free_port()
    env = {**os.environ, "DITA_GATEWAY_TOKEN": TOKEN}
    cmd = [sys.executable, "-c", "from dita.cli import main; main()", "serve", "--port", str(port),
           "--max-slots", str(args.slots)]  # fmt: skip
    server = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("server did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
        proc = psutil.Process(server.pid)
        rss_start = proc.memory_info().rss
        cpu0 = sum(proc.cpu_times()[:2])
        base = asyncio.run(phase(port, 0, args.intents, args.concurrency, args.slots))
        cpu1 = sum(proc.cpu_times()[:2])
        load = asyncio.run(phase(port, args.clients, args.intents, args.concurrency, args.slots))
        cpu2 = sum(proc.cpu_times()[:2])
        rss_end = proc.memory_info().rss
    finally:
        server.terminate()
        server.wait(timeout=10)
    errors = base["failed"] + load["failed"] + load["lost"] + load["dropped"]
    print(f"gateway loopback load: {args.intents} intents per phase, concurrency {args.concurrency}")
    # Client and server share this machine's cores: a busy machine lowers every figure.
    print(f"  machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"  baseline (0 SSE clients):  {base['rps']:8.0f} requests/s"
          f"  (server CPU {(cpu1 - cpu0) / args.intents * 1e3:.2f} ms per request)")  # fmt: skip
    print(f"  with {args.clients:3d} SSE clients:     {load['rps']:8.0f} requests/s"
          f"  (ratio to baseline {load['rps'] / base['rps']:.2f};"
          f" server CPU {(cpu2 - cpu1) / args.intents * 1e3:.2f} ms per request incl. fan-out)")  # fmt: skip
    print(f"  events delivered:          {load['events']} ({load['events'] / load['seconds']:.0f}/s)")
    print(f"  fan-out latency:           p50 {load['p50'] * 1e3:.2f} ms  p99 {load['p99'] * 1e3:.2f} ms")
    print(f"  server RSS:                {rss_start / 2**20:.1f} MiB -> {rss_end / 2**20:.1f} MiB")
    print(f"  errors:                    {base['failed'] + load['failed']} failed requests, "
          f"{load['lost']} lost events, {load['dropped']} dropped clients")  # fmt: skip
    return 1 if errors or stdio_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
