//! `Kernel::fill_size`'s inline path for the usual fill (its own size, no running total)
//! against `Kernel::fill_size_checked`, which sizes every fill: the same size, keys and
//! place, or the same refusal, for fills and orders around the edges of each check (sizes
//! at and about what the order has left, within and beyond the snap's tolerance and half a
//! lot, with and without a remaining size stated, none, negative, NaN and infinite numbers, running totals, fill ids), an order followed,
//! one with a fill booked without a place, and one with nothing covered (a checkpoint of an
//! earlier version), lots of none, a thousandth and one.

use super::*;
use proptest::prelude::*;

const SIZES: [f64; 14] = [
    0.0,
    1e-12,
    0.3,
    0.5,
    0.7,
    1.0 - 1e-10,
    1.0 - 1e-4,
    1.0,
    1.0 + 1e-10,
    1.5,
    -1.0,
    f64::NAN,
    f64::INFINITY,
    1e9,
];
const TOTALS: [f64; 5] = [0.0, -1.0, 0.5, 1.0, f64::NAN];
const PRICES: [f64; 4] = [100.0, 0.0, -1.0, f64::NAN];
const ORDER_SIZES: [f64; 5] = [1.0, 0.3, 1e9, f64::INFINITY, 1.0 + 1e-10];
const ORDER_FILLED: [f64; 4] = [0.0, 0.5, 0.3 - 1e-12, f64::NAN];
const LOTS: [f64; 3] = [0.0, 0.001, 1.0];
const REMAINING: [f64; 3] = [0.0, 1e-13, 1.0];

/// What `fill_size` answered, comparable: numbers by their bits, a refusal by its text.
type Sized = Result<(u64, Option<u64>, Option<[u64; 3]>), String>;

fn sized(r: Result<(f64, Option<u64>, Option<ReportInterval>), KernelOutcome>) -> Sized {
    match r {
        Ok((q, k, p)) => Ok((
            q.to_bits(),
            k,
            p.map(|p| [p.from.to_bits(), p.to.to_bits(), p.free.to_bits()]),
        )),
        Err(o) => Err(format!("{o:?}")),
    }
}

proptest! {
    #[test]
    fn inline_fill_size_is_the_checked_one(
        cases in proptest::collection::vec(
            (0..SIZES.len(), 0..TOTALS.len(), 0..PRICES.len(), any::<bool>(),
             0..ORDER_SIZES.len(), 0..ORDER_FILLED.len(), 0..REMAINING.len()),
            1..40,
        ),
        lot in 0..LOTS.len(),
        followed in 0..3u8,
    ) {
        let mut k = Kernel::new("k", 1).expect("a kernel");
        let lot_step = vec![("lot_step".to_string(), LOTS[lot])];
        k.set_market_limits("BTCUSDT", &lot_step).expect("limits");
        let intent = Intent::new(
            "i1", "t1", 0, "BTCUSDT", TradeSide::Long, KernelCommandType::Enter, 100.0, 1.0,
        );
        prop_assert!(k.process_intent(&intent).accepted);
        let working = k.slots[0].active_order().expect("sent").clone();
        match followed {
            0 => k.covered[0] = [None, None],
            1 => k.covered[0][0].as_mut().expect("followed").booked(None),
            _ => {}
        }
        for (size, total, price, fill_id, order_size, order_filled, remaining) in cases {
            let mut order = working.clone();
            order.size = ORDER_SIZES[order_size];
            order.filled_size = ORDER_FILLED[order_filled];
            let mut ev = VenueEvent::new("e1", KernelEventKind::Fill, &order.client_order_id);
            ev.size = SIZES[size];
            ev.filled_size = TOTALS[total];
            ev.price = PRICES[price];
            ev.remaining_size = REMAINING[remaining];
            if fill_id {
                ev.fill_id = id("f1");
            }
            let covered = k.covered_of(0, true);
            // The event's client id fingerprinted by the caller or not: the same answer,
            // its running-total key among it.
            let fp = Some(fingerprint(&ev.venue_client_id));
            let inline = sized(k.fill_size(&ev, 0, &order, None, covered, 1, fp));
            let checked = sized(k.fill_size_checked(&ev, 0, &order, None, covered, 1, None));
            let printed = sized(k.fill_size_checked(&ev, 0, &order, None, covered, 1, fp));
            prop_assert_eq!(&inline, &checked, "{:?} of {:?}", ev, order);
            prop_assert_eq!(&printed, &checked, "{:?} of {:?}", ev, order);
        }
    }
}
