"""A ccxt market is taken under its market id (``BTCUSDT``) and its ccxt symbol (``BTC/USDT``),
while the kernel keys market rules, per-asset caps and positions by the asset's text: the
rules are given under both names, and entries go under one name per market."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

from recorded_exchange import RecordedExchange
from venue_helpers import make_order

from dita import ExecutionKernel, KernelEventKind, KernelIntent, VenueOrderStatus
from dita.venues import CcxtVenue, VenueRouter

VenueFactory = Callable[..., CcxtVenue]


def test_market_rules_are_given_under_the_market_id_and_the_ccxt_symbol(make_venue: VenueFactory) -> None:
    venue = make_venue()
    limits = venue.market_metadata()
    assert set(limits) == {"BTCUSDT", "BTC/USDT", "ETHUSDT", "ETH/USDT", "DOGEUSDT", "DOGE/USDT"}
    assert limits["BTC/USDT"] == limits["BTCUSDT"] and limits["BTC/USDT"].min_notional == 5.0
    futures = make_venue("linear").market_metadata()
    assert futures["BTC/USDT:USDT"] == futures["BTCUSDT"] and futures["BTCUSDT"].min_notional == 100.0

    # A kernel given them refuses an entry below the minimum notional under either name.
    kernel = ExecutionKernel(max_slots=2, kernel_id="k")
    for asset, rules in limits.items():
        kernel.set_market_limits(asset, rules.model_dump())
    for slot, asset in enumerate(("BTCUSDT", "BTC/USDT")):
        tiny = KernelIntent(f"i{slot}", f"t{slot}", slot, asset, "LONG", "ENTER", 91_000.0, 0.00001)
        refused = kernel.process_intent(tiny)
        assert not refused.accepted and refused.diagnostic_code.name == "BELOW_MIN_NOTIONAL", asset


def test_an_entry_under_a_second_name_of_a_market_traded_here_is_refused_naming_both(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Under a second name the kernel would give the market a second per-asset cap and a
    second position. Exits go under any name: a position is never kept from closing."""
    venue = make_venue()
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    assert venue.submit(make_order("k-1", size=0.015, reference_price=91_000.0))[-1].status == (
        VenueOrderStatus.FILLED
    )
    [refused] = venue.submit(make_order("k-2", asset="BTC/USDT", size=0.015, reference_price=91_000.0))
    assert refused.kind == KernelEventKind.REJECT and refused.status == VenueOrderStatus.REJECTED
    assert refused.reason == (
        "asset 'BTC/USDT' is the market BTC/USDT on binance-spot, traded here as 'BTCUSDT': the kernel "
        "keeps a per-asset cap and a position for each asset name, so enter it as 'BTCUSDT'"
    )
    assert len(exchange.calls("POST", "/api/v3/order")) == 1

    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    venue.submit(make_order("k-3", asset="BTC/USDT", side="SELL", size=0.015, is_entry=False))
    assert len(exchange.calls("POST", "/api/v3/order")) == 2
    # Another market's first entry names it as it likes.
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    venue.submit(make_order("k-4", asset="ETH/USDT", size=0.5, reference_price=3_000.0))
    assert len(exchange.calls("POST", "/api/v3/order")) == 3


def entry(slot: int, asset: str) -> KernelIntent:
    return KernelIntent(f"i{slot}", f"t{slot}", slot, asset, "LONG", "ENTER", 91_000.0, 0.015)


def test_a_kernel_recovered_holding_a_market_under_one_name_keeps_refusing_entries_under_the_other(
    make_venue: VenueFactory, exchange: RecordedExchange, tmp_path: Path
) -> None:
    """The venue that saw the first name is gone after a restart; the kernel recovered from its
    log still keys the position by it, and tells the new venue so."""
    first = ExecutionKernel(max_slots=3, venue=make_venue(), kernel_id="k", wal_dir=str(tmp_path))
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    assert first.process_intent(entry(0, "BTCUSDT")).accepted
    assert first.slot_state(0).size > 0
    first.close()
    del first
    gc.collect()

    kernel = ExecutionKernel(max_slots=3, venue=make_venue(), kernel_id="k", wal_dir=str(tmp_path))
    refused = kernel.process_intent(entry(1, "BTC/USDT"))
    [reject] = [e for e in refused.emitted_events if e.kind == KernelEventKind.REJECT]
    assert reject.reason.startswith(
        "asset 'BTC/USDT' is the market BTC/USDT on binance-spot, traded here as 'BTCUSDT'"
    )
    assert kernel.slot_state(1).size == 0 and kernel.open_slot_ids() == [0]
    assert len(exchange.calls("POST", "/api/v3/order")) == 1
    # Under the name it holds, the market is entered again.
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    assert kernel.process_intent(entry(2, "BTCUSDT")).accepted
    assert len(exchange.calls("POST", "/api/v3/order")) == 2
    kernel.close()


def test_a_venue_behind_a_router_learns_the_names_held_that_are_routed_to_it(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """Each held name goes to the venue its orders go to: the default, or one a route, even a
    later one to a venue added later, sends it to."""
    router = VenueRouter({"binance": make_venue()}, default="binance")
    router.note_held_assets(["BTC/USDT"])
    router.add(make_venue(name="binance-2"), name="later")
    router.route("BTCUSDT", "binance")
    [refused] = router.submit(make_order("k-1", size=0.015, reference_price=91_000.0))
    assert refused.kind == KernelEventKind.REJECT and "enter it as 'BTC/USDT'" in refused.reason

    router.route("BTC/USDT", "later")
    router.route("BTCUSDT", "later")
    [refused] = router.submit(make_order("k-2", size=0.015, reference_price=91_000.0))
    assert refused.kind == KernelEventKind.REJECT and "enter it as 'BTC/USDT'" in refused.reason
    assert exchange.calls("POST", "/api/v3/order") == []


def test_a_name_held_on_another_venue_does_not_refuse_this_venues_entries(
    make_venue: VenueFactory, exchange: RecordedExchange
) -> None:
    """A kernel recovered holding BTCUSDT on venue 'b' enters BTC/USDT on venue 'a': 'BTCUSDT'
    routes to 'b', so 'BTC/USDT' is the only name that reaches 'a''s market."""
    router = VenueRouter(
        {"a": make_venue(), "b": make_venue(name="binance-b")}, routes={"BTCUSDT": "b"}, default="a"
    )
    router.note_held_assets(["BTCUSDT"])
    exchange.script("POST", "/api/v3/order", "binance/spot_order_market_buy_full.json")
    answer = router.submit(make_order("k-1", asset="BTC/USDT", size=0.015, reference_price=91_000.0))
    assert answer[-1].status == VenueOrderStatus.FILLED, [e.reason for e in answer]
    assert len(exchange.calls("POST", "/api/v3/order")) == 1
    # On 'b', where it is held, the market keeps its name.
    router.route("BTC/USDT", "b")
    [refused] = router.submit(make_order("k-2", asset="BTC/USDT", size=0.015, reference_price=91_000.0))
    assert refused.kind == KernelEventKind.REJECT and "enter it as 'BTCUSDT'" in refused.reason
    assert len(exchange.calls("POST", "/api/v3/order")) == 1
