//! An honest venue's fills are booked exactly once, whatever order its reports arrive in and
//! however often they are resent (docs/reference/venue-misbehaviour.md): one entry order, filled by
//! the venue in `k` real fills, each reported one to three times (the report itself resent, or the
//! fill reported again under a new event id), the reports shuffled (or each fill's first report in
//! the venue's order, resends later). What the kernel promises depends on what the venue's reports
//! carry and on how far the slot's 64-entry memories reach, so each style of venue is its own
//! property. Each style is checked again with the order canceled part-way (only the fills before
//! the cancel happen; their reports after the cancel ack are late fills of the kept order) and a
//! checkpoint round trip at a random point. Half the orders are of billions of lots (a meme coin
//! on a lot of 1, where 1e-9 of the order is a lot), their fills mixed with fills of a few lots:
//! an order is complete exactly when the venue filled it whole. The hand-written tests at the end are counterexamples
//! the properties find unless the kernel follows what each order's reports cover (`Covered` in
//! kernel/fill_reports.rs), one for an order kept after it ended (it carries what its reports
//! covered while it worked), and the waits and venue ids of orders that ended.

use dita_kernel::*;
use proptest::prelude::*;

mod common;
use common::{close, long_btc, well_formed_details, with_part_replaced};

/// What one report of a fill says.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    /// The fill's own size and the order's running total after it.
    PerFill,
    /// The fill's own size, no running total (`filled_size` 0).
    PerFillNoTotal,
    /// Only the running total after the fill (`size` 0).
    TotalOnly,
}

/// Whether reports carry the fill's id.
#[derive(Clone, Copy, Debug, PartialEq)]
enum FillIds {
    Always,
    Never,
    /// Each report decides: a resend may carry the id its original left out, or drop it.
    PerReport,
}

/// The order reports arrive in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Delivery {
    /// Any order: a later fill's report may come before an earlier one's.
    Shuffled,
    /// Each fill's original report in the venue's order; resends anywhere after their
    /// original, up to about a hundred fills later.
    OriginalsInOrder,
}

/// What a venue's reports carry and how they arrive.
#[derive(Clone, Copy, Debug)]
struct Venue {
    /// The forms of a fill's original report.
    originals: &'static [Form],
    /// The forms of a fill reported again under a fresh event id.
    resends: &'static [Form],
    ids: FillIds,
    delivery: Delivery,
    max_fills: usize,
}

const PER_FILL: &[Form] = &[Form::PerFill];
const TOTAL_ONLY: &[Form] = &[Form::TotalOnly];
const PER_FILL_OR_TOTAL: &[Form] = &[Form::PerFill, Form::TotalOnly];
const NO_TOTAL: &[Form] = &[Form::PerFillNoTotal];

impl Venue {
    fn new(forms: &'static [Form], ids: FillIds, max_fills: usize) -> Self {
        Venue {
            originals: forms,
            resends: forms,
            ids,
            delivery: Delivery::Shuffled,
            max_fills,
        }
    }

    fn with_id(&self, drawn: bool) -> bool {
        match self.ids {
            FillIds::Always => true,
            FillIds::Never => false,
            FillIds::PerReport => drawn,
        }
    }
}

/// One report of real fill `fill`. A resend under the original event id repeats the
/// original report exactly; one under a fresh id is the fill reported again, in any form
/// the venue uses for that.
#[derive(Clone, Debug)]
struct Report {
    fill: usize,
    form: Form,
    fill_id: bool,
    /// `None`: the fill's original event id.
    fresh_id: Option<usize>,
}

#[derive(Clone, Debug)]
struct Plan {
    lot: f64,
    /// Lots of each real fill, in the venue's order.
    fills: Vec<u64>,
    order_lots: u64,
    deliveries: Vec<Report>,
}

impl Plan {
    fn size(&self, lots: u64) -> f64 {
        lots as f64 * self.lot
    }

    /// The order's running total after real fill `i`, as the venue states it.
    fn total_after(&self, i: usize) -> f64 {
        self.size(self.fills[..=i].iter().sum())
    }

    fn true_total(&self) -> f64 {
        self.size(self.fills.iter().sum())
    }

    /// Whether the venue filled the whole order.
    fn filled_whole(&self) -> bool {
        self.fills.iter().sum::<u64>() == self.order_lots
    }

    /// Each real fill at its own price, so a fill booked in another's place shows.
    fn price(i: usize) -> f64 {
        100.0 + i as f64
    }

    fn true_entry_price(&self) -> f64 {
        let notional: f64 = (0..self.fills.len())
            .map(|i| self.size(self.fills[i]) * Self::price(i))
            .sum();
        notional / self.true_total()
    }
}

fn plan(venue: Venue) -> impl Strategy<Value = Plan> {
    let lot = prop::sample::select(vec![1.0, 0.1, 0.01, 0.001]);
    // Half the orders are large: fills of a few billion lots (a meme coin on a lot of 1), a
    // lot or two apart, mixed with fills of a few lots, a lot being under 1e-9 of the order.
    let fill = (1u64..=4, any::<bool>(), -2i64..=2);
    let fills = prop::collection::vec(fill, 1..=venue.max_fills);
    (lot, fills, 0u64..=3, any::<bool>()).prop_flat_map(move |(lot, fills, spare, large)| {
        let fills: Vec<u64> = fills
            .into_iter()
            .map(|(n, big, off)| match large && big {
                true => (n * 1_000_000_000).saturating_add_signed(off),
                false => n,
            })
            .collect();
        let order_lots = fills.iter().sum::<u64>() + spare;
        // Per fill: its original report (form, fill id), then up to two resends (under a
        // fresh event id?, form, fill id, how many reports after the original).
        let original = (0..venue.originals.len(), any::<bool>());
        let resend = (
            any::<bool>(),
            0..venue.resends.len(),
            any::<bool>(),
            1usize..300,
        );
        let per_fill = (original, prop::collection::vec(resend, 0..=2));
        let specs = prop::collection::vec(per_fill, fills.len());
        (specs, Just(fills)).prop_flat_map(move |(specs, fills)| {
            // (sort key, report): originals 3 apart, in the venue's order.
            let mut keyed = Vec::new();
            for (i, ((form, id), resends)) in specs.into_iter().enumerate() {
                let original = Report {
                    fill: i,
                    form: venue.originals[form],
                    fill_id: venue.with_id(id),
                    fresh_id: None,
                };
                for (j, (fresh, form, id, later)) in resends.into_iter().enumerate() {
                    let r = if fresh {
                        Report {
                            fill: i,
                            form: venue.resends[form],
                            fill_id: venue.with_id(id),
                            fresh_id: Some(j),
                        }
                    } else {
                        original.clone()
                    };
                    keyed.push((3 * i + later, r));
                }
                keyed.push((3 * i, original));
            }
            // Stable: a resend never comes before its original.
            keyed.sort_by_key(|(key, _)| *key);
            let deliveries: Vec<Report> = keyed.into_iter().map(|(_, r)| r).collect();
            let shuffled = match venue.delivery {
                Delivery::Shuffled => Just(deliveries).prop_shuffle().boxed(),
                Delivery::OriginalsInOrder => Just(deliveries).boxed(),
            };
            let fills = fills.clone();
            shuffled.prop_map(move |deliveries| Plan {
                lot,
                fills: fills.clone(),
                order_lots,
                deliveries,
            })
        })
    })
}

fn event(plan: &Plan, order: &Id, r: &Report) -> VenueEvent {
    let i = r.fill;
    let event_id = match r.fresh_id {
        None => format!("e{i}"),
        Some(j) => format!("e{i}-resent{j}"),
    };
    let mut e = VenueEvent::new(&event_id, KernelEventKind::Fill, order);
    e.slot_id = 0;
    e.price = Plan::price(i);
    if r.fill_id {
        e.fill_id = id(&format!("F{i}"));
    }
    match r.form {
        Form::PerFill => {
            e.size = plan.size(plan.fills[i]);
            e.filled_size = plan.total_after(i);
        }
        Form::PerFillNoTotal => e.size = plan.size(plan.fills[i]),
        Form::TotalOnly => e.filled_size = plan.total_after(i),
    }
    // As an honest venue states a fill short of its order's size: FILLED there would say the
    // order is over, and what remains with the running total.
    let order_size = plan.size(plan.order_lots);
    if e.filled_size < order_size {
        e.status = VenueOrderStatus::PartiallyFilled;
    }
    if e.filled_size > 0.0 {
        e.remaining_size = (order_size - e.filled_size).max(0.0);
    }
    e
}

/// Equal within the float error of sums of fills: far less than a lot at any size here, where
/// [`close`] is a whole lot of an order of a billion lots.
fn same_total(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 + 1e-12 * a.abs().max(b.abs())
}

/// The entry order's booked size.
fn booked(k: &Kernel) -> f64 {
    k.slots()[0].size
}

/// What reaches the kernel, in turn.
#[derive(Clone, Debug)]
enum Step {
    Report(Report),
    /// The strategy cancels the entry; the venue answers with the fills that happened so far
    /// (a cancel ack with their total, or a cancel reject when they filled the order). A
    /// venue that does not `state_total` acks with `filled_size` 0: no figure.
    Cancel {
        state_total: bool,
    },
    /// The kernel is written to a checkpoint and loaded from it.
    Checkpoint,
}

/// Sends the entry, then the plan's reports in order. At every step: an honest report is booked
/// (OK) or refused as a resend (DUPLICATE_EVENT; UNKNOWN_ORDER once the order is completely filled
/// and gone, as docs/reference/venue-misbehaviour.md says of a fill for an order that filled), a
/// refusal changes nothing, and the booked size never passes what the venue filled. Returns the
/// kernel after the last report.
fn deliver(plan: &Plan) -> Result<Kernel, TestCaseError> {
    let steps: Vec<Step> = plan.deliveries.iter().cloned().map(Step::Report).collect();
    deliver_steps(plan, &steps)
}

/// [`deliver`] with the plan's reports, a cancel and checkpoints in the order `steps` gives.
/// `plan.fills` are the fills that happened. After the order ended, its reports are late
/// fills, each booked (OK) or refused as a resend (DUPLICATE_EVENT), nothing else.
fn deliver_steps(plan: &Plan, steps: &[Step]) -> Result<Kernel, TestCaseError> {
    use KernelDiagnosticCode as D;
    let mut k = Kernel::new("honest", 1).unwrap();
    k.set_market_limits("BTC", &[("lot_step".into(), plan.lot)])
        .unwrap();
    let order_size = plan.size(plan.order_lots);
    let mut enter = Intent::new(
        "enter",
        "trade",
        0,
        "BTC",
        TradeSide::Long,
        KernelCommandType::Enter,
        100.0,
        order_size,
    );
    enter.timestamp = 1.0;
    let order = k.process_intent(&enter).submit.expect("the entry goes out");
    prop_assert!(close(order.size, order_size));
    let true_total = plan.true_total();
    let mut ended = false;
    // The highest running total a report stated, and whether a report without one came (the
    // order is then no longer followed by its reports' intervals, and its totals unknown).
    let (mut stated, mut untracked) = (0.0f64, false);
    // Once ended: the filled size the cancel ack gave, if any.
    let mut figure = None;
    for (n, step) in steps.iter().enumerate() {
        let before = k.slots()[0].clone();
        let awaited_before = k.awaited_fill_qty(0);
        let was_complete = !ended && before.active_entry_order.is_none();
        match step {
            Step::Report(r) => {
                match r.form {
                    Form::PerFillNoTotal => untracked = true,
                    _ => stated = stated.max(plan.total_after(r.fill)),
                }
                let out =
                    well_formed_details(k.on_venue_event(&event(plan, &order.client_order_id, r)));
                let code = out.diagnostic_code;
                let allowed = code == D::Ok
                    || code == D::DuplicateEvent
                    || (was_complete && code == D::UnknownOrder);
                prop_assert!(allowed, "step {n} {r:?} refused as {code:?}: {out:?}");
                if !out.accepted {
                    prop_assert_eq!(
                        &before,
                        &k.slots()[0],
                        "step {} {:?} refused but changed",
                        n,
                        r
                    );
                    prop_assert_eq!(awaited_before, k.awaited_fill_qty(0));
                }
            }
            Step::Cancel { state_total } => {
                let cancel = intent_on_slot("cancel", "trade", KernelCommandType::Cancel);
                let out = well_formed_details(k.process_intent(&cancel));
                if was_complete {
                    // Every fill is booked and the order is gone: nothing to cancel.
                    prop_assert!(!out.accepted, "step {n}: cancel of a filled order: {out:?}");
                    continue;
                }
                prop_assert!(out.accepted, "step {n}: cancel refused: {out:?}");
                let answer = if plan.filled_whole() {
                    // The venue filled it all before the cancel reached it.
                    VenueEvent::new(
                        "cancel-reject",
                        KernelEventKind::CancelReject,
                        &order.client_order_id,
                    )
                } else {
                    ended = true;
                    let mut ack = VenueEvent::new(
                        "cancel-ack",
                        KernelEventKind::CancelAck,
                        &order.client_order_id,
                    );
                    if *state_total {
                        ack.filled_size = true_total;
                        figure = Some(true_total);
                    }
                    ack
                };
                let out = well_formed_details(k.on_venue_event(&answer));
                prop_assert!(out.accepted, "step {n}: {answer:?} refused: {out:?}");
            }
            Step::Checkpoint => {
                use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
                k = decode_kernel(&encode_kernel(&k)).map_err(TestCaseError::fail)?;
                prop_assert_eq!(
                    &before,
                    &k.slots()[0],
                    "step {}: the checkpoint changed the slot",
                    n
                );
                prop_assert_eq!(awaited_before, k.awaited_fill_qty(0));
            }
        }
        prop_assert!(
            booked(&k) <= true_total + 1e-9 + true_total * 1e-12,
            "step {n} {step:?}: booked {} > filled {true_total}",
            booked(&k)
        );
        // Once the order ended, its slot waits for what the venue said had filled beyond
        // what is booked: the ack's figure, or without one what its reports stated.
        let said = figure.or((!untracked).then_some(stated));
        if let Some(said) = said.filter(|_| ended) {
            let owed = said - booked(&k);
            let awaited = k.awaited_fill_qty(0);
            prop_assert!(
                same_total(awaited, owed) || (awaited == 0.0 && owed <= 1e-9 + order_size * 1e-12),
                "step {n} {step:?}: awaits {awaited}, the venue said {said} with {} booked",
                booked(&k)
            );
        }
    }
    Ok(k)
}

/// Delivers the plan and checks that every fill was booked once: the size the venue filled,
/// and (for per-fill reports, each at its fill's price) its volume-weighted price.
fn booked_exactly_once(plan: &Plan, check_price: bool) -> Result<(), TestCaseError> {
    let k = deliver(plan)?;
    let s = &k.slots()[0];
    prop_assert!(
        same_total(s.size, plan.true_total()),
        "booked {} != filled {}",
        s.size,
        plan.true_total()
    );
    // Complete once the venue filled it whole, working while it still works a lot of it.
    prop_assert_eq!(
        s.active_entry_order.is_none(),
        plan.filled_whole(),
        "{:?} with {} of {} lots filled",
        s.fsm_state,
        plan.fills.iter().sum::<u64>(),
        plan.order_lots
    );
    if check_price {
        prop_assert!(
            close(s.entry_price, plan.true_entry_price()),
            "entry price {} != the fills' {} (a fill booked in another's place)",
            s.entry_price,
            plan.true_entry_price()
        );
    }
    Ok(())
}

/// A plan whose order ends part-way: only the first fills of it happen (the rest never do),
/// the strategy cancels at a random point of the delivery and the venue acknowledges the
/// cancel with the total that happened (or, half the time, with no figure), so the reports
/// after the ack are late fills of a kept order. Half the time the kernel goes through a checkpoint at another random point.
#[derive(Clone, Debug)]
struct Ending {
    /// The fills that happened and their reports.
    plan: Plan,
    steps: Vec<Step>,
}

fn ending(venue: Venue) -> impl Strategy<Value = Ending> {
    plan(venue)
        .prop_flat_map(|plan| {
            let k = plan.fills.len();
            let at = || any::<prop::sample::Index>();
            (Just(plan), 0..=k, at(), at(), any::<bool>(), any::<bool>())
        })
        .prop_map(
            |(mut plan, happened, cancel_at, checkpoint_at, checkpoint, state_total)| {
                plan.fills.truncate(happened);
                plan.deliveries.retain(|r| r.fill < happened);
                let mut steps: Vec<Step> =
                    plan.deliveries.iter().cloned().map(Step::Report).collect();
                steps.insert(
                    cancel_at.index(steps.len() + 1),
                    Step::Cancel { state_total },
                );
                if checkpoint {
                    steps.insert(checkpoint_at.index(steps.len() + 1), Step::Checkpoint);
                }
                Ending { plan, steps }
            },
        )
}

/// Delivers an ending plan and checks that every fill that happened was booked once, before
/// the cancel or as a late fill, and that the kernel waits for nothing more.
fn ended_booked_exactly_once(e: &Ending, check_price: bool) -> Result<(), TestCaseError> {
    let k = deliver_steps(&e.plan, &e.steps)?;
    let s = &k.slots()[0];
    let filled = e.plan.true_total();
    prop_assert!(
        same_total(s.size, filled),
        "booked {} != filled {}",
        s.size,
        filled
    );
    if check_price && filled > 0.0 {
        prop_assert!(
            close(s.entry_price, e.plan.true_entry_price()),
            "entry price {} != the fills' {} (a fill booked in another's place)",
            s.entry_price,
            e.plan.true_entry_price()
        );
    }
    prop_assert!(
        same_total(k.awaited_fill_qty(0), 0.0),
        "still awaits {} with every fill booked",
        k.awaited_fill_qty(0)
    );
    Ok(())
}

/// Two properties for each venue below, under its two names: every fill booked exactly once
/// while the order works, and the same with the order canceled part-way (the reports of the
/// fills that happened come before and after the cancel ack, those after it as late fills of
/// the kept order, which carries what its reports covered). `$check_price` as in
/// [`booked_exactly_once`].
macro_rules! booked_once_at {
    ($( $(#[$doc:meta])* $working:ident, $ended:ident: $venue:expr, $check_price:expr; )*) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]
            $(
                $(#[$doc])*
                #[test]
                fn $working(plan in plan($venue)) {
                    booked_exactly_once(&plan, $check_price)?;
                }

                $(#[$doc])*
                #[test]
                fn $ended(e in ending($venue)) {
                    ended_booked_exactly_once(&e, $check_price)?;
                }
            )*
        }
    };
}

booked_once_at! {
    /// (a) Per-fill reports with running totals and no fill ids: the running total after a
    /// fill is its identity, remembered for the last 64 fills (every fill, here).
    running_totals_book_each_fill_once,
    running_totals_book_each_fill_once_when_the_order_ends:
        Venue::new(PER_FILL, FillIds::Never, 64), true;

    /// (a) with fill ids: a resend is known by its fill id, remembered for the last 64.
    running_totals_with_fill_ids_book_each_fill_once,
    running_totals_with_fill_ids_book_each_fill_once_when_the_order_ends:
        Venue::new(PER_FILL, FillIds::Always, 64), true;

    /// (a) past the slot's memory, reports in any order: a resend whose ids the slot forgot
    /// (or that carries a fill id its original did not) lies where its fill's first report
    /// did, so it is a duplicate.
    running_totals_book_each_fill_once_past_the_memory,
    running_totals_book_each_fill_once_past_the_memory_when_the_order_ends:
        Venue::new(PER_FILL, FillIds::PerReport, 80), true;

    /// (b) Running totals only: each report books the growth of the total over what is
    /// booked; a total not above it is stale.
    totals_only_book_the_highest_total,
    totals_only_book_the_highest_total_when_the_order_ends:
        Venue::new(TOTAL_ONLY, FillIds::PerReport, 80), false;

    /// (c) Per-fill reports with running totals mixed with total-only reports, past the
    /// memory, in any order: a fill a total-only report covered is a duplicate when its own
    /// report comes, and a total-only report books what no report covered yet.
    per_fill_and_total_only_reports_book_each_fill_once,
    per_fill_and_total_only_reports_book_each_fill_once_when_the_order_ends:
        Venue::new(PER_FILL_OR_TOTAL, FillIds::PerReport, 80), false;

    /// (d) Per-fill reports with fill ids and no running totals: a resend is known by its
    /// fill id while the slot remembers it (the last 64 fill ids), so at most 64 fills. A
    /// report with neither a fill id nor a running total cannot be told from a new fill and
    /// is not generated.
    fill_ids_without_totals_book_each_fill_once,
    fill_ids_without_totals_book_each_fill_once_when_the_order_ends:
        Venue::new(NO_TOTAL, FillIds::Always, 64), true;

    /// (c) with each fill's original report in the venue's order, its resends anywhere after it.
    per_fill_and_total_only_reports_in_order_book_each_fill_once,
    per_fill_and_total_only_reports_in_order_book_each_fill_once_when_the_order_ends:
        Venue { delivery: Delivery::OriginalsInOrder, ..Venue::new(PER_FILL_OR_TOTAL, FillIds::PerReport, 80) },
        false;
}

/// A fresh kernel with one entry of `size` sent; its client order id.
fn entry_of(size: f64) -> (Kernel, Id) {
    let mut k = Kernel::new("honest", 1).unwrap();
    let enter = Intent::new(
        "enter",
        "trade",
        0,
        "BTC",
        TradeSide::Long,
        KernelCommandType::Enter,
        100.0,
        size,
    );
    let order = k.process_intent(&enter).submit.expect("the entry goes out");
    (k, order.client_order_id)
}

/// A fill of `order`, PARTIALLY_FILLED: the kernel completes an order by its sizes, and one
/// stating FILLED short of its order's size would end the order.
fn fill(order: &Id, event_id: &str, fill_id: &str, size: f64, filled_size: f64) -> VenueEvent {
    let mut e = VenueEvent::new(event_id, KernelEventKind::Fill, order);
    e.status = VenueOrderStatus::PartiallyFilled;
    e.fill_id = id(fill_id);
    e.price = 100.0;
    e.size = size;
    e.filled_size = filled_size;
    e
}

/// Feeds `events` in turn; each one's diagnostic and the booked size after it.
fn feed(k: &mut Kernel, events: &[VenueEvent]) -> Vec<(KernelDiagnosticCode, f64)> {
    events
        .iter()
        .map(|e| (k.on_venue_event(e).diagnostic_code, booked(k)))
        .collect()
}

use KernelDiagnosticCode::{DuplicateEvent as Dup, Ok as Booked};

#[test]
fn a_fill_a_total_only_report_covered_is_a_duplicate_even_where_it_would_overfill() {
    // One fill of 6 on an order of 10, reported as a total (6) and then as the fill (6, total
    // 6): the second is the same fill, whatever the order has left, not an overfill.
    let (mut k, o) = entry_of(10.0);
    let got = feed(
        &mut k,
        &[fill(&o, "e1", "", 0.0, 6.0), fill(&o, "e2", "F1", 6.0, 6.0)],
    );
    assert_eq!(got, [(Booked, 6.0), (Dup, 6.0)]);
    // On an order of 12, where booking it would stay within the order, the same.
    let (mut k, o) = entry_of(12.0);
    let got = feed(
        &mut k,
        &[fill(&o, "e1", "", 0.0, 6.0), fill(&o, "e2", "F1", 6.0, 6.0)],
    );
    assert_eq!(got, [(Booked, 6.0), (Dup, 6.0)]);
}

#[test]
fn a_fill_resent_without_its_fill_id_is_a_duplicate_by_its_running_total() {
    // Fills of 1, 2 and 3 (running totals 1, 3, 6) on an order of 10; the third's report comes
    // first, and the first fill's is resent under a new event id without its fill id.
    // docs/reference/venue-misbehaviour.md: a fill resent under a new event id without its fill_id,
    // with its running total, is DUPLICATE_EVENT. The kernel books it (5), then refuses the second,
    // real fill as a duplicate (it would pass the 6 stated): 5 booked of 6 filled.
    let (mut k, o) = entry_of(10.0);
    let got = feed(
        &mut k,
        &[
            fill(&o, "e3", "F3", 3.0, 6.0),
            fill(&o, "e1", "F1", 1.0, 1.0),
            fill(&o, "e1-resent", "", 1.0, 1.0),
            fill(&o, "e2", "F2", 2.0, 3.0),
        ],
    );
    assert_eq!(
        got,
        [(Booked, 3.0), (Booked, 4.0), (Dup, 4.0), (Booked, 6.0)]
    );
    // The other way round (the resend carries the id its original left out) is the same.
    let (mut k, o) = entry_of(10.0);
    let got = feed(
        &mut k,
        &[
            fill(&o, "e3", "", 3.0, 6.0),
            fill(&o, "e1", "", 1.0, 1.0),
            fill(&o, "e1-resent", "F1", 1.0, 1.0),
            fill(&o, "e2", "", 2.0, 3.0),
        ],
    );
    assert_eq!(
        got,
        [(Booked, 3.0), (Booked, 4.0), (Dup, 4.0), (Booked, 6.0)]
    );
}

#[test]
fn a_total_only_report_after_a_later_fills_report_books_too_little() {
    // Fills of 1, 2 and 3 (running totals 1, 3, 6) on an order of 10, the third reported
    // first as a fill (3, total 6), the first two only as totals (1, then 3). The kernel
    // takes both totals as stale ("not above what is known": 3 booked) although the 3
    // booked are the third fill, which the venue said came after a total of 3: 3 booked of 6.
    let (mut k, o) = entry_of(10.0);
    let got = feed(
        &mut k,
        &[
            fill(&o, "e3", "", 3.0, 6.0),
            fill(&o, "e1", "", 0.0, 1.0),
            fill(&o, "e2", "", 0.0, 3.0),
        ],
    );
    assert_eq!(got, [(Booked, 3.0), (Booked, 4.0), (Booked, 6.0)]);
    // Also when every fill is reported as a fill too: 1, 2, 3 and 4 (totals 1, 3, 6, 10), the
    // fourth first, then the third's total (6) books 6 - 4 = 2 where 6 was owed; the fills'
    // own reports then book 1 and 2 and the third (3) is refused, passing the 10 stated.
    let (mut k, o) = entry_of(12.0);
    let got = feed(
        &mut k,
        &[
            fill(&o, "e4", "", 4.0, 10.0),
            fill(&o, "e3-total", "", 0.0, 6.0),
            fill(&o, "e1", "", 1.0, 1.0),
            fill(&o, "e2", "", 2.0, 3.0),
            fill(&o, "e3", "", 3.0, 6.0),
        ],
    );
    assert_eq!(got.last(), Some(&(Dup, 10.0)), "{got:?}");
}

#[test]
fn a_fill_reported_late_is_not_refused_for_a_resend_booked_in_its_place() {
    // 65 fills of 1, then two of 2 (running totals 1..65, 67, 69) on an order of 100. The last
    // fill's report comes first (total 69), then the first 65; the first fill is then resent under
    // a new event id (its running total has left the slot's 64-entry memory), and the 66th fill's
    // report comes last. Fills out of order are each applied. The kernel books the resend (within
    // the 69 stated) and refuses the 66th fill as a duplicate: 68 booked of 69, the first fill
    // twice and the 66th not at all.
    let (mut k, o) = entry_of(100.0);
    let mut events = vec![fill(&o, "e67", "", 2.0, 69.0)];
    events.extend((1..=65).map(|n| fill(&o, &format!("e{n}"), "", 1.0, f64::from(n))));
    events.push(fill(&o, "e1-resent", "", 1.0, 1.0));
    events.push(fill(&o, "e66", "", 2.0, 67.0));
    let got = feed(&mut k, &events);
    assert_eq!(got[65], (Booked, 67.0));
    assert_eq!(&got[66..], [(Dup, 67.0), (Booked, 69.0)]);
}

#[test]
fn a_kept_orders_fill_resent_without_its_fill_id_is_a_duplicate_by_its_running_total() {
    kept_order_resend(|_| {});
    // The same across a checkpoint taken while the order is kept.
    kept_order_resend(|k| {
        use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
        *k = decode_kernel(&encode_kernel(k)).unwrap();
    });
}

fn kept_order_resend(between: impl FnOnce(&mut Kernel)) {
    // Fills of 1, 2 and 3 (running totals 1, 3, 6) on an order of 10; the first and third are
    // reported, then the order is canceled and its cancel ack says 6 filled: it is kept for
    // the 2 owed. The first fill is resent under a new event id without its fill id, then
    // the second fill's report comes. The kept order carries its reports' intervals, so the
    // resend is a duplicate and the real fill is booked (not the resend booked, 5, and the
    // real fill refused as an OVERFILL, CRITICAL, against the 6 the ack stated).
    let (mut k, o) = entry_of(10.0);
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &o);
    ack.venue_order_id = id("V1");
    assert!(k.on_venue_event(&ack).accepted);
    let got = feed(
        &mut k,
        &[
            fill(&o, "e1", "F1", 1.0, 1.0),
            fill(&o, "e3", "F3", 3.0, 6.0),
        ],
    );
    assert_eq!(got, [(Booked, 1.0), (Booked, 4.0)]);
    let cancel = intent_on_slot("cancel", "trade", KernelCommandType::Cancel);
    assert!(k.process_intent(&cancel).accepted);
    let mut canceled = VenueEvent::new("c1", KernelEventKind::CancelAck, &o);
    canceled.filled_size = 6.0;
    assert!(k.on_venue_event(&canceled).accepted);
    between(&mut k);
    let got = feed(
        &mut k,
        &[
            fill(&o, "e1-resent", "", 1.0, 1.0),
            fill(&o, "e2", "F2", 2.0, 3.0),
        ],
    );
    assert_eq!(got, [(Dup, 4.0), (Booked, 6.0)]);
}

#[test]
fn a_fill_the_totals_counted_is_a_duplicate_after_a_fill_without_a_total() {
    counted_then_unplaced(false, |_| {});
    counted_then_unplaced(true, |_| {});
    // The same across a checkpoint taken after the fill without a total.
    for cancel in [false, true] {
        counted_then_unplaced(cancel, |k| {
            use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
            *k = decode_kernel(&encode_kernel(k)).unwrap();
        });
    }
}

fn counted_then_unplaced(cancel: bool, between: impl FnOnce(&mut Kernel)) {
    // Fills A of 4 and B of 2 (running totals 4, 6) on an order of 10: a total-only report of
    // 4 counts A, whose own report is then a duplicate; B comes without a running total, so it
    // may be any fill the totals left uncovered. A resent with its total still lies wholly in
    // what they counted: a duplicate, working or (`cancel`) kept after the order ended, while a
    // fill with a total beyond them (C of 1, total 7) is booked.
    let (mut k, o) = entry_of(10.0);
    let got = feed(
        &mut k,
        &[
            fill(&o, "s1", "", 0.0, 4.0),
            fill(&o, "a1", "A", 4.0, 4.0),
            fill(&o, "b1", "B", 2.0, 0.0),
        ],
    );
    assert_eq!(got, [(Booked, 4.0), (Dup, 4.0), (Booked, 6.0)]);
    if cancel {
        let intent = intent_on_slot("cancel", "trade", KernelCommandType::Cancel);
        assert!(k.process_intent(&intent).accepted);
        let canceled = VenueEvent::new("c1", KernelEventKind::CancelAck, &o);
        assert!(k.on_venue_event(&canceled).accepted);
    }
    between(&mut k);
    let got = feed(
        &mut k,
        &[
            fill(&o, "a2", "A", 4.0, 4.0),
            fill(&o, "a3", "", 4.0, 4.0),
            fill(&o, "f-c", "C", 1.0, 7.0),
        ],
    );
    assert_eq!(got, [(Dup, 6.0), (Dup, 6.0), (Booked, 7.0)]);
}

#[test]
fn a_fill_within_the_total_its_order_filled_at_is_a_duplicate_after_the_order_ended() {
    // A total-only report of 10 completes an order of 10; its fills' own reports (A of 6 at
    // total 6, B of 3 at total 9) come after: they lie in what the total counted, also across
    // a checkpoint. One with a total above it (C of 1 at total 11) is money the slot does not
    // show.
    for across_checkpoint in [false, true] {
        let (mut k, o) = entry_of(10.0);
        assert_eq!(
            feed(&mut k, &[fill(&o, "s1", "", 0.0, 10.0)]),
            [(Booked, 10.0)]
        );
        if across_checkpoint {
            use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
            k = decode_kernel(&encode_kernel(&k)).unwrap();
        }
        let got = feed(
            &mut k,
            &[fill(&o, "a1", "A", 6.0, 6.0), fill(&o, "b1", "B", 3.0, 9.0)],
        );
        assert_eq!(
            got,
            [(Dup, 10.0), (Dup, 10.0)],
            "checkpoint: {across_checkpoint}"
        );
        let over = k.on_venue_event(&fill(&o, "c1", "C", 1.0, 11.0));
        assert_eq!(over.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
        assert_eq!(over.severity, KernelSeverity::Critical);
    }
}

#[test]
fn a_partly_new_report_is_charged_the_fee_of_the_part_it_books() {
    // Fills of 2 (running total 2, fee 0.2), then a report of 3 at total 3 (fee 0.3): it
    // overlaps the first (`Covered`), so only 1 is new and booked. Its fee is the whole
    // report's, 0.2 of which the first report charged: charged whole, the account would pay
    // 0.5 for 3 at a rate that costs 0.3.
    let with_fee = |e: VenueEvent, fee: f64| VenueEvent {
        fee: Some(fee),
        ..e
    };
    let detail = |out: &KernelOutcome, f: &str| {
        out.details
            .iter()
            .find(|(n, _)| *n == f)
            .map(|d| d.1.clone())
    };
    let (mut k, o) = entry_of(10.0);
    let first = k.on_venue_event(&with_fee(fill(&o, "e1", "F1", 2.0, 2.0), 0.2));
    let second = k.on_venue_event(&with_fee(fill(&o, "e2", "F2", 3.0, 3.0), 0.3));
    assert!(first.accepted && second.accepted);
    assert_eq!(booked(&k), 3.0);
    let paid = k.slots()[0].fees_paid;
    assert!(close(paid, 0.2 + 0.1), "paid {paid}");
    assert!(close(k.account.k_fees_paid, 0.2 + 0.1));
    // A report booked whole is charged its fee as given, and says nothing of it.
    assert_eq!(detail(&first, "fee_charged"), None);
    assert_eq!(first.transitions[0].details.get("fee_charged"), None);
    let Some(Detail::F64(c)) = detail(&second, "fee_charged") else {
        panic!("{second:?}")
    };
    assert!(close(c, 0.1), "{c}");
    assert_eq!(detail(&second, "reported_fee"), Some(Detail::F64(0.3)));
    assert_eq!(detail(&second, "booked_qty"), Some(Detail::F64(1.0)));
    // The fill's transition says it too: an intent's outcome keeps no details of the fills
    // the venue answered it with, and the runtime tells the fee by it.
    let told = &second.transitions[0].details;
    assert_eq!(told.get("fee_charged"), Some(DetailRef::F64(c)), "{told:?}");
    // A report booked whole is charged its fee exactly, a rebate too.
    let (mut k, o) = entry_of(10.0);
    assert!(
        k.on_venue_event(&with_fee(fill(&o, "e1", "F1", 3.0, 3.0), -0.07))
            .accepted
    );
    assert_eq!(k.slots()[0].fees_paid, -0.07);
}

/// An intent on the one slot of [`entry_of`]'s kernel.
fn intent_on_slot(intent_id: &str, trade: &str, action: KernelCommandType) -> Intent {
    let size = if action == KernelCommandType::Enter {
        1.0
    } else {
        0.0
    };
    long_btc(intent_id, trade, 0, action, size)
}

/// An entry of 10 whose one report is a fill of 2 at running total 5 (a fill of 3 before it
/// is on its way), canceled, the cancel acknowledged without a filled size; and the ack's
/// outcome.
fn ended_owing_three() -> (Kernel, Id, KernelOutcome) {
    let (mut k, o) = entry_of(10.0);
    assert_eq!(
        feed(&mut k, &[fill(&o, "f2", "", 2.0, 5.0)]),
        [(Booked, 2.0)]
    );
    let cancel = intent_on_slot("cancel", "trade", KernelCommandType::Cancel);
    assert!(k.process_intent(&cancel).accepted);
    let ack = well_formed_details(k.on_venue_event(&VenueEvent::new(
        "c1",
        KernelEventKind::CancelAck,
        &o,
    )));
    assert!(ack.accepted, "{ack:?}");
    (k, o, ack)
}

/// Exits slot 0's whole position (the exit acknowledged and filled at its size).
fn exit_all(k: &mut Kernel, n: &str) {
    let exit = intent_on_slot(&format!("exit-{n}"), "trade", KernelCommandType::Exit);
    let order = k.process_intent(&exit).submit.expect("the exit goes out");
    let fill = fill(
        &order.client_order_id,
        &format!("xf-{n}"),
        "",
        order.size,
        order.size,
    );
    assert!(k.on_venue_event(&fill).accepted);
}

#[test]
fn an_order_ended_without_a_figure_waits_for_the_total_its_reports_stated() {
    let detail = |out: &KernelOutcome, name: &str| {
        out.details
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let (mut k, o, ack) = ended_owing_three();
    assert_eq!(ack.severity, KernelSeverity::Warning);
    assert_eq!(detail(&ack, "reported_filled_size"), Some(Detail::F64(5.0)));
    assert_eq!(detail(&ack, "unreported_qty"), Some(Detail::F64(3.0)));
    assert_eq!(k.awaited_fill_qty(0), 3.0);
    assert_eq!(k.awaited_orders().len(), 1);
    // The 2 booked is exited (an entry owed does not block an exit); the slot, CLOSED, is not
    // offered, and a new trade on it is refused while the 3 is on its way.
    exit_all(&mut k, "1");
    assert_eq!(k.slots()[0].fsm_state, TradeStage::Closed);
    assert_eq!(k.free_slot(), None);
    let again = k.process_intent(&intent_on_slot(
        "enter-2",
        "trade-2",
        KernelCommandType::Enter,
    ));
    assert_eq!(again.diagnostic_code, KernelDiagnosticCode::SlotBusy);
    assert_eq!(detail(&again, "awaited_fill_qty"), Some(Detail::F64(3.0)));
    // The fill comes, and is booked on the order it is of; the wait is over.
    let late = k.on_venue_event(&fill(&o, "f1", "", 3.0, 3.0));
    assert!(late.accepted, "{late:?}");
    assert_eq!(k.slots()[0].size, 3.0);
    assert_eq!(k.awaited_fill_qty(0), 0.0);
    assert!(k.awaited_orders().is_empty());
}

#[test]
fn an_order_ended_without_its_filled_size_is_listed_for_a_reconciliation_to_ask_about() {
    let client_ids = |k: &Kernel| -> Vec<Id> {
        k.orders_ended_without_figure()
            .into_iter()
            .map(|o| o.client_order_id.clone())
            .collect()
    };
    let end = |k: &mut Kernel, o: &Id, filled: f64| {
        let cancel = intent_on_slot("cancel", "trade", KernelCommandType::Cancel);
        assert!(k.process_intent(&cancel).accepted);
        let mut ack = VenueEvent::new("c1", KernelEventKind::CancelAck, o);
        ack.filled_size = filled;
        assert!(k.on_venue_event(&ack).accepted);
    };
    // Canceled after a fill of 2 booked, the ack stating nothing (0), or less than is booked
    // (no bound): a fill may have raced the cancel, unreported. Listed, nothing awaited of it.
    for stated in [0.0, 1.0] {
        let (mut k, o) = entry_of(10.0);
        assert!(k.on_venue_event(&fill(&o, "f1", "F1", 2.0, 2.0)).accepted);
        assert!(client_ids(&k).is_empty(), "a working order is not listed");
        end(&mut k, &o, stated);
        assert_eq!(client_ids(&k), std::slice::from_ref(&o));
        assert!(k.awaited_orders().is_empty());
        // A late fill is booked; the order is still listed (its end never said), until the
        // slot starts a new trade and forgets it.
        assert!(k.on_venue_event(&fill(&o, "f2", "F2", 1.0, 3.0)).accepted);
        assert_eq!(client_ids(&k), std::slice::from_ref(&o));
        exit_all(&mut k, "1");
        let next = intent_on_slot("enter-2", "trade-2", KernelCommandType::Enter);
        assert!(k.process_intent(&next).accepted);
        assert!(client_ids(&k).is_empty());
    }
    // The ack stating what filled (what is booked): the venue said, nothing to ask.
    let (mut k, o) = entry_of(10.0);
    assert!(k.on_venue_event(&fill(&o, "f1", "F1", 2.0, 2.0)).accepted);
    end(&mut k, &o, 2.0);
    assert!(client_ids(&k).is_empty());
    // Owed a fill its reports stated: awaited (reconciled as such), not listed here.
    let (k, _, _) = ended_owing_three();
    assert_eq!(k.awaited_orders().len(), 1);
    assert!(client_ids(&k).is_empty());
    // Through a checkpoint, the listing is the same.
    let (mut k, o) = entry_of(10.0);
    end(&mut k, &o, 0.0);
    use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
    let k = decode_kernel(&encode_kernel(&k)).unwrap();
    assert_eq!(client_ids(&k), [o]);
}

#[test]
fn the_stated_total_is_no_bound_and_a_later_report_stating_more_raises_it() {
    // Owed 3 (total 5, 2 booked); a late fill of 1 at total 6 is booked, not an overfill,
    // and the slot now waits for 6 - 3; the fill of 3 (total 3) ends the wait.
    let (mut k, o, _) = ended_owing_three();
    assert_eq!(
        feed(&mut k, &[fill(&o, "f6", "F6", 1.0, 6.0)]),
        [(Booked, 3.0)]
    );
    assert_eq!(k.awaited_fill_qty(0), 3.0);
    // Through a checkpoint, the wait is kept.
    use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
    let mut k = decode_kernel(&encode_kernel(&k)).unwrap();
    assert_eq!(k.awaited_fill_qty(0), 3.0);
    assert_eq!(
        feed(&mut k, &[fill(&o, "f1", "", 3.0, 3.0)]),
        [(Booked, 6.0)]
    );
    assert_eq!(k.awaited_fill_qty(0), 0.0);
}

#[test]
fn an_exit_ended_without_a_figure_owing_a_stated_fill_blocks_the_next_exit() {
    // A position of 10; its exit of 10 reports a fill of 4 at running total 6 and is
    // canceled without a figure: 2 more of it sold, so the next exit would be sized on a
    // position the venue no longer holds. It waits; the missing fill ends the wait.
    let (mut k, o) = entry_of(10.0);
    assert_eq!(
        feed(&mut k, &[fill(&o, "ef", "", 10.0, 10.0)]),
        [(Booked, 10.0)]
    );
    let exit = intent_on_slot("exit-1", "trade", KernelCommandType::Exit);
    let x = k
        .process_intent(&exit)
        .submit
        .expect("the exit goes out")
        .client_order_id;
    assert_eq!(
        feed(&mut k, &[fill(&x, "x4", "", 4.0, 6.0)]),
        [(Booked, 6.0)]
    );
    let cancel = intent_on_slot("cancel", "trade", KernelCommandType::Cancel);
    assert!(k.process_intent(&cancel).accepted);
    let ack = k.on_venue_event(&VenueEvent::new("c1", KernelEventKind::CancelAck, &x));
    assert!(ack.accepted, "{ack:?}");
    assert_eq!(k.awaited_fill_qty(0), 2.0);
    let next = k.process_intent(&intent_on_slot("exit-2", "trade", KernelCommandType::Exit));
    assert_eq!(next.diagnostic_code, KernelDiagnosticCode::SlotBusy);
    assert_eq!(
        feed(&mut k, &[fill(&x, "x2", "", 2.0, 2.0)]),
        [(Booked, 4.0)]
    );
    assert_eq!(k.awaited_fill_qty(0), 0.0);
    let next = k.process_intent(&intent_on_slot("exit-3", "trade", KernelCommandType::Exit));
    assert!(next.accepted, "{next:?}");
}

#[test]
fn a_checkpoints_stated_total_must_name_a_kept_order_within_its_size() {
    use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
    let (k, _, _) = ended_owing_three();
    let state = encode_kernel(&k);
    let ours = vec![((0usize, true, false), 5.0f64)];
    let written = bincode::serialize(&ours).unwrap();
    // A kept order without a figure, its total within its size (10): taken.
    let with = |stated: Vec<((usize, bool, bool), f64)>| {
        let part = bincode::serialize(&stated).unwrap();
        decode_kernel(&with_part_replaced(&state, &written, &part)).map(|k| k.awaited_fill_qty(0))
    };
    assert_eq!(with(ours), Ok(3.0));
    for (stated, why) in [
        (vec![((0, false, false), 5.0)], "no kept exit"),
        (vec![((0, true, false), f64::NAN)], "not a number"),
        (vec![((0, true, false), 11.0)], "above the order's 10"),
        (vec![((0, true, false), 0.0)], "nothing"),
    ] {
        let err = with(stated).expect_err(why);
        assert!(err.contains("stated filled size"), "{why}: {err}");
    }
}

#[test]
fn slots_loaded_with_another_size_count_the_stated_fill_as_included() {
    // Owed 3 of a stated 5; the operator loads the venue's position of 5: the fill then
    // coming is one the loaded size holds, a duplicate, as after an end stating 5 (not an
    // OVERFILL, CRITICAL, bounded at the 2 booked, against a figure the venue never gave).
    let (mut k, o, _) = ended_owing_three();
    let mut slots = k.slots().to_vec();
    slots[0].size = 5.0;
    slots[0].initial_size = 5.0;
    k.replace_slots(slots).unwrap();
    assert_eq!(k.awaited_fill_qty(0), 0.0);
    let late = k.on_venue_event(&fill(&o, "f1", "", 3.0, 3.0));
    assert_eq!(late.diagnostic_code, Dup, "{late:?}");
    assert_eq!(k.slots()[0].size, 5.0);
}

/// An entry of 1 whose cancel is throttled before the venue acknowledged it (kept for its
/// late fills), then the venue's ack naming its venue id V9, then its fill naming
/// the order by V9 alone; each outcome's code, and the size booked.
fn acked_after_its_throttled_cancel() -> Vec<(KernelDiagnosticCode, f64)> {
    let (mut k, o) = entry_of(1.0);
    let cancel = intent_on_slot("cancel", "trade", KernelCommandType::Cancel);
    assert!(k.process_intent(&cancel).accepted);
    let mut throttled = VenueEvent::new("rl", KernelEventKind::RateLimited, &o);
    throttled.retry_after = 1.0;
    k.on_venue_event(&throttled);
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &o);
    ack.venue_order_id = id("V9");
    let mut by_venue_id = fill(&id(""), "f1", "x1", 1.0, 1.0);
    by_venue_id.venue_order_id = id("V9");
    let got = [ack, by_venue_id]
        .iter()
        .map(|e| {
            (
                well_formed_details(k.on_venue_event(e)).diagnostic_code,
                booked(&k),
            )
        })
        .collect();
    got
}

#[test]
fn a_late_ack_teaches_a_kept_order_its_venue_id() {
    // The ack is taken and the fill naming V9 is booked on the kept order: refused, the
    // venue's 1 would never reach the books.
    assert_eq!(
        acked_after_its_throttled_cancel(),
        [(Booked, 0.0), (Booked, 1.0)]
    );
}

#[test]
fn a_completed_orders_fill_resent_without_its_id_is_a_duplicate_not_a_lost_fill() {
    // The order's one fill, with its id and total, completes it; the venue resends it
    // without the id, naming the slot. Nothing is missing: not a fill of an ended order,
    // UNKNOWN_ORDER CRITICAL ("reconcile with the venue").
    let resend = || {
        let (mut k, o) = entry_of(0.8);
        assert_eq!(
            feed(&mut k, &[fill(&o, "e1", "a", 0.8, 0.8)]),
            [(Booked, 0.8)]
        );
        let mut again = fill(&o, "e2", "", 0.8, 0.8);
        again.slot_id = 0;
        let out = well_formed_details(k.on_venue_event(&again));
        (out.diagnostic_code, out.severity, booked(&k))
    };
    assert_eq!(resend(), (Dup, KernelSeverity::Info, 0.8));
}
