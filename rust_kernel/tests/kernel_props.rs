//! Property and scenario tests of the kernel core (no interpreter needed).

use dita_kernel::journal::{self, Value, FILL_COLUMNS};
use dita_kernel::kernel::{Kernel, KernelInput};
use dita_kernel::mock::{MockConfig, MockVenue};
use dita_kernel::*;
use proptest::prelude::*;

mod common;
use common::{detail, well_formed_details};

fn intent(
    n: u64,
    action: KernelCommandType,
    slot: i64,
    side: TradeSide,
    price: f64,
    size: f64,
) -> Intent {
    // The last of the harness's four slots trades another asset, and the third either, by
    // the intent's number: what the kernel counts by asset (the sides engaged, the sums, the
    // kept orders owed a fill or in doubt) sees two, and a slot moving between them. An exit
    // or cancel names its slot's asset (`Harness::on_slot`).
    let asset = match slot {
        3 => "ETH",
        2 if n.is_multiple_of(2) => "ETH",
        _ => "BTC",
    };
    let mut i = Intent::new(
        &format!("i{n}"),
        &format!("t{slot}-{n}"),
        slot,
        asset,
        side,
        action,
        price,
        size,
    );
    i.timestamp = n as f64;
    if action != KernelCommandType::Enter {
        i.trade_id = id("");
    }
    i
}

/// Runs an intent through the kernel and the venue the way the bindings do, recording every
/// input so a second kernel can replay them.
struct Harness {
    k: Kernel,
    venue: MockVenue,
    inputs: Vec<KernelInput>,
    /// Every order the kernel sent, for fills a venue sends after the order ended.
    sent: Vec<VenueOrder>,
}

impl Harness {
    fn new(cfg: MockConfig) -> Self {
        let mut k = Kernel::new("prop", 4).unwrap();
        k.set_journal_enabled(true);
        k.update_control(None, Some(Verbosity::Quiet), None, "test", 0.0);
        let inputs = vec![KernelInput::Control {
            mode: None,
            verbosity: Some(Verbosity::Quiet),
            debug: None,
            source: "test".into(),
            ts: 0.0,
        }];
        Harness {
            k,
            venue: MockVenue::new(cfg).unwrap(),
            inputs,
            sent: Vec::new(),
        }
    }

    /// Applies the venue's events and returns those the kernel took. A refused one is not
    /// remembered, so the same event sent again later may apply once the slot can take it
    /// (a late fill of a canceled exit while another exit worked, say): only events that
    /// applied are replayed as resends that must change nothing.
    fn feed(&mut self, events: Vec<VenueEvent>) -> Vec<VenueEvent> {
        let mut applied = Vec::with_capacity(events.len());
        for e in events {
            self.inputs.push(KernelInput::VenueEvent(e.clone()));
            let before = observable(&self.k);
            let out = well_formed_details(self.k.on_venue_event(&e));
            // A refused event changes nothing (but a rate limit, which ends its order).
            if !out.accepted && out.diagnostic_code != KernelDiagnosticCode::RateLimited {
                assert_eq!(
                    before,
                    observable(&self.k),
                    "a refused event changed state: {out:?}"
                );
            }
            if out.accepted {
                applied.push(e);
            }
        }
        applied
    }

    /// `i`, an exit or cancel, naming the asset its slot holds (when the slot exists).
    fn on_slot(&self, mut i: Intent) -> Intent {
        if let Some(slot) = usize::try_from(i.slot_id)
            .ok()
            .and_then(|s| self.k.slots().get(s))
        {
            if !slot.asset.is_empty() {
                i.asset = slot.asset.clone();
            }
        }
        i
    }

    fn intent(&mut self, i: Intent) -> KernelOutcome {
        self.inputs.push(KernelInput::Intent(i.clone()));
        let before = observable(&self.k);
        let out = well_formed_details(self.k.process_intent(&i));
        // A refused intent changes nothing.
        if !out.accepted {
            assert_eq!(
                before,
                observable(&self.k),
                "a refused intent changed state: {out:?}"
            );
        }
        if let Some(o) = &out.submit {
            self.sent.push(o.clone());
            let evs = self.venue.submit(o);
            self.feed(evs);
        }
        for c in out.cancels.clone() {
            let evs = self.venue.cancel(&c);
            self.feed(evs);
        }
        out
    }
}

#[derive(Clone, Debug)]
enum Op {
    Enter {
        slot: i64,
        short: bool,
        size: f64,
        price: f64,
    },
    Exit {
        slot: i64,
        size: f64,
        price: f64,
    },
    Cancel {
        slot: i64,
    },
    FillResting {
        pick: usize,
        price: f64,
    },
    Mark {
        price: f64,
    },
    Funding {
        amount: f64,
    },
    Settle {
        pick: usize,
        fee: f64,
    },
    Replay {
        pick: usize,
    },
    Garbage {
        kind: u8,
        qty: f64,
    },
    /// A fill for any order sent so far, working or ended (a venue's late fill).
    FillAny {
        pick: usize,
        size: f64,
        price: f64,
        /// The running total it states (0: none), which may be above the order's size.
        total: f64,
        /// Whether it carries a fill id (without one, it is known by its total).
        with_id: bool,
    },
    /// `reconcile_from_slots` with the slots as they are, slot `dust` (when below 4, and
    /// holding nothing) loaded with dust of its asset (5e-10, below `QTY_EPS`).
    Reload {
        dust: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let price = 50.0f64..150.0;
    prop_oneof![
        (0i64..5, any::<bool>(), 0.0f64..3.0, price.clone()).prop_map(
            |(slot, short, size, price)| Op::Enter {
                slot,
                short,
                size,
                price
            }
        ),
        (0i64..4, 0.0f64..3.0, price.clone()).prop_map(|(slot, size, price)| Op::Exit {
            slot,
            size,
            price
        }),
        (0i64..4).prop_map(|slot| Op::Cancel { slot }),
        (0usize..8, price.clone()).prop_map(|(pick, price)| Op::FillResting { pick, price }),
        price.clone().prop_map(|price| Op::Mark { price }),
        (-5.0f64..5.0).prop_map(|amount| Op::Funding { amount }),
        (0usize..64, 0.0f64..1.0).prop_map(|(pick, fee)| Op::Settle { pick, fee }),
        (0usize..256).prop_map(|pick| Op::Replay { pick }),
        (0u8..10, -1.0f64..5.0).prop_map(|(kind, qty)| Op::Garbage { kind, qty }),
        (
            0usize..64,
            0.05f64..2.0,
            price.clone(),
            prop_oneof![Just(0.0), 0.05f64..4.0],
            any::<bool>(),
        )
            .prop_map(|(pick, size, price, total, with_id)| Op::FillAny {
                pick,
                size,
                price,
                total,
                with_id
            }),
        (0usize..8).prop_map(|dust| Op::Reload { dust }),
    ]
}

fn observable(k: &Kernel) -> (Vec<TradeSlot>, dita_kernel::account::Account, f64) {
    (
        k.slots().to_vec(),
        k.account.clone(),
        k.total_committed_notional(),
    )
}

fn check_invariants(h: &mut Harness, fills: &mut (f64, f64)) {
    let k = &h.k;
    // What an exit decides its reduce-only by in O(1) counts what the slots hold.
    assert_eq!(k.side_counts_difference(), None);
    for s in k.slots() {
        assert!(s.size >= 0.0, "negative size in slot {}", s.slot_id);
        // Exits of an explicit size can outnumber the legs; a slot must still load as shown.
        assert!(
            s.active_leg_index <= s.exit_leg_ratios.len(),
            "slot {} is past its exit legs",
            s.slot_id
        );
        for o in [&s.active_entry_order, &s.active_exit_order]
            .into_iter()
            .flatten()
        {
            assert!(
                o.filled_size <= o.size * (1.0 + 1e-9) + 1e-9,
                "filled {} > ordered {}",
                o.filled_size,
                o.size
            );
        }
        if s.fsm_state == TradeStage::Closed || s.fsm_state == TradeStage::Idle {
            assert!(s.size <= 1e-9, "a free slot holds {}", s.size);
        }
    }
    // What each slot commits towards the notional caps: its position at its entry price and
    // what still works of its entry, at the price it went out at; the caps count their sum
    // and what the kept entries may still fill. A SELL LIMIT
    // counts at the higher of its price and its reference (it fills at its limit or above),
    // and a SELL LIMIT or a MARKET one at the mark its entry was judged at when that is higher.
    let price = |o: &VenueOrder| {
        let mark = k.entry_cap_mark(o.slot_id);
        match o.order_type {
            OrderType::Limit if o.price > 0.0 && o.side == OrderSide::Sell => {
                o.price.max(o.reference_price).max(mark)
            }
            OrderType::Limit if o.price > 0.0 => o.price,
            _ => o.reference_price.max(mark),
        }
    };
    let at = |o: &VenueOrder| o.remaining() * price(o);
    // A kept entry in doubt, or ended without the venue's figure, may fill all that is left of
    // it; one that ended with it, only the fill owed.
    let in_doubt = k.orders_in_doubt();
    let unfigured = k.orders_ended_without_figure();
    let mut sum: f64 = (in_doubt.iter().chain(&unfigured))
        .filter(|o| o.is_entry)
        .map(|o| at(o))
        .sum();
    for o in k.awaited_orders() {
        if o.is_entry
            && !in_doubt
                .iter()
                .any(|d| d.client_order_id == o.client_order_id)
        {
            // Owed a fill: all that is left of it when its end gave no figure (its reports
            // stated more than is booked), else what is owed.
            let (qty, owed) = (
                k.kept_entry_unsettled_qty(o.slot_id),
                k.awaited_entry_qty(o.slot_id),
            );
            assert!(
                qty == owed || qty == o.remaining(),
                "{qty} of {o:?} owed {owed}"
            );
            sum += qty * price(o);
        }
    }
    for s in k.slots() {
        let working = s.active_entry_order.as_ref().map_or(0.0, at);
        let want = s.size * s.entry_price + working;
        assert!(
            (s.committed_notional - want).abs() <= 1e-6 * (1.0 + want),
            "slot {} commits {} for {want}",
            s.slot_id,
            s.committed_notional
        );
        sum += s.committed_notional;
    }
    let total = k.total_committed_notional();
    assert!(
        (total - sum).abs() <= 1e-6 * (1.0 + sum),
        "total {total} != {sum}"
    );
    let fill_rows = &h.k.outbox.drain_tables(usize::MAX)[journal::FILLS];
    let column = |name: &str| FILL_COLUMNS.iter().position(|c| *c == name).unwrap();
    let (pnl_at, fee_at) = (column("realized_pnl"), column("fee"));
    for i in 0..fill_rows.len() {
        let mut at = 0;
        fill_rows.visit(journal::FILLS, i, &mut |v| {
            if let Value::F64(x) = v {
                if at == pnl_at {
                    fills.0 += x;
                } else if at == fee_at {
                    fills.1 += x;
                }
            }
            at += 1;
        });
    }
    let a = &h.k.account;
    assert!(
        (a.k_realized_pnl - fills.0).abs() < 1e-6,
        "realized {} != sum of fills {}",
        a.k_realized_pnl,
        fills.0
    );
    let expected = a.seed_capital + a.k_realized_pnl - a.k_fees_paid + a.k_funding_net;
    assert!((a.k_capital() - expected).abs() < 1e-9);
}

/// A maker rebate for [`random_sequence`]: the maker rate (negative), and for each op
/// whether its ENTER or EXIT goes out as a LIMIT order at its price (a maker fill).
struct Rebate {
    maker_rate: f64,
    limits: Vec<bool>,
}

/// Runs `ops` against the mock venue, checking the invariants after each and replay == live
/// at the end; with a `rebate`, under that maker rate, LIMIT orders among the MARKET ones and
/// settlements of rebates (negative fees) as well as charges.
fn random_sequence(
    ops: Vec<Op>,
    cfg: MockConfig,
    rebate: Option<Rebate>,
) -> Result<(), TestCaseError> {
    let mut h = Harness::new(cfg);
    h.k.set_seed_capital(1_000.0).unwrap();
    h.inputs.push(KernelInput::SeedCapital(1_000.0));
    if let Some(r) = &rebate {
        let fields = vec![("maker_rate".to_string(), r.maker_rate)];
        h.k.set_exchange_config(&fields).unwrap();
        h.inputs.push(KernelInput::ExchangeConfig(fields));
    }
    let limit = |n: u64, mut i: Intent| {
        if let Some(r) = &rebate {
            if r.limits[n as usize % r.limits.len()] && i.action != KernelCommandType::Cancel {
                i.order_type = OrderType::Limit;
                // Under, at and over the market: a sell under it counts at the market.
                i.limit_price = i.reference_price * [0.97, 1.0, 1.03][n as usize % 3];
            }
        }
        i
    };
    let mut seen_events: Vec<VenueEvent> = Vec::new();
    let mut fills = (0.0, 0.0);
    let mut settled_fees = 0.0f64;
    for (n, op) in ops.into_iter().enumerate() {
        let n = n as u64 + 1;
        match op {
            Op::Enter {
                slot,
                short,
                size,
                price,
            } => {
                let side = if short {
                    TradeSide::Short
                } else {
                    TradeSide::Long
                };
                h.intent(limit(
                    n,
                    intent(n, KernelCommandType::Enter, slot, side, price, size),
                ));
            }
            Op::Exit { slot, size, price } => {
                let x = h.on_slot(intent(
                    n,
                    KernelCommandType::Exit,
                    slot,
                    TradeSide::Long,
                    price,
                    size,
                ));
                h.intent(limit(n, x));
            }
            Op::Cancel { slot } => {
                let c = h.on_slot(intent(
                    n,
                    KernelCommandType::Cancel,
                    slot,
                    TradeSide::Long,
                    100.0,
                    0.0,
                ));
                h.intent(c);
            }
            Op::FillResting { pick, price } => {
                let ids: Vec<String> = h
                    .venue
                    .open_orders()
                    .map(|o| o.client_order_id.to_string())
                    .collect();
                if !ids.is_empty() {
                    let evs = h
                        .venue
                        .fill_open_order(&ids[pick % ids.len()], Some(price))
                        .unwrap();
                    seen_events.extend(h.feed(evs));
                }
            }
            Op::Mark { price } => {
                h.inputs.push(KernelInput::MarkPrice {
                    asset: id("BTC"),
                    price,
                    ts: n as f64,
                });
                h.k.mark_price("BTC", price, n as f64).unwrap();
            }
            Op::Funding { amount } => {
                let mut e = AccountEvent::new(&format!("f{n}"), AccountEventKind::FundingFee);
                e.amount = amount;
                h.inputs.push(KernelInput::AccountEvent(e.clone()));
                h.k.on_account_event(&e);
            }
            Op::Settle { pick, fee } => {
                // Settle a fill the mock reported, by its fill id, naming its asset, none,
                // or one no fill has (every fill is BTC or ETH): that one changes nothing.
                let fill_ids: Vec<&VenueEvent> = seen_events
                    .iter()
                    .filter(|e| !e.fill_id.is_empty())
                    .collect();
                if !fill_ids.is_empty() {
                    let fill = fill_ids[pick % fill_ids.len()];
                    let mut e = AccountEvent::new(&format!("s{n}"), AccountEventKind::FillSettled);
                    e.fill_id = fill.fill_id.clone();
                    e.asset = match pick / fill_ids.len() % 3 {
                        0 => fill.asset.clone(),
                        1 => id(""),
                        _ => id("XRP"),
                    };
                    // With a rebate: -1 to 3 times the fill's rebate at the maker rate, so a
                    // maker fill's settlement is a rebate in the calibration's band 3 times in
                    // 4, a charge where a rebate was expected else (and a taker fill's a rebate).
                    e.fee = if let Some(r) = &rebate {
                        fill.price * fill.size * r.maker_rate * (fee * 4.0 - 1.0)
                    } else {
                        fee
                    };
                    h.inputs.push(KernelInput::AccountEvent(e.clone()));
                    let before = observable(&h.k);
                    let calibration = h.k.fees.clone();
                    let out = well_formed_details(h.k.on_account_event(&e));
                    if out.accepted {
                        settled_fees += h.k.account.k_fees_paid - before.1.k_fees_paid;
                        // A settlement teaches its fill's liquidity's calibration alone: a
                        // rebate fill (predicted below 0) is a maker's, and moves no taker
                        // prediction.
                        let predicted = out.details.iter().find_map(|(n, d)| match (n, d) {
                            (&"predicted_fee", Detail::F64(x)) => Some(*x),
                            _ => None,
                        });
                        // No liquidity said: the fee compared nothing (refused by the model).
                        if let Some(liquidity) = detail(&out, "liquidity") {
                            let maker = liquidity == Detail::Static("MAKER");
                            if predicted.is_some_and(|p| p < 0.0) {
                                prop_assert!(maker, "{:?}", out);
                            }
                            let f = &h.k.fees;
                            let (own, other) = if maker {
                                ((calibration.maker, f.maker), (calibration.taker, f.taker))
                            } else {
                                ((calibration.taker, f.taker), (calibration.maker, f.maker))
                            };
                            prop_assert_eq!(other.0, other.1);
                            let learned = detail(&out, "calibration_learned").is_none();
                            prop_assert_eq!(own.1.samples, own.0.samples + u64::from(learned));
                            if !learned {
                                prop_assert_eq!(&calibration, f);
                            }
                        } else {
                            prop_assert_eq!(&calibration, &h.k.fees);
                        }
                    } else {
                        prop_assert_eq!(&calibration, &h.k.fees);
                    }
                    if e.asset == "XRP" {
                        // Held for a fill of XRP (which never comes), or refused: nothing is
                        // charged.
                        let held = detail(&out, "held_for_fill") == Some(Detail::Bool(true));
                        let code = out.diagnostic_code;
                        prop_assert!(
                            held || code == KernelDiagnosticCode::UnknownOrder
                                || code == KernelDiagnosticCode::DuplicateEvent,
                            "{:?}",
                            out
                        );
                        let after = observable(&h.k);
                        prop_assert_eq!(&before.0, &after.0);
                        prop_assert_eq!(before.1.k_fees_paid, after.1.k_fees_paid);
                        prop_assert_eq!(before.1.k_unsettled_fees, after.1.k_unsettled_fees);
                        if !held {
                            prop_assert_eq!(before, after);
                        }
                    }
                }
            }
            Op::Replay { pick } => {
                // A venue resends something it already said: nothing may change.
                if !seen_events.is_empty() {
                    let e = seen_events[pick % seen_events.len()].clone();
                    let before = observable(&h.k);
                    h.inputs.push(KernelInput::VenueEvent(e.clone()));
                    let out = well_formed_details(h.k.on_venue_event(&e));
                    prop_assert!(!out.accepted, "a resent event was applied: {:?}", out);
                    prop_assert_eq!(before, observable(&h.k));
                }
            }
            Op::FillAny {
                pick,
                size,
                price,
                total,
                with_id,
            } => {
                if !h.sent.is_empty() {
                    let o = h.sent[h.sent.len() - 1 - pick % h.sent.len()].clone();
                    let mut e = VenueEvent::new(
                        &format!("late{n}"),
                        KernelEventKind::Fill,
                        &o.client_order_id,
                    );
                    e.price = price;
                    e.size = size.min(o.size);
                    e.filled_size = total;
                    if with_id {
                        e.fill_id = id(&format!("lf{n}"));
                    }
                    seen_events.extend(h.feed(vec![e]));
                }
            }
            Op::Reload { dust } => {
                // What a kernel decoded from a checkpoint or given slots counts afresh must be
                // what this one counted as it went (`check_invariants`), dust included.
                let mut slots = h.k.slots().to_vec();
                if let Some(s) = slots.get_mut(dust) {
                    if s.size == 0.0
                        && s.active_entry_order.is_none()
                        && s.active_exit_order.is_none()
                        && !s.asset.is_empty()
                    {
                        s.size = 5e-10;
                    }
                }
                if h.k.replace_slots(slots.clone()).is_ok() {
                    h.inputs.push(KernelInput::replace_slots(slots));
                }
            }
            Op::Garbage { kind, qty } => {
                // Events the venue should never send: unknown orders, overfills, NaN.
                let target =
                    h.k.open_orders()
                        .first()
                        .map(|o| o.client_order_id.clone())
                        .unwrap_or_else(|| id("nope"));
                let mut e = VenueEvent::new(&format!("g{n}"), KernelEventKind::Fill, &target);
                match kind {
                    0 => e.venue_client_id = id("unknown-order"),
                    1 => {
                        e.size = 1e9;
                        e.price = 100.0;
                    }
                    2 => {
                        e.size = f64::NAN;
                        e.price = 100.0;
                    }
                    3 => {
                        e.size = qty;
                        e.price = -1.0;
                    }
                    4 => {
                        e.kind = KernelEventKind::OrderAck;
                    }
                    5 => {
                        e.kind = KernelEventKind::CancelReject;
                    }
                    // An end stating a filled size that may be above the order's.
                    6 => {
                        e.kind = KernelEventKind::CancelAck;
                        e.filled_size = qty.abs() * 3.0;
                    }
                    7 => {
                        e.kind = KernelEventKind::Expired;
                        e.filled_size = qty.abs() * 3.0;
                    }
                    // A rate limit stating a filled size or the venue's id.
                    8 => {
                        e.kind = KernelEventKind::RateLimited;
                        e.filled_size = qty.abs();
                    }
                    _ => {
                        e.kind = KernelEventKind::RateLimited;
                        e.venue_order_id = id("V-throttled");
                    }
                }
                let before = observable(&h.k);
                h.inputs.push(KernelInput::VenueEvent(e.clone()));
                let out = well_formed_details(h.k.on_venue_event(&e));
                if kind <= 3 {
                    prop_assert!(!out.accepted);
                    prop_assert_eq!(before, observable(&h.k));
                }
            }
        }
        check_invariants(&mut h, &mut fills);
        // Learned only from samples within the band: each side's ratio stays in it, and the
        // model counts both sides' samples.
        let f = &h.k.fees;
        for ratio in [f.calibration_ratio, f.maker.ratio, f.taker.ratio] {
            prop_assert!((0.0..=3.0).contains(&ratio), "calibration ratio {}", ratio);
        }
        prop_assert_eq!(f.calibration_samples, f.maker.samples + f.taker.samples);
    }
    // Fees in the account are the per-fill fees plus what settlement corrected.
    prop_assert!((h.k.account.k_fees_paid - (fills.1 + settled_fees)).abs() < 1e-6);

    // Replay == live: the recorded inputs rebuild exactly the same state. And answered in
    // place == answered by value: a kernel given the intents and venue events through the
    // `_into` forms, one outcome reused for all of them, answers each alike and ends alike.
    let mut replayed = Kernel::new("prop", 4).unwrap();
    let mut in_place = Kernel::new("prop", 4).unwrap();
    let mut out = KernelOutcome::blank();
    for input in &h.inputs {
        let by_value = replayed.apply(input);
        match input {
            KernelInput::Intent(i) => in_place.process_intent_into(i, &mut out),
            KernelInput::VenueEvent(e) => in_place.on_venue_event_into(e, &mut out),
            other => out = in_place.apply(other).expect("applied by value too"),
        }
        prop_assert_eq!(by_value.as_ref().ok(), Some(&out), "{:?}", input);
    }
    prop_assert_eq!(observable(&h.k), observable(&replayed));
    prop_assert_eq!(&h.k.fees, &replayed.fees);
    prop_assert_eq!(h.k.seq(), replayed.seq());
    prop_assert_eq!(observable(&in_place), observable(&replayed));
    Ok(())
}

#[test]
fn an_outcome_answered_in_place_keeps_its_lists_allocations() {
    let mut k = Kernel::new("reuse", 1).unwrap();
    let mut out = KernelOutcome::blank();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
    k.process_intent_into(&enter, &mut out);
    assert!(out.accepted);
    assert_eq!(out.transitions.len(), 2);
    let order = out.submit.take().expect("sent");
    let list = out.transitions.as_ptr();
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &order.client_order_id);
    ack.venue_order_id = id("V1");
    k.on_venue_event_into(&ack, &mut out);
    assert!(out.accepted);
    assert_eq!(out.state, TradeStage::EntryWorking);
    assert_eq!(out.transitions.len(), 1, "the ENTER's transitions are gone");
    assert_eq!(out.transitions.as_ptr(), list, "the same list, refilled");
    assert!(out.submit.is_none() && out.details.is_empty());
    // A refusal is answered whole in its place, and the next answer starts from it.
    k.on_venue_event_into(&ack, &mut out);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert!(out.transitions.is_empty());
    let mut fill = VenueEvent::new("f1", KernelEventKind::Fill, &order.client_order_id);
    fill.price = 100.0;
    fill.size = 1.0;
    k.on_venue_event_into(&fill, &mut out);
    assert!(out.accepted);
    assert_eq!(out.state, TradeStage::PositionOpen);
    assert!(out.details.is_empty(), "the refusal's details are gone");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_the_invariants(
        ops in proptest::collection::vec(op(), 1..120),
        fill_rate in 0.0f64..=1.0,
        partial in 0.0f64..0.6,
        reject in 0.0f64..0.2,
    ) {
        let cfg = MockConfig { seed: 7, fill_rate, partial_fill_rate: partial, reject_rate: reject, ..Default::default() };
        random_sequence(ops, cfg, None)?;
    }

    #[test]
    fn random_sequences_keep_the_invariants_with_a_maker_rebate(
        ops in proptest::collection::vec(op(), 1..120),
        fill_rate in 0.0f64..=1.0,
        partial in 0.0f64..0.6,
        reject in 0.0f64..0.2,
        maker_rate in -0.0005f64..0.0,
        limits in proptest::collection::vec(any::<bool>(), 1..16),
    ) {
        let cfg = MockConfig { seed: 7, fill_rate, partial_fill_rate: partial, reject_rate: reject, ..Default::default() };
        random_sequence(ops, cfg, Some(Rebate { maker_rate, limits }))?;
    }
}

#[test]
fn partial_fills_make_a_volume_weighted_entry_and_exit_legs_follow_ratios() {
    let mut h = Harness::new(MockConfig {
        fill_rate: 0.0,
        ..Default::default()
    });
    let mut enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 2.0);
    enter.exit_leg_ratios = vec![0.25, 0.75];
    h.intent(enter);
    assert_eq!(h.k.slot(0).unwrap().fsm_state, TradeStage::EntryWorking);
    let coid =
        h.k.slot(0)
            .unwrap()
            .active_entry_order
            .as_ref()
            .unwrap()
            .client_order_id
            .clone();
    let mut f1 = VenueEvent::new("f1", KernelEventKind::Fill, &coid);
    f1.price = 100.0;
    f1.size = 0.5;
    assert!(h.k.on_venue_event(&f1).accepted);
    assert_eq!(h.k.slot(0).unwrap().fsm_state, TradeStage::EntryWorking);
    let mut f2 = VenueEvent::new("f2", KernelEventKind::Fill, &coid);
    f2.price = 104.0;
    f2.size = 1.5;
    assert!(h.k.on_venue_event(&f2).accepted);
    let s = h.k.slot(0).unwrap();
    assert_eq!(s.fsm_state, TradeStage::PositionOpen);
    assert!((s.entry_price - 103.0).abs() < 1e-12);
    assert_eq!(s.initial_size, 2.0);

    // First leg: a quarter of the initial size.
    h.venue = MockVenue::new(MockConfig::default()).unwrap();
    h.intent(intent(
        2,
        KernelCommandType::Exit,
        0,
        TradeSide::Long,
        110.0,
        0.0,
    ));
    let s = h.k.slot(0).unwrap();
    assert_eq!(s.fsm_state, TradeStage::PositionOpen);
    assert!((s.size - 1.5).abs() < 1e-12);
    assert!((s.realized_pnl - 0.5 * 7.0).abs() < 1e-9);
    // Last leg: whatever remains.
    h.intent(intent(
        3,
        KernelCommandType::Exit,
        0,
        TradeSide::Long,
        90.0,
        0.0,
    ));
    let s = h.k.slot(0).unwrap();
    assert_eq!(s.fsm_state, TradeStage::Closed);
    assert!((s.realized_pnl - (3.5 - 1.5 * 13.0)).abs() < 1e-9);
    assert!(s.closed);
    assert_eq!(h.k.free_slot(), Some(0));
}

#[test]
fn short_pnl_and_fees_reach_the_account() {
    let mut h = Harness::new(MockConfig::default());
    h.k.set_seed_capital(1000.0).unwrap();
    h.intent(intent(
        1,
        KernelCommandType::Enter,
        1,
        TradeSide::Short,
        200.0,
        1.0,
    ));
    h.intent(intent(
        2,
        KernelCommandType::Exit,
        1,
        TradeSide::Short,
        180.0,
        0.0,
    ));
    let a = &h.k.account;
    assert!((a.k_realized_pnl - 20.0).abs() < 1e-12);
    let fees = 200.0 * 0.0005 + 180.0 * 0.0005;
    assert!((a.k_fees_paid - fees).abs() < 1e-12);
    assert!((a.k_capital() - (1000.0 + 20.0 - fees)).abs() < 1e-9);
}

#[test]
fn overfill_is_refused_and_leaves_state_intact() {
    let mut h = Harness::new(MockConfig {
        fill_rate: 0.0,
        ..Default::default()
    });
    h.intent(intent(
        1,
        KernelCommandType::Enter,
        0,
        TradeSide::Long,
        100.0,
        1.0,
    ));
    let coid =
        h.k.slot(0)
            .unwrap()
            .active_entry_order
            .as_ref()
            .unwrap()
            .client_order_id
            .clone();
    let before = observable(&h.k);
    let mut f = VenueEvent::new("f1", KernelEventKind::Fill, &coid);
    f.price = 100.0;
    f.size = 1.5;
    let out = h.k.on_venue_event(&f);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::Overfill);
    assert_eq!(before, observable(&h.k));
}

#[test]
fn nothing_per_call_scales_with_max_slots() {
    // A kernel with a million slots answers free_slot and mark_price from its indexes.
    let mut k = Kernel::new("big", 1_000_000).unwrap();
    assert_eq!(k.free_slot(), Some(0));
    assert_eq!(k.mark_price("BTC", 100.0, 0.0).unwrap(), 0);
    let out = k.process_intent(&intent(
        1,
        KernelCommandType::Enter,
        999_999,
        TradeSide::Long,
        100.0,
        1.0,
    ));
    assert!(out.accepted);
    assert_eq!(k.free_slot(), Some(0));
}

#[test]
fn a_rate_limit_on_an_acknowledged_order_keeps_it_working() {
    // The venue acknowledged the order: the throttled request was its cancel.
    let mut k = Kernel::new("rl", 1).unwrap();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
    let order = k.process_intent(&enter).submit.expect("accepted");
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &order.client_order_id);
    ack.venue_order_id = id("V1");
    assert!(k.on_venue_event(&ack).accepted);
    let cancel = intent(2, KernelCommandType::Cancel, 0, TradeSide::Long, 100.0, 0.0);
    assert!(k.process_intent(&cancel).accepted);
    let limited = VenueEvent::new("r1", KernelEventKind::RateLimited, &order.client_order_id);
    let out = k.on_venue_event(&limited);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::RateLimited);
    let stage = k.slots()[0].fsm_state;
    let kept = k.slots()[0].active_entry_order.is_some();
    assert_eq!((stage, kept), (TradeStage::EntryWorking, true));
}

/// Fill number `n` of `order` at 100: event id `e<n>`, fill id `F<n>`, `size`, and the venue's
/// running total after it (`filled_size`, 0 for none).
fn numbered_fill(order: &VenueOrder, n: u32, size: f64, filled_size: f64) -> VenueEvent {
    let mut f = VenueEvent::new(
        &format!("e{n}"),
        KernelEventKind::Fill,
        &order.client_order_id,
    );
    f.fill_id = id(&format!("F{n}"));
    f.price = 100.0;
    f.size = size;
    f.filled_size = filled_size;
    // A fill stating FILLED short of its order's size would end the order.
    if filled_size < order.size {
        f.status = VenueOrderStatus::PartiallyFilled;
    }
    f
}

/// An entry of 100 filled 1 at a time (running totals 1..70, fill ids F1..F70), then the
/// first fill resent as it was: its ids are out of the slot's 64-entry memory. The outcome
/// of the resend and the slot's size after it; `between` may replace the kernel before it.
fn resend_after_70_fills(
    k: &mut Kernel,
    between: impl FnOnce(&mut Kernel),
) -> (KernelDiagnosticCode, f64) {
    let enter = intent(
        1,
        KernelCommandType::Enter,
        0,
        TradeSide::Long,
        100.0,
        100.0,
    );
    let order = k.process_intent(&enter).submit.expect("accepted");
    let fill = |n: u32| numbered_fill(&order, n, 1.0, f64::from(n));
    for n in 1..=70 {
        assert!(k.on_venue_event(&fill(n)).accepted, "fill {n}");
    }
    between(k);
    let out = k.on_venue_event(&fill(1));
    (out.diagnostic_code, k.slots()[0].size)
}

#[test]
fn a_fill_past_the_venues_stated_total_is_a_duplicate() {
    // Booked, the resend would make 71 against the 70 the venue stated.
    let mut k = Kernel::new("stated", 1).unwrap();
    let now = resend_after_70_fills(&mut k, |_| {});
    assert_eq!(now, (KernelDiagnosticCode::DuplicateEvent, 70.0));
}

#[test]
fn a_checkpoint_carries_the_venues_stated_totals() {
    use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
    // Recovered from a checkpoint: the total the venue stated still bounds the order.
    let mut k = Kernel::new("stated", 1).unwrap();
    let out = resend_after_70_fills(&mut k, |k| {
        *k = decode_kernel(&encode_kernel(k)).unwrap();
    });
    assert_eq!(out, (KernelDiagnosticCode::DuplicateEvent, 70.0));
}

#[test]
fn loaded_slots_keep_the_venues_stated_total_only_for_an_order_they_hold_unchanged() {
    // The slots loaded back as they are: the bound stays.
    let mut k = Kernel::new("stated", 1).unwrap();
    let out = resend_after_70_fills(&mut k, |k| {
        let slots = k.slots().to_vec();
        k.replace_slots(slots).unwrap();
    });
    assert_eq!(out, (KernelDiagnosticCode::DuplicateEvent, 70.0));
    // An operator loading the order with another filled size: what the venue stated no
    // longer bounds it, what the loaded order says filled does, every report stating a
    // running total within it (fill 1, at 1) being in it, not booked on top.
    let loaded_at_69_5 = |k: &mut Kernel| {
        let mut slots = k.slots().to_vec();
        let o = slots[0].active_entry_order.as_mut().unwrap();
        o.filled_size = 69.5;
        slots[0].size = 69.5;
        slots[0].initial_size = 69.5;
        k.replace_slots(slots).unwrap();
    };
    let mut k = Kernel::new("stated", 1).unwrap();
    let out = resend_after_70_fills(&mut k, loaded_at_69_5);
    assert_eq!(out, (KernelDiagnosticCode::DuplicateEvent, 69.5));
}

#[test]
fn a_cancel_naming_another_trade_is_refused() {
    let mut k = Kernel::new("cx", 1).unwrap();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
    assert!(k.process_intent(&enter).accepted);
    let mut cancel = intent(2, KernelCommandType::Cancel, 0, TradeSide::Long, 100.0, 0.0);
    cancel.trade_id = id("someone-elses-trade");
    let out = k.process_intent(&cancel);
    let asked = k.slots()[0]
        .active_entry_order
        .as_ref()
        .unwrap()
        .cancel_requested;
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    assert!(out.cancels.is_empty() && !asked);
    // The slot's own trade id (or none) still cancels.
    let mut own = intent(3, KernelCommandType::Cancel, 0, TradeSide::Long, 100.0, 0.0);
    own.trade_id = k.slots()[0].trade_id.clone();
    assert!(k.process_intent(&own).accepted);
}

#[test]
fn a_fill_booked_without_a_running_total_does_not_make_an_earlier_fill_a_duplicate() {
    // The venue filled 3 (total 3), 3 (total 6) and 3 (its report giving no running total);
    // the reports arrive second, third, first. The first is a new fill: the 6 the venue
    // stated does not count the third, which was booked without a total.
    let mut k = Kernel::new("mixed", 1).unwrap();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 10.0);
    let order = k.process_intent(&enter).submit.expect("accepted");
    let fill = |n: u32, filled_size: f64| numbered_fill(&order, n, 3.0, filled_size);
    assert!(k.on_venue_event(&fill(2, 6.0)).accepted);
    assert!(k.on_venue_event(&fill(3, 0.0)).accepted);
    let out = k.on_venue_event(&fill(1, 3.0));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::Ok);
    assert_eq!(k.slots()[0].size, 9.0);
}

/// A slot's order the venue filled 0.4 of (of 1) before its ack, each report naming it by its
/// client id alone; then the ack, carrying the venue's id `V1`. Entry or exit (the exit after
/// the entry filled in full). The order and the ack's outcome.
fn ack_after_a_part_fill(k: &mut Kernel, exit: bool) -> (VenueOrder, KernelOutcome) {
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
    let mut order = k.process_intent(&enter).submit.expect("accepted");
    if exit {
        let mut filled = numbered_fill(&order, 1, 1.0, 1.0);
        filled.event_id = id("entry-fill");
        filled.fill_id = id("entry-fill");
        assert!(k.on_venue_event(&filled).accepted);
        let out = k.process_intent(&intent(
            2,
            KernelCommandType::Exit,
            0,
            TradeSide::Long,
            100.0,
            1.0,
        ));
        order = out.submit.expect("exit accepted");
    }
    assert!(
        k.on_venue_event(&numbered_fill(&order, 1, 0.4, 0.4))
            .accepted
    );
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &order.client_order_id);
    ack.venue_order_id = id("V1");
    let out = k.on_venue_event(&ack);
    (order, out)
}

/// The venue id slot 0's working order carries (empty for none).
fn working_venue_id(k: &Kernel) -> Id {
    k.slots()[0]
        .active_order()
        .expect("working")
        .venue_order_id
        .clone()
}

#[test]
fn an_ack_after_a_part_fill_teaches_the_venue_id() {
    for exit in [false, true] {
        let working = if exit {
            TradeStage::ExitWorking
        } else {
            TradeStage::EntryWorking
        };
        // The ack is taken: the stage stays (the fill moved it), the venue id is learned, and
        // the order's rest, reported by that id alone, books.
        let mut k = Kernel::new("late-ack", 1).unwrap();
        let (order, out) = ack_after_a_part_fill(&mut k, exit);
        assert!(out.accepted, "exit {exit}: {out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::Ok);
        assert!(out.transitions.is_empty(), "exit {exit}");
        assert_eq!((out.state, k.slots()[0].fsm_state), (working, working));
        assert_eq!(working_venue_id(&k), id("V1"), "exit {exit}");
        let status = k.slots()[0].active_order().unwrap().status;
        assert_eq!(status, VenueOrderStatus::PartiallyFilled, "exit {exit}");
        let again = k.on_venue_event(&{
            let mut a = VenueEvent::new("a1", KernelEventKind::OrderAck, &order.client_order_id);
            a.venue_order_id = id("V1");
            a
        });
        assert_eq!(again.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
        let mut rest = numbered_fill(&order, 2, 0.6, 1.0);
        rest.venue_client_id = id("");
        rest.venue_order_id = id("V1");
        let booked = k.on_venue_event(&rest);
        assert!(booked.accepted, "exit {exit}: {booked:?}");
        let (stage, size) = (k.slots()[0].fsm_state, k.slots()[0].size);
        if exit {
            assert_eq!((stage, size), (TradeStage::Closed, 0.0));
        } else {
            assert_eq!((stage, size), (TradeStage::PositionOpen, 1.0));
        }
    }
}

#[test]
fn a_late_ack_replaces_no_venue_id_a_fill_taught() {
    // The fill's venue id stays: the ack is older news of the same order.
    let mut k = Kernel::new("late-ack", 1).unwrap();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
    let order = k.process_intent(&enter).submit.expect("accepted");
    let mut first = numbered_fill(&order, 1, 0.4, 0.4);
    first.venue_order_id = id("V1");
    assert!(k.on_venue_event(&first).accepted);
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &order.client_order_id);
    ack.venue_order_id = id("V2");
    let out = k.on_venue_event(&ack);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidTransition);
    assert!(!out.accepted);
    assert_eq!(working_venue_id(&k), id("V1"));
}

#[test]
fn a_late_ack_takes_no_venue_id_another_working_order_carries() {
    // Slot 1's order was acknowledged as V9; slot 0's, filled in part, is then acknowledged
    // (late) as V9 too: refused, and V9 still names slot 1's order.
    let mut k = Kernel::new("late-ack", 2).unwrap();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
    let order = k.process_intent(&enter).submit.expect("accepted");
    let other = intent(2, KernelCommandType::Enter, 1, TradeSide::Long, 100.0, 1.0);
    let other = k.process_intent(&other).submit.expect("accepted");
    let mut other_ack = VenueEvent::new("a9", KernelEventKind::OrderAck, &other.client_order_id);
    other_ack.venue_order_id = id("V9");
    assert!(k.on_venue_event(&other_ack).accepted);
    assert!(
        k.on_venue_event(&numbered_fill(&order, 1, 0.4, 0.4))
            .accepted
    );
    let mut stolen = VenueEvent::new("a1", KernelEventKind::OrderAck, &order.client_order_id);
    stolen.venue_order_id = id("V9");
    let out = k.on_venue_event(&stolen);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
    assert_eq!(out.severity, KernelSeverity::Critical);
    assert!(working_venue_id(&k).is_empty());
    let mut theirs = numbered_fill(&other, 2, 1.0, 1.0);
    theirs.venue_client_id = id("");
    theirs.venue_order_id = id("V9");
    assert!(k.on_venue_event(&theirs).accepted);
    assert_eq!((k.slots()[0].size, k.slots()[1].size), (0.4, 1.0));
}

/// Exit sizes sent for `legs` of a 1.0 position on a 0.1 lot, and the slot's stage after.
fn exit_leg_sizes(legs: &[f64]) -> (Vec<f64>, TradeStage) {
    let mut h = Harness::new(MockConfig::default());
    h.k.set_market_limits("BTC", &[("lot_step".into(), 0.1)])
        .unwrap();
    let mut enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
    enter.exit_leg_ratios = legs.to_vec();
    assert!(h.intent(enter).accepted);
    let mut sizes = Vec::new();
    for n in 0..legs.len() as u64 {
        let out = h.intent(intent(
            2 + n,
            KernelCommandType::Exit,
            0,
            TradeSide::Long,
            100.0,
            0.0,
        ));
        sizes.push(out.submit.expect("an exit goes out").size);
    }
    (sizes, h.k.slot(0).unwrap().fsm_state)
}

#[test]
fn the_last_exit_leg_goes_out_on_the_lot_grid() {
    // 1.0 - 0.3 - 0.3 is 0.39999999999999997 in floats: a size a venue on a 0.1 lot refuses
    // (the paper venue by its decimals, ccxt's amount_to_precision truncates it to 0.3), so
    // sent as it is, the position could never be closed.
    for (legs, last) in [
        (vec![0.3, 0.3, 0.4], 0.4),
        (vec![0.7, 0.3], 0.3),
        (vec![0.1; 10], 0.1),
    ] {
        let (sizes, stage) = exit_leg_sizes(&legs);
        assert_eq!(*sizes.last().unwrap(), last, "{legs:?}: {sizes:?}");
        assert_eq!(stage, TradeStage::Closed, "{legs:?}");
    }
}

#[test]
fn a_whole_position_is_closed_below_min_notional() {
    // The price fell: 0.1 at 40 is 4, under the venue's minimum notional of 5. Exits are
    // reduce-only, which venues take below the minimum (the paper venue too): refused, it
    // would leave a position the kernel could never close.
    let mut h = Harness::new(MockConfig::default());
    let limits = [("lot_step".into(), 0.1), ("min_notional".into(), 5.0)];
    h.k.set_market_limits("BTC", &limits).unwrap();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 0.1);
    assert!(h.intent(enter).accepted);
    let exit = intent(2, KernelCommandType::Exit, 0, TradeSide::Long, 40.0, 0.0);
    let out = h.intent(exit);
    assert!(out.accepted, "{:?}", out.details);
    assert_eq!(h.k.slot(0).unwrap().fsm_state, TradeStage::Closed);
    // A part of the position below the minimum is still not sent, and the dust rule still
    // takes the whole position when the rest would be below it: 0.2 at 40 is 8.
    let mut h = Harness::new(MockConfig::default());
    let limits = [("lot_step".into(), 0.1), ("min_notional".into(), 5.0)];
    h.k.set_market_limits("BTC", &limits).unwrap();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 0.3);
    assert!(h.intent(enter).accepted);
    let part = intent(2, KernelCommandType::Exit, 0, TradeSide::Long, 40.0, 0.1);
    let out = h.intent(part);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::BelowMinNotional);
    let part = intent(3, KernelCommandType::Exit, 0, TradeSide::Long, 40.0, 0.2);
    let out = h.intent(part);
    assert!(out.accepted, "{:?}", out.details);
    assert_eq!(out.submit.unwrap().size, 0.3, "the rest, 4, would be dust");
}

#[test]
fn the_floor_is_judged_at_the_limit_price_sent() {
    // A buy at 100.07 goes out at 100.05 on a 0.05 tick: 1 at 100.05 is below a minimum
    // notional of 100.06, and the venue would refuse it.
    let mut k = Kernel::new("tick", 1).unwrap();
    let limits = [("tick_size".into(), 0.05), ("min_notional".into(), 100.06)];
    k.set_market_limits("BTC", &limits).unwrap();
    let mut buy = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
    buy.order_type = OrderType::Limit;
    buy.limit_price = 100.07;
    let out = k.process_intent(&buy);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::BelowMinNotional);
    let notional = out.details.iter().find(|(f, _)| *f == "notional");
    assert_eq!(notional.unwrap().1, Detail::F64(100.05));
}

#[test]
fn a_whole_position_exit_never_sends_more_than_the_position() {
    // On a 1e-8 lot (8 lot decimals, as many spot markets have) a size of 10,000 is 1e12
    // lots, where rounding to the lot can take 10000.00000002 one lot up: an exit of
    // 10000.00000003, one lot more than held, which a spot venue refuses (the position could
    // not be closed) and a paper venue books as a short.
    let mut h = Harness::new(MockConfig::default());
    h.k.set_market_limits("BTC", &[("lot_step".into(), 1e-8)])
        .unwrap();
    let mut enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 0.1, 0.0);
    enter.target_size = 10_000.000_000_01;
    assert!(h.intent(enter).accepted);
    let held = h.k.slot(0).unwrap().size;
    let exit = intent(2, KernelCommandType::Exit, 0, TradeSide::Long, 0.1, 0.0);
    let out = h.intent(exit);
    let sent = out.submit.expect("the exit goes out").size;
    assert_eq!(sent, held, "held {held}, sent {sent}");
    assert_eq!(h.k.slot(0).unwrap().fsm_state, TradeStage::Closed);
}

#[test]
fn an_order_is_never_rounded_up_to_more_than_asked() {
    // 10,000 on a 1e-8 lot is 1e12 lots, where a float tolerance of 1e-12 of the quotient
    // reaches a whole lot: the order would go out at 10000.00000001, one lot more than the
    // strategy asked for.
    let mut h = Harness::new(MockConfig::default());
    h.k.set_market_limits("BTC", &[("lot_step".into(), 1e-8)])
        .unwrap();
    let mut enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 0.1, 0.0);
    enter.target_size = 10_000.0;
    let out = h.intent(enter);
    let sent = out.submit.expect("the entry goes out").size;
    assert_eq!(sent, 10_000.0);
    // A size on the grid stays where it is, small or large.
    for (target, lot) in [
        (2.3, 1e-8),
        (0.3, 0.1),
        (123_456.789, 0.001),
        (10_000.0, 1e-8),
    ] {
        assert_eq!(dita_kernel::fees::round_down_to_step(target, lot), target);
    }
}

/// Slot 0 of a kernel on a 0.001 lot holding 1000 BTC from an entry the venue filled with
/// `entry_fill` (its fill's size and running total), then an exit of `exit_size` (0 for the
/// whole position) the venue filled with `exit_fill`; then the size the next exit of the
/// whole position sends.
fn next_exit_after_fills(entry_fill: f64, exit_size: f64, exit_fill: f64) -> f64 {
    let mut k = Kernel::new("snap", 1).unwrap();
    k.set_market_limits("BTC", &[("lot_step".into(), 0.001)])
        .unwrap();
    let enter = intent(
        1,
        KernelCommandType::Enter,
        0,
        TradeSide::Long,
        100.0,
        1000.0,
    );
    let order = k.process_intent(&enter).submit.expect("accepted");
    let out = k.on_venue_event(&numbered_fill(&order, 1, entry_fill, entry_fill));
    assert!(out.accepted, "{:?}", out.details);
    assert_eq!(k.slot(0).unwrap().fsm_state, TradeStage::PositionOpen);
    if exit_size > 0.0 {
        let exit = intent(
            2,
            KernelCommandType::Exit,
            0,
            TradeSide::Long,
            100.0,
            exit_size,
        );
        let order = k.process_intent(&exit).submit.expect("exit accepted");
        let out = k.on_venue_event(&numbered_fill(&order, 2, exit_fill, exit_fill));
        assert!(out.accepted, "{:?}", out.details);
        assert_eq!(k.slot(0).unwrap().fsm_state, TradeStage::PositionOpen);
    }
    let exit = intent(3, KernelCommandType::Exit, 0, TradeSide::Long, 100.0, 0.0);
    k.process_intent(&exit).submit.expect("exit accepted").size
}

#[test]
fn a_fill_completing_its_order_within_tolerance_books_the_order_size() {
    // A fill a hair over (or under) what its order has left completes it: it is within the
    // kernel's tolerance. Booked as reported, the position would leave the lot grid, further
    // from it than float error: the next exit of the whole position would go out as
    // 1000.0000009 on a 0.001 lot, which the venue refuses, every time.
    for (entry_fill, exit_size, exit_fill, left) in [
        (1_000.000_000_9, 0.0, 0.0, 1000.0),
        (999.999_999_5, 0.0, 0.0, 1000.0),
        (1000.0, 500.0, 500.000_000_4, 500.0),
        (1000.0, 500.0, 499.999_999_6, 500.0),
    ] {
        let sent = next_exit_after_fills(entry_fill, exit_size, exit_fill);
        assert_eq!(
            sent, left,
            "entry filled {entry_fill}, exit of {exit_size} {exit_fill}"
        );
    }
}

#[test]
fn a_size_below_the_kernels_smallest_is_invalid_not_below_the_venues_floor() {
    // 1e-10 is below the smallest size the kernel trades (1e-9): refused as the intent's fault
    // naming target_size, not as BELOW_MIN_NOTIONAL "below floor" with a minimum quantity and
    // notional of 0 in its details, which would send the user to a venue floor that does not
    // exist.
    let refused_as_invalid = |out: &KernelOutcome| {
        assert!(!out.accepted);
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
        let field = out.details.iter().find(|(f, _)| *f == "field");
        let field = field.map(|(_, v)| format!("{v:?}"));
        assert!(field.unwrap().contains("target_size"), "{:?}", out.details);
    };
    let mut h = Harness::new(MockConfig::default());
    let enter = intent(
        1,
        KernelCommandType::Enter,
        0,
        TradeSide::Long,
        100.0,
        1e-10,
    );
    refused_as_invalid(&h.intent(enter));
    let enter = intent(2, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
    assert!(h.intent(enter).accepted, "the refusal changed nothing");
    let exit = intent(3, KernelCommandType::Exit, 0, TradeSide::Long, 100.0, 1e-10);
    refused_as_invalid(&h.intent(exit));
    assert_eq!(h.k.slot(0).unwrap().size, 1.0);
    // Rounded to nothing by the venue's lot, it is the venue's floor.
    let mut h = Harness::new(MockConfig::default());
    h.k.set_market_limits("BTC", &[("lot_step".into(), 0.1)])
        .unwrap();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 0.05);
    let out = h.intent(enter);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::BelowMinNotional);
}

/// Slot 0's entry acknowledged as `V1`, filled 0.4 and canceled with the venue saying 0.6
/// filled (kept, a fill of 0.2 owed); then slot 1's entry acknowledged with the same `V1`.
/// The owed fill, naming its order by `V1` alone, and the kernel.
fn owed_fill_by_a_venue_id_a_new_order_claims() -> (KernelOutcome, Kernel) {
    let mut k = Kernel::new("reuse", 2).unwrap();
    let a = k.process_intent(&intent(
        1,
        KernelCommandType::Enter,
        0,
        TradeSide::Long,
        100.0,
        1.0,
    ));
    let a = a.submit.expect("accepted");
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &a.client_order_id);
    ack.venue_order_id = id("V1");
    assert!(k.on_venue_event(&ack).accepted);
    assert!(k.on_venue_event(&numbered_fill(&a, 1, 0.4, 0.4)).accepted);
    let mut cancel = intent(2, KernelCommandType::Cancel, 0, TradeSide::Long, 100.0, 0.0);
    cancel.trade_id = id("t0-1");
    assert!(k.process_intent(&cancel).accepted);
    let mut end = VenueEvent::new("c1", KernelEventKind::CancelAck, &a.client_order_id);
    end.filled_size = 0.6;
    assert!(k.on_venue_event(&end).accepted);
    let b = k.process_intent(&intent(
        3,
        KernelCommandType::Enter,
        1,
        TradeSide::Long,
        100.0,
        1.0,
    ));
    let b = b.submit.expect("accepted");
    let mut ack = VenueEvent::new("a2", KernelEventKind::OrderAck, &b.client_order_id);
    ack.venue_order_id = id("V1");
    assert!(k.on_venue_event(&ack).accepted, "its client id names it");
    let mut owed = numbered_fill(&a, 2, 0.2, 0.6);
    owed.venue_client_id = id("");
    owed.venue_order_id = id("V1");
    (k.on_venue_event(&owed), k)
}

#[test]
fn a_venue_id_a_working_and_a_kept_order_carry_names_neither() {
    // The venue gave slot 1's new order the id of slot 0's canceled order, which still owes a
    // fill: that fill, naming its order by the id alone, booked on slot 1's order would be a
    // position slot 1 does not hold, while slot 0 waited for it for good.
    let (out, k) = owed_fill_by_a_venue_id_a_new_order_claims();
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
    assert_eq!(out.severity, KernelSeverity::Critical);
    assert_eq!(k.slot(1).unwrap().size, 0.0);
    assert_eq!(k.slot(0).unwrap().size, 0.4);
}

#[test]
fn a_fill_a_whole_lot_from_its_order_is_booked_as_reported() {
    // The completing fill's tolerance (1e-9 of the size) is a whole unit for an order of 1e9
    // (a meme coin on a lot of 1): a venue that filled 999,999,999 and ended the order must
    // not have that booked as 1e9, or the exit of the whole position asks the venue for a unit
    // it does not hold. Only a difference under half a lot is the float noise snapped away.
    // Each fill says the order is over (FILLED, nothing remaining): one short of it ends it.
    for (fill, booked) in [
        (999_999_999.0, 999_999_999.0),
        (1_000_000_001.0, 1_000_000_001.0),
        (999_999_999.6, 1e9),
        (1_000_000_000.4, 1e9),
    ] {
        let mut k = Kernel::new("snap-lot", 1).unwrap();
        k.set_market_limits("BTC", &[("lot_step".into(), 1.0)])
            .unwrap();
        let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 1.0, 1e9);
        let order = k.process_intent(&enter).submit.expect("accepted");
        let mut over = numbered_fill(&order, 1, fill, fill);
        over.status = VenueOrderStatus::Filled;
        let out = k.on_venue_event(&over);
        assert!(out.accepted, "{:?}", out.details);
        let slot = k.slot(0).unwrap();
        assert_eq!(slot.fsm_state, TradeStage::PositionOpen, "filled {fill}");
        assert_eq!(slot.size, booked, "filled {fill}");
    }
}

#[test]
fn an_account_event_naming_its_figure_in_the_other_field_is_refused() {
    // A FUNDING_FEE's payment is its `amount` and a FILL_SETTLED's charge its `fee`; each
    // reads only its own, so taken, funding given as `fee` would be booked as 0, and a
    // settlement given as `amount` would replace the predicted fee with 0 and teach the
    // calibration a free rate, every later fill predicted free.
    let mut h = Harness::new(MockConfig::default());
    h.k.set_seed_capital(1000.0).unwrap();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
    let order = h.k.process_intent(&enter).submit.expect("sent");
    let answer = h.venue.submit(&order);
    let fills = h.feed(answer);
    let fill_id = fills
        .iter()
        .find(|e| e.kind == KernelEventKind::Fill)
        .map(|e| e.fill_key().clone())
        .expect("the mock fills");
    let predicted = 100.0 * 0.0005;
    let before = h.k.fees.clone();
    let mut funding = AccountEvent::new("fund", AccountEventKind::FundingFee);
    funding.fee = -1.5;
    let mut settled = AccountEvent::new("settle", AccountEventKind::FillSettled);
    settled.fill_id = fill_id.clone();
    settled.amount = 0.04;
    for (e, field) in [(funding, "fee"), (settled, "amount")] {
        let out = h.k.on_account_event(&e);
        assert!(!out.accepted, "{field}: {out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
        let named = out.details.iter().find(|(f, _)| *f == "field");
        assert!(
            format!("{named:?}").contains(field),
            "{field}: {:?}",
            out.details
        );
    }
    assert_eq!(
        (h.k.account.k_funding_net, h.k.account.k_fees_paid),
        (0.0, predicted)
    );
    assert_eq!(h.k.fees, before, "nothing learned");
    // Changed nothing: the same ids, corrected, are taken.
    let mut funding = AccountEvent::new("fund", AccountEventKind::FundingFee);
    funding.amount = -1.5;
    assert!(h.k.on_account_event(&funding).accepted);
    let mut settled = AccountEvent::new("settle", AccountEventKind::FillSettled);
    settled.fill_id = fill_id;
    settled.fee = 0.04;
    assert!(h.k.on_account_event(&settled).accepted);
    assert!((h.k.account.k_capital() - (1000.0 - 1.5 - 0.04)).abs() < 1e-12);
}

#[test]
fn balance_figures_a_funding_or_settlement_carries_are_taken() {
    use dita_kernel::account::ReconcileStatus;
    // An exchange's funding message carries the wallet balance after it (Binance's
    // ACCOUNT_UPDATE of reason FUNDING_FEE, say). Were only an ACCOUNT_UPDATE's figures read,
    // K would move by the payment and E stay where it was, the two reading apart by it.
    let mut k = Kernel::new("bal", 1).unwrap();
    k.set_seed_capital(1000.0).unwrap();
    let mut e = AccountEvent::new("u", AccountEventKind::AccountUpdate);
    e.wallet_balance = Some(1000.0);
    assert!(k.on_account_event(&e).accepted);
    let mut funding = AccountEvent::new("fund", AccountEventKind::FundingFee);
    funding.amount = -5.0;
    funding.wallet_balance = Some(995.0);
    funding.available_margin = Some(900.0);
    assert!(k.on_account_event(&funding).accepted);
    let r = k.account.reconcile();
    assert_eq!(k.account.e_wallet_balance, Some(995.0));
    assert_eq!(k.account.e_available_margin, Some(900.0));
    assert_eq!((r.status, r.delta), (ReconcileStatus::Ok, 0.0));
}

#[test]
fn an_override_reading_as_a_negative_is_refused() {
    use dita_kernel::risk::ConfigValue;
    // Taken as an override, `override: "false"` would let a SHORT MARKET entry through under
    // a BULL regime: the opposite of what its author wrote.
    let short = |text: &str| {
        let mut i = intent(1, KernelCommandType::Enter, 0, TradeSide::Short, 100.0, 1.0);
        i.metadata
            .insert("override".into(), MetaValue::Str(text.into()));
        i
    };
    let bull = |k: &mut Kernel| {
        let r = k.risk_updates(&[("regime".into(), ConfigValue::Text("BULL".into()))]);
        k.set_risk_limits(r.unwrap());
    };
    for text in ["false", " No ", "0", "OFF", "Off\n"] {
        let mut k = Kernel::new("regime", 1).unwrap();
        bull(&mut k);
        let out = k.process_intent(&short(text));
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
        let detail = |f: &str| out.details.iter().find(|(n, _)| *n == f).map(|d| &d.1);
        assert_eq!(detail("field"), Some(&Detail::Static("metadata.override")));
        assert_eq!(detail("value"), Some(&Detail::Str(text.into())));
        assert_eq!(k.slot(0).unwrap().fsm_state, TradeStage::Idle);
    }
    // Text that does not read as a negative is an override.
    for text in ["yes", "true", "ops-ticket-42", "nope"] {
        let mut k = Kernel::new("regime", 1).unwrap();
        bull(&mut k);
        assert!(k.process_intent(&short(text)).accepted, "{text:?}");
    }
    // Only where the override is read: a LONG under BULL does not need one.
    let mut k = Kernel::new("regime", 1).unwrap();
    bull(&mut k);
    let mut long = short("false");
    long.side = TradeSide::Long;
    assert!(k.process_intent(&long).accepted);
}

#[test]
fn blank_ids_and_ids_holding_a_nul_are_refused_naming_them() {
    // An empty id is refused, and so is one of only whitespace, or holding a NUL byte (which
    // C strings, logs and many stores cut short).
    let detail = |out: &KernelOutcome, f: &str| {
        out.details
            .iter()
            .find(|(n, _)| *n == f)
            .map(|d| d.1.clone())
    };
    // The kernel looks at an id's first byte (a NUL further in is refused where Python text
    // becomes an id: the bindings).
    let bad = [" ", "\t\n", "\u{3000}", "\0", " \0x", "é\0"];
    for (field, text) in ["intent_id", "trade_id", "asset"]
        .iter()
        .flat_map(|f| bad.iter().map(move |t| (*f, *t)))
    {
        let mut enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
        match field {
            "intent_id" => enter.intent_id = id(text),
            "trade_id" => enter.trade_id = id(text),
            _ => enter.asset = id(text),
        }
        let mut k = Kernel::new("ids", 1).unwrap();
        let out = k.process_intent(&enter);
        assert_eq!(
            out.diagnostic_code,
            KernelDiagnosticCode::InvalidIntent,
            "{field} {text:?}"
        );
        assert_eq!(detail(&out, "field"), Some(Detail::Static(field)));
        assert_eq!(
            detail(&out, "value"),
            Some(Detail::Str(format!("{text:?}")))
        );
        assert_eq!(k.slot(0).unwrap().fsm_state, TradeStage::Idle);
    }
    for text in bad {
        let mut k = Kernel::new("ids", 1).unwrap();
        let ev = VenueEvent::new(text, KernelEventKind::OrderAck, &id("x-1"));
        let out = k.on_venue_event(&ev);
        assert_eq!(
            out.diagnostic_code,
            KernelDiagnosticCode::InvalidIntent,
            "{text:?}"
        );
        assert_eq!(detail(&out, "field"), Some(Detail::Static("event_id")));
        let ev = AccountEvent::new(text, AccountEventKind::AccountUpdate);
        let out = k.on_account_event(&ev);
        assert_eq!(
            out.diagnostic_code,
            KernelDiagnosticCode::InvalidIntent,
            "{text:?}"
        );
        assert_eq!(detail(&out, "field"), Some(Detail::Static("event_id")));
        assert!(k.mark_price(text, 100.0, 1.0).is_err(), "{text:?}");
    }
    // Whitespace around or inside an otherwise usable id is not judged.
    let mut k = Kernel::new("ids", 1).unwrap();
    let mut enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
    enter.intent_id = id(" i 1 ");
    assert!(k.process_intent(&enter).accepted);
}

#[test]
fn an_empty_id_is_refused_before_a_flawed_one_in_the_fields_order() {
    // ENTER judges its ids' emptiness first (intent id, trade id, asset), then their flaws
    // (trade id, asset): an empty asset beside a trade id of only whitespace names the asset.
    let field = |out: &KernelOutcome| {
        out.details
            .iter()
            .find(|(n, _)| *n == "field")
            .map(|d| d.1.clone())
    };
    let cases: [(&str, &str, &str, &str); 6] = [
        ("", "", "", "intent_id"),
        ("i", "", "", "trade_id"),
        ("i", " ", "", "asset"),
        ("i", "", " ", "trade_id"),
        ("i", " ", " ", "trade_id"),
        ("i", "t", "\0", "asset"),
    ];
    for (intent_id, trade_id, asset, named) in cases {
        let mut enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 1.0);
        enter.intent_id = id(intent_id);
        enter.trade_id = id(trade_id);
        enter.asset = id(asset);
        let mut k = Kernel::new("ids", 1).unwrap();
        let out = k.process_intent(&enter);
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
        assert_eq!(
            field(&out),
            Some(Detail::Static(named)),
            "{intent_id:?} {trade_id:?} {asset:?}"
        );
    }
}

#[test]
fn an_override_of_only_whitespace_is_none() {
    use dita_kernel::risk::ConfigValue;
    // Taken as an override, `override: " "` would let a SHORT MARKET entry through under a
    // BULL regime, where the empty text does not: it says nothing.
    for text in [" ", "\t", " \n "] {
        let mut k = Kernel::new("regime", 1).unwrap();
        let r = k.risk_updates(&[("regime".into(), ConfigValue::Text("BULL".into()))]);
        k.set_risk_limits(r.unwrap());
        let mut i = intent(1, KernelCommandType::Enter, 0, TradeSide::Short, 100.0, 1.0);
        i.metadata
            .insert("override".into(), MetaValue::Str(text.into()));
        let out = k.process_intent(&i);
        // Not refused as an invalid override: there is none, so the regime refuses.
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::RiskRejected);
        let detail = |f: &str| out.details.iter().find(|(n, _)| *n == f).map(|d| &d.1);
        assert_eq!(detail("rule"), Some(&Detail::Static("regime_parity")));
        assert_eq!(k.slot(0).unwrap().fsm_state, TradeStage::Idle);
    }
}

#[test]
fn a_filled_position_commits_its_entry_price_in_every_path() {
    // An entry of 2 at a reference of 100, part-filled (1 at 110), then the rest canceled:
    // the position of 1 counts towards the notional caps at its entry price (110), live as
    // after a reload of the slots (reconcile_from_slots), so the same position does not pass
    // or fail the caps depending on a restart.
    let mut k = Kernel::new("committed", 1).unwrap();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, 2.0);
    let order = k.process_intent(&enter).submit.unwrap();
    let coid = order.client_order_id.clone();
    let mut f = VenueEvent::new("f1", KernelEventKind::Fill, &coid);
    (f.price, f.size, f.filled_size) = (110.0, 1.0, 1.0);
    f.status = VenueOrderStatus::PartiallyFilled;
    assert!(k.on_venue_event(&f).accepted);
    // The filled 1 at its entry price, the working 1 at the reference.
    assert_eq!(k.total_committed_notional(), 210.0);
    let cancel = intent(2, KernelCommandType::Cancel, 0, TradeSide::Long, 100.0, 0.0);
    let cancel = Intent {
        trade_id: enter.trade_id.clone(),
        ..cancel
    };
    assert!(k.process_intent(&cancel).accepted);
    let ended = VenueEvent {
        filled_size: 1.0,
        ..VenueEvent::new("c1", KernelEventKind::CancelAck, &coid)
    };
    assert!(k.on_venue_event(&ended).accepted);
    assert_eq!(k.total_committed_notional(), 110.0);
    // Reloaded, it counts at its entry price too.
    let slots = k.slots().to_vec();
    k.replace_slots(slots).unwrap();
    assert_eq!(k.total_committed_notional(), 110.0);
}

/// Slot 0 of a kernel on a `lot` lot holding `size` BTC (one entry fill), exited by an EXIT
/// of `target` (0 for the whole position) that the venue filled in fills of `piece` each,
/// the last what the venue's running total had left. The slot's stage and size after.
fn exit_filled_in_pieces(lot: f64, size: f64, target: f64, piece: f64) -> (TradeStage, f64) {
    let mut k = Kernel::new("pieces", 1).unwrap();
    k.set_market_limits("BTC", &[("lot_step".into(), lot)])
        .unwrap();
    let enter = intent(1, KernelCommandType::Enter, 0, TradeSide::Long, 100.0, size);
    let order = k.process_intent(&enter).submit.expect("accepted");
    let fill = numbered_fill(&order, 1, size, size);
    assert!(k.on_venue_event(&fill).accepted);
    let exit = intent(
        2,
        KernelCommandType::Exit,
        0,
        TradeSide::Long,
        100.0,
        target,
    );
    let order = k.process_intent(&exit).submit.expect("exit accepted");
    let (mut filled, mut n) = (0.0, 2);
    while order.size - filled > 1e-9 * order.size {
        let qty = piece.min(order.size - filled);
        filled += qty;
        let fill = numbered_fill(&order, n, qty, filled);
        let out = k.on_venue_event(&fill);
        assert!(out.accepted, "{:?}", out.details);
        n += 1;
    }
    let slot = k.slot(0).unwrap();
    (slot.fsm_state, slot.size)
}

#[test]
fn an_exit_of_the_whole_position_filled_in_pieces_closes_it() {
    // The pieces of an exit of 1e8 add up to the position only within float error: a few 1e-9
    // kept (over the kernel's 1e-9 of nothing) would leave the slot POSITION_OPEN after its
    // exit filled, its trade not closed until another exit, which could not send it.
    for (lot, size, piece) in [
        (1.0, 123_456_789.0, 12_345_678.9),
        (1.0, 100_000_000.0, 3_333_333.3),
        (0.001, 98_765_432.1, 9_876_543.41),
    ] {
        let now = exit_filled_in_pieces(lot, size, 0.0, piece);
        assert_eq!(
            now,
            (TradeStage::Closed, 0.0),
            "{size} in pieces of {piece}"
        );
    }
    // A deliberate partial exit leaves its lot, in pieces too.
    let (stage, left) = exit_filled_in_pieces(1.0, 100_000_000.0, 99_999_999.0, 3_333_333.3);
    assert_eq!(stage, TradeStage::PositionOpen);
    assert!((left - 1.0).abs() < 1e-7, "{left}");
}
