//! The kernel: slots, orders, account and guards, driven by inputs.
//!
//! Every input (intent, venue event, account event, mark price, control or config change)
//! gets the next sequence number and is handled by exactly one method here; `apply` routes
//! a `KernelInput` to it, which is what the write-ahead log replays. Nothing here is
//! O(max_slots) per call: free and open slots and orders are indexed.

// A refusal is an outcome made whole and returned as the `Err` of an input's handler (see
// `Answered`), and of the checks that `?` hands it on from: large, and the answer anyway.
#![allow(clippy::result_large_err)]

use crate::account::{Account, JudgedFigures, StaleFigure, E_FIGURES, FIGURE_TIME_LEAD};
use crate::error::{
    check_number, check_numbers, check_timestamp, shown, too_large, KernelError, KernelResult,
    MAX_MAGNITUDE, TOO_LARGE,
};
use crate::fees::{
    round_down_to_step, round_price_to_tick, round_up_to_step, Calibration, FeeModel, Liquidity,
};
use crate::fsm::{self, next_stage, Ctx, Trigger};
use crate::journal::{AccountRow, ControlRow, FillRow, Outbox};
use crate::model::*;
use crate::risk::{ConfigValue, MarketLimits, RateWindow, Regime, RiskLimits, MIN_LEVERAGE};
use crate::types::*;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU64;

/// The version of the kernel's behaviour: how it judges every input. The write-ahead log
/// records it in each segment and checkpoint, and a build replays only records of its own
/// version (`wal::kernel_log`). Any change to what an input does bumps it.
pub const BEHAVIOUR_VERSION: u16 = 37;

/// The kernel's maps by id (client, venue and asset ids; kept-order keys), hashed on every
/// input. foldhash takes an id of up to 16 bytes in two multiplies where ahash's portable
/// fallback (what a build without AES target features gets) takes four, and is seeded at
/// random per map as ahash is: a venue's ids cannot be picked to collide beforehand.
type IdMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Working orders by client order id, to their slot: a map of ids, with a table in front of
/// it for ids ending in a digit, as the kernel's own do (`CounterIds`: its prefix, then the
/// order counter). Such an id has its place in the table by its last three digits, so
/// consecutive orders take consecutive places and are found without hashing; an id is in the
/// table only at its place and only whole (compared in full), and in the map otherwise (no
/// digit, or its place taken), never in both. What the map alone was, in fewer instructions:
/// the same entries, the same answers, serialized as the same map. (A venue's ids in such a
/// table cost more than they saved: the venue-id index is a [`VenueIndex`].)
#[derive(Clone, Debug, Default)]
struct OrderIndex {
    /// `ORDER_PLACES` places once an id is put in one; a free place holds slot [`FREE`], so
    /// that an insert sees it free without reading the id, beside the empty id or the last id
    /// it held (left there by [`OrderIndex::remove_at`]; nothing reads the id of a free
    /// place, and taking the place again drops it).
    table: Vec<(Id, usize)>,
    /// How many places are taken.
    in_table: usize,
    map: IdMap<Id, usize>,
}

/// The places of [`OrderIndex`]'s table, one for each number of three digits: ahead of the
/// orders working at once in an ordinary book (two a slot at most), so a counter's place is
/// free when it comes round.
const ORDER_PLACES: usize = 1000;

/// The slot of a free place in [`OrderIndex`]'s table (its id the empty one, or the last it
/// held).
const FREE: usize = usize::MAX;

impl OrderIndex {
    /// The place of an id ending in a digit: the number its last three digits (or fewer, all
    /// it has) make, so the kernel's own ids take their counter's place modulo 1,000; or None.
    #[inline]
    fn place(id: &[u8]) -> Option<usize> {
        // The usual id, three digits or more at its end, read at once; any other walked.
        if let [.., a, b, c] = *id {
            let (a, b, c) = (
                a.wrapping_sub(b'0'),
                b.wrapping_sub(b'0'),
                c.wrapping_sub(b'0'),
            );
            if (a <= 9) & (b <= 9) & (c <= 9) {
                return Some(usize::from(a) * 100 + usize::from(b) * 10 + usize::from(c));
            }
        }
        Self::place_walked(id)
    }

    /// [`OrderIndex::place`] digit by digit from the end.
    fn place_walked(id: &[u8]) -> Option<usize> {
        let mut place = None;
        for (&c, scale) in id.iter().rev().zip([1, 10, 100]) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            place = Some(place.unwrap_or(0) + usize::from(d) * scale);
        }
        place
    }

    /// The id's place when it holds the id, its id compared as an [`Id`] (three words for
    /// inline ids, where comparing bytes took a length compare and a loop).
    #[inline(always)]
    fn held(&self, id: &Id) -> Option<usize> {
        let p = Self::place(id.as_bytes())?;
        let (c, s) = self.table.get(p)?;
        (*s != FREE && c == id).then_some(p)
    }

    fn get(&self, id: &Id) -> Option<&usize> {
        match self.held(id) {
            Some(p) => Some(&self.table[p].1),
            None if self.map.is_empty() => None,
            None => self.map.get(id),
        }
    }

    /// [`OrderIndex::get`], with the place in the table that holds the id when it is there:
    /// [`OrderIndex::remove_at`] takes it, while the index is unchanged since.
    #[inline]
    fn get_placed(&self, id: &Id) -> Option<(usize, Option<usize>)> {
        match self.held(id) {
            Some(p) => Some((self.table[p].1, Some(p))),
            None if self.map.is_empty() => None,
            None => self.map.get(id).map(|&sid| (sid, None)),
        }
    }

    fn contains_key(&self, id: &Id) -> bool {
        self.get(id).is_some()
    }

    fn insert(&mut self, id: Id, sid: usize) -> Option<usize> {
        if sid == FREE {
            return self.insert_free_slot(id);
        }
        let Some(p) = Self::place(id.as_bytes()) else {
            return self.map.insert(id, sid);
        };
        self.insert_at(p, id, sid)
    }

    /// [`OrderIndex::insert`] of `id`, whose place is `p` ([`OrderIndex::place`]), for a slot
    /// (not [`FREE`]): a caller that knows the place (the kernel's own id, its counter's
    /// place) does not read it from the id's digits again.
    #[inline]
    fn insert_at(&mut self, p: usize, id: Id, sid: usize) -> Option<usize> {
        debug_assert_eq!(Self::place(id.as_bytes()), Some(p), "the place of {id}");
        debug_assert!(sid != FREE, "a slot, not FREE");
        if self.table.is_empty() {
            self.table = vec![(Id::default(), FREE); ORDER_PLACES];
        }
        let place = &mut self.table[p];
        if place.1 == FREE {
            // Free: the id goes in the table, and out of the map if it was there.
            let was = if self.map.is_empty() {
                None
            } else {
                self.map.remove(&id)
            };
            *place = (id, sid);
            self.in_table += 1;
            return was;
        }
        if place.0 == id {
            return Some(std::mem::replace(&mut place.1, sid));
        }
        self.map.insert(id, sid)
    }

    /// An entry naming slot `FREE`, which only a checkpoint could: kept in the map, since in
    /// the table it would mark its place free.
    #[cold]
    fn insert_free_slot(&mut self, id: Id) -> Option<usize> {
        let was = self.remove(&id);
        self.map.insert(id, FREE);
        was
    }

    fn remove(&mut self, id: &Id) -> Option<usize> {
        match self.held(id) {
            Some(p) => {
                self.in_table -= 1;
                Some(std::mem::replace(&mut self.table[p], (Id::default(), FREE)).1)
            }
            None if self.map.is_empty() => None,
            None => self.map.remove(id),
        }
    }

    /// [`OrderIndex::remove`] of `id`, which place `p` of the table holds
    /// ([`OrderIndex::get_placed`] found it there, the index unchanged since): its bytes are
    /// not compared again.
    #[inline]
    fn remove_at(&mut self, p: usize, id: &Id) {
        debug_assert!(
            self.table[p].1 != FREE && self.table[p].0 == *id,
            "place {p} holds {id}"
        );
        self.in_table -= 1;
        // The id stays until the place is taken again (see `table`): a fill's finish
        // writes one word, not the empty id over the old one.
        self.table[p].1 = FREE;
    }

    fn len(&self) -> usize {
        self.in_table + self.map.len()
    }

    fn clear(&mut self) {
        if self.in_table > 0 {
            self.table.fill((Id::default(), FREE));
            self.in_table = 0;
        }
        self.map.clear();
    }

    fn iter(&self) -> impl Iterator<Item = (&Id, &usize)> {
        let table = self.table.iter().filter(|(_, s)| *s != FREE);
        table.map(|(c, s)| (c, s)).chain(self.map.iter())
    }

    fn values(&self) -> impl Iterator<Item = &usize> {
        self.iter().map(|(_, s)| s)
    }
}

/// Whether two ids' bytes are the same: the length, then eight bytes a step, the last step
/// overlapping the one before; an id shorter than eight bytes compared whole.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let word = |s: &[u8], i: usize| u64::from_ne_bytes(s[i..i + 8].try_into().unwrap());
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// An index of ids standing for an `IdMap<Id, usize>` (its `len`, `iter`, `get` and `insert`):
/// equal when it holds the same entries, wherever each is kept, and serialized as that map.
macro_rules! as_its_map {
    ($index:ident) => {
        impl PartialEq for $index {
            fn eq(&self, other: &Self) -> bool {
                self.len() == other.len() && self.iter().all(|(k, s)| other.get(k) == Some(s))
            }
        }

        impl Serialize for $index {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(self.len()))?;
                for (k, sid) in self.iter() {
                    m.serialize_entry(k, sid)?;
                }
                m.end()
            }
        }

        impl<'de> Deserialize<'de> for $index {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let mut index = $index::default();
                for (k, sid) in IdMap::<Id, usize>::deserialize(d)? {
                    index.insert(k, sid);
                }
                Ok(index)
            }
        }
    };
}

as_its_map!(OrderIndex);

/// Working orders by venue id, to their slot: a few entries in a short list in front of a map,
/// an id in one or the other, never both. A venue acknowledges an order and reports its end
/// before the next is acknowledged as a rule, so the list holds the working orders' ids and the
/// map stays empty: an order's entry is put in and taken out without hashing its id or the
/// map's machinery. Past [`VENUE_FRONT`] entries, the map takes the next. What the map alone
/// was: the same entries, the same answers, serialized as the same map (as [`OrderIndex`]).
#[derive(Clone, Debug, Default)]
struct VenueIndex {
    /// Up to [`VENUE_FRONT`] entries (the capacity a first push gives), in no order.
    front: Vec<(Id, usize)>,
    map: IdMap<Id, usize>,
}

/// The entries [`VenueIndex`]'s list holds: the orders an ordinary book has working at once
/// by venue id are few; a look at each is cheaper than a hash up to about this many.
const VENUE_FRONT: usize = 4;

impl VenueIndex {
    /// Where in the list `id` is: each entry compared as an [`Id`] (three words for inline
    /// ids, every id the kernel and the usual venue make), not byte by byte.
    #[inline(always)]
    fn at(&self, id: &Id) -> Option<usize> {
        if self.front.is_empty() {
            return None;
        }
        self.front.iter().position(|(v, _)| v == id)
    }

    #[inline(always)]
    fn get(&self, id: &Id) -> Option<&usize> {
        match self.at(id) {
            Some(i) => Some(&self.front[i].1),
            None if self.map.is_empty() => None,
            None => self.map.get(id),
        }
    }

    fn contains_key(&self, id: &Id) -> bool {
        self.get(id).is_some()
    }

    #[inline(always)]
    fn insert(&mut self, id: Id, sid: usize) -> Option<usize> {
        if let Some(i) = self.at(&id) {
            return Some(std::mem::replace(&mut self.front[i].1, sid));
        }
        if self.front.len() < VENUE_FRONT && (self.map.is_empty() || !self.map.contains_key(&id)) {
            self.front.push((id, sid));
            return None;
        }
        self.map.insert(id, sid)
    }

    #[inline(always)]
    fn remove(&mut self, id: &Id) -> Option<usize> {
        match self.at(id) {
            Some(i) => Some(self.front.swap_remove(i).1),
            None if self.map.is_empty() => None,
            None => self.map.remove(id),
        }
    }

    fn len(&self) -> usize {
        self.front.len() + self.map.len()
    }

    /// Whether no venue id is indexed (the list and the map both empty).
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.front.is_empty() && self.map.is_empty()
    }

    fn clear(&mut self) {
        self.front.clear();
        self.map.clear();
    }

    fn iter(&self) -> impl Iterator<Item = (&Id, &usize)> {
        let front = self.front.iter().map(|(v, s)| (v, s));
        front.chain(self.map.iter())
    }
}

as_its_map!(VenueIndex);

/// A value by asset whose entry, once made, stays when it comes to nothing (a total of 0, an
/// emptied set), with its allocation, so a trade opening and closing on one market changes it
/// in place rather than making and removing it each time. Read, compared and serialized as the
/// map of the assets whose value is something ([`Held::held`]), which is what it held when such
/// entries were removed.
///
/// Each slot remembers where its asset's entry was (`places`), checked against the asset
/// before it is used: a slot changing its commitment (three times a trade) or opening and
/// closing finds its entry without hashing the asset.
#[derive(Clone, Debug)]
struct ByAsset<V> {
    /// Each asset's value, in the order the assets first had one.
    entries: Vec<(Id, V)>,
    /// Where each asset's value is in `entries`.
    index: IdMap<Id, usize>,
    /// By slot, where its asset's entry was last found (`usize::MAX`: not yet).
    places: Vec<usize>,
    /// Each entry's asset by its [`asset_print`], made with the entry: a fill booked on a
    /// slot of the asset reads it here rather than hashing the asset again.
    prints: Vec<Option<NonZeroU64>>,
}

impl<V> Default for ByAsset<V> {
    fn default() -> Self {
        ByAsset {
            entries: Vec::new(),
            index: IdMap::default(),
            places: Vec::new(),
            prints: Vec::new(),
        }
    }
}

/// A [`ByAsset`] value: whether it is something (read, compared and serialized) or has come
/// to nothing (kept, unseen).
trait Held {
    fn held(&self) -> bool;
}

impl Held for f64 {
    fn held(&self) -> bool {
        *self > 0.0
    }
}

impl Held for SlotSet {
    fn held(&self) -> bool {
        !self.is_empty()
    }
}

impl<V: Held> ByAsset<V> {
    fn get(&self, asset: &str) -> Option<&V> {
        let &p = self.index.get(asset)?;
        Some(&self.entries[p].1).filter(|v| v.held())
    }

    /// Where `asset`'s entry is, slot `sid`'s (remembered for the slot's next look); None
    /// when the asset has none.
    ///
    /// A remembered place is taken without comparing its asset with `asset`: it stays the
    /// slot's asset's until the slot's asset changes, which only an ENTER does (and it
    /// forgets the place then, [`ByAsset::forget`]); slots replaced or restored come with a
    /// map made anew, which remembers nothing. `Kernel::side_counts_difference` checks every
    /// remembered place against its slot's asset.
    #[inline]
    fn place(&mut self, sid: usize, asset: &Id) -> Option<usize> {
        if let Some(&p) = self.places.get(sid).filter(|&&p| p != usize::MAX) {
            debug_assert_eq!(
                &self.entries[p].0, asset,
                "a slot's asset changed while its place was remembered"
            );
            return Some(p);
        }
        let found = self.index.get(asset).copied();
        if let Some(p) = found {
            self.remember(sid, p);
        }
        found
    }

    /// Makes `asset`'s entry, slot `sid`'s.
    fn insert_for(&mut self, sid: usize, asset: &Id, value: V) {
        self.insert(asset.clone(), value);
        self.remember(sid, self.entries.len() - 1);
    }

    fn insert(&mut self, asset: Id, value: V) {
        self.index.insert(asset.clone(), self.entries.len());
        self.prints.push(asset_print(&asset));
        self.entries.push((asset, value));
    }

    /// Forgets where slot `sid`'s asset was found: its asset is changing.
    fn forget(&mut self, sid: usize) {
        if let Some(p) = self.places.get_mut(sid) {
            *p = usize::MAX;
        }
    }

    /// The asset whose entry slot `sid` last found, if it remembers one.
    fn remembered(&self, sid: usize) -> Option<&Id> {
        let p = *self.places.get(sid)?;
        self.entries.get(p).map(|(a, _)| a)
    }

    fn remember(&mut self, sid: usize, place: usize) {
        if sid >= self.places.len() {
            self.places.resize(sid + 1, usize::MAX);
        }
        self.places[sid] = place;
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
        self.places.clear();
        self.prints.clear();
    }

    fn iter(&self) -> impl Iterator<Item = (&Id, &V)> {
        self.entries
            .iter()
            .map(|(asset, v)| (asset, v))
            .filter(|(_, v)| v.held())
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }
}

/// What slots commit, by asset (notional, quote currency): at 1e-9 or below an asset commits
/// nothing.
type AssetNotional = ByAsset<f64>;

impl AssetNotional {
    /// Adds `delta` to `asset`'s total, slot `sid`'s, held at 0 or above; at 1e-9 or below
    /// it is none.
    fn add(&mut self, sid: usize, asset: &Id, delta: f64) {
        match self.place(sid, asset) {
            Some(p) => {
                let a = &mut self.entries[p].1;
                let now = (*a + delta).max(0.0);
                *a = if now <= 1e-9 { 0.0 } else { now };
            }
            None => {
                let now = delta.max(0.0);
                if now > 1e-9 {
                    self.insert_for(sid, asset, now);
                }
            }
        }
    }
}

/// The open slots (holding a position) by asset.
type OpenByAsset = ByAsset<SlotSet>;

impl OpenByAsset {
    /// Puts slot `sid` in `asset`'s set (`holds`) or takes it out: whether that changed it,
    /// and the asset's [`asset_print`] when it has a set (None: it has none, nor was one made).
    #[inline]
    fn update(
        &mut self,
        sid: usize,
        asset: &Id,
        holds: bool,
    ) -> (bool, Option<Option<NonZeroU64>>) {
        match self.place(sid, asset) {
            Some(p) if holds => (self.entries[p].1.insert(sid), Some(self.prints[p])),
            Some(p) => (self.entries[p].1.remove(sid), Some(self.prints[p])),
            None if holds => {
                let mut set = SlotSet::default();
                set.insert(sid);
                self.insert_for(sid, asset, set);
                (true, self.prints.last().copied())
            }
            // No set: no slot of the asset is open, this one included.
            None => (false, None),
        }
    }
}

/// The same assets with the same values.
impl<V: Held + PartialEq> PartialEq for ByAsset<V> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().count() == other.iter().count()
            && self.iter().all(|(asset, v)| other.get(asset) == Some(v))
    }
}

/// As the map of the assets whose value is something.
impl<V: Held + Serialize> Serialize for ByAsset<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.iter().count()))?;
        for (asset, v) in self.iter() {
            m.serialize_entry(asset, v)?;
        }
        m.end()
    }
}

impl<'de, V: Held + Deserialize<'de>> Deserialize<'de> for ByAsset<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut by_asset = ByAsset::default();
        for (asset, v) in IdMap::<Id, V>::deserialize(d)? {
            by_asset.insert(asset, v);
        }
        Ok(by_asset)
    }
}

/// Quantities closer than this are equal (fills arrive as floats from venues).
pub const QTY_EPS: f64 = 1e-9;

/// Why an intent's `target_size` at or below [`QTY_EPS`] is refused (rules 8 on).
const TOO_SMALL: &str = "at or below the smallest size the kernel trades (1e-9)";

/// How many accepted intent ids the kernel remembers to refuse reuse.
pub const INTENT_MEMORY: usize = 100_000;
/// How many finished orders are remembered to recognise late events for them.
pub const FINISHED_ORDER_MEMORY: usize = 50_000;
/// How many predicted fees wait for the exchange's settlement at most.
pub const UNSETTLED_FILL_MEMORY: usize = 100_000;
/// How many account event ids are remembered for duplicate detection (rules 31 on, of the
/// ACCOUNT_UPDATEs only: see [`MONEY_EVENT_MEMORY`]).
pub const ACCOUNT_EVENT_MEMORY: usize = 10_000;
/// Rules 31 on, how many ids of the account events that move money (FUNDING_FEE,
/// FILL_SETTLED) are remembered, apart from the ACCOUNT_UPDATEs, which come far more often
/// and pushed a payment's id out of their memory: a resent payment was booked again.
pub const MONEY_EVENT_MEMORY: usize = 100_000;
/// Rules 32 on, how many FILL_SETTLEDs that came before their fill are held for it at most
/// ([`EarlySettlements`]); past that the oldest is forgotten, and its fill keeps its
/// predicted fee, as every early settlement's did before.
pub const EARLY_SETTLEMENT_MEMORY: usize = 5_000;
/// Rules 32 on, how many settled fills (by fill id and the asset their settlement named) are
/// remembered: a settlement of one again, under another event id, is refused as settled
/// already (UNKNOWN_ORDER, as before), not held for a fill that will not come.
pub const SETTLED_FILL_MEMORY: usize = 10_000;
/// Rules 33 on, how many ids of FUNDING_FEEs the money event memory forgot at the latest time
/// one had are kept ([`FundingTimes`]): a venue pays each asset's funding once at each time.
pub const FORGOTTEN_FUNDING_IDS: usize = 4_096;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub mode: ControlMode,
    pub verbosity: Verbosity,
    pub debug_clickhouse_enabled: bool,
    pub source: String,
    pub frozen: bool,
    pub freeze_reason: String,
    pub freeze_asset: String,
    pub freeze_events: u64,
    pub updated_seq: u64,
}

impl Control {
    /// Names `asset`, its edge `edge_bps` below `threshold`, as what holds the edge freeze.
    fn freeze_for(&mut self, asset: &str, edge_bps: f64, threshold: f64) {
        self.freeze_reason = format!("edge {edge_bps:.4} bps below threshold {threshold:.4} bps");
        self.freeze_asset = asset.to_string();
    }

    /// Lifts the edge freeze.
    fn lift_freeze(&mut self) {
        self.frozen = false;
        self.freeze_reason.clear();
        self.freeze_asset.clear();
    }
}

impl Default for Control {
    fn default() -> Self {
        Control {
            mode: ControlMode::Paper,
            verbosity: Verbosity::Normal,
            debug_clickhouse_enabled: true,
            source: "default".into(),
            frozen: false,
            freeze_reason: String::new(),
            freeze_asset: String::new(),
            freeze_events: 0,
            updated_seq: 0,
        }
    }
}

/// The empty memory of money events' ids ([`MONEY_EVENT_MEMORY`]).
fn money_event_memory() -> RecentSet<Id> {
    RecentSet::new(MONEY_EVENT_MEMORY)
}

/// A fill whose fee was predicted and waits for the exchange's FILL_SETTLED.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnsettledFill {
    pub slot_id: usize,
    pub trade_id: Id,
    pub predicted_fee: f64,
    pub price: f64,
    pub qty: f64,
    pub liquidity_maker: bool,
    /// The fill's asset, by its fingerprint ([`asset_print`]; rules 19 on): None for a fill
    /// booked under older rules, which a settlement naming any asset settles, as then. A
    /// fingerprint, not the text, because every fill waiting carries it and the queue of
    /// 100,000 of them is what the kernel's cycle waits on memory for most. Not in the
    /// kernel's serde state, which checkpoints of older builds share: in a checkpoint's last
    /// part ([`UnsettledTail`]).
    #[serde(skip)]
    pub asset: Option<NonZeroU64>,
    /// The size of the report the fill was booked from, when an earlier report had booked
    /// the rest of it (`Covered`, rules 19 on): the exchange's fee for the fill id is for the
    /// whole report, and this fill's share of it is `qty / report_size`. 0 when the report
    /// was booked whole. In a checkpoint's last part, as `asset`.
    #[serde(skip)]
    pub report_size: f64,
    /// The fee rate the fill was predicted at (rules 29 on; unknown before), which its
    /// settlement is compared with: a rate changed since (a new fee tier) is not what the
    /// venue charged the fill. In a checkpoint's last part ([`UnsettledRates`]).
    #[serde(skip)]
    pub rate: PredictedRate,
}

/// The fee rate a waiting fill was predicted at, as an f32 in the padding beside
/// `liquidity_maker`: the queue of 100,000 waiting fills is what the kernel's cycle waits on
/// memory for most, and an `Option<f64>` made each of them 16 bytes larger. NaN while not known
/// (a fill booked under rules 28 or older).
#[derive(Clone, Copy, Debug)]
pub struct PredictedRate(f32);

impl Default for PredictedRate {
    fn default() -> Self {
        PredictedRate(f32::NAN)
    }
}

/// Equal when the same bits: two fills of unknown rates are alike.
impl PartialEq for PredictedRate {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl PredictedRate {
    pub fn of(rate: f64) -> Self {
        PredictedRate(rate as f32)
    }

    /// The rate, when known.
    pub fn known(self) -> Option<f64> {
        (!self.0.is_nan()).then_some(f64::from(self.0))
    }

    /// What a settlement is compared with, the configured rate being `now`: `now` itself when
    /// the fill was predicted at it (to an f32's precision) or at a rate not known, else the
    /// rate it was predicted at.
    pub fn against(self, now: f64) -> f64 {
        if self.0.is_nan() || self.0 == now as f32 {
            now
        } else {
            f64::from(self.0)
        }
    }
}

/// What an unsettled fill knows its asset by: the asset's 64-bit fingerprint (two assets
/// sharing one, and a fill id, have odds near 2^-64), None for none.
pub fn asset_print(asset: &str) -> Option<NonZeroU64> {
    if asset.is_empty() {
        None
    } else {
        NonZeroU64::new(fingerprint(asset))
    }
}

/// The fills whose fees wait under one fill id: one, and from rules 19 on one per asset
/// (venues number trades per market: BTCUSDT's trade 123 and ETHUSDT's are two fills). The
/// kernel's serde state holds the first, as it held the one fill before; the others, rare
/// and so out of line, are in a checkpoint's last part ([`UnsettledTail`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Unsettled {
    first: UnsettledFill,
    /// Boxed: one word in each of the 100,000 waiting, where a `Vec` takes three.
    #[allow(clippy::box_collection)]
    #[serde(skip)]
    more: Option<Box<Vec<UnsettledFill>>>,
}

/// Why a FILL_SETTLED matches no one unsettled fill of its id.
enum Unmatched {
    /// No fill of the id has the event's asset.
    NoFill,
    /// The event names no asset, and fills of several assets wait under the id.
    Ambiguous,
}

impl Unsettled {
    fn one(fill: UnsettledFill) -> Self {
        Unsettled {
            first: fill,
            more: None,
        }
    }

    /// The fills of other assets under the id.
    fn more(&self) -> &[UnsettledFill] {
        self.more.as_deref().map_or(&[], Vec::as_slice)
    }

    fn len(&self) -> usize {
        1 + self.more().len()
    }

    fn fill(&self, i: usize) -> &UnsettledFill {
        if i == 0 {
            &self.first
        } else {
            &self.more()[i - 1]
        }
    }

    /// What all its fills' predictions add up to.
    fn predicted(&self) -> f64 {
        match self.more() {
            [] => self.first.predicted_fee,
            more => self.first.predicted_fee + more.iter().map(|f| f.predicted_fee).sum::<f64>(),
        }
    }

    /// Takes in `new`, a fill under the same id (rules 19 on): it replaces the fill of its
    /// asset (the same fill id of one market again while its fee waits: only the newest
    /// counts, as for any fill id before), or waits beside the others. A fill whose asset is
    /// not known (booked under older rules) is no fill of `new`'s asset. Returns the
    /// prediction it replaced.
    /// A fill of another slot or trade is not the same fill again (a venue's self-trade: one
    /// trade id, both sides of one market): it waits beside.
    fn absorb(&mut self, new: UnsettledFill) -> f64 {
        let same = |f: &UnsettledFill| {
            f.asset == new.asset && f.slot_id == new.slot_id && f.trade_id == new.trade_id
        };
        if same(&self.first) {
            return std::mem::replace(&mut self.first, new).predicted_fee;
        }
        let more = self.more.get_or_insert_with(Default::default);
        match more.iter_mut().find(|f| same(f)) {
            Some(old) => std::mem::replace(old, new).predicted_fee,
            None => {
                more.push(new);
                0.0
            }
        }
    }

    /// Which of its fills a FILL_SETTLED naming `asset` settles (rules 19 on): the fill of
    /// that asset, else one whose asset is not known (booked under older rules, when the
    /// asset was not read); without an asset, the one fill there is. Of several of the asset
    /// (a self-trade, rules 33 on: nothing else says its side), the one whose predicted fee is
    /// nearest the settlement's `fee` (its share of a report booked in part), the oldest of equals.
    fn pick(&self, asset: &str, fee: f64) -> Result<usize, Unmatched> {
        let nearest = |a: Option<NonZeroU64>| {
            let off = |i: usize| {
                let f = self.fill(i);
                let share = if f.report_size > 0.0 {
                    f.qty / f.report_size
                } else {
                    1.0
                };
                (fee * share - f.predicted_fee).abs()
            };
            (0..self.len())
                .filter(|&i| self.fill(i).asset == a)
                .min_by(|&i, &j| off(i).total_cmp(&off(j)))
        };
        if asset.is_empty() {
            return match self.len() {
                1 => Ok(0),
                _ if self.more().iter().all(|f| f.asset == self.first.asset) => {
                    nearest(self.first.asset).ok_or(Unmatched::NoFill)
                }
                _ => Err(Unmatched::Ambiguous),
            };
        }
        let print = asset_print(asset);
        nearest(print)
            .or_else(|| nearest(None))
            .ok_or(Unmatched::NoFill)
    }

    /// Takes fill `i` out of the two or more it holds.
    fn remove(&mut self, i: usize) -> UnsettledFill {
        let more = self.more.as_mut().expect("two or more fills");
        let taken = if i == 0 {
            std::mem::replace(&mut self.first, more.remove(0))
        } else {
            more.remove(i - 1)
        };
        if more.is_empty() {
            self.more = None;
        }
        taken
    }
}

/// A FILL_SETTLED that came before its fill (rules 32 on): a venue's account stream often runs
/// ahead of its order stream. Held, it settles the fill of its id and asset when that is booked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlySettlement {
    pub event_id: Id,
    pub fill_id: Id,
    /// Empty when the event named none: it settles the first fill of its id booked.
    pub asset: Id,
    pub fee: f64,
}

/// The FILL_SETTLEDs held for their fills (rules 32 on), oldest first, at most
/// [`EARLY_SETTLEMENT_MEMORY`]. Before, each was refused UNKNOWN_ORDER and dropped: its fill's
/// predicted fee stood for good. Not in the kernel's serde state: a checkpoint's last part.
#[derive(Clone, Debug)]
struct EarlySettlements {
    held: VecDeque<EarlySettlement>,
    /// How many are held under each fill id: a fill booked looks its id up here, and scans
    /// `held` only when one waits for it.
    fill_ids: IdMap<Id, u32>,
    /// How many were forgotten, pushed out by newer ones.
    forgotten: u64,
    /// The fills settled, by [`settled_key`] ([`SETTLED_FILL_MEMORY`]).
    settled: RecentSet<u64>,
}

impl Default for EarlySettlements {
    fn default() -> Self {
        EarlySettlements {
            held: VecDeque::new(),
            fill_ids: IdMap::default(),
            forgotten: 0,
            settled: RecentSet::new(SETTLED_FILL_MEMORY),
        }
    }
}

/// What the memory of settled fills knows a settlement by: its fill id and the asset it named
/// (none too: a venue naming none names none when it sends it again).
fn settled_key(fill_id: &str, asset: &str) -> u64 {
    settled_key_of(fingerprint(fill_id), fingerprint(asset))
}

/// [`settled_key`] from the fill id's and the asset's fingerprints.
fn settled_key_of(id_print: u64, asset_print: u64) -> u64 {
    id_print ^ asset_print.rotate_left(29)
}

/// What the memory of settled fills knows a fill booked with its venue's own fee by (rules 33
/// on): its [`settled_key`] set apart, so a settlement of it is answered as such.
fn booked_with_fee_key(settled_key: u64) -> u64 {
    settled_key ^ 0x0b00_c3d0_f1ee_5a1d
}

impl EarlySettlements {
    /// Where the newest held for fill `fill_id` of `asset` (as its event named it) is.
    fn position(&self, fill_id: &Id, asset: &str) -> Option<usize> {
        if !self.fill_ids.contains_key(fill_id) {
            return None;
        }
        self.held
            .iter()
            .rposition(|s| s.fill_id == *fill_id && s.asset == asset)
    }

    /// Those held for fill `fill_id` of `asset` (as the event named it), oldest first: one,
    /// or rules 33 on two of different fees (a self-trade's two sides).
    fn held_for<'a>(
        &'a self,
        fill_id: &'a Id,
        asset: &'a str,
    ) -> impl Iterator<Item = &'a EarlySettlement> + 'a {
        let any = if self.fill_ids.contains_key(fill_id) {
            self.held.len()
        } else {
            0
        };
        self.held
            .iter()
            .take(any)
            .filter(move |s| s.fill_id == *fill_id && s.asset == asset)
    }

    /// Holds `s`; returns the oldest, when it was pushed out.
    fn hold(&mut self, s: EarlySettlement) -> Option<EarlySettlement> {
        *self.fill_ids.entry(s.fill_id.clone()).or_default() += 1;
        self.held.push_back(s);
        if self.held.len() <= EARLY_SETTLEMENT_MEMORY {
            return None;
        }
        let oldest = self.held.pop_front()?;
        self.unindex(&oldest.fill_id);
        self.forgotten += 1;
        Some(oldest)
    }

    /// Takes out the settlement held for the fill `fill_id` of `asset` just booked: the one
    /// naming that asset, else one naming none. Searched from the newest: one that came
    /// before its fill came just before. Of two (a self-trade's sides, rules 33 on), the one
    /// whose fee is nearest `fee`, the fill's (its whole report's).
    fn take(&mut self, fill_id: &Id, asset: &str, fee: f64) -> Option<EarlySettlement> {
        let i = self
            .position(fill_id, asset)
            .or_else(|| self.position(fill_id, ""))?;
        let named = &self.held[i].asset;
        let off = |s: &EarlySettlement| (s.fee - fee).abs();
        // The other side's, older, nearer the fill's fee.
        let i = self
            .held
            .iter()
            .take(i)
            .rposition(|s| s.fill_id == *fill_id && s.asset == *named)
            .filter(|&j| off(&self.held[j]) < off(&self.held[i]))
            .unwrap_or(i);
        let s = self.held.remove(i)?;
        self.unindex(fill_id);
        Some(s)
    }

    /// Remembers fill `fill_id`, settled by a settlement naming `asset` ([`settled_key`]).
    fn settled(&mut self, fill_id: &str, asset: &str) {
        self.settled.insert(settled_key(fill_id, asset));
    }

    /// Rules 33 on, remembers fill `fill_id` of `asset` (its fingerprint, [`asset_print`]) as
    /// a settlement names it either way: by its asset and by none. `booked_with_fee`: booked
    /// with its venue's own fee, nothing to settle ([`booked_with_fee_key`]); else settled.
    fn settled_both_ways(
        &mut self,
        fill_id: &str,
        asset: Option<NonZeroU64>,
        booked_with_fee: bool,
    ) {
        let id_print = fingerprint(fill_id);
        let none = fingerprint("");
        for a in [asset.map_or(none, NonZeroU64::get), none] {
            let key = settled_key_of(id_print, a);
            self.settled.insert(if booked_with_fee {
                booked_with_fee_key(key)
            } else {
                key
            });
        }
    }

    fn unindex(&mut self, fill_id: &Id) {
        if let Entry::Occupied(mut e) = self.fill_ids.entry(fill_id.clone()) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// Rules 33 on, the times of the FUNDING_FEEs the money event memory holds and of those it
/// forgot: a payment resent once [`MONEY_EVENT_MEMORY`] later payments and settlements pushed
/// its id out is known by its time. A venue pays funding in time order, so a payment stamped
/// before one the memory forgot came long ago. Not in the kernel's serde state: a
/// checkpoint's last part.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FundingTimes {
    /// The stamped FUNDING_FEEs the money event memory holds, taken oldest first: id, time.
    held: VecDeque<(Id, f64)>,
    /// The latest time of a payment the memory forgot (0: none), and the fingerprints of the
    /// ids of those forgotten at that time (at most [`FORGOTTEN_FUNDING_IDS`]): another
    /// asset's payment of that time is news.
    forgotten_at: f64,
    forgotten_ids: VecDeque<u64>,
}

impl FundingTimes {
    /// The money event memory forgets `oldest`: if a payment held, its time is noted, when
    /// `believed` (not further ahead of the kernel's inputs than [`FIGURE_TIME_LEAD`], as an
    /// E figure's: one stamped in milliseconds among seconds would refuse every later one).
    fn forget(&mut self, oldest: &Id, believed: impl Fn(f64) -> bool) {
        if self.held.front().is_none_or(|(held, _)| held != oldest) {
            return;
        }
        let Some((event_id, at)) = self.held.pop_front() else {
            return;
        };
        if !believed(at) || at < self.forgotten_at {
            return;
        }
        if at > self.forgotten_at {
            self.forgotten_at = at;
            self.forgotten_ids.clear();
        }
        if self.forgotten_ids.len() >= FORGOTTEN_FUNDING_IDS {
            self.forgotten_ids.pop_front();
        }
        self.forgotten_ids.push_back(fingerprint(&event_id));
    }

    /// The time of the forgotten payment a FUNDING_FEE `event_id` stamped `ts`, not in the
    /// memory, is as old as: stamped before it, or at its time under an id forgotten then.
    fn forgotten(&self, event_id: &str, ts: f64) -> Option<f64> {
        let at = self.forgotten_at;
        let old = ts > 0.0
            && (ts < at || (ts == at && self.forgotten_ids.contains(&fingerprint(event_id))));
        old.then_some(at)
    }
}

/// What a checkpoint holds of the slots beyond the kernel's serde state (rules 21; one written
/// before ends with the fee calibrations): each slot's `leg_taken` that is not 0, by slot id.
/// Outside the slot's own encoding, which a `reconcile_from_slots` record of rules 21 or older
/// holds alone; from rules 22 on that record carries one beside its slots
/// ([`KernelInput::ReplaceSlotsLegs`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LegTail(Vec<(u32, f64)>);

impl LegTail {
    /// What exit fills took of `slots`' legs.
    pub fn of(slots: &[TradeSlot]) -> Self {
        LegTail(
            slots
                .iter()
                .filter(|s| s.leg_taken != 0.0)
                .map(|s| (s.slot_id as u32, s.leg_taken))
                .collect(),
        )
    }

    /// Each slot's `leg_taken` that is not 0, by slot id.
    pub fn entries(&self) -> &[(u32, f64)] {
        &self.0
    }

    /// Sets each slot's `leg_taken` to what this says (0 where it says nothing), once it is
    /// checked as this build writes it: in slot order, each slot once, within `slots`, each a
    /// positive number. Nothing changes on an error.
    pub fn set_on(&self, slots: &mut [TradeSlot]) -> Result<(), String> {
        let taken = &self.0;
        check_by_slot(taken, slots.len(), "leg_taken")?;
        if let Some(&(sid, t)) = taken.iter().find(|(_, t)| !(t.is_finite() && *t > 0.0)) {
            return Err(format!("slot {sid} leg_taken {t} is not a positive number"));
        }
        slots.iter_mut().for_each(|s| s.leg_taken = 0.0);
        for &(sid, t) in taken {
            slots[sid as usize].leg_taken = t;
        }
        Ok(())
    }
}

/// Checks a checkpoint part that holds `what` for some slots, by slot id, as this build writes
/// it: in slot order, each slot once, within the kernel's `n` slots.
fn check_by_slot<T>(entries: &[(u32, T)], n: usize, what: &str) -> Result<(), String> {
    if let Some(w) = entries.windows(2).find(|w| w[0].0 >= w[1].0) {
        return Err(format!(
            "{what} of slot {} after slot {}: not in slot order",
            w[1].0, w[0].0
        ));
    }
    match entries.iter().find(|(sid, _)| *sid as usize >= n) {
        Some(&(sid, _)) => Err(format!("{what} of slot {sid}, beyond the {n} slots")),
        None => Ok(()),
    }
}

/// The most a count in a checkpoint may say (2^62): one per input, a run at a million inputs a
/// second takes 146,000 years to reach it, and adding one to it never overflows.
pub const MAX_COUNT: u64 = 1 << 62;

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
        legs: LegTail,
    },
    CalibrateFee {
        price: f64,
        qty: f64,
        actual_fee: f64,
        maker: bool,
    },
}

impl KernelInput {
    /// The record of `reconcile_from_slots(slots)`: the slots with what exits took of their
    /// legs beside them.
    pub fn replace_slots(slots: Vec<TradeSlot>) -> Self {
        let legs = LegTail::of(&slots);
        KernelInput::ReplaceSlots { slots, legs }
    }
}

/// Per asset, how many slots are engaged on it each way (and, rules 25 on, the sums of
/// [`AssetCounts`]), kept as they change, so that an exit
/// knows in O(1) when no other slot may take from the venue's netted position the other way
/// (rules 24, [`Kernel::exit_reduces`]) without walking the slots of the asset. A slot is
/// engaged from its entry's submit until it holds nothing and no entry of it works
/// ([`engaged`]): a slot holding the asset the other way, or with an entry working on the
/// exit's side of the book, is engaged the other way. Counts, not sizes: exact, and the same
/// however they were reached, so a kernel restored from a checkpoint counts what the live one
/// did. Not part of the serde state: made again from the slots wherever they are restored or
/// replaced ([`Kernel::recount_sides`]).
#[derive(Clone, Debug, Default)]
struct SideCounts {
    /// By asset, in the order first counted, and the index of each asset's place. A place is
    /// kept once made (one per asset traded, as the market limits are), so a trade opening
    /// and closing on it finds it, and a slot counted on it keeps its place (`SlotCount`)
    /// instead of looking the asset up at each change.
    assets: Vec<(Id, AssetCounts)>,
    index: IdMap<Id, u32>,
    /// What each slot was last counted as, grown as slots are counted.
    slots: Vec<SlotCount>,
    /// Whether the counts follow the slots. False in a kernel decoded until they are made
    /// again: changes are not counted, and every exit walks the slots as it did before.
    current: bool,
}

/// A slot as [`SideCounts`] last counted it: its part of its asset's sums, and the place of
/// that asset (`NO_PLACE` while it counts on none: its asset may change only then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SlotCount {
    units: SlotUnits,
    place: u32,
}

const NO_PLACE: u32 = u32::MAX;

impl Default for SlotCount {
    fn default() -> Self {
        SlotCount {
            units: SlotUnits::default(),
            place: NO_PLACE,
        }
    }
}

/// An asset's counts in [`SideCounts`]: how many slots are engaged on it, long and short
/// (rules 24), and, rules 25 on, the slots' netted position and what their working orders
/// have left, by side of the book ([`book_side`]), as exact sums in [`units`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct AssetCounts {
    engaged: [u32; 2],
    net: i128,
    working: [i128; 2],
}

/// A slot's part of its asset's sums ([`AssetCounts`]): its signed position and what its
/// working orders have left, by side of the book, in [`units`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct SlotUnits {
    net: i128,
    working: [i128; 2],
}

impl SlotUnits {
    /// Whether any of its sums is not 0 (it is not `SlotUnits::default()`): one test of the
    /// three ORed together.
    #[inline(always)]
    fn counts_any(&self) -> bool {
        (self.net | self.working[0] | self.working[1]) != 0
    }

    fn of(slot: &TradeSlot) -> Self {
        // Only a slot holding a position counts in the net, as the walk nets the open slots
        // (`open_by_asset`): a slot left with dust is not, and may turn FLAT after it was
        // last counted.
        let net = if slot.size > QTY_EPS {
            units(slot.side.sign() * slot.size)
        } else {
            0
        };
        let mut u = SlotUnits {
            net,
            working: [0, 0],
        };
        for o in [&slot.active_entry_order, &slot.active_exit_order]
            .into_iter()
            .flatten()
        {
            u.working[book_side(o.side)] += units(o.remaining());
        }
        u
    }
}

/// Sizes as whole units of 1e-15 of a size (rules 25), so that sums of them are exact: the
/// same in any order of adding and taking away, so a kernel counting as it goes and one
/// counting a checkpoint's slots afresh hold the same sums, and decide alike. A size is at
/// most 1e15 (`error::MAX_MAGNITUDE`), 1e30 units, and a larger one (a log of rules 8 or
/// older replays unbounded) is held at that: i128 sums 170 million of them.
///
/// Whole units by truncation (a cast, where rounding is a library call on the baseline
/// x86-64): monotonic and the same for the same size, which is all the sums need.
#[inline]
fn units(size: f64) -> i128 {
    let u = size * UNITS_PER_SIZE;
    if u.abs() < 9e18 {
        // SAFETY: `u` is finite (NaN fails the comparison) and within i64, so the one
        // instruction the unchecked cast is truncates it exactly as `as` would, without the
        // saturating cast's checks.
        i128::from(unsafe { u.to_int_unchecked::<i64>() })
    } else {
        // Beyond i64 (a size of 9,000 or more), held within a size of 1e15; NaN is 0.
        let most = MAX_MAGNITUDE * UNITS_PER_SIZE;
        u.clamp(-most, most) as i128
    }
}

/// [`units`] in a size.
const UNITS_PER_SIZE: f64 = 1e15;

/// The index of `side` in per-side sums.
fn book_side(side: OrderSide) -> usize {
    match side {
        OrderSide::Buy => 0,
        OrderSide::Sell => 1,
    }
}

impl SideCounts {
    fn current() -> Self {
        SideCounts {
            current: true,
            ..SideCounts::default()
        }
    }

    /// Counts slot `sid` of `asset` on `side` as engaged or no longer (`engaged`: None when
    /// that did not change) and as adding `now` to the asset's sums, taking the asset's
    /// place first if the slot holds none (it leaves it in `count_off` only).
    #[inline(always)]
    fn count(
        &mut self,
        asset: &Id,
        side: TradeSide,
        engaged: Option<bool>,
        sid: usize,
        now: SlotUnits,
    ) {
        if !self.current {
            return;
        }
        let place = self.place_of(asset, sid);
        let counted = &mut self.slots[sid];
        let was = std::mem::replace(&mut counted.units, now);
        let c = &mut self.assets[place as usize].1;
        c.net += now.net - was.net;
        for i in 0..2 {
            c.working[i] += now.working[i] - was.working[i];
        }
        Self::engage(c, side, engaged);
    }

    /// Where slot `sid`'s asset `asset` is counted, its place taken when it has none.
    #[inline(always)]
    fn place_of(&mut self, asset: &Id, sid: usize) -> u32 {
        let place = match self.slots.get(sid).map_or(NO_PLACE, |c| c.place) {
            NO_PLACE => self.take_place(asset, sid),
            p => p,
        };
        debug_assert_eq!(
            &self.assets[place as usize].0, asset,
            "a slot's asset changed while counted"
        );
        place
    }

    /// As [`SideCounts::count`] where only what the slot's working orders have left changed,
    /// by `by` (per side of the book): the slot's count and its asset's sums moved by it,
    /// without the slot's whole units made again and compared.
    #[inline(always)]
    fn count_working(
        &mut self,
        asset: &Id,
        side: TradeSide,
        engaged: Option<bool>,
        sid: usize,
        by: [i128; 2],
    ) {
        if !self.current {
            return;
        }
        let place = self.place_of(asset, sid);
        let counted = &mut self.slots[sid];
        let c = &mut self.assets[place as usize].1;
        let [buy, sell] = by;
        counted.units.working[0] += buy;
        counted.units.working[1] += sell;
        c.working[0] += buy;
        c.working[1] += sell;
        Self::engage(c, side, engaged);
    }

    /// Counts a slot on `side` of `c` as engaged or no longer (`engaged`: None when that did
    /// not change).
    #[inline(always)]
    fn engage(c: &mut AssetCounts, side: TradeSide, engaged: Option<bool>) {
        let i = match side {
            TradeSide::Long => Some(0),
            TradeSide::Short => Some(1),
            // Counts nothing in the netted position either (`TradeSide::sign`).
            TradeSide::Flat => None,
        };
        if let (Some(i), Some(up)) = (i, engaged) {
            // A count taken below 0 (which would be a bug) reads as many, never as none: an
            // exit then walks the slots rather than trusting it.
            let n = &mut c.engaged[i];
            *n = if up {
                n.saturating_add(1)
            } else {
                n.checked_sub(1).unwrap_or(u32::MAX)
            };
        }
    }

    /// Gives slot `sid` the place of `asset`'s sums, made if no slot had it (see `count`).
    #[cold]
    #[inline(never)]
    fn take_place(&mut self, asset: &Id, sid: usize) -> u32 {
        if sid >= self.slots.len() {
            self.slots.resize(sid + 1, SlotCount::default());
        }
        let place = match self.index.get(asset.as_str()) {
            Some(&p) => p,
            None => {
                self.assets.push((asset.clone(), AssetCounts::default()));
                let p = (self.assets.len() - 1) as u32;
                self.index.insert(asset.clone(), p);
                p
            }
        };
        self.slots[sid].place = place;
        place
    }

    /// Counts slot `sid` off its asset (engaged on it or not: `was_engaged`, on `side`),
    /// before its asset becomes `next`: leaving its place, unless `next` is the same asset (a
    /// slot trading one market keeps its place, and its next count looks nothing up).
    /// Whether `next` is another asset.
    fn count_off(
        &mut self,
        asset: &Id,
        side: TradeSide,
        was_engaged: bool,
        sid: usize,
        next: &Id,
    ) -> bool {
        // Read in place, its three sums at one test (`counts_any`), not copied out and
        // compared with the empty count.
        let counts_any = self.slots.get(sid).is_some_and(|c| c.units.counts_any());
        if counts_any || was_engaged {
            self.count(
                asset,
                side,
                was_engaged.then_some(false),
                sid,
                SlotUnits::default(),
            );
        }
        let other = asset != next;
        if other {
            if let Some(counted) = self.slots.get_mut(sid) {
                counted.place = NO_PLACE;
            }
        }
        other
    }

    /// What slot `sid` was last counted as.
    fn counted(&self, sid: usize) -> SlotUnits {
        self.slots
            .get(sid)
            .map_or(SlotUnits::default(), |c| c.units)
    }

    /// The counts of `asset`, when any slot was counted on it; for slot `sid` on it, without
    /// a lookup once it was.
    fn of(&self, asset: &Id, sid: usize) -> Option<&AssetCounts> {
        let place = match self.slots.get(sid).map_or(NO_PLACE, |c| c.place) {
            NO_PLACE => *self.index.get(asset.as_str())?,
            p => p,
        };
        Some(&self.assets[place as usize].1)
    }
}

/// Whether `slot` is engaged on its asset ([`SideCounts`]): it holds a position or an entry
/// of it works. Its asset and side change only while it is not.
fn engaged(slot: &TradeSlot) -> bool {
    slot.size > QTY_EPS || slot.active_entry_order.is_some()
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

/// Which kept order: its slot, whether it is the slot's entry (else its exit), and whether
/// it filled completely (kept only so the venue's reports of fills a reconciliation booked
/// are known as such: any other fill of it is an overfill).
pub(crate) type KeptKey = (usize, bool, bool);

/// A claimant of a venue id that is no kept order: an order that carried the id and
/// finished without being kept, while kept orders carried it too.
const GONE: KeptKey = (usize::MAX, false, false);

/// An order kept after it ended (see [`EndedOrders`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Kept {
    order: VenueOrder,
    /// The cumulative filled size the venue reported with the end, when it said (above 0):
    /// late fills may bring the order up to it and no further.
    final_filled: Option<f64>,
    /// Rules 12 on, for an order that ended without that figure: the highest running total
    /// its fill reports stated (while the order was followed by their intervals, see
    /// [`Covered`]), when above what is booked. The slot waits for it as for the end's
    /// figure, but it bounds nothing: a later report may state more. Carried in a
    /// checkpoint's last part ([`Kernel::stated_totals`]), so older checkpoints still load.
    #[serde(skip)]
    stated_total: f64,
    /// Rules 13 on, for an order rate limited before the venue acknowledged it, with a cancel
    /// asked: whether it may still work at the venue (the throttled request may have been its
    /// cancel as well as its submit). Until that is known (a late fill completes it, the venue
    /// or a reconciliation ends it, or the slot is loaded with another size), its slot takes no new
    /// order: a second exit beside a first still working sells the position twice, and a new
    /// trade forgets the order whose fill may come. Carried in a checkpoint's last part
    /// ([`Kernel::in_doubt_keys`]), so older checkpoints still load.
    #[serde(skip)]
    in_doubt: bool,
    /// Fingerprints of the fills already applied to the order (the slot's memory when it
    /// ended, then each late fill): a fill resent later is known even once the slot's own
    /// memory has moved on.
    fills: RecentRing,
    /// The slot's exit leg when the order ended: a late fill completing an exit advances the
    /// leg only if no other exit was sent since.
    leg: usize,
    /// What [`EndedOrders`] last counted the order as ([`Kept::flags`], [`Kept::units`]),
    /// so a change is counted once. Not part of a checkpoint: kept orders are counted as
    /// they are kept.
    #[serde(skip)]
    counted: (u8, i128),
}

/// [`Kept::flags`]: owed a fill, kept in doubt.
const OWED: u8 = 1;
const DOUBTED: u8 = 2;

impl Kept {
    /// Whether the order is owed a fill (`due`) and in doubt, as [`EndedOrders`] counts them.
    fn flags(&self) -> u8 {
        (if self.due() > 0.0 { OWED } else { 0 }) | (if self.in_doubt { DOUBTED } else { 0 })
    }

    /// What the order may still take from the venue's position, in [`units`]: what is left
    /// of it while in doubt (it may still work), else what the venue said filled of it that
    /// is not booked (`due`).
    fn units(&self) -> i128 {
        units(if self.in_doubt {
            self.order.remaining()
        } else {
            self.due()
        })
    }

    /// What the venue said filled of the order beyond what is booked (its end's figure, or
    /// the running total its reports stated), 0 within the size's tolerance.
    fn due(&self) -> f64 {
        let due = self.final_filled.unwrap_or(self.stated_total) - self.order.filled_size;
        if due > size_tolerance(self.order.size) {
            due
        } else {
            0.0
        }
    }
}

/// Per slot, the last entry and the last exit order that ended without filling completely
/// (a cancel ack, an expiry, a reject after part of it filled, or, rules 10 on, a rate limit
/// before the ack with a cancel asked, which may have been the cancel's), by slot and by
/// their client and venue ids: a venue may still send a fill for it (a fill racing the
/// cancel), and that fill is money moving, to be applied, not lost. Orders that never
/// reached the venue (rate limited with no cancel asked, rejected unfilled) are not kept.
/// Forgotten when the slot starts a new trade. Not part of the serde state: a checkpoint carries it after the kernel's
/// bytes, so older checkpoints still load.
#[derive(Clone, Debug, Default)]
pub(crate) struct EndedOrders {
    by_key: IdMap<KeptKey, Kept>,
    /// The kernel's own (unique) client ids to their kept order.
    by_client_id: IdMap<Id, KeptKey>,
    /// Venue ids to the kept orders that carry them: an id two claim (a venue reusing ids)
    /// names neither, until all but one are forgotten.
    by_venue_id: IdMap<Id, Vec<KeptKey>>,
    /// For orders working or kept, the venue's filled size a reconciliation booked: every
    /// venue fill up to it is accounted for (see `Kernel::covered_by_reconciliation`).
    reconciled: IdMap<Id, f64>,
    /// For kept orders followed under rules 5, what their reports covered when they ended,
    /// and since (see [`Covered`]). Carried in a checkpoint's tail, not in [`EndedRepr`].
    covered: IdMap<KeptKey, Covered>,
    /// How many kept orders are owed a fill (`Kept::due`), and how many are in doubt (rules
    /// 13): while none is, `Kernel::orders_in_doubt`, which a runtime asks between data
    /// points, looks at no kept order, and the caps look at none in doubt. A fill owed moved
    /// the venue's position, not yet the slots'.
    owed_count: u32,
    in_doubt_count: u32,
    /// How many kept entries are owed a fill: while none is, the notional caps (rules 18)
    /// look at no kept order for one. Counted, not a flag set for good: an entry cancelled
    /// unfilled is kept (a fill may race the cancel), and one owed a fill once would have
    /// had every capped ENTER after walk every kept order.
    owed_entries: u32,
    /// The same two counts by asset, and what the asset's kept orders may still take from
    /// the venue's position, by side ([`KeptCounts`]; an asset leaves when none counts):
    /// while none is owed or in doubt on an asset, its exits decide their reduce-only
    /// without looking at the kept orders (rules 24 and 25, `Kernel::exit_reduces`),
    /// whatever is owed on another.
    by_asset: IdMap<Id, KeptCounts>,
}

/// An asset's kept orders in [`EndedOrders::by_asset`]: how many are owed a fill and how
/// many in doubt, and by side of the book ([`book_side`]) what they may still take from the
/// venue's position ([`Kept::units`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct KeptCounts {
    n: [u32; 2],
    taken: [i128; 2],
}

impl EndedOrders {
    fn keep(&mut self, key: KeptKey, mut kept: Kept) {
        self.forget(key);
        // Counted afresh here (`note_owed`, below), whatever it was counted as elsewhere.
        kept.counted = (0, 0);
        self.by_client_id
            .insert(kept.order.client_order_id.clone(), key);
        let venue_id = kept.order.venue_order_id.clone();
        self.by_key.insert(key, kept);
        self.claim_venue_id(key, &venue_id);
        self.note_owed(key);
    }

    /// Counts kept order `key` again as owed a fill or not and in doubt or not (`owed_count`,
    /// `in_doubt_count`, `owed_entries`, `by_asset`): called after it is kept and after every
    /// change of what it is owed (its end's figure, its reports' running total, a late fill)
    /// or of its doubt.
    fn note_owed(&mut self, key: KeptKey) {
        let Some(k) = self.by_key.get_mut(&key) else {
            return;
        };
        let now = (k.flags(), k.units());
        let was = std::mem::replace(&mut k.counted, now);
        if was != now {
            let (asset, side) = (k.order.asset.clone(), k.order.side);
            self.count(key, &asset, side, was, now);
        }
    }

    /// Counts kept order `key` of `asset` on `side`, counted as `was` ([`Kept::flags`],
    /// [`Kept::units`]), as `now`.
    fn count(
        &mut self,
        key: KeptKey,
        asset: &Id,
        side: OrderSide,
        was: (u8, i128),
        now: (u8, i128),
    ) {
        if was == now {
            return;
        }
        let entry = key.1 && !key.2;
        let by_asset = self.by_asset.entry(asset.clone()).or_default();
        by_asset.taken[book_side(side)] += now.1 - was.1;
        let (was, now) = (was.0, now.0);
        for (i, flag) in [OWED, DOUBTED].into_iter().enumerate() {
            let (total, of_entries) = match flag {
                OWED => (
                    &mut self.owed_count,
                    entry.then_some(&mut self.owed_entries),
                ),
                _ => (&mut self.in_doubt_count, None),
            };
            let step = |n: &mut u32| match (was & flag != 0, now & flag != 0) {
                (false, true) => *n += 1,
                (true, false) => *n -= 1,
                _ => {}
            };
            step(total);
            step(&mut by_asset.n[i]);
            if let Some(n) = of_entries {
                step(n);
            }
        }
        if *by_asset == KeptCounts::default() {
            self.by_asset.remove(asset);
        }
    }

    /// Rules 25 on, what kept orders of `asset` on `side` may still take from the venue's
    /// position, in [`units`]: what `taken_on` walks them for.
    fn units_on(&self, asset: &Id, side: OrderSide) -> i128 {
        if self.by_asset.is_empty() {
            return 0;
        }
        self.by_asset
            .get(asset)
            .map_or(0, |c| c.taken[book_side(side)])
    }

    /// Whether no kept order of `asset` is owed a fill or in doubt, as counted.
    fn quiet_on(&self, asset: &Id) -> bool {
        self.by_asset.is_empty() || !self.by_asset.contains_key(asset)
    }

    /// What kept orders of `asset` on `side` may still take from the venue's position, in one
    /// walk of them (none while no kept order is owed a fill or in doubt): the remainders of
    /// those in doubt, which may still work, added to `taken`, and, returned, what the venue
    /// said filled of the others that is not booked yet (`Kept::due`).
    fn taken_on(&self, asset: &Id, side: OrderSide, taken: &mut f64) -> f64 {
        let mut owed = 0.0;
        if self.quiet_on(asset) {
            return owed;
        }
        for k in self.by_key.values() {
            if k.order.side != side || k.order.asset != *asset {
                continue;
            }
            if k.in_doubt {
                *taken += k.order.remaining();
            } else {
                owed += k.due();
            }
        }
        owed
    }

    fn claim_venue_id(&mut self, key: KeptKey, venue_id: &Id) {
        if !venue_id.is_empty() {
            let claims = self.by_venue_id.entry(venue_id.clone()).or_default();
            if !claims.contains(&key) {
                claims.push(key);
            }
        }
    }

    fn forget(&mut self, key: KeptKey) {
        let Some(old) = self.by_key.remove(&key) else {
            return;
        };
        self.count(key, &old.order.asset, old.order.side, old.counted, (0, 0));
        let coid = &old.order.client_order_id;
        self.by_client_id.remove(coid);
        self.reconciled.remove(coid);
        self.covered.remove(&key);
        let v = &old.order.venue_order_id;
        if let Some(claims) = self.by_venue_id.get_mut(v) {
            claims.retain(|k| *k != key);
            if claims.iter().all(|k| *k == GONE) {
                self.by_venue_id.remove(v);
            }
        }
    }

    /// An order that carried `venue_id` finished without being kept: if kept orders carry
    /// the id too, it stays shared, and names none of them (a fill naming only it may be
    /// that order's, resent).
    fn finished_elsewhere(&mut self, venue_id: &Id) {
        if self.by_venue_id.is_empty() || venue_id.is_empty() {
            return;
        }
        if let Some(claims) = self.by_venue_id.get_mut(venue_id) {
            if !claims.contains(&GONE) {
                claims.push(GONE);
            }
        }
    }

    /// Forgets the slot's kept orders (it starts a new trade).
    fn forget_slot(&mut self, sid: usize) {
        if !self.by_key.is_empty() {
            for key in [
                (sid, true, false),
                (sid, false, false),
                (sid, true, true),
                (sid, false, true),
            ] {
                self.forget(key);
            }
        }
    }

    fn by_client(&self, id: &Id) -> Option<KeptKey> {
        if self.by_client_id.is_empty() || id.is_empty() {
            return None;
        }
        self.by_client_id.get(id).copied()
    }

    /// The kept order a venue id names: the one order that carries it.
    fn by_venue(&self, id: &Id) -> Option<KeptKey> {
        if self.by_venue_id.is_empty() || id.is_empty() {
            return None;
        }
        match self.by_venue_id.get(id)?.as_slice() {
            [key] if *key != GONE => Some(*key),
            _ => None,
        }
    }

    /// Whether a kept order other than `key` carries venue id `id`.
    fn venue_id_claimed(&self, id: &Id, key: Option<KeptKey>) -> bool {
        self.by_venue_id
            .get(id)
            .is_some_and(|claims| claims.iter().any(|k| Some(*k) != key))
    }

    fn get(&self, key: KeptKey) -> Option<&Kept> {
        self.by_key.get(&key)
    }

    /// What the venue said had filled of the slot's kept orders, at their end, that it has
    /// not sent yet, if the slot waits: for money that moved, or (rules 13 on) for the status
    /// of an order that may still work at the venue (`Kept::in_doubt`), when it may owe 0.
    fn awaited(&self, sid: usize) -> Option<f64> {
        match (self.owed(sid, true), self.owed(sid, false)) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        }
    }

    /// What is owed of the slot's kept entry (or exit) order, if the slot waits for it (see
    /// `awaited`).
    #[inline(always)]
    fn owed(&self, sid: usize, is_entry: bool) -> Option<f64> {
        if self.by_key.is_empty() {
            return None;
        }
        self.owed_kept(sid, is_entry)
    }

    /// [`EndedOrders::owed`] where some order is kept.
    #[inline(never)]
    fn owed_kept(&self, sid: usize, is_entry: bool) -> Option<f64> {
        let k = self.by_key.get(&(sid, is_entry, false))?;
        let due = k.due();
        if due > 0.0 {
            Some(due)
        } else {
            k.in_doubt.then_some(0.0)
        }
    }

    /// Whether kept order `key` is in doubt (`Kept::in_doubt`).
    fn is_in_doubt(&self, key: KeptKey) -> bool {
        self.by_key.get(&key).is_some_and(|k| k.in_doubt)
    }

    /// The slot's kept order (its entry or exit, or either with `None`) whose status is not
    /// known (`Kept::in_doubt`), if any.
    fn in_doubt(&self, sid: usize, is_entry: Option<bool>) -> Option<&VenueOrder> {
        if self.by_key.is_empty() {
            return None;
        }
        [true, false]
            .into_iter()
            .filter(|&e| is_entry.is_none_or(|want| want == e))
            .filter_map(|e| self.by_key.get(&(sid, e, false)))
            .find(|k| k.in_doubt)
            .map(|k| &k.order)
    }

    /// What the entries in doubt (of `asset`, or all) may still fill, each at the price it
    /// went out at: the venue may work them, so rules 17 on the notional caps count it.
    fn doubt_notional(&self, asset: Option<&str>, entry_marks: &[f64]) -> f64 {
        // An entry fill the venue reported and the kernel has not booked yet counts too, at
        // the entry's working price, or a second entry would pass the caps beside it.
        let owed_too = self.owed_entries > 0;
        if self.in_doubt_count == 0 && !owed_too {
            return 0.0;
        }
        self.by_key
            .iter()
            .filter(|(k, _)| k.1 && !k.2)
            .filter(|(_, kept)| asset.is_none_or(|a| kept.order.asset == a))
            .map(|(_, kept)| {
                let qty = if kept.in_doubt {
                    kept.order.remaining()
                } else if owed_too {
                    kept.due()
                } else {
                    0.0
                };
                if qty > 0.0 {
                    let sid = kept.order.slot_id;
                    qty * working_price(&kept.order, entry_mark(entry_marks, sid))
                } else {
                    0.0
                }
            })
            .sum()
    }

    fn get_mut(&mut self, key: KeptKey) -> Option<&mut Kept> {
        self.by_key.get_mut(&key)
    }

    fn clear(&mut self) {
        *self = EndedOrders::default();
    }
}

#[derive(Clone, Debug)]
pub struct Kernel {
    /// Set by `Kernel::new` and never after: every client order id begins with it, made from
    /// the head `order_ids` keeps (a checkpoint restores only into a kernel of the same id).
    pub kernel_id: String,
    slots: Vec<TradeSlot>,
    free: SlotSet,
    open_by_asset: OpenByAsset,
    open_count: usize,
    /// What `exit_reduces` decides by in O(1): see [`SideCounts`].
    sides: SideCounts,
    by_client_id: OrderIndex,
    by_venue_id: VenueIndex,
    /// Fingerprints (see `fingerprint`) of recently finished orders' client and venue ids.
    finished_orders: FingerprintSet,
    ended: EndedOrders,
    /// Per slot, `[entry, exit]`: what the venue's reports of the slot's working order
    /// account for ([`Covered`]); None once a fill of the order was booked without a place in
    /// them.
    covered: Vec<[Option<Covered>; 2]>,
    /// Fingerprints of recently accepted intent ids.
    intents_seen: FingerprintSet,
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
    pub fees: FeeModel,
    pub account: Account,
    pub control: Control,
    pub risk: RiskLimits,
    market_limits: IdMap<Id, MarketLimits>,
    /// Each asset's latest mark price (`mark_price`), whether or not a slot holds it: what the
    /// notional caps value a MARKET entry (or a SELL LIMIT one) at when it is above the entry's
    /// own price.
    marks: IdMap<Id, f64>,
    /// Per slot, the mark its entry was judged at ([`cap_price`]; 0: none), so what still works
    /// of it commits at the price it was judged at.
    entry_marks: Vec<f64>,
    asset_notional: AssetNotional,
    total_notional: f64,
    rate: RateWindow,
    /// The assets whose last edge update was below the freeze threshold, with that edge: the
    /// freeze lifts once none is left.
    edge_below: BTreeMap<Id, f64>,
    seq: u64,
    order_counter: u64,
    /// The client order ids' `<kernel_id>-`, laid out on the first order (see `new_order`).
    order_ids: Option<CounterIds>,
    pub counters: Counters,
    pub outbox: Outbox,
    pub dirty: Dirty,
    journal_attached: bool,
}

/// The parts of an order's filled quantity the venue's fill reports account for, as
/// disjoint intervals `(from, to]` of its running total, in order (rules 5 on). A report with
/// the fill's size and the running total after it stands for `(total - size, total]`; one
/// with the running total only (or a reconciliation's) for `(0, total]`: every fill up to
/// there. A report is booked for the part of its interval nothing covered yet, so a fill
/// reported twice, in whichever form and however late, is booked once, and one reported
/// late, out of order, still counts. One interval (the usual case: each report goes on from the
/// last) is held inline, so a cold slot's order costs no second memory round trip.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Covered(SmallVec<[(f64, f64); 1]>);

/// Where a fill report lies in what is covered: its interval, and what of it is not covered.
struct Placed {
    from: f64,
    to: f64,
    free: f64,
}

impl Covered {
    /// `ev`'s interval and its uncovered part; None when the report gives no running total,
    /// or a size above it (such a report has no place, and is booked as before rules 5).
    fn place(&self, ev: &VenueEvent) -> Option<Placed> {
        let to = ev.filled_size;
        if to <= 0.0 {
            return None;
        }
        let per_fill = ev.size > 0.0 && !is_reconciliation(ev);
        let from = if per_fill { to - ev.size } else { 0.0 };
        if from < -size_tolerance(to) {
            return None;
        }
        let from = from.max(0.0);
        let taken: f64 = self
            .0
            .iter()
            .map(|&(a, b)| (b.min(to) - a.max(from)).max(0.0))
            .sum();
        let free = (to - from - taken).max(0.0);
        // A fill nothing covered books its own size, not the difference of two totals.
        let free = if per_fill && (free - ev.size).abs() <= size_tolerance(to) {
            ev.size
        } else {
            free
        };
        Some(Placed { from, to, free })
    }

    fn insert(&mut self, from: f64, to: f64) {
        let eps = size_tolerance(to);
        let (mut from, mut to) = (from, to);
        self.0.retain(|&mut (a, b)| {
            let apart = b < from - eps || a > to + eps;
            if !apart {
                from = from.min(a);
                to = to.max(b);
            }
            apart
        });
        let at = self.0.partition_point(|&(a, _)| a < from);
        self.0.insert(at, (from, to));
    }

    /// After a fill of the followed order was booked: its report's interval is covered now.
    /// False when it was booked without a place (no running total): it may be any of the
    /// order's fills, so from then on an earlier fill cannot be told from a resend, and the
    /// order is no longer followed.
    fn booked(&mut self, placed: Option<Placed>) -> bool {
        match placed {
            Some(p) => {
                self.insert(p.from, p.to);
                true
            }
            None => false,
        }
    }

    /// What a loaded order that says `filled` has filled covers: every fill up to there.
    fn loaded(filled: f64) -> Self {
        let mut c = Covered::default();
        if filled > QTY_EPS {
            c.insert(0.0, filled);
        }
        c
    }

    /// The highest running total a report stated.
    fn reach(&self) -> f64 {
        self.0.last().map_or(0.0, |&(_, b)| b)
    }
}

/// Why a fill whose running total is above its order's size is CRITICAL though booked: the
/// fill itself fits what the order had left.
const TOTAL_ABOVE_ORDER: &str =
    "the venue's running total is above the order's size: it reports an overfill; reconcile with the venue";

/// Why an order a fill said was over short of its size ended (rules 34 on).
const ENDED_SHORT: &str = "the venue's fill says the order is over (FILLED, nothing remaining) \
     short of its size: it ended at what filled, as an expiry; a fill of it after all is booked";

/// What a late ack of a kept order did (rules 12 on).
const LATE_ACK: &str = "the venue acknowledged an order that already ended here: its venue \
     order id is learned, so its late fills are known by it";

/// Why an order that ended without a filled size leaves its slot waiting (rules 12 on).
const STATED_NOT_BOOKED: &str = "the order ended without a filled size, and its fill reports \
     stated more filled than the kernel was told; the missing fill is applied when it comes, \
     and the slot takes no new order until then";

/// What a fill report's running total says beyond `new_filled` (booked with this fill) of an
/// order of `size`, into `details`: a fill missing or on its way (WARNING, `venue_filled_size`
/// and `unreported_qty`, at most what the order had left), or, above the order's size, the
/// venue reporting an overfill (CRITICAL, with `order_size` and the reason). None when it
/// says no more, or the report states no fill size of its own. The usual fill says no more:
/// its check inline, what says more out of line ([`total_said_ahead`]).
#[inline(always)]
fn total_ahead(
    ev: &VenueEvent,
    size: f64,
    new_filled: f64,
    details: &mut Details,
) -> Option<KernelSeverity> {
    if !(ev.size > 0.0 && ev.filled_size > new_filled + size_tolerance(size)) {
        return None;
    }
    total_said_ahead(ev, size, new_filled, details)
}

/// [`total_ahead`] of a report whose running total is ahead of `new_filled`.
#[cold]
#[inline(never)]
fn total_said_ahead(
    ev: &VenueEvent,
    size: f64,
    new_filled: f64,
    details: &mut Details,
) -> Option<KernelSeverity> {
    let over = ev.filled_size > size + size_tolerance(size);
    details.push(("venue_filled_size", Detail::F64(ev.filled_size)));
    details.push((
        "unreported_qty",
        Detail::F64((ev.filled_size.min(size) - new_filled).max(0.0)),
    ));
    if !over {
        return Some(KernelSeverity::Warning);
    }
    details.push(("order_size", Detail::F64(size)));
    details.push(("reason", Detail::Static(TOTAL_ABOVE_ORDER)));
    Some(KernelSeverity::Critical)
}

/// The key a fill without a fill id is remembered by: its order and the venue's running
/// total after it (the slot's memory spans the trade's orders, whose totals repeat: an exit
/// of 1 reaches the entry's total of 1). A fill id's fingerprint could equal it only by a
/// 2^-64 chance.
fn running_total_key(client_order_id: &str, filled_size: f64) -> u64 {
    total_key_of(fingerprint(client_order_id), filled_size)
}

/// [`running_total_key`] of the client id whose [`fingerprint`] is `client_fp`.
#[inline]
fn total_key_of(client_fp: u64, filled_size: f64) -> u64 {
    client_fp.rotate_left(17) ^ filled_size.to_bits() ^ 0x7e57_a11f_111e_d000
}

/// The key a fill with a fill id is also remembered by (rules 11 on): its running-total key
/// and its size, so that a report without an id stating the same total with another size (a
/// fill the venue stamped with the order's total when it sent it) is not taken for its resend.
fn sized_total_key(total_key: u64, size: f64) -> u64 {
    total_key ^ size.to_bits().rotate_left(29) ^ 0x51_2ed0_f111_1d00
}

/// The key an order that filled completely is remembered by in its slot's fill memory (rules
/// 15 on): its client id and size, so that a status report stating that total later (with no
/// fill of its own) is known to book nothing.
fn completed_key(client_order_id: &str, size: f64) -> u64 {
    completed_key_of(fingerprint(client_order_id), size)
}

/// [`completed_key`] of the client id whose [`fingerprint`] is `client_fp`.
#[inline]
fn completed_key_of(client_fp: u64, size: f64) -> u64 {
    total_key_of(client_fp, size) ^ 0xf111_ed00_c0de_0015
}

/// The key a fill without a fill id is also remembered by (rules 14 on): its running-total
/// key and its size, apart from [`sized_total_key`]'s, so that the same fill resent with an id
/// is known, while one a venue stamped with the same total and another size is not taken for it.
fn id_less_key(total_key: u64, size: f64) -> u64 {
    sized_total_key(total_key, size) ^ 0x1d1e_55f1_11a6_0000
}

/// What a booked fill `ev` is remembered by besides `total_key` (`fill_size`'s): an id-less
/// fill's [`id_less_key`], rules 14 on.
fn also_remembered(ev: &VenueEvent, total_key: Option<u64>) -> Option<u64> {
    total_key
        .filter(|_| ev.fill_id.is_empty())
        .map(|k| id_less_key(k, ev.size))
}

/// Says, into `out`, which of an account event's figures `figures` are (`keys.0`, their names)
/// and the latest time the account's were taken at (`keys.1`); false when there are none.
fn say_figures(
    figures: &[StaleFigure],
    keys: (&'static str, &'static str),
    out: &mut KernelOutcome,
) -> bool {
    if figures.is_empty() {
        return false;
    }
    let names: Vec<&str> = figures.iter().map(|s| E_FIGURES[s.index]).collect();
    let latest = figures.iter().map(|s| s.held_at).fold(f64::MIN, f64::max);
    out.details.push((keys.0, Detail::Str(names.join(", "))));
    out.details.push((keys.1, Detail::F64(latest)));
    true
}

#[cold]
fn detail_field(field: &'static str, value: impl Into<Detail>) -> Details {
    vec![("field", Detail::Static(field)), ("value", value.into())]
}

/// How a working order ends (`Kernel::end_order`): as the venue's end of `kind` stating
/// `figure` filled (0: none) with its `reason`, or, rules 34 on, a fill saying the order is
/// over short of its size (`Kernel::ends_short`), as an expiry without a figure.
struct End<'a> {
    kind: KernelEventKind,
    figure: f64,
    reason: &'a str,
}

/// What booking a fill charged and made, for its journal row.
struct Booked {
    /// What the fill was charged: its prediction or the venue's fee, or rules 32 on what the
    /// settlement that came before it charged.
    fee: f64,
    /// Whether only the part of the report's fee booked was charged (rules 9 on).
    prorated: bool,
    realized: f64,
    liquidity: Liquidity,
    /// What an exit fill sold beyond what its slot held (rules 31 on; 0 when nothing): no
    /// PnL is realized on it, and its outcome says it (`Booked::beyond_position`).
    unheld: f64,
    /// Rules 32 on, what the settlement that came before the fill said settling it (empty
    /// when none was held), for the fill's outcome.
    settled: Details,
}

/// What `slot`'s position commits towards the notional caps: its size at its entry price,
/// in every path (rules 9 on; before, an entry's fills counted at its reference until a
/// reload of the slots).
fn held_notional(slot: &TradeSlot) -> f64 {
    slot.size * slot.entry_price
}

/// The price what is still working of entry `order` commits at towards the notional caps
/// (rules 9 on), `mark` the mark it was judged at (0: none, or before rules 33): a LIMIT
/// order's price as it went out, as when it was sent; a MARKET order's reference (a LIMIT
/// order at price 0, which an older log may hold, at its reference too), rules 33 on that mark
/// when it is higher, as [`cap_price`]: what it was judged at. Before rules 9, a LIMIT order's working part counted at
/// its price until its first fill, and at its reference after one or after a reload of the
/// slots.
fn working_price(order: &VenueOrder, mark: f64) -> f64 {
    let (order_type, price) = match order.order_type {
        OrderType::Limit if order.price > 0.0 => (order.order_type, order.price),
        _ => (OrderType::Market, order.reference_price),
    };
    cap_price(order_type, order.side, price, order.reference_price, mark)
}

/// `asset`'s latest mark in `marks` as the notional caps take it: 0 when none was given.
fn mark_of(marks: &IdMap<Id, f64>, asset: &str) -> f64 {
    marks.get(asset).copied().unwrap_or(0.0)
}

/// The mark slot `sid`'s entry was judged at, in `entry_marks` ([`Kernel::entry_marks`]).
fn entry_mark(entry_marks: &[f64], sid: usize) -> f64 {
    entry_marks.get(sid).copied().unwrap_or(0.0)
}

/// The price an order of `order_type` and `side` going out at `price` counts at towards the
/// notional caps, `reference` the market's and `mark` the asset's latest mark (0: none): its
/// own, but for a SELL LIMIT the higher of it and the reference, since a sell fills at its
/// limit or above, so one priced under the market fills near the market. A MARKET order or a
/// SELL LIMIT counts at the mark when that is higher, so a stale or understated reference
/// does not let through an entry the cap should stop. What an entry is judged at and what its
/// working part commits.
fn cap_price(order_type: OrderType, side: OrderSide, price: f64, reference: f64, mark: f64) -> f64 {
    match order_type {
        OrderType::Limit if side == OrderSide::Sell => price.max(reference).max(mark),
        OrderType::Limit => price,
        OrderType::Market => price.max(mark),
    }
}

/// Why an exit fill beyond its slot's position is CRITICAL (rules 31).
const EXIT_BEYOND_POSITION: &str = "the exit filled more than the slot held: PnL is realized on \
     what it held, and the venue holds the rest, which no slot shows; reconcile with the venue";

impl Booked {
    /// Says, into `out`, what an exit fill sold beyond its slot's position (`unheld` above 0,
    /// rules 31): CRITICAL, `unheld_qty`, and the reason unless the report's own total gave one.
    #[cold]
    #[inline(never)]
    fn beyond_position(&self, out: &mut KernelOutcome) {
        out.severity = KernelSeverity::Critical;
        out.details.push(("unheld_qty", Detail::F64(self.unheld)));
        if !out.details.iter().any(|(name, _)| *name == "reason") {
            out.details
                .push(("reason", Detail::Static(EXIT_BEYOND_POSITION)));
        }
    }

    /// Says what report `ev`, partly booked already, was charged (`prorated`): `fee_charged`
    /// for the `booked_qty` of it, of the `reported_fee` (rules 9 on).
    #[cold]
    fn charged_part(&self, details: &mut Details, qty: f64, ev: &VenueEvent) {
        details.push(("fee_charged", Detail::F64(self.fee)));
        details.push(("reported_fee", Detail::F64(ev.fee.unwrap_or(0.0))));
        details.push(("booked_qty", Detail::F64(qty)));
    }
}

/// How close two quantities around `size` must be to count as equal (fills arrive as floats
/// from venues): 1e-9 of it, at least [`QTY_EPS`]. A fill's running total this close to its
/// order's size completes the order.
#[inline(always)]
fn size_tolerance(size: f64) -> f64 {
    QTY_EPS.max(size * 1e-9)
}

/// How much of a position `net` (positive long, negative short) an order on `side` reduces:
/// a size, or (rules 25) its [`units`].
fn exit_room<T: std::ops::Neg<Output = T>>(side: OrderSide, net: T) -> T {
    match side {
        OrderSide::Sell => net,
        OrderSide::Buy => -net,
    }
}

/// The transition details of a fill.
fn fill_details(qty: f64, price: f64, filled: f64, order_size: f64) -> TransitionDetails {
    TransitionDetails::Fill {
        fill_qty: qty,
        fill_price: price,
        filled_size: filled,
        order_size,
        fee_charged: None,
    }
}

/// Adds to the fill's transition `moved` the fee the kernel charged of a report it booked in
/// part (called when `prorated`): a strategy hears that fee, and the outcome of an intent keeps
/// no details of the fills the venue answered it with. Out of line: the common path is a fill
/// booked whole.
#[cold]
#[inline(never)]
fn fee_charged(moved: Option<&mut KernelTransition>, fee: f64) {
    if let Some(KernelTransition {
        details: TransitionDetails::Fill { fee_charged, .. },
        ..
    }) = moved
    {
        *fee_charged = Some(fee);
    }
}

/// The size an exit of the whole position `size` sends: the lot's multiple it is within float
/// error of (legs taken off 1.0 leave 0.39999999999999997, which a venue on a 0.1 lot
/// refuses); a size off the grid by more (a loaded slot, a lot changed since the entry) goes
/// out as it is. Float error is a few hundred units of the size's last place at most: a wider
/// tolerance would take one lot more than the position where rounding goes a lot up.
fn whole_position(size: f64, lot_step: f64) -> f64 {
    let on_grid = round_down_to_step(size, lot_step);
    if (size - on_grid).abs() <= QTY_EPS.max(size * 1e-13) {
        on_grid
    } else {
        size
    }
}

/// Marks a slot that a fill moved to CLOSED as closed, with its reason.
fn close_if_closed(slot: &mut TradeSlot) {
    if slot.fsm_state == TradeStage::Closed && !slot.closed {
        slot.closed = true;
        slot.unrealized_pnl = 0.0;
        // Written into the slot's own text: a new trade clears it and keeps its allocation.
        if slot.exit_reason.is_empty() {
            slot.close_reason.clear();
            slot.close_reason.push_str("exit_filled");
        } else {
            slot.close_reason.clone_from(&slot.exit_reason);
        }
    }
}

/// An exit-leg index past the slot's legs stops at their number (all done): exits of an
/// explicit size can complete more exits than a trade has legs, and legs set on a free slot
/// can be fewer than it completed, but `reconcile_from_slots` must load the slot as the
/// kernel shows it.
fn bound_leg_index(slot: &mut TradeSlot) {
    slot.active_leg_index = slot.active_leg_index.min(slot.exit_leg_ratios.len());
}

/// The slot's active leg is done (an exit completed): the next one begins. What exit fills
/// took past the done leg's share counts towards the next, as when such fills end without
/// completing an exit ([`leg_exit`]): an exit of an explicit size filled past its leg, or a
/// leg sent at the venue's floor, above its share, took part of the next leg too.
fn advance_leg(slot: &mut TradeSlot) {
    let share = slot
        .exit_leg_ratios
        .get(slot.active_leg_index)
        .map(|r| slot.initial_size * r);
    slot.active_leg_index += 1;
    slot.leg_taken = match share {
        Some(share) if slot.leg_taken - share > QTY_EPS => slot.leg_taken - share,
        _ => 0.0,
    };
    bound_leg_index(slot);
}

/// The leg a leg exit closes, what of its share exit fills that did not complete the legs took
/// (`TradeSlot::leg_taken`, carried from leg to leg), and what is left of the share (None: the
/// last leg, or past it, which closes the whole position).
struct LegExit {
    leg: usize,
    taken: f64,
    left: Option<f64>,
}

/// What a leg exit on `slot` sends: the first leg from the active one whose share `leg_taken`
/// does not cover, and what is left of that share.
fn leg_exit(slot: &TradeSlot) -> LegExit {
    let legs = slot.exit_leg_ratios.len();
    let (mut leg, mut taken) = (slot.active_leg_index, slot.leg_taken);
    while leg + 1 < legs {
        let share = slot.initial_size * slot.exit_leg_ratios[leg];
        if share - taken > QTY_EPS {
            let left = Some(share - taken);
            return LegExit { leg, taken, left };
        }
        // Within QTY_EPS of the share counts as taken whole; a hair short carries nothing
        // (a negative carry would be a leg_taken no checkpoint loads).
        taken = (taken - share).max(0.0);
        leg += 1;
    }
    LegExit {
        leg,
        taken,
        left: None,
    }
}

/// The details of an event naming an order the kernel does not hold: how it named it.
fn order_named(ev: &VenueEvent) -> Details {
    vec![
        ("venue_client_id", (&ev.venue_client_id).into()),
        ("venue_order_id", (&ev.venue_order_id).into()),
        ("kind", Detail::Static(ev.kind.name())),
    ]
}

/// Whether a rate limit says the venue holds its order (rules 16 on): it states a filled size
/// or the venue's id of the order, so the throttled request was not the order's submit.
fn rate_limit_shows_it_held(ev: &VenueEvent) -> bool {
    ev.filled_size > 0.0 || !ev.venue_order_id.is_empty()
}

/// Whether a fill is one a reconciliation with the venue made (its metadata says so).
fn is_reconciliation(ev: &VenueEvent) -> bool {
    matches!(ev.metadata.get("source"), Some(MetaValue::Str(s)) if s == "reconciliation")
}

/// How an input's handler answered: in the caller's outcome (`Ok`), which its common,
/// accepted paths fill in place, or with an answer it made whole (`Err`): a refusal, or a
/// rarer path's outcome, which the caller puts in place. `?` hands a check's refusal on.
type Answered = Result<(), KernelOutcome>;

/// The slot a venue event was routed to, and its ids' fingerprints, for the slot's
/// memories once the event is taken (see `Kernel::venue_event`).
struct Routed {
    sid: usize,
    event_fp: u64,
    fill_fp: Option<u64>,
}

/// A venue event's ids as text, each read out of its [`Id`] once (`EventIds::of`): an id's
/// text is behind a choice of how it is stored (some ten instructions), and an event's checks,
/// lookup and memories read its event, client, venue and fill ids two or three times each.
#[derive(Clone, Copy)]
struct EventIds<'a> {
    event: &'a str,
    client: &'a str,
    venue: &'a str,
    fill: &'a str,
}

impl<'a> EventIds<'a> {
    /// Another event than a fill is read for no fill id (empty here): only a fill's is looked at.
    #[inline(always)]
    fn of(ev: &'a VenueEvent) -> Self {
        EventIds {
            event: &ev.event_id,
            client: &ev.venue_client_id,
            venue: &ev.venue_order_id,
            fill: if ev.kind == KernelEventKind::Fill {
                &ev.fill_id
            } else {
                ""
            },
        }
    }

    /// [`VenueEvent::fill_key`]'s text: the fill id, or the event id when it gives none.
    #[inline(always)]
    fn fill_key(&self) -> &'a str {
        if self.fill.is_empty() {
            self.event
        } else {
            self.fill
        }
    }
}

/// A fill's client id as its event names it: its [`fingerprint`] (made once by
/// `on_venue_event_into`), and the place of [`OrderIndex`]'s table that held it when the
/// event found its order there (None: in the map), where the order's finish removes it
/// without comparing the id again.
#[derive(Clone, Copy, Debug)]
struct ClientNamed {
    fp: u64,
    place: Option<usize>,
}

/// Whether none of `o`'s four ids is shared: then, every other field being plain data
/// (checked by name and type below), its bitwise copy is its clone and owns nothing
/// ([`OrderCopy`], [`put_order_clone`]).
#[inline(always)]
fn ids_own_nothing(o: &VenueOrder) -> bool {
    !(o.client_order_id.is_heap_allocated()
        | o.venue_order_id.is_heap_allocated()
        | o.trade_id.is_heap_allocated()
        | o.asset.is_heap_allocated())
}

/// A working order's copy for a fill's steps to read while the slot's own changes (see
/// `apply_fill`): the same as its clone. An order whose four ids own nothing (inline: every
/// id the kernel makes, and a venue's of up to 23 bytes) is copied bitwise, as `Id`'s clone
/// copies each such id, and its copy frees nothing when dropped; any other is cloned, and
/// the clone dropped as usual. A derived clone took some 60 instructions and its drop 14,
/// each id's storage looked at in turn.
struct OrderCopy {
    order: std::mem::ManuallyDrop<VenueOrder>,
    /// Whether `order` is a clone, dropped with the copy.
    cloned: bool,
}

impl OrderCopy {
    #[inline(always)]
    fn of(o: &VenueOrder) -> Self {
        if ids_own_nothing(o) {
            OrderCopy {
                // SAFETY: the ids own nothing (`ids_own_nothing`, just above), so the bitwise copy is
                // each id's clone (`Id::clone` copies an inline id so), and
                // every other field is `Copy` data: the copy is `o.clone()`. It is never
                // dropped (`cloned` false), so nothing is freed twice.
                order: std::mem::ManuallyDrop::new(unsafe { std::ptr::read(o) }),
                cloned: false,
            }
        } else {
            OrderCopy {
                order: std::mem::ManuallyDrop::new(o.clone()),
                cloned: true,
            }
        }
    }
}

/// Keeps the set of free slots as slot `sid` moves from stage `from` to `to`.
#[inline(always)]
fn follow_free(free: &mut SlotSet, sid: usize, from: TradeStage, to: TradeStage) {
    let (was_free, is_free) = (fsm::is_free(from), fsm::is_free(to));
    if was_free && !is_free {
        free.remove(sid);
    } else if !was_free && is_free {
        free.insert(sid);
    }
}

/// Writes a whole transition into `$place` field by field, through raw pointers (no
/// reference to the unwritten transition), each value made straight into its field (a
/// function taking the ids by value built them aside first: +0.27 % a cycle): every field
/// once (`Kernel::written_fields` names them all). Used inside `unsafe`: `$place` is valid
/// for writes and holds nothing to drop (a vector's free place).
macro_rules! write_transition {
    ($place:expr, $ts:expr, $trade_id:expr, $sid:expr, ($prev:expr, $next:expr, $trigger:expr),
     $intent_id:expr, $event_id:expr, $details:expr $(,)?) => {{
        let place: *mut KernelTransition = $place;
        (&raw mut (*place).timestamp).write($ts);
        (&raw mut (*place).trade_id).write($trade_id);
        (&raw mut (*place).slot_id).write($sid);
        (&raw mut (*place).prev_state).write($prev);
        (&raw mut (*place).next_state).write($next);
        (&raw mut (*place).trigger).write($trigger.name());
        (&raw mut (*place).intent_id).write($intent_id);
        (&raw mut (*place).event_id).write($event_id);
        (&raw mut (*place).details).write($details);
    }};
}

/// `*place = Some(o.clone())`, the order `place` held dropped first, made as [`OrderCopy`]
/// copies an order: where `o`'s four ids own nothing (inline text: every id the kernel
/// makes), its bits written straight into `place`, each id's clone then being its bits; any
/// other order cloned. The copy is owned, dropped as the clone would be: it frees nothing
/// where its ids own nothing. For the slot's copy of a sent order (`set_working_to`), where
/// the derived clone took some 70 instructions, built aside and moved in, and a bitwise copy
/// made aside was still copied through the stack (the two ways' copies joined there).
#[inline(always)]
fn put_order_clone(place: &mut Option<VenueOrder>, o: &VenueOrder) {
    *place = None;
    if ids_own_nothing(o) {
        // SAFETY: `place` holds None (just above), which owns nothing, so it is written over
        // without a drop. As in `OrderCopy::of`: the ids own nothing (`ids_own_nothing`, just above), so
        // the bitwise copy is each id's clone, and every other field is plain data (checked
        // below, by name and type): the copy is `o.clone()`, and dropping it and `o` frees
        // nothing twice.
        unsafe { std::ptr::write(place, Some(std::ptr::read(o))) }
    } else {
        *place = Some(o.clone());
    }
}

// Only the ids of a `VenueOrder` may own anything: its every other field is named here with a
// type that needs no drop, so a field added fails to compile until it is looked at for
// `OrderCopy`.
const _: () = {
    const fn plain<T>() -> bool {
        !std::mem::needs_drop::<T>()
    }
    #[allow(dead_code)]
    fn fields(o: VenueOrder) {
        let VenueOrder {
            client_order_id: _,
            venue_order_id: _,
            trade_id: _,
            asset: _,
            slot_id: _,
            side: _,
            order_type: _,
            price: _,
            reference_price: _,
            size: _,
            filled_size: _,
            avg_fill_price: _,
            status: _,
            reduce_only: _,
            cancel_requested: _,
            created_at: _,
            is_entry: _,
        } = o;
    }
    assert!(plain::<OrderSide>() && plain::<OrderType>() && plain::<VenueOrderStatus>());
};

impl std::ops::Deref for OrderCopy {
    type Target = VenueOrder;

    #[inline(always)]
    fn deref(&self) -> &VenueOrder {
        &self.order
    }
}

impl Drop for OrderCopy {
    #[inline(always)]
    fn drop(&mut self) {
        if self.cloned {
            // SAFETY: a clone owns its ids, dropped once, here.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.order) }
        }
    }
}

/// Why a fill for an order the kernel no longer holds is refused.
const FILL_AFTER_END: &str = "fill for an order that already ended; reconcile with the venue";
/// Why a status report of an order that filled completely books nothing (rules 15 on).
const STATUS_OF_FILLED: &str =
    "the order filled completely at this total: a report stating it books nothing";
/// Why a rate limit on an order the venue holds does not end it (see `throttled_cancel`).
const THROTTLED_CANCEL: &str =
    "the venue holds the order: its cancel was throttled and the order still works";
/// Why a slot whose order may still work at the venue takes no new order (rules 13 on).
const IN_DOUBT: &str = "the slot's last order was rate limited before the venue \
     acknowledged it, with a cancel asked, and may still work at the venue: another order beside \
     it could trade the position twice; its late fills book as they come, and \
     reconcile_with_venue learns its status (and cancels it if it works)";
/// Why a CANCEL on a slot whose order is in doubt asks the venue again (rules 17 on).
const CANCEL_IN_DOUBT: &str = "the slot's order is in doubt (rate limited before its ack, with \
     a cancel asked): its cancel is sent again; the venue's cancel ack ends the doubt, and \
     reconcile_with_venue settles it otherwise";
/// Why the venue's refusal to cancel an order in doubt settles nothing.
const IN_DOUBT_CANCEL_REFUSED: &str = "the venue refused to cancel the order in doubt: it may \
     never have had it, or the order filled or ended there; its status is still unknown, and \
     reconcile_with_venue settles it";
/// Why the venue's end of an order in doubt is taken (rules 16 on).
const IN_DOUBT_ENDED: &str = "the order was in doubt (rate limited before its ack, with a \
     cancel asked): the venue ended it, and its slot trades again once what it filled is booked";
/// Why an order rate limited before its ack, with a cancel asked, is kept (rules 10 on).
const THROTTLED_BEFORE_ACK: &str = "the throttled request may have been its cancel: the order \
     is ended here but kept for its fills, which are booked if it was working at the venue";
/// Why a rate limit on an order the venue holds, with no cancel asked for, is refused.
const UNASKED_THROTTLE: &str =
    "a rate limit for an order the venue holds, with no cancel asked for: the order still works";

/// Marks `out` as the venue's rate limit on order `client_order_id`: not carried out
/// (`accepted=false`), `RATE_LIMITED` WARNING with the venue's `retry_after`.
fn rate_limited(out: &mut KernelOutcome, ev: &VenueEvent, client_order_id: &Id) {
    out.accepted = false;
    out.diagnostic_code = KernelDiagnosticCode::RateLimited;
    out.severity = KernelSeverity::Warning;
    out.details
        .push(("retry_after", Detail::F64(ev.retry_after)));
    out.details
        .push(("client_order_id", client_order_id.into()));
}

/// Whether `v` is a finite number, not negative where `non_negative`, within
/// [`MAX_MAGNITUDE`]: the common case, decided without looking at field names. A number
/// failing it goes to [`number_refusal_details`], which names the field (and has the last
/// word on what is too large).
#[inline(always)]
fn in_bounds(v: f64, non_negative: bool) -> bool {
    if non_negative {
        (0.0..=MAX_MAGNITUDE).contains(&v)
    } else {
        v.abs() <= MAX_MAGNITUDE
    }
}

/// Whether an event's seven numbers plainly pass [`in_bounds`]: its six non-negative ones
/// within [0, `MAX_MAGNITUDE`] and its fee (negative for a rebate) within the bound either
/// side. Read as their bits, as [`plain_numbers`] reads an intent's: a non-negative number's
/// bits order as the number does, a negative one (-0.0 too) has the sign bit and NaN bits
/// above infinity's, so each is above the bound's bits; the fee is read without its sign.
/// What this lets through `in_bounds` passes; anything else (-0.0 among it, which
/// `in_bounds` passes) goes to the field-by-field checks.
#[inline(always)]
fn plain_event_numbers(ev: &VenueEvent) -> bool {
    const MOST: u64 = MAX_MAGNITUDE.to_bits();
    let fee = ev.fee.map_or(0, |f| f.to_bits() & !(1 << 63));
    let most = (ev.price.to_bits())
        .max(ev.size.to_bits())
        .max(ev.filled_size.to_bits())
        .max(ev.remaining_size.to_bits())
        .max(ev.retry_after.to_bits())
        .max(ev.timestamp.to_bits())
        .max(fee);
    most <= MOST
}

/// The details refusing `v` of an event's `field`, if it is not finite, negative where
/// `non_negative`, or beyond [`MAX_MAGNITUDE`]; `bad_reason` says what it must be.
#[inline]
fn number_refusal(
    field: &'static str,
    v: f64,
    non_negative: bool,
    bad_reason: &'static str,
) -> Option<Details> {
    if in_bounds(v, non_negative) {
        return None;
    }
    number_refusal_details(field, v, non_negative, bad_reason)
}

#[cold]
fn number_refusal_details(
    field: &'static str,
    v: f64,
    non_negative: bool,
    bad_reason: &'static str,
) -> Option<Details> {
    let bad = !v.is_finite() || (non_negative && v < 0.0);
    if !bad && !too_large(field, v) {
        return None;
    }
    let shown = if bad {
        format!("{v}")
    } else {
        format!("{v:e}")
    };
    let mut d = detail_field(field, Detail::Str(shown));
    d.push((
        "reason",
        Detail::Static(if bad { bad_reason } else { TOO_LARGE }),
    ));
    Some(d)
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
                "must be 1-200 characters without whitespace",
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
            edge_below: BTreeMap::new(),
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

    /// What slot `sid` waits for of its entry's fills alone (see `awaited_fill_qty`): rules 18
    /// on, it commits towards the notional caps at the entry's working price.
    pub fn awaited_entry_qty(&self, sid: usize) -> f64 {
        self.ended.owed(sid, true).unwrap_or(0.0)
    }

    /// Orders that ended with the venue reporting more filled than it has sent (their
    /// slots wait for those fills), with what is booked of each, and the orders in doubt
    /// (their slots wait for their status, [`Kernel::orders_in_doubt`]).
    pub fn awaited_orders(&self) -> Vec<&VenueOrder> {
        self.kept_orders(|k, _| !k.2 && self.ended.owed(k.0, k.1).is_some())
    }

    /// The kept orders `wanted` picks, in slot order (entry before exit).
    fn kept_orders(&self, wanted: impl Fn(&KeptKey, &Kept) -> bool) -> Vec<&VenueOrder> {
        let mut v: Vec<_> = self
            .ended
            .by_key
            .iter()
            .filter(|(k, kept)| wanted(k, kept))
            .map(|(k, kept)| (*k, &kept.order))
            .collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v.into_iter().map(|(_, o)| o).collect()
    }

    /// Slot `sid`'s kept order in doubt (see [`Kernel::orders_in_doubt`]), if any.
    pub fn order_in_doubt(&self, sid: usize) -> Option<&VenueOrder> {
        self.ended.in_doubt(sid, None)
    }

    /// Orders rate limited before the venue acknowledged them, with a cancel asked, whose
    /// status is not known (rules 13 on): they may still work at the venue, and their slots
    /// take no new order until a late fill completes them or a reconciliation ends them.
    pub fn orders_in_doubt(&self) -> Vec<&VenueOrder> {
        if self.ended.in_doubt_count == 0 {
            return Vec::new();
        }
        self.kept_orders(|_, kept| kept.in_doubt)
    }

    /// Orders kept after they ended short of their size whose end stated no filled size (a
    /// cancel ack or expiry without one, or stating 0), owed nothing and not in doubt: a
    /// fill may have raced the end, and its report been lost with the process, so a
    /// reconciliation asks the venue what they filled. Those whose end stated the figure are
    /// not listed: the venue said what filled, and the slot waits for any of it unbooked.
    pub fn orders_ended_without_figure(&self) -> Vec<&VenueOrder> {
        self.kept_orders(|k, kept| {
            !k.2 && !kept.in_doubt && kept.final_filled.is_none() && kept.due() == 0.0
        })
    }

    /// For tests: a kernel state no input leads to.
    #[cfg(test)]
    pub(crate) fn tamper_seq(&mut self, by: u64) {
        self.seq += by;
    }

    /// For tests: see [`Kernel::tamper_seq`].
    #[cfg(test)]
    pub(crate) fn tamper_slot(&mut self, sid: usize, change: impl FnOnce(&mut TradeSlot)) {
        change(&mut self.slots[sid]);
    }

    /// For tests: see [`Kernel::tamper_seq`].
    #[cfg(test)]
    pub(crate) fn tamper_counters(&mut self, change: impl FnOnce(&mut Counters)) {
        change(&mut self.counters);
    }

    /// For tests: see [`Kernel::tamper_seq`].
    #[cfg(test)]
    pub(crate) fn tamper_open_count(&mut self, n: usize) {
        self.open_count = n;
    }

    /// For tests: see [`Kernel::tamper_seq`].
    #[cfg(test)]
    pub(crate) fn tamper_venue_index(&mut self, venue_id: &str, sid: usize) {
        self.by_venue_id.insert(id(venue_id), sid);
    }

    /// For tests: every waiting fill's asset forgotten (a state no input leads to).
    #[cfg(test)]
    pub(crate) fn tamper_unsettled_assets(&mut self) {
        for (_, u) in self.unsettled.iter_mut() {
            u.first.asset = None;
        }
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
    pub fn open_positions(&self) -> usize {
        self.open_count
    }
    pub fn market_limits(&self, asset: &str) -> Option<&MarketLimits> {
        self.market_limits.get(asset)
    }
    /// What the notional caps count in all: the slots' `committed_notional` and, rules 17 on,
    /// what the entries in doubt may still fill.
    pub fn total_committed_notional(&self) -> f64 {
        self.total_notional + self.committed_in_doubt(None)
    }

    /// Orders at the venue, oldest slot first.
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

    pub fn process_intent(&mut self, intent: &Intent) -> KernelOutcome {
        let mut out = KernelOutcome::blank();
        self.process_intent_into(intent, &mut out);
        out
    }

    /// [`Kernel::process_intent`] answered in `out`, whose lists the answer reuses: a caller
    /// that keeps one outcome for its inputs (a replay, a Rust host) allocates nothing for
    /// an accepted ENTER or EXIT or a venue's usual answers to it.
    pub fn process_intent_into(&mut self, intent: &Intent, out: &mut KernelOutcome) {
        if let Some(i) = usize::try_from(intent.slot_id)
            .ok()
            .filter(|&i| i < self.slots.len())
        {
            self.slots[i].prefetch();
            // What the slot's reports covered: a line of its own, which a new order resets.
            if let Some(legs) = self.covered.get(i) {
                prefetch(legs);
            }
        }
        let intent_fp = fingerprint(&intent.intent_id);
        self.intents_seen.prefetch_insert(&[intent_fp]);
        // Looked up once for the duplicate check and the insert of an accepted intent: the
        // commands leave the memory alone.
        let seen = self.intents_seen.look_up(intent_fp);
        let seq = self.next_seq();
        self.counters.intents += 1;
        let answered = match intent.action {
            KernelCommandType::Enter => self.enter(intent, seen.found(), seq, out),
            KernelCommandType::Exit => self.exit(intent, seen.found(), seq, out),
            KernelCommandType::Cancel => Err(self.cancel(intent, seen.found(), seq)),
        };
        if let Err(whole) = answered {
            *out = whole;
        }
        if out.accepted {
            self.counters.intents_accepted += 1;
            self.intents_seen.insert_looked_up(seen);
            // A refused intent changes nothing, its time included.
            self.account.note_input_time(intent.timestamp);
        } else {
            self.counters.intents_refused += 1;
        }
        if self.outbox.enabled {
            self.outbox.record_intent(intent, out);
        }
    }

    #[cold]
    fn refuse(
        &self,
        intent: &Intent,
        slot: Option<usize>,
        code: KernelDiagnosticCode,
        severity: KernelSeverity,
        details: Details,
        seq: u64,
    ) -> KernelOutcome {
        let (state, trade) = match slot.and_then(|i| self.slots.get(i)) {
            Some(s) => (s.fsm_state, s.trade_id.clone()),
            None => (TradeStage::Idle, intent.trade_id.clone()),
        };
        KernelOutcome::refused(intent.slot_id, trade, state, code, severity, details, seq)
    }

    /// Field checks shared by every command; returns the slot index. `seen`: whether the
    /// intent id is in the memory of accepted ones (`process_intent` looks it up). The
    /// refusal is the large variant on purpose: it is the answer, built once, on the cold
    /// path. Inlined into ENTER, EXIT and CANCEL: the call, and the slot index handed back
    /// through the large result in memory, were a sixth of its cost.
    #[inline(always)]
    fn check_intent(&self, intent: &Intent, seen: bool, seq: u64) -> Result<usize, KernelOutcome> {
        use KernelDiagnosticCode as D;
        let bad = |field: &'static str, value: Detail, reason: &'static str| {
            let mut d = vec![("field", Detail::Static(field)), ("value", value)];
            d.push(("reason", Detail::Static(reason)));
            Err(self.refuse(
                intent,
                None,
                D::InvalidIntent,
                KernelSeverity::Error,
                d,
                seq,
            ))
        };
        // The usual id passes at one look at its first byte (`plain_start`: not empty, nor
        // flawed); any other is judged as it was, emptiness first.
        let intent_id = intent.intent_id.as_str();
        if !plain_start(intent_id) {
            if intent_id.is_empty() {
                return bad("intent_id", Detail::Static(""), "must not be empty");
            }
            if let Some(why) = flawed_id(intent_id) {
                return bad("intent_id", shown_id(intent_id), why);
            }
        }
        if intent.slot_id < 0 || intent.slot_id as usize >= self.slots.len() {
            let mut d = detail_field("slot_id", intent.slot_id);
            d.push(("max_slots", self.slots.len().into()));
            // What a strategy helper's -1 (no free slot) or a typo in the id amounts to.
            d.push((
                "reason",
                Detail::Str(format!(
                    "no such slot: the kernel has slots 0 to {}",
                    self.slots.len() - 1
                )),
            ));
            return Err(self.refuse(
                intent,
                None,
                D::InvalidSlotId,
                KernelSeverity::Error,
                d,
                seq,
            ));
        }
        // The usual numbers pass at one look (`plain_numbers`: within [0, MAX_MAGNITUDE], the
        // time within [0, infinity)); any others are judged as they were, field by field.
        if !plain_numbers(intent) {
            let numbers = [
                ("reference_price", intent.reference_price),
                ("target_size", intent.target_size),
                ("leverage", intent.leverage),
                ("limit_price", intent.limit_price),
                ("timestamp", intent.timestamp),
            ];
            for (field, v) in numbers {
                if !v.is_finite() {
                    return bad(
                        field,
                        Detail::Str(format!("{v}")),
                        "must be a finite number",
                    );
                }
                if v < 0.0 {
                    return bad(field, Detail::F64(v), "must not be negative");
                }
                if too_large(field, v) {
                    return bad(field, Detail::F64(v), TOO_LARGE);
                }
            }
        }
        if seen {
            let d = detail_field("intent_id", &intent.intent_id);
            return Err(self.refuse(
                intent,
                Some(intent.slot_id as usize),
                D::DuplicateIntent,
                KernelSeverity::Warning,
                d,
                seq,
            ));
        }
        Ok(intent.slot_id as usize)
    }

    fn check_order_prices(&self, intent: &Intent, seq: u64) -> Result<(), KernelOutcome> {
        let bad = |field: &'static str, value: f64, reason: &'static str| {
            let mut d = detail_field(field, value);
            d.push(("reason", Detail::Static(reason)));
            Err(self.refuse(
                intent,
                None,
                KernelDiagnosticCode::InvalidIntent,
                KernelSeverity::Error,
                d,
                seq,
            ))
        };
        if intent.reference_price <= 0.0 {
            return bad(
                "reference_price",
                intent.reference_price,
                "must be positive",
            );
        }
        if intent.order_type == OrderType::Limit && intent.limit_price <= 0.0 {
            return bad(
                "limit_price",
                intent.limit_price,
                "must be positive for a LIMIT order",
            );
        }
        Ok(())
    }

    /// The refusal of `intent` by the kernel's mode ([`Kernel::mode_refusal`]), looked at
    /// only when the mode may refuse it.
    #[inline(always)]
    fn mode_blocks(&self, intent: &Intent, sid: usize, seq: u64) -> Option<KernelOutcome> {
        let mode = self.control.mode;
        let may = match mode {
            ControlMode::Halted | ControlMode::ReduceOnly => true,
            ControlMode::Live => self.risk.require_source_run_in_live,
            ControlMode::Paper | ControlMode::Shadow => false,
        };
        if may {
            self.mode_refusal(intent, sid, seq)
        } else {
            None
        }
    }

    #[cold]
    #[inline(never)]
    fn mode_refusal(&self, intent: &Intent, sid: usize, seq: u64) -> Option<KernelOutcome> {
        let mode = self.control.mode;
        let blocked = matches!(
            (intent.action, mode),
            (
                KernelCommandType::Enter,
                ControlMode::Halted | ControlMode::ReduceOnly
            )
        );
        if blocked {
            let d = vec![
                ("rule", Detail::Static("trading_state")),
                ("field", Detail::Static("action")),
                ("value", Detail::Static(intent.action.name())),
                ("mode", Detail::Static(mode.name())),
                ("action", Detail::Static(intent.action.name())),
                (
                    "reason",
                    Detail::Static(if mode == ControlMode::Halted {
                        "the kernel is HALTED: no new entries"
                    } else {
                        "the kernel is REDUCE_ONLY: only EXIT and CANCEL"
                    }),
                ),
            ];
            return Some(self.refuse(
                intent,
                Some(sid),
                KernelDiagnosticCode::ModeBlocked,
                KernelSeverity::Warning,
                d,
                seq,
            ));
        }
        if mode == ControlMode::Live
            && self.risk.require_source_run_in_live
            && intent.action != KernelCommandType::Cancel
            && !matches!(intent.metadata.get("source_run"), Some(MetaValue::Str(s)) if !s.is_empty())
        {
            let d = vec![
                ("rule", Detail::Static("provenance")),
                ("field", Detail::Static("metadata.source_run")),
                ("value", Detail::Static("missing")),
                ("mode", Detail::Static("LIVE")),
            ];
            return Some(self.refuse(
                intent,
                Some(sid),
                KernelDiagnosticCode::RiskRejected,
                KernelSeverity::Warning,
                d,
                seq,
            ));
        }
        None
    }

    fn risk_refusal(
        &self,
        intent: &Intent,
        sid: usize,
        rule: &'static str,
        limit: f64,
        value: f64,
        seq: u64,
    ) -> KernelOutcome {
        let d = vec![
            ("rule", Detail::Static(rule)),
            ("limit", Detail::F64(limit)),
            ("value", Detail::F64(value)),
        ];
        self.refuse(
            intent,
            Some(sid),
            KernelDiagnosticCode::RiskRejected,
            KernelSeverity::Warning,
            d,
            seq,
        )
    }

    /// A notional cap's refusal ([`Kernel::risk_refusal`]); rules 33 on it names the price the
    /// entry was valued at, `cap.0`, and where that came from: the asset's mark `cap.2` when it
    /// was above the order's own price `cap.1`, else the order's limit or reference.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    fn notional_refusal(
        &self,
        intent: &Intent,
        sid: usize,
        rule: &'static str,
        limit: f64,
        value: f64,
        cap: (f64, f64, f64),
        seq: u64,
    ) -> KernelOutcome {
        let mut out = self.risk_refusal(intent, sid, rule, limit, value, seq);
        let (valued_at, price, mark) = cap;
        let source = if mark > 0.0 && valued_at == mark && mark > price {
            "mark_price"
        } else if intent.order_type == OrderType::Limit && valued_at == price {
            "limit_price"
        } else {
            "reference_price"
        };
        out.details.push(("cap_price", Detail::F64(valued_at)));
        out.details
            .push(("cap_price_source", Detail::Static(source)));
        out
    }

    fn check_rate(&mut self, intent: &Intent, sid: usize, seq: u64) -> Option<KernelOutcome> {
        if let Some(max_rate) = self.risk.max_order_rate {
            let n = self.rate.count(intent.timestamp) as f64;
            if n + 1.0 > max_rate {
                return Some(self.risk_refusal(
                    intent,
                    sid,
                    "max_order_rate",
                    max_rate,
                    n + 1.0,
                    seq,
                ));
            }
        }
        None
    }

    fn limits_for(&self, asset: &str) -> MarketLimits {
        match self.market_limits.get(asset) {
            Some(m) => m.clone(),
            None => MarketLimits {
                lot_step: self.fees.config.lot_step,
                tick_size: self.fees.config.tick_size,
                min_qty: 0.0,
                min_notional: self.fees.config.min_notional,
            },
        }
    }

    /// Rules 3 on, the refusal of a LIMIT intent whose price the venue's tick takes to zero
    /// (a buy below one tick): sent, it was an order at price 0. Inlined: a MARKET intent
    /// (or an older log's) is let through at one look, the rest out of line.
    #[inline(always)]
    fn limit_off_tick(
        &self,
        intent: &Intent,
        sid: usize,
        m: &MarketLimits,
        side: OrderSide,
        seq: u64,
    ) -> Option<KernelOutcome> {
        if intent.order_type != OrderType::Limit {
            return None;
        }
        self.limit_off_tick_priced(intent, sid, m, side, seq)
    }

    /// [`Kernel::limit_off_tick`] for a LIMIT intent.
    #[inline(never)]
    fn limit_off_tick_priced(
        &self,
        intent: &Intent,
        sid: usize,
        m: &MarketLimits,
        side: OrderSide,
        seq: u64,
    ) -> Option<KernelOutcome> {
        let price = round_price_to_tick(intent.limit_price, m.tick_size, side == OrderSide::Sell);
        if price > 0.0 {
            return None;
        }
        let mut d = detail_field("limit_price", intent.limit_price);
        d.push(("tick_size", Detail::F64(m.tick_size)));
        d.push((
            "reason",
            Detail::Static("the venue's tick takes this price to zero"),
        ));
        Some(self.refuse(
            intent,
            Some(sid),
            KernelDiagnosticCode::InvalidIntent,
            KernelSeverity::Error,
            d,
            seq,
        ))
    }

    /// The price an order's notional is judged at: a MARKET order's reference, a LIMIT
    /// order's price as it goes out, on the tick (so a buy the tick takes under the minimum
    /// notional is not sent for the venue to refuse).
    fn order_price(intent: &Intent, m: &MarketLimits, side: OrderSide) -> f64 {
        Self::sent_price(intent, m, side)
    }

    /// The price an order for `intent` goes out at: a MARKET order's reference, a LIMIT
    /// order's limit on the tick (down for buys, up for sells).
    fn sent_price(intent: &Intent, m: &MarketLimits, side: OrderSide) -> f64 {
        match intent.order_type {
            OrderType::Market => intent.reference_price,
            OrderType::Limit => {
                round_price_to_tick(intent.limit_price, m.tick_size, side == OrderSide::Sell)
            }
        }
    }

    fn below_floor(m: &MarketLimits, qty: f64, price: f64) -> bool {
        Self::below_min_qty(m, qty) || qty * price + 1e-9 < m.min_notional
    }

    /// The smallest size the venue takes at `price`: its minimum quantity and notional, on
    /// the lot grid (one lot at least); 0 when it states none of them.
    fn least_order(m: &MarketLimits, price: f64) -> f64 {
        let by_notional = if price > 0.0 {
            m.min_notional / price
        } else {
            0.0
        };
        let mut least = round_up_to_step(m.min_qty.max(by_notional), m.lot_step);
        if m.lot_step > 0.0 && Self::below_floor(m, least, price) {
            // Rounding up forgives float error, a lot short where the notional is a hair over
            // whole lots (100 at 33.33333333 is 3.0000000003 lots): one lot more.
            least = round_up_to_step(least + m.lot_step, m.lot_step);
        }
        if least <= QTY_EPS {
            m.lot_step.max(0.0)
        } else {
            least
        }
    }

    /// Nothing to send, or less than the venue's minimum quantity.
    fn below_min_qty(m: &MarketLimits, qty: f64) -> bool {
        qty <= QTY_EPS || qty + QTY_EPS < m.min_qty
    }

    /// What an order for `intent` is priced at as it goes out: its reference, or its limit.
    fn price_source(intent: &Intent) -> &'static str {
        match intent.order_type {
            OrderType::Market => "reference",
            OrderType::Limit => "limit",
        }
    }

    /// The refusal of an order of `qty` below the venue's floor, judged at `(price, source)`:
    /// the price and what it is (`reference`, `limit`, or rules 33 on a MARKET entry's `mark`).
    #[cold]
    fn below_floor_outcome(
        &self,
        intent: &Intent,
        sid: usize,
        m: &MarketLimits,
        qty: f64,
        (price, source): (f64, &'static str),
        seq: u64,
    ) -> KernelOutcome {
        let mut d = vec![
            ("reason", Detail::Static("below floor")),
            ("qty", Detail::F64(qty)),
            ("notional", Detail::F64(qty * price)),
            ("min_qty", Detail::F64(m.min_qty)),
            ("min_notional", Detail::F64(m.min_notional)),
            ("lot_step", Detail::F64(m.lot_step)),
        ];
        d.push(("floor_price", Detail::F64(price)));
        d.push(("floor_price_source", Detail::Static(source)));
        self.refuse(
            intent,
            Some(sid),
            KernelDiagnosticCode::BelowMinNotional,
            KernelSeverity::Info,
            d,
            seq,
        )
    }

    /// The counter of a client id this kernel's id makes (`<kernel_id>-<n>`, see `new_order`).
    fn own_counter(&self, client_order_id: &str) -> Option<u64> {
        let digits = client_order_id
            .strip_prefix(self.kernel_id.as_str())?
            .strip_prefix('-')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// Whether an exit of `qty` on `side` for slot `sid` goes out reduce-only: when the asset's
    /// position, netted over the slots holding it as a venue in one-way mode holds one
    /// position per asset, covers it after every other order of the asset on that side that
    /// may still work at the venue takes its remainder (other slots' entries and exits,
    /// reduce-only or not, and orders kept in doubt), and after what the venue said filled of
    /// ended orders on that side that is not booked yet (`Kept::due`, a fill still to come).
    /// Otherwise it would open or grow a position the other way at the venue, which refuses or
    /// expires a reduce-only order doing so: with one slot long and another short of the same
    /// size the venue holds nothing, and neither exit could ever fill. Decided in O(1) from
    /// the sums [`SideCounts`] and the kept orders keep by asset (`room_units`).
    fn exit_reduces(&self, sid: usize, side: OrderSide, qty: f64) -> bool {
        debug_assert!(self.sides.current, "the side counts follow the slots");
        self.room_units(sid, side) >= units(qty - size_tolerance(qty))
    }

    /// What the venue's netted position of slot `sid`'s asset leaves an exit on
    /// `side`, in [`units`], from sums kept as the slots and kept orders change (O(1), for a
    /// book hedged on the asset too): the slots' net, less what the other slots' working
    /// orders on that side have left, what kept orders in doubt on it have left and what
    /// the venue said filled of the other kept orders on it that is not booked yet (as
    /// `netted_room` walks them). The slot's own part is taken as it is now: it may have
    /// changed since it was counted, within this input.
    fn room_units(&self, sid: usize, side: OrderSide) -> i128 {
        let own = &self.slots[sid];
        let i = book_side(side);
        let (now, was) = (SlotUnits::of(own), self.sides.counted(sid));
        let (net, working) = self
            .sides
            .of(&own.asset, sid)
            .map_or((0, 0), |c| (c.net, c.working[i]));
        let net = net - was.net + now.net;
        exit_room(side, net) - (working - was.working[i]) - self.ended.units_on(&own.asset, side)
    }

    /// What the venue's netted position of slot `sid`'s asset leaves an exit on `side`, after
    /// the other orders that may work on that side (walked when `others_work`) and the fills
    /// owed on that side.
    #[inline(never)]
    fn netted_room(&self, sid: usize, side: OrderSide, others_work: bool) -> f64 {
        let own = &self.slots[sid];
        let net: f64 =
            self.open_by_asset
                .get(&own.asset)
                .map_or(own.side.sign() * own.size, |holders| {
                    holders
                        .iter()
                        .map(|s| self.slots[s].side.sign() * self.slots[s].size)
                        .sum()
                });
        let mut taken = 0.0;
        if others_work {
            let mut seen = SlotSet::default();
            for &s in self.by_client_id.values() {
                if s == sid || !seen.insert(s) || self.slots[s].asset != own.asset {
                    continue;
                }
                let slot = &self.slots[s];
                for o in [&slot.active_entry_order, &slot.active_exit_order]
                    .into_iter()
                    .flatten()
                {
                    if o.side == side {
                        taken += o.remaining();
                    }
                }
            }
        }
        // Orders in doubt count as working ones do (any of them makes `others_work`).
        let owed = self.ended.taken_on(&own.asset, side, &mut taken);
        exit_room(side, net) - taken - owed
    }

    /// The order an accepted ENTER or EXIT sends, written into `submit` (its answer's, where
    /// the caller hands it to the venue): built there, not moved there from a copy.
    #[allow(clippy::too_many_arguments)]
    fn new_order(
        &mut self,
        intent: &Intent,
        sid: usize,
        side: OrderSide,
        qty: f64,
        exit: Option<bool>,
        m: &MarketLimits,
        submit: &mut Option<VenueOrder>,
    ) {
        // `exit`: None for an entry, else whether the exit goes out reduce-only.
        // Wrapping: a loaded slot may carry an id with the largest counter (`own_counter`).
        self.order_counter = self.order_counter.wrapping_add(1);
        let client_order_id = self
            .order_ids
            .get_or_insert_with(|| CounterIds::new(&self.kernel_id, "-"))
            .make_next(self.order_counter);
        let price = Self::sent_price(intent, m, side);
        *submit = Some(VenueOrder {
            client_order_id,
            venue_order_id: id(""),
            slot_id: sid,
            trade_id: self.slots[sid].trade_id.clone(),
            asset: self.slots[sid].asset.clone(),
            side,
            order_type: intent.order_type,
            price,
            reference_price: intent.reference_price,
            size: qty,
            filled_size: 0.0,
            avg_fill_price: 0.0,
            status: VenueOrderStatus::New,
            reduce_only: exit == Some(true),
            cancel_requested: false,
            created_at: intent.timestamp,
            is_entry: exit.is_none(),
        });
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
        follow_free(&mut self.free, sid, prev, next);
        // Written where it goes, not built aside and copied in (its 160 bytes through memcpy,
        // as `push` does): the place made first, then each field written into it. A whole
        // transition written at once was still built on the stack and copied.
        let transitions = &mut out.transitions;
        transitions.reserve(1);
        let len = transitions.len();
        let place = transitions.spare_capacity_mut()[0].as_mut_ptr();
        // SAFETY: `place` is the vector's free place at `len`, within its capacity, written
        // whole (`write_transition!`) before the length takes it in.
        unsafe {
            write_transition!(
                place,
                ts,
                slot.trade_id.clone(),
                sid,
                (prev, next, trigger),
                intent_id.clone(),
                event_id.clone(),
                details,
            );
            transitions.set_len(len + 1);
        }
        out.state = next;
        self.dirty.slot(sid);
        true
    }

    /// The fields `write_transition!` writes one by one: a field added to
    /// [`KernelTransition`] fails to compile here until it is named, and written there too.
    #[allow(dead_code)]
    fn written_fields(t: KernelTransition) {
        let KernelTransition {
            timestamp: _,
            trade_id: _,
            slot_id: _,
            prev_state: _,
            next_state: _,
            trigger: _,
            intent_id: _,
            event_id: _,
            details: _,
        } = t;
    }

    /// An ENTER: its answer in `out` when taken, else the refusal (see [`Answered`]).
    fn enter(
        &mut self,
        intent: &Intent,
        seen: bool,
        seq: u64,
        out: &mut KernelOutcome,
    ) -> Answered {
        use KernelDiagnosticCode as D;
        let sid = self.check_intent(intent, seen, seq)?;
        let bad = |k: &Kernel, field: &'static str, value: Detail, reason: &'static str| {
            let d = vec![
                ("field", Detail::Static(field)),
                ("value", value),
                ("reason", Detail::Static(reason)),
            ];
            Err(k.refuse(
                intent,
                None,
                D::InvalidIntent,
                KernelSeverity::Error,
                d,
                seq,
            ))
        };
        // The usual ids pass at one look at each first byte (`plain_start`: not empty, nor
        // flawed); any others are judged as they were, emptiness first.
        let (trade, asset) = (intent.trade_id.as_str(), intent.asset.as_str());
        if !(plain_start(trade) && plain_start(asset)) {
            if trade.is_empty() {
                return bad(
                    self,
                    "trade_id",
                    Detail::Static(""),
                    "ENTER needs a trade id",
                );
            }
            if asset.is_empty() {
                return bad(self, "asset", Detail::Static(""), "ENTER needs an asset");
            }
            for (field, text) in [("trade_id", trade), ("asset", asset)] {
                if let Some(why) = flawed_id(text) {
                    return bad(self, field, shown_id(text), why);
                }
            }
        }
        if intent.side == TradeSide::Flat {
            return bad(
                self,
                "side",
                Detail::Static("FLAT"),
                "ENTER needs LONG or SHORT",
            );
        }
        if intent.target_size <= 0.0 {
            return bad(
                self,
                "target_size",
                Detail::F64(intent.target_size),
                "ENTER needs a positive size",
            );
        }
        // A size the kernel takes for nothing (see `below_min_qty`) is the intent's fault, not
        // the venue's floor, which may not exist.
        if intent.target_size <= QTY_EPS {
            return bad(
                self,
                "target_size",
                Detail::F64(intent.target_size),
                TOO_SMALL,
            );
        }
        if intent.leverage < MIN_LEVERAGE {
            if intent.leverage <= 0.0 {
                return bad(
                    self,
                    "leverage",
                    Detail::F64(intent.leverage),
                    "must be positive",
                );
            }
            // A leverage this small (1e-320) makes a position's margin, its notional over the
            // leverage, infinite.
            return bad(
                self,
                "leverage",
                Detail::F64(intent.leverage),
                "must be at least 1e-15",
            );
        }
        if let Err(msg) = validate_leg_ratios(&intent.exit_leg_ratios) {
            return bad(
                self,
                "exit_leg_ratios",
                Detail::Str(shown_legs(&intent.exit_leg_ratios)),
                msg,
            );
        }
        self.check_order_prices(intent, seq)?;
        if let Some(o) = self.mode_blocks(intent, sid, seq) {
            return Err(o);
        }
        let stage = self.slots[sid].fsm_state;
        if let Some(owed) = self.ended.awaited(sid) {
            return Err(self.awaiting_refusal(intent, sid, owed, None, seq));
        }
        if !fsm::is_free(stage) {
            let held = &self.slots[sid].trade_id;
            let d = vec![
                ("field", Detail::Static("slot_id")),
                ("value", Detail::I64(sid as i64)),
                ("slot_id", Detail::I64(sid as i64)),
                ("fsm_state", Detail::Static(stage.name())),
                ("trade_id", held.into()),
                (
                    "reason",
                    Detail::Static(if *held == intent.trade_id {
                        "the slot already holds this trade: an EXIT closes it, and a new trade \
                         needs a new trade id"
                    } else {
                        "the slot holds another trade: use a free slot, or wait for it to close"
                    }),
                ),
            ];
            return Err(self.refuse(
                intent,
                Some(sid),
                D::SlotBusy,
                KernelSeverity::Warning,
                d,
                seq,
            ));
        }
        // Risk guard.
        if self.control.frozen {
            let mut d = vec![("rule", Detail::Static("edge_freeze"))];
            d.push(("reason", Detail::Str(self.control.freeze_reason.clone())));
            d.push(("asset", Detail::Str(self.control.freeze_asset.clone())));
            return Err(self.refuse(
                intent,
                Some(sid),
                D::RiskRejected,
                KernelSeverity::Warning,
                d,
                seq,
            ));
        }
        if let Some(max) = self.risk.max_leverage {
            if intent.leverage > max {
                return Err(self.risk_refusal(
                    intent,
                    sid,
                    "max_leverage",
                    max,
                    intent.leverage,
                    seq,
                ));
            }
        }
        let m = self.limits_for(&intent.asset);
        let qty = round_down_to_step(intent.target_size, m.lot_step);
        let side = intent.side.entry_order_side();
        let price = Self::order_price(intent, &m, side);
        // A BUY LIMIT fills at its price or under: the mark is not needed (one lookup saved).
        let mark = if intent.order_type == OrderType::Limit && side == OrderSide::Buy {
            0.0
        } else {
            mark_of(&self.marks, &intent.asset)
        };
        let valued_at = cap_price(intent.order_type, side, price, intent.reference_price, mark);
        let notional = qty * valued_at;
        let cap = (valued_at, price, mark);
        if let Some(max) = self.risk.max_notional_per_asset {
            let have = self
                .asset_notional
                .get(&intent.asset)
                .copied()
                .unwrap_or(0.0)
                + self.committed_in_doubt(Some(&intent.asset));
            if have + notional > max + 1e-9 {
                return Err(self.notional_refusal(
                    intent,
                    sid,
                    "max_notional_per_asset",
                    max,
                    have + notional,
                    cap,
                    seq,
                ));
            }
        }
        if let Some(max) = self.risk.max_notional_total {
            let have = self.total_notional + self.committed_in_doubt(None);
            if have + notional > max + 1e-9 {
                return Err(self.notional_refusal(
                    intent,
                    sid,
                    "max_notional_total",
                    max,
                    have + notional,
                    cap,
                    seq,
                ));
            }
        }
        if intent.order_type == OrderType::Market {
            let against = match self.risk.regime {
                Regime::Neutral => false,
                Regime::Bull => intent.side == TradeSide::Short,
                Regime::Bear => intent.side == TradeSide::Long,
            };
            let overridden = match intent.metadata.get("override") {
                Some(MetaValue::Bool(true)) | Some(MetaValue::Int(1)) => true,
                // Text reading as a negative is its author saying no override.
                Some(MetaValue::Str(s)) if against && reads_negative(s) => {
                    return bad(
                        self,
                        "metadata.override",
                        Detail::Str(s.clone()),
                        "reads as a negative: an override is True, 1 or other text",
                    );
                }
                // Text of only whitespace says nothing, as the empty text.
                Some(MetaValue::Str(s)) => !s.trim().is_empty(),
                _ => false,
            };
            if against && !overridden {
                let d = vec![
                    ("rule", Detail::Static("regime_parity")),
                    ("regime", Detail::Static(self.risk.regime.name())),
                    ("side", Detail::Static(intent.side.name())),
                    ("field", Detail::Static("metadata.override")),
                ];
                return Err(self.refuse(
                    intent,
                    Some(sid),
                    D::RiskRejected,
                    KernelSeverity::Warning,
                    d,
                    seq,
                ));
            }
        }
        if let Some(o) = self.limit_off_tick(intent, sid, &m, intent.side.entry_order_side(), seq) {
            return Err(o);
        }
        if let Some(o) = self.check_rate(intent, sid, seq) {
            return Err(o);
        }
        // Rules 33 on, a MARKET order is judged at the higher of its reference and the asset's
        // latest mark (`mark`, as the caps took it): a stale low reference refused orders the
        // venue would take. Not at the mark alone: a mark carries no age, and a stale low one
        // would refuse them alike; one too high sends an order the venue may refuse, as before.
        let (floor_at, source) = match intent.order_type {
            OrderType::Market if mark > price => (mark, "mark"),
            _ => (price, Self::price_source(intent)),
        };
        if Self::below_floor(&m, qty, floor_at) {
            return Err(self.below_floor_outcome(intent, sid, &m, qty, (floor_at, source), seq));
        }

        // Accepted: the slot starts a new trade; a late fill of the last one is refused now.
        self.ended.forget_slot(sid);
        // Not engaged in a slot free for a trade (nor counted, dust aside); counted off all
        // the same if it were, under the asset it held, which changes below.
        let slot = &self.slots[sid];
        let was = engaged(slot);
        let other_asset = self
            .sides
            .count_off(&slot.asset, slot.side, was, sid, &intent.asset);
        if other_asset {
            // The places the slot remembers in the maps by asset are its old asset's.
            self.asset_notional.forget(sid);
            self.open_by_asset.forget(sid);
        }
        // Event ids stay remembered across trades; everything else starts afresh.
        self.slots[sid].start_trade(intent, stage);
        out.reset_ok(intent.slot_id, intent.trade_id.clone(), stage, seq);
        let side = intent.side.entry_order_side();
        self.new_order(intent, sid, side, qty, None, &m, &mut out.submit);
        self.send_order(sid, Trigger::Enter, Ctx::default(), intent, out);
        if qty != intent.target_size {
            out.details.push(("rounded_size", Detail::F64(qty)));
        }
        self.entry_marks[sid] = mark;
        self.set_committed(sid, notional);
        Ok(())
    }

    /// An EXIT: its answer in `out` when taken, else the refusal (see [`Answered`]).
    fn exit(&mut self, intent: &Intent, seen: bool, seq: u64, out: &mut KernelOutcome) -> Answered {
        use KernelDiagnosticCode as D;
        let sid = self.check_intent(intent, seen, seq)?;
        self.check_order_prices(intent, seq)?;
        if let Some(o) = self.mode_blocks(intent, sid, seq) {
            return Err(o);
        }
        let slot = &self.slots[sid];
        let stage = slot.fsm_state;
        // Only an exit owed blocks a new exit: with an entry owed, the kernel's position is
        // below the venue's, and exiting it reduces risk (the entry's fill still comes).
        if let Some(owed) = self.ended.owed(sid, false) {
            return Err(self.awaiting_refusal(intent, sid, owed, Some(false), seq));
        }
        if next_stage(
            stage,
            Trigger::Exit,
            Ctx {
                holds_position: true,
            },
        )
        .is_none()
        {
            let (code, why) = if fsm::is_free(stage) {
                (D::NoPosition, "the slot holds no position")
            } else if matches!(
                stage,
                TradeStage::ExitRequested | TradeStage::ExitSent | TradeStage::ExitWorking
            ) {
                (D::SlotBusy, "an exit is already working")
            } else {
                (
                    D::InvalidTransition,
                    "the entry is still working; cancel it first",
                )
            };
            let mut d = detail_field("slot_id", sid as i64);
            d.push(("fsm_state", Detail::Static(stage.name())));
            d.push(("reason", Detail::Static(why)));
            return Err(self.refuse(intent, Some(sid), code, KernelSeverity::Warning, d, seq));
        }
        if let Some(refused) = self.other_trade(intent, sid, seq) {
            return Err(refused);
        }
        if !intent.asset.is_empty() && intent.asset != slot.asset {
            let mut d = detail_field("asset", &intent.asset);
            d.push(("slot_asset", (&slot.asset).into()));
            return Err(self.refuse(
                intent,
                Some(sid),
                D::InvalidIntent,
                KernelSeverity::Error,
                d,
                seq,
            ));
        }
        if intent.target_size > 0.0 && intent.target_size <= QTY_EPS {
            let mut d = detail_field("target_size", intent.target_size);
            d.push(("reason", Detail::Static(TOO_SMALL)));
            return Err(self.refuse(
                intent,
                Some(sid),
                D::InvalidIntent,
                KernelSeverity::Error,
                d,
                seq,
            ));
        }
        let size = slot.size;
        let mut details: Details = Vec::new();
        let leg = (intent.target_size <= 0.0).then(|| leg_exit(slot));
        // A leg exit that is not the last leg's: its share, less what was taken of it.
        let share_left = leg.as_ref().and_then(|l| l.left);
        let leg_qty = if intent.target_size > 0.0 {
            if intent.target_size > size + QTY_EPS {
                details.push(("clamped_target_size", Detail::F64(intent.target_size)));
            }
            intent.target_size.min(size)
        } else if let Some(left) = share_left {
            if let Some(l) = leg.as_ref().filter(|l| l.taken > 0.0) {
                details.push(("leg_taken", Detail::F64(l.taken)));
            }
            left.min(size)
        } else {
            size
        };
        let m = self.limits_for(&slot.asset);
        let side = slot.side.exit_order_side();
        if let Some(o) = self.limit_off_tick(intent, sid, &m, side, seq) {
            return Err(o);
        }
        let price = Self::order_price(intent, &m, side);
        let whole = whole_position(size, m.lot_step);
        let mut qty = if (leg_qty - size).abs() <= QTY_EPS {
            whole
        } else {
            round_down_to_step(leg_qty, m.lot_step)
        };
        if share_left.is_some() && Self::below_floor(&m, qty, price) {
            // A leg below the venue's floor goes out at the smallest size the venue takes (all
            // of the position when that is no less): refused, it would never advance, and
            // every later leg exit would compute it again.
            let least = Self::least_order(&m, price);
            if least > QTY_EPS {
                details.push(("leg_below_floor", Detail::F64(qty)));
                qty = if least + QTY_EPS < size { least } else { whole };
            }
        }
        let rest = size - qty;
        if rest > QTY_EPS && (Self::below_floor(&m, round_down_to_step(rest, m.lot_step), price)) {
            // What would remain could never be sold: close all of it now.
            details.push(("dust_avoided", Detail::F64(rest)));
            details.push((
                "reason",
                Detail::Static(
                    "remaining size below the venue's floor; closing the whole position",
                ),
            ));
            qty = whole;
        }
        // Venues take a reduce-only exit closing the whole position below their minimum
        // notional: refused, a position whose price fell under it could never be closed. One
        // the netted position does not cover goes out plain, and the floor applies to it as
        // to any order.
        let reduce_only = self.exit_reduces(sid, side, qty);
        let below = if qty + QTY_EPS >= size && reduce_only {
            Self::below_min_qty(&m, qty)
        } else {
            Self::below_floor(&m, qty, price)
        };
        if below {
            let at = (price, Self::price_source(intent));
            return Err(self.below_floor_outcome(intent, sid, &m, qty, at, seq));
        }
        let trade_id = slot.trade_id.clone();
        if let Some(o) = self.check_rate(intent, sid, seq) {
            return Err(o);
        }
        out.reset_ok(intent.slot_id, trade_id, stage, seq);
        let reduce_only = Some(reduce_only);
        self.new_order(intent, sid, side, qty, reduce_only, &m, &mut out.submit);
        let held = Ctx {
            holds_position: true,
        };
        out.details.append(&mut details);
        self.send_order(sid, Trigger::Exit, held, intent, out);
        let slot = &mut self.slots[sid];
        slot.exit_reason.clone_from(&intent.reason);
        if let Some(l) = leg.filter(|l| l.leg > slot.active_leg_index) {
            // Exits that did not complete them took the legs before: they are done.
            out.details.push((
                "legs_done",
                Detail::I64((l.leg - slot.active_leg_index) as i64),
            ));
            slot.active_leg_index = l.leg;
            slot.leg_taken = l.taken;
        }
        Ok(())
    }

    /// The order [`Kernel::new_order`] put in an answer's `submit`, for [`Kernel::send_order`]
    /// and the transitions it writes (given the field, so the answer's other fields may be
    /// written meanwhile).
    #[inline(always)]
    fn submitted(submit: &Option<VenueOrder>) -> &VenueOrder {
        let Some(order) = submit.as_ref() else {
            unreachable!("new_order puts the order in submit")
        };
        order
    }

    /// An accepted ENTER or EXIT goes out: the request and submit transitions, into `out`
    /// (its stage with them), then the order is registered (rate window, order index, the
    /// slot's active order). The order is the one [`Kernel::new_order`] put in `out`'s
    /// `submit` (built there, where it stays for the caller to hand to the venue).
    fn send_order(
        &mut self,
        sid: usize,
        request: Trigger,
        ctx: Ctx,
        intent: &Intent,
        out: &mut KernelOutcome,
    ) {
        if !self.request_and_submit(out, sid, request, ctx, intent) {
            self.request_then_submit(out, sid, request, ctx, intent);
        }
        self.rate.record(intent.timestamp);
        // The order's id is `<kernel_id>-<order_counter>` (`new_order` made it just before):
        // its place in the index is the counter's last three digits, not read from its text.
        let place = (self.order_counter % ORDER_PLACES as u64) as usize;
        let order = Self::submitted(&out.submit);
        self.by_client_id
            .insert_at(place, order.client_order_id.clone(), sid);
        self.follow_new_order(sid, order.is_entry);
        self.set_working_to(sid, order);
        self.counters.orders_submitted += 1;
    }

    /// The request and submit transitions of an order sent, written as the two
    /// [`Kernel::transition`] calls of [`Kernel::request_then_submit`] write them, when the
    /// table has both moves (an ENTER's from a free slot, an EXIT's from an open one): the
    /// slot looked up, the room made and the slot marked dirty once for both, the submit's
    /// details written in place from the order in `out.submit`. False, changing nothing,
    /// when either move is not in the table.
    #[inline(always)]
    fn request_and_submit(
        &mut self,
        out: &mut KernelOutcome,
        sid: usize,
        request: Trigger,
        ctx: Ctx,
        intent: &Intent,
    ) -> bool {
        let ts = intent.timestamp;
        let slot = &mut self.slots[sid];
        let prev = slot.fsm_state;
        let Some(mid) = next_stage(prev, request, ctx) else {
            return false;
        };
        let Some(next) = next_stage(mid, Trigger::Submit, ctx) else {
            return false;
        };
        slot.fsm_state = next;
        // The second move's test of the time finds it taken already.
        if ts > slot.last_event_time {
            slot.last_event_time = ts;
        }
        follow_free(&mut self.free, sid, prev, mid);
        follow_free(&mut self.free, sid, mid, next);
        let order = Self::submitted(&out.submit);
        let transitions = &mut out.transitions;
        transitions.reserve(2);
        let len = transitions.len();
        let spare = transitions.spare_capacity_mut();
        let (first, second) = (spare[0].as_mut_ptr(), spare[1].as_mut_ptr());
        // SAFETY: `first` and `second` are the vector's free places at `len` and `len + 1`,
        // within its capacity (two reserved), each written whole (`write_transition!`) before
        // the length takes them in.
        unsafe {
            write_transition!(
                first,
                ts,
                slot.trade_id.clone(),
                sid,
                (prev, mid, request),
                intent.intent_id.clone(),
                id(""),
                TransitionDetails::Empty,
            );
            write_transition!(
                second,
                ts,
                slot.trade_id.clone(),
                sid,
                (mid, next, Trigger::Submit),
                intent.intent_id.clone(),
                id(""),
                TransitionDetails::Submit {
                    client_order_id: order.client_order_id.clone(),
                    qty: order.size,
                },
            );
            transitions.set_len(len + 2);
        }
        out.state = next;
        // Once: a second mark of the same slot changes nothing.
        self.dirty.slot(sid);
        true
    }

    /// The request and submit transitions one by one: where [`Kernel::request_and_submit`]
    /// finds a move not in the table (each then made or not on its own).
    #[cold]
    #[inline(never)]
    fn request_then_submit(
        &mut self,
        out: &mut KernelOutcome,
        sid: usize,
        request: Trigger,
        ctx: Ctx,
        intent: &Intent,
    ) {
        let order = Self::submitted(&out.submit);
        let details = TransitionDetails::Submit {
            client_order_id: order.client_order_id.clone(),
            qty: order.size,
        };
        let no_event = id("");
        self.transition(
            out,
            sid,
            request,
            ctx,
            intent.timestamp,
            &intent.intent_id,
            &no_event,
            TransitionDetails::Empty,
        );
        self.transition(
            out,
            sid,
            Trigger::Submit,
            ctx,
            intent.timestamp,
            &intent.intent_id,
            &no_event,
            details,
        );
    }

    /// The refusal of an EXIT or (rules 5 on) a CANCEL naming another trade than the one
    /// slot `sid` holds: a strategy's stale or foreign slot id must not close or cancel
    /// what another trade opened. An empty trade id names the slot's trade.
    #[inline(always)]
    fn other_trade(&self, intent: &Intent, sid: usize, seq: u64) -> Option<KernelOutcome> {
        let slot = &self.slots[sid];
        if intent.trade_id.is_empty() || intent.trade_id == slot.trade_id {
            return None;
        }
        Some(self.other_trade_refusal(intent, sid, seq))
    }

    #[cold]
    #[inline(never)]
    fn other_trade_refusal(&self, intent: &Intent, sid: usize, seq: u64) -> KernelOutcome {
        let slot = &self.slots[sid];
        let mut d = detail_field("trade_id", &intent.trade_id);
        d.push(("slot_trade_id", (&slot.trade_id).into()));
        self.refuse(
            intent,
            Some(sid),
            KernelDiagnosticCode::InvalidIntent,
            KernelSeverity::Error,
            d,
            seq,
        )
    }

    fn cancel(&mut self, intent: &Intent, seen: bool, seq: u64) -> KernelOutcome {
        let sid = match self.check_intent(intent, seen, seq) {
            Ok(s) => s,
            Err(o) => return o,
        };
        let stage = self.slots[sid].fsm_state;
        if !fsm::CANCELLABLE.contains(&stage) || self.slots[sid].active_order().is_none() {
            if let Some(order) = self.ended.in_doubt(sid, None).cloned() {
                return self.cancel_in_doubt(intent, sid, order, seq);
            }
            let d = vec![
                ("fsm_state", Detail::Static(stage.name())),
                ("reason", Detail::Static("no working order to cancel")),
            ];
            return self.refuse(
                intent,
                Some(sid),
                KernelDiagnosticCode::InvalidTransition,
                KernelSeverity::Warning,
                d,
                seq,
            );
        }
        if let Some(refused) = self.other_trade(intent, sid, seq) {
            return refused;
        }
        let trade_id = self.slots[sid].trade_id.clone();
        let order = {
            let o = self.slots[sid].active_order_mut().expect("checked above");
            o.cancel_requested = true;
            o.clone()
        };
        let mut out = KernelOutcome::ok(intent.slot_id, trade_id, stage, seq);
        let ctx = Ctx {
            holds_position: self.slots[sid].size > QTY_EPS,
        };
        let d = TransitionDetails::Cancel {
            client_order_id: order.client_order_id.clone(),
        };
        self.transition(
            &mut out,
            sid,
            Trigger::CancelRequest,
            ctx,
            intent.timestamp,
            &intent.intent_id,
            &id(""),
            d,
        );
        self.counters.cancels_requested += 1;
        out.cancels.push(order);
        out
    }

    /// A CANCEL on a slot whose `order` is in doubt (rules 17 on): its cancel may have been the
    /// request the venue throttled, so it is asked again (`cancels`), the slot's stage kept.
    /// The venue's answer ends the doubt (a cancel ack, rules 16) or leaves it to
    /// `reconcile_with_venue` (a reject: the venue may never have had it, or it filled). It was
    /// refused as INVALID_TRANSITION, "no working order to cancel", while the order could
    /// still fill at the venue.
    #[cold]
    fn cancel_in_doubt(
        &mut self,
        intent: &Intent,
        sid: usize,
        order: VenueOrder,
        seq: u64,
    ) -> KernelOutcome {
        if let Some(refused) = self.other_trade(intent, sid, seq) {
            return refused;
        }
        let slot = &self.slots[sid];
        let mut out = KernelOutcome::ok(intent.slot_id, slot.trade_id.clone(), slot.fsm_state, seq);
        out.severity = KernelSeverity::Warning;
        out.details
            .push(("client_order_id", (&order.client_order_id).into()));
        out.details.push(("order_in_doubt", Detail::Bool(true)));
        out.details
            .push(("reason", Detail::Static(CANCEL_IN_DOUBT)));
        self.counters.cancels_requested += 1;
        out.cancels.push(order);
        out
    }

    // ----- venue events --------------------------------------------------------------

    /// The status a FILL stating none says, read from the sizes against the order it names,
    /// working or kept after it ended: PARTIALLY_FILLED while the order has more than the
    /// completion tolerance left after it, else FILLED (the kind's own, also for an order the
    /// kernel does not hold). A FILL made without a status said FILLED, and from rules 34 a
    /// part fill so made with its running total ended its order there, its rest lost (from
    /// rules 36, an order in doubt's doubt): the bindings give an event made without a status
    /// this one before the kernel takes (and logs) it.
    pub fn fill_status_by_sizes(&self, ev: &VenueEvent) -> VenueOrderStatus {
        let sid = match self.by_client_id.get(&ev.venue_client_id) {
            Some(&sid) => Some(sid),
            None if ev.venue_client_id.is_empty() => self.working_by_venue_id(&ev.venue_order_id),
            None => None,
        };
        // After it: the running total it states, else what is booked and its size (a resend
        // stating its total reads as the fill it repeats).
        let after = |o: &VenueOrder| {
            if ev.filled_size > 0.0 {
                ev.filled_size
            } else {
                o.filled_size + ev.size
            }
        };
        // The order it names working, else one kept after it ended (found as a late fill is):
        // that one's part fill said FILLED, which ends an order in doubt (rules 36).
        let kept = || {
            let (c, v) = (&ev.venue_client_id, &ev.venue_order_id);
            let key = match self.ended.by_client(c) {
                None if c.is_empty() => self.ended.by_venue(v),
                key => key,
            };
            key.and_then(|k| self.ended.get(k)).map(|k| &k.order)
        };
        let order = match sid {
            Some(sid) => self.slots[sid].active_order(),
            None => kept(),
        };
        match order {
            Some(o) if o.size - after(o) > size_tolerance(o.size) => {
                VenueOrderStatus::PartiallyFilled
            }
            _ => VenueOrderStatus::Filled,
        }
    }

    pub fn on_venue_event(&mut self, ev: &VenueEvent) -> KernelOutcome {
        let mut out = KernelOutcome::blank();
        self.on_venue_event_into(ev, &mut out);
        out
    }

    /// [`Kernel::on_venue_event`] answered in `out` (see [`Kernel::process_intent_into`]).
    pub fn on_venue_event_into(&mut self, ev: &VenueEvent, out: &mut KernelOutcome) {
        // A fill's client id, fingerprinted once: for the prefetch and, when the fill
        // completes the order of that id, its keys and its memory as finished.
        let mut client_fp = None;
        // And its key's (`VenueEvent::fill_key`), once: its event's or fill's memory and the
        // fee waiting for settlement under it.
        let mut key_fp = None;
        let ids = EventIds::of(ev);
        if ev.kind == KernelEventKind::Fill {
            // A fill may finish its order, which remembers the order's ids, and its predicted
            // fee waits for settlement under its fill id. An empty venue id, or one that is
            // the client id, is no second fingerprint.
            let (c, v) = (ids.client, ids.venue);
            let fp = fingerprint(c);
            if v.is_empty() || same_bytes(v.as_bytes(), c.as_bytes()) {
                self.finished_orders.prefetch_insert(&[fp]);
            } else {
                self.finished_orders.prefetch_insert(&[fp, fingerprint(v)]);
            }
            client_fp = Some(fp);
            let key = fingerprint(ids.fill_key());
            if ev.fee.is_none() {
                self.unsettled.prefetch_insert(key);
            }
            key_fp = Some(key);
        }
        let seq = self.next_seq();
        self.counters.venue_events += 1;
        let mut routed = None;
        let fps = [client_fp, key_fp];
        if let Err(whole) = self.venue_event(ev, ids, seq, &mut routed, fps, out) {
            *out = whole;
        }
        // The slot remembers the event (and its fill) once taken, or throttled.
        if let Some(r) = routed
            .filter(|_| out.accepted || out.diagnostic_code == KernelDiagnosticCode::RateLimited)
        {
            let slot = &mut self.slots[r.sid];
            slot.seen_events.insert(r.event_fp);
            if let Some(fp) = r.fill_fp {
                slot.seen_fills.insert(fp);
            }
        }
        if out.accepted {
            self.account.note_input_time(ev.timestamp);
        } else {
            self.counters.venue_events_refused += 1;
        }
        if self.outbox.enabled {
            self.outbox.record_venue_event(ev, out);
        }
    }

    #[cold]
    fn event_refusal(
        &self,
        ev: &VenueEvent,
        sid: Option<usize>,
        code: KernelDiagnosticCode,
        sev: KernelSeverity,
        details: Details,
        seq: u64,
    ) -> KernelOutcome {
        let (state, trade, slot_id) = match sid.and_then(|i| self.slots.get(i)) {
            Some(s) => (s.fsm_state, s.trade_id.clone(), s.slot_id as i64),
            None => (TradeStage::Idle, ev.trade_id.clone(), ev.slot_id),
        };
        KernelOutcome::refused(slot_id, trade, state, code, sev, details, seq)
    }

    /// Judges and applies `ev`, answering in `out` or with the answer made whole (see
    /// [`Answered`]); `routed` is set once it names a slot's order and is no duplicate
    /// (`on_venue_event` remembers it there after). `fps`: a fill's client id and key
    /// ([`VenueEvent::fill_key`]) fingerprinted (None for another event). Inlined into its one
    /// caller: left to the compiler it was a call, its answer and `routed` passed through
    /// memory (some 55 instructions an event).
    #[inline(always)]
    fn venue_event(
        &mut self,
        ev: &VenueEvent,
        ids: EventIds<'_>,
        seq: u64,
        routed: &mut Option<Routed>,
        [client_fp, key_fp]: [Option<u64>; 2],
        out: &mut KernelOutcome,
    ) -> Answered {
        use KernelDiagnosticCode as D;
        use KernelEventKind as K;
        // Written out, not through a helper returning the details: that form stopped the
        // compiler inlining this function into `on_venue_event` (+0.9 % a trade cycle).
        if !plain_start(ids.event) {
            let refused = if ev.event_id.is_empty() {
                Some(detail_field("event_id", Detail::Static("")))
            } else {
                flawed_id(&ev.event_id).map(|why| {
                    let mut d = detail_field("event_id", shown_id(&ev.event_id));
                    d.push(("reason", Detail::Static(why)));
                    d
                })
            };
            if let Some(d) = refused {
                return Err(self.event_refusal(
                    ev,
                    None,
                    D::InvalidIntent,
                    KernelSeverity::Error,
                    d,
                    seq,
                ));
            }
        }
        // Every event's numbers are checked: the common case (all plainly within bounds,
        // `plain_event_numbers`) decides all seven at once, and only an event failing it
        // walks them to name the first (or finds none: -0.0 is within bounds).
        if !plain_event_numbers(ev) {
            if let Some(refused) = self.number_refusal_of(ev, seq) {
                return Err(refused);
            }
        }
        // The kernel's own client ids first: a venue id may be reused by a venue. An order
        // that ended is still known (`EndedOrders`).
        let (c, v) = (&ev.venue_client_id, &ev.venue_order_id);
        let mut client_place = None;
        let found = match self.by_client_id.get_placed(&ev.venue_client_id) {
            Some((sid, place)) => {
                client_place = place;
                Some((sid, None))
            }
            None => match self.ended.by_client(c) {
                Some(k) => Some((k.0, Some(k))),
                // The kernel's own id of an order it no longer holds: the venue id must not
                // route the event to another order that carried it.
                None if !c.is_empty() && self.finished_orders.contains(&fingerprint(c)) => None,
                None => match self.working_by_venue_id(v) {
                    // An order kept for its late fills carries it too (the venue reused it):
                    // the id names neither, as it names no kept order two carry.
                    Some(_) if self.ended.venue_id_claimed(v, None) => {
                        return Err(self.shared_venue_id_refusal(ev, seq));
                    }
                    working => working.map(|sid| (sid, None)),
                }
                .or_else(|| self.ended.by_venue(v).map(|k| (k.0, Some(k)))),
            },
        };
        let Some((sid, late)) = found else {
            return Err(self.unknown_order(ev, seq));
        };
        if ev.slot_id >= 0 && ev.slot_id as usize != sid {
            let mut d = detail_field("slot_id", ev.slot_id);
            d.push(("order_slot_id", Detail::I64(sid as i64)));
            return Err(self.event_refusal(
                ev,
                Some(sid),
                D::UnknownOrder,
                KernelSeverity::Error,
                d,
                seq,
            ));
        }
        let order = match late {
            Some(key) => self.ended.get(key).map(|k| &k.order),
            None => self.slots[sid].active_order(),
        };
        if let Some(d) = order.and_then(|o| Self::disagreement(ev, ids.venue, o)) {
            return Err(self.event_refusal(
                ev,
                Some(sid),
                D::UnknownOrder,
                KernelSeverity::Error,
                d,
                seq,
            ));
        }
        // Looked up here and, once the event is taken, remembered by `on_venue_event`:
        // fingerprinted once (a fill's key is its fill id, else its event id).
        let event_fp = match key_fp {
            Some(fp) if ids.fill.is_empty() => fp,
            _ => fingerprint(ids.event),
        };
        // A fill with neither a fill id nor a running total is known by its event id alone:
        // the slot's event memory keeps its trade's past its 64 places.
        let fill_fp = (ev.kind == K::Fill && !ids.fill.is_empty())
            .then(|| key_fp.unwrap_or_else(|| fingerprint(ids.fill)));
        if self.slots[sid].seen_events.contains(event_fp) {
            let d = detail_field("event_id", &ev.event_id);
            return Err(self.event_refusal(
                ev,
                Some(sid),
                D::DuplicateEvent,
                KernelSeverity::Info,
                d,
                seq,
            ));
        }
        if fill_fp.is_some_and(|fp| self.slots[sid].seen_fills.contains(fp)) {
            let d = if ev.fill_id.is_empty() {
                detail_field("event_id", &ev.event_id)
            } else {
                detail_field("fill_id", &ev.fill_id)
            };
            return Err(self.event_refusal(
                ev,
                Some(sid),
                D::DuplicateEvent,
                KernelSeverity::Info,
                d,
                seq,
            ));
        }
        *routed = Some(Routed {
            sid,
            event_fp,
            fill_fp,
        });
        let whole = match ev.kind {
            K::CancelAck | K::Expired | K::Reject if late.is_some() && is_reconciliation(ev) => {
                self.settle_awaited(ev, late.expect("checked"), seq)
            }
            // The venue's own end of an order in doubt says what became of it.
            K::CancelAck | K::Expired | K::Reject
                if late.is_some_and(|k| self.ended.is_in_doubt(k)) =>
            {
                self.end_in_doubt(ev, late.expect("checked"), seq)
            }
            K::OrderAck if late.is_some() => {
                self.apply_late_ack(ev, sid, late.expect("checked"), seq)
            }
            K::CancelReject if late.is_some_and(|k| self.ended.is_in_doubt(k)) => {
                let mut d = order_named(ev);
                d.push(("reason", Detail::Static(IN_DOUBT_CANCEL_REFUSED)));
                let (code, sev) = (D::InvalidTransition, KernelSeverity::Warning);
                self.event_refusal(ev, Some(sid), code, sev, d, seq)
            }
            _ if late.is_some() && ev.kind != K::Fill => {
                self.ended_order_refusal(ev, Some(sid), seq, FILL_AFTER_END)
            }
            K::Fill => match late {
                Some(key) => self.apply_late_fill(ev, key, seq),
                None => {
                    let key_fp = key_fp.unwrap_or_else(|| fingerprint(ids.fill_key()));
                    let client = client_fp.map(|fp| ClientNamed {
                        fp,
                        place: client_place,
                    });
                    return self.apply_fill(ev, sid, seq, client, key_fp, out);
                }
            },
            K::OrderAck => return self.apply_ack(ev, ids.venue, sid, seq, out),
            K::CancelReject => self.apply_cancel_reject(ev, sid, seq),
            // An order the venue acknowledged or filled is at the venue, and a rate limit
            // cannot take it back: the throttled request was its cancel.
            K::RateLimited if self.venue_holds(sid) || rate_limit_shows_it_held(ev) => {
                self.throttled_cancel(ev, sid, seq)
            }
            K::CancelAck | K::Reject | K::Expired | K::RateLimited => {
                self.apply_order_end(ev, sid, seq)
            }
        };
        Err(whole)
    }

    /// The refusal of `ev` for its first number out of bounds, if any (what
    /// `venue_event` checks when not all of them are plainly within bounds).
    #[cold]
    fn number_refusal_of(&self, ev: &VenueEvent, seq: u64) -> Option<KernelOutcome> {
        use KernelDiagnosticCode as D;
        // A fee may be negative (a rebate); the reason names the rule of the rest.
        let numbers = [
            ("price", ev.price, true),
            ("size", ev.size, true),
            ("filled_size", ev.filled_size, true),
            ("remaining_size", ev.remaining_size, true),
            ("retry_after", ev.retry_after, true),
            ("timestamp", ev.timestamp, true),
            ("fee", ev.fee.unwrap_or(0.0), false),
        ];
        for (field, v, non_negative) in numbers {
            let reason = if non_negative {
                "must be a finite, non-negative number"
            } else {
                "must be a finite number (negative for a rebate)"
            };
            if let Some(d) = number_refusal(field, v, non_negative, reason) {
                return Some(self.event_refusal(
                    ev,
                    None,
                    D::InvalidIntent,
                    KernelSeverity::Error,
                    d,
                    seq,
                ));
            }
        }
        None
    }

    /// The refusal of an event naming its order only by a venue id that a working order and
    /// an order kept for its late fills both carry (rules 8 on): it may be either's, and
    /// booked on the working order a fill owed to the kept one moves a position the venue
    /// does not hold, while the kept one's slot waits for it for good.
    #[cold]
    fn shared_venue_id_refusal(&self, ev: &VenueEvent, seq: u64) -> KernelOutcome {
        let mut d = order_named(ev);
        d.push((
            "reason",
            Detail::Static(
                "the venue order id is a working order's and an ended order's the kernel keeps \
                 for its late fills; name the order by its client id, or reconcile with the venue",
            ),
        ));
        self.event_refusal(
            ev,
            None,
            KernelDiagnosticCode::UnknownOrder,
            KernelSeverity::Critical,
            d,
            seq,
        )
    }

    /// The refusal of an event naming no order the kernel knows of. An order that ended
    /// long ago (or, under rules before 2, at all) is known by its ids' fingerprints.
    #[cold]
    fn unknown_order(&self, ev: &VenueEvent, seq: u64) -> KernelOutcome {
        let known = self
            .finished_orders
            .contains(&fingerprint(&ev.venue_client_id))
            || (!ev.venue_order_id.is_empty()
                && self
                    .finished_orders
                    .contains(&fingerprint(&ev.venue_order_id)));
        if known {
            if let Some((sid, d)) = self.resent_to_named_slot(ev) {
                return self.event_refusal(
                    ev,
                    Some(sid),
                    KernelDiagnosticCode::DuplicateEvent,
                    KernelSeverity::Info,
                    d,
                    seq,
                );
            }
            return self.ended_order_refusal(ev, None, seq, FILL_AFTER_END);
        }
        self.event_refusal(
            ev,
            None,
            KernelDiagnosticCode::UnknownOrder,
            KernelSeverity::Warning,
            order_named(ev),
            seq,
        )
    }

    /// For an event of an order the kernel no longer holds that names its slot: the details
    /// of a resend, when the slot remembers its event or fill id (a venue replaying recent
    /// reports on reconnect is not money moving).
    fn resent_to_named_slot(&self, ev: &VenueEvent) -> Option<(usize, Details)> {
        let sid = usize::try_from(ev.slot_id)
            .ok()
            .filter(|&i| i < self.slots.len())?;
        let slot = &self.slots[sid];
        if slot.seen_events.contains(fingerprint(&ev.event_id)) {
            return Some((sid, detail_field("event_id", &ev.event_id)));
        }
        let fill_seen = ev.kind == KernelEventKind::Fill
            && !ev.fill_id.is_empty()
            && slot.seen_fills.contains(fingerprint(&ev.fill_id));
        if fill_seen {
            return Some((sid, detail_field("fill_id", &ev.fill_id)));
        }
        // A fill resent without its fill id is known by its running total and size too (the
        // keys `fill_size` remembers), as on an order still working.
        let resent_by_total = ev.kind == KernelEventKind::Fill
            && ev.fill_id.is_empty()
            && ev.size > 0.0
            && ev.filled_size > 0.0
            && !ev.venue_client_id.is_empty()
            && {
                let k = running_total_key(&ev.venue_client_id, ev.filled_size);
                slot.seen_fills.contains(k) || slot.seen_fills.contains(sized_total_key(k, ev.size))
            };
        if resent_by_total {
            return Some((sid, detail_field("filled_size", ev.filled_size)));
        }
        // A report stating only the running total (no size) of an order that filled
        // completely, at its size, books nothing: no money moved that the slots do not show.
        let status_of_filled = ev.kind == KernelEventKind::Fill
            && ev.fill_id.is_empty()
            && ev.size <= 0.0
            && ev.filled_size > 0.0
            && !ev.venue_client_id.is_empty()
            && slot
                .seen_fills
                .contains(completed_key(&ev.venue_client_id, ev.filled_size));
        status_of_filled.then(|| {
            let mut d = detail_field("filled_size", ev.filled_size);
            d.push(("reason", Detail::Static(STATUS_OF_FILLED)));
            (sid, d)
        })
    }

    /// The refusal of an event for an order that already ended. A fill that cannot be
    /// applied (`fill_reason` says why) is loud: money moved that the slots do not show.
    fn ended_order_refusal(
        &self,
        ev: &VenueEvent,
        sid: Option<usize>,
        seq: u64,
        fill_reason: &'static str,
    ) -> KernelOutcome {
        let mut d = order_named(ev);
        let (code, sev, reason) = if ev.kind == KernelEventKind::Fill {
            (
                KernelDiagnosticCode::UnknownOrder,
                KernelSeverity::Critical,
                fill_reason,
            )
        } else {
            (
                KernelDiagnosticCode::InvalidTransition,
                KernelSeverity::Info,
                "late event for an order that already ended",
            )
        };
        d.push(("reason", Detail::Static(reason)));
        self.event_refusal(ev, sid, code, sev, d, seq)
    }

    /// What in `ev` contradicts the order it names (its trade, asset or side, rules 35 on its
    /// venue id), if anything: an event meant for another order must not move this one. Empty
    /// fields say nothing.
    /// `venue`: the event's venue order id's text (see [`EventIds`]).
    fn disagreement(ev: &VenueEvent, venue: &str, order: &VenueOrder) -> Option<Details> {
        let (field, value, own) = if !ev.trade_id.is_empty() && ev.trade_id != order.trade_id {
            (
                "trade_id",
                Detail::from(&ev.trade_id),
                Detail::from(&order.trade_id),
            )
        } else if !ev.asset.is_empty() && ev.asset != order.asset {
            ("asset", Detail::from(&ev.asset), Detail::from(&order.asset))
        } else if ev.side.is_some_and(|side| side != order.side) {
            (
                "side",
                Detail::Static(ev.side.map_or("", |s| s.name())),
                Detail::Static(order.side.name()),
            )
        } else if Self::other_venue_id(ev, venue, order) {
            (
                "venue_order_id",
                Detail::from(&ev.venue_order_id),
                Detail::from(&order.venue_order_id),
            )
        } else {
            return None;
        };
        Some(vec![
            ("field", Detail::Static(field)),
            ("value", value),
            ("order_value", own),
            ("client_order_id", (&order.client_order_id).into()),
            (
                "reason",
                Detail::Static("the event does not match the order it names"),
            ),
        ])
    }

    /// Whether `ev`, naming `order` (by its client id), states a venue id other than the one
    /// the order carries, both given: another order's report (its fill booked here would
    /// corrupt the position). An ORDER_ACK is judged by the ack rules instead (an order
    /// still in ORDER_SENT or EXIT_SENT takes the id it acknowledges; one working keeps its own).
    fn other_venue_id(ev: &VenueEvent, venue: &str, order: &VenueOrder) -> bool {
        ev.kind != KernelEventKind::OrderAck
            && !venue.is_empty()
            && !order.venue_order_id.is_empty()
            && venue != order.venue_order_id
    }

    fn stage_refusal(&self, ev: &VenueEvent, sid: usize, seq: u64) -> KernelOutcome {
        let d = vec![
            (
                "fsm_state",
                Detail::Static(self.slots[sid].fsm_state.name()),
            ),
            ("kind", Detail::Static(ev.kind.name())),
            ("event_id", (&ev.event_id).into()),
        ];
        self.event_refusal(
            ev,
            Some(sid),
            KernelDiagnosticCode::InvalidTransition,
            KernelSeverity::Warning,
            d,
            seq,
        )
    }

    /// The slot of the working order the venue knows as `venue_id`, only if that order still
    /// carries the id: an index entry it outlived must not hand the event to the slot's next
    /// order, or to a slot without one.
    fn working_by_venue_id(&self, venue_id: &Id) -> Option<usize> {
        let &sid = self.by_venue_id.get(venue_id)?;
        let carried = || {
            self.slots[sid]
                .active_order()
                .is_some_and(|o| o.venue_order_id == *venue_id)
        };
        carried().then_some(sid)
    }

    /// A refusal when `venue_order_id` already names a working order of another slot: taking
    /// it would send that order's fills here.
    /// No working order carrying a venue id (the usual ack's case, its order the only one
    /// working and still without one) is nothing to look up: answered without a call.
    #[inline(always)]
    fn venue_id_taken(&self, ev: &VenueEvent, sid: usize, seq: u64) -> Option<KernelOutcome> {
        if self.by_venue_id.is_empty() {
            return None;
        }
        let other = self.working_by_venue_id(&ev.venue_order_id)?;
        if other == sid || ev.venue_order_id.is_empty() {
            return None;
        }
        Some(self.venue_id_taken_refusal(ev, sid, other, seq))
    }

    #[cold]
    #[inline(never)]
    fn venue_id_taken_refusal(
        &self,
        ev: &VenueEvent,
        sid: usize,
        other: usize,
        seq: u64,
    ) -> KernelOutcome {
        let mut d = detail_field("venue_order_id", &ev.venue_order_id);
        d.push(("other_slot_id", Detail::I64(other as i64)));
        d.push((
            "reason",
            Detail::Static("the venue order id is another working order's"),
        ));
        self.event_refusal(
            ev,
            Some(sid),
            KernelDiagnosticCode::UnknownOrder,
            KernelSeverity::Critical,
            d,
            seq,
        )
    }

    /// An ack of slot `sid`'s working order: its answer in `out`, else the refusal. `venue`:
    /// the event's venue order id's text (see [`EventIds`]).
    fn apply_ack(
        &mut self,
        ev: &VenueEvent,
        venue: &str,
        sid: usize,
        seq: u64,
        out: &mut KernelOutcome,
    ) -> Answered {
        if let Some(refused) = self.venue_id_taken(ev, sid, seq) {
            return Err(refused);
        }
        let ctx = Ctx {
            holds_position: self.slots[sid].size > QTY_EPS,
        };
        let slot = &self.slots[sid];
        out.reset_ok(sid as i64, slot.trade_id.clone(), slot.fsm_state, seq);
        let moved = self.transition(
            out,
            sid,
            Trigger::Ack,
            ctx,
            ev.timestamp,
            &id(""),
            &ev.event_id,
            TransitionDetails::Empty,
        );
        if !moved {
            return Err(self.late_ack(ev, sid, seq));
        }
        let order = self.slots[sid]
            .active_order_mut()
            .expect("indexed orders are active");
        order.status = VenueOrderStatus::Acknowledged;
        if !venue.is_empty() {
            if order.venue_order_id.is_empty() {
                // The usual ack: the order carries no venue id yet, and none is replaced.
                order.venue_order_id = ev.venue_order_id.clone();
            } else {
                let before =
                    std::mem::replace(&mut order.venue_order_id, ev.venue_order_id.clone());
                // The id the venue replaced stops naming this slot, so an event that names it
                // later finds no order instead of this slot's next one (or none at all).
                if before != ev.venue_order_id && self.by_venue_id.get(&before) == Some(&sid) {
                    self.by_venue_id.remove(&before);
                }
            }
            self.by_venue_id.insert(ev.venue_order_id.clone(), sid);
        }
        let sent = order.size;
        if ev.size > 0.0 && (ev.size - sent).abs() > size_tolerance(sent) {
            self.acked_size(ev, sid, out);
        }
        Ok(())
    }

    /// An ack of another size than slot `sid`'s order was sent for (a late ack's too, after a
    /// fill), WARNING in `out` with both. Less (a venue cutting it to its lot, or a reduce-only
    /// exit to the position): the order's size, what it commits and counts, so the kernel does
    /// not wait for fills that never come. When what filled reaches it (a late ack), the order
    /// is filled, at what filled (a FILL transition). More: the size sent stands.
    #[cold]
    fn acked_size(&mut self, ev: &VenueEvent, sid: usize, out: &mut KernelOutcome) {
        let was = engaged(&self.slots[sid]);
        let order = self.slots[sid].active_order_mut().expect("acknowledged");
        out.severity = KernelSeverity::Warning;
        out.details.push(("acked_size", Detail::F64(ev.size)));
        out.details.push(("order_size", Detail::F64(order.size)));
        if ev.size > order.size {
            out.details.push((
                "reason",
                Detail::Static(
                    "the venue acknowledged more than was sent: the size sent stands (a fill \
                     beyond it is refused as an overfill)",
                ),
            ));
            return;
        }
        // Nothing filled yet for an ack in order (from a sent stage); a late ack's order may
        // have filled what it states, or more.
        let filled =
            order.filled_size > QTY_EPS && order.filled_size >= ev.size - size_tolerance(ev.size);
        order.size = ev.size.max(order.filled_size);
        if filled {
            order.status = VenueOrderStatus::Filled;
        }
        let order = order.clone();
        out.details.push((
            "reason",
            Detail::Static(if filled {
                "the venue acknowledged less than was sent, and what filled reaches it: the \
                 order is filled"
            } else {
                "the venue acknowledged less than was sent (cut to its lot, or a reduce-only \
                 exit to the position): the order is that size"
            }),
        ));
        self.recount_slot(sid, was);
        if order.is_entry {
            let at = working_price(&order, entry_mark(&self.entry_marks, sid));
            let committed = held_notional(&self.slots[sid]) + order.remaining() * at;
            self.set_committed(sid, committed);
        }
        self.dirty.slot(sid);
        if filled {
            let holds = Ctx {
                holds_position: self.slots[sid].size > QTY_EPS,
            };
            let d = TransitionDetails::Ended {
                filled_size: order.filled_size,
                order_size: order.size,
                reason: "acknowledged at what filled".to_owned(),
            };
            let id_none = id("");
            let moved = self.transition(
                out,
                sid,
                Trigger::Fill,
                holds,
                ev.timestamp,
                &id_none,
                &ev.event_id,
                d,
            );
            debug_assert!(moved, "a working stage takes a fill");
            self.order_filled(sid, &order, 0.0, order.filled_size, None, None);
        }
    }

    /// An ack the slot's stage does not take. An ack of a working order that carries no venue
    /// id yet (a venue reordering its reports: a fill before the ack moved the order to
    /// working) teaches the kernel the ack's id, so an event naming the order by it alone
    /// finds it; the stage and status stay as the fill left them. `apply_ack` checked that no
    /// other working order carries the id. An order that carries an id (a fill's, which the
    /// venue sent after this ack, or an earlier ack's) keeps it, and the ack is refused.
    fn late_ack(&mut self, ev: &VenueEvent, sid: usize, seq: u64) -> KernelOutcome {
        let slot = &self.slots[sid];
        let learns = !ev.venue_order_id.is_empty()
            && matches!(
                slot.fsm_state,
                TradeStage::EntryWorking | TradeStage::ExitWorking
            )
            && slot
                .active_order()
                .is_some_and(|o| o.venue_order_id.is_empty());
        if !learns {
            return self.stage_refusal(ev, sid, seq);
        }
        let order = self.slots[sid].active_order_mut().expect("checked above");
        order.venue_order_id = ev.venue_order_id.clone();
        let client_order_id = order.client_order_id.clone();
        let size = order.size;
        self.by_venue_id.insert(ev.venue_order_id.clone(), sid);
        let mut out = self.late_ack_taken(ev, sid, &client_order_id, seq);
        // Its size is read as an ack's in order is: one below the order's cuts it, and
        // completes it when what filled reaches it.
        if ev.size > 0.0 && (ev.size - size).abs() > size_tolerance(size) {
            self.acked_size(ev, sid, &mut out);
        }
        out
    }

    /// The outcome of a late ack taken for its venue id (of a working order, or of a kept
    /// one): no transition, the slot's stage as it is.
    fn late_ack_taken(
        &self,
        ev: &VenueEvent,
        sid: usize,
        client_order_id: &Id,
        seq: u64,
    ) -> KernelOutcome {
        let mut out = self.slot_outcome(sid, seq);
        out.details = vec![
            ("late_ack", Detail::Bool(true)),
            ("venue_order_id", (&ev.venue_order_id).into()),
            ("client_order_id", client_order_id.into()),
        ];
        out
    }

    /// Whether `diff` is less than half a lot of `asset` (any `diff` when no lot is set): off
    /// the lot grid by less, a size is float noise; by a whole lot, it is what the venue did.
    fn below_half_a_lot(&self, asset: &str, diff: f64) -> bool {
        let lot = self.limits_for(asset).lot_step;
        lot <= 0.0 || diff.abs() < lot / 2.0
    }

    /// What slot `sid` holds once exit `order`'s fill of `qty` is booked. A fill completing
    /// an exit whose rest of the position is within float error of nothing (the whole
    /// position's bound, [`whole_position`]) and under half the asset's lot leaves nothing: the
    /// fills' sizes add up to the position only within float error, and a few 1e-9 left would
    /// keep the slot open after its exit filled. A deliberate partial exit leaves a lot or
    /// more.
    #[inline]
    fn after_exit_fill(&self, sid: usize, order: &VenueOrder, qty: f64) -> f64 {
        let rest = self.slots[sid].size - qty;
        if rest <= QTY_EPS || rest > QTY_EPS.max(order.size * 1e-13) {
            return rest;
        }
        let completes = order.size - (order.filled_size + qty) <= size_tolerance(order.size);
        if completes && self.below_half_a_lot(&order.asset, rest) {
            0.0
        } else {
            rest
        }
    }

    /// The size `ev` fills of `order` (on slot `sid`) and, for a fill known by the venue's
    /// running total, that total's key; or the refusal of a fill that is a resend, empty,
    /// priceless or more than the order has left. `client_fp`: the [`fingerprint`] of the
    /// event's client id, when the caller made it (the order's running-total key takes it
    /// when that id is the order's).
    ///
    /// The usual fill, stating its own size and no running total, of a working order (no
    /// `also_seen`), is sized here, inline: with no total there is nothing to place in what
    /// the order's reports covered (`Covered::place` places a total), no key to remember or
    /// find it by and no reconciliation covering it, so nothing
    /// [`Kernel::fill_size_checked`] reads makes it a resend or stale. Its checks of a size,
    /// a price and what the order has left are the same; a fill failing one, or one that
    /// may snap to what the order has left, is sized (or refused) by `fill_size_checked`,
    /// and so is every other fill. The answer is the same either way (a unit test checks).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn fill_size(
        &self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        also_seen: Option<&RecentRing>,
        covered: Option<&Covered>,
        seq: u64,
        client_fp: Option<u64>,
    ) -> Result<(f64, Option<u64>, Option<Placed>), KernelOutcome> {
        let qty = ev.size;
        if ev.filled_size <= 0.0
            && also_seen.is_none()
            && qty > QTY_EPS
            && ev.price > 0.0
            && order.filled_size + qty <= order.size * (1.0 + 1e-9) + QTY_EPS
        {
            // Booked as it is when it is just what the order has left or too far from it
            // to snap to it; a fill that may snap is left to the rest.
            let left = order.size - order.filled_size;
            let near = left - qty <= size_tolerance(order.size);
            if left == qty || !near {
                return Ok((qty, None, None));
            }
        }
        self.fill_size_checked(ev, sid, order, also_seen, covered, seq, client_fp)
    }

    /// [`Kernel::fill_size`] of any fill.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn fill_size_checked(
        &self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        also_seen: Option<&RecentRing>,
        covered: Option<&Covered>,
        seq: u64,
        client_fp: Option<u64>,
    ) -> Result<(f64, Option<u64>, Option<Placed>), KernelOutcome> {
        use KernelDiagnosticCode as D;
        // Whether the fill comes without an id of its own, looked at once.
        let no_fill_id = ev.fill_id.is_empty();
        // An order followed by its reports' intervals (`covered`) books what they do not cover
        // yet (`Covered`): resends, late fills and total-only reports in any order.
        let placed = covered.and_then(|c| c.place(ev).map(|p| (p, c.reach())));
        let qty = match &placed {
            Some((p, _)) => p.free,
            None if ev.size > 0.0 => ev.size,
            None => ev.filled_size - order.filled_size,
        };
        // A fill with no fill id is known by the venue's running total after it, when it gives
        // one: the same total again is the same fill resent under a new event id, while a
        // total below what is known is an earlier fill arriving late, and counts.
        // A fill with a fill id is remembered by its total and size as well
        // (`sized_total_key`), so that its resend without the id is known on an order no
        // longer followed by its reports' intervals; a followed order's intervals know it.
        let by_total = (ev.size > 0.0 && ev.filled_size > 0.0).then(|| {
            // The event's client id fingerprinted, when it is the order's.
            let same = ev.venue_client_id == order.client_order_id;
            match client_fp.filter(|_| same) {
                Some(fp) => {
                    debug_assert_eq!(fp, fingerprint(&order.client_order_id));
                    total_key_of(fp, ev.filled_size)
                }
                None => running_total_key(&order.client_order_id, ev.filled_size),
            }
        });
        let total_key = by_total.filter(|_| no_fill_id);
        let remembered = if no_fill_id {
            total_key
        } else {
            by_total.map(|k| sized_total_key(k, ev.size))
        };
        let seen = |k: u64| {
            self.slots[sid].seen_fills.contains(k) || also_seen.is_some_and(|r| r.contains(k))
        };
        // The other way round: a fill with an id stating the running total and size an id-less
        // report of the order stated is that fill resent with an id.
        let resent = total_key.is_some_and(seen)
            || (placed.is_none() && total_key.is_some_and(|k| seen(sized_total_key(k, ev.size))))
            || (placed.is_none()
                && !no_fill_id
                && by_total.is_some_and(|k| seen(id_less_key(k, ev.size))))
            || (!no_fill_id && also_seen.is_some_and(|r| r.contains(fingerprint(&ev.fill_id))));
        let stale = placed.is_none()
            && ev.filled_size > 0.0
            && ev.filled_size <= order.filled_size + QTY_EPS
            && ev.size <= 0.0;
        let refuse = |code, sev, d| self.event_refusal(ev, Some(sid), code, sev, d, seq);
        if let Some(upto) = self.covered_by_reconciliation(ev, order) {
            let mut d = detail_field("filled_size", ev.filled_size);
            d.push(("reconciled_filled_size", Detail::F64(upto)));
            d.push((
                "reason",
                Detail::Static("a reconciliation booked the venue's fills up to this total"),
            ));
            return Err(refuse(D::DuplicateEvent, KernelSeverity::Warning, d));
        }
        if stale || resent {
            let mut d = detail_field("filled_size", ev.filled_size);
            d.push(("order_filled_size", Detail::F64(order.filled_size)));
            return Err(refuse(D::DuplicateEvent, KernelSeverity::Info, d));
        }
        if let Some((_, reach)) = placed.as_ref().filter(|(p, _)| p.free <= QTY_EPS) {
            let mut d = detail_field("filled_size", ev.filled_size);
            d.push(("order_filled_size", Detail::F64(order.filled_size)));
            d.push(("reported_filled_size", Detail::F64(*reach)));
            d.push((
                "reason",
                Detail::Static("the venue's reports already count this fill"),
            ));
            return Err(refuse(D::DuplicateEvent, KernelSeverity::Warning, d));
        }
        if qty <= QTY_EPS {
            let mut d = detail_field("size", ev.size);
            d.push((
                "reason",
                Detail::Static("a fill needs a positive size or a larger cumulative filled_size"),
            ));
            return Err(refuse(D::InvalidIntent, KernelSeverity::Error, d));
        }
        if ev.price <= 0.0 {
            let mut d = detail_field("price", ev.price);
            d.push(("reason", Detail::Static("a fill needs a positive price")));
            return Err(refuse(D::InvalidIntent, KernelSeverity::Error, d));
        }
        if order.filled_size + qty > order.size * (1.0 + 1e-9) + QTY_EPS {
            let d = vec![
                ("order_size", Detail::F64(order.size)),
                ("filled_size", Detail::F64(order.filled_size)),
                ("fill_qty", Detail::F64(qty)),
                ("client_order_id", (&order.client_order_id).into()),
            ];
            return Err(refuse(D::Overfill, KernelSeverity::Critical, d));
        }
        // A fill completing the order within the tolerance above books what the order had
        // left: booked as reported, a hair over or under, the position would leave the lot
        // grid, and the next exit of the whole position would go out off the grid, which the
        // venue refuses (`whole_position`).
        // Only a difference under half the asset's lot: the tolerance is a whole lot of 1 for
        // an order of 1e9, and a venue that filled a lot less did not fill it.
        // A fill of just what is left is booked as it is: nothing to snap, no lot to look up.
        let left = order.size - order.filled_size;
        let snaps = left > QTY_EPS
            && left != qty
            && left - qty <= size_tolerance(order.size)
            && self.below_half_a_lot(&order.asset, left - qty);
        let qty = if snaps { left } else { qty };
        Ok((qty, remembered, placed.map(|(p, _)| p)))
    }

    /// Whether `ev`, a venue fill of `order` giving its running total, is one a
    /// reconciliation booked already: a fill whose metadata says `source:
    /// reconciliation` books every venue fill up to its `filled_size` at once, under its own
    /// id, so the venue's reports of those fills may still come, under theirs. The total
    /// such a fill covers, if `ev` is within it. A report without a running total cannot be
    /// told from a new fill.
    fn covered_by_reconciliation(&self, ev: &VenueEvent, order: &VenueOrder) -> Option<f64> {
        if self.ended.reconciled.is_empty() || ev.filled_size <= 0.0 {
            return None;
        }
        let upto = *self.ended.reconciled.get(&order.client_order_id)?;
        let within = ev.filled_size <= upto + size_tolerance(upto);
        (within && !is_reconciliation(ev)).then_some(upto)
    }

    /// What the venue's reports of slot `sid`'s working entry (or exit) account for, when it
    /// is followed (`fill_size` reads it under rules 5 on only).
    fn covered_of(&self, sid: usize, is_entry: bool) -> Option<&Covered> {
        self.covered.get(sid)?[usize::from(!is_entry)].as_ref()
    }

    /// Keeps an order that ended (see [`EndedOrders`]), with what its reports covered while
    /// it worked, so its late fills are followed as its working fills were.
    fn keep_order(&mut self, key: KeptKey, kept: Kept) {
        let covered = self
            .covered
            .get_mut(key.0)
            .and_then(|legs| legs[usize::from(!key.1)].take());
        self.ended.keep(key, kept);
        if let Some(c) = covered {
            self.ended.covered.insert(key, c);
        }
    }

    /// Slot `sid`'s new working entry (or exit) is followed from nothing covered (see
    /// [`Covered`]). The slot's last order's intervals are cleared in place, so a new order
    /// allocates nothing for its first fill report.
    fn follow_new_order(&mut self, sid: usize, is_entry: bool) {
        if self.covered.len() != self.slots.len() {
            // A kernel made from serde state alone (the checkpoint's tail sizes it).
            self.covered.resize(self.slots.len(), [None, None]);
        }
        let leg = &mut self.covered[sid][usize::from(!is_entry)];
        match leg {
            Some(c) => c.0.clear(),
            None => *leg = Some(Covered::default()),
        }
    }

    /// A reconciliation's end of an order kept after it ended: the venue's
    /// order status gives its filled size now, which becomes what late fills may reach. Below
    /// the end's figure (the end was wrong, or the fills it counted are booked), it ends the
    /// slot's wait for them.
    fn settle_awaited(&mut self, ev: &VenueEvent, key: KeptKey, seq: u64) -> KernelOutcome {
        let sid = key.0;
        let kept = self.ended.get_mut(key).expect("kept orders are indexed");
        let booked = kept.order.filled_size;
        let total = ev.filled_size.max(booked).min(kept.order.size);
        let before = kept.final_filled;
        kept.final_filled = Some(total);
        kept.stated_total = 0.0;
        kept.in_doubt = false;
        self.ended.note_owed(key);
        self.sync_free(sid);
        self.dirty.slot(sid);
        let mut out = self.slot_outcome(sid, seq);
        out.details.push(("venue_filled_size", Detail::F64(total)));
        if let Some(b) = before {
            out.details
                .push(("previous_final_filled_size", Detail::F64(b)));
        }
        out.details
            .push(("awaited_fill_qty", Detail::F64((total - booked).max(0.0))));
        out
    }

    /// The venue's own end (cancel ack, expiry, reject) of an order in doubt: what became of
    /// it is known. Its figure, when it gives one not below what is booked, bounds late fills
    /// as an end's does; without one, the slot waits for what its reports stated, as after any
    /// end without a figure. WARNING: the order was in doubt.
    fn end_in_doubt(&mut self, ev: &VenueEvent, key: KeptKey, seq: u64) -> KernelOutcome {
        let sid = key.0;
        let kept = self.ended.get_mut(key).expect("kept orders are indexed");
        kept.in_doubt = false;
        let booked = kept.order.filled_size;
        if ev.filled_size > 0.0 && ev.filled_size >= booked - size_tolerance(kept.order.size) {
            kept.final_filled = Some(ev.filled_size.min(kept.order.size));
            kept.stated_total = 0.0;
        }
        let coid = kept.order.client_order_id.clone();
        self.ended.note_owed(key);
        self.sync_free(sid);
        self.dirty.slot(sid);
        let mut out = self.slot_outcome(sid, seq);
        out.severity = KernelSeverity::Warning;
        out.details.push(("client_order_id", (&coid).into()));
        out.details
            .push(("venue_filled_size", Detail::F64(ev.filled_size)));
        out.details.push((
            "awaited_fill_qty",
            Detail::F64(self.ended.owed(sid, key.1).unwrap_or(0.0)),
        ));
        out.details.push(("reason", Detail::Static(IN_DOUBT_ENDED)));
        out
    }

    /// Offers slot `sid` as free only if its stage is free and it waits for no fill the
    /// venue said happened (`EndedOrders::awaited`): a strategy asking for a free slot must
    /// not get one whose next trade would forget the order that fill is for.
    fn sync_free(&mut self, sid: usize) {
        if fsm::is_free(self.slots[sid].fsm_state) {
            if self.ended.awaited(sid).is_some() {
                self.free.remove(sid);
            } else {
                self.free.insert(sid);
            }
        }
    }

    /// The refusal of a new order on a slot waiting for fills the venue said happened (see
    /// `EndedOrders::awaited`): entered or exited now, the slot would be sized on a position
    /// the venue does not hold, and a new trade would forget the order the fill is for.
    /// `is_entry`: whose wait refuses it (the entry's or the exit's, or either with `None`).
    #[cold]
    fn awaiting_refusal(
        &self,
        intent: &Intent,
        sid: usize,
        owed: f64,
        is_entry: Option<bool>,
        seq: u64,
    ) -> KernelOutcome {
        let mut d = vec![
            ("field", Detail::Static("slot_id")),
            ("value", Detail::I64(sid as i64)),
            ("slot_id", Detail::I64(sid as i64)),
            ("awaited_fill_qty", Detail::F64(owed)),
        ];
        match self.ended.in_doubt(sid, is_entry) {
            Some(o) if owed <= 0.0 => {
                d.push(("client_order_id", (&o.client_order_id).into()));
                d.push(("reason", Detail::Static(IN_DOUBT)));
            }
            _ => d.push((
                "reason",
                Detail::Static(
                    "the venue reported fills of the slot's last order that have not come; \
                     wait for them, or reconcile_with_venue",
                ),
            )),
        }
        self.refuse(
            intent,
            Some(sid),
            KernelDiagnosticCode::SlotBusy,
            KernelSeverity::Warning,
            d,
            seq,
        )
    }

    /// Whether an order that finished before carried venue id `v` (the venue reused it):
    /// an order kept with it then shares it, and it names none of them.
    fn venue_id_finished_before(&self, v: &Id) -> bool {
        !v.is_empty() && self.finished_orders.contains(&fingerprint(v))
    }

    /// Notes what a reconciliation fill of `order` covers (see `covered_by_reconciliation`).
    fn note_reconciliation(&mut self, ev: &VenueEvent, order: &VenueOrder) {
        if ev.filled_size > 0.0 && is_reconciliation(ev) {
            let upto = self
                .ended
                .reconciled
                .entry(order.client_order_id.clone())
                .or_insert(0.0);
            *upto = upto.max(ev.filled_size);
        }
    }

    /// What slot `sid` holds once `order`'s fill of `qty` is booked: its size plus an entry's
    /// fill, or what an exit's leaves ([`Kernel::after_exit_fill`]).
    #[inline]
    fn size_after_fill(&self, sid: usize, order: &VenueOrder, qty: f64) -> f64 {
        if order.is_entry {
            self.slots[sid].size + qty
        } else {
            self.after_exit_fill(sid, order, qty)
        }
    }

    /// Books `qty` of `order` at `ev.price` on slot `sid`: the position, its PnL and fees,
    /// the account, the fee waiting for settlement and the index of open slots. `size_after`:
    /// what the slot then holds ([`Kernel::size_after_fill`], which the caller judged the fill
    /// by). `partly`: what the report's interval left uncovered is less than its size
    /// (`Placed`): for a per-fill report, its fill was partly booked already by an earlier
    /// report. The caller counts the slot again once it has booked the fill on the order too
    /// (`recount_slot`): one count of both changes. `key_fp`: the fill's key
    /// ([`VenueEvent::fill_key`]) fingerprinted.
    #[allow(clippy::too_many_arguments)]
    fn book_fill(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        qty: f64,
        size_after: f64,
        partly: bool,
        key_fp: u64,
    ) -> Booked {
        let liquidity = match ev.metadata.get("liquidity") {
            Some(MetaValue::Str(s)) if s.eq_ignore_ascii_case("maker") => Liquidity::Maker,
            Some(MetaValue::Str(s)) if s.eq_ignore_ascii_case("taker") => Liquidity::Taker,
            _ if order.order_type == OrderType::Limit => Liquidity::Maker,
            _ => Liquidity::Taker,
        };
        let predicted = self.fees.predict(ev.price, qty, liquidity);
        // A report partly booked already (resent or overlapping an earlier one, `Covered`) is
        // charged its fee for the part booked: the earlier report charged the rest, and
        // charged whole, the account would pay the overlap twice.
        let (fee, prorated) = match ev.fee {
            None => (predicted, false),
            Some(f) if partly && !is_reconciliation(ev) => (f * qty / ev.size, true),
            Some(f) => (f, false),
        };
        self.note_reconciliation(ev, order);

        let slot = &mut self.slots[sid];
        let mut realized = 0.0;
        let mut unheld = 0.0;
        if order.is_entry {
            let total = size_after;
            slot.entry_price = (slot.entry_price * slot.size + ev.price * qty) / total;
            slot.size = total;
            // What the entry filled in all: a late fill may come after exits took some.
            slot.initial_size += qty;
        } else {
            // A fill beyond what the slot holds (an exit the venue does not cap, after a late
            // fill of an earlier exit took part of the position) realizes PnL on what it held:
            // the rest sold a position the trade never had.
            if qty - slot.size > size_tolerance(slot.size) {
                unheld = qty - slot.size;
            }
            realized = slot.side.sign() * (ev.price - slot.entry_price) * (qty - unheld);
            slot.realized_pnl += realized;
            slot.size = size_after;
            slot.leg_taken += qty;
            if slot.size <= QTY_EPS {
                slot.size = 0.0;
            }
        }
        slot.fees_paid += fee;
        // A position opening takes its asset's latest mark, so its PnL is not shown at the
        // fill's price until the next mark.
        if order.is_entry && slot.mark_price == 0.0 && !self.marks.is_empty() {
            slot.mark_price = mark_of(&self.marks, &slot.asset);
        }
        let mark = if slot.mark_price > 0.0 {
            slot.mark_price
        } else {
            ev.price
        };
        slot.unrealized_pnl = slot.side.sign() * (mark - slot.entry_price) * slot.size;
        let holds = slot.size > QTY_EPS;
        // The open set of the slot's asset knows the asset's print (nothing below reads the
        // open slots): the asset is hashed again only when it has no set.
        let print = self.update_open_index(sid, holds);
        self.account.k_realized_pnl += realized;
        self.account.k_fees_paid += fee;
        self.account.bump(ev.timestamp);
        self.dirty.account = true;
        self.counters.fills += 1;
        let fill_key = ev.fill_key();
        if ev.fee.is_none() {
            // The fill is known by its asset too, and a report partly booked by its size: its
            // fee is settled for the whole report.
            let asset = print.unwrap_or_else(|| asset_print(&self.slots[sid].asset));
            let whole = partly && !is_reconciliation(ev);
            let report_size = if whole { ev.size } else { 0.0 };
            self.remember_unsettled(
                fill_key.clone(),
                key_fp,
                Unsettled::one(UnsettledFill {
                    slot_id: sid,
                    trade_id: self.slots[sid].trade_id.clone(),
                    predicted_fee: fee,
                    price: ev.price,
                    qty,
                    liquidity_maker: liquidity == Liquidity::Maker,
                    asset,
                    report_size,
                    rate: PredictedRate::of(self.fees.rate(liquidity)),
                }),
            );
        } else {
            // Nothing waits for a settlement: one sent for it is answered as such, not held
            // for a fill that will not come.
            let asset = asset_print(&self.slots[sid].asset);
            self.early_settlements
                .settled_both_ways(fill_key, asset, true);
        }
        // A settlement that came before the fill settles it now, as it would have coming after;
        // the fill's journal row says what it charged (its own row, held, charged nothing), so
        // the rows still add up to K.
        let mut settled = Details::new();
        let mut fee = fee;
        if !self.early_settlements.held.is_empty() {
            let predicted = ev.fee.is_none();
            // The fee of the whole report, as its settlement states it.
            let whole = match ev.fee {
                Some(f) => f,
                None if partly && qty > 0.0 => fee * ev.size / qty,
                None => fee,
            };
            let asset = self.slots[sid].asset.clone();
            let early = self.settle_early(fill_key, &asset, predicted, whole, &mut settled);
            if let Some(charged) = early {
                fee = charged;
            }
        }
        Booked {
            fee,
            prorated,
            realized,
            liquidity,
            unheld,
            settled,
        }
    }

    /// What follows a fill booked on slot `sid`: the slot's commitment (the position at its
    /// entry price, plus an entry's `working`, what is still working, at [`working_price`]) and
    /// the fill's running-total keys remembered.
    #[inline(always)]
    fn after_fill(&mut self, sid: usize, order: &VenueOrder, working: f64, keys: [Option<u64>; 2]) {
        let slot = &self.slots[sid];
        let committed = if order.is_entry {
            // Only what still works needs the mark (none after a whole fill, the usual case).
            let at = if working > 0.0 {
                working_price(order, entry_mark(&self.entry_marks, sid))
            } else {
                0.0
            };
            held_notional(slot) + working * at
        } else {
            held_notional(slot)
        };
        self.set_committed(sid, committed);
        // One by one: a loop over the two took a counter and a bound.
        let [total, also] = keys;
        if let Some(k) = total {
            self.slots[sid].seen_fills.insert(k);
        }
        if let Some(k) = also {
            self.slots[sid].seen_fills.insert(k);
        }
    }

    /// The journal's row for a fill of `order` booked as `b`, when the journal is kept.
    #[inline(always)]
    fn record_fill_row(
        &mut self,
        seq: u64,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        qty: f64,
        b: &Booked,
    ) {
        if self.outbox.enabled {
            self.write_fill_row(seq, ev, sid, order, qty, b);
        }
    }

    #[inline(never)]
    fn write_fill_row(
        &mut self,
        seq: u64,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        qty: f64,
        b: &Booked,
    ) {
        let slot = &self.slots[sid];
        let row = FillRow {
            ts: ev.timestamp,
            trade_id: &slot.trade_id,
            slot_id: sid,
            event_id: &ev.event_id,
            fill_id: ev.fill_key(),
            client_order_id: &order.client_order_id,
            venue_order_id: if ev.venue_order_id.is_empty() {
                &order.venue_order_id
            } else {
                &ev.venue_order_id
            },
            asset: &slot.asset,
            side: order.side,
            is_entry: order.is_entry,
            price: ev.price,
            qty,
            fee: b.fee,
            liquidity: b.liquidity.name(),
            realized_pnl: b.realized,
        };
        self.outbox.record_fill(seq, &row);
    }

    /// A fill of slot `sid`'s working order: its answer in `out`, else the refusal.
    fn apply_fill(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        seq: u64,
        client: Option<ClientNamed>,
        key_fp: u64,
        out: &mut KernelOutcome,
    ) -> Answered {
        let order = OrderCopy::of(
            self.slots[sid]
                .active_order()
                .expect("indexed orders are active"),
        );
        let covered = self.covered_of(sid, order.is_entry);
        let client_fp = client.map(|c| c.fp);
        let (qty, total_key, placed) =
            self.fill_size(ev, sid, &order, None, covered, seq, client_fp)?;
        let new_filled = order.filled_size + qty;
        let complete = order.size - new_filled <= size_tolerance(order.size);
        let trigger = if complete {
            Trigger::Fill
        } else {
            Trigger::PartialFill
        };
        let size_after = self.size_after_fill(sid, &order, qty);
        let holds = size_after > QTY_EPS;
        let slot = &self.slots[sid];
        let legal = next_stage(
            slot.fsm_state,
            trigger,
            Ctx {
                holds_position: holds,
            },
        )
        .is_some();
        if !legal {
            return Err(self.stage_refusal(ev, sid, seq));
        }
        // A fill naming a venue id its order does not carry yet teaches the kernel that id
        // (below), unless a working order carries it. Looked at once: nothing between changes
        // the order's venue id.
        let learns_venue_id = !ev.venue_order_id.is_empty() && order.venue_order_id.is_empty();
        if learns_venue_id {
            if let Some(refused) = self.venue_id_taken(ev, sid, seq) {
                return Err(refused);
            }
        }
        let partly = placed.as_ref().is_some_and(|p| p.free < ev.size);
        let was = engaged(&self.slots[sid]);
        let mut booked = self.book_fill(ev, sid, &order, qty, size_after, partly, key_fp);
        if let Some(legs) = self.covered.get_mut(sid) {
            let leg = &mut legs[usize::from(!order.is_entry)];
            if leg.as_mut().is_some_and(|c| !c.booked(placed)) {
                *leg = None;
            }
        }
        {
            let slot = &mut self.slots[sid];
            let o = slot.active_order_mut().expect("active");
            o.avg_fill_price = (o.avg_fill_price * o.filled_size + ev.price * qty) / new_filled;
            o.filled_size = new_filled;
            o.status = if complete {
                VenueOrderStatus::Filled
            } else {
                VenueOrderStatus::PartiallyFilled
            };
            if learns_venue_id {
                debug_assert!(o.venue_order_id.is_empty());
                // A fill before the ack is how the kernel learns the venue's id: later events
                // may name the order by it alone.
                o.venue_order_id = ev.venue_order_id.clone();
                self.by_venue_id.insert(ev.venue_order_id.clone(), sid);
            }
        }
        if !complete {
            // A fill completing the order counts the slot once, when the order is off it
            // (`order_filled`): the counts are sums, so counting in one step ends the same.
            self.recount_slot(sid, was);
        }
        debug_assert_eq!(holds, self.slots[sid].size > QTY_EPS);
        let working = if complete {
            0.0
        } else {
            order.size - new_filled
        };
        let also = also_remembered(ev, total_key);
        self.after_fill(sid, &order, working, [total_key, also]);
        let slot = &self.slots[sid];
        out.reset_ok(sid as i64, slot.trade_id.clone(), slot.fsm_state, seq);
        if booked.prorated {
            booked.charged_part(&mut out.details, qty, ev);
        }
        if !booked.settled.is_empty() {
            out.details.append(&mut booked.settled);
        }
        if let Some(ahead) = total_ahead(ev, order.size, new_filled, &mut out.details) {
            out.severity = ahead;
        }
        if booked.unheld > 0.0 {
            booked.beyond_position(out);
        }
        let moved = self.transition(
            out,
            sid,
            trigger,
            Ctx {
                holds_position: holds,
            },
            ev.timestamp,
            &id(""),
            &ev.event_id,
            fill_details(qty, ev.price, new_filled, order.size),
        );
        debug_assert!(
            moved || !legal,
            "checked above with the same stage, trigger and context"
        );
        if booked.prorated {
            fee_charged(out.transitions.last_mut(), booked.fee);
        }
        if complete {
            // The event's client id fingerprinted, when it is the order's.
            let client = client.filter(|_| ev.venue_client_id == order.client_order_id);
            let (stated, uncounted) = (ev.filled_size, Some(was));
            self.order_filled(sid, &order, stated, new_filled, client, uncounted);
        } else if ev.remaining_size == 0.0
            && ev.filled_size > 0.0
            && Self::ends_short(ev, &order, new_filled)
        {
            // The venue says the order is over short of its size: it ends. An ordinary
            // partial fill states a remainder, or no running total.
            self.end_short(ev, sid, out);
        }
        self.record_fill_row(seq, ev, sid, &order, qty, &booked);
        Ok(())
    }

    /// Slot `sid`'s working `order` is filled, at `new_filled` (a fill completed it, or a late
    /// ack cut it to what filled), the report saying so stating the running
    /// total `stated` (0: none): it is finished and its slot counted again; an exit's leg is
    /// done, and the trade closed when nothing is left. The caller made its transition, and
    /// counted the slot after the fill unless it gives `uncounted`: whether the slot was
    /// [`engaged`] before the fill, which it is then counted from.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn order_filled(
        &mut self,
        sid: usize,
        order: &VenueOrder,
        stated: f64,
        new_filled: f64,
        client: Option<ClientNamed>,
        uncounted: Option<bool>,
    ) {
        // The client id fingerprinted once (or by the caller: `client`), for its keys here
        // and its memory as finished.
        let client_fp = match client {
            Some(c) => c.fp,
            None => fingerprint(&order.client_order_id),
        };
        // Known as filled at its size, for a status report stating it later, and at the total
        // this fill stated when that differs (a venue summing its fills states 0.1 + 0.2 for
        // an order of 0.3, and reports that figure again).
        let k = completed_key_of(client_fp, order.size);
        self.slots[sid].seen_fills.insert(k);
        let near = (stated - order.size).abs() <= size_tolerance(order.size);
        if stated > 0.0 && stated != order.size && near {
            let stated = completed_key_of(client_fp, stated);
            self.slots[sid].seen_fills.insert(stated);
        }
        let reconciled = !self.ended.reconciled.is_empty()
            && self.ended.reconciled.contains_key(&order.client_order_id);
        // Its venue id, when kept orders (or this one, kept) may share it.
        let venue_id = (reconciled || !self.ended.by_venue_id.is_empty()).then(|| {
            let o = self.slots[sid]
                .active_order()
                .expect("the filled order is the slot's");
            o.venue_order_id.clone()
        });
        // A reconciliation booked part of it: the venue's own reports of those fills may
        // still come, and are known as such (`covered_by_reconciliation`) while the order
        // is kept, full (any other fill of it is an overfill).
        let done = reconciled.then(|| {
            let mut o = self.slots[sid]
                .active_order()
                .expect("the filled order is the slot's")
                .clone();
            o.status = VenueOrderStatus::Filled;
            Kept {
                order: o,
                final_filled: Some(new_filled),
                stated_total: 0.0,
                in_doubt: false,
                fills: self.slots[sid].seen_fills.clone(),
                leg: self.slots[sid].active_leg_index,
                counted: (0, 0),
            }
        });
        let shared = venue_id
            .as_ref()
            .is_some_and(|v| reconciled && self.venue_id_finished_before(v));
        let place = client.and_then(|c| c.place);
        self.finish_order_fp(sid, &order.client_order_id, client_fp, place);
        if let Some(v) = &venue_id {
            match done {
                Some(kept) => {
                    self.keep_order((sid, order.is_entry, true), kept);
                    if shared {
                        self.ended.finished_elsewhere(v);
                    }
                }
                None => self.ended.finished_elsewhere(v),
            }
        }
        // Counted by the caller with what it had left (`recount_slot`), clearing the order
        // changes the counts only for a remainder within the size's tolerance, or for an
        // entry leaving its slot holding nothing (no longer engaged).
        let slot = &mut self.slots[sid];
        let working = if order.is_entry {
            &mut slot.active_entry_order
        } else {
            &mut slot.active_exit_order
        };
        // Dropped where it is (not moved out first).
        let left = working.as_ref().is_some_and(|o| o.remaining() > 0.0);
        *working = None;
        let was = engaged(slot) || order.is_entry;
        if !order.is_entry {
            advance_leg(slot);
            close_if_closed(slot);
        }
        match uncounted {
            // The caller did not count the slot after booking the fill: counted once, from
            // before it (its order gone and its size moved, its units changed: `count_slot`).
            Some(before) => self.count_slot(sid, before),
            None if left || was != engaged(&self.slots[sid]) => self.recount_slot(sid, was),
            None => {}
        }
        if !self.ended.by_key.is_empty() {
            // A trade closed while a fill of its entry is owed is not free yet.
            self.sync_free(sid);
        }
    }

    /// Whether fill `ev` of `order`, booked to `new_filled` short of the order's size, is the
    /// venue saying the order is over (the caller checked that it states a running total and
    /// nothing remaining): its status says FILLED, and its running total is
    /// what is booked with it, so no fill of the order is missing or resent. A fill without a
    /// status says FILLED (the kind's own): a venue that builds its partial fills so, with a
    /// running total, must state PARTIALLY_FILLED or what remains.
    #[cold]
    #[inline(never)]
    fn ends_short(ev: &VenueEvent, order: &VenueOrder, new_filled: f64) -> bool {
        ev.status == VenueOrderStatus::Filled
            && (ev.filled_size - new_filled).abs() <= size_tolerance(order.size)
    }

    /// Ends slot `sid`'s working order, booked by fill `ev` short of its size, which the venue
    /// says is over (`ends_short`): as an expiry without a figure ends it (a cancel ack, when a
    /// cancel was asked), into `out` after the fill, WARNING with `ended_short`. Kept without a
    /// figure, so a fill of it after all (the venue said over too soon) is booked as a late
    /// fill; nothing is owed, its reports having stated what is booked.
    #[cold]
    #[inline(never)]
    fn end_short(&mut self, ev: &VenueEvent, sid: usize, out: &mut KernelOutcome) {
        let order = self.slots[sid]
            .active_order()
            .expect("the filled order is the slot's");
        let (size, filled) = (order.size, order.filled_size);
        let kind = if order.cancel_requested {
            KernelEventKind::CancelAck
        } else {
            KernelEventKind::Expired
        };
        let end = End {
            kind,
            figure: 0.0,
            reason: ENDED_SHORT,
        };
        let ended = self.end_order(ev, sid, end, out);
        debug_assert!(ended, "a working stage takes an expiry and a cancel ack");
        out.severity = out.severity.max(KernelSeverity::Warning);
        out.details.push(("ended_short", Detail::Bool(true)));
        out.details.push(("order_size", Detail::F64(size)));
        out.details.push(("filled_size", Detail::F64(filled)));
        if !out.details.iter().any(|(name, _)| *name == "reason") {
            out.details.push(("reason", Detail::Static(ENDED_SHORT)));
        }
    }

    /// The OVERFILL refusal of a fill of kept `order`, with `details` and why.
    fn kept_overfill(
        &self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        mut details: Details,
        reason: &'static str,
        seq: u64,
    ) -> KernelOutcome {
        details.push(("client_order_id", (&order.client_order_id).into()));
        details.push(("reason", Detail::Static(reason)));
        let (code, sev) = (KernelDiagnosticCode::Overfill, KernelSeverity::Critical);
        self.event_refusal(ev, Some(sid), code, sev, details, seq)
    }

    /// A fill for an order kept after it ended (see `EndedOrders`): the venue filled it
    /// before the end it reported, or reported the end first. Applied while the slot still
    /// holds the order's trade and the position can take it: an entry's fill opens the
    /// position again (from IDLE) or adds to it; an exit's takes from a position no other
    /// exit is working on, and may close the trade. No further than the venue said had
    /// filled when the order ended, when it said. Otherwise refused, for reconciliation.
    /// Whether venue id `vid` is a working order's, or a kept order's other than `key`.
    fn venue_id_claimed_besides(&self, vid: &Id, key: KeptKey) -> bool {
        self.by_venue_id.contains_key(vid) || self.ended.venue_id_claimed(vid, Some(key))
    }

    /// Kept order `key` learns its venue id `vid`, from a late fill or a late ack: later events may name the order by it alone, and it is known once forgotten,
    /// unless an order that finished before carried it too.
    fn learn_kept_venue_id(&mut self, key: KeptKey, vid: &Id) {
        if let Some(kept) = self.ended.get_mut(key) {
            kept.order.venue_order_id = vid.clone();
        }
        let reused = self.venue_id_finished_before(vid);
        self.ended.claim_venue_id(key, vid);
        self.finished_orders.insert(fingerprint(vid));
        if reused {
            self.ended.finished_elsewhere(vid);
        }
    }

    /// The venue's ack of an order kept after it ended (its cancel throttled before the ack,
    /// or its end come first): it teaches the order its venue id when it has none, as a late
    /// fill does, so that fills naming the order by that id alone are booked. Otherwise a
    /// late event, refused.
    fn apply_late_ack(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        key: KeptKey,
        seq: u64,
    ) -> KernelOutcome {
        // The kept order's client id, when it learns the ack's venue id.
        let learner = self
            .ended
            .get(key)
            .filter(|k| {
                !ev.venue_order_id.is_empty()
                    && k.order.venue_order_id.is_empty()
                    && !self.venue_id_claimed_besides(&ev.venue_order_id, key)
            })
            .map(|k| k.order.client_order_id.clone());
        let Some(client_order_id) = learner else {
            return self.ended_order_refusal(ev, Some(sid), seq, FILL_AFTER_END);
        };
        self.learn_kept_venue_id(key, &ev.venue_order_id);
        let mut out = self.late_ack_taken(ev, sid, &client_order_id, seq);
        out.details.push(("reason", Detail::Static(LATE_ACK)));
        out
    }

    fn apply_late_fill(&mut self, ev: &VenueEvent, key: KeptKey, seq: u64) -> KernelOutcome {
        use KernelDiagnosticCode as D;
        let sid = key.0;
        let kept = self.ended.get(key).expect("kept orders are indexed");
        let order = kept.order.clone();
        let covered = self.ended.covered.get(&key);
        let fills = Some(&kept.fills);
        let (qty, total_key, placed) =
            match self.fill_size(ev, sid, &order, fills, covered, seq, None) {
                Ok(sized) => sized,
                Err(refused) => return refused,
            };
        if key.2 {
            // Kept only for reports of fills a reconciliation booked; anything else is more
            // than the order's size, however small.
            let mut d = detail_field("fill_qty", qty);
            d.push(("filled_size", Detail::F64(order.filled_size)));
            d.push(("order_size", Detail::F64(order.size)));
            return self.kept_overfill(ev, sid, &order, d, "the order filled completely", seq);
        }
        let new_filled = order.filled_size + qty;
        if let Some(total) = kept.final_filled {
            let tol = size_tolerance(total);
            if ev.filled_size > total + tol && !is_reconciliation(ev) {
                // The fill's own running total contradicts the end: it must not fill the gap
                // the end left for the fills it counted (they would then read as resends).
                let mut d = detail_field("filled_size", ev.filled_size);
                d.push(("venue_final_filled_size", Detail::F64(total)));
                let why = "the fill's running total is beyond what the venue said had filled \
                           when the order ended; reconcile with the venue";
                return self.kept_overfill(ev, sid, &order, d, why, seq);
            }
            if new_filled > total + tol {
                // The venue said how much had filled when the order ended. When all of that
                // is booked and the fill's own running total says no more, it is one booked
                // already (a resend under a new id, or a fill a reconciliation booked); else
                // the venue contradicts its end.
                let booked_all = order.filled_size >= total - tol && ev.filled_size <= total + tol;
                let mut d = detail_field("fill_qty", qty);
                d.push(("filled_size", Detail::F64(order.filled_size)));
                d.push(("venue_final_filled_size", Detail::F64(total)));
                d.push(("client_order_id", (&order.client_order_id).into()));
                let (code, sev, reason) = if booked_all {
                    (
                        D::DuplicateEvent,
                        KernelSeverity::Warning,
                        "the venue's final filled size for the ended order is booked already",
                    )
                } else {
                    (
                        D::Overfill,
                        KernelSeverity::Critical,
                        "beyond the filled size the venue reported when the order ended",
                    )
                };
                d.push(("reason", Detail::Static(reason)));
                return self.event_refusal(ev, Some(sid), code, sev, d, seq);
            }
        }
        let size_after = self.size_after_fill(sid, &order, qty);
        let holds = size_after > QTY_EPS;
        let slot = &self.slots[sid];
        let ctx = Ctx {
            holds_position: holds,
        };
        let why_not = if slot.trade_id != order.trade_id {
            Some("fill for an order that ended; the slot has taken another trade since; reconcile with the venue")
        } else if !order.is_entry && qty > slot.size + size_tolerance(slot.size) {
            Some("exit fill for an order that ended, larger than the position; reconcile with the venue")
        } else if next_stage(slot.fsm_state, Trigger::LateFill, ctx).is_none() {
            Some("fill for an order that ended, in a stage that cannot take it; reconcile with the venue")
        } else {
            None
        };
        // An exit's late fill while another exit of the trade works (sent after the first's
        // cancel was acknowledged) is booked too: the venue sold. The second exit is left as
        // it went out: the venue caps a reduce-only order at the position, and what it fills
        // beyond is the venue's to say.
        if let Some(reason) = why_not {
            return self.ended_order_refusal(ev, Some(sid), seq, reason);
        }
        let learns_venue_id = !ev.venue_order_id.is_empty() && order.venue_order_id.is_empty();
        if learns_venue_id && self.venue_id_claimed_besides(&ev.venue_order_id, key) {
            let mut d = detail_field("venue_order_id", &ev.venue_order_id);
            d.push((
                "reason",
                Detail::Static("the venue order id is another order's"),
            ));
            return self.event_refusal(
                ev,
                Some(sid),
                D::UnknownOrder,
                KernelSeverity::Critical,
                d,
                seq,
            );
        }
        if order.is_entry && slot.size <= QTY_EPS {
            // The entry ended unfilled and left the slot FLAT; this fill opens its side again.
            self.slots[sid].side = match order.side {
                OrderSide::Sell => TradeSide::Short,
                OrderSide::Buy => TradeSide::Long,
            };
        }
        let partly = placed.as_ref().is_some_and(|p| p.free < ev.size);
        let was = engaged(&self.slots[sid]);
        let key_fp = fingerprint(ev.fill_key());
        let mut booked = self.book_fill(ev, sid, &order, qty, size_after, partly, key_fp);
        self.recount_slot(sid, was);
        let complete = order.size - new_filled <= size_tolerance(order.size);
        // An order in doubt the venue says is over short of its size, as a working order's
        // fill is read (`ends_short`), works at the venue no more either.
        let over = complete
            || (ev.remaining_size == 0.0
                && ev.filled_size > 0.0
                && Self::ends_short(ev, &order, new_filled));
        let leg_done = {
            let kept = self.ended.get_mut(key).expect("kept orders are indexed");
            let o = &mut kept.order;
            o.avg_fill_price = (o.avg_fill_price * o.filled_size + ev.price * qty) / new_filled;
            o.filled_size = new_filled;
            if !ev.fill_id.is_empty() {
                kept.fills.insert(fingerprint(&ev.fill_id));
            }
            for k in [total_key, also_remembered(ev, total_key)]
                .into_iter()
                .flatten()
            {
                kept.fills.insert(k);
            }
            // Filled completely (or said over), the order works at the venue no more.
            kept.in_doubt &= !over;
            // An order that ended without a figure waits for what its reports stated, this
            // one's running total too (`Kept::stated_total`).
            if let Some(p) = placed.as_ref().filter(|_| kept.final_filled.is_none()) {
                kept.stated_total = kept.stated_total.max(p.to.min(order.size));
            }
            !order.is_entry && complete && kept.leg == self.slots[sid].active_leg_index
        };
        self.ended.note_owed(key);
        if let Entry::Occupied(mut c) = self.ended.covered.entry(key) {
            if !c.get_mut().booked(placed) {
                c.remove();
            }
        }
        if learns_venue_id {
            self.learn_kept_venue_id(key, &ev.venue_order_id);
        }
        if leg_done {
            // The leg the order was for is done, as if its last fill had come before the end.
            advance_leg(&mut self.slots[sid]);
        }
        let also = also_remembered(ev, total_key);
        self.after_fill(sid, &order, 0.0, [total_key, also]);
        let mut out = self.slot_outcome(sid, seq);
        out.details.append(&mut booked.settled);
        // Applied, and said: the position changed after its order was reported over.
        out.severity = KernelSeverity::Warning;
        out.details.push(("late_fill", Detail::Bool(true)));
        out.details
            .push(("client_order_id", (&order.client_order_id).into()));
        let moved = self.transition(
            &mut out,
            sid,
            Trigger::LateFill,
            ctx,
            ev.timestamp,
            &id(""),
            &ev.event_id,
            fill_details(qty, ev.price, new_filled, order.size),
        );
        debug_assert!(
            moved,
            "checked above with the same stage, trigger and context"
        );
        let slot = &mut self.slots[sid];
        if slot.closed && slot.fsm_state != TradeStage::Closed {
            // An entry's fill reopened a trade an exit had closed meanwhile.
            slot.closed = false;
            slot.close_reason.clear();
        }
        close_if_closed(slot);
        self.sync_free(sid);
        if booked.prorated {
            booked.charged_part(&mut out.details, qty, ev);
            fee_charged(out.transitions.last_mut(), booked.fee);
        }
        // As for a working order's fill (a late fill is a WARNING already).
        if let Some(KernelSeverity::Critical) =
            total_ahead(ev, order.size, new_filled, &mut out.details)
        {
            out.severity = KernelSeverity::Critical;
        }
        self.record_fill_row(seq, ev, sid, &order, qty, &booked);
        out
    }

    /// The venue refused a cancel: the order keeps working in the stage it was in.
    fn apply_cancel_reject(&mut self, ev: &VenueEvent, sid: usize, seq: u64) -> KernelOutcome {
        let ctx = Ctx {
            holds_position: self.slots[sid].size > QTY_EPS,
        };
        let mut out = self.slot_outcome(sid, seq);
        let d = TransitionDetails::Reason(Detail::Str(ev.reason.clone()));
        if !self.transition(
            &mut out,
            sid,
            Trigger::CancelReject,
            ctx,
            ev.timestamp,
            &id(""),
            &ev.event_id,
            d,
        ) {
            return self.stage_refusal(ev, sid, seq);
        }
        self.slots[sid]
            .active_order_mut()
            .expect("indexed orders are active")
            .cancel_requested = false;
        out
    }

    /// Whether the venue has taken slot `sid`'s working order (acknowledged or filled part).
    fn venue_holds(&self, sid: usize) -> bool {
        self.slots[sid].active_order().is_some_and(|o| {
            o.filled_size > QTY_EPS
                || matches!(
                    o.status,
                    VenueOrderStatus::Acknowledged | VenueOrderStatus::PartiallyFilled
                )
        })
    }

    /// A rate limit on an order the venue holds (rules 4 on). With a cancel asked for, the
    /// cancel was throttled: the order keeps working as after a refused cancel, and the
    /// outcome says `RATE_LIMITED` with `retry_after` so the caller can ask again later.
    /// With none asked for, no request of the kernel's was throttled: the event changes
    /// nothing and is refused (`INVALID_TRANSITION`), so an intent whose answer carried it
    /// still stands.
    fn throttled_cancel(&mut self, ev: &VenueEvent, sid: usize, seq: u64) -> KernelOutcome {
        let order = self.slots[sid]
            .active_order()
            .expect("indexed orders are active");
        let client_order_id = order.client_order_id.clone();
        if !order.cancel_requested {
            let d = vec![
                ("kind", Detail::Static(ev.kind.name())),
                ("event_id", (&ev.event_id).into()),
                ("client_order_id", (&client_order_id).into()),
                (
                    "fsm_state",
                    Detail::Static(self.slots[sid].fsm_state.name()),
                ),
                ("reason", Detail::Static(UNASKED_THROTTLE)),
            ];
            return self.event_refusal(
                ev,
                Some(sid),
                KernelDiagnosticCode::InvalidTransition,
                KernelSeverity::Warning,
                d,
                seq,
            );
        }
        let mut out = self.apply_cancel_reject(ev, sid, seq);
        if out.accepted {
            rate_limited(&mut out, ev, &client_order_id);
            out.details
                .push(("order_kept", Detail::Static(THROTTLED_CANCEL)));
        }
        out
    }

    // Not inlined: the ends of orders are rare beside acks and fills, whose path it would widen.
    #[inline(never)]
    fn apply_order_end(&mut self, ev: &VenueEvent, sid: usize, seq: u64) -> KernelOutcome {
        let mut out = self.slot_outcome(sid, seq);
        let end = End {
            kind: ev.kind,
            figure: ev.filled_size,
            reason: &ev.reason,
        };
        if !self.end_order(ev, sid, end, &mut out) {
            return self.stage_refusal(ev, sid, seq);
        }
        out
    }

    /// Ends slot `sid`'s working order as `end` says (the venue's end `ev`, or rules 34 on, a
    /// fill `ev` saying the order is over short of its size), into `out`: its transition, the
    /// order kept for late fills when it was at the venue, and what the slot commits. False,
    /// with nothing changed, when the slot's stage takes no such end.
    fn end_order(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        end: End,
        out: &mut KernelOutcome,
    ) -> bool {
        use KernelEventKind as K;
        let trigger = match end.kind {
            K::CancelAck => Trigger::CancelAck,
            K::Reject => Trigger::Reject,
            K::Expired => Trigger::Expired,
            _ => Trigger::RateLimited,
        };
        let order = self.slots[sid]
            .active_order()
            .expect("indexed orders are active")
            .clone();
        // An exit ending with nothing held (a late fill of an exit canceled before it took what
        // was left) closes the trade: POSITION_OPEN at 0 would take no exit and no new trade.
        let holds = self.slots[sid].size > QTY_EPS;
        let d = TransitionDetails::Ended {
            filled_size: order.filled_size,
            order_size: order.size,
            reason: end.reason.to_owned(),
        };
        if !self.transition(
            out,
            sid,
            trigger,
            Ctx {
                holds_position: holds,
            },
            ev.timestamp,
            &id(""),
            &ev.event_id,
            d,
        ) {
            return false;
        }
        close_if_closed(&mut self.slots[sid]);
        // Whether another order finished with the venue id this one will be kept with.
        let kept_venue_id = if order.venue_order_id.is_empty() {
            &ev.venue_order_id
        } else {
            &order.venue_order_id
        };
        let reused = self.venue_id_finished_before(kept_venue_id);
        self.finish_order(sid, &order.client_order_id);
        // An order that was at the venue is kept: a fill may still come for it (see
        // `apply_late_fill`). One rejected unfilled never traded, nor one rate limited with no
        // cancel asked (its submit was throttled). A rate limit on an order asked to cancel
        // before the venue acknowledged it may be the cancel's, the order working at the
        // venue: it is kept too, so its fills are not lost.
        let maybe_working = end.kind == K::RateLimited && order.cancel_requested;
        let reached_venue = match end.kind {
            K::CancelAck | K::Expired => true,
            K::Reject => order.filled_size > 0.0 || end.figure > 0.0,
            _ => maybe_working,
        };
        let kept = reached_venue;
        let mut stated = 0.0;
        if kept {
            let mut ended = order.clone();
            ended.status = match end.kind {
                K::CancelAck => VenueOrderStatus::Canceled,
                K::Expired => VenueOrderStatus::Expired,
                _ => VenueOrderStatus::Rejected,
            };
            let key = (sid, order.is_entry, false);
            let learned = ended.venue_order_id.is_empty()
                && !ev.venue_order_id.is_empty()
                && !self.by_venue_id.contains_key(&ev.venue_order_id)
                && !self.ended.venue_id_claimed(&ev.venue_order_id, Some(key));
            if learned {
                ended.venue_order_id = ev.venue_order_id.clone();
                self.finished_orders.insert(fingerprint(&ev.venue_order_id));
            }
            let learned_or_own = learned || !order.venue_order_id.is_empty();
            // The venue's filled size at the end bounds late fills, unless it says less than
            // the kernel booked from the venue's own fills: then it is no bound, and said.
            let tol = size_tolerance(order.size);
            let short = end.figure > 0.0 && end.figure < order.filled_size - tol;
            // Less than the kernel booked is no bound, and said here; more than the kernel was
            // told of (above the order's size too) is said below, once.
            if short {
                out.severity = KernelSeverity::Warning;
                out.details
                    .push(("venue_filled_size", Detail::F64(end.figure)));
                out.details.push((
                    "reason",
                    Detail::Static(
                        "the venue reports less filled than the kernel booked from its fills",
                    ),
                ));
            }
            // Without a figure, the slot waits for what the order's reports stated had filled
            // (`Kept::stated_total`), said below.
            let final_filled = (end.figure > 0.0 && !short).then_some(end.figure.min(order.size));
            if final_filled.is_none() && !short {
                stated = self
                    .covered_of(sid, order.is_entry)
                    .map_or(0.0, |c| c.reach().min(order.size));
            }
            self.keep_order(
                key,
                Kept {
                    order: ended,
                    final_filled,
                    stated_total: stated,
                    in_doubt: maybe_working,
                    fills: self.slots[sid].seen_fills.clone(),
                    leg: self.slots[sid].active_leg_index,
                    counted: (0, 0),
                },
            );
            if reused && learned_or_own {
                self.ended.finished_elsewhere(kept_venue_id);
            }
            self.sync_free(sid);
        } else {
            self.ended.finished_elsewhere(&order.venue_order_id);
            if !self.ended.reconciled.is_empty() {
                self.ended.reconciled.remove(&order.client_order_id);
            }
        }
        if order.is_entry {
            // Counted off on the side it was counted on, before a slot left holding nothing
            // turns FLAT.
            self.set_working(sid, true, None);
            let slot = &mut self.slots[sid];
            if !holds {
                slot.side = TradeSide::Flat;
            }
            let n = held_notional(slot);
            self.set_committed(sid, n);
        } else {
            self.set_working(sid, false, None);
        }
        if end.figure > order.filled_size + size_tolerance(order.size) {
            // The order ended at the venue with more filled than the kernel was told of: the
            // position is off until the missing fill comes, which is applied when it comes
            // (`apply_late_fill`). What is owed is at most what the order had left.
            let over = end.figure > order.size + size_tolerance(order.size);
            let (severity, reason) = if kept && over {
                (
                    KernelSeverity::Warning,
                    "the venue reports more filled than the order's size; what the order had left is applied when its fill comes, and the slot takes no new order until then",
                )
            } else if kept {
                (
                    KernelSeverity::Warning,
                    "the venue filled more than the kernel was told; the missing fill is applied when it comes, and the slot takes no new order until then",
                )
            } else {
                (
                    KernelSeverity::Critical,
                    "the venue filled more than the kernel was told; reconcile with the venue",
                )
            };
            out.severity = severity;
            out.details
                .push(("venue_filled_size", Detail::F64(end.figure)));
            out.details.push((
                "unreported_qty",
                Detail::F64(end.figure.min(order.size) - order.filled_size),
            ));
            out.details.push(("reason", Detail::Static(reason)));
        } else if stated > order.filled_size + size_tolerance(order.size) {
            out.severity = KernelSeverity::Warning;
            out.details
                .push(("reported_filled_size", Detail::F64(stated)));
            out.details
                .push(("unreported_qty", Detail::F64(stated - order.filled_size)));
            out.details
                .push(("reason", Detail::Static(STATED_NOT_BOOKED)));
        }
        if end.kind == K::RateLimited {
            rate_limited(out, ev, &order.client_order_id);
            if maybe_working {
                out.details
                    .push(("order_kept", Detail::Static(THROTTLED_BEFORE_ACK)));
                out.details.push(("slot_waits", Detail::Static(IN_DOUBT)));
            }
        }
        true
    }

    fn finish_order(&mut self, sid: usize, client_order_id: &Id) {
        self.finish_order_fp(sid, client_order_id, fingerprint(client_order_id), None);
    }

    /// [`Kernel::finish_order`] with the client id's [`fingerprint`], `client_fp`, made.
    /// `place`: where [`OrderIndex`]'s table holds the client id, when known. Only a fill's
    /// lookup gives one, and nothing between it and here adds to the index (ids are added by
    /// `send_order` and `replace_slots` only); a path that does must pass None, as the place
    /// is checked in debug builds alone.
    fn finish_order_fp(
        &mut self,
        sid: usize,
        client_order_id: &Id,
        client_fp: u64,
        place: Option<usize>,
    ) {
        match place {
            Some(p) => self.by_client_id.remove_at(p, client_order_id),
            None => {
                self.by_client_id.remove(client_order_id);
            }
        }
        if let Some(o) = self.slots[sid].active_order() {
            let v = &o.venue_order_id;
            if !v.is_empty() {
                self.by_venue_id.remove(v);
                if v == client_order_id {
                    // A venue naming the order by its client id: one fingerprint, inserted
                    // once (a second insert of it would find it and change nothing).
                    self.finished_orders.insert(client_fp);
                    return;
                }
                self.finished_orders.insert(fingerprint(v));
            }
        }
        self.finished_orders.insert(client_fp);
    }

    /// Puts slot `sid` in (or takes it out of) the open slots of its asset: one lookup of the
    /// asset, whose set, once made, stays (see [`OpenByAsset`]). Returns the asset's
    /// [`asset_print`] when its set has it (see [`OpenByAsset::update`]).
    #[inline]
    fn update_open_index(&mut self, sid: usize, holds: bool) -> Option<Option<NonZeroU64>> {
        let (changed, print) = self
            .open_by_asset
            .update(sid, &self.slots[sid].asset, holds);
        if changed {
            if holds {
                self.open_count += 1;
            } else {
                self.open_count -= 1;
            }
        }
        print
    }

    /// Makes [`SideCounts`] again from the slots.
    pub(crate) fn recount_sides(&mut self) {
        let mut sides = SideCounts::current();
        sides.slots = vec![SlotCount::default(); self.slots.len()];
        for (sid, slot) in self.slots.iter().enumerate() {
            let (e, u) = (engaged(slot), SlotUnits::of(slot));
            if e || u != SlotUnits::default() {
                sides.count(&slot.asset, slot.side, e.then_some(true), sid, u);
            }
        }
        self.sides = sides;
    }

    /// Puts `order` as slot `sid`'s working entry (`is_entry`) or exit, or clears it (None),
    /// and counts the slot again.
    fn set_working(&mut self, sid: usize, is_entry: bool, order: Option<VenueOrder>) {
        let slot = &mut self.slots[sid];
        let was = engaged(slot);
        let working = if is_entry {
            &mut slot.active_entry_order
        } else {
            &mut slot.active_exit_order
        };
        *working = order;
        self.recount_slot(sid, was);
    }

    /// Puts a copy of `order` as slot `sid`'s working entry or exit (its `is_entry`), as
    /// [`Kernel::set_working`] with `Some(order.clone())`: the order it replaces dropped
    /// first, so the copy is written where it goes rather than made aside and moved in.
    ///
    /// Counted in [`SideCounts`] by what changed (the order replaced, if any, taken off its
    /// side of the book and `order` put on its own) rather than by the slot's units made
    /// again ([`Kernel::recount_slot`]): the slot was counted as it was after its last
    /// change, and its size is not changed here, so the sums end the same.
    fn set_working_to(&mut self, sid: usize, order: &VenueOrder) {
        let slot = &mut self.slots[sid];
        let was = engaged(slot);
        let working = if order.is_entry {
            &mut slot.active_entry_order
        } else {
            &mut slot.active_exit_order
        };
        let mut by = [0i128; 2];
        if let Some(old) = working {
            by[book_side(old.side)] -= units(old.remaining());
        }
        by[book_side(order.side)] += units(order.remaining());
        put_order_clone(working, order);
        let now = engaged(slot);
        if now != was || by != [0, 0] {
            self.sides
                .count_working(&slot.asset, slot.side, (now != was).then_some(now), sid, by);
        }
    }

    /// Counts slot `sid` in [`SideCounts`] as it is now, where it was `was` ([`engaged`])
    /// before a change: called after each change of its size or its orders (the sums count
    /// what its working orders have left).
    fn recount_slot(&mut self, sid: usize, was: bool) {
        let slot = &self.slots[sid];
        let now = engaged(slot);
        let units = SlotUnits::of(slot);
        if now != was || units != self.sides.counted(sid) {
            self.sides.count(
                &slot.asset,
                slot.side,
                (now != was).then_some(now),
                sid,
                units,
            );
        }
    }

    /// [`Kernel::recount_slot`] where the slot's units changed, as they do when its working
    /// order is filled and cleared: counted without first comparing them with what was
    /// counted (counting units that did not change adds nothing).
    fn count_slot(&mut self, sid: usize, was: bool) {
        let slot = &self.slots[sid];
        let now = engaged(slot);
        self.sides.count(
            &slot.asset,
            slot.side,
            (now != was).then_some(now),
            sid,
            SlotUnits::of(slot),
        );
    }

    /// Where the counts an exit decides by in O(1) differ from those made again: the
    /// [`SideCounts`] kept as slots changed against a recount from the slots (while kept),
    /// and the kept orders counted owed a fill or in doubt against those that are. None when
    /// they agree: what tests check after every input. It copies the kernel: not for a live
    /// one.
    #[doc(hidden)]
    pub fn side_counts_difference(&self) -> Option<String> {
        let e = &self.ended;
        let flagged = |f: u8| e.by_key.values().filter(|k| k.flags() & f != 0).count() as u32;
        let (owed, in_doubt) = (flagged(OWED), flagged(DOUBTED));
        let owed_entries = e
            .by_key
            .iter()
            .filter(|(key, k)| key.1 && !key.2 && k.flags() & OWED != 0)
            .count() as u32;
        if e.owed_count != owed || e.in_doubt_count != in_doubt || e.owed_entries != owed_entries {
            return Some(format!(
                "kept orders counted owed {}, in doubt {} and entries owed {}, are {owed}, \
                 {in_doubt} and {owed_entries}",
                e.owed_count, e.in_doubt_count, e.owed_entries
            ));
        }
        let mut by_asset: Vec<(Id, KeptCounts)> = Vec::new();
        for k in e.by_key.values() {
            let (f, u) = (k.flags(), k.units());
            if f == 0 && u == 0 {
                continue;
            }
            let i = match by_asset.iter().position(|(a, _)| *a == k.order.asset) {
                Some(i) => i,
                None => {
                    by_asset.push((k.order.asset.clone(), KeptCounts::default()));
                    by_asset.len() - 1
                }
            };
            let c = &mut by_asset[i].1;
            c.n[0] += u32::from(f & OWED != 0);
            c.n[1] += u32::from(f & DOUBTED != 0);
            c.taken[book_side(k.order.side)] += u;
        }
        let mut kept_by_asset: Vec<(Id, KeptCounts)> =
            e.by_asset.iter().map(|(a, n)| (a.clone(), *n)).collect();
        by_asset.sort_by(|x, y| x.0.cmp(&y.0));
        kept_by_asset.sort_by(|x, y| x.0.cmp(&y.0));
        if kept_by_asset != by_asset {
            return Some(format!(
                "kept orders counted by asset {kept_by_asset:?}, are {by_asset:?}"
            ));
        }
        // A place a slot remembers in the maps by asset is its asset's (`ByAsset::place`
        // takes it without comparing).
        for (sid, slot) in self.slots.iter().enumerate() {
            for (map, remembered) in [
                ("committed notional", self.asset_notional.remembered(sid)),
                ("open slots", self.open_by_asset.remembered(sid)),
            ] {
                if remembered.is_some_and(|a| *a != slot.asset) {
                    return Some(format!(
                        "slot {sid} remembers {remembered:?} in the {map} by asset, trades {:?}",
                        slot.asset
                    ));
                }
            }
        }
        if !self.sides.current {
            return None;
        }
        let mut again = self.clone();
        again.recount_sides();
        let nonzero = |c: &SideCounts| {
            let mut v: Vec<(Id, AssetCounts)> = c
                .assets
                .iter()
                .filter(|(_, n)| *n != AssetCounts::default())
                .cloned()
                .collect();
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        let (kept, made) = (nonzero(&self.sides), nonzero(&again.sides));
        if kept != made {
            return Some(format!("side counts kept {kept:?}, made again {made:?}"));
        }
        for sid in 0..self.slots.len() {
            let (counted, made) = (self.sides.counted(sid), again.sides.counted(sid));
            if counted != made {
                return Some(format!("slot {sid} counted as {counted:?}, is {made:?}"));
            }
        }
        // The sums an exit decides by (rules 25) say what the walk of rules 24 says, within
        // the rounding of either.
        for (sid, slot) in self.slots.iter().enumerate() {
            if slot.asset.is_empty() {
                continue;
            }
            for side in [OrderSide::Buy, OrderSide::Sell] {
                let summed = self.room_units(sid, side) as f64 / UNITS_PER_SIZE;
                let walked = self.netted_room(sid, side, true);
                if (summed - walked).abs() > 1e-9 * walked.abs().max(1.0) {
                    return Some(format!(
                        "slot {sid}'s room on {side:?}: {summed} summed, {walked} walked"
                    ));
                }
            }
        }
        None
    }

    /// What the entries in doubt (of `asset`, or all) count towards the notional caps (see
    /// `EndedOrders::doubt_notional`): an order that may work at the venue is exposure.
    fn committed_in_doubt(&self, asset: Option<&str>) -> f64 {
        self.ended.doubt_notional(asset, &self.entry_marks)
    }

    /// Sets what slot `sid` commits and the totals by asset and overall: one lookup of the
    /// asset, whose entry, once made, stays (see [`AssetNotional`]).
    #[inline(always)]
    fn set_committed(&mut self, sid: usize, notional: f64) {
        let slot = &mut self.slots[sid];
        let delta = notional - slot.committed_notional;
        slot.committed_notional = notional;
        if delta != 0.0 {
            self.asset_notional.add(sid, &slot.asset, delta);
            self.total_notional = (self.total_notional + delta).max(0.0);
        }
    }

    /// Remembers `fill` (one fill) waiting under `key`, whose fingerprint is `key_fp`.
    fn remember_unsettled(&mut self, key: Id, key_fp: u64, fill: Unsettled) {
        self.account.k_unsettled_fees += fill.first.predicted_fee;
        let by_asset = fill.first.asset.is_some();
        let replaced = self
            .unsettled
            .insert_with_fp(key, key_fp, fill, |live, new| {
                if by_asset {
                    // Another asset's fill of the id waits beside it.
                    live.absorb(new.first)
                } else {
                    // A fill of no asset under an id waiting: only the newest counts.
                    std::mem::replace(live, new).predicted()
                }
            });
        if let Some(replaced) = replaced {
            self.account.k_unsettled_fees -= replaced;
        }
        // Too old to be settled by the exchange any more: the prediction stands.
        while let Some(f) = self.unsettled.pop_over_capacity() {
            self.account.k_unsettled_fees -= f.predicted();
        }
    }

    /// Settles the waiting fill of `fill_id` and `asset` (the one fill of the id without an
    /// asset) at the exchange's `fee`: the fee replaces the prediction, and the
    /// calibration of the fill's liquidity learns from it. Says so in `details`; returns what
    /// it charged the fill, or why no one fill matches (nothing changed).
    fn settle_fill(
        &mut self,
        fill_id: &Id,
        asset: &str,
        fee: f64,
        details: &mut Details,
    ) -> Result<f64, Unmatched> {
        // The fill of the event's asset: venues number trades per market, so fills of several
        // assets may wait under one id. The fill picked is taken out of the others of its id
        // in place (None when it waits alone: the id is taken out whole, below).
        let picked = match self.unsettled.get_mut(fill_id) {
            None => Err(Unmatched::NoFill),
            Some(u) => u
                .pick(asset, fee)
                .map(|i| (u.len() > 1).then(|| u.remove(i))),
        };
        let f = match picked? {
            Some(f) => f,
            None => {
                self.unsettled
                    .take(fill_id)
                    .expect("a picked fill waits")
                    .first
            }
        };
        // A fill booked from part of a report is charged its share of the report's fee, and
        // the calibration learns from the whole report: the rest of it was booked, and
        // charged, under another report's key, which the exchange never settles.
        let part = (f.report_size > 0.0).then_some(f.report_size);
        let (charged, calibrated_qty) = match part {
            Some(whole) => (fee * f.qty / whole, whole),
            None => (fee, f.qty),
        };
        // Settled as a resend may name it: by its asset, or by none.
        self.early_settlements
            .settled_both_ways(fill_id, f.asset, false);
        let diff = charged - f.predicted_fee;
        self.account.k_fees_paid += diff;
        self.account.k_unsettled_fees -= f.predicted_fee;
        if let Some(slot) = self.slots.get_mut(f.slot_id) {
            if slot.trade_id == f.trade_id {
                slot.fees_paid += diff;
                self.dirty.slot(f.slot_id);
            }
        }
        let liq = if f.liquidity_maker {
            Liquidity::Maker
        } else {
            Liquidity::Taker
        };
        details.push(("predicted_fee", Detail::F64(f.predicted_fee)));
        details.push(("actual_fee", Detail::F64(fee)));
        if let Some(whole) = part {
            details.push(("fee_charged", Detail::F64(charged)));
            details.push(("booked_qty", Detail::F64(f.qty)));
            details.push(("reported_qty", Detail::F64(whole)));
        }
        // Against the rate the fill was predicted at: a fee tier changed since would teach the
        // calibration the ratio of the two rates.
        let rate = f.rate.against(self.fees.rate(liq));
        if let Ok(c) = self
            .fees
            .calibrate_at(f.price, calibrated_qty, fee, liq, rate)
        {
            details.push((
                "calibration_status",
                Detail::Static(c.calibration_status.name()),
            ));
            details.push(("calibration_ratio", Detail::F64(c.calibration_ratio)));
            // The ratio is the fill's liquidity's: say which.
            details.push(("liquidity", Detail::Static(c.liquidity.name())));
            if !c.learned {
                details.push(("calibration_learned", Detail::Bool(false)));
            }
        }
        Ok(charged)
    }

    /// Holds FILL_SETTLED `ev`, which no waiting fill matches, for its fill, saying so in
    /// `out`; a settlement of the same fill held already refuses it (the details returned):
    /// one fill is settled once. One of another fee is held beside (a self-trade's other side:
    /// maker and taker fees differ; a resend repeats its fee), up to two.
    #[cold]
    fn hold_settlement(&mut self, ev: &AccountEvent, out: &mut KernelOutcome) -> Option<Details> {
        let mut held = self.early_settlements.held_for(&ev.fill_id, &ev.asset);
        let (first, second) = (held.next(), held.next());
        drop(held);
        let same_fee = |s: &&EarlySettlement| s.fee == ev.fee;
        let refused_by = match (first, second) {
            (Some(a), Some(b)) => Some((
                if same_fee(&a) { a } else { b },
                !same_fee(&a) && !same_fee(&b),
            )),
            (Some(a), None) if same_fee(&a) => Some((a, false)),
            _ => None,
        };
        if let Some((held, both_sides)) = refused_by {
            let mut d = detail_field("fill_id", &ev.fill_id);
            d.push(("asset", (&ev.asset).into()));
            d.push(("held_event_id", (&held.event_id).into()));
            d.push((
                "reason",
                Detail::Static(if both_sides {
                    "settlements of both sides of this fill (a self-trade) came before it and \
                     are held for it already"
                } else {
                    "a settlement of this fill came before it and is held for it already"
                }),
            ));
            return Some(d);
        }
        let forgotten = self.early_settlements.hold(EarlySettlement {
            event_id: ev.event_id.clone(),
            fill_id: ev.fill_id.clone(),
            asset: ev.asset.clone(),
            fee: ev.fee,
        });
        out.details.push(("held_for_fill", Detail::Bool(true)));
        out.details.push(("fill_id", (&ev.fill_id).into()));
        out.details.push((
            "reason",
            Detail::Static(
                "no fill of this id and asset waits for its fee: held, the settlement settles \
                 the fill when it is booked (a venue's account stream often runs ahead of its \
                 orders'); a fill settled already, or booked with its venue's fee, is not \
                 settled again",
            ),
        ));
        if let Some(old) = forgotten {
            // Its fill, if it ever comes, keeps its predicted fee: say which it was.
            out.severity = KernelSeverity::Warning;
            out.details
                .push(("forgotten_settlement", Detail::Id(old.event_id)));
            out.details
                .push(("forgotten_fill_id", Detail::Id(old.fill_id)));
        }
        None
    }

    /// The settlement held for fill `fill_key` of `asset`, just booked: settles
    /// it, saying so in `details`, when its fee was predicted (`predicted`), and returns what
    /// it charged; a fill booked with its venue's own fee drops it unapplied, as a settlement
    /// coming after it is refused.
    #[cold]
    fn settle_early(
        &mut self,
        fill_key: &Id,
        asset: &str,
        predicted: bool,
        fee: f64,
        details: &mut Details,
    ) -> Option<f64> {
        let s = self.early_settlements.take(fill_key, asset, fee)?;
        if !predicted {
            details.push(("unapplied_settlement", Detail::Id(s.event_id)));
            return None;
        }
        details.push(("settled_by", Detail::Id(s.event_id.clone())));
        let charged = self.settle_fill(fill_key, asset, s.fee, details).ok();
        debug_assert!(charged.is_some(), "the fill just booked waits for its fee");
        self.early_settlements.settled(fill_key, &s.asset);
        charged
    }

    // ----- account -------------------------------------------------------------------

    pub fn on_account_event(&mut self, ev: &AccountEvent) -> KernelOutcome {
        let seq = self.next_seq();
        self.counters.account_events += 1;
        let mut fee_charged = None;
        let out = self.account_event(ev, seq, &mut fee_charged);
        // Refused events too (a FILL_SETTLED of a fill settled already, a duplicate, a bad
        // value): whoever debugs a K/E mismatch sees the exchange's fact arrived and why it
        // was not applied. The account columns are the account as it stands.
        if self.outbox.enabled {
            let r = self.account.reconcile();
            let row = AccountRow {
                ts: ev.timestamp,
                event_id: ev.event_id.clone(),
                kind: ev.kind,
                asset: ev.asset.clone(),
                amount: ev.amount,
                fee: ev.fee,
                fill_id: ev.fill_id.clone(),
                wallet_balance: ev.wallet_balance,
                available_margin: ev.available_margin,
                used_margin: ev.used_margin,
                maint_margin: ev.maint_margin,
                k_capital: self.account.k_capital(),
                reconcile_status: r.status.name(),
                reconcile_delta: r.delta,
                accepted: out.accepted,
                diagnostic_code: out.diagnostic_code,
                fee_charged,
            };
            self.outbox.record_account(seq, &row);
        }
        out
    }

    /// Applies `ev`; `fee_charged` is set to what an accepted FILL_SETTLED charged its fill
    /// (for the journal's row) and left None otherwise.
    fn account_event(
        &mut self,
        ev: &AccountEvent,
        seq: u64,
        fee_charged: &mut Option<f64>,
    ) -> KernelOutcome {
        use KernelDiagnosticCode as D;
        let refuse =
            |code, sev, d| KernelOutcome::refused(-1, id(""), TradeStage::Idle, code, sev, d, seq);
        if !plain_start(&ev.event_id) {
            if ev.event_id.is_empty() {
                let d = detail_field("event_id", Detail::Static(""));
                return refuse(D::InvalidIntent, KernelSeverity::Error, d);
            }
            if let Some(why) = flawed_id(&ev.event_id) {
                let mut d = detail_field("event_id", shown_id(&ev.event_id));
                d.push(("reason", Detail::Static(why)));
                return refuse(D::InvalidIntent, KernelSeverity::Error, d);
            }
        }
        let checks = [
            ("amount", Some(ev.amount), false),
            ("fee", Some(ev.fee), false),
            ("timestamp", Some(ev.timestamp), true),
            ("wallet_balance", ev.wallet_balance, false),
            ("available_margin", ev.available_margin, true),
            ("used_margin", ev.used_margin, true),
            ("maint_margin", ev.maint_margin, true),
        ];
        for (field, v, non_negative) in checks {
            let reason = if non_negative {
                "must be a finite, non-negative number"
            } else {
                "must be a finite number"
            };
            if let Some(d) = v.and_then(|v| number_refusal(field, v, non_negative, reason)) {
                return refuse(D::InvalidIntent, KernelSeverity::Error, d);
            }
        }
        // A FUNDING_FEE's payment is its `amount` and a FILL_SETTLED's charge its `fee`, each
        // reading only its own: a figure in the other field would be lost. An ACCOUNT_UPDATE
        // carrying either is refused too, so a deposit or charge reported so is not dropped.
        const UPDATE_FIGURES: &str =
            "ACCOUNT_UPDATE carries balance and margin figures only: a payment is a FUNDING_FEE's \
             amount, a fill's charge a FILL_SETTLED's fee";
        let misplaced = match ev.kind {
            AccountEventKind::FundingFee if ev.fee != 0.0 => Some((
                "fee",
                ev.fee,
                "FUNDING_FEE carries its payment in amount (positive received, negative paid)",
            )),
            AccountEventKind::FillSettled if ev.amount != 0.0 => Some((
                "amount",
                ev.amount,
                "FILL_SETTLED carries the fee the exchange charged in fee",
            )),
            AccountEventKind::AccountUpdate if ev.amount != 0.0 => {
                Some(("amount", ev.amount, UPDATE_FIGURES))
            }
            AccountEventKind::AccountUpdate if ev.fee != 0.0 => {
                Some(("fee", ev.fee, UPDATE_FIGURES))
            }
            _ => None,
        };
        if let Some((field, value, reason)) = misplaced {
            let mut d = detail_field(field, value);
            d.push(("reason", Detail::Static(reason)));
            return refuse(D::InvalidIntent, KernelSeverity::Error, d);
        }
        // The payments' and settlements' ids are kept apart from the balance updates'
        // (`money_events_seen`), which come far more often and would push them out.
        if self.account_events_seen.contains(&ev.event_id)
            || self.money_events_seen.contains(&ev.event_id)
        {
            return refuse(
                D::DuplicateEvent,
                KernelSeverity::Info,
                detail_field("event_id", &ev.event_id),
            );
        }
        // A payment whose id the memory forgot is known by its time.
        if ev.kind == AccountEventKind::FundingFee {
            if let Some(at) = self.funding_times.forgotten(&ev.event_id, ev.timestamp) {
                let mut d = detail_field("event_id", &ev.event_id);
                d.push(("timestamp", Detail::F64(ev.timestamp)));
                d.push(("forgotten_payment_time", Detail::F64(at)));
                d.push((
                    "reason",
                    Detail::Static(
                        "stamped before a funding payment booked long ago (or at its time, \
                         under its id), whose id is no longer remembered: a resend",
                    ),
                ));
                return refuse(D::DuplicateEvent, KernelSeverity::Info, d);
            }
        }
        let mut out = KernelOutcome::ok(-1, id(""), TradeStage::Idle, seq);
        let figures = [
            ev.wallet_balance,
            ev.available_margin,
            ev.used_margin,
            ev.maint_margin,
        ];
        // E goes forward in the venue's time, figure by figure: an ACCOUNT_UPDATE resent once
        // the id memory forgot it would bring back a balance reported long ago.
        let JudgedFigures {
            stale,
            over_time_ahead,
        } = self.account.judge_figures(&figures, ev.timestamp);
        match ev.kind {
            AccountEventKind::FillSettled => {
                if ev.fill_id.is_empty() {
                    return refuse(
                        D::InvalidIntent,
                        KernelSeverity::Error,
                        detail_field("fill_id", Detail::Static("")),
                    );
                }
                match self.settle_fill(&ev.fill_id, &ev.asset, ev.fee, &mut out.details) {
                    Ok(charged) => {
                        *fee_charged = Some(charged);
                        self.early_settlements.settled(&ev.fill_id, &ev.asset);
                    }
                    Err(Unmatched::Ambiguous) => {
                        let mut d = detail_field("asset", &ev.asset);
                        d.push(("fill_id", (&ev.fill_id).into()));
                        d.push((
                            "reason",
                            Detail::Static(
                                "fills of several assets wait under this fill id (venues \
                                 number trades per market): name the fill's asset",
                            ),
                        ));
                        return refuse(D::InvalidIntent, KernelSeverity::Error, d);
                    }
                    // A fill booked with its venue's own fee has nothing to settle.
                    Err(Unmatched::NoFill)
                        if self
                            .early_settlements
                            .settled
                            .contains(&booked_with_fee_key(settled_key(
                                &ev.fill_id,
                                &ev.asset,
                            ))) =>
                    {
                        let mut d = detail_field("fill_id", &ev.fill_id);
                        d.push(("asset", (&ev.asset).into()));
                        d.push((
                            "reason",
                            Detail::Static(
                                "the fill was booked with its venue's own fee: nothing waits for \
                                 a settlement",
                            ),
                        ));
                        return refuse(D::DuplicateEvent, KernelSeverity::Info, d);
                    }
                    // Held for its fill: the venue's account stream ran ahead.
                    Err(Unmatched::NoFill)
                        if !self
                            .early_settlements
                            .settled
                            .contains(&settled_key(&ev.fill_id, &ev.asset)) =>
                    {
                        if let Some(d) = self.hold_settlement(ev, &mut out) {
                            return refuse(D::DuplicateEvent, KernelSeverity::Info, d);
                        }
                    }
                    Err(Unmatched::NoFill) => {
                        let mut d = detail_field("fill_id", &ev.fill_id);
                        let reason = if !ev.asset.is_empty() {
                            d.push(("asset", (&ev.asset).into()));
                            "no unsettled fill with this id and asset (unknown or already \
                             settled)"
                        } else {
                            "no unsettled fill with this id (unknown or already settled)"
                        };
                        d.push(("reason", Detail::Static(reason)));
                        return refuse(D::UnknownOrder, KernelSeverity::Warning, d);
                    }
                }
            }
            AccountEventKind::FundingFee => {
                self.account.k_funding_net += ev.amount;
            }
            AccountEventKind::AccountUpdate => {
                if figures.iter().all(Option::is_none) {
                    let mut d = detail_field("wallet_balance", Detail::Static("None"));
                    d.push((
                        "reason",
                        Detail::Static("ACCOUNT_UPDATE carries no balance or margin figure"),
                    ));
                    return refuse(D::InvalidIntent, KernelSeverity::Error, d);
                }
                // Every figure older than the one held: the venue's news is old (resent
                // once its id was forgotten, or overtaken), and changes nothing.
                let carried = figures.iter().flatten().count();
                if let Some(s) = stale.first().filter(|_| stale.len() == carried) {
                    let mut d = detail_field(E_FIGURES[s.index], s.value);
                    d.push(("last_value", Detail::F64(s.held)));
                    d.push(("timestamp", Detail::F64(ev.timestamp)));
                    d.push(("last_timestamp", Detail::F64(s.held_at)));
                    d.push((
                        "reason",
                        Detail::Static(
                            "stamped before the event the account's figure was taken from: \
                             the venue has reported a newer one",
                        ),
                    ));
                    return refuse(D::DuplicateEvent, KernelSeverity::Info, d);
                }
            }
        }
        // The exchange's figures, whatever the event: a funding message carries the balance
        // after it. Not those older than the account's (`stale`): a payment polled late brings
        // the balance of its time.
        let mut taken = figures;
        for s in &stale {
            taken[s.index] = None;
        }
        self.account.take_figures(taken, ev.timestamp);
        say_figures(&stale, ("figures_not_taken", "last_figure_time"), &mut out);
        // A figure stamped far after every other input (milliseconds among seconds, a clock
        // hours ahead) gave way to this later report: the operator fixes the venue's stamps.
        if say_figures(
            &over_time_ahead,
            ("figures_time_not_believed", "figure_time_ahead"),
            &mut out,
        ) {
            out.severity = KernelSeverity::Warning;
            out.details
                .push(("latest_input_time", Detail::F64(self.account.input_time)));
        }
        if ev.kind != AccountEventKind::AccountUpdate {
            self.remember_money_event(ev);
        } else {
            self.account_events_seen.insert(ev.event_id.clone());
        }
        self.account.bump(ev.timestamp);
        self.dirty.account = true;
        let r = self.account.reconcile();
        out.details
            .push(("reconcile_status", Detail::Static(r.status.name())));
        out.details.push(("reconcile_delta", Detail::F64(r.delta)));
        out
    }

    /// Remembers the id of money event `ev`, a FUNDING_FEE's time too, and the time of a
    /// payment whose id the memory forgets ([`FundingTimes`]).
    fn remember_money_event(&mut self, ev: &AccountEvent) {
        if self.money_events_seen.len() >= MONEY_EVENT_MEMORY {
            if let Some(oldest) = self.money_events_seen.iter().next() {
                let now = self.account.input_time;
                // With no input time yet (a kernel fed account events alone) nothing tells a
                // time stamped in milliseconds among seconds, which would refuse every later
                // payment: none is believed.
                let believed = |at: f64| now > 0.0 && at <= now + FIGURE_TIME_LEAD;
                self.funding_times.forget(oldest, believed);
            }
        }
        if ev.kind == AccountEventKind::FundingFee && ev.timestamp > 0.0 {
            self.funding_times
                .held
                .push_back((ev.event_id.clone(), ev.timestamp));
        }
        self.money_events_seen.insert(ev.event_id.clone());
    }

    pub fn calibrate_fee(
        &mut self,
        price: f64,
        qty: f64,
        actual_fee: f64,
        maker: bool,
    ) -> KernelResult<Calibration> {
        let liq = if maker {
            Liquidity::Maker
        } else {
            Liquidity::Taker
        };
        // Refused calibrations change nothing, not even the sequence (they are not logged).
        self.fees.check_comparable(price, qty, actual_fee, liq)?;
        let calibration = self.fees.calibrate(price, qty, actual_fee, liq)?;
        self.seq += 1;
        self.dirty.account = true; // the account shows the calibration
        Ok(calibration)
    }

    // ----- market data and configuration ---------------------------------------------

    pub fn mark_price(&mut self, asset: &str, price: f64, ts: f64) -> KernelResult<usize> {
        check_asset(asset)?;
        if !price.is_finite() || price <= 0.0 {
            return Err(KernelError::invalid(
                "price",
                shown(price),
                "must be a finite positive number",
            ));
        }
        check_number("price", price, 0.0)?;
        check_timestamp("timestamp", ts)?;
        self.seq += 1;
        self.account.note_input_time(ts);
        match self.marks.get_mut(asset) {
            Some(m) => *m = price,
            None => {
                self.marks.insert(id(asset), price);
            }
        }
        let Some(set) = self.open_by_asset.get(asset) else {
            return Ok(0);
        };
        let mut n = 0;
        for i in set.iter() {
            let s = &mut self.slots[i];
            s.mark_price = price;
            s.unrealized_pnl = s.side.sign() * (price - s.entry_price) * s.size;
            if self.dirty.enabled && !self.dirty.flags[i] {
                self.dirty.flags[i] = true;
                self.dirty.slots.push(i);
            }
            n += 1;
        }
        self.dirty.account |= n > 0 && self.dirty.enabled;
        Ok(n)
    }

    /// The measured edge of `asset` changed. Below the configured threshold the kernel
    /// freezes (entries refused) and asks to cancel every working order.
    pub fn on_edge_update(
        &mut self,
        asset: &str,
        edge_bps: f64,
        ts: f64,
    ) -> KernelResult<KernelOutcome> {
        // An asset as `mark_price` takes one: a blank one would freeze the kernel naming none.
        check_asset(asset)?;
        check_number("edge_bps", edge_bps, -MAX_MAGNITUDE)?;
        check_timestamp("timestamp", ts)?;
        self.seq += 1;
        let mut out = self.simple_outcome();
        let Some(threshold) = self.risk.edge_freeze_threshold_bps else {
            return Ok(out);
        };
        if edge_bps < threshold {
            self.edge_below.insert(id(asset), edge_bps);
            if !self.control.frozen {
                self.control.frozen = true;
                self.control.freeze_events += 1;
                self.control.freeze_for(asset, edge_bps, threshold);
                self.dirty.control = true;
                out.details.push(("frozen", Detail::Bool(true)));
            }
            // Cancel every working order (repeat requests are harmless; venues answer them).
            let mut ids: Vec<usize> = self.by_client_id.values().copied().collect();
            ids.sort_unstable();
            ids.dedup();
            for sid in ids {
                let stage = self.slots[sid].fsm_state;
                if !fsm::CANCELLABLE.contains(&stage) {
                    continue;
                }
                let Some(o) = self.slots[sid].active_order_mut() else {
                    continue;
                };
                if o.cancel_requested {
                    continue;
                }
                o.cancel_requested = true;
                let order = o.clone();
                let ctx = Ctx {
                    holds_position: self.slots[sid].size > QTY_EPS,
                };
                let d = TransitionDetails::Reason(Detail::Static("edge_freeze"));
                self.transition(
                    &mut out,
                    sid,
                    Trigger::CancelRequest,
                    ctx,
                    ts,
                    &id(""),
                    &id(""),
                    d,
                );
                self.counters.cancels_requested += 1;
                out.cancels.push(order);
            }
        } else {
            self.edge_below.remove(asset);
            if self.control.frozen && self.control.freeze_asset == asset {
                // Another asset's edge still below keeps the freeze, naming it.
                if let Some((below, &edge)) = self.edge_below.iter().next() {
                    self.control.freeze_for(below, edge, threshold);
                } else {
                    self.control.lift_freeze();
                    out.details.push(("frozen", Detail::Bool(false)));
                }
                self.dirty.control = true;
            }
        }
        Ok(out)
    }

    pub fn update_control(
        &mut self,
        mode: Option<ControlMode>,
        verbosity: Option<Verbosity>,
        debug: Option<bool>,
        source: &str,
        ts: f64,
    ) {
        let seq = self.next_seq();
        if let Some(m) = mode {
            self.control.mode = m;
        }
        if let Some(v) = verbosity {
            self.control.verbosity = v;
            self.outbox.verbosity = v;
        }
        if let Some(d) = debug {
            self.control.debug_clickhouse_enabled = d;
        }
        self.control.source = source.to_string();
        self.control.updated_seq = seq;
        self.dirty.control = true;
        self.sync_outbox_gate();
        if self.outbox.enabled {
            let row = ControlRow {
                ts,
                mode: self.control.mode,
                verbosity: self.control.verbosity,
                debug_clickhouse_enabled: self.control.debug_clickhouse_enabled,
                source: source.to_string(),
            };
            self.outbox.record_control(seq, &row);
        }
    }

    fn sync_outbox_gate(&mut self) {
        self.outbox.enabled = self.journal_attached && self.control.debug_clickhouse_enabled;
        self.outbox.verbosity = self.control.verbosity;
    }

    /// Whether a journal is attached (the control plane may still hold journaling off).
    pub fn journal_attached(&self) -> bool {
        self.journal_attached
    }

    pub fn set_journal_enabled(&mut self, enabled: bool) {
        self.journal_attached = enabled;
        self.sync_outbox_gate();
    }

    pub fn set_projection_enabled(&mut self, enabled: bool) {
        let n = self.slots.len();
        self.dirty = Dirty {
            enabled,
            flags: vec![false; if enabled { n } else { 0 }],
            ..Dirty::default()
        };
        if enabled {
            self.dirty.account = true;
            self.dirty.control = true;
        }
    }

    pub fn set_exchange_config(&mut self, fields: &[(String, f64)]) -> KernelResult<()> {
        let next = self.fees.config.with_updates(fields)?;
        self.seq += 1;
        self.fees.config = next;
        Ok(())
    }

    pub fn set_seed_capital(&mut self, capital: f64) -> KernelResult<()> {
        check_number("capital", capital, 0.0)?;
        self.seq += 1;
        self.account.seed_capital = capital;
        self.account.bump(self.account.last_update_time);
        self.dirty.account = true;
        Ok(())
    }

    pub fn set_market_limits(&mut self, asset: &str, fields: &[(String, f64)]) -> KernelResult<()> {
        check_asset(asset)?;
        let m = MarketLimits::from_fields(fields)?;
        self.seq += 1;
        self.market_limits.insert(id(asset), m);
        Ok(())
    }

    pub fn risk_updates(&self, updates: &[(String, ConfigValue)]) -> KernelResult<RiskLimits> {
        self.risk.with_updates(updates)
    }

    pub fn set_risk_limits(&mut self, limits: RiskLimits) {
        self.seq += 1;
        // Turning the edge freeze off lifts a freeze in place: no edge update lifts a freeze
        // while the rule is off.
        if limits.edge_freeze_threshold_bps.is_none() {
            // No edge is judged while the rule is off.
            self.edge_below.clear();
            if self.control.frozen {
                self.control.lift_freeze();
                self.dirty.control = true;
            }
        }
        self.risk = limits;
    }

    fn slot_index(&self, slot_id: i64) -> KernelResult<usize> {
        if slot_id < 0 || slot_id as usize >= self.slots.len() {
            return Err(KernelError::SlotOutOfRange {
                slot_id,
                max_slots: self.slots.len(),
            });
        }
        Ok(slot_id as usize)
    }

    pub fn set_slot_metadata(&mut self, slot_id: i64, metadata: Metadata) -> KernelResult<()> {
        let sid = self.slot_index(slot_id)?;
        self.seq += 1;
        self.slots[sid].metadata = metadata;
        self.dirty.slot(sid);
        Ok(())
    }

    pub fn set_slot_exit_legs(&mut self, slot_id: i64, ratios: &[f64]) -> KernelResult<()> {
        let sid = self.slot_index(slot_id)?;
        validate_leg_ratios(ratios)
            .map_err(|why| KernelError::invalid("exit_leg_ratios", shown_legs(ratios), why))?;
        let slot = &self.slots[sid];
        if ratios.len() <= slot.active_leg_index && !fsm::is_free(slot.fsm_state) {
            return Err(KernelError::invalid(
                "exit_leg_ratios",
                shown_legs(ratios),
                "has fewer legs than the slot has already exited",
            ));
        }
        self.seq += 1;
        self.slots[sid].exit_leg_ratios = Legs::from_slice(ratios);
        bound_leg_index(&mut self.slots[sid]);
        self.dirty.slot(sid);
        Ok(())
    }

    /// Replaces every slot with `slots` (a saved state), after checking all of them; the
    /// indexes are rebuilt from the new slots. Nothing changes if any slot is invalid.
    pub fn replace_slots(&mut self, mut slots: Vec<TradeSlot>) -> KernelResult<()> {
        if slots.len() != self.slots.len() {
            return Err(KernelError::invalid(
                "slots",
                slots.len(),
                "must hold exactly max_slots slots",
            ));
        }
        // An exit-leg index past the slot's legs is refused before anything changes, unless
        // the kernel's own slot shows it for the same trade.
        for (i, (s, own)) in slots.iter().zip(&self.slots).enumerate() {
            let legs = s.exit_leg_ratios.len();
            let shown = own.trade_id == s.trade_id && own.active_leg_index == s.active_leg_index;
            if s.active_leg_index > legs && !shown {
                return Err(KernelError::invalid(
                    &format!("slots[{i}].active_leg_index"),
                    format!("{}, past the slot's {legs} exit legs", s.active_leg_index),
                    "must be at most the number of exit legs (all done)",
                ));
            }
        }
        // An exit-leg index past the legs means every leg is done.
        slots.iter_mut().for_each(bound_leg_index);
        // A loaded slot keeps what exits took of its leg, as the caller's slot says. -0.0 is
        // held as 0.0: its record (`LegTail`, which leaves out what is 0) replays it so, and
        // the slot must show live what it shows recovered.
        slots.iter_mut().for_each(|s| s.leg_taken += 0.0);
        let mut seen_orders = [
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
        ];
        for (i, s) in slots.iter().enumerate() {
            let field = |f: &str| format!("slots[{i}].{f}");
            if s.slot_id != i {
                return Err(KernelError::invalid(
                    &field("slot_id"),
                    s.slot_id,
                    "must equal the slot's position",
                ));
            }
            check_numbers(
                field,
                &[
                    ("entry_price", s.entry_price),
                    ("size", s.size),
                    ("initial_size", s.initial_size),
                    ("leverage", s.leverage),
                ],
                0.0,
            )?;
            // Signed (a trade paid in maker rebates has negative fees), finite and bounded.
            check_numbers(
                field,
                &[
                    ("realized_pnl", s.realized_pnl),
                    ("unrealized_pnl", s.unrealized_pnl),
                    ("fees_paid", s.fees_paid),
                ],
                f64::NEG_INFINITY,
            )?;
            // Past the legs' shares it counts them done: the next leg exit closes the rest.
            check_number(&field("leg_taken"), s.leg_taken, 0.0)?;
            validate_leg_ratios(&s.exit_leg_ratios).map_err(|why| {
                KernelError::invalid(
                    &field("exit_leg_ratios"),
                    shown_legs(&s.exit_leg_ratios),
                    why,
                )
            })?;
            check_loaded_slot(i, s, &mut seen_orders)?;
            let holds = s.size > QTY_EPS;
            let consistent = match s.fsm_state {
                TradeStage::Idle | TradeStage::Closed => {
                    !holds && s.active_entry_order.is_none() && s.active_exit_order.is_none()
                }
                TradeStage::PositionOpen => {
                    holds && s.active_entry_order.is_none() && s.active_exit_order.is_none()
                }
                TradeStage::OrderRequested | TradeStage::OrderSent | TradeStage::EntryWorking => {
                    s.active_entry_order.is_some()
                }
                TradeStage::ExitRequested | TradeStage::ExitSent | TradeStage::ExitWorking => {
                    holds && s.active_exit_order.is_some()
                }
            };
            if !consistent {
                return Err(KernelError::invalid(
                    &field("fsm_state"),
                    s.fsm_state,
                    "does not match the slot's size and orders",
                ));
            }
            if holds && s.asset.is_empty() {
                return Err(KernelError::invalid(
                    &field("asset"),
                    "''",
                    "a slot with a position needs an asset",
                ));
            }
            if holds && s.side == TradeSide::Flat {
                return Err(KernelError::invalid(
                    &field("side"),
                    s.side,
                    "a slot with a position needs a side",
                ));
            }
        }
        // A memory the caller's slot brings is taken as its record replays it: all it holds
        // its trade's (`RecentRing::trade_wrote`).
        for s in slots.iter_mut() {
            s.seen_events.assume_trade_wrote_all();
            s.seen_fills.assume_trade_wrote_all();
        }
        // A slot loaded holding the trade it held keeps its memory of the events and fills it
        // took when the caller's slot brings none (a slot dict has no room for it), so a fill
        // resent under a new event id is not booked again.
        for (new, old) in slots.iter_mut().zip(&self.slots) {
            if !new.trade_id.is_empty() && new.trade_id == old.trade_id {
                if new.seen_events.is_empty() {
                    new.seen_events.clone_from(&old.seen_events);
                }
                if new.seen_fills.is_empty() {
                    new.seen_fills.clone_from(&old.seen_fills);
                }
            }
        }
        self.seq += 1;
        let held_before: Vec<(f64, f64)> = self
            .slots
            .iter()
            .map(|s| (s.size, s.initial_size))
            .collect();
        self.retain_covered(&slots);
        self.retain_entry_marks(&slots);
        self.slots = slots;
        self.free.clear();
        self.open_by_asset.clear();
        self.open_count = 0;
        // Not counted while the slots go in; made from them once they are in.
        self.sides = SideCounts::default();
        self.by_client_id.clear();
        self.by_venue_id.clear();
        let ended = std::mem::take(&mut self.ended);
        self.asset_notional.clear();
        self.total_notional = 0.0;
        for i in 0..self.slots.len() {
            if fsm::is_free(self.slots[i].fsm_state) {
                self.free.insert(i);
            }
            if self.slots[i].size > QTY_EPS {
                self.update_open_index(i, true);
            }
            let orders: Vec<(Id, Id)> = [
                &self.slots[i].active_entry_order,
                &self.slots[i].active_exit_order,
            ]
            .into_iter()
            .flatten()
            .map(|o| (o.client_order_id.clone(), o.venue_order_id.clone()))
            .collect();
            for (c, v) in orders {
                // The next orders' ids follow the loaded ones this kernel's id made (a fresh
                // kernel of the same id reloading its saved slots would issue them again, and
                // one order's fills would book on another slot).
                if let Some(n) = self.own_counter(&c) {
                    self.order_counter = self.order_counter.max(n);
                }
                self.by_client_id.insert(c, i);
                if !v.is_empty() {
                    self.by_venue_id.insert(v, i);
                }
            }
            let s = &self.slots[i];
            let working = s
                .active_entry_order
                .as_ref()
                .map(|o| o.remaining() * working_price(o, entry_mark(&self.entry_marks, i)))
                .unwrap_or(0.0);
            let n = held_notional(s) + working;
            self.slots[i].committed_notional = 0.0;
            self.set_committed(i, n);
            self.dirty.slot(i);
        }
        self.retain_ended(ended, &held_before);
        self.recount_sides();
        // The account shows the open positions, their notional and unrealized PnL.
        self.dirty.account = true;
        Ok(())
    }

    /// Before `slots` are loaded: the mark a working entry the loaded slot holds unchanged (same
    /// client id) was judged at is kept, and so is that of an entry kept in doubt for a trade
    /// the loaded slot holds without an entry ([`Kernel::retain_ended`] keeps it); any other
    /// loaded entry is judged at its asset's latest mark, as if sent now.
    fn retain_entry_marks(&mut self, slots: &[TradeSlot]) {
        for (i, (old, new)) in self.slots.iter().zip(slots).enumerate() {
            let same = match (&old.active_entry_order, &new.active_entry_order) {
                (Some(a), Some(b)) => a.client_order_id == b.client_order_id,
                (_, None) => new.trade_id == old.trade_id && new.asset == old.asset,
                (None, Some(_)) => false,
            };
            if !same {
                self.entry_marks[i] = match &new.active_entry_order {
                    Some(o) => mark_of(&self.marks, &o.asset),
                    None => 0.0,
                };
            }
        }
    }

    /// Before `slots` are loaded: what the venue's reports covered is followed on for a
    /// working order the loaded slot holds unchanged (same client id, same filled size); any
    /// other loaded order's is what it says filled, `(0, filled_size]` ([`Covered::loaded`]).
    fn retain_covered(&mut self, slots: &[TradeSlot]) {
        let mut covered = vec![[None, None]; slots.len()];
        for (i, (old, new)) in self.slots.iter().zip(slots).enumerate() {
            let pairs = [
                (&old.active_entry_order, &new.active_entry_order),
                (&old.active_exit_order, &new.active_exit_order),
            ];
            for (leg, pair) in pairs.into_iter().enumerate() {
                let Some(b) = pair.1 else { continue };
                let same = pair.0.as_ref().is_some_and(|a| {
                    a.client_order_id == b.client_order_id
                        && (a.filled_size - b.filled_size).abs() <= QTY_EPS
                });
                if same {
                    covered[i][leg] = self.covered.get_mut(i).and_then(|c| c[leg].take());
                } else {
                    // Any other loaded order is followed from what it says filled: the venue's
                    // reports up to that total are in it.
                    covered[i][leg] = Some(Covered::loaded(b.filled_size));
                }
            }
        }
        self.covered = covered;
    }

    /// After slots are loaded: what the kernel knew of ended orders and reconciled fills is
    /// kept where the loaded slot still holds the same trade of the same asset (an operator
    /// correcting one slot must not make the others forget a fill that may still come, or
    /// one a reconciliation booked), and dropped elsewhere.
    ///
    /// A slot loaded with another size than it had tells what filled: the fills its kept
    /// orders wait for count as included (a fill up to the venue's figure that then comes is
    /// a duplicate). A slot loaded as it was keeps waiting.
    fn retain_ended(&mut self, old: EndedOrders, held_before: &[(f64, f64)]) {
        let shared: Vec<&Id> = old
            .by_venue_id
            .iter()
            .filter(|(_, claims)| claims.contains(&GONE))
            .map(|(v, _)| v)
            .collect();
        for (key, kept) in &old.by_key {
            let slot = &self.slots[key.0];
            let o = &kept.order;
            if slot.trade_id == o.trade_id
                && slot.asset == o.asset
                && !self.by_client_id.contains_key(&o.client_order_id)
            {
                let mut kept = kept.clone();
                let now = (slot.size, slot.initial_size);
                let changed = held_before.get(key.0).is_some_and(|b| {
                    (b.0 - now.0).abs() > QTY_EPS || (b.1 - now.1).abs() > QTY_EPS
                });
                if changed {
                    // Without a figure from the venue, what the slot holds now is the bound,
                    // the total its reports stated (rules 12) included.
                    let total = kept
                        .final_filled
                        .unwrap_or(kept.stated_total.max(kept.order.filled_size));
                    kept.order.filled_size = kept.order.filled_size.max(total);
                    kept.final_filled = Some(total);
                    kept.stated_total = 0.0;
                    kept.in_doubt = false;
                }
                self.ended.keep(*key, kept);
                if let Some(c) = old.covered.get(key).filter(|_| !changed) {
                    self.ended.covered.insert(*key, c.clone());
                }
                self.sync_free(key.0);
            }
        }
        for v in shared {
            self.ended.finished_elsewhere(v);
        }
        for (coid, upto) in &old.reconciled {
            if self.by_client_id.contains_key(coid) || self.ended.by_client(coid).is_some() {
                self.ended.reconciled.insert(coid.clone(), *upto);
            }
        }
    }
}

/// An id refused for [`id_flaw`], quoted so its whitespace or NUL shows.
#[cold]
fn shown_id(text: &str) -> Detail {
    Detail::Str(format!("{text:?}"))
}

/// Why a non-empty id of new input is refused: only whitespace, or led by a NUL
/// ([`id_flaw`]). The common id is passed after one look at its first byte.
#[inline]
fn flawed_id(text: &str) -> Option<&'static str> {
    if plain_start(text) {
        None
    } else {
        id_flaw(text)
    }
}

/// An asset named by market data or market limits: not empty, nor flawed ([`flawed_id`]).
fn check_asset(asset: &str) -> KernelResult<()> {
    if asset.is_empty() {
        return Err(KernelError::invalid("asset", "''", "must not be empty"));
    }
    match flawed_id(asset) {
        Some(why) => Err(KernelError::invalid("asset", format!("{asset:?}"), why)),
        None => Ok(()),
    }
}

/// Whether an override's text reads as a negative ("false", "no", "0", "off", "none", "null",
/// in any case and with surrounding whitespace): its author meant no override ("None" is what
/// `str()` makes of a flag never set).
fn reads_negative(text: &str) -> bool {
    let t = text.trim();
    ["false", "no", "0", "off", "none", "null"]
        .iter()
        .any(|n| t.eq_ignore_ascii_case(n))
}

/// Exit legs as an error shows them: the list, or past the 64 a trade may have, its first
/// eight and the count (a refused list of a million legs made a message of megabytes).
fn shown_legs(ratios: &[f64]) -> String {
    if ratios.len() <= 64 {
        return format!("{ratios:?}");
    }
    let head: Vec<String> = ratios[..8].iter().map(|r| format!("{r:?}")).collect();
    format!("[{}, ...] ({} legs)", head.join(", "), ratios.len())
}

/// Whether every number `Kernel::check_intent` judges passes its checks at one look: its
/// price, size, leverage and limit within [0, `MAX_MAGNITUDE`], its time within [0, infinity)
/// (a time may be beyond the bound, `too_large`). Such numbers pass the field-by-field checks
/// whatever the rules; any other is judged there, in the same order. Read as their bits: a
/// non-negative number's bits order as the number does, and a negative one (-0.0 too) has
/// the sign bit, as NaN has bits above infinity's, so each is above the bound's bits and goes
/// to the checks.
#[inline(always)]
fn plain_numbers(intent: &Intent) -> bool {
    const MOST: u64 = MAX_MAGNITUDE.to_bits();
    let most = (intent.reference_price.to_bits())
        .max(intent.target_size.to_bits())
        .max(intent.leverage.to_bits())
        .max(intent.limit_price.to_bits());
    most <= MOST && intent.timestamp.to_bits() < f64::INFINITY.to_bits()
}

/// Exit legs: at least one, each a positive fraction, together at most the whole position.
pub fn validate_leg_ratios(ratios: &[f64]) -> Result<(), &'static str> {
    if ratios.is_empty() {
        return Err("needs at least one leg");
    }
    if ratios.len() > 64 {
        return Err("has more than 64 legs");
    }
    let bad = "every leg must be a fraction in (0, 1]";
    if let [r] = ratios {
        // The usual one leg: a fraction is all it needs (it cannot add up to more than 1;
        // NaN is none).
        return if *r > 0.0 && *r <= 1.0 {
            Ok(())
        } else {
            Err(bad)
        };
    }
    let mut sum = 0.0;
    for r in ratios {
        if !r.is_finite() || *r <= 0.0 || *r > 1.0 {
            return Err(bad);
        }
        sum += r;
    }
    if sum > 1.0 + 1e-9 {
        return Err("legs must not add up to more than 1");
    }
    Ok(())
}

/// The checks of a loaded slot (`replace_slots`) that came after some logs were written:
/// finite times and mark price, a stage that outlives a call, a position with a price and no
/// more than its initial size, a side, an asset, a trade id and a leverage wherever a
/// position is held or an order works, and each working order a real one of this slot: an
/// id of its own and a venue id of its own (across `seen`), a positive size, its numbers as
/// [`VenueOrder::check`] takes them, the slot's trade and asset, the side and `reduce_only`
/// its role needs, a status that has not ended, a LIMIT price above zero, an entry filled as
/// far as the slot holds, and an exit no larger than the position.
fn check_loaded_slot(
    i: usize,
    s: &TradeSlot,
    seen: &mut [std::collections::HashSet<Id>; 2],
) -> KernelResult<()> {
    let field = |f: &str| format!("slots[{i}].{f}");
    check_numbers(
        field,
        &[
            ("mark_price", s.mark_price),
            ("committed_notional", s.committed_notional),
        ],
        0.0,
    )?;
    check_timestamp(&field("entry_time"), s.entry_time)?;
    check_timestamp(&field("last_event_time"), s.last_event_time)?;
    if matches!(
        s.fsm_state,
        TradeStage::OrderRequested | TradeStage::ExitRequested
    ) {
        return Err(KernelError::invalid(
            &field("fsm_state"),
            s.fsm_state,
            "exists only inside one call; a saved slot is never in it",
        ));
    }
    let holds = s.size > QTY_EPS;
    if holds && s.entry_price <= 0.0 {
        return Err(KernelError::invalid(
            &field("entry_price"),
            shown(s.entry_price),
            "a slot with a position needs a positive entry price",
        ));
    }
    if s.size > s.initial_size * (1.0 + 1e-9) + QTY_EPS {
        return Err(KernelError::invalid(
            &field("initial_size"),
            shown(s.initial_size),
            "must not be below the slot's size",
        ));
    }
    if s.active_entry_order.is_some() && (s.initial_size - s.size).abs() > size_tolerance(s.size) {
        // While its entry works a trade has exited nothing: all it holds is what it entered.
        return Err(KernelError::invalid(
            &field("initial_size"),
            shown(s.initial_size),
            "must equal the slot's size while its entry order works",
        ));
    }
    if s.closed && !matches!(s.fsm_state, TradeStage::Closed | TradeStage::Idle) {
        return Err(KernelError::invalid(
            &field("closed"),
            true,
            "a slot with a position or a working order is not closed",
        ));
    }
    if s.active_entry_order.is_some() && s.active_exit_order.is_some() {
        return Err(KernelError::invalid(
            &field("active_exit_order"),
            "an order",
            "a slot works an entry or an exit, not both",
        ));
    }
    let works = s.active_entry_order.is_some() || s.active_exit_order.is_some();
    if works && s.side == TradeSide::Flat {
        return Err(KernelError::invalid(
            &field("side"),
            s.side,
            "a slot working an order needs a LONG or SHORT side",
        ));
    }
    if works && s.asset.is_empty() {
        return Err(KernelError::invalid(
            &field("asset"),
            "''",
            "a slot working an order needs an asset",
        ));
    }
    if (works || holds) && s.trade_id.is_empty() {
        return Err(KernelError::invalid(
            &field("trade_id"),
            "''",
            "a slot with a position or a working order needs its trade's id",
        ));
    }
    if (works || holds) && s.leverage <= 0.0 {
        return Err(KernelError::invalid(
            &field("leverage"),
            shown(s.leverage),
            "must be positive for a slot with a position or a working order",
        ));
    }
    // As an ENTER's leverage: one this small makes the position's margin infinite.
    if (works || holds) && s.leverage < MIN_LEVERAGE {
        return Err(KernelError::invalid(
            &field("leverage"),
            format!("{:e}", s.leverage),
            "must be at least 1e-15 for a slot with a position or a working order",
        ));
    }
    for (which, order, side) in [
        (
            "active_entry_order",
            &s.active_entry_order,
            s.side.entry_order_side(),
        ),
        (
            "active_exit_order",
            &s.active_exit_order,
            s.side.exit_order_side(),
        ),
    ] {
        let Some(o) = order else { continue };
        let field = |f: &str| format!("slots[{i}].{which}.{f}");
        o.check(field)?;
        if o.client_order_id.is_empty() {
            return Err(KernelError::invalid(
                &field("client_order_id"),
                "''",
                "must not be empty",
            ));
        }
        if o.size <= 0.0 {
            return Err(KernelError::invalid(
                &field("size"),
                shown(o.size),
                "must be positive",
            ));
        }
        for (name, value, own) in [
            ("trade_id", &o.trade_id, &s.trade_id),
            ("asset", &o.asset, &s.asset),
        ] {
            if value != own {
                return Err(KernelError::invalid(
                    &field(name),
                    value,
                    "must be the slot's",
                ));
            }
        }
        if o.side != side {
            return Err(KernelError::invalid(
                &field("side"),
                o.side,
                "must be the side this order's role takes for the slot's side",
            ));
        }
        if o.is_entry != (which == "active_entry_order") {
            return Err(KernelError::invalid(
                &field("is_entry"),
                o.is_entry,
                "must say the order's role in the slot",
            ));
        }
        // An exit goes out reduce-only only when the asset's netted position covers it
        // (`Kernel::exit_reduces`), so only an entry's flag is wrong here.
        if o.is_entry && o.reduce_only {
            return Err(KernelError::invalid(
                &field("reduce_only"),
                o.reduce_only,
                "an entry never reduces",
            ));
        }
        if o.order_type == OrderType::Limit && o.price <= 0.0 {
            return Err(KernelError::invalid(
                &field("price"),
                shown(o.price),
                "a LIMIT order needs a positive price",
            ));
        }
        if o.status.is_terminal() {
            return Err(KernelError::invalid(
                &field("status"),
                o.status.name(),
                "a working order has not ended",
            ));
        }
        if o.is_entry && (o.filled_size - s.size).abs() > size_tolerance(s.size) {
            // While its entry works, all a trade holds is what that entry filled.
            return Err(KernelError::invalid(
                &field("filled_size"),
                shown(o.filled_size),
                "must equal the slot's size while the entry works",
            ));
        }
        if !o.is_entry && o.remaining() > s.size * (1.0 + 1e-9) + QTY_EPS {
            return Err(KernelError::invalid(
                &field("size"),
                shown(o.size),
                "an exit must not sell more than the position it closes",
            ));
        }
        for (set, key, what) in [
            (0, &o.client_order_id, "client_order_id"),
            (1, &o.venue_order_id, "venue_order_id"),
        ] {
            if !key.is_empty() && !seen[set].insert(key.clone()) {
                return Err(KernelError::invalid(
                    &field(what),
                    key,
                    "is the order of another slot too",
                ));
            }
        }
    }
    Ok(())
}

mod checkpoint;
pub use checkpoint::{decode as decode_checkpoint, decode_version, encode as encode_checkpoint};

#[cfg(test)]
#[path = "kernel/fill_size_props.rs"]
mod fill_size_props;

#[cfg(test)]
#[path = "kernel/kept_entries_props.rs"]
mod kept_entries_props;

#[cfg(test)]
#[path = "kernel/order_index_props.rs"]
mod order_index_props;

#[cfg(test)]
#[path = "kernel/unsettled_props.rs"]
mod unsettled_props;

#[cfg(test)]
#[path = "kernel/venue_index_props.rs"]
mod venue_index_props;

#[cfg(test)]
mod tests {
    use super::*;

    fn enter(n: u32, slot: i64) -> Intent {
        let mut e = Intent::new(
            &format!("i{n}"),
            &format!("t{n}"),
            slot,
            "BTC",
            TradeSide::Long,
            KernelCommandType::Enter,
            100.0,
            1.0,
        );
        e.order_type = OrderType::Limit;
        e.limit_price = 100.0;
        e
    }

    #[test]
    fn open_by_asset_gives_its_assets_prints_as_asset_print_makes_them() {
        let mut open = OpenByAsset::default();
        let (btc, eth) = (id("BTCUSDT"), id("ETHUSDT"));
        let print = |a: &Id| Some(asset_print(a));
        // A set made, found by its slot's place, found by the index for another slot, and
        // an asset without one.
        assert_eq!(open.update(0, &btc, true), (true, print(&btc)));
        assert_eq!(open.update(0, &btc, false), (true, print(&btc)));
        assert_eq!(open.update(1, &btc, true), (true, print(&btc)));
        assert_eq!(open.update(2, &eth, false), (false, None));
        assert_eq!(open.update(2, &eth, true), (true, print(&eth)));
        // A slot whose asset changed (its place forgotten, as an ENTER does) is not told its
        // old asset's print.
        open.forget(0);
        assert_eq!(open.remembered(0), None);
        assert_eq!(open.update(0, &eth, true), (true, print(&eth)));
        assert_eq!(open.remembered(0), Some(&eth));
        let empty = id("");
        assert_eq!(open.update(3, &empty, true), (true, Some(None)));
        open.clear();
        assert_eq!(open.update(0, &eth, false), (false, None));
        assert_eq!(open.update(0, &btc, true), (true, print(&btc)));
    }

    /// The slot's copy of a sent order (`put_order_clone`) is its clone, bitwise or cloned,
    /// each freeing its own once: ids inline (up to the longest inline), and on the heap in
    /// each place; written over no order, an order of inline ids and one of shared ids.
    #[test]
    fn an_order_clone_is_its_clone() {
        let long = "a venue order id longer than twenty-three bytes";
        let orders = [
            (id("c-1"), id("v-1"), id("t-1"), id("BTC")),
            (id("c-1"), id(""), id(""), id("an-asset-of-23-bytes-xx")),
            (id(long), id(""), id("t-1"), id("BTC")),
            (id("c-1"), id(long), id("t-1"), id("BTC")),
            (id("c-1"), id("v-1"), id(long), id("BTC")),
            (id("c-1"), id("v-1"), id("t-1"), id(&long.repeat(3))),
            (id(long), id(long), id(long), id(long)),
        ];
        let before = [
            None,
            Some(VenueOrder::sample(id("c-0"), id(""), id("t-0"), id("ETH"))),
            Some(VenueOrder::sample(id(long), id(long), id(long), id(long))),
        ];
        for (client, venue, trade, asset) in orders {
            let order = VenueOrder::sample(client, venue, trade, asset);
            for was in &before {
                let mut place = was.clone();
                put_order_clone(&mut place, &order);
                let copy = place.expect("an order put");
                assert_eq!(copy, order.clone());
                assert_eq!(
                    bincode::serialize(&copy).unwrap(),
                    bincode::serialize(&order).unwrap()
                );
                // The copy dropped first, then the order (each freeing its own, once).
                drop(copy);
            }
            drop(order);
        }
    }

    #[test]
    fn an_order_copy_is_its_clone() {
        let long = "a venue order id longer than twenty-three bytes";
        for (client, venue, trade, asset) in [
            (id("c-1"), id("v-1"), id("t-1"), id("BTC")),
            (id("c-1"), id(""), id(""), id("an-asset-of-23-bytes-xx")),
            (id("c-1"), id(long), id("t-1"), id("BTC")),
            (id(long), id(long), id(long), id(long)),
            (id("c-1"), id("v-1"), id("t-1"), id(&long.repeat(3))),
        ] {
            let order = VenueOrder::sample(client, venue, trade, asset);
            let copy = OrderCopy::of(&order);
            let heap = [
                &order.client_order_id,
                &order.venue_order_id,
                &order.trade_id,
                &order.asset,
            ]
            .iter()
            .any(|i| i.is_heap_allocated());
            assert_eq!(copy.cloned, heap);
            assert_eq!(*copy, order.clone());
            // The copy dropped first, then the order (each freeing its own, once).
            drop(copy);
            drop(order);
        }
    }

    #[test]
    fn units_truncate_sizes_alike_on_both_sides_of_the_fast_cast() {
        assert_eq!(units(0.1), 100_000_000_000_000);
        assert_eq!(units(-0.1), -100_000_000_000_000);
        assert_eq!(units(f64::NAN), 0);
        // The largest size (1e15) is 1e30 units, as the float says it: far within i128.
        assert_eq!(units(1e15), 1e30 as i128);
        // Across 9,000 (the unchecked cast's end) the sums stay monotonic and exact.
        let below = units(8_999.999_999);
        let at = units(9_000.0);
        let above = units(9_000.000_001);
        assert!(below < at && at < above, "{below} {at} {above}");
        assert_eq!(at, 9_000 * 10i128.pow(15));
        assert_eq!(units(-9_000.0), -at);
    }

    #[test]
    fn request_and_submit_writes_what_the_two_transitions_write() {
        // request_and_submit (send_order's two transitions written together) against
        // request_then_submit (the two `transition` calls): the same answer and the same
        // kernel (slot, free set, dirty marks), for every stage, request, position and a
        // time before and after the slot's last; ids inline and shared. Where a move is not
        // in the table it changes nothing. The submit's details are the order's in `submit`.
        let long = "a-trade-id-longer-than-twenty-three-bytes";
        let mut together = 0;
        for stage in TradeStage::ALL {
            for request in [Trigger::Enter, Trigger::Exit] {
                for holds_position in [false, true] {
                    for (ts, trade, intent_id, dirty) in [
                        (5.0, "t1", "i1", false),
                        (0.5, long, long, true),
                        (5.0, long, "i2", true),
                    ] {
                        let mut k = Kernel::new("pair", 2).unwrap();
                        k.dirty.enabled = true;
                        k.dirty.flags = vec![false; 2];
                        if dirty {
                            k.dirty.slot(1);
                        }
                        k.slots[1].fsm_state = *stage;
                        k.slots[1].last_event_time = 1.0;
                        k.slots[1].trade_id = id(trade);
                        if !fsm::is_free(*stage) {
                            k.free.remove(1);
                        }
                        let mut intent = enter(1, 1);
                        intent.intent_id = id(intent_id);
                        intent.timestamp = ts;
                        let ctx = Ctx { holds_position };
                        let mut out = KernelOutcome::ok(1, id(trade), *stage, 7);
                        out.transitions.push(KernelTransition {
                            timestamp: 0.0,
                            trade_id: id(trade),
                            slot_id: 1,
                            prev_state: *stage,
                            next_state: *stage,
                            trigger: "EARLIER",
                            intent_id: id(""),
                            event_id: id("e0"),
                            details: TransitionDetails::Empty,
                        });
                        // The order sent, as new_order leaves it: its id shared or inline.
                        let client = if dirty { long } else { "pair-1" };
                        out.submit =
                            Some(VenueOrder::sample(id(client), id(""), id(trade), id("BTC")));
                        let (mut k2, mut out2) = (k.clone(), out.clone());
                        if k.request_and_submit(&mut out, 1, request, ctx, &intent) {
                            together += 1;
                        } else {
                            assert_eq!(out, out2);
                            assert_eq!(format!("{k:?}"), format!("{k2:?}"));
                            k.request_then_submit(&mut out, 1, request, ctx, &intent);
                        }
                        k2.request_then_submit(&mut out2, 1, request, ctx, &intent);
                        let case = format!("{stage:?} {request:?} {holds_position} {ts} {trade}");
                        assert_eq!(out, out2, "{case}");
                        assert_eq!(format!("{k:?}"), format!("{k2:?}"), "{case}");
                        assert_eq!(k.dirty.drain(), k2.dirty.drain(), "{case}");
                    }
                }
            }
        }
        // An ENTER from a free slot and an EXIT from an open one at least.
        assert!(together >= 6, "{together}");
    }

    #[test]
    fn a_sent_order_counts_as_a_recount_of_its_slot_does() {
        // set_working_to moves the counts by the order it replaces and the one it puts: the
        // same sums as the slot counted again (side_counts_difference recounts every slot).
        let mut k = Kernel::new("sent", 2).unwrap();
        let entry = k.process_intent(&enter(1, 0)).submit.unwrap();
        assert_eq!(k.side_counts_difference(), None);
        let mut fill = VenueEvent::new("f1", KernelEventKind::Fill, &entry.client_order_id);
        fill.price = 100.0;
        fill.size = 0.25;
        assert!(k.on_venue_event(&fill).accepted);
        assert_eq!(k.side_counts_difference(), None);
        // A working entry a quarter filled replaced by a sell and by a buy of other sizes,
        // then a working exit put beside it.
        for (side, size, is_entry) in [
            (OrderSide::Sell, 2.0, true),
            (OrderSide::Buy, 0.5, true),
            (OrderSide::Sell, 0.25, false),
        ] {
            let mut order = k.slots[0].active_entry_order.clone().unwrap();
            order.side = side;
            order.size = size;
            order.filled_size = 0.1;
            order.is_entry = is_entry;
            k.set_working_to(0, &order);
            assert_eq!(
                k.side_counts_difference(),
                None,
                "{side:?} {size} {is_entry}"
            );
        }
        let before = k.sides.counted(0);
        k.set_working_to(0, &k.slots[0].active_exit_order.clone().unwrap());
        assert_eq!(
            k.sides.counted(0),
            before,
            "the same order again moves nothing"
        );
        assert_eq!(k.side_counts_difference(), None);
    }

    #[test]
    fn only_an_entry_owed_a_fill_has_the_caps_look_at_the_kept_orders() {
        // Every entry cancelled unfilled is kept (a fill may race the cancel): were the caps
        // to look at the kept orders from the first, every capped ENTER after walked them all.
        let mut k = Kernel::new("owed", 2).unwrap();
        let first = k.process_intent(&enter(1, 0)).submit.unwrap();
        let ack = VenueEvent::new("a1", KernelEventKind::CancelAck, &first.client_order_id);
        assert!(k.on_venue_event(&ack).accepted);
        assert!(k.ended.get((0, true, false)).is_some(), "the entry is kept");
        assert_eq!(k.ended.owed_entries, 0);
        // An entry the venue ends stating a fill it has not sent.
        let second = k.process_intent(&enter(2, 1)).submit.unwrap();
        let mut end = VenueEvent::new("a2", KernelEventKind::CancelAck, &second.client_order_id);
        end.filled_size = 1.0;
        assert!(k.on_venue_event(&end).accepted);
        assert_eq!(k.ended.owed_entries, 1);
        assert!(!k.ended.quiet_on(&id("BTC")));
        // Counted by asset: another asset's exits do not look at it.
        assert!(k.ended.quiet_on(&id("ETH")));
        assert_eq!(k.total_committed_notional(), 100.0);
        // Once the fill comes, nothing is owed: the caps and the exits look at no kept order
        // again, where a flag set for good had them walk for the rest of the run.
        let mut fill = VenueEvent::new("f2", KernelEventKind::Fill, &second.client_order_id);
        fill.price = 100.0;
        fill.size = 1.0;
        assert!(k.on_venue_event(&fill).accepted);
        assert_eq!((k.ended.owed_entries, k.ended.owed_count), (0, 0));
        assert!(k.ended.quiet_on(&id("BTC")));
        assert_eq!(k.side_counts_difference(), None);
    }

    /// An order filled by a report naming it by its venue id, under `venue_client_id`
    /// (the order's own, another, or none) and the venue id `venue_id` (its client id, or its
    /// own): the kernel and the client and venue ids it remembers as finished.
    fn filled_by(venue_client_id: Option<&str>, venue_id: Option<&str>) -> (Kernel, Id) {
        let mut k = Kernel::new("fp", 1).unwrap();
        let order = k.process_intent(&enter(1, 0)).submit.unwrap();
        let c = order.client_order_id.clone();
        let v = venue_id.map_or_else(|| c.clone(), id);
        let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &c);
        ack.venue_order_id = v.clone();
        assert!(k.on_venue_event(&ack).accepted);
        let mut fill = VenueEvent::new("f1", KernelEventKind::Fill, &c);
        fill.venue_client_id = venue_client_id.map_or_else(|| c.clone(), id);
        fill.venue_order_id = v;
        (fill.price, fill.size, fill.filled_size) = (100.0, 1.0, 1.0);
        assert!(k.on_venue_event(&fill).accepted);
        assert!(
            k.slots[0].active_entry_order.is_none(),
            "the entry is filled"
        );
        (k, c)
    }

    /// The client id's fingerprint made once for a fill (`client_fp`) is the order's: its
    /// completed keys and its memory as finished name the order's client id, whatever id the
    /// report gave, and a venue naming the order by its client id leaves that id remembered.
    #[test]
    fn a_filled_orders_client_id_is_remembered_whichever_id_the_fill_named() {
        for (venue_client_id, venue_id) in [
            (None, None),
            (None, Some("V-1")),
            (Some(""), Some("V-1")),
            (Some("another-1"), Some("V-1")),
        ] {
            let (k, c) = filled_by(venue_client_id, venue_id);
            let case = format!("{venue_client_id:?} {venue_id:?}");
            assert!(k.finished_orders.contains(&fingerprint(&c)), "{case}");
            assert!(
                k.slots[0].seen_fills.contains(completed_key(&c, 1.0)),
                "{case}"
            );
            if let Some(v) = venue_id {
                assert!(k.finished_orders.contains(&fingerprint(v)), "{case}");
            }
            if let Some(other) = venue_client_id.filter(|o| *o != c.as_str()) {
                assert!(!k.finished_orders.contains(&fingerprint(other)), "{case}");
            }
            // One entry for the client id, one more for a venue id of its own.
            let n = 1 + usize::from(venue_id.is_some());
            assert_eq!(k.finished_orders.len(), n, "{case}");
            // And the order is no longer found by its client id (removed where the fill's
            // lookup found it, when the fill named it so).
            assert!(!k.by_client_id.contains_key(&c), "{case}");
            assert_eq!(k.by_client_id.len(), 0, "{case}");
        }
    }

    /// `OrderIndex::get_placed` (an id's place compared as an `Id`) answers as `get`, with
    /// the place whose id has the same text, found by comparing texts: ids in the table, in
    /// the map (no digits, a place taken by another id), shared ids past 23 bytes, and ids
    /// removed, their place's old id left there.
    #[test]
    fn order_index_get_placed_answers_as_get_and_held() {
        let long = "k-a-kernel-id-past-inline-7";
        let held_ids = ["k-001", "k-002", "x-001", "k-abc", "k-1", long, "k-999"];
        let mut index = OrderIndex::default();
        for (sid, text) in held_ids.iter().enumerate() {
            index.insert(id(text), sid);
        }
        let freed = id("k-002");
        index.remove(&freed);
        let long_freed = "k-another-one-past-inline-123";
        index.insert(id(long_freed), 9);
        index.remove(&id(long_freed));
        let probes = held_ids.iter().copied().chain([
            "k-003",
            "",
            "1",
            "k-0001",
            "k-abd",
            long_freed,
            "k-a-kernel-id-past-inline-8",
        ]);
        for text in probes {
            let probe = id(text);
            let placed = index.get_placed(&probe);
            assert_eq!(
                placed.map(|(sid, _)| sid),
                index.get(&probe).copied(),
                "{text}"
            );
            let by_text = OrderIndex::place(text.as_bytes()).filter(|&p| {
                index
                    .table
                    .get(p)
                    .is_some_and(|(c, s)| *s != FREE && c.as_str() == text)
            });
            assert_eq!(placed.and_then(|(_, p)| p), by_text, "{text}");
            assert_eq!(index.held(&probe), by_text, "{text}");
        }
        assert_eq!(index.get_placed(&freed), None);
        assert_eq!(index.get_placed(&id("k-001")), Some((0, Some(1))));
        assert_eq!(index.get_placed(&id("x-001")), Some((2, None)));
    }

    /// `SlotUnits::counts_any` (what `count_off` asks) is `!= SlotUnits::default()`: each
    /// sum alone, signs, the sums' extremes, and sums ORing to bits of both halves.
    #[test]
    fn counts_any_is_any_sum_not_zero() {
        let values = [
            0,
            1,
            -1,
            i128::MAX,
            i128::MIN,
            1 << 64,
            -(1 << 64),
            1e30 as i128,
        ];
        for net in values {
            for w0 in values {
                for w1 in values {
                    let u = SlotUnits {
                        net,
                        working: [w0, w1],
                    };
                    assert_eq!(u.counts_any(), u != SlotUnits::default(), "{u:?}");
                }
            }
        }
    }

    /// The numbers an event's checks let through at one look (`plain_event_numbers`) are ones
    /// the field-by-field checks (`in_bounds`) pass, and every such number but -0.0 in a
    /// non-negative field takes the one look: any other goes to the checks.
    /// The numbers the one-look checks (`plain_numbers`, `plain_event_numbers`) are tried
    /// on in each field: zeros of both signs, the smallest, plain, the bound and one past it,
    /// huge, infinities, NaNs of both signs and negatives.
    const SPECIAL_NUMBERS: [f64; 16] = [
        0.0,
        -0.0,
        5e-324,
        1.0,
        100.0,
        1.7e9,
        MAX_MAGNITUDE,
        f64::from_bits(MAX_MAGNITUDE.to_bits() + 1),
        1e300,
        f64::MAX,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        -1.0,
        -5e-324,
    ];

    #[test]
    fn plain_event_numbers_are_ones_the_checks_pass() {
        let checked = |e: &VenueEvent| {
            in_bounds(e.price, true)
                && in_bounds(e.size, true)
                && in_bounds(e.filled_size, true)
                && in_bounds(e.remaining_size, true)
                && in_bounds(e.retry_after, true)
                && in_bounds(e.timestamp, true)
                && in_bounds(e.fee.unwrap_or(0.0), false)
        };
        // A fee may be negative (a rebate): its bound's negatives too.
        let beyond = f64::from_bits(MAX_MAGNITUDE.to_bits() + 1);
        let values: Vec<f64> = SPECIAL_NUMBERS
            .into_iter()
            .chain([-MAX_MAGNITUDE, -beyond])
            .collect();
        let mut base = VenueEvent::new("e1", KernelEventKind::Fill, &id("c-1"));
        base.price = 100.0;
        base.size = 1.0;
        base.timestamp = 1.7e9;
        assert!(plain_event_numbers(&base) && checked(&base));
        for field in 0..8 {
            for &v in &values {
                let mut e = base.clone();
                match field {
                    0 => e.price = v,
                    1 => e.size = v,
                    2 => e.filled_size = v,
                    3 => e.remaining_size = v,
                    4 => e.retry_after = v,
                    5 => e.timestamp = v,
                    6 => e.fee = Some(v),
                    _ => {
                        e.fee = Some(1.0);
                        e.price = v;
                    }
                }
                let (plain, passes) = (plain_event_numbers(&e), checked(&e));
                assert!(!plain || passes, "field {field} = {v:e}");
                let negative_zero = v == 0.0 && v.is_sign_negative() && field != 6;
                assert_eq!(plain, passes && !negative_zero, "field {field} = {v:e}");
            }
        }
    }

    /// The numbers an intent's checks let through at one look (`plain_numbers`) are ones the
    /// field-by-field checks pass: any number those refuse goes to them.
    #[test]
    fn plain_numbers_are_ones_the_checks_pass() {
        let fields = [
            "reference_price",
            "target_size",
            "leverage",
            "limit_price",
            "timestamp",
        ];
        let checked = |i: &Intent| {
            let numbers = [
                i.reference_price,
                i.target_size,
                i.leverage,
                i.limit_price,
                i.timestamp,
            ];
            fields
                .iter()
                .zip(numbers)
                .all(|(f, v)| v.is_finite() && v >= 0.0 && !too_large(f, v))
        };
        let values = SPECIAL_NUMBERS;
        for (k, field) in fields.iter().enumerate() {
            for v in values {
                let mut i = enter(1, 0);
                i.timestamp = 1.7e9;
                match k {
                    0 => i.reference_price = v,
                    1 => i.target_size = v,
                    2 => i.leverage = v,
                    3 => i.limit_price = v,
                    _ => i.timestamp = v,
                }
                let plain = plain_numbers(&i);
                assert!(!plain || checked(&i), "{field} = {v:e}");
                // The usual numbers take the one look.
                let usual = v.to_bits() <= MAX_MAGNITUDE.to_bits()
                    || (k == 4 && v.is_finite() && v.is_sign_positive());
                assert_eq!(plain, usual, "{field} = {v:e}");
            }
        }
    }

    /// One leg is checked at once (`validate_leg_ratios`'s first case): the same answer as
    /// the walk of the legs and their sum, which any other count of legs takes.
    #[test]
    fn one_leg_checked_as_the_walk_checks_it() {
        let walked = |r: f64| {
            if !r.is_finite() || r <= 0.0 || r > 1.0 {
                return Err("every leg must be a fraction in (0, 1]");
            }
            if r > 1.0 + 1e-9 {
                return Err("legs must not add up to more than 1");
            }
            Ok(())
        };
        let cases = [
            1.0,
            0.5,
            f64::MIN_POSITIVE,
            5e-324,
            1.0 - f64::EPSILON,
            1.0 + f64::EPSILON,
            1.0 + 1e-10,
            0.0,
            -0.0,
            -0.5,
            2.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
        ];
        for r in cases {
            assert_eq!(validate_leg_ratios(&[r]), walked(r), "{r}");
        }
        // Two legs still walk: a bad one, and a sum above 1.
        assert!(validate_leg_ratios(&[0.5, f64::NAN]).is_err());
        assert_eq!(
            validate_leg_ratios(&[0.6, 0.6]),
            Err("legs must not add up to more than 1")
        );
        assert_eq!(validate_leg_ratios(&[0.5, 0.5]), Ok(()));
    }
}
