//! The kernel: slots, orders, account and guards, driven by inputs.
//!
//! Every input (intent, venue event, account event, mark price, control or config change)
//! gets the next sequence number and is handled by exactly one method; `apply` routes a
//! `KernelInput` to it, which is what the write-ahead log replays. Nothing is O(max_slots)
//! per call: free and open slots and orders are indexed.
//!
//! This file is the kernel's map: its state ([`Kernel`], each field saying what it holds),
//! its inputs ([`KernelInput`], [`Kernel::apply`]), what it answers when read, and how a slot
//! moves through the FSM table ([`Kernel::transition`]). Each input's handling lives in the
//! module named for it, listed at the end.

// A refusal is an outcome made whole and returned as the `Err` of an input's handler (see
// `Handled`), and of the checks that `?` hands it on from: large, and the answer anyway.
#![allow(clippy::result_large_err)]

use crate::account::{Account, Figures, JudgedFigures, StaleFigure, E_FIGURES, FIGURE_TIME_LEAD};
use crate::error::{
    check_number, check_numbers, check_timestamp, format_number, is_subnormal, timestamp_flaw,
    too_large, KernelError, KernelResult, LAST_DATETIME_SECOND, MAX_MAGNITUDE,
    NORMAL_BITS_LESS_ONE, SUBNORMAL_PRICE, TOO_LARGE,
};
use crate::fees::{
    round_down_to_step, round_price_to_tick, round_up_to_step, Calibration, FeeModel, Liquidity,
};
use crate::fsm::{self, next_stage, Ctx, Trigger};
use crate::journal::{AccountRow, ControlRow, FillRow, Outbox};
use crate::model::*;
use crate::risk::{
    cap_price, check_edge_freeze, reduce_only_exit_size, CapValue, ConfigValue, MarketLimits,
    RateWindow, RiskLimits, RiskRefusal, MIN_LEVERAGE,
};
use crate::types::*;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU64;

/// The version of the kernel's behaviour: how it judges every input. The write-ahead log
/// records it in each segment and checkpoint, and a build replays only records of its own
/// version (`wal::kernel_log`). Any change to what an input does bumps it.
pub const BEHAVIOUR_VERSION: u16 = 41;

/// The kernel's maps by id (client, venue and asset ids; kept-order keys), hashed on every
/// input. foldhash takes an id of up to 16 bytes in two multiplies where ahash's portable
/// fallback (what a build without AES target features gets) takes four, and is seeded at
/// random per map as ahash is: a venue's ids cannot be picked to collide beforehand.
type IdMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Quantities closer than this are equal (fills arrive as floats from venues).
pub const QTY_EPS: f64 = 1e-9;

/// Why the kernel asks on its own to cancel a working order: its CANCEL_REQUESTED transition's
/// reason, and the reason a venue's `cancel(order, reason=...)` is given.
pub const EDGE_FREEZE_CANCEL: &str = "edge_freeze";
pub const LATE_EXIT_FILL_CANCEL: &str = "late_exit_fill";

/// How many accepted intent ids the kernel remembers to refuse reuse.
pub const INTENT_MEMORY: usize = 100_000;
/// How many finished orders are remembered to recognise late events for them.
pub const FINISHED_ORDER_MEMORY: usize = 50_000;
/// How many predicted fees wait for the exchange's settlement at most.
pub const UNSETTLED_FILL_MEMORY: usize = 100_000;
/// How many ACCOUNT_UPDATE ids are remembered for duplicate detection (the events that move
/// money have a memory of their own, [`MONEY_EVENT_MEMORY`]).
pub const ACCOUNT_EVENT_MEMORY: usize = 10_000;
/// How many ids of the account events that move money (FUNDING_FEE, FILL_SETTLED) are
/// remembered, apart from the ACCOUNT_UPDATEs: those come far more often, and sharing one
/// memory they would push a payment's id out, so that its resend is booked again.
pub const MONEY_EVENT_MEMORY: usize = 100_000;
/// How many FILL_SETTLEDs that came before their fill are held for it at most
/// ([`EarlySettlements`]); past that the oldest is forgotten, and its fill keeps its
/// predicted fee.
pub const EARLY_SETTLEMENT_MEMORY: usize = 5_000;
/// How many keys of settled fills (by fill id and the asset their settlement named, each with
/// the fee too) are remembered: a settlement of one again at its fee, under another event id,
/// is refused as settled already (UNKNOWN_ORDER), not held for a fill that will not come.
pub const SETTLED_FILL_MEMORY: usize = 20_000;
/// How many ids of FUNDING_FEEs the money event memory forgot at the latest time
/// one had are kept ([`FundingTimes`]): a venue pays each asset's funding once at each time.
pub const FORGOTTEN_FUNDING_IDS: usize = 4_096;

/// The most a count in a checkpoint may say (2^62): one per input, a run at a million inputs a
/// second takes 146,000 years to reach it, and adding one to it never overflows.
pub const MAX_COUNT: u64 = 1 << 62;

/// How many inputs of each kind the kernel took, and what became of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub intents: u64,
    pub intents_accepted: u64,
    pub intents_refused: u64,
    pub venue_events: u64,
    pub venue_events_refused: u64,
    pub fills: u64,
    pub orders_submitted: u64,
    pub cancels_requested: u64,
    pub account_events: u64,
}

/// Everything that changes kernel state, as the write-ahead log records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum KernelInput {
    Intent(Intent),
    VenueEvent(VenueEvent),
    AccountEvent(AccountEvent),
    MarkPrice {
        asset: Id,
        price: f64,
        ts: f64,
    },
    EdgeUpdate {
        asset: Id,
        edge_bps: f64,
        ts: f64,
    },
    Control {
        mode: Option<ControlMode>,
        verbosity: Option<Verbosity>,
        debug: Option<bool>,
        source: String,
        ts: f64,
    },
    ExchangeConfig(Vec<(String, f64)>),
    SeedCapital(f64),
    MarketLimits {
        asset: Id,
        fields: Vec<(String, f64)>,
    },
    RiskLimits(RiskLimits),
    SlotMetadata {
        slot_id: i64,
        metadata: Metadata,
    },
    SlotExitLegs {
        slot_id: i64,
        ratios: Vec<f64>,
    },
    /// `reconcile_from_slots` ([`KernelInput::replace_slots`]): the slots, and what exit
    /// fills took of their legs, which each loaded slot keeps (a slot's own encoding leaves
    /// `leg_taken` out).
    ReplaceSlots {
        slots: Vec<TradeSlot>,
        legs: LegsTaken,
    },
    CalibrateFee {
        price: f64,
        qty: f64,
        actual_fee: f64,
        maker: bool,
    },
    /// The order counter moved to at least `through`, so the next client order id is past
    /// every id a run whose log lost its last records may have sent (`KernelLog`'s open).
    OrderIdsSkipped {
        through: u64,
    },
}

impl KernelInput {
    /// The record of `reconcile_from_slots(slots)`: the slots with what exits took of their
    /// legs beside them.
    pub fn replace_slots(slots: Vec<TradeSlot>) -> Self {
        let legs = LegsTaken::of(&slots);
        KernelInput::ReplaceSlots { slots, legs }
    }
}

/// Dirty keys for the projection, tracked only when a projection is attached.
#[derive(Clone, Debug, Default)]
pub struct Dirty {
    pub enabled: bool,
    flags: Vec<bool>,
    slots: Vec<usize>,
    pub account: bool,
    pub control: bool,
}

impl Dirty {
    #[inline]
    fn slot(&mut self, i: usize) {
        if self.enabled && !self.flags[i] {
            self.flags[i] = true;
            self.slots.push(i);
        }
    }

    pub fn drain(&mut self) -> (Vec<usize>, bool, bool) {
        for &i in &self.slots {
            self.flags[i] = false;
        }
        let out = (std::mem::take(&mut self.slots), self.account, self.control);
        self.account = false;
        self.control = false;
        out
    }
}

/// The execution kernel: its slots (one trade each), their orders, the account, the risk
/// limits and the memories that keep every venue report booked once.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// Set by `Kernel::new` and never after: every client order id begins with it, made from
    /// the head `order_ids` keeps (a checkpoint restores only into a kernel of the same id).
    pub kernel_id: String,
    /// The trade slots, by slot id: each holds one trade, its position and working order.
    slots: Vec<TradeSlot>,
    /// The slots free for a new trade (a free stage, no fill awaited), lowest first.
    free: SlotSet,
    /// The slots holding a position, by asset ([`OpenByAsset`]).
    open_by_asset: OpenByAsset,
    /// How many slots hold a position.
    open_count: usize,
    /// What `exit_reduces` decides by in O(1): see [`SideCounts`].
    sides: SideCounts,
    /// Working orders by client order id, to their slot ([`OrderIndex`]).
    by_client_id: OrderIndex,
    /// Working orders by the venue's order id, to their slot ([`VenueIndex`]).
    by_venue_id: VenueIndex,
    /// Fingerprints of recently finished orders' client ids (`fingerprint`) and venue ids
    /// (`venue_fingerprint`, of their own kind).
    finished_orders: FingerprintSet,
    /// Orders kept after they ended, for the fills that may still come ([`EndedOrders`]).
    ended: EndedOrders,
    /// Per slot, `[entry, exit]`: what the venue's reports of the slot's working order
    /// account for ([`Covered`]); None once a fill of the order was booked without a place in
    /// them.
    covered: Vec<[Option<Covered>; 2]>,
    /// Fingerprints of recently accepted intent ids.
    intents_seen: FingerprintSet,
    /// The ids of recent ACCOUNT_UPDATEs ([`ACCOUNT_EVENT_MEMORY`]).
    account_events_seen: RecentSet<Id>,
    /// The ids of accepted FUNDING_FEEs and FILL_SETTLEDs ([`MONEY_EVENT_MEMORY`]), apart
    /// from the ACCOUNT_UPDATEs' in `account_events_seen`.
    money_events_seen: RecentSet<Id>,
    /// Predicted fees waiting for the exchange's FILL_SETTLED, by fill id (and asset:
    /// [`Unsettled`]), oldest first.
    unsettled: FifoMap<Unsettled>,
    /// The FILL_SETTLEDs that came before their fill, held for it.
    early_settlements: EarlySettlements,
    /// The times of the FUNDING_FEEs the money event memory holds and forgot.
    funding_times: FundingTimes,
    /// The exchange's fees and the calibration learned from its settlements.
    pub fees: FeeModel,
    /// The account as the kernel books it (K) and as the exchange reports it (E).
    pub account: Account,
    /// The trading mode, journal verbosity and edge freeze.
    pub control: Control,
    /// The pre-trade risk limits.
    pub risk: RiskLimits,
    /// Each asset's lot step, tick and floors, where they differ from the exchange's.
    market_limits: IdMap<Id, MarketLimits>,
    /// Each asset's latest mark price (`mark_price`), whether or not a slot holds it: what the
    /// notional caps value a MARKET entry (or a SELL LIMIT one) at when it is above the entry's
    /// own price.
    marks: IdMap<Id, f64>,
    /// Per slot, the mark its entry was judged at ([`cap_price`]; 0: none), so what still works
    /// of it commits at the price it was judged at.
    entry_marks: Vec<f64>,
    /// What the slots commit towards the notional caps, by asset ([`AssetNotional`]).
    asset_notional: AssetNotional,
    /// What the slots commit towards the notional caps in all.
    total_notional: f64,
    /// The submit times the order-rate rule counts.
    rate: RateWindow,
    /// Every asset's last edge update, kept while the freeze rule is off too: the freeze holds
    /// while one is below the threshold, and a new threshold judges them all again.
    last_edges: BTreeMap<Id, f64>,
    /// The sequence number of the last input.
    seq: u64,
    /// The counter in the last client order id (`<kernel_id>-<n>`) made.
    order_counter: u64,
    /// The client order ids' `<kernel_id>-`, laid out on the first order (see `new_order`).
    order_ids: Option<CounterIds>,
    /// How many inputs of each kind came, and were taken or refused.
    pub counters: Counters,
    /// The journal's rows of the inputs, while a journal is attached and kept.
    pub outbox: Outbox,
    /// What changed for the projection, while one is attached.
    pub dirty: Dirty,
    /// Whether a journal is attached (the control plane may still hold journaling off).
    journal_attached: bool,
}

#[cold]
fn detail_field(field: &'static str, value: impl Into<Detail>) -> Details {
    vec![("field", Detail::Static(field)), ("value", value.into())]
}

/// How an input's handler answered: in the caller's outcome (`Ok`), which its common,
/// accepted paths fill in place, or with an answer it made whole (`Err`): a refusal, or a
/// rarer path's outcome, which the caller puts in place. `?` hands a check's refusal on.
type Handled = Result<(), KernelOutcome>;

/// Keeps the set of free slots as slot `sid` moves from stage `from` to `to`.
#[inline(always)]
fn update_free_set(free: &mut SlotSet, sid: usize, from: TradeStage, to: TradeStage) {
    let (was_free, is_free) = (fsm::is_free(from), fsm::is_free(to));
    if was_free && !is_free {
        free.remove(sid);
    } else if !was_free && is_free {
        free.insert(sid);
    }
}

impl Kernel {
    pub fn new(kernel_id: &str, max_slots: usize) -> KernelResult<Kernel> {
        if max_slots == 0 || max_slots > MAX_SLOTS {
            return Err(KernelError::invalid(
                "max_slots",
                max_slots,
                "must be between 1 and 1,000,000",
            ));
        }
        if kernel_id.is_empty() || kernel_id.len() > 200 || kernel_id.contains(char::is_whitespace)
        {
            return Err(KernelError::invalid(
                "kernel_id",
                format!("{kernel_id:?}"),
                "must be 1-200 bytes without whitespace",
            ));
        }
        Ok(Kernel {
            kernel_id: kernel_id.to_string(),
            slots: (0..max_slots).map(TradeSlot::new).collect(),
            free: (0..max_slots).collect(),
            open_by_asset: OpenByAsset::default(),
            open_count: 0,
            sides: SideCounts::current(),
            by_client_id: OrderIndex::default(),
            by_venue_id: VenueIndex::default(),
            finished_orders: FingerprintSet::new(FINISHED_ORDER_MEMORY),
            ended: EndedOrders::default(),
            covered: vec![[None, None]; max_slots],
            intents_seen: FingerprintSet::new(INTENT_MEMORY),
            account_events_seen: RecentSet::new(ACCOUNT_EVENT_MEMORY),
            money_events_seen: money_event_memory(),
            unsettled: FifoMap::new(UNSETTLED_FILL_MEMORY),
            early_settlements: EarlySettlements::default(),
            funding_times: FundingTimes::default(),
            fees: FeeModel::default(),
            account: Account::default(),
            control: Control::default(),
            risk: RiskLimits::default(),
            market_limits: IdMap::default(),
            marks: IdMap::default(),
            entry_marks: vec![0.0; max_slots],
            asset_notional: AssetNotional::default(),
            total_notional: 0.0,
            rate: RateWindow::default(),
            last_edges: BTreeMap::new(),
            seq: 0,
            order_counter: 0,
            order_ids: None,
            counters: Counters::default(),
            outbox: Outbox::default(),
            dirty: Dirty::default(),
            journal_attached: false,
        })
    }

    // ----- reading -------------------------------------------------------------------

    /// What slot `sid` waits for of fills the venue said happened on orders that ended (0
    /// when nothing): while above 0 the slot takes no new ENTER and is not offered as free.
    pub fn awaited_fill_qty(&self, sid: usize) -> f64 {
        self.ended.awaited(sid).unwrap_or(0.0)
    }

    /// What slot `sid` waits for of its entry's fills alone (see `awaited_fill_qty`): the
    /// notional caps count at least this of the entry, at its working price.
    pub fn awaited_entry_qty(&self, sid: usize) -> f64 {
        self.ended.owed(sid, true).unwrap_or(0.0)
    }

    /// What slot `sid`'s kept entry may still fill as the notional caps count it (0 when none
    /// is kept): all that is left of it while in doubt or ended without the venue's figure,
    /// else its fill owed. For tests that sum the caps over the kept orders.
    #[doc(hidden)]
    pub fn kept_entry_unsettled_qty(&self, sid: usize) -> f64 {
        self.ended
            .get((sid, true, false))
            .map_or(0.0, KeptOrder::unsettled)
    }

    /// Orders that ended with the venue reporting more filled than it has sent (their
    /// slots wait for those fills), with what is booked of each, and the orders in doubt
    /// (their slots wait for their status, [`Kernel::orders_in_doubt`]).
    pub fn awaited_orders(&self) -> Vec<&VenueOrder> {
        self.kept_orders(|k, _| !k.2 && self.ended.owed(k.0, k.1).is_some())
    }

    /// Slot `sid`'s kept order in doubt (see [`Kernel::orders_in_doubt`]), if any.
    pub fn order_in_doubt(&self, sid: usize) -> Option<&VenueOrder> {
        self.ended.in_doubt(sid, None)
    }

    /// Orders rate limited before the venue acknowledged them, with a cancel asked or
    /// acknowledged or filled after, whose status is not known: they may still work at the
    /// venue, and their slots take no new order until a late fill completes them or a
    /// reconciliation ends them.
    pub fn orders_in_doubt(&self) -> Vec<&VenueOrder> {
        if self.ended.in_doubt_count == 0 {
            return Vec::new();
        }
        self.kept_orders(|_, kept| kept.in_doubt)
    }

    /// Orders kept after they ended short of their size whose end stated no filled size (a
    /// cancel ack or expiry without one, or stating 0), owed nothing and not in doubt: a
    /// fill may have raced the end, and its report been lost with the process, so a
    /// reconciliation asks the venue what they filled. Those whose end stated the figure, or
    /// whose end came again stating it, are not listed: the venue said what filled, and the
    /// slot waits for any of it unbooked. Nor are those whose late fills completed them (short
    /// by no more than the venue's rounding, or [`QTY_EPS`]): nothing is left to ask about.
    pub fn orders_ended_without_figure(&self) -> Vec<&VenueOrder> {
        self.kept_orders(|k, kept| {
            let o = &kept.order;
            let short = o.remaining() > self.rounding(o).max(QTY_EPS);
            !k.2 && !kept.in_doubt && kept.final_filled.is_none() && kept.due() == 0.0 && short
        })
    }

    /// The ids of the fills whose fees wait for the venue's settlement (`k_unsettled_fees`):
    /// after a restart, a venue that lists the day's fees settles them (IBKR's executions).
    pub fn unsettled_fill_ids(&self) -> Vec<&str> {
        self.unsettled.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// The mark slot `slot_id`'s entry was judged at towards the notional caps (0 when none:
    /// its reference, or limit, alone).
    pub fn entry_cap_mark(&self, slot_id: usize) -> f64 {
        entry_mark(&self.entry_marks, slot_id)
    }

    pub fn max_slots(&self) -> usize {
        self.slots.len()
    }
    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn slot(&self, slot_id: usize) -> Option<&TradeSlot> {
        self.slots.get(slot_id)
    }
    pub fn slots(&self) -> &[TradeSlot] {
        &self.slots
    }
    pub fn free_slot(&self) -> Option<usize> {
        self.free.first()
    }
    /// Whether an intent of id `intent_id` would be refused as taken: the kernel remembers
    /// it among the last ids it accepted (an id pushed out of that memory is not taken).
    pub fn intent_taken(&self, intent_id: &str) -> bool {
        self.intents_seen.contains(&fingerprint(intent_id))
    }
    /// Whether slot `slot_id` is one `free_slot` may offer.
    pub fn slot_is_free(&self, slot_id: usize) -> bool {
        self.free.contains(slot_id)
    }
    pub fn open_positions(&self) -> usize {
        self.open_count
    }
    pub fn market_limits(&self, asset: &str) -> Option<&MarketLimits> {
        self.market_limits.get(asset)
    }
    /// What the notional caps count in all: the slots' `committed_notional` and what the
    /// kept entries may still fill (in doubt, owed a fill or ended without the venue's figure).
    pub fn total_committed_notional(&self) -> f64 {
        self.total_notional + self.committed_unsettled(None, None)
    }

    /// Orders at the venue, oldest slot first.
    /// The slots holding a position in `asset` (in every asset for None), in slot order: what
    /// a mark of it revalues, and with the working orders' slots, all a flatten touches.
    pub fn open_slot_ids(&self, asset: Option<&str>) -> Vec<usize> {
        match asset {
            Some(a) => self
                .open_by_asset
                .get(a)
                .map(|set| set.iter().collect())
                .unwrap_or_default(),
            None => {
                let mut ids: Vec<usize> =
                    self.open_by_asset.values().flat_map(|s| s.iter()).collect();
                ids.sort_unstable();
                ids
            }
        }
    }

    pub fn open_orders(&self) -> Vec<&VenueOrder> {
        let mut ids: Vec<usize> = self.by_client_id.values().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.iter()
            .filter_map(|&i| self.slots[i].active_order())
            .collect()
    }

    /// Sum of unrealized PnL and notional over open slots (O(open slots)), taken in slot order:
    /// the map of open slots by asset holds its assets in another order in a reopened kernel,
    /// and a sum taken in another order differs in its last digits, so the recovered kernel's
    /// account would not equal the live one's.
    pub fn open_totals(&self) -> (f64, f64) {
        let mut open: Vec<usize> = self
            .open_by_asset
            .values()
            .flat_map(|set| set.iter())
            .collect();
        open.sort_unstable();
        let mut upnl = 0.0;
        let mut notional = 0.0;
        for i in open {
            let s = &self.slots[i];
            upnl += s.unrealized_pnl;
            let px = if s.mark_price > 0.0 {
                s.mark_price
            } else {
                s.entry_price
            };
            notional += s.size * px;
        }
        (upnl, notional)
    }

    /// The account's equity: the kernel's capital and the open trades' unrealized PnL.
    pub fn equity(&self) -> f64 {
        self.account.k_capital() + self.open_totals().0
    }

    // ----- inputs --------------------------------------------------------------------

    /// Applies one recorded input; this is the replay path of the write-ahead log and the
    /// single entry point the bindings use, so live and replayed kernels cannot differ.
    pub fn apply(&mut self, input: &KernelInput) -> KernelResult<KernelOutcome> {
        Ok(match input {
            KernelInput::Intent(i) => self.process_intent(i),
            KernelInput::VenueEvent(e) => self.on_venue_event(e),
            KernelInput::AccountEvent(e) => self.on_account_event(e),
            KernelInput::MarkPrice { asset, price, ts } => {
                self.mark_price(asset, *price, *ts)?;
                self.simple_outcome()
            }
            KernelInput::EdgeUpdate {
                asset,
                edge_bps,
                ts,
            } => self.on_edge_update(asset, *edge_bps, *ts)?,
            KernelInput::Control {
                mode,
                verbosity,
                debug,
                source,
                ts,
            } => {
                self.update_control(*mode, *verbosity, *debug, source, *ts);
                self.simple_outcome()
            }
            KernelInput::ExchangeConfig(fields) => {
                self.set_exchange_config(fields)?;
                self.simple_outcome()
            }
            KernelInput::SeedCapital(c) => {
                self.set_seed_capital(*c)?;
                self.simple_outcome()
            }
            KernelInput::MarketLimits { asset, fields } => {
                self.set_market_limits(asset, fields)?;
                self.simple_outcome()
            }
            KernelInput::RiskLimits(r) => {
                self.set_risk_limits(r.clone());
                self.simple_outcome()
            }
            KernelInput::SlotMetadata { slot_id, metadata } => {
                self.set_slot_metadata(*slot_id, metadata.clone())?;
                self.simple_outcome()
            }
            KernelInput::SlotExitLegs { slot_id, ratios } => {
                self.set_slot_exit_legs(*slot_id, ratios)?;
                self.simple_outcome()
            }
            KernelInput::ReplaceSlots { slots, legs } => {
                // Refused naming the slot's field, as `replace_slots` refuses it.
                for &(sid, taken) in legs.entries() {
                    check_number(&format!("slots[{sid}].leg_taken"), taken, 0.0)?;
                }
                let mut slots = slots.clone();
                legs.set_on(&mut slots)
                    .map_err(|why| KernelError::invalid("legs", why, "must name the slots"))?;
                self.replace_slots(slots)?;
                self.simple_outcome()
            }
            KernelInput::CalibrateFee {
                price,
                qty,
                actual_fee,
                maker,
            } => {
                self.calibrate_fee(*price, *qty, *actual_fee, *maker)?;
                self.simple_outcome()
            }
            KernelInput::OrderIdsSkipped { through } => {
                self.skip_order_ids(*through);
                self.simple_outcome()
            }
        })
    }

    fn simple_outcome(&self) -> KernelOutcome {
        KernelOutcome::ok(-1, id(""), TradeStage::Idle, self.seq)
    }

    /// An `OK` outcome on slot `sid` as it stands now (its trade and stage).
    fn slot_outcome(&self, sid: usize, seq: u64) -> KernelOutcome {
        let slot = &self.slots[sid];
        KernelOutcome::ok(sid as i64, slot.trade_id.clone(), slot.fsm_state, seq)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Moves slot `sid` by `trigger` and records the transition in `out`, whose stage it
    /// sets; false, changing nothing, when the table has no such move. Inlined into its
    /// callers: most pass a constant trigger, so the table lookup folds to a check or two,
    /// and the transition and its details are built in place instead of moved in.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn transition(
        &mut self,
        out: &mut KernelOutcome,
        sid: usize,
        trigger: Trigger,
        ctx: Ctx,
        ts: f64,
        intent_id: &Id,
        event_id: &Id,
        details: TransitionDetails,
    ) -> bool {
        let slot = &mut self.slots[sid];
        let prev = slot.fsm_state;
        let Some(next) = next_stage(prev, trigger, ctx) else {
            return false;
        };
        slot.fsm_state = next;
        if ts > slot.last_event_time {
            slot.last_event_time = ts;
        }
        update_free_set(&mut self.free, sid, prev, next);
        push_transition(
            &mut out.transitions,
            ts,
            &slot.trade_id,
            sid,
            (prev, next, trigger),
            intent_id,
            event_id,
            details,
        );
        out.state = next;
        self.dirty.slot(sid);
        true
    }
}

// The kernel's modules, by responsibility; each says here what it holds.
// Account events: settlements of predicted fees, funding payments, balance updates.
mod account_events;
// The venue's acknowledgements of orders and cancels.
mod acks;
// CANCEL.
mod cancel;
// The checkpoint: the kernel's whole state as bytes, and back.
mod checkpoint;
// A copy of the kernel as a checkpoint holds it, for encoding on another thread.
mod checkpoint_copy;
// The memory of orders kept after they ended: by slot, client and venue id, and counted.
mod ended_orders;
// ENTER.
mod enter;
// EXIT.
mod exit;
// Exit legs: what a leg exit sends, and the next leg once one is done.
mod exit_legs;
// What the venue's fill reports cover, so each fill books once, and the keys fills are
// remembered by.
mod fill_reports;
// A fill booked on the slot's position and the account, its fee left waiting for settlement.
mod fill_booking;
// An order a fill completes: remembered, finished, taken off its slot, or ended short.
mod filled_orders;
// Fills of working orders: planned before anything changes, booked, answered.
mod fills;
// Settlements held for the fills they name, and the memory of fills settled.
mod held_settlements;
// The indexes by id (working orders by client and venue id) and the values by asset.
mod indexes;
// The checks every intent meets, and its routing to ENTER, EXIT or CANCEL.
mod intents;
// Orders kept as they end, their late acks and ends, and what their slots await.
mod kept_orders;
// Late fills of orders kept after they ended: sized, refused or booked.
mod late_fills;
// Market data, control and configuration: marks, the edge freeze, the mode, limits.
mod market;
// The venue's market rules applied to an order: lot, tick and floor.
mod market_rules;
// Reduce-only netting: whether an exit may go out reduce-only, in O(1).
mod netting;
// The end of a working order: a cancel ack, reject, expiry or rate limit.
mod order_ends;
// The order a venue event names, and the refusal of one naming no order the kernel holds.
mod order_lookup;
// Building and sending an order: its id, its fields, its transitions and indexes.
mod orders;
// The pre-trade risk checks as the kernel asks them, and what each slot commits.
mod risk_checks;
// Fees waiting for the exchange's settlement, how a settlement settles them, funding times.
mod settlement;
// Loading slots from outside, and the slot settings a strategy changes.
mod slot_loading;
// The checks a venue event meets before its handler: its id, numbers, order and stage.
mod venue_event_checks;
// Venue events: taken in, routed to the order they name, and handed to their handler.
mod venue_events;

pub use account_events::check_account_event_fields;
#[cfg(test)]
pub(crate) use checkpoint::encode_before_39;
pub use checkpoint::{
    decode as decode_checkpoint, decode_version, encode as encode_checkpoint, Migration, MIGRATIONS,
};
pub use checkpoint_copy::CheckpointCopy;
pub use held_settlements::EarlySettlement;
pub use intents::validate_leg_ratios;
pub use market::{check_mark_price, Control};
pub use settlement::{asset_print, FundingTimes, PredictedRate, Unsettled, UnsettledFill};
pub use slot_loading::{check_slot_fields, LegsTaken};

use ended_orders::*;
use enter::*;
use exit_legs::*;
use fill_booking::*;
use fill_reports::*;
use fills::*;
use held_settlements::*;
use indexes::*;
use intents::*;
use market_rules::*;
use netting::*;
use order_ends::*;
use order_lookup::*;
use risk_checks::*;
use settlement::*;
use slot_loading::*;
use venue_event_checks::*;
use venue_events::*;

#[cfg(test)]
mod tampering;

#[cfg(test)]
mod fill_size_props;

#[cfg(test)]
mod kept_entries_props;

#[cfg(test)]
mod order_index_props;

#[cfg(test)]
mod unsettled_props;

#[cfg(test)]
mod venue_index_props;

#[cfg(test)]
mod tests;
