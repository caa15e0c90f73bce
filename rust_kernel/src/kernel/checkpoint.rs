//! The checkpoint: a kernel's whole state as bytes, and back.
//!
//! A checkpoint is the kernel's core fields ([`Core`]) followed by the parts of [`PARTS`], each
//! one bincode value, in the table's order. Each part's encoder and decoder sit side by side
//! in the table; a part is decoded onto the kernel the parts before it made and checked as it
//! goes in, so a state from a buggy writer is refused naming what is wrong instead of
//! panicking on a later input. The write-ahead log stores these bytes (`wal::kernel_log`).
//!
//! A checkpoint is written under [`BEHAVIOUR_VERSION`]. [`decode_version`] reads the
//! checkpoints of the versions [`MIGRATIONS`] lists too, migrating their state as data: this is
//! how a log written by an earlier build opens here, from the checkpoint its clean stop wrote.

use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU64;

use ahash::AHashMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::*;
use crate::fees::CalibrationByLiquidity;

/// The behaviour versions whose checkpoints this build reads besides its own, each with what
/// turns its state into today's. 36, 37 and 38 wrote the first [`PARTS_BEFORE_39`] parts this
/// build writes, in the same layout, so their state loads as it stands (a part or field they
/// lacked gets its default here).
pub const MIGRATIONS: [(u16, Migration); 3] = [
    (36, decode_before_39),
    (37, decode_before_39),
    (38, decode_before_39),
];

/// How many of [`PARTS`] the checkpoints of versions 36 to 38 hold.
const PARTS_BEFORE_39: usize = 16;

/// What reads a checkpoint of an earlier behaviour version into today's state.
pub type Migration = fn(&[u8]) -> Result<Kernel, String>;

/// Reads a checkpoint written under behaviour version `version`: this build's own, or one of
/// [`MIGRATIONS`]. Any other is refused, naming the versions this build reads.
pub fn decode_version(state: &[u8], version: u16) -> Result<Kernel, String> {
    if version == BEHAVIOUR_VERSION {
        return decode(state);
    }
    match MIGRATIONS.iter().find(|(v, _)| *v == version) {
        Some((_, migrate)) => migrate(state),
        None => Err(format!(
            "a checkpoint of behaviour version {version}, which this build (version \
             {BEHAVIOUR_VERSION}) does not read: it reads {BEHAVIOUR_VERSION} and {}",
            MIGRATIONS
                .iter()
                .map(|(v, _)| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The kernel's fields a checkpoint holds first, by reference, in the order [`Core`] reads them.
#[derive(Serialize)]
struct CoreRef<'a> {
    kernel_id: &'a String,
    slots: &'a Vec<TradeSlot>,
    free: &'a SlotSet,
    open_by_asset: &'a OpenByAsset,
    open_count: usize,
    by_client_id: &'a OrderIndex,
    by_venue_id: &'a VenueIndex,
    finished_orders: &'a FingerprintSet,
    intents_seen: &'a FingerprintSet,
    account_events_seen: &'a RecentSet<Id>,
    unsettled: &'a FifoMap<Unsettled>,
    fees: &'a FeeModel,
    account: &'a Account,
    control: &'a Control,
    risk: &'a RiskLimits,
    market_limits: &'a IdMap<Id, MarketLimits>,
    asset_notional: &'a AssetNotional,
    total_notional: f64,
    rate: &'a RateWindow,
    seq: u64,
    order_counter: u64,
    counters: &'a Counters,
}

/// The kernel's core fields as a checkpoint holds them ([`CoreRef`] wrote them).
#[derive(Deserialize)]
struct Core {
    kernel_id: String,
    slots: Vec<TradeSlot>,
    free: SlotSet,
    open_by_asset: OpenByAsset,
    open_count: usize,
    by_client_id: OrderIndex,
    by_venue_id: VenueIndex,
    finished_orders: FingerprintSet,
    intents_seen: FingerprintSet,
    account_events_seen: RecentSet<Id>,
    #[serde(deserialize_with = "unsettled_fills")]
    unsettled: FifoMap<Unsettled>,
    fees: FeeModel,
    account: Account,
    control: Control,
    risk: RiskLimits,
    market_limits: IdMap<Id, MarketLimits>,
    asset_notional: AssetNotional,
    total_notional: f64,
    rate: RateWindow,
    seq: u64,
    order_counter: u64,
    counters: Counters,
}

/// The unsettled fills as a checkpoint holds them: the live fills by id, and the queue of
/// their places.
#[derive(Deserialize)]
struct UnsettledRepr {
    unsettled: AHashMap<Id, Unsettled>,
    unsettled_order: VecDeque<Id>,
}

fn unsettled_fills<'de, D: serde::Deserializer<'de>>(d: D) -> Result<FifoMap<Unsettled>, D::Error> {
    let r = UnsettledRepr::deserialize(d)?;
    Ok(FifoMap::from_parts(
        r.unsettled,
        r.unsettled_order,
        UNSETTLED_FILL_MEMORY,
    ))
}

impl Core {
    fn of(k: &Kernel) -> CoreRef<'_> {
        CoreRef {
            kernel_id: &k.kernel_id,
            slots: &k.slots,
            free: &k.free,
            open_by_asset: &k.open_by_asset,
            open_count: k.open_count,
            by_client_id: &k.by_client_id,
            by_venue_id: &k.by_venue_id,
            finished_orders: &k.finished_orders,
            intents_seen: &k.intents_seen,
            account_events_seen: &k.account_events_seen,
            unsettled: &k.unsettled,
            fees: &k.fees,
            account: &k.account,
            control: &k.control,
            risk: &k.risk,
            market_limits: &k.market_limits,
            asset_notional: &k.asset_notional,
            total_notional: k.total_notional,
            rate: &k.rate,
            seq: k.seq,
            order_counter: k.order_counter,
            counters: &k.counters,
        }
    }

    /// The kernel these fields make, every other field as a new kernel has it until the parts
    /// after the core fill it in.
    fn into_kernel(self) -> Kernel {
        let n = self.slots.len();
        Kernel {
            kernel_id: self.kernel_id,
            slots: self.slots,
            free: self.free,
            open_by_asset: self.open_by_asset,
            open_count: self.open_count,
            // Counted again from the slots once every part is in (`decode`).
            sides: SideCounts::default(),
            by_client_id: self.by_client_id,
            by_venue_id: self.by_venue_id,
            finished_orders: self.finished_orders,
            ended: EndedOrders::default(),
            covered: vec![[None, None]; n],
            intents_seen: self.intents_seen,
            account_events_seen: self.account_events_seen,
            money_events_seen: money_event_memory(),
            unsettled: self.unsettled,
            early_settlements: EarlySettlements::default(),
            funding_times: FundingTimes::default(),
            fees: self.fees,
            account: self.account,
            control: self.control,
            risk: self.risk,
            market_limits: self.market_limits,
            marks: IdMap::default(),
            entry_marks: vec![0.0; n],
            asset_notional: self.asset_notional,
            total_notional: self.total_notional,
            rate: self.rate,
            edge_below: BTreeMap::new(),
            seq: self.seq,
            order_counter: self.order_counter,
            order_ids: None,
            counters: self.counters,
            outbox: Outbox::default(),
            dirty: Dirty::default(),
            journal_attached: false,
        }
    }
}

/// One part of a checkpoint after the core: what it holds (as an audit names a difference in
/// it), how it is written, and how it is read back onto the kernel.
pub(crate) struct Part {
    pub holds: &'static str,
    encode: fn(&Kernel, &mut Vec<u8>),
    decode: fn(&mut Kernel, &mut &[u8]) -> Result<(), String>,
}

impl Part {
    /// The part's bytes for `kernel`.
    pub(crate) fn bytes(&self, kernel: &Kernel) -> Vec<u8> {
        let mut out = Vec::new();
        (self.encode)(kernel, &mut out);
        out
    }
}

/// The parts after the core, in the order they are written and read.
pub(crate) const PARTS: [Part; 18] = [
    Part {
        holds: "orders kept for late fills",
        encode: |k, out| write_value(out, &k.ended_orders()),
        decode: |k, bytes| k.restore_ended_orders(read_value(bytes)?),
    },
    Part {
        holds: "fills covered by the venue's reports",
        encode: |k, out| write_value(out, &k.covered_fills()),
        decode: |k, bytes| k.restore_covered_fills(read_value(bytes)?),
    },
    Part {
        holds: "fills the kept orders' reports stated",
        encode: |k, out| write_value(out, &k.stated_totals()),
        decode: |k, bytes| k.restore_stated_totals(read_value(bytes)?),
    },
    Part {
        holds: "kept orders of unknown status",
        encode: |k, out| write_value(out, &k.in_doubt_keys()),
        decode: |k, bytes| k.restore_in_doubt(read_value(bytes)?),
    },
    Part {
        holds: "unsettled fills",
        encode: |k, out| write_value(out, &k.unsettled_details()),
        decode: |k, bytes| k.restore_unsettled_details(read_value(bytes)?),
    },
    Part {
        holds: "fee calibration by liquidity",
        encode: |k, out| write_value(out, &k.fees.calibration_by_liquidity()),
        decode: |k, bytes| k.restore_calibration_by_liquidity(read_value(bytes)?),
    },
    Part {
        holds: "what exits took of the slots' legs",
        encode: |k, out| write_value(out, &LegsTaken::of(&k.slots)),
        decode: |k, bytes| read_value::<LegsTaken>(bytes)?.set_on(&mut k.slots),
    },
    Part {
        holds: "the unsettled fills' fee rates",
        encode: |k, out| write_value(out, &k.unsettled_rates()),
        decode: |k, bytes| k.restore_unsettled_rates(read_value(bytes)?),
    },
    Part {
        holds: "the assets whose edge is below the freeze threshold",
        encode: |k, out| write_value(out, &k.edge_below),
        decode: |k, bytes| k.restore_edge_below(read_value(bytes)?),
    },
    Part {
        holds: "the ids of the account events that moved money",
        encode: |k, out| write_value(out, &k.money_events()),
        decode: |k, bytes| k.restore_money_events(read_value(bytes)?),
    },
    Part {
        holds: "how many of each slot's remembered events its trade wrote",
        encode: |k, out| write_value(out, &k.trade_event_counts()),
        decode: |k, bytes| k.restore_trade_event_counts(read_value(bytes)?),
    },
    Part {
        holds: "the times of the exchange's account figures",
        encode: |k, out| write_value(out, &k.account.e_taken_at),
        decode: |k, bytes| k.account.restore_taken_at(read_value(bytes)?),
    },
    Part {
        holds: "the latest time an accepted intent or venue event, or a mark price, was stamped",
        encode: |k, out| write_value(out, &k.account.input_time),
        decode: |k, bytes| k.account.restore_input_time(read_value(bytes)?),
    },
    Part {
        holds: "the settlements held for their fills",
        encode: |k, out| write_value(out, &k.early_settlements()),
        decode: |k, bytes| k.restore_early_settlements(read_value(bytes)?),
    },
    Part {
        holds: "the times of the funding payments remembered and forgotten",
        encode: |k, out| write_value(out, &k.funding_times),
        decode: |k, bytes| k.restore_funding_times(read_value(bytes)?),
    },
    Part {
        holds: "the mark prices by asset, and those the slots' entries were judged at",
        encode: |k, out| write_value(out, &(k.marks(), k.entry_marks())),
        decode: |k, bytes| k.restore_marks(read_value(bytes)?),
    },
    Part {
        holds: "the orders a fill was booked on without a running total",
        encode: |k, out| write_value(out, &k.unplaced_fills()),
        decode: |k, bytes| k.restore_unplaced_fills(read_value(bytes)?),
    },
    Part {
        holds: "when and by whom the mode was last set",
        encode: |k, out| write_value(out, &(k.control.mode_set_at, &k.control.mode_set_by)),
        decode: |k, bytes| {
            let (at, by): (f64, String) = read_value(bytes)?;
            if !at.is_finite() || at < 0.0 {
                return Err(format!("{at} is no time"));
            }
            (k.control.mode_set_at, k.control.mode_set_by) = (at, by);
            Ok(())
        },
    },
];

/// Appends `value`'s bincode to `out`.
fn write_value<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    bincode::serialize_into(out, value).expect("checkpoint parts always encode");
}

/// Decodes the next value from `rest` and moves past it. Same encoding as
/// `bincode::deserialize_from`, but bounded by the bytes left: reading from a stream, bincode
/// allocates a string's length before reading it, so a length field from a buggy writer would
/// allocate up to 2^64 bytes and abort.
fn read_value<T: DeserializeOwned>(rest: &mut &[u8]) -> Result<T, String> {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(rest.len() as u64)
        .deserialize_from(rest)
        .map_err(|e| e.to_string())
}

/// The kernel's state as a checkpoint holds it.
pub fn encode(kernel: &Kernel) -> Vec<u8> {
    let mut out = bincode::serialize(&Core::of(kernel)).expect("kernel state always encodes");
    for part in &PARTS {
        (part.encode)(kernel, &mut out);
    }
    out
}

/// The kernel's state as a checkpoint of versions 36 to 38 holds it (the first
/// [`PARTS_BEFORE_39`] parts), for the tests of their migration.
#[cfg(test)]
pub(crate) fn encode_before_39(kernel: &Kernel) -> Vec<u8> {
    let mut out = bincode::serialize(&Core::of(kernel)).expect("kernel state always encodes");
    for part in &PARTS[..PARTS_BEFORE_39] {
        (part.encode)(kernel, &mut out);
    }
    out
}

/// The kernel a checkpoint of this build's behaviour version holds; every part must be there,
/// and nothing after the last.
pub fn decode(state: &[u8]) -> Result<Kernel, String> {
    decode_parts(state, &PARTS)
}

/// The kernel a checkpoint of versions 36 to 38 holds: the first [`PARTS_BEFORE_39`] parts.
/// Those versions stopped following an order once a fill of it was booked without a running
/// total, and kept no time or source of the mode's last setting (0.0 and none here).
fn decode_before_39(state: &[u8]) -> Result<Kernel, String> {
    let mut kernel = decode_parts(state, &PARTS[..PARTS_BEFORE_39])?;
    kernel.early_settlements.fees_not_known();
    Ok(kernel)
}

/// The kernel `state` holds: its core, then `parts`, and nothing after the last.
fn decode_parts(state: &[u8], parts: &[Part]) -> Result<Kernel, String> {
    fn bad(what: &str, e: impl std::fmt::Display) -> String {
        format!("undecodable kernel checkpoint: {what}: {e}")
    }
    let mut rest = state;
    let core: Core = read_value(&mut rest).map_err(|e| bad("the kernel's core fields", e))?;
    let mut kernel = core.into_kernel();
    kernel
        .check_slot_indexes()
        .and_then(|()| kernel.check_counts())
        .map_err(|e| bad("the kernel's core fields", e))?;
    for part in parts {
        if rest.is_empty() {
            return Err(bad(part.holds, "missing: the checkpoint ends before it"));
        }
        (part.decode)(&mut kernel, &mut rest).map_err(|e| bad(part.holds, e))?;
    }
    if !rest.is_empty() {
        return Err(bad(
            "its end",
            format!("{} bytes after the last part", rest.len()),
        ));
    }
    kernel.recount_sides();
    Ok(kernel)
}

/// How the unsettled fills' parts beyond the core hold them: each live id's first fill's asset
/// fingerprint ([`asset_print`], 0 for none), in the map's order, as runs of one asset and
/// their length; the first fills booked from part of a report, by their index in that order,
/// with the report's size; and the fills of other assets under an id, by its index, each with
/// its asset fingerprint and report size.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct UnsettledDetails {
    assets: Vec<(u64, u32)>,
    report_sizes: Vec<(u32, f64)>,
    more: Vec<(u32, UnsettledFill, u64, f64)>,
}

/// The unsettled fills' fee rates: the rate of each fill, in the map's order, each id's first
/// fill then its fills of other assets, as runs of one rate and their length (a rate changes
/// seldom, so a full map is a few runs).
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct UnsettledRates(Vec<(Option<f64>, u32)>);

/// [`EndedOrders`] as a checkpoint holds it, in a fixed order (the id indexes follow from the
/// orders).
#[derive(Serialize, Deserialize)]
struct EndedRepr {
    kept: Vec<(KeptOrderKey, KeptOrder)>,
    reconciled: Vec<(Id, f64)>,
    /// Venue ids with a claimant that is no kept order (see `EndedOrders::finished_elsewhere`).
    shared: Vec<Id>,
}

/// What the reports of followed orders covered: per working order its slot, whether it is
/// the entry, and the intervals; per kept order its key and the intervals.
type CoveredRepr = (
    Vec<(usize, bool, Vec<(f64, f64)>)>,
    Vec<(KeptOrderKey, Vec<(f64, f64)>)>,
);

/// The orders of [`CoveredRepr`] a fill was booked on without a running total
/// ([`Covered::unplaced`]): working ones by slot and whether it is the entry, kept ones by key.
type UnplacedRepr = (Vec<(usize, bool)>, Vec<KeptOrderKey>);

/// Each asset's latest mark ([`Kernel::marks`]) and those the slots' entries were judged at
/// ([`Kernel::entry_marks`]).
type MarksRepr = (Vec<(Id, f64)>, Vec<(usize, f64)>);

/// The settlements held for their fills, oldest first, how many were forgotten, and the
/// settled fills' keys ([`settled_key`]), oldest first.
type EarlySettlementsRepr = (Vec<EarlySettlement>, u64, Vec<u64>);

/// Whether `a` and `b` are the same state: equal, or the same bytes (a NaN equals itself).
fn same<T: PartialEq + Serialize>(a: &T, b: &T) -> bool {
    a == b || bincode::serialize(a).ok() == bincode::serialize(b).ok()
}

/// `part`, and the field where the two printed values first differ.
fn named<T: std::fmt::Debug>(part: String, a: &T, b: &T) -> String {
    let (a, b) = (format!("{a:?}"), format!("{b:?}"));
    let mut at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(at) {
        at -= 1;
    }
    let field = a[..at].rfind(": ").map(|end| {
        let start = a[..end]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        &a[start..end]
    });
    match field {
        Some(f) if !f.is_empty() => format!("{part} ({f})"),
        _ => part,
    }
}

/// Every field of the kernel: a new one fails to compile here until
/// [`Kernel::state_difference`] compares it or it is said not to be part of a checkpoint's
/// state (the outbox, the projection's dirty keys, the journal flag).
#[allow(dead_code)]
fn compared_fields(kernel: &Kernel) {
    let Kernel {
        kernel_id: _,
        slots: _,
        free: _,
        open_by_asset: _,
        open_count: _,
        sides: _,
        by_client_id: _,
        by_venue_id: _,
        finished_orders: _,
        ended: _,
        covered: _,
        intents_seen: _,
        account_events_seen: _,
        money_events_seen: _,
        unsettled: _,
        early_settlements: _,
        funding_times: _,
        fees: _,
        account: _,
        control: _,
        risk: _,
        market_limits: _,
        marks: _,
        entry_marks: _,
        asset_notional: _,
        total_notional: _,
        rate: _,
        edge_below: _,
        seq: _,
        order_counter: _,
        order_ids: _,
        counters: _,
        outbox: _,
        dirty: _,
        journal_attached: _,
    } = kernel;
}

impl Kernel {
    /// The orders kept for late fills.
    fn ended_orders(&self) -> EndedRepr {
        let mut kept: Vec<_> = self
            .ended
            .by_key
            .iter()
            .map(|(&k, v)| (k, v.clone()))
            .collect();
        kept.sort_unstable_by_key(|(k, _)| *k);
        let mut reconciled: Vec<_> = self
            .ended
            .reconciled
            .iter()
            .map(|(i, &t)| (i.clone(), t))
            .collect();
        reconciled.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut shared: Vec<Id> = self
            .ended
            .by_venue_id
            .iter()
            .filter(|(_, claims)| claims.contains(&UNKEPT_CLAIMANT))
            .map(|(v, _)| v.clone())
            .collect();
        shared.sort_unstable();
        EndedRepr {
            kept,
            reconciled,
            shared,
        }
    }

    /// Checks that no count a kernel decoded from a checkpoint adds one to is near overflow:
    /// its seq, the counters, the account's event seq, the fee calibration's samples, the
    /// control's freeze events and each slot's exit leg. A run counts one per input at most,
    /// and no run reaches [`MAX_COUNT`]; a state from a buggy or newer writer can say
    /// 2^64-1, and the next input would overflow it (a panic in a debug build, a wrap to 0
    /// in release).
    fn check_counts(&self) -> Result<(), String> {
        let c = &self.counters;
        let counts = [
            ("seq", self.seq),
            ("counters.intents", c.intents),
            ("counters.intents_accepted", c.intents_accepted),
            ("counters.intents_refused", c.intents_refused),
            ("counters.venue_events", c.venue_events),
            ("counters.venue_events_refused", c.venue_events_refused),
            ("counters.fills", c.fills),
            ("counters.orders_submitted", c.orders_submitted),
            ("counters.cancels_requested", c.cancels_requested),
            ("counters.account_events", c.account_events),
            ("account.event_seq", self.account.event_seq),
            ("fees.calibration_samples", self.fees.calibration_samples),
            ("fees.maker.samples", self.fees.maker.samples),
            ("fees.taker.samples", self.fees.taker.samples),
            ("control.freeze_events", self.control.freeze_events),
        ];
        if let Some((what, n)) = counts.into_iter().find(|(_, n)| *n > MAX_COUNT) {
            return Err(format!("{what} {n} (no run counts past {MAX_COUNT})"));
        }
        if let Some(s) = self
            .slots
            .iter()
            .find(|s| s.active_leg_index as u64 > MAX_COUNT)
        {
            return Err(format!(
                "slot {} active_leg_index {} (no run counts past {MAX_COUNT})",
                s.slot_id, s.active_leg_index
            ));
        }
        Ok(())
    }

    /// Checks that a kernel decoded from a checkpoint names only its own slots: each slot at
    /// its own index, the free and open sets and the order id indexes within them, and each
    /// client order id at a slot whose working order it is. A state from a buggy or newer
    /// writer passes the digest; an index past the slots, or to a slot without the order,
    /// would panic on the first input that looked it up.
    fn check_slot_indexes(&self) -> Result<(), String> {
        let n = self.slots.len();
        if n == 0 || n > MAX_SLOTS {
            return Err(format!("{n} slots (must be between 1 and {MAX_SLOTS})"));
        }
        if let Some((i, s)) = self.slots.iter().enumerate().find(|(i, s)| s.slot_id != *i) {
            return Err(format!("slot {i} says it is slot {}", s.slot_id));
        }
        let beyond =
            |what: &str, sid: usize| format!("{what} names slot {sid}, beyond the kernel's {n}");
        if let Some(sid) = self.free.iter().find(|&i| i >= n) {
            return Err(beyond("the free set", sid));
        }
        for (asset, set) in self.open_by_asset.iter() {
            if let Some(sid) = set.iter().find(|&i| i >= n) {
                return Err(beyond(&format!("the open set of {asset}"), sid));
            }
        }
        let by_client = self.by_client_id.iter().map(|e| ("client order id", e));
        let by_venue = self.by_venue_id.iter().map(|e| ("venue order id", e));
        let mut indexed = by_client.chain(by_venue);
        if let Some((what, (key, &sid))) = indexed.find(|(_, (_, &sid))| sid >= n) {
            return Err(beyond(&format!("{what} {key:?}"), sid));
        }
        // An event found by its client id is handled as the named slot's working order's,
        // which must be there (`expect("indexed orders are active")`). The venue-id index
        // may name an order it outlived: its lookups check that the slot's order still
        // carries the id.
        let carries = |s: &TradeSlot, c: &Id| {
            [&s.active_entry_order, &s.active_exit_order]
                .into_iter()
                .flatten()
                .any(|o| o.client_order_id == *c)
        };
        if let Some((c, &sid)) = self
            .by_client_id
            .iter()
            .find(|(c, &sid)| !carries(&self.slots[sid], c))
        {
            return Err(format!(
                "client order id {c:?} names slot {sid}, which has no working order of that id"
            ));
        }
        // Taking a slot out of its open set counts `open_count` down: a count below the
        // sets' members would go below zero.
        let members: usize = self.open_by_asset.values().map(SlotSet::len).sum();
        if self.open_count != members {
            return Err(format!(
                "open slot count {} (the open sets hold {members})",
                self.open_count
            ));
        }
        Ok(())
    }

    /// Restores [`Kernel::ended_orders`] from a checkpoint.
    fn restore_ended_orders(&mut self, repr: EndedRepr) -> Result<(), String> {
        let n = self.slots.len();
        if let Some((k, _)) = repr.kept.iter().find(|(k, _)| k.0 >= n) {
            return Err(format!(
                "a kept order names slot {}, beyond the kernel's {n}",
                k.0
            ));
        }
        self.ended.clear();
        for (key, kept) in repr.kept {
            self.ended.keep(key, kept);
        }
        for v in &repr.shared {
            self.ended.finished_elsewhere(v);
        }
        self.ended.reconciled = repr.reconciled.into_iter().collect();
        Ok(())
    }

    /// Where `self` and `other` differ as the state a checkpoint holds (everything but the
    /// outbox, the projection's dirty keys and the journal flag, which are not in it): the
    /// first part that differs, with the field when it can say, or None when they are equal.
    /// Maps are compared as maps (their order in memory is random per map), floats bit for
    /// bit where `==` does not see them equal (a NaN equals itself).
    pub(crate) fn state_difference(&self, other: &Kernel) -> Option<String> {
        if self.kernel_id != other.kernel_id {
            return Some("kernel id".into());
        }
        if self.slots.len() != other.slots.len() {
            return Some("slot count".into());
        }
        if let Some((i, (a, b))) =
            (self.slots.iter().zip(&other.slots).enumerate()).find(|(_, (a, b))| !same(*a, *b))
        {
            return Some(named(format!("slot {i}"), a, b));
        }
        // Structs: the field is named too.
        macro_rules! structs {
            ($($field:ident: $part:expr),* $(,)?) => {$(
                if !same(&self.$field, &other.$field) {
                    return Some(named($part.to_string(), &self.$field, &other.$field));
                }
            )*};
        }
        // Numbers, and maps and memories, whose printed order is random or whose entries are
        // many: the part is named.
        macro_rules! parts {
            ($($field:ident: $part:expr),* $(,)?) => {$(
                if !same(&self.$field, &other.$field) {
                    return Some($part.to_string());
                }
            )*};
        }
        parts!(seq: "seq");
        structs!(
            account: "account",
            counters: "counters",
            fees: "fee model",
            control: "control",
            risk: "risk limits",
            rate: "rate window",
        );
        parts!(
            order_counter: "order counter",
            total_notional: "total committed notional",
            asset_notional: "committed notional by asset",
            market_limits: "market limits",
            open_count: "open slot count",
            free: "free slots",
            open_by_asset: "open slots by asset",
            by_client_id: "orders by client id",
            by_venue_id: "orders by venue id",
            unsettled: "unsettled fills",
            finished_orders: "finished orders memory",
            intents_seen: "intent id memory",
            account_events_seen: "account event id memory",
        );
        // The parts after the core, as they are written (sorted, so the bytes compare).
        PARTS
            .iter()
            .find(|p| p.bytes(self) != p.bytes(other))
            .map(|p| p.holds.to_string())
    }

    /// What the venue's reports covered: `(slot, is_entry, intervals)` for the working orders
    /// followed, and the intervals of the kept orders.
    fn covered_fills(&self) -> CoveredRepr {
        let mut working = Vec::new();
        for (sid, legs) in self.covered.iter().enumerate() {
            for (leg, c) in legs.iter().enumerate() {
                if let Some(c) = c {
                    working.push((sid, leg == 0, c.intervals.to_vec()));
                }
            }
        }
        let mut kept: Vec<_> = self
            .ended
            .covered
            .iter()
            .map(|(&k, c)| (k, c.intervals.to_vec()))
            .collect();
        kept.sort_unstable_by_key(|(k, _)| *k);
        (working, kept)
    }

    /// The orders a fill was booked on without a running total ([`UnplacedRepr`]).
    fn unplaced_fills(&self) -> UnplacedRepr {
        let mut working = Vec::new();
        for (sid, legs) in self.covered.iter().enumerate() {
            for (leg, c) in legs.iter().enumerate() {
                if c.as_ref().is_some_and(|c| c.unplaced) {
                    working.push((sid, leg == 0));
                }
            }
        }
        let mut kept: Vec<_> = (self.ended.covered.iter())
            .filter(|(_, c)| c.unplaced)
            .map(|(&k, _)| k)
            .collect();
        kept.sort_unstable();
        (working, kept)
    }

    /// The running totals kept orders that ended without a figure wait for
    /// (`KeptOrder::stated_total`).
    pub(crate) fn stated_totals(&self) -> Vec<(KeptOrderKey, f64)> {
        let mut v: Vec<_> = self
            .ended
            .by_key
            .iter()
            .filter(|(_, k)| k.final_filled.is_none() && k.stated_total > 0.0)
            .map(|(&key, k)| (key, k.stated_total))
            .collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }

    /// The kept orders whose status is not known (`KeptOrder::in_doubt`).
    fn in_doubt_keys(&self) -> Vec<KeptOrderKey> {
        let mut v: Vec<_> = self
            .ended
            .by_key
            .iter()
            .filter(|(_, k)| k.in_doubt)
            .map(|(&key, _)| key)
            .collect();
        v.sort_unstable();
        v
    }

    /// The unsettled fills' assets, report sizes and the fills of other assets under one id.
    pub(crate) fn unsettled_details(&self) -> UnsettledDetails {
        let print = |f: &UnsettledFill| f.asset.map_or(0, NonZeroU64::get);
        let mut t = UnsettledDetails::default();
        for (i, (_, u)) in self.unsettled.iter().enumerate() {
            let i = i as u32;
            match t.assets.last_mut() {
                Some((a, n)) if *a == print(&u.first) => *n += 1,
                _ => t.assets.push((print(&u.first), 1)),
            }
            if u.first.report_size != 0.0 {
                t.report_sizes.push((i, u.first.report_size));
            }
            for f in u.more() {
                t.more.push((i, f.clone(), print(f), f.report_size));
            }
        }
        t
    }

    /// Restores [`Kernel::unsettled_details`] from a checkpoint.
    fn restore_unsettled_details(&mut self, t: UnsettledDetails) -> Result<(), String> {
        /// The `i`th live id's fills.
        fn nth<'a>(live: &'a mut [&mut Unsettled], i: u32) -> Result<&'a mut Unsettled, String> {
            let n = live.len();
            match live.get_mut(i as usize) {
                Some(u) => Ok(u),
                None => Err(format!(
                    "an unsettled fill at {i}, beyond the {n} there are"
                )),
            }
        }
        let mut live: Vec<&mut Unsettled> = self.unsettled.iter_mut().map(|(_, u)| u).collect();
        let runs: u64 = t.assets.iter().map(|(_, n)| u64::from(*n)).sum();
        if runs != live.len() as u64 {
            return Err(format!(
                "the unsettled fills' assets name {runs} fills, not the {} there are",
                live.len()
            ));
        }
        let mut at = 0;
        for (asset, n) in t.assets {
            for u in &mut live[at..at + n as usize] {
                u.first.asset = NonZeroU64::new(asset);
            }
            at += n as usize;
        }
        let report_size = |size: f64| {
            if size.is_finite() && size > 0.0 {
                Ok(size)
            } else {
                Err(format!(
                    "an unsettled fill's report size {size} is not a positive number"
                ))
            }
        };
        for (i, size) in t.report_sizes {
            nth(&mut live, i)?.first.report_size = report_size(size)?;
        }
        for (i, mut fill, asset, size) in t.more {
            fill.asset = NonZeroU64::new(asset);
            if size != 0.0 {
                fill.report_size = report_size(size)?;
            }
            let u = nth(&mut live, i)?;
            u.more.get_or_insert_with(Default::default).push(fill);
        }
        Ok(())
    }

    /// The unsettled fills' fee rates.
    fn unsettled_rates(&self) -> UnsettledRates {
        let mut runs: Vec<(Option<f64>, u32)> = Vec::new();
        for (_, u) in self.unsettled.iter() {
            for i in 0..u.len() {
                let rate = u.fill(i).rate.known();
                match runs.last_mut() {
                    Some((r, n)) if r.map(f64::to_bits) == rate.map(f64::to_bits) => *n += 1,
                    _ => runs.push((rate, 1)),
                }
            }
        }
        UnsettledRates(runs)
    }

    /// Restores [`Kernel::unsettled_rates`] from a checkpoint, after the fills of other assets.
    fn restore_unsettled_rates(
        &mut self,
        UnsettledRates(runs): UnsettledRates,
    ) -> Result<(), String> {
        let mut rates = runs
            .into_iter()
            .flat_map(|(rate, n)| std::iter::repeat_n(rate, n as usize));
        for (_, u) in self.unsettled.iter_mut() {
            for f in
                std::iter::once(&mut u.first).chain(u.more.iter_mut().flat_map(|m| m.iter_mut()))
            {
                let rate = rates
                    .next()
                    .ok_or("the unsettled fills' rates name fewer fills than there are")?;
                f.rate = match rate {
                    None => PredictedRate::default(),
                    Some(r) if r.is_finite() && (r as f32).is_finite() => PredictedRate::of(r),
                    Some(r) => return Err(format!("an unsettled fill's rate {r} is not finite")),
                };
            }
        }
        if rates.next().is_some() {
            return Err("the unsettled fills' rates name more fills than there are".into());
        }
        Ok(())
    }

    /// The ids of the account events that moved money ([`MONEY_EVENT_MEMORY`]), oldest first.
    fn money_events(&self) -> Vec<&Id> {
        self.money_events_seen.iter().collect()
    }

    /// Restores [`Kernel::money_events`] from a checkpoint.
    fn restore_money_events(&mut self, ids: Vec<Id>) -> Result<(), String> {
        if ids.len() > MONEY_EVENT_MEMORY {
            return Err(format!(
                "{} money event ids, more than the {MONEY_EVENT_MEMORY} remembered",
                ids.len()
            ));
        }
        let mut seen = money_event_memory();
        for event_id in ids {
            if !seen.insert(event_id) {
                return Err("a money event id is remembered twice".into());
            }
        }
        self.money_events_seen = seen;
        Ok(())
    }

    /// Each asset's latest mark price, by asset (sorted, so a checkpoint's bytes compare).
    pub fn marks(&self) -> Vec<(Id, f64)> {
        let mut marks: Vec<(Id, f64)> = self.marks.iter().map(|(a, p)| (a.clone(), *p)).collect();
        marks.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        marks
    }

    /// The marks the slots' entries were judged at, by slot, those not 0.
    fn entry_marks(&self) -> Vec<(usize, f64)> {
        let marks = self.entry_marks.iter().copied().enumerate();
        marks.filter(|(_, m)| *m != 0.0).collect()
    }

    /// Restores [`Kernel::marks`] and [`Kernel::entry_marks`] from a checkpoint. Nothing
    /// changes on an error.
    pub(crate) fn restore_marks(&mut self, (marks, judged): MarksRepr) -> Result<(), String> {
        // As `mark_price` takes a mark: a named asset, a finite price above 0 within the bounds.
        let price = |p: f64| p > 0.0 && check_number("price", p, 0.0).is_ok();
        let mut assets = std::collections::HashSet::with_capacity(marks.len());
        for (asset, p) in &marks {
            if check_asset(asset).is_err() || !price(*p) || !assets.insert(asset) {
                return Err(format!(
                    "the mark price of {asset:?}, {p}, is no price (or the asset is named twice)"
                ));
            }
        }
        let mut judged_slots = std::collections::HashSet::with_capacity(judged.len());
        if let Some((sid, p)) = judged
            .iter()
            .find(|(i, p)| *i >= self.slots.len() || !price(*p) || !judged_slots.insert(*i))
        {
            return Err(format!(
                "slot {sid}'s entry judged at a mark of {p} (or the slot is named twice)"
            ));
        }
        self.marks = marks.into_iter().collect();
        self.entry_marks = vec![0.0; self.slots.len()];
        for (sid, p) in judged {
            self.entry_marks[sid] = p;
        }
        Ok(())
    }

    /// Restores the funding times from a checkpoint, after the money event ids. Nothing
    /// changes on an error.
    fn restore_funding_times(&mut self, t: FundingTimes) -> Result<(), String> {
        let time = |at: f64| at.is_finite() && at >= 0.0;
        if !time(t.forgotten_at) || t.held.iter().any(|(_, at)| !(time(*at) && *at > 0.0)) {
            return Err("a funding payment's time is no time".into());
        }
        if t.forgotten_ids.len() > FORGOTTEN_FUNDING_IDS {
            return Err(format!(
                "{} forgotten funding payments' ids, more than the {FORGOTTEN_FUNDING_IDS} kept",
                t.forgotten_ids.len()
            ));
        }
        // Held in the money event memory's order: each is found as that memory forgets it.
        let mut ids = self.money_events_seen.iter();
        if !t.held.iter().all(|(held, _)| ids.any(|i| i == held)) {
            return Err("a funding payment's time of an id the money event memory lacks".into());
        }
        self.funding_times = t;
        Ok(())
    }

    /// The settlements held for their fills, oldest first, how many were forgotten, and the
    /// settled fills' keys.
    pub fn early_settlements(&self) -> (&VecDeque<EarlySettlement>, u64, Vec<&u64>) {
        let e = &self.early_settlements;
        (&e.held, e.forgotten, e.settled.iter().collect())
    }

    /// How many settlements that came before their fill were forgotten, pushed out by newer
    /// ones ([`EARLY_SETTLEMENT_MEMORY`]): their fills kept their predicted fees.
    pub fn early_settlements_forgotten(&self) -> u64 {
        self.early_settlements.forgotten
    }

    /// Restores [`Kernel::early_settlements`] from a checkpoint. Nothing changes on an error.
    fn restore_early_settlements(
        &mut self,
        (held, forgotten, settled): EarlySettlementsRepr,
    ) -> Result<(), String> {
        if held.len() > EARLY_SETTLEMENT_MEMORY {
            return Err(format!(
                "{} settlements held for their fills, more than the {EARLY_SETTLEMENT_MEMORY} \
                 held",
                held.len()
            ));
        }
        if settled.len() > SETTLED_FILL_MEMORY {
            return Err(format!(
                "{} settled fills, more than the {SETTLED_FILL_MEMORY} remembered",
                settled.len()
            ));
        }
        let mut early = EarlySettlements {
            forgotten,
            ..Default::default()
        };
        for key in settled {
            if !early.settled.insert(key) {
                return Err("a settled fill is remembered twice".into());
            }
        }
        for s in held {
            if s.fill_id.is_empty() {
                return Err("a settlement held for its fill names no fill id".into());
            }
            if !s.fee.is_finite() {
                return Err(format!(
                    "a settlement held for its fill has a fee of {}",
                    s.fee
                ));
            }
            // Two of different fees: a self-trade's sides.
            let fees: Vec<f64> = early
                .held_for(&s.fill_id, &s.asset)
                .map(|h| h.fee)
                .collect();
            if fees.len() > 1 || fees.contains(&s.fee) {
                return Err(format!(
                    "more settlements held for fill {:?} of {:?} than its two sides",
                    s.fill_id, s.asset
                ));
            }
            early.hold(s);
        }
        self.early_settlements = early;
        Ok(())
    }

    /// Each slot whose event memory holds events of an earlier trade, by slot id, with how
    /// many of its places the current trade wrote ([`RecentRing::trade_wrote`]): a decoded ring
    /// takes every place for the trade's.
    pub fn trade_event_counts(&self) -> Vec<(u32, u8)> {
        self.slots
            .iter()
            .filter(|s| s.seen_events.trade_wrote() < s.seen_events.len())
            .map(|s| (s.slot_id as u32, s.seen_events.trade_wrote() as u8))
            .collect()
    }

    /// Restores [`Kernel::trade_event_counts`] from a checkpoint, checked as they are written:
    /// in slot order, within the slots, each less than its memory holds. Nothing changes on an
    /// error.
    fn restore_trade_event_counts(&mut self, counts: Vec<(u32, u8)>) -> Result<(), String> {
        check_by_slot(&counts, self.slots.len(), "the count of the trade's events")?;
        for &(sid, wrote) in &counts {
            let ring = &self.slots[sid as usize].seen_events;
            if wrote as usize >= ring.len() {
                return Err(format!(
                    "{wrote} events of slot {sid}'s trade, not fewer than the {} remembered",
                    ring.len()
                ));
            }
        }
        for (sid, wrote) in counts {
            let ring = &mut self.slots[sid as usize].seen_events;
            ring.set_trade_wrote(wrote as usize)?;
        }
        Ok(())
    }

    /// Restores the assets whose edge is below the freeze threshold from a checkpoint.
    fn restore_edge_below(&mut self, below: BTreeMap<Id, f64>) -> Result<(), String> {
        if let Some((asset, edge)) = below.iter().find(|(_, e)| !e.is_finite()) {
            return Err(format!(
                "the edge of {asset} below the threshold, {edge}, is not finite"
            ));
        }
        self.edge_below = below;
        Ok(())
    }

    /// Restores the maker's and the taker's fee calibration from a checkpoint. Their sample
    /// counts are held to [`MAX_COUNT`] by [`Kernel::check_counts`], as the rest.
    fn restore_calibration_by_liquidity(
        &mut self,
        t: CalibrationByLiquidity,
    ) -> Result<(), String> {
        self.fees.restore_calibration_by_liquidity(t);
        self.check_counts()
    }

    /// Restores [`Kernel::in_doubt_keys`] from a checkpoint.
    fn restore_in_doubt(&mut self, v: Vec<KeptOrderKey>) -> Result<(), String> {
        for key in v {
            match self.ended.get_mut(key) {
                Some(k) if !key.2 => {
                    k.in_doubt = true;
                    self.ended.note_owed(key);
                    self.sync_free(key.0);
                }
                _ => {
                    return Err(format!(
                        "an order of unknown status names no kept order {key:?} that works"
                    ))
                }
            }
        }
        Ok(())
    }

    /// Restores [`Kernel::stated_totals`] from a checkpoint.
    fn restore_stated_totals(&mut self, v: Vec<(KeptOrderKey, f64)>) -> Result<(), String> {
        for (key, total) in v {
            match self.ended.get_mut(key) {
                Some(k)
                    if k.final_filled.is_none()
                        && total.is_finite()
                        && total > 0.0
                        && total <= k.order.size =>
                {
                    k.stated_total = total;
                    self.ended.note_owed(key);
                    self.sync_free(key.0);
                }
                _ => {
                    return Err(format!(
                        "stated filled size {total} names no kept order {key:?} without a final \
                         filled size, or is not within its size"
                    ))
                }
            }
        }
        Ok(())
    }

    /// Restores [`Kernel::covered_fills`] from a checkpoint.
    fn restore_covered_fills(&mut self, (working, kept): CoveredRepr) -> Result<(), String> {
        let n = self.slots.len();
        let ordered = |v: &[(f64, f64)]| {
            v.iter()
                .all(|&(a, b)| a.is_finite() && b.is_finite() && 0.0 <= a && a < b)
                && v.windows(2).all(|w| w[0].1 < w[1].0)
        };
        self.covered = vec![[None, None]; n];
        for (sid, is_entry, intervals) in working {
            if sid >= n || !ordered(&intervals) {
                return Err(format!(
                    "covered fill intervals {intervals:?} of slot {sid} (of the kernel's {n}) are not in order"
                ));
            }
            self.covered[sid][usize::from(!is_entry)] = Some(Covered {
                intervals: intervals.into(),
                unplaced: false,
            });
        }
        self.ended.covered.clear();
        for (key, intervals) in kept {
            if self.ended.get(key).is_none() || !ordered(&intervals) {
                return Err(format!(
                    "covered fill intervals {intervals:?} name no kept order {key:?}, or are not in order"
                ));
            }
            self.ended.covered.insert(
                key,
                Covered {
                    intervals: intervals.into(),
                    unplaced: false,
                },
            );
        }
        Ok(())
    }

    /// Restores [`Kernel::unplaced_fills`] onto the orders the covered fills part restored.
    fn restore_unplaced_fills(&mut self, (working, kept): UnplacedRepr) -> Result<(), String> {
        for (sid, is_entry) in working {
            let leg = self
                .covered
                .get_mut(sid)
                .map(|legs| &mut legs[usize::from(!is_entry)]);
            let Some(Some(c)) = leg else {
                return Err(format!(
                    "slot {sid}'s order (entry: {is_entry}) has no covered fills"
                ));
            };
            c.unplaced = true;
        }
        for key in kept {
            let Some(c) = self.ended.covered.get_mut(&key) else {
                return Err(format!("kept order {key:?} has no covered fills"));
            };
            c.unplaced = true;
        }
        Ok(())
    }
}
