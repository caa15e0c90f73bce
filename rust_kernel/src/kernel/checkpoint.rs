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

mod compare;
mod money;
mod orders;

/// The behaviour versions whose checkpoints this build reads besides its own, each with what
/// turns its state into today's. 36, 37 and 38 wrote the first [`PARTS_BEFORE_39`] parts this
/// build writes, in the same layout, so their state loads as it stands (a part or field they
/// lacked gets its default here); 39 wrote the first [`PARTS_OF_39`] parts and 40 the first
/// [`PARTS_OF_40`], in the same layout.
pub const MIGRATIONS: [(u16, Migration); 5] = [
    (36, decode_before_39),
    (37, decode_before_39),
    (38, decode_before_39),
    (39, decode_39),
    (40, decode_40),
];

/// How many of [`PARTS`] the checkpoints of versions 36 to 38 hold.
const PARTS_BEFORE_39: usize = 16;

/// How many of [`PARTS`] the checkpoints of version 39 hold: all but the slots whose market
/// close went out exempt from the order rate (none, for a checkpoint of 39).
const PARTS_OF_39: usize = 19;

/// How many of [`PARTS`] the checkpoints of version 40 hold: all but the kept orders' figures a
/// slot load made up (none, for a checkpoint of 40: its loads made figures up unmarked).
const PARTS_OF_40: usize = 20;

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
            last_edges: BTreeMap::new(),
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
pub(crate) const PARTS: [Part; 21] = [
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
        holds: "every asset's last edge",
        encode: |k, out| write_value(out, &k.last_edges),
        decode: |k, bytes| k.restore_last_edges(read_value(bytes)?),
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
    Part {
        holds: "the settlements held for their fills that say the predicted fee stands",
        encode: |k, out| write_value(out, &k.held_standing()),
        decode: |k, bytes| k.restore_held_standing(read_value(bytes)?),
    },
    Part {
        holds: "the slots whose market close went out exempt from the order rate",
        encode: |k, out| write_value(out, &exempt_closes_sent(&k.slots)),
        decode: |k, bytes| set_exempt_closes_sent(&mut k.slots, &read_value::<Vec<u32>>(bytes)?),
    },
    Part {
        holds: "the kept orders' figures a slot load made up",
        encode: |k, out| write_value(out, &k.load_figure_keys()),
        decode: |k, bytes| k.restore_load_figures(read_value(bytes)?),
    },
];

/// The ids of the slots whose exemption from the order-rate rule is spent
/// (`TradeSlot::exempt_close_sent`), in slot order.
fn exempt_closes_sent(slots: &[TradeSlot]) -> Vec<u32> {
    let spent = slots.iter().filter(|s| s.exempt_close_sent);
    spent.map(|s| s.slot_id as u32).collect()
}

/// Marks the slots `ids` names as having spent their exemption from the order-rate rule, the
/// others not, once `ids` is checked as this build writes it. Nothing changes on an error.
fn set_exempt_closes_sent(slots: &mut [TradeSlot], ids: &[u32]) -> Result<(), String> {
    let by_slot: Vec<(u32, ())> = ids.iter().map(|&sid| (sid, ())).collect();
    check_by_slot(&by_slot, slots.len(), "exempt close")?;
    slots.iter_mut().for_each(|s| s.exempt_close_sent = false);
    ids.iter()
        .for_each(|&sid| slots[sid as usize].exempt_close_sent = true);
    Ok(())
}

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
    kernel
        .check_held_sides()
        .map_err(|e| format!("undecodable kernel checkpoint: the settlements held: {e}"))?;
    kernel.early_settlements.fees_not_known();
    Ok(kernel)
}

/// The kernel a checkpoint of version 39 holds: the first [`PARTS_OF_39`] parts.
fn decode_39(state: &[u8]) -> Result<Kernel, String> {
    decode_parts(state, &PARTS[..PARTS_OF_39])
}

/// The kernel a checkpoint of version 40 holds: the first [`PARTS_OF_40`] parts.
fn decode_40(state: &[u8]) -> Result<Kernel, String> {
    decode_parts(state, &PARTS[..PARTS_OF_40])
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

impl Kernel {
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
}
