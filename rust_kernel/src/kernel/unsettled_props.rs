//! The fees waiting for FILL_SETTLED against their sums, over random fills of three assets
//! on four slots (shared fill ids, fills without one, running totals that overlap so that
//! reports are booked in part), settlements naming each asset or none, checkpoints, a memory
//! of 1 to 5 fills so that groups of several assets are evicted, and a maker rebate (the
//! fills at a negative maker rate, settled as rebates or charges), and settlements saying the
//! predicted fee stands (before their fills too). After every step:
//! `k_unsettled_fees` is what the waiting fills predict, `k_fees_paid` what the slots were
//! charged, no fill id holds two fills of one asset and slot (two slots' fills of one asset,
//! a self-trade, wait side by side), a refused settlement changes nothing, a checkpoint gives
//! back the fills, their order, assets and report sizes and the fee calibration, and a
//! settlement teaches only its fill's liquidity's calibration, every ratio within the band.

use super::*;
use crate::kernel::checkpoint::{decode, encode};
use proptest::prelude::*;

/// Slot `i`'s asset: slots 0 and 2 trade one market.
const ASSETS: [&str; 4] = ["BTC", "ETH", "BTC", "SOL"];

#[derive(Clone, Debug)]
enum Op {
    /// A fill of slot `slot`'s entry: fill id `f<fid>` (none for 5), `size` booked on the
    /// running total moved by `delta` (a total behind the booked one is a late report).
    Fill {
        slot: usize,
        fid: usize,
        size: u8,
        delta: i8,
    },
    /// A settlement of fill id `f<fid>` (for 5, the previous input's event id), naming
    /// BTC, ETH, SOL or no asset; at `fee`, or, `stands`, at the fill's prediction.
    Settle {
        fid: usize,
        asset: usize,
        fee: u8,
        stands: bool,
    },
    Checkpoint,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 0..6usize, 0..4u8, -2..4i8)
            .prop_map(|(slot, fid, size, delta)| Op::Fill { slot, fid, size, delta }),
        3 => (0..6usize, 0..4usize, 0..50u8, proptest::bool::weighted(0.2))
            .prop_map(|(fid, asset, fee, stands)| Op::Settle { fid, asset, fee, stands }),
        1 => Just(Op::Checkpoint),
    ]
}

fn holds(k: &Kernel) -> Result<(), TestCaseError> {
    let waiting: f64 = k.unsettled.iter().map(|(_, u)| u.predicted()).sum();
    prop_assert!(
        (waiting - k.account.k_unsettled_fees).abs() < 1e-6,
        "waiting {} account {}",
        waiting,
        k.account.k_unsettled_fees
    );
    let slots: f64 = k.slots.iter().map(|s| s.fees_paid).sum();
    prop_assert!(
        (slots - k.account.k_fees_paid).abs() < 1e-6,
        "slots {} account {}",
        slots,
        k.account.k_fees_paid
    );
    for (_, u) in k.unsettled.iter() {
        prop_assert!(u.more.as_ref().is_none_or(|m| !m.is_empty()));
        for i in 0..u.len() {
            for j in 0..i {
                let (a, b) = (u.fill(i), u.fill(j));
                let owner = |f: &UnsettledFill| (f.slot_id, f.trade_id.clone());
                prop_assert!(a.asset != b.asset || owner(a) != owner(b), "{:?}", u);
            }
            let f = u.fill(i);
            prop_assert!(
                f.report_size == 0.0 || f.qty <= f.report_size * (1.0 + 1e-9),
                "{:?}",
                f
            );
        }
    }
    Ok(())
}

struct Run {
    k: Kernel,
    orders: Vec<Id>,
    totals: Vec<f64>,
    /// Whether the fills are maker fills at a negative maker rate.
    rebate: bool,
}

fn step(r: &mut Run, n: usize, op: &Op) -> Result<(), TestCaseError> {
    let k = &mut r.k;
    match *op {
        Op::Fill {
            slot,
            fid,
            size,
            delta,
        } => {
            let mut ev = VenueEvent::new(&format!("e{n}"), KernelEventKind::Fill, &r.orders[slot]);
            if fid < 5 {
                ev.fill_id = id(&format!("f{fid}"));
            }
            ev.price = 100.0 * (slot + 1) as f64;
            ev.size = f64::from(size);
            let total = (r.totals[slot] + f64::from(delta)).max(0.0);
            ev.filled_size = total;
            if r.rebate {
                ev.metadata
                    .insert("liquidity".into(), MetaValue::Str("maker".into()));
            }
            let paid = k.account.k_fees_paid;
            let out = k.on_venue_event(&ev);
            if out.accepted {
                r.totals[slot] = r.totals[slot].max(total);
            }
            // A settlement held for it saying its predicted fee stands charges it that.
            let said = |name: &str| out.details.iter().find(|(n, _)| *n == name).map(|(_, d)| d);
            if said("predicted_fee_stands").is_some() {
                let Some(Detail::F64(predicted)) = said("predicted_fee") else {
                    return Err(TestCaseError::fail(format!("no prediction: {out:?}")));
                };
                prop_assert!(
                    (k.account.k_fees_paid - paid - predicted).abs() < 1e-9,
                    "{:?}",
                    out
                );
            }
        }
        Op::Settle {
            fid,
            asset,
            fee,
            stands,
        } => {
            let mut ev = AccountEvent::new(&format!("s{n}"), AccountEventKind::FillSettled);
            ev.fill_id = if fid == 5 {
                id(&format!("e{}", n.saturating_sub(1)))
            } else {
                id(&format!("f{fid}"))
            };
            ev.asset = id(["BTC", "ETH", "SOL", ""][asset]);
            // With a rebate, rebates paid (-2.5 to 0) and charges where one was expected.
            ev.fee = if stands {
                0.0
            } else if r.rebate {
                (f64::from(fee) - 25.0) / 10.0
            } else {
                f64::from(fee) / 10.0
            };
            ev.predicted_fee_stands = stands;
            let before = (k.account.clone(), k.unsettled_details(), k.fees.clone());
            let fills_waiting =
                |k: &Kernel| k.unsettled.iter().map(|(_, u)| u.len()).sum::<usize>();
            let waiting = fills_waiting(k);
            let out = k.on_account_event(&ev);
            let held = out.details.iter().any(|(n, _)| *n == "held_for_fill");
            if stands {
                // Nothing charged beyond the prediction, nothing learned; applied, its fill
                // waits no more; refused or held for its fill, nothing waiting changes.
                prop_assert_eq!(before.0.k_fees_paid, k.account.k_fees_paid);
                prop_assert_eq!(&before.2, &k.fees);
                if out.accepted && !held {
                    // A standing one held for the other side stands for it too.
                    let both = out
                        .details
                        .iter()
                        .any(|(n, _)| *n == "other_side_settled_by");
                    prop_assert_eq!(
                        fills_waiting(k) + 1 + usize::from(both),
                        waiting,
                        "{:?}",
                        out
                    );
                } else {
                    prop_assert_eq!(before.0.k_unsettled_fees, k.account.k_unsettled_fees);
                    prop_assert_eq!(&before.1, &k.unsettled_details());
                }
            } else if !out.accepted || held {
                // Refused, or held for its fill: nothing charged, nothing learned.
                prop_assert_eq!(before.0.k_fees_paid, k.account.k_fees_paid);
                prop_assert_eq!(before.0.k_unsettled_fees, k.account.k_unsettled_fees);
                prop_assert_eq!(&before.1, &k.unsettled_details());
                prop_assert_eq!(&before.2, &k.fees);
            } else {
                // The settlement teaches its fill's liquidity alone (a rebate fill's, the
                // maker's), one sample when learned.
                let maker = out
                    .details
                    .iter()
                    .find(|(n, _)| *n == "liquidity")
                    .map(|(_, d)| *d == Detail::Static("MAKER"));
                let learned = !out.details.iter().any(|(n, _)| *n == "calibration_learned");
                let Some(maker) = maker else {
                    return Err(TestCaseError::fail(format!("no liquidity: {out:?}")));
                };
                prop_assert_eq!(maker, r.rebate);
                let (own, other) = if maker {
                    (
                        (before.2.maker, k.fees.maker),
                        (before.2.taker, k.fees.taker),
                    )
                } else {
                    (
                        (before.2.taker, k.fees.taker),
                        (before.2.maker, k.fees.maker),
                    )
                };
                prop_assert_eq!(other.0, other.1);
                prop_assert_eq!(own.1.samples, own.0.samples + u64::from(learned));
                if !learned {
                    prop_assert_eq!(own.0, own.1);
                }
            }
            // An average is held to the band (0.2 * 3 + 0.8 * 3 = 3.0000000000000004 is not).
            for side in [k.fees.maker, k.fees.taker] {
                prop_assert!((0.0..=3.0).contains(&side.ratio), "{:?}", side);
            }
        }
        Op::Checkpoint => {
            let back = decode(&encode(k)).map_err(TestCaseError::fail)?;
            prop_assert_eq!(&back.fees, &k.fees);
            prop_assert_eq!(back.unsettled_details(), k.unsettled_details());
            let mine: Vec<_> = k.unsettled.iter().collect();
            let theirs: Vec<_> = back.unsettled.iter().collect();
            prop_assert_eq!(mine, theirs);
            prop_assert_eq!(&back.account, &k.account);
            prop_assert_eq!(back.early_settlements(), k.early_settlements());
        }
    }
    if r.rebate {
        // Every waiting fill is a maker fill, predicted as a rebate.
        prop_assert!(
            k.account.k_unsettled_fees <= 1e-9,
            "{}",
            k.account.k_unsettled_fees
        );
    }
    holds(k)
}

/// `ops` on a kernel remembering `cap` unsettled fills; with a `maker_rate` (a rebate), every
/// fill a maker fill at it.
fn run(ops: &[Op], cap: usize, maker_rate: Option<f64>) -> Result<(), TestCaseError> {
    let mut k = Kernel::new("p", 4).unwrap();
    k.set_seed_capital(1e6).unwrap();
    if let Some(rate) = maker_rate {
        k.set_exchange_config(&[("maker_rate".into(), rate)])
            .unwrap();
    }
    k.unsettled = FifoMap::new(cap);
    let mut orders = vec![];
    for (s, asset) in ASSETS.iter().enumerate() {
        let e = Intent::new(
            &format!("i{s}"),
            &format!("t{s}"),
            s as i64,
            asset,
            TradeSide::Long,
            KernelCommandType::Enter,
            100.0 * (s + 1) as f64,
            1000.0,
        );
        orders.push(k.process_intent(&e).submit.unwrap().client_order_id);
    }
    let mut r = Run {
        k,
        orders,
        totals: vec![0.0; 4],
        rebate: maker_rate.is_some(),
    };
    for (n, op) in ops.iter().enumerate() {
        step(&mut r, n, op)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn unsettled_fees_add_up(ops in proptest::collection::vec(op(), 1..60), cap in 1..6usize) {
        run(&ops, cap, None)?;
    }

    #[test]
    fn unsettled_fees_add_up_with_a_maker_rebate(
        ops in proptest::collection::vec(op(), 1..60),
        cap in 1..6usize,
        maker_rate in -0.0005f64..0.0,
    ) {
        run(&ops, cap, Some(maker_rate))?;
    }
}
