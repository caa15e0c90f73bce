"""The ccxt venue's user-data stream against REST polling, on loopback against the local Binance
of the stream tests (``tests/venues/binance_streams.py``: REST, the WebSocket API, Binance's
request weights), both in the same run.

    python benches/bench_streams.py [--fills 200] [--fills-per-order 10] [--interval-fills 8]
                                    [--poll-interval 1.0] [--orders 25] [--window 60] [--speed 6]
                                    [--quick]

a) Frame received to fill booked, p50 and p99 in milliseconds. The clock starts when ccxt hands
   the venue's user stream a parsed ``executionReport`` of a trade (the time its
   ``handle_message`` is called) and stops when ``ExecutionKernel.on_venue_event`` has returned
   the fill's accepted outcome, the venue's ``poll_events`` having reported it. Measured twice:
   polled on arrival (``poll_events`` every 0.2 ms, the pipeline's own cost; ``--fills-per-order``
   fills to an order, each order a slot, as an update carries all its order's trades) and every
   ``--poll-interval`` seconds (the runtime's default cadence). The baseline, REST-polled every
   ``--poll-interval`` seconds, has no frame: its clock starts when the bench asks the local
   exchange for the trade (so the figure includes that request), each trade made at a random
   moment of a poll cycle. The streamed fills are timed from the same moment too, like for like.
b) REST request weight per minute for ``--orders`` working limit orders, followed by REST polls
   every ``--poll-interval`` seconds against the stream (up, its REST sweep every 60 s, the
   default): the server's weight counter (Binance's weights, ``X-MBX-USED-WEIGHT-1M``) over a
   window of ``--window`` seconds of the venue's clock, scaled to a minute. The venue's clock runs
   ``--speed`` times the wall clock (polls and sweeps alike, so the requests are those of real
   time, sent faster); the polls that started half a cycle late are printed, as polls falling
   behind the venue's clock would understate the polled figure (lower ``--speed`` then).

ccxt's own request pacing is set to 1 ms, as in the tests: it paces, it does not change weight.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The local exchange is the stream tests' own.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "venues"))

from binance_streams import BinanceStreamServer, streaming

from dita import ExecutionKernel, KernelEventKind, KernelIntent, VenueOrder
from dita.venues import CcxtVenue

KEY_ENV, SECRET_ENV = "DITA_BENCH_BINANCE_KEY", "DITA_BENCH_BINANCE_SECRET"
SYMBOL = "BTCUSDT"
ORDER_QUERY_WEIGHT = 4  # GET /api/v3/order
REST_SWEEP_S = 60.0  # the venue's default user_stream_rest_sweep_s


def make_venue(
    server: BinanceStreamServer, *, streamed: bool, clock: Callable[[], float] = time.time
) -> CcxtVenue:
    venue = CcxtVenue(
        clock=clock,
        exchange="binance",
        base_url=server.url,
        api_key_env=KEY_ENV,
        secret_env=SECRET_ENV,
        markets=[SYMBOL],
        timeout_ms=5000,
        rate_limit_ms=1,
        resolve_delay_ms=0,
        user_stream=streamed,
        user_stream_rest_sweep_s=REST_SWEEP_S,
    )
    venue.load_markets()
    if streamed:
        bring_up(venue)
    return venue


def bring_up(venue: CcxtVenue) -> None:
    """Wait for the stream to subscribe, then poll it up (its reconciliation by REST)."""
    deadline = time.monotonic() + 15
    while (status := venue.stream_status()) is None or status.state != "up":
        if time.monotonic() > deadline:
            raise RuntimeError(f"the user stream did not come up: {status}")
        if status is not None and status.state == "reconciling":
            venue.poll_events()
        time.sleep(0.01)


@contextmanager
def trading(
    server: BinanceStreamServer, *, streamed: bool, orders: int = 1, size: float = 1.0
) -> Iterator[tuple[CcxtVenue, ExecutionKernel, list[str]]]:
    """A kernel with ``orders`` working limit buys of ``size`` BTC, one a slot; their client ids."""
    venue = make_venue(server, streamed=streamed)
    kernel = ExecutionKernel(max_slots=orders, venue=venue, kernel_id="bench")
    kernel.set_seed_capital(1e9)
    try:
        client_ids = []
        for slot in range(orders):
            intent = KernelIntent(
                f"i{slot}", f"tr-{slot}", slot, SYMBOL, "LONG", "ENTER", 90000.0, size,
                order_type="LIMIT", limit_price=90000.0, timestamp=time.time(),
            )  # fmt: skip
            outcome = kernel.process_intent(intent)
            order = kernel.slot_state(slot).active_entry_order
            if not outcome.accepted or order is None:
                raise RuntimeError(f"the entry was not sent: {outcome.to_dict()}")
            client_ids.append(order.client_order_id)
        yield venue, kernel, client_ids
    finally:
        kernel.close()
        venue.close()


def record_receipts(venue: CcxtVenue) -> dict[str, float]:
    """Fill id -> when ccxt handed the stream its trade's frame (the stream's own stamp)."""
    stream = venue._stream  # the receipt time is the stream's; nothing public carries it per frame
    assert stream is not None
    receipts: dict[str, float] = {}
    observed = stream._observed

    def recording(exchange: Any, message: Any, received: float) -> None:
        frame = message.get("event", message) if isinstance(message, dict) else None
        if isinstance(frame, dict) and frame.get("e") == "executionReport" and frame.get("x") == "TRADE":
            receipts[f"{frame['s']}:{frame['t']}"] = received
        observed(exchange, message, received)

    stream._observed = recording  # type: ignore[method-assign]
    return receipts


def book(venue: CcxtVenue, kernel: ExecutionKernel, booked: dict[str, float]) -> None:
    """One poll: each event to the kernel, the time each fill's accepted outcome returned."""
    for event in venue.poll_events():
        outcome = kernel.on_venue_event(event)
        if event.kind == KernelEventKind.FILL:
            if not outcome.accepted:
                raise RuntimeError(f"fill {event.fill_id} refused: {outcome.to_dict()}")
            booked[event.fill_id] = time.time()


def fill_id(trade_id: int) -> str:
    return f"{SYMBOL}:{trade_id}"


def latency_on_arrival(
    server: BinanceStreamServer, fills: int, per_order: int
) -> tuple[list[float], list[float]]:
    """Streamed fills, ``per_order`` an order, polled every 0.2 ms: ms from frame received, and
    from trade made, to booked."""
    orders = -(-fills // per_order)
    with trading(server, streamed=True, orders=orders, size=per_order * 0.001) as (venue, kernel, ids):
        receipts = record_receipts(venue)
        made: dict[str, float] = {}
        booked: dict[str, float] = {}
        for n in range(fills):
            client_id = ids[n // per_order]
            done: list[str] = []

            def trade(done: list[str], client_id: str) -> None:
                asked = time.time()
                done.append(fill_id(server.fill(client_id, 0.001).trade_id))
                made[done[0]] = asked

            # Made from another thread, as the exchange's trade is: this one polls meanwhile.
            filler = threading.Thread(target=trade, args=(done, client_id))
            filler.start()
            deadline = time.monotonic() + 10
            while not done or done[0] not in booked:
                if time.monotonic() > deadline:
                    raise RuntimeError("a streamed fill was not booked within 10 s")
                book(venue, kernel, booked)
                time.sleep(0.0002)
            filler.join()
        return since(receipts, booked), since(made, booked)


def latency_polled(
    server: BinanceStreamServer, fills: int, interval: float, *, streamed: bool
) -> tuple[list[float], list[float]]:
    """Fills made at random moments of poll cycles ``interval`` apart, one a cycle: ms from frame
    received (streamed only), and from trade made, to booked at the next poll."""
    rng = random.Random(7)
    with trading(server, streamed=streamed) as (venue, kernel, [client_id]):
        receipts = record_receipts(venue) if streamed else {}
        made: dict[str, float] = {}
        booked: dict[str, float] = {}
        start = time.monotonic()
        for cycle in range(fills + 1):
            wait_until(start + cycle * interval)
            book(venue, kernel, booked)
            if cycle < fills:
                wait_until(start + (cycle + rng.uniform(0.05, 0.95)) * interval)
                asked = time.time()
                made[fill_id(server.fill(client_id, 0.001).trade_id)] = asked
        if len(booked) < fills:
            raise RuntimeError(f"{fills - len(booked)} fills not booked by the last poll")
        return since(receipts, booked), since(made, booked)


def wait_until(moment: float) -> None:
    time.sleep(max(moment - time.monotonic(), 0.0))


def since(start: dict[str, float], end: dict[str, float]) -> list[float]:
    return [(end[k] - start[k]) * 1000.0 for k in start if k in end]


def percentiles(ms: list[float]) -> str:
    if not ms:
        return "no fills"
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):8.2f}  p99 {p99:8.2f}"


class FastClock:
    """The venue's clock, running ``speed`` times the wall clock from now."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._wall0 = time.monotonic()
        self._at0 = time.time()

    def __call__(self) -> float:
        return self._at0 + (time.monotonic() - self._wall0) * self.speed

    def wall_at(self, venue_time: float) -> float:
        return self._wall0 + (venue_time - self._at0) / self.speed


def weight_per_minute(
    server: BinanceStreamServer, orders: int, interval: float, window: float, speed: float, *, streamed: bool
) -> tuple[float, int, int]:
    """REST weight per minute of the venue's clock for ``orders`` working orders, polled every
    ``interval`` venue seconds over ``window``; with the polls started late and the polls."""
    clock = FastClock(speed)
    venue = make_venue(server, streamed=streamed, clock=clock)
    try:
        for i in range(orders):
            order = VenueOrder(
                f"w{i}", 0, f"tr-w{i}", SYMBOL, "BUY", "LIMIT", 80000.0 + i, 0.001, is_entry=True
            )
            events = venue.submit(order)
            if not events or events[0].kind != KernelEventKind.ORDER_ACK:
                raise RuntimeError(f"order {i} not acknowledged: {events}")
        venue.poll_events()  # the first round (the stream's reconciling sweep): the window's start
        first = clock()
        start_weight = server.weight_used
        late = 0
        due = int(window / interval)
        for k in range(1, due + 1):
            moment = clock.wall_at(first + k * interval)
            wait_until(moment)
            # A poll that starts half a cycle late is one the venue's clock outran.
            late += time.monotonic() - moment > interval / speed / 2
            venue.poll_events()
        # The polls of the window are synchronous: their requests are all in by now.
        return (server.weight_used - start_weight) / (due * interval) * 60.0, late, due
    finally:
        venue.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fills", type=int, default=200, help="streamed fills polled on arrival")
    parser.add_argument("--fills-per-order", type=int, default=10, help="of those, fills an order takes")
    parser.add_argument("--interval-fills", type=int, default=8, help="fills polled every --poll-interval")
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, help="seconds between polls (the runtime's)"
    )
    parser.add_argument("--orders", type=int, default=25, help="working orders for the weight figure")
    parser.add_argument("--window", type=float, default=60.0, help="venue seconds the weight is counted over")
    parser.add_argument("--speed", type=float, default=6.0, help="venue seconds per wall second (weight)")
    parser.add_argument("--quick", action="store_true", help="a few fills, a short window: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.fills, args.interval_fills, args.poll_interval = 20, 2, 0.5
        args.orders, args.window, args.speed = 5, 10.0, 10.0
    for name in ("fills", "fills_per_order", "interval_fills", "orders"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    for name in ("poll_interval", "window", "speed"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    os.environ.setdefault(KEY_ENV, "bench-key")
    os.environ.setdefault(SECRET_ENV, "bench-secret")
    every = f"every {args.poll_interval:g} s"

    with streaming() as server:
        arrival_frame, arrival_made = latency_on_arrival(server, args.fills, args.fills_per_order)
    with streaming() as server:
        interval_frame, interval_made = latency_polled(
            server, args.interval_fills, args.poll_interval, streamed=True
        )
    with streaming() as server:
        _, rest_made = latency_polled(server, args.interval_fills, args.poll_interval, streamed=False)
    print("a) fill booked in the kernel, ms (loopback)")
    rows = [
        ("from the frame received:", None),
        (f"streamed, polled on arrival ({len(arrival_frame)} fills)", arrival_frame),
        (f"streamed, polled {every} ({len(interval_frame)} fills)", interval_frame),
        ("from the trade asked of the exchange:", None),
        (f"streamed, polled on arrival ({len(arrival_made)} fills)", arrival_made),
        (f"streamed, polled {every} ({len(interval_made)} fills)", interval_made),
        (f"REST-polled {every} ({len(rest_made)} fills, baseline)", rest_made),
    ]
    for label, ms in rows:
        print(f"   {label}" if ms is None else f"     {label:<46} {percentiles(ms)}")
    if arrival_made and rest_made:
        ratio = statistics.median(rest_made) / statistics.median(arrival_made)
        print(f"   p50 REST-polled / streamed on arrival = {ratio:.0f}x")

    weights = {}
    for streamed in (False, True):
        with streaming() as server:
            weights[streamed] = weight_per_minute(
                server, args.orders, args.poll_interval, args.window, args.speed, streamed=streamed
            )
    (polled, polled_late, due), (streamed_w, streamed_late, _) = weights[False], weights[True]
    print(
        f"b) REST weight per minute, {args.orders} working orders, polled {every}, "
        f"{args.window:g} venue-s window at {args.speed:g}x"
    )
    print(f"     REST-polled (baseline)  {polled:9.0f}   ({polled_late} of {due} polls late)")
    print(f"     streamed                {streamed_w:9.0f}   ({streamed_late} of {due} polls late)")
    print(
        f"   polled / streamed = {polled / streamed_w:.0f}x" if streamed_w else "   streamed used no weight"
    )
    print(
        f"   formula: polled {args.orders} x {ORDER_QUERY_WEIGHT} x 60/{args.poll_interval:g} = "
        f"{args.orders * ORDER_QUERY_WEIGHT * 60 / args.poll_interval:.0f}; streamed "
        f"{args.orders} x {ORDER_QUERY_WEIGHT} x 60/{REST_SWEEP_S:g} = "
        f"{args.orders * ORDER_QUERY_WEIGHT * 60 / REST_SWEEP_S:.0f} (no fills, no reconnect)"
    )


if __name__ == "__main__":
    main()
