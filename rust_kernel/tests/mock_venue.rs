//! The mock venue's contract: a limit order never fills worse than its limit, an order's last
//! fill says FILLED with nothing left, a cancel of an order that ended says how it ended, and
//! the venue remembers the last `MOCK_FINISHED_MEMORY` orders that ended.

use dita_kernel::mock::{MockConfig, MockVenue, MOCK_FINISHED_MEMORY};
use dita_kernel::*;

fn order(coid: &str, side: OrderSide, order_type: OrderType, price: f64, size: f64) -> VenueOrder {
    VenueOrder {
        client_order_id: id(coid),
        venue_order_id: id(""),
        slot_id: 0,
        trade_id: id("t1"),
        asset: id("BTCUSDT"),
        side,
        order_type,
        price,
        reference_price: 100.0,
        size,
        filled_size: 0.0,
        avg_fill_price: 0.0,
        status: VenueOrderStatus::New,
        reduce_only: false,
        cancel_requested: false,
        created_at: 1.0,
        is_entry: true,
    }
}

/// A market BUY of 1 that the default mock fills at once.
fn market_buy(coid: &str) -> VenueOrder {
    order(coid, OrderSide::Buy, OrderType::Market, 0.0, 1.0)
}

fn resting() -> MockVenue {
    MockVenue::new(MockConfig {
        fill_rate: 0.0,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn a_resting_limit_is_not_filled_worse_than_its_limit() {
    for (side, worse, better) in [
        (OrderSide::Buy, 105.0, 95.0),
        (OrderSide::Sell, 95.0, 105.0),
    ] {
        let mut venue = resting();
        venue.submit(&order("c1", side, OrderType::Limit, 100.0, 1.0));
        let err = venue
            .fill_within_limit("c1", Some(worse))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("price") && err.contains(&format!("{worse}")),
            "{err}"
        );
        assert!(err.contains(&format!("{side} LIMIT at 100")), "{err}");
        // Refused, the order still works at the venue and fills at a price within its limit.
        assert_eq!(venue.open_orders().count(), 1);
        let events = venue.fill_within_limit("c1", Some(better)).unwrap();
        assert_eq!(events[0].price, better);
        assert_eq!(events[0].status, VenueOrderStatus::Filled);
        // At its limit, or without a price (the limit's), it fills too.
        let mut venue = resting();
        venue.submit(&order("c2", side, OrderType::Limit, 100.0, 1.0));
        assert_eq!(venue.fill_within_limit("c2", None).unwrap()[0].price, 100.0);
        let mut venue = resting();
        venue.submit(&order("c3", side, OrderType::Limit, 100.0, 1.0));
        assert_eq!(
            venue.fill_within_limit("c3", Some(100.0)).unwrap()[0].price,
            100.0
        );
    }
    // A market order has no limit: any valid price fills it.
    let mut venue = resting();
    venue.submit(&order("m1", OrderSide::Buy, OrderType::Market, 0.0, 1.0));
    assert_eq!(
        venue.fill_within_limit("m1", Some(250.0)).unwrap()[0].price,
        250.0
    );
}

#[test]
fn the_fill_that_completes_a_partly_filled_order_says_filled_with_nothing_left() {
    // Large sizes (units of a cheap coin): the rest's float sum missed the size by an ulp
    // (~1e-9), above the old absolute 1e-12, and the last fill said PARTIALLY_FILLED with
    // 9.3e-10 left while the venue had ended the order as FILLED.
    for (size, ratio) in [
        (7_141_295.122, 0.33),
        (3_148_764.611, 0.123),
        (8_072_264.374_44, 0.1),
        (0.3, 0.1),
        (3.0, 0.7),
    ] {
        let mut venue = MockVenue::new(MockConfig {
            partial_fill_rate: 1.0,
            partial_fill_ratio: ratio,
            ..Default::default()
        })
        .unwrap();
        let first = venue.submit(&order("c1", OrderSide::Buy, OrderType::Market, 0.0, size));
        assert_eq!(first[1].status, VenueOrderStatus::PartiallyFilled, "{size}");
        assert!(first[1].remaining_size > 0.0);
        let last = venue.fill_within_limit("c1", None).unwrap();
        let fill = &last[0];
        assert_eq!(
            fill.status,
            VenueOrderStatus::Filled,
            "{size} x {ratio}: {fill:?}"
        );
        assert_eq!(fill.filled_size, size, "{size} x {ratio}");
        assert_eq!(fill.remaining_size, 0.0, "{size} x {ratio}");
        let ended = venue.order_status("c1").unwrap();
        assert_eq!(ended.status, VenueOrderStatus::Filled);
        assert_eq!(ended.filled_size, size);
    }
}

#[test]
fn a_cancel_of_an_order_that_ended_says_how_it_ended() {
    // Filled at once: the refusal says FILLED with the whole size filled, not ACKNOWLEDGED
    // with nothing filled (an order still working, by its status).
    let mut venue = MockVenue::new(MockConfig::default()).unwrap();
    let sent = order("c1", OrderSide::Buy, OrderType::Market, 0.0, 2.0);
    venue.submit(&sent);
    let answer = venue.cancel(&sent);
    assert_eq!(answer.len(), 1);
    let refusal = &answer[0];
    assert_eq!(refusal.kind, KernelEventKind::CancelReject);
    assert_eq!(refusal.status, VenueOrderStatus::Filled);
    assert_eq!((refusal.filled_size, refusal.remaining_size), (2.0, 0.0));
    assert!(refusal.reason.contains("filled"), "{}", refusal.reason);
    // Canceled already: a second cancel says CANCELED with what had filled.
    let mut venue = MockVenue::new(MockConfig {
        partial_fill_rate: 1.0,
        ..Default::default()
    })
    .unwrap();
    let sent = order("c2", OrderSide::Sell, OrderType::Limit, 100.0, 2.0);
    venue.submit(&sent);
    assert_eq!(venue.cancel(&sent)[0].kind, KernelEventKind::CancelAck);
    let again = &venue.cancel(&sent)[0];
    assert_eq!(again.kind, KernelEventKind::CancelReject);
    assert_eq!(again.status, VenueOrderStatus::Canceled);
    assert_eq!((again.filled_size, again.remaining_size), (1.0, 0.0));
    assert!(again.reason.contains("canceled"), "{}", again.reason);
    // Never received: refused as not open, nothing said of its fills.
    let never = &venue.cancel(&market_buy("c3"))[0];
    assert_eq!(never.kind, KernelEventKind::CancelReject);
    assert_eq!(never.filled_size, 0.0);
    assert_eq!(never.reason, "order not open at the venue");
}

#[test]
fn the_venue_remembers_the_last_ended_orders_and_forgets_older_ones() {
    let mut venue = MockVenue::new(MockConfig::default()).unwrap();
    let ended = MOCK_FINISHED_MEMORY + 5;
    for n in 0..ended {
        venue.submit(&market_buy(&format!("c{n}")));
    }
    for n in 0..5 {
        assert!(
            venue.order_status(&format!("c{n}")).is_none(),
            "c{n} is forgotten"
        );
    }
    for n in 5..ended {
        let remembered = venue.order_status(&format!("c{n}"));
        assert_eq!(
            remembered.map(|o| o.status),
            Some(VenueOrderStatus::Filled),
            "c{n}"
        );
    }
    // Canceled first, then pushed on by the orders ending after it: while remembered, its
    // refusal to cancel again says how it ended; once forgotten, it is not open.
    let mut resting = resting();
    let late = order("late", OrderSide::Buy, OrderType::Limit, 90.0, 1.0);
    resting.submit(&late);
    assert_eq!(resting.cancel(&late)[0].kind, KernelEventKind::CancelAck);
    let end = |venue: &mut MockVenue, coid: &str, size: f64| {
        venue.submit(&order(coid, OrderSide::Buy, OrderType::Limit, 90.0, size));
        venue.fill_within_limit(coid, None).unwrap();
    };
    for n in 0..MOCK_FINISHED_MEMORY - 1 {
        end(&mut resting, &format!("f{n}"), 1.0);
    }
    assert_eq!(resting.cancel(&late)[0].reason, "order already canceled");
    // An id that ends again is remembered as it ended last, in the place it first took.
    end(&mut resting, "f0", 2.0);
    assert_eq!(resting.order_status("f0").map(|o| o.size), Some(2.0));
    assert_eq!(resting.cancel(&late)[0].reason, "order already canceled");
    end(&mut resting, "f-last", 1.0);
    assert_eq!(
        resting.cancel(&late)[0].reason,
        "order not open at the venue"
    );
    assert_eq!(resting.order_status("f0").map(|o| o.size), Some(2.0));
    end(&mut resting, "f-after", 1.0);
    assert!(resting.order_status("f0").is_none());
    assert!(resting.order_status("f1").is_some());
}

#[test]
fn the_venue_ids_count_on_under_the_mark_of_each_resume() {
    let mut venue = MockVenue::new(MockConfig::default()).unwrap();
    let ids = |events: &[VenueEvent]| -> Vec<String> {
        let mut ids = vec![events[0].venue_order_id.to_string()];
        for ev in events {
            ids.push(ev.event_id.to_string());
        }
        ids.push(events[1].fill_id.to_string());
        ids
    };
    let first = venue.submit(&market_buy("c1"));
    assert_eq!(ids(&first), ["mock-1", "mock-e1", "mock-e2", "mock-t1"]);
    venue.resume(7);
    let second = venue.submit(&market_buy("c2"));
    assert_eq!(
        ids(&second),
        ["mock-s7-2", "mock-s7-e3", "mock-s7-e4", "mock-s7-t2"]
    );
    // A second kernel recovered beside the venue adds its mark; 0 (a fresh kernel) none.
    venue.resume(9);
    venue.resume(0);
    let third = venue.submit(&market_buy("c3"));
    assert_eq!(
        ids(&third),
        [
            "mock-s7-s9-3",
            "mock-s7-s9-e5",
            "mock-s7-s9-e6",
            "mock-s7-s9-t3"
        ]
    );
    // Counted past a carry into a new digit, as ids made anew are.
    for n in 4..=10 {
        venue.submit(&market_buy(&format!("c{n}")));
    }
    assert_eq!(
        &*venue.order_status("c10").unwrap().venue_order_id,
        "mock-s7-s9-10"
    );
}
