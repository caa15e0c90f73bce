//! The data the kernel takes in and hands out: intents, venue and account events, orders,
//! slots, transitions and outcomes.

use crate::error::{
    check_numbers, check_timestamp, format_number as shown, KernelError, KernelResult,
};
use crate::kernel::QTY_EPS;
use crate::types::*;
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// A strategy's request for one slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub intent_id: Id,
    pub trade_id: Id,
    pub slot_id: i64,
    pub asset: Id,
    pub side: TradeSide,
    pub action: KernelCommandType,
    pub reference_price: f64,
    pub target_size: f64,
    pub leverage: f64,
    pub exit_leg_ratios: Vec<f64>,
    pub order_type: OrderType,
    pub limit_price: f64,
    pub reason: String,
    pub metadata: Metadata,
    pub timestamp: f64,
}

impl Intent {
    /// An intent with the constructor's defaults; tests and benches fill in the rest.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        intent_id: &str,
        trade_id: &str,
        slot_id: i64,
        asset: &str,
        side: TradeSide,
        action: KernelCommandType,
        reference_price: f64,
        target_size: f64,
    ) -> Self {
        Intent {
            intent_id: id(intent_id),
            trade_id: id(trade_id),
            slot_id,
            asset: id(asset),
            side,
            action,
            reference_price,
            target_size,
            leverage: 1.0,
            exit_leg_ratios: vec![1.0],
            order_type: OrderType::Market,
            limit_price: 0.0,
            reason: String::new(),
            metadata: Metadata::new(),
            timestamp: 0.0,
        }
    }
}

/// What a venue said about an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VenueEvent {
    pub event_id: Id,
    pub trade_id: Id,
    pub slot_id: i64,
    pub kind: KernelEventKind,
    pub status: VenueOrderStatus,
    pub venue_order_id: Id,
    pub venue_client_id: Id,
    pub side: Option<OrderSide>,
    pub asset: Id,
    pub price: f64,
    pub size: f64,
    pub filled_size: f64,
    pub remaining_size: f64,
    pub reason: String,
    pub metadata: Metadata,
    pub timestamp: f64,
    pub fill_id: Id,
    pub fee: Option<f64>,
    pub retry_after: f64,
}

impl VenueEvent {
    pub fn new(event_id: &str, kind: KernelEventKind, client_order_id: &Id) -> Self {
        VenueEvent {
            event_id: id(event_id),
            trade_id: id(""),
            slot_id: -1,
            kind,
            status: kind.implied_status(),
            venue_order_id: id(""),
            venue_client_id: client_order_id.clone(),
            side: None,
            asset: id(""),
            price: 0.0,
            size: 0.0,
            filled_size: 0.0,
            remaining_size: 0.0,
            reason: String::new(),
            metadata: Metadata::new(),
            timestamp: 0.0,
            fill_id: id(""),
            fee: None,
            retry_after: 0.0,
        }
    }

    /// The id a fill is known by: the venue's trade id, or the event id when it gives none.
    pub fn fill_key(&self) -> &Id {
        if self.fill_id.is_empty() {
            &self.event_id
        } else {
            &self.fill_id
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountEvent {
    pub event_id: Id,
    pub kind: AccountEventKind,
    pub asset: Id,
    pub amount: f64,
    pub fee: f64,
    pub fill_id: Id,
    pub wallet_balance: Option<f64>,
    pub available_margin: Option<f64>,
    pub used_margin: Option<f64>,
    pub maint_margin: Option<f64>,
    pub timestamp: f64,
}

impl AccountEvent {
    pub fn new(event_id: &str, kind: AccountEventKind) -> Self {
        AccountEvent {
            event_id: id(event_id),
            kind,
            asset: id(""),
            amount: 0.0,
            fee: 0.0,
            fill_id: id(""),
            wallet_balance: None,
            available_margin: None,
            used_margin: None,
            maint_margin: None,
            timestamp: 0.0,
        }
    }
}

/// An order the kernel handed (or will hand) to a venue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VenueOrder {
    pub client_order_id: Id,
    pub venue_order_id: Id,
    pub slot_id: usize,
    pub trade_id: Id,
    pub asset: Id,
    pub side: OrderSide,
    pub order_type: OrderType,
    pub price: f64,
    pub reference_price: f64,
    pub size: f64,
    pub filled_size: f64,
    pub avg_fill_price: f64,
    pub status: VenueOrderStatus,
    pub reduce_only: bool,
    pub cancel_requested: bool,
    pub created_at: f64,
    /// True for the order that opens the position, false for an exit.
    pub is_entry: bool,
}

/// For tests: an order partly filled with every field away from its default and the ids given.
#[cfg(test)]
impl VenueOrder {
    pub(crate) fn sample(client: Id, venue: Id, trade: Id, asset: Id) -> VenueOrder {
        VenueOrder {
            client_order_id: client,
            venue_order_id: venue,
            slot_id: 3,
            trade_id: trade,
            asset,
            side: OrderSide::Sell,
            order_type: OrderType::Limit,
            price: 5.0,
            reference_price: 5.5,
            size: 2.0,
            filled_size: 0.5,
            avg_fill_price: 5.0,
            status: VenueOrderStatus::PartiallyFilled,
            reduce_only: true,
            cancel_requested: true,
            created_at: 4.0,
            is_entry: true,
        }
    }
}

impl VenueOrder {
    pub fn remaining(&self) -> f64 {
        (self.size - self.filled_size).max(0.0)
    }

    /// Checks an order's numbers when it comes from outside the kernel (a caller's
    /// `VenueOrder`, a loaded slot's working order), each field named `field(name)`: finite,
    /// non-negative prices and size, no more filled than the size, a finite time.
    pub fn check(&self, field: impl Fn(&str) -> String) -> KernelResult<()> {
        check_numbers(
            &field,
            &[
                ("price", self.price),
                ("reference_price", self.reference_price),
                ("size", self.size),
                ("filled_size", self.filled_size),
                ("avg_fill_price", self.avg_fill_price),
            ],
            0.0,
        )?;
        if self.filled_size > self.size * (1.0 + 1e-9) + QTY_EPS {
            return Err(KernelError::invalid(
                &field("filled_size"),
                shown(self.filled_size),
                "must not be more than the order's size",
            ));
        }
        check_timestamp(&field("created_at"), self.created_at)?;
        Ok(())
    }
}

/// A bounded memory of recently seen keys: idempotency that never grows without bound.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecentSet<K: Eq + Hash + Clone> {
    order: VecDeque<K>,
    members: HashSet<K, ahash::RandomState>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone> RecentSet<K> {
    pub fn new(capacity: usize) -> Self {
        RecentSet {
            order: VecDeque::new(),
            members: HashSet::default(),
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, k: &K) -> bool {
        self.members.contains(k)
    }

    /// Remembers `k`; returns false if it was already known.
    pub fn insert(&mut self, k: K) -> bool {
        if !self.members.insert(k.clone()) {
            return false;
        }
        self.order.push_back(k);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.members.remove(&old);
            }
        }
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn clear(&mut self) {
        self.order.clear();
        self.members.clear();
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &K> {
        self.order.iter()
    }
}

impl<K: Eq + Hash + Clone> PartialEq for RecentSet<K> {
    fn eq(&self, other: &Self) -> bool {
        self.order == other.order && self.capacity == other.capacity
    }
}

/// 2^64 divided by the golden ratio: multiplying by it spreads a key's bits into the top
/// bits, which is where `ProbeTable::home` and `tag` take theirs from.
const FIBONACCI_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn mixed(hash: u64) -> u64 {
    hash.wrapping_mul(FIBONACCI_MIX)
}

/// Whether the entry in slot `i`, whose home slot is `home`, may move back into the empty
/// slot `hole` as a removal closes up a linear-probing run: unless its home lies in
/// `(hole, i]`, taken cyclically, moving it keeps it reachable from its home. Both tables'
/// backward shift asks this.
#[inline]
fn may_fill_hole(hole: usize, home: usize, i: usize) -> bool {
    let between = if hole <= i {
        hole < home && home <= i
    } else {
        hole < home || home <= i
    };
    !between
}

/// Linear-probing slots of `u64` entries in one flat power-of-two table, `EMPTY` (0) marking
/// a free slot. What an entry means, and the hash it was placed by, is up to the owner; the
/// unsettled fills' [`FifoMap`] keeps its entries here so that a lookup, an insert and an
/// eviction each touch about one cache line (the fingerprint memories use the half-size
/// [`CompactTable`]).
#[derive(Clone, Debug, Default)]
struct ProbeTable {
    slots: Vec<u64>,
}

impl ProbeTable {
    /// A table for up to `capacity` entries: at least twice that, so probe runs stay short.
    fn for_capacity(capacity: usize) -> Self {
        ProbeTable {
            slots: vec![EMPTY; (capacity * 2).next_power_of_two().max(8)],
        }
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        self.home_of_mixed(mixed(hash))
    }

    /// Fibonacci hashing: the top bits of the mixed hash index the table.
    #[inline]
    fn home_of_mixed(&self, mixed: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (mixed >> (64 - bits)) as usize
    }

    /// From `hash`'s home on: the slot of the first entry `is` accepts, or the empty slot
    /// where such an entry would go.
    #[inline(always)]
    fn find(&self, hash: u64, mut is: impl FnMut(u64) -> bool) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        loop {
            match self.slots[i] {
                EMPTY => return (i, false),
                e if is(e) => return (i, true),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Empties slot `hole`, shifting later entries of its probe run back; `mixed_of` gives
    /// the mixed hash (see [`mixed`]) each entry was placed by, or at least its top 32 bits.
    fn remove_at(&mut self, mut hole: usize, mixed_of: impl Fn(u64) -> u64) {
        let mask = self.slots.len() - 1;
        let mut i = hole;
        loop {
            i = (i + 1) & mask;
            let e = self.slots[i];
            if e == EMPTY {
                break;
            }
            let home = self.home_of_mixed(mixed_of(e));
            if may_fill_hole(hole, home, i) {
                self.slots[hole] = e;
                hole = i;
            }
        }
        self.slots[hole] = EMPTY;
    }

    /// Starts loading the line where a lookup of `hash` begins (see [`prefetch`]).
    #[inline]
    fn prefetch(&self, hash: u64) {
        if !self.is_empty() {
            prefetch(&self.slots[self.home(hash)]);
        }
    }
}

/// Linear-probing slots of `u32` entries, half the size of a [`ProbeTable`]'s, so that the
/// kernel-wide memories' tables, looked up at a random place for every new key, stay in the
/// core's own cache far more often than tables of `u64`s did. An entry names its key by a
/// position (an index into the owner's ring or queue, where the full key is) and filters it
/// by how far it sits from its home slot and by a few more bits of its mixed hash (its tag):
/// a lookup reads a key only for an entry with the same home and tag, about one in a few
/// thousand for a key that is not there. An entry is
///
///   tag (the bits left) | 1 + distance from home, 30 and over as 31 (5 bits) | position
///
/// so no entry is `EMPTY` (0). Removal shifts later entries of the run back, which needs each
/// one's home: its distance gives it, unless that is 30 or more (a run of that length is
/// rare), when the owner's `mixed_of` is asked for the key's mixed hash.
#[derive(Clone, Debug, Default)]
struct CompactTable {
    slots: Vec<u32>,
    /// `64 -` the table's index bits: the top ones of a mixed hash are its home.
    home_shift: u32,
    /// `32 -` the table's index bits: what brings the mixed hash's bits just below the
    /// home's to an entry's top (its tag's place).
    tag_shift: u32,
    /// Bits of an entry's position.
    position_bits: u32,
    /// Where an entry's tag goes; the tag is the mixed hash's bits just below the home's.
    tag_mask: u32,
    /// Where its tag and distance go: the fields a lookup compares.
    filter_mask: u32,
    /// A distance field of 1 (the home slot), and the far one ([`FAR`]): each lookup's, made
    /// once.
    one: u32,
    far: u32,
}

const DISTANCE_BITS: u32 = 5;
/// The distance field of an entry 30 or more slots from its home.
const FAR: u32 = (1 << DISTANCE_BITS) - 1;

impl CompactTable {
    /// A table for up to `capacity` entries (at least twice that many slots, so probe runs
    /// stay short) whose positions are below `positions`, at most 2^27.
    fn new(capacity: usize, positions: usize) -> Self {
        let len = (capacity * 2).next_power_of_two().max(8);
        let position_bits = positions.next_power_of_two().trailing_zeros();
        debug_assert!(position_bits + DISTANCE_BITS <= 32);
        let tag_mask = u32::MAX
            .checked_shl(position_bits + DISTANCE_BITS)
            .unwrap_or(0);
        let index_bits = len.trailing_zeros();
        CompactTable {
            slots: vec![0; len],
            home_shift: 64 - index_bits,
            tag_shift: 32 - index_bits,
            position_bits,
            tag_mask,
            filter_mask: tag_mask | FAR << position_bits,
            one: 1 << position_bits,
            far: FAR << position_bits,
        }
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    #[inline]
    fn home(&self, mixed: u64) -> usize {
        (mixed >> self.home_shift) as usize
    }

    /// The mixed hash's 32 bits below the home's, masked to the tag's place.
    #[inline]
    fn tag(&self, mixed: u64) -> u32 {
        (mixed >> self.tag_shift) as u32 & self.tag_mask
    }

    #[inline]
    fn position_mask(&self) -> u32 {
        (1 << self.position_bits) - 1
    }

    /// The position of entry `e`.
    #[inline]
    fn position(&self, e: u32) -> u32 {
        e & self.position_mask()
    }

    /// The distance field for an entry `distance` slots from its home.
    #[inline]
    fn distance_field(&self, distance: usize) -> u32 {
        (distance.min(FAR as usize - 1) as u32 + 1) << self.position_bits
    }

    /// From the home of the key with mixed hash `mixed` on: the slot of the first entry
    /// with its home and tag that `is` accepts, or the empty slot where it would go. Also
    /// the tag and distance an entry in that slot has (see `put`).
    #[inline]
    fn find(&self, mixed: u64, mut is: impl FnMut(u32) -> bool) -> Probe {
        let mask = self.slots.len() - 1;
        let (one, far) = (self.one, self.far);
        let mut want = self.tag(mixed) | one;
        let mut i = self.home(mixed);
        loop {
            let e = self.slots[i];
            if e == EMPTY32 {
                return Probe {
                    at: i,
                    found: false,
                    fields: want,
                };
            }
            if e & self.filter_mask == want && is(e) {
                return Probe {
                    at: i,
                    found: true,
                    fields: want,
                };
            }
            i = (i + 1) & mask;
            if want & far != far {
                want += one;
            }
        }
    }

    /// Fills the empty slot `probe` found with an entry naming `position`.
    #[inline]
    fn put(&mut self, probe: Probe, position: u32) {
        self.slots[probe.at] = probe.fields | position;
    }

    /// Empties slot `hole`, shifting later entries of its probe run back; `mixed_of` gives
    /// the mixed hash (see [`mixed`]) of an entry's key, asked for only when the entry is
    /// too far from its home for the entry to tell.
    fn remove_at(&mut self, mut hole: usize, mixed_of: impl Fn(u32) -> u64) {
        let mask = self.slots.len() - 1;
        let mut i = hole;
        loop {
            i = (i + 1) & mask;
            let e = self.slots[i];
            if e == EMPTY32 {
                break;
            }
            let field = (e >> self.position_bits) & FAR;
            let home = if field < FAR {
                i.wrapping_sub(field as usize - 1) & mask
            } else {
                self.home(mixed_of(e))
            };
            if may_fill_hole(hole, home, i) {
                let distance = hole.wrapping_sub(home) & mask;
                self.slots[hole] = e & !(FAR << self.position_bits) | self.distance_field(distance);
                hole = i;
            }
        }
        self.slots[hole] = EMPTY32;
    }

    /// Starts loading the line where a lookup of the key with mixed hash `mixed` begins.
    #[inline]
    fn prefetch(&self, mixed: u64) {
        if !self.is_empty() {
            prefetch(&self.slots[self.home(mixed)]);
        }
    }

    /// For tests: keeps only `bits` bits of each tag (none at 0), so that keys of one home
    /// are told apart only by reading them.
    #[cfg(test)]
    fn narrow_tags(&mut self, bits: u32) {
        self.tag_mask &= !(u32::MAX.checked_shr(bits).unwrap_or(0));
    }
}

const EMPTY32: u32 = 0;

/// What [`CompactTable::find`] found: a slot, whether it holds the key, and the tag and
/// distance fields of an entry for the key in that slot.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Probe {
    at: usize,
    found: bool,
    fields: u32,
}

/// A bounded memory of recent 64-bit fingerprints (see `types::fingerprint`) with FIFO
/// eviction: the kernel-wide idempotency memories (100,000 intents, 50,000 orders), touched
/// on every intent and order. The fingerprints sit in a ring in insertion order; a
/// [`CompactTable`] finds them by their ring index, so the only place a lookup reads at
/// random is a table of 4-byte entries, and pushing out the oldest finds its entry by that
/// index without reading any fingerprint. Serialized exactly like `RecentSet<u64>`
/// (insertion order, members, capacity), so checkpoints written before it still load.
#[derive(Clone, Debug)]
pub struct FingerprintSet {
    /// Fingerprints in insertion order (a ring once full); `head` is the oldest.
    ring: Vec<u64>,
    head: usize,
    /// An entry for each fingerprint in the ring, placed by its value, naming its index.
    table: CompactTable,
    capacity: usize,
}

/// A fingerprint of 0 is stored as 1 (the table's empty marker is 0); the odds that this
/// merges two live ids are those of any other 64-bit collision.
const EMPTY: u64 = 0;

#[inline]
fn stored(fp: u64) -> u64 {
    fp.max(1)
}

/// The most fingerprints a [`FingerprintSet`] keeps: ring indices must fit a table entry
/// beside its tag and distance (the kernel keeps 100,000).
const FINGERPRINT_SET_MAX_CAPACITY: usize = 1 << 27;

/// A fingerprint looked up in a [`FingerprintSet`]: whether it is known and, once the set
/// has a table, where it is or would go. A check for a duplicate and the insert after it
/// look for it once (twice was 0.6 % of a trade cycle).
#[derive(Clone, Copy, Debug)]
pub struct LookedUp {
    key: u64,
    probe: Option<Probe>,
}

impl LookedUp {
    pub fn found(&self) -> bool {
        self.probe.is_some_and(|p| p.found)
    }
}

impl FingerprintSet {
    /// At most 2^27 fingerprints.
    pub fn new(capacity: usize) -> Self {
        FingerprintSet {
            ring: Vec::new(),
            head: 0,
            table: CompactTable::default(),
            capacity: capacity.clamp(1, FINGERPRINT_SET_MAX_CAPACITY),
        }
    }

    /// The table slot of `key`, or the empty slot where it would go.
    #[inline]
    fn find(&self, key: u64) -> Probe {
        let ring = &self.ring;
        let table = &self.table;
        table.find(mixed(key), |e| ring[table.position(e) as usize] == key)
    }

    pub fn contains(&self, fp: &u64) -> bool {
        !self.table.is_empty() && self.find(stored(*fp)).found
    }

    /// Starts loading what inserting `fps` will touch (see [`prefetch`]): the table lines
    /// of each and of the oldest entries they will push out.
    #[inline(always)]
    pub fn prefetch_insert(&self, fps: &[u64]) {
        for &fp in fps {
            self.table.prefetch(mixed(stored(fp)));
        }
        if self.ring.len() == self.capacity {
            for k in 0..fps.len() {
                self.table
                    .prefetch(mixed(self.ring[(self.head + k) % self.capacity]));
            }
        }
    }

    /// Whether `fp` is known, and where it is or would go: what
    /// [`FingerprintSet::insert_looked_up`] takes, while the set is unchanged.
    pub fn look_up(&self, fp: u64) -> LookedUp {
        let key = stored(fp);
        LookedUp {
            key,
            probe: (!self.table.is_empty()).then(|| self.find(key)),
        }
    }

    /// Remembers `fp`; returns false if it was already known.
    pub fn insert(&mut self, fp: u64) -> bool {
        self.insert_looked_up(LookedUp {
            key: stored(fp),
            probe: None,
        })
    }

    /// [`FingerprintSet::insert`] of what `looked` looked up, which must be this set
    /// unchanged since: its place in the table is not looked for again. Inlined where the
    /// ring has room (a push and the entry written); the first insert (the table made) and
    /// one pushing out the oldest go out of line.
    #[inline]
    pub fn insert_looked_up(&mut self, looked: LookedUp) -> bool {
        let key = looked.key;
        let Some(probe) = looked.probe else {
            return self.insert_unlooked(key);
        };
        debug_assert!(self.find(key) == probe, "the set changed since the lookup");
        if probe.found {
            return false;
        }
        if self.ring.len() < self.capacity {
            self.ring.push(key);
            self.table.put(probe, (self.ring.len() - 1) as u32);
        } else {
            self.insert_replacing_oldest(key);
        }
        true
    }

    /// [`FingerprintSet::insert_looked_up`] of a key not looked up (the table may not be
    /// made yet).
    #[inline(never)]
    fn insert_unlooked(&mut self, key: u64) -> bool {
        if self.table.is_empty() {
            self.table = CompactTable::new(self.capacity, self.capacity);
        }
        let probe = self.find(key);
        self.insert_looked_up(LookedUp {
            key,
            probe: Some(probe),
        })
    }

    /// Puts `key`, not in the full set, where the oldest was: the oldest goes first, found
    /// by its index (its entry is the one naming the index the new fingerprint takes over).
    /// Removing it may shift entries back into the slot found for the new one, so that is
    /// looked for again (a line in cache).
    #[inline(never)]
    fn insert_replacing_oldest(&mut self, key: u64) {
        let oldest = self.head;
        let gone = self.table.find(mixed(self.ring[oldest]), |e| {
            e & self.table.position_mask() == oldest as u32
        });
        debug_assert!(gone.found, "every fingerprint in the ring has its entry");
        let ring = &self.ring;
        let positions = self.table.position_mask();
        self.table
            .remove_at(gone.at, |e| mixed(ring[(e & positions) as usize]));
        let probe = self.table.find(mixed(key), |_| false);
        self.ring[oldest] = key;
        self.head = (self.head + 1) % self.capacity;
        self.table.put(probe, oldest as u32);
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Oldest first.
    fn in_order(&self) -> impl Iterator<Item = &u64> {
        self.ring[self.head..].iter().chain(&self.ring[..self.head])
    }

    /// For tests: a set whose table keeps only `bits` bits of each tag.
    #[cfg(test)]
    fn with_narrow_tags(capacity: usize, bits: u32) -> Self {
        let mut set = FingerprintSet::new(capacity);
        set.table = CompactTable::new(set.capacity, set.capacity);
        set.table.narrow_tags(bits);
        set
    }
}

impl PartialEq for FingerprintSet {
    fn eq(&self, other: &Self) -> bool {
        self.capacity == other.capacity && self.in_order().eq(other.in_order())
    }
}

impl Serialize for FingerprintSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let order: Vec<u64> = self.in_order().copied().collect();
        let mut st = s.serialize_struct("RecentSet", 3)?;
        st.serialize_field("order", &order)?;
        st.serialize_field("members", &order)?;
        st.serialize_field("capacity", &self.capacity)?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for FingerprintSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Stored {
            order: Vec<u64>,
            #[allow(dead_code)]
            members: Vec<u64>,
            capacity: usize,
        }
        let st = Stored::deserialize(d)?;
        let mut set = FingerprintSet::new(st.capacity);
        for fp in st.order {
            set.insert(fp);
        }
        Ok(set)
    }
}

/// Values by id, oldest first, for the kernel's fees waiting for the exchange's settlement:
/// at most `capacity` values are live, and the queue keeps at most twice that many places (a
/// value taken out early leaves its place behind until the place reaches the front). The
/// oldest value goes when either bound is passed. Kept in a [`ProbeTable`] by the id's
/// fingerprint, with the id checked on every match, so it is exact; an insert can be
/// prefetched before the input needs it. Stored in checkpoints as the map of live values
/// and the queue of places' ids, the two fields it replaced.
///
/// A table entry carries the top 32 bits of its id's mixed hash beside its place's position,
/// so probing past other entries, and shifting them back on removal, never reads a place:
/// the places are far larger than the table and each read of one is a wait on memory.
#[derive(Clone, Debug)]
pub struct FifoMap<V> {
    places: VecDeque<Place<V>>,
    /// The position (counted since the map was made) of `places[0]`.
    front: u64,
    /// Entries of live values (see [`FifoMap::entry`]), placed by the id's hash.
    table: ProbeTable,
    live: usize,
    capacity: usize,
}

#[derive(Clone, Debug)]
struct Place<V> {
    id: Id,
    hash: u64,
    value: Option<V>,
}

/// The high half of an entry: the top bits of the mixed hash, which also give its home.
const ENTRY_TAG: u64 = 0xFFFF_FFFF_0000_0000;
/// Set in every entry, so that none is `EMPTY`.
const ENTRY_USED: u64 = 1 << 31;
/// The low 31 bits of a place's position. Only differences between live positions are ever
/// read from them, and those stay below `2 * capacity + 1`, so positions may wrap.
const ENTRY_POSITION: u64 = ENTRY_USED - 1;
/// Keeps `2 * capacity + 1` positions below `ENTRY_POSITION` and the table's index within
/// the tag's 32 bits.
const FIFO_MAP_MAX_CAPACITY: usize = 1 << 28;
/// How many places ahead of the front are kept loading, so that pushing out the oldest, one
/// per insert once full, finds its place in cache.
const FRONT_AHEAD: usize = 8;

impl<V> FifoMap<V> {
    /// At most 2^28 values (the kernel keeps 100,000).
    pub fn new(capacity: usize) -> Self {
        FifoMap {
            places: VecDeque::new(),
            front: 0,
            table: ProbeTable::default(),
            live: 0,
            capacity: capacity.clamp(1, FIFO_MAP_MAX_CAPACITY),
        }
    }

    /// Live values.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The table entry of a place with id hash `hash` at `position`.
    #[inline]
    fn entry(hash: u64, position: u64) -> u64 {
        (mixed(hash) & ENTRY_TAG) | ENTRY_USED | (position & ENTRY_POSITION)
    }

    /// Where in `places` the place of table entry `entry` is.
    #[inline]
    fn index(front: u64, entry: u64) -> usize {
        ((entry.wrapping_sub(front)) & ENTRY_POSITION) as usize
    }

    fn place(&self, entry: u64) -> &Place<V> {
        &self.places[Self::index(self.front, entry)]
    }

    /// The table slot of `id`'s live value.
    fn find(&self, id: &Id, hash: u64) -> (usize, bool) {
        self.find_inline(id, hash)
    }

    /// [`FifoMap::find`], inlined where a value is put (an unsettled fill, once a fill): the
    /// call was some 37 instructions, 16 of them saving and restoring registers.
    #[inline(always)]
    fn find_inline(&self, id: &Id, hash: u64) -> (usize, bool) {
        if self.table.is_empty() {
            return (0, false);
        }
        let tag = mixed(hash) & ENTRY_TAG;
        self.table.find(hash, |e| {
            e & ENTRY_TAG == tag && self.place(e).hash == hash && self.place(e).id == *id
        })
    }

    pub fn get(&self, id: &Id) -> Option<&V> {
        let (at, found) = self.find(id, stored(fingerprint(id)));
        found.then(|| self.place(self.table.slots[at]).value.as_ref())?
    }

    pub fn get_mut(&mut self, id: &Id) -> Option<&mut V> {
        let (at, found) = self.find(id, stored(fingerprint(id)));
        if !found {
            return None;
        }
        let i = Self::index(self.front, self.table.slots[at]);
        self.places[i].value.as_mut()
    }

    /// Starts loading what inserting the id of fingerprint `fp` will touch (see
    /// [`prefetch`]): its table line and, when the insert will push the oldest value out,
    /// that one's.
    pub fn prefetch_insert(&self, fp: u64) {
        self.table.prefetch(stored(fp));
        if self.live >= self.capacity || self.places.len() >= 2 * self.capacity {
            if let Some(oldest) = self.places.front().filter(|p| p.value.is_some()) {
                self.table.prefetch(oldest.hash);
            }
        }
    }

    /// Puts `value` under `id`: in place if `id` is live (its place in the queue kept),
    /// else at the back. Returns the value it replaced. Call `pop_over_capacity` after.
    pub fn insert(&mut self, id: Id, value: V) -> Option<V> {
        self.insert_with(id, value, |live, value| std::mem::replace(live, value))
    }

    /// [`FifoMap::insert`], but when `id` is live `merge` gets its value and `value` to make
    /// of them what it likes (its place in the queue kept), and its answer is returned. One
    /// lookup either way. Call `pop_over_capacity` after.
    #[inline]
    pub fn insert_with<R>(
        &mut self,
        id: Id,
        value: V,
        merge: impl FnOnce(&mut V, V) -> R,
    ) -> Option<R> {
        let fp = fingerprint(&id);
        self.insert_with_fp(id, fp, value, merge)
    }

    /// [`FifoMap::insert_with`] of `id` whose [`fingerprint`] the caller made: `fp`.
    #[inline]
    pub fn insert_with_fp<R>(
        &mut self,
        id: Id,
        fp: u64,
        value: V,
        merge: impl FnOnce(&mut V, V) -> R,
    ) -> Option<R> {
        debug_assert_eq!(fp, fingerprint(&id), "the fingerprint of the id inserted");
        if self.table.is_empty() {
            // The table holds live values only: at most `capacity`, one more until popped.
            self.table = ProbeTable::for_capacity(self.capacity + 1);
        }
        let hash = stored(fp);
        let (at, found) = self.find_inline(&id, hash);
        if found {
            let i = Self::index(self.front, self.table.slots[at]);
            let live = self.places[i]
                .value
                .as_mut()
                .expect("a live entry has its value");
            return Some(merge(live, value));
        }
        let position = self.front + self.places.len() as u64;
        self.table.slots[at] = Self::entry(hash, position);
        self.places.push_back(Place {
            id,
            hash,
            value: Some(value),
        });
        self.live += 1;
        None
    }

    /// While a bound is passed: drops the oldest places, returning the next live value it
    /// pushes out (None once both bounds hold).
    pub fn pop_over_capacity(&mut self) -> Option<V> {
        while self.live > self.capacity || self.places.len() > 2 * self.capacity {
            if let Some(ahead) = self.places.get(FRONT_AHEAD) {
                prefetch(ahead);
            }
            let place = self.places.front()?;
            let value = if place.value.is_some() {
                let entry = Self::entry(place.hash, self.front);
                let (at, found) = self.table.find(place.hash, |e| e == entry);
                debug_assert!(found, "a live place has its table entry");
                self.take_at(at)
            } else {
                None
            };
            self.places.pop_front();
            self.front += 1;
            if value.is_some() {
                return value;
            }
        }
        None
    }

    /// Takes `id`'s value out; its place stays in the queue until it reaches the front.
    pub fn take(&mut self, id: &Id) -> Option<V> {
        let (at, found) = self.find(id, stored(fingerprint(id)));
        found.then(|| self.take_at(at))?
    }

    /// Takes out the value of the place that table slot `at` names, and the slot with it.
    fn take_at(&mut self, at: usize) -> Option<V> {
        let i = Self::index(self.front, self.table.slots[at]);
        self.table.remove_at(at, |e| e & ENTRY_TAG);
        self.live -= 1;
        self.places[i].value.take()
    }

    /// Live values, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&Id, &V)> {
        self.places
            .iter()
            .filter_map(|p| p.value.as_ref().map(|v| (&p.id, v)))
    }

    /// Live values, oldest first, to change in place.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Id, &mut V)> {
        self.places
            .iter_mut()
            .filter_map(|p| p.value.as_mut().map(|v| (&p.id, v)))
    }
}

impl<V: PartialEq> PartialEq for FifoMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.capacity == other.capacity
            && self.places.len() == other.places.len()
            && self
                .places
                .iter()
                .zip(&other.places)
                .all(|(a, b)| a.id == b.id && a.value == b.value)
    }
}

impl<V: Serialize> Serialize for FifoMap<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Live<'a, V>(&'a FifoMap<V>);
        impl<V: Serialize> Serialize for Live<'_, V> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                // The length up front: bincode cannot write a map without it.
                let mut m = s.serialize_map(Some(self.0.live))?;
                for (id, v) in self.0.iter() {
                    m.serialize_entry(id, v)?;
                }
                m.end()
            }
        }
        let order: Vec<&Id> = self.places.iter().map(|p| &p.id).collect();
        let mut st = s.serialize_struct("FifoMap", 2)?;
        st.serialize_field("unsettled", &Live(self))?;
        st.serialize_field("unsettled_order", &order)?;
        st.end()
    }
}

impl<V> FifoMap<V> {
    /// From checkpoint fields: live values by id and the queue of places. A live value's
    /// place is the last one with its id (a value put under a live id keeps its place, so
    /// any earlier place of that id was taken out); every other place was taken out. The
    /// capacity is not stored: it is the kernel's constant.
    pub fn from_parts(
        mut values: ahash::AHashMap<Id, V>,
        order: VecDeque<Id>,
        capacity: usize,
    ) -> Self {
        let mut last: ahash::AHashMap<&Id, usize> = ahash::AHashMap::new();
        for (i, id) in order.iter().enumerate() {
            if values.contains_key(id) {
                last.insert(id, i);
            }
        }
        let mut live_at = vec![false; order.len()];
        for &i in last.values() {
            live_at[i] = true;
        }
        drop(last);
        let mut map = FifoMap::new(capacity);
        for (id, live) in order.into_iter().zip(live_at) {
            match live.then(|| values.remove(&id)).flatten() {
                Some(v) => {
                    map.insert(id, v);
                }
                None => {
                    let hash = stored(fingerprint(&id));
                    map.places.push_back(Place {
                        id,
                        hash,
                        value: None,
                    });
                }
            }
        }
        // Values without a place (not written so): at the back, in id order, so that two
        // restores of one checkpoint agree.
        let mut rest: Vec<(Id, V)> = values.into_iter().collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, v) in rest {
            map.insert(id, v);
        }
        map
    }
}

/// A set of slot indices as a two-level bitmap: insert, remove and the lowest member are O(1)
/// for any realistic `max_slots` and touch one or two words, where a B-tree of 10,000 slots
/// chased three or four nodes; iteration is in ascending order, as the B-tree's was (sums
/// over open slots come out bit for bit the same). Stored in checkpoints as the ascending
/// list of members, exactly like the `BTreeSet<usize>` it replaced. Two sets are equal when
/// their members are: words emptied by removals stay allocated in memory, not in a checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<usize>", into = "Vec<usize>")]
pub struct SlotSet {
    words: Vec<u64>,
    /// Bit `w` set when `words[w]` is not zero.
    summary: Vec<u64>,
    len: usize,
}

impl SlotSet {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Adds `i`; false if it was there.
    #[inline]
    pub fn insert(&mut self, i: usize) -> bool {
        let w = i / 64;
        if w >= self.words.len() {
            self.grow(w);
        }
        let bit = 1u64 << (i % 64);
        if self.words[w] & bit != 0 {
            return false;
        }
        self.words[w] |= bit;
        self.summary[w / 64] |= 1 << (w % 64);
        self.len += 1;
        true
    }

    /// Makes room for word `w` (and its summary bit): what [`SlotSet::insert`] does the first
    /// time a set holds a slot that far, out of its usual path.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, w: usize) {
        self.words.resize(w + 1, 0);
        self.summary.resize(w / 64 + 1, 0);
    }

    /// Takes `i` out; false if it was not there.
    pub fn remove(&mut self, i: usize) -> bool {
        if !self.contains(i) {
            return false;
        }
        let w = i / 64;
        self.words[w] &= !(1u64 << (i % 64));
        if self.words[w] == 0 {
            self.summary[w / 64] &= !(1u64 << (w % 64));
        }
        self.len -= 1;
        true
    }

    pub fn first(&self) -> Option<usize> {
        self.iter().next()
    }

    pub fn clear(&mut self) {
        self.words.clear();
        self.summary.clear();
        self.len = 0;
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let bits = |mut x: u64| {
            std::iter::from_fn(move || {
                (x != 0).then(|| {
                    let b = x.trailing_zeros() as usize;
                    x &= x - 1;
                    b
                })
            })
        };
        self.summary.iter().enumerate().flat_map(move |(s, &sw)| {
            bits(sw).flat_map(move |b| {
                let w = s * 64 + b;
                bits(self.words[w]).map(move |i| w * 64 + i)
            })
        })
    }
}

impl PartialEq for SlotSet {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for SlotSet {}

/// The most slots a kernel has; a slot index is below it.
pub const MAX_SLOTS: usize = 1_000_000;

/// A stored set (a checkpoint's): a member past any slot is damage, refused before the set
/// allocates words up to it.
impl TryFrom<Vec<usize>> for SlotSet {
    type Error = String;

    fn try_from(members: Vec<usize>) -> Result<Self, String> {
        match members.iter().find(|i| **i >= MAX_SLOTS) {
            Some(i) => Err(format!(
                "slot set member {i} is not a slot index (below {MAX_SLOTS})"
            )),
            None => Ok(members.into_iter().collect()),
        }
    }
}

impl From<SlotSet> for Vec<usize> {
    fn from(set: SlotSet) -> Self {
        set.iter().collect()
    }
}

impl FromIterator<usize> for SlotSet {
    fn from_iter<T: IntoIterator<Item = usize>>(iter: T) -> Self {
        let mut set = SlotSet::default();
        for i in iter {
            set.insert(i);
        }
        set
    }
}

/// How many event ids a slot remembers for duplicate detection.
pub const SLOT_SEEN_EVENTS: usize = 64;

/// The last few fingerprints (see `types::fingerprint`) of one slot: per-slot idempotency
/// memory that costs one allocation per slot, ever. Beside each fingerprint it keeps a
/// one-byte tag (see `tag`) in a 64-byte array, so a lookup reads one cache line of tags
/// and touches a fingerprint only when its tag matches: with thousands of slots, most of
/// them cold, a lookup costs one or two cache misses instead of eight.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(from = "RingRepr", into = "RingRepr")]
pub struct RecentRing {
    data: Option<Box<RingData>>,
    len: u8,
    next: u8,
    /// How many of the ring's places the slot's current trade wrote, up to the ring's size
    /// ([`RecentRing::new_trade`] starts it again): once the trade wrote them all, what the
    /// ring pushes out is the trade's own, and rules 31 on it is kept (`beyond`).
    mine: u8,
    /// Rules 31 on, what the full ring pushed out while the trade that wrote it is still
    /// going, up to [`KEPT_BEYOND_RING`] more: an event or fill resent once 64 later ones
    /// pushed its own out was booked again, a position the venue does not hold. None until
    /// a trade writes more than the ring holds; forgotten when the next trade starts.
    beyond: Option<Box<RecentSet<u64>>>,
}

/// How many fingerprints a ring keeps beyond its places for one trade (rules 31): a trade with
/// more events or fill keys than that forgets its oldest.
pub const KEPT_BEYOND_RING: usize = 1 << 16;

// What a trade wrote and kept took no room in the slot: the ring's place, count and share are
// a byte each.
const _: () = assert!(std::mem::size_of::<RecentRing>() <= 3 * std::mem::size_of::<usize>());

#[derive(Clone, Debug)]
struct RingData {
    tags: [u8; SLOT_SEEN_EVENTS],
    items: [u64; SLOT_SEEN_EVENTS],
}

/// A hint to the CPU to start loading every cache line of `value`; it changes nothing
/// observable (a prefetch never faults), and is nothing on other architectures.
#[inline]
pub fn prefetch<T>(value: &T) {
    let at: *const u8 = (value as *const T).cast();
    if std::mem::size_of::<T>() <= std::mem::align_of::<T>().min(64) {
        // Within one line wherever it is (an aligned value no larger than its alignment,
        // which is at most a line's, crosses none): the one prefetch, no line counting.
        prefetch_line(at);
    } else {
        prefetch_bytes(at, std::mem::size_of::<T>());
    }
}

/// [`prefetch`] for the `len` bytes at `start`, which need not be valid memory: a prefetch
/// of an address the program does not own is dropped by the CPU.
#[inline]
pub fn prefetch_bytes(start: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    // Every line the range touches: from the start of its first line to its last byte. The
    // lines `len` spans from a line's start, a count known where `len` is (a value's size),
    // so the loop unrolls to its prefetches; then the one more a range straddling a line
    // boundary past them reaches.
    let skew = start.addr() % 64;
    let first = start.wrapping_sub(skew);
    let whole = len.div_ceil(64);
    for k in 0..whole {
        prefetch_line(first.wrapping_add(64 * k));
    }
    if skew + len > 64 * whole {
        prefetch_line(first.wrapping_add(64 * whole));
    }
}

/// [`prefetch_bytes`] for the one cache line that holds `at`.
#[inline(always)]
pub fn prefetch_line(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `sse` is part of the x86_64 baseline, and a prefetch reads nothing the
        // program can observe and never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// How a ring is stored in checkpoints (the layout it always had).
#[derive(Serialize, Deserialize)]
struct RingRepr {
    items: Vec<u64>,
    next: usize,
}

/// A fingerprint's tag: the top byte after a multiplicative mix (FNV-1a leaves the top
/// byte nearly the same for ids that differ only at the end, like "mock-e1001"/"mock-e1002").
#[inline]
fn tag(fp: u64) -> u8 {
    (fp.wrapping_mul(FIBONACCI_MIX) >> 56) as u8
}

// A ring's places are the bits of one u64, and SSE2 compares sixteen tags a step.
const _: () = assert!(SLOT_SEEN_EVENTS <= 64 && SLOT_SEEN_EVENTS.is_multiple_of(16));

/// The places (bit `i` for place `i`) of the tags equal to `tag`. Every venue event checks a
/// slot's full ring: sixteen tags a step with SSE2, part of the x86_64 baseline, where eight
/// a step (SWAR) cost three times as many instructions.
#[cfg(target_arch = "x86_64")]
#[inline]
fn tag_hits(tags: &[u8; SLOT_SEEN_EVENTS], tag: u8) -> u64 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let mut hits = 0;
    for (i, chunk) in tags.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of the x86_64 baseline, and the load reads the 16 bytes of
        // `chunk` (unaligned loads are allowed).
        let matched = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(tag as i8)))
        };
        hits |= u64::from(matched as u16) << (16 * i);
    }
    hits
}

/// [`tag_hits`] elsewhere: one tag a step.
#[cfg(not(target_arch = "x86_64"))]
fn tag_hits(tags: &[u8; SLOT_SEEN_EVENTS], tag: u8) -> u64 {
    portable_tag_hits(tags, tag)
}

#[cfg(any(test, not(target_arch = "x86_64")))] // on x86_64, the test's reference
fn portable_tag_hits(tags: &[u8; SLOT_SEEN_EVENTS], tag: u8) -> u64 {
    let mut hits = 0;
    for (i, t) in tags.iter().enumerate() {
        hits |= u64::from(*t == tag) << i;
    }
    hits
}

impl RecentRing {
    /// Starts loading what the next check and insert read: the tags and the place the next
    /// insert writes (see [`prefetch`]).
    pub fn prefetch(&self) {
        if let Some(d) = &self.data {
            prefetch(&d.tags);
            prefetch(&d.items[self.place()]);
        }
    }

    /// The place the next insert writes: the first free one, then the oldest.
    fn place(&self) -> usize {
        if (self.len as usize) < SLOT_SEEN_EVENTS {
            self.len as usize
        } else {
            self.next as usize
        }
    }

    pub fn contains(&self, fp: u64) -> bool {
        let Some(d) = &self.data else {
            return false;
        };
        // Each place whose tag matches is confirmed against the full fingerprint.
        let mut hits = tag_hits(&d.tags, tag(fp));
        while hits != 0 {
            let i = hits.trailing_zeros() as usize;
            if i < self.len as usize && d.items[i] == fp {
                return true;
            }
            hits &= hits - 1;
        }
        self.beyond.as_ref().is_some_and(|b| b.contains(&fp))
    }

    /// Remembers `fp`. Once the ring is full, it pushes out the oldest it holds, which is kept
    /// beyond it (up to [`KEPT_BEYOND_RING`]) when the current trade wrote it: a trade's
    /// events and fills are known however many came after them. Only a trade with more than
    /// 64 gets there, so the usual ring needs nothing beyond it.
    #[inline(always)]
    pub fn insert(&mut self, fp: u64) {
        // The place (`place`), the count and the trade's share moved with one test of the
        // count: a ring not full yet takes its first free place, a full one its oldest.
        let at;
        if (self.len as usize) < SLOT_SEEN_EVENTS {
            at = self.len as usize;
            self.len += 1;
            if (self.mine as usize) < SLOT_SEEN_EVENTS {
                self.mine += 1;
            }
        } else {
            at = self.next as usize % SLOT_SEEN_EVENTS;
            if (self.mine as usize) < SLOT_SEEN_EVENTS {
                self.mine += 1;
            } else {
                self.keep_beyond(at);
            }
            self.next = ((at + 1) % SLOT_SEEN_EVENTS) as u8;
        }
        let d = match &mut self.data {
            Some(d) => d,
            None => self.first_data(),
        };
        // `place` is within the ring: said so, its bounds are not checked again.
        let at = at % SLOT_SEEN_EVENTS;
        d.tags[at] = tag(fp);
        d.items[at] = fp;
    }

    /// What the full ring pushes out at `at`, kept beyond it (see [`RecentRing::insert`]).
    #[cold]
    #[inline(never)]
    fn keep_beyond(&mut self, at: usize) {
        if let Some(d) = &self.data {
            self.beyond
                .get_or_insert_with(|| Box::new(RecentSet::new(KEPT_BEYOND_RING)))
                .insert(d.items[at]);
        }
    }

    /// The ring's places, made at its first insert.
    #[cold]
    #[inline(never)]
    fn first_data(&mut self) -> &mut RingData {
        self.data.get_or_insert_with(|| {
            Box::new(RingData {
                tags: [0; SLOT_SEEN_EVENTS],
                items: [0; SLOT_SEEN_EVENTS],
            })
        })
    }

    /// The slot starts a new trade: what the ring holds is still known, but it is the last
    /// trade's, and what was kept beyond it is forgotten.
    pub fn new_trade(&mut self) {
        self.mine = 0;
        self.beyond = None;
    }

    /// Forgets everything, keeping the ring's allocation.
    pub fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
        self.new_trade();
    }

    /// How many the ring holds (what is kept beyond it not counted).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many of the ring's places the current trade wrote (see `mine`). A ring decoded
    /// (its stored form has no room for it) takes every place it holds for the trade's, the
    /// cautious reading: a checkpoint keeps the figure apart where it is less.
    pub fn trade_wrote(&self) -> usize {
        self.mine as usize
    }

    /// Sets [`RecentRing::trade_wrote`], as a checkpoint says it: no more than the ring holds.
    pub fn set_trade_wrote(&mut self, n: usize) -> Result<(), String> {
        if n > self.len() {
            return Err(format!(
                "{n} events of the trade, more than the {} remembered",
                self.len
            ));
        }
        self.mine = n as u8;
        Ok(())
    }

    /// Takes every place the ring holds for the current trade's, as a decoded ring does.
    pub fn assume_trade_wrote_all(&mut self) {
        self.mine = self.len;
    }

    fn items(&self) -> &[u64] {
        self.data
            .as_ref()
            .map_or(&[], |d| &d.items[..self.len as usize])
    }

    /// What is kept beyond the ring, oldest first.
    fn beyond(&self) -> impl Iterator<Item = &u64> {
        self.beyond.iter().flat_map(|b| b.iter())
    }
}

impl PartialEq for RecentRing {
    fn eq(&self, other: &Self) -> bool {
        self.items() == other.items()
            && self.next == other.next
            && self.mine == other.mine
            && self.beyond().eq(other.beyond())
    }
}

/// Stored as the ring's places, then (rules 31 on) what is kept beyond it, oldest first: a
/// ring without any is stored as it always was. Decoded, every place is taken for the current
/// trade's ([`RecentRing::trade_wrote`]).
impl From<RingRepr> for RecentRing {
    fn from(r: RingRepr) -> Self {
        let mut ring = RecentRing::default();
        let mut items = r.items.into_iter();
        for fp in items.by_ref().take(SLOT_SEEN_EVENTS) {
            ring.insert(fp);
        }
        ring.next = if ring.len as usize == SLOT_SEEN_EVENTS {
            (r.next % SLOT_SEEN_EVENTS) as u8
        } else {
            0
        };
        for fp in items {
            ring.beyond
                .get_or_insert_with(|| Box::new(RecentSet::new(KEPT_BEYOND_RING)))
                .insert(fp);
        }
        ring.assume_trade_wrote_all();
        ring
    }
}

impl From<RecentRing> for RingRepr {
    fn from(r: RecentRing) -> Self {
        RingRepr {
            items: r.items().iter().chain(r.beyond()).copied().collect(),
            next: r.next as usize,
        }
    }
}

/// A slot's exit leg ratios: two inline (the size of a `Vec`), so the usual one or two legs
/// come with the slot's own cache lines; more are allocated. Encoded as a `Vec` is.
pub type Legs = smallvec::SmallVec<[f64; 2]>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeSlot {
    pub slot_id: usize,
    pub trade_id: Id,
    /// Changed in a live kernel only by an ENTER (`start_trade`, after the kernel forgot the
    /// slot's places in its maps by asset when the asset differs) and by `replace_slots`
    /// (which rebuilds those maps): the maps trust a remembered place without comparing the
    /// asset, so any other path that changes it must forget them too (`ByAsset::forget`).
    pub asset: Id,
    pub side: TradeSide,
    pub entry_price: f64,
    pub size: f64,
    pub initial_size: f64,
    pub leverage: f64,
    pub entry_time: f64,
    pub unrealized_pnl: f64,
    pub realized_pnl: f64,
    pub fees_paid: f64,
    pub closed: bool,
    pub exit_leg_ratios: Legs,
    pub active_leg_index: usize,
    pub active_entry_order: Option<VenueOrder>,
    pub active_exit_order: Option<VenueOrder>,
    pub fsm_state: TradeStage,
    pub close_reason: String,
    pub last_event_time: f64,
    pub metadata: Metadata,
    pub mark_price: f64,
    /// Notional this slot commits (position plus unfilled entry) at the entry reference price.
    pub committed_notional: f64,
    pub seen_events: RecentRing,
    pub seen_fills: RecentRing,
    /// The reason given by the EXIT intent working now; becomes close_reason on close.
    pub exit_reason: String,
    /// What exit fills took from the position since the active leg began (rules 21 on): an
    /// exit that ended part-filled leaves that much of the leg done. Outside the slot's own
    /// encoding, which checkpoints and `reconcile_from_slots` records of older builds share: a
    /// checkpoint keeps it in its last part (`kernel::LegTail`), a `reconcile_from_slots`
    /// record beside the slots (`KernelInput::ReplaceSlotsLegs`, rules 22 on).
    #[serde(skip)]
    pub leg_taken: f64,
}

impl TradeSlot {
    pub fn new(slot_id: usize) -> Self {
        TradeSlot {
            slot_id,
            trade_id: id(""),
            asset: id(""),
            side: TradeSide::Flat,
            entry_price: 0.0,
            size: 0.0,
            initial_size: 0.0,
            leverage: 1.0,
            entry_time: 0.0,
            unrealized_pnl: 0.0,
            realized_pnl: 0.0,
            fees_paid: 0.0,
            closed: false,
            exit_leg_ratios: smallvec::smallvec![1.0],
            active_leg_index: 0,
            active_entry_order: None,
            active_exit_order: None,
            fsm_state: TradeStage::Idle,
            close_reason: String::new(),
            last_event_time: 0.0,
            metadata: Metadata::new(),
            mark_price: 0.0,
            committed_notional: 0.0,
            seen_events: RecentRing::default(),
            seen_fills: RecentRing::default(),
            exit_reason: String::new(),
            leg_taken: 0.0,
        }
    }

    /// Starts loading the slot's memory before the kernel reads it: its own cache lines and
    /// its memories' tags. A slot not touched for a while (with many slots, most are) then
    /// costs about one memory round trip instead of one per line as the code walks it.
    pub fn prefetch(&self) {
        prefetch(self);
        // Legs beyond two are on the heap: their line comes after the slot's.
        if let Some(first) = self
            .exit_leg_ratios
            .first()
            .filter(|_| self.exit_leg_ratios.spilled())
        {
            prefetch(first);
        }
        self.seen_events.prefetch();
        self.seen_fills.prefetch();
    }

    /// Makes this slot equal to `TradeSlot::new(self.slot_id)` while keeping its allocations
    /// (texts, legs, the fill memory): a new trade on a slot costs no allocation and no walk
    /// of the old trade's data.
    pub fn reset(&mut self) {
        let TradeSlot {
            slot_id: _,
            trade_id,
            asset,
            side,
            entry_price,
            size,
            initial_size,
            leverage,
            entry_time,
            unrealized_pnl,
            realized_pnl,
            fees_paid,
            closed,
            exit_leg_ratios,
            active_leg_index,
            active_entry_order,
            active_exit_order,
            fsm_state,
            close_reason,
            last_event_time,
            metadata,
            mark_price,
            committed_notional,
            seen_events,
            seen_fills,
            exit_reason,
            leg_taken,
        } = self;
        *trade_id = id("");
        *asset = id("");
        *side = TradeSide::Flat;
        *entry_price = 0.0;
        *size = 0.0;
        *initial_size = 0.0;
        *leverage = 1.0;
        *entry_time = 0.0;
        *unrealized_pnl = 0.0;
        *realized_pnl = 0.0;
        *fees_paid = 0.0;
        *closed = false;
        exit_leg_ratios.clear();
        exit_leg_ratios.push(1.0);
        *active_leg_index = 0;
        *active_entry_order = None;
        *active_exit_order = None;
        *fsm_state = TradeStage::Idle;
        close_reason.clear();
        *last_event_time = 0.0;
        metadata.clear();
        *mark_price = 0.0;
        *committed_notional = 0.0;
        seen_events.clear();
        seen_fills.clear();
        exit_reason.clear();
        *leg_taken = 0.0;
    }

    /// This slot taking the trade `intent` (an accepted ENTER) opens, at stage `stage`: what
    /// [`TradeSlot::reset`] then setting the trade's own fields from the intent makes, each
    /// field written once. The event ids the slot remembers stay across trades, the new
    /// trade having written none of them (`RecentRing::new_trade`).
    pub fn start_trade(&mut self, intent: &Intent, stage: TradeStage) {
        let TradeSlot {
            slot_id: _,
            trade_id,
            asset,
            side,
            entry_price,
            size,
            initial_size,
            leverage,
            entry_time,
            unrealized_pnl,
            realized_pnl,
            fees_paid,
            closed,
            exit_leg_ratios,
            active_leg_index,
            active_entry_order,
            active_exit_order,
            fsm_state,
            close_reason,
            last_event_time,
            metadata,
            mark_price,
            committed_notional,
            seen_events,
            seen_fills,
            exit_reason,
            leg_taken,
        } = self;
        trade_id.clone_from(&intent.trade_id);
        asset.clone_from(&intent.asset);
        *side = intent.side;
        *entry_price = 0.0;
        *size = 0.0;
        *initial_size = 0.0;
        *leverage = intent.leverage;
        *entry_time = intent.timestamp;
        *unrealized_pnl = 0.0;
        *realized_pnl = 0.0;
        *fees_paid = 0.0;
        *closed = false;
        // The legs the slot's last trade had are the usual ones again ([1.0]): left as they
        // are when the same to the bit, else written anew.
        if !same_bits(exit_leg_ratios, &intent.exit_leg_ratios) {
            exit_leg_ratios.clear();
            exit_leg_ratios.extend_from_slice(&intent.exit_leg_ratios);
        }
        *active_leg_index = 0;
        *active_entry_order = None;
        *active_exit_order = None;
        *fsm_state = stage;
        close_reason.clear();
        *last_event_time = 0.0;
        // Cleared, then copied only when the intent carries any (a map's `clone_from` builds
        // a new one, empty or not, and drops the old). An empty map is left as it is: its
        // `clear` drops it whole all the same (an iterator's walk of no entries).
        if !metadata.is_empty() {
            metadata.clear();
        }
        if !intent.metadata.is_empty() {
            metadata.clone_from(&intent.metadata);
        }
        *mark_price = 0.0;
        *committed_notional = 0.0;
        seen_events.new_trade();
        seen_fills.clear();
        exit_reason.clear();
        *leg_taken = 0.0;
    }

    pub fn active_order(&self) -> Option<&VenueOrder> {
        self.active_entry_order
            .as_ref()
            .or(self.active_exit_order.as_ref())
    }

    pub fn active_order_mut(&mut self) -> Option<&mut VenueOrder> {
        match self.active_entry_order {
            Some(ref mut o) => Some(o),
            None => self.active_exit_order.as_mut(),
        }
    }
}

/// Whether `a` and `b` hold the same numbers to the bit (as `==` does not say of 0 and -0, or
/// of NaN), in the same order.
#[inline(always)]
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[derive(Clone, Debug, PartialEq)]
pub struct KernelTransition {
    pub timestamp: f64,
    pub trade_id: Id,
    pub slot_id: usize,
    pub prev_state: TradeStage,
    pub next_state: TradeStage,
    pub trigger: &'static str,
    pub intent_id: Id,
    pub event_id: Id,
    pub details: TransitionDetails,
}

// The fields `KernelTransition::owns_nothing` does not look at own nothing. And its size is
// what it was when `owns_nothing` was written: a field added must be looked at there too.
const _: () = assert!(!std::mem::needs_drop::<TradeStage>());
// (Its size on 64-bit targets, the ones built for.)
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<KernelTransition>() == 160);

impl KernelTransition {
    /// Whether dropping it frees nothing: its ids inline and its details without text.
    #[inline(always)]
    fn owns_nothing(&self) -> bool {
        !self.trade_id.is_heap_allocated()
            && !self.intent_id.is_heap_allocated()
            && !self.event_id.is_heap_allocated()
            && self.details.owns_nothing()
    }
}

/// The answer to every input: whether it was taken, what changed and, if not, why.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelOutcome {
    pub accepted: bool,
    pub slot_id: i64,
    pub trade_id: Id,
    pub state: TradeStage,
    pub diagnostic_code: KernelDiagnosticCode,
    pub severity: KernelSeverity,
    pub transitions: Vec<KernelTransition>,
    pub emitted_events: Vec<VenueEvent>,
    /// Orders the caller must hand to the venue (submit) or cancel, in this order.
    pub submit: Option<VenueOrder>,
    pub cancels: Vec<VenueOrder>,
    pub details: Details,
    pub seq: u64,
}

impl KernelOutcome {
    pub fn ok(slot_id: i64, trade_id: Id, state: TradeStage, seq: u64) -> Self {
        KernelOutcome {
            accepted: true,
            slot_id,
            trade_id,
            state,
            diagnostic_code: KernelDiagnosticCode::Ok,
            severity: KernelSeverity::Info,
            transitions: Vec::new(),
            emitted_events: Vec::new(),
            submit: None,
            cancels: Vec::new(),
            details: Vec::new(),
            seq,
        }
    }

    /// An outcome of no input yet, for an `_into` input to answer in (see
    /// `Kernel::process_intent_into`).
    pub fn blank() -> Self {
        Self::ok(-1, Id::default(), TradeStage::Idle, 0)
    }

    /// Makes this an `OK` outcome on `slot_id` with nothing recorded yet, keeping its lists'
    /// allocations: what an input answered in place starts from.
    #[inline(always)]
    pub(crate) fn reset_ok(&mut self, slot_id: i64, trade_id: Id, state: TradeStage, seq: u64) {
        self.accepted = true;
        self.slot_id = slot_id;
        self.trade_id = trade_id;
        self.state = state;
        self.diagnostic_code = KernelDiagnosticCode::Ok;
        self.severity = KernelSeverity::Info;
        if self.transitions.capacity() == 0 {
            // A blank outcome (a by-value input's): room for an ENTER's or EXIT's two, made
            // at once, where a first push grows the list through the allocator's slower path.
            self.transitions = Vec::with_capacity(2);
        } else if self.transitions_own_nothing() {
            // SAFETY: a length of 0 is within the capacity, and the transitions forgotten own
            // nothing to free (checked just above), so nothing leaks: the drop skipped is the
            // walk of every field for what it might own.
            unsafe { self.transitions.set_len(0) }
        } else {
            self.transitions.clear();
        }
        // Most answers list no events, cancels or details: an empty list is left as it is.
        if !self.emitted_events.is_empty() {
            self.emitted_events.clear();
        }
        self.submit = None;
        if !self.cancels.is_empty() {
            self.cancels.clear();
        }
        if !self.details.is_empty() {
            self.details.clear();
        }
        self.seq = seq;
    }

    /// Whether dropping the transitions frees nothing ([`KernelTransition::owns_nothing`]):
    /// the one or two an input most often made looked at without a loop.
    #[inline(always)]
    fn transitions_own_nothing(&self) -> bool {
        match self.transitions.as_slice() {
            [] => true,
            [a] => a.owns_nothing(),
            [a, b] => a.owns_nothing() && b.owns_nothing(),
            more => more.iter().all(KernelTransition::owns_nothing),
        }
    }

    #[cold]
    pub fn refused(
        slot_id: i64,
        trade_id: Id,
        state: TradeStage,
        code: KernelDiagnosticCode,
        severity: KernelSeverity,
        details: Details,
        seq: u64,
    ) -> Self {
        KernelOutcome {
            accepted: false,
            diagnostic_code: code,
            severity,
            details,
            ..KernelOutcome::ok(slot_id, trade_id, state, seq)
        }
    }

    /// Whether the input changed the kernel: accepted, or a venue's rate limit, which is
    /// refused (`RATE_LIMITED`) yet ends an order the venue never acknowledged, or is a
    /// throttled cancel. What routes a venue's events on (an answer's, a poll's) asks this.
    pub fn applied(&self) -> bool {
        self.accepted || self.diagnostic_code == KernelDiagnosticCode::RateLimited
    }

    /// Folds the outcome of a follow-up input (a venue's synchronous answer, `event`) into this
    /// one: its transitions and cancels, and the details of a refused or rate-limited
    /// follow-up, are moved here; their lists' allocations stay with `follow`, for its next
    /// input.
    ///
    /// Every refused event is named, whatever came before it: `venue_event_refused` is the
    /// last one's diagnostic, `venue_events_refused` how many there were, and
    /// `venue_refusals` lists each in order, as JSON (`[{"event_id", "kind", "code"}]`). A
    /// refusal's own details come along only while this outcome is still `OK`: after a rate
    /// limit (its `retry_after`, `client_order_id`) they would overwrite the main diagnostic's.
    pub fn absorb(&mut self, follow: &mut KernelOutcome, event: &VenueEvent) {
        // The stage moves with the follow-up's transitions of this slot; a refused follow-up
        // moved nothing, whatever stage its refusal names.
        if let Some(t) = follow
            .transitions
            .iter()
            .rev()
            .find(|t| t.slot_id as i64 == self.slot_id)
        {
            self.state = t.next_state;
        }
        self.transitions.append(&mut follow.transitions);
        if follow.diagnostic_code == KernelDiagnosticCode::RateLimited {
            self.accepted = false;
            self.diagnostic_code = KernelDiagnosticCode::RateLimited;
            self.severity = KernelSeverity::Warning;
            self.details.append(&mut follow.details);
        } else if !follow.accepted {
            // The venue's answer could not be applied: surface it, the intent stands. Once
            // named, the list and the count are the last details (until other details come
            // after them), so an answer of many refusals finds them at once from the end.
            let mut listed = match take_detail(&mut self.details, "venue_refusals") {
                Some(Detail::Str(listed)) => listed,
                _ => String::from("[]"),
            };
            let before = match take_detail(&mut self.details, "venue_events_refused") {
                Some(Detail::I64(n)) => n,
                _ => 0,
            };
            self.severity = self.severity.max(follow.severity);
            self.details.push((
                "venue_event_refused",
                Detail::Static(follow.diagnostic_code.name()),
            ));
            if self.diagnostic_code == KernelDiagnosticCode::Ok {
                self.details.append(&mut follow.details);
            }
            // An id is shown whole up to a bound: an endless answer of one event carrying a
            // huge id is listed up to the answer's limit.
            let id = match event.event_id.char_indices().nth(REFUSED_ID_SHOWN) {
                Some((cut, _)) => Detail::Str(format!("{}...", &event.event_id[..cut])),
                None => Detail::Id(event.event_id.clone()),
            };
            listed.pop(); // the closing ']'
            if listed.len() > 1 {
                listed.push(',');
            }
            listed.push_str(&details_json(&[
                ("event_id", id),
                ("kind", Detail::Static(event.kind.name())),
                ("code", Detail::Static(follow.diagnostic_code.name())),
            ]));
            listed.push(']');
            self.details.push(("venue_refusals", Detail::Str(listed)));
            self.details
                .push(("venue_events_refused", Detail::I64(before + 1)));
        }
        self.cancels.append(&mut follow.cancels);
    }
}

/// The most characters of a refused event's id `KernelOutcome::absorb` lists.
const REFUSED_ID_SHOWN: usize = 128;

/// Removes the last detail named `key` and returns its value; looked for from the end, where
/// `KernelOutcome::absorb` keeps what it updates.
fn take_detail(details: &mut Details, key: &str) -> Option<Detail> {
    let at = details.iter().rposition(|(k, _)| *k == key)?;
    Some(details.remove(at).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an ENTER made of its slot before `TradeSlot::start_trade`: the slot reset, its
    /// event ids kept, then the trade's fields set from the intent.
    fn reset_then_given(slot: &TradeSlot, intent: &Intent, stage: TradeStage) -> TradeSlot {
        let mut s = slot.clone();
        let prev_seen = std::mem::take(&mut s.seen_events);
        s.reset();
        s.seen_events = prev_seen;
        s.seen_events.new_trade();
        s.fsm_state = stage;
        s.trade_id = intent.trade_id.clone();
        s.asset = intent.asset.clone();
        s.side = intent.side;
        s.leverage = intent.leverage;
        s.entry_time = intent.timestamp;
        s.exit_leg_ratios.clear();
        s.exit_leg_ratios.extend_from_slice(&intent.exit_leg_ratios);
        s.metadata.clone_from(&intent.metadata);
        s
    }

    #[test]
    fn a_slot_starting_a_trade_is_the_slot_reset_then_given_the_trade() {
        let order = |client: &str, is_entry: bool| VenueOrder {
            is_entry,
            ..VenueOrder::sample(
                Id::from(client),
                Id::from("v-1"),
                Id::from("old-trade-with-an-id-longer-than-inline"),
                Id::from("ETHUSDT"),
            )
        };
        // A slot a trade used: every field away from its reset value, events and fills
        // remembered (more events than the ring holds), legs on the heap.
        let mut used = TradeSlot::new(3);
        used.trade_id = Id::from("old-trade-with-an-id-longer-than-inline");
        used.asset = Id::from("ETHUSDT");
        used.side = TradeSide::Short;
        used.entry_price = 5.0;
        used.size = 2.0;
        used.initial_size = 3.0;
        used.leverage = 4.0;
        used.entry_time = 9.0;
        used.unrealized_pnl = 1.0;
        used.realized_pnl = 2.0;
        used.fees_paid = 0.5;
        used.closed = true;
        used.exit_leg_ratios = Legs::from_slice(&[0.5, 0.25, 0.25]);
        used.active_leg_index = 2;
        used.active_entry_order = Some(order("k-1", true));
        used.active_exit_order = Some(order("k-2", false));
        used.fsm_state = TradeStage::Closed;
        used.close_reason = "stop".into();
        used.last_event_time = 10.0;
        used.metadata.insert("old".into(), MetaValue::Int(1));
        used.mark_price = 3.0;
        used.committed_notional = 7.0;
        for fp in 1..=(SLOT_SEEN_EVENTS as u64 + 5) {
            used.seen_events.insert(fp);
        }
        used.seen_fills.insert(99);
        used.exit_reason = "target".into();
        used.leg_taken = 0.3;
        let fresh = TradeSlot::new(3);
        let mut plain = Intent::new(
            "i-1",
            "t-2",
            3,
            "BTCUSDT",
            TradeSide::Long,
            KernelCommandType::Enter,
            100.0,
            1.0,
        );
        plain.leverage = 2.0;
        plain.timestamp = 11.0;
        let mut full = plain.clone();
        full.trade_id = Id::from("a-new-trade-id-longer-than-inline");
        full.exit_leg_ratios = vec![0.25, 0.25, 0.5];
        full.metadata
            .insert("source_run".into(), MetaValue::Str("r".into()));
        full.metadata
            .insert("override".into(), MetaValue::Bool(true));
        let mut no_legs = plain.clone();
        no_legs.exit_leg_ratios.clear();
        // Legs the slot holds already (on the heap, as the full intent's: left as they are),
        // and legs equal to the slot's by `==` but not to the bit (0 and -0: written anew).
        let mut full_legs = used.clone();
        full_legs.exit_leg_ratios = Legs::from_slice(&full.exit_leg_ratios);
        let mut zero_leg = plain.clone();
        zero_leg.exit_leg_ratios = vec![0.0];
        let mut minus_zero_leg = fresh.clone();
        minus_zero_leg.exit_leg_ratios = Legs::from_slice(&[-0.0]);
        for slot in [&used, &fresh, &full_legs, &minus_zero_leg] {
            for intent in [&plain, &full, &no_legs, &zero_leg] {
                for stage in [TradeStage::Idle, TradeStage::Closed] {
                    let was = reset_then_given(slot, intent, stage);
                    let mut now = slot.clone();
                    now.start_trade(intent, stage);
                    assert_eq!(now, was);
                    for (a, b) in [
                        (&now.seen_events, &was.seen_events),
                        (&now.seen_fills, &was.seen_fills),
                    ] {
                        assert_eq!(a.trade_wrote(), b.trade_wrote());
                        assert_eq!(a.len(), b.len());
                    }
                    assert_eq!(now.leg_taken, was.leg_taken);
                    let bits = |s: &TradeSlot| -> Vec<u64> {
                        s.exit_leg_ratios.iter().map(|r| r.to_bits()).collect()
                    };
                    assert_eq!(bits(&now), bits(&was));
                    assert_eq!(
                        bincode::serialize(&now).unwrap(),
                        bincode::serialize(&was).unwrap()
                    );
                }
            }
        }
    }

    /// The values of `out`'s details named `key`, as text, in order.
    fn named(out: &KernelOutcome, key: &str) -> Vec<String> {
        out.details
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
            .collect()
    }

    #[test]
    fn absorbing_refused_follow_ups_counts_them_beside_the_last() {
        let id = Id::from("t");
        let mut out = KernelOutcome::ok(0, id.clone(), TradeStage::OrderSent, 1);
        let refusal = |code| {
            let details = vec![("event_id", Detail::Static("e"))];
            KernelOutcome::refused(
                0,
                id.clone(),
                TradeStage::OrderSent,
                code,
                KernelSeverity::Warning,
                details,
                2,
            )
        };
        let fill = |event_id| VenueEvent::new(event_id, KernelEventKind::Fill, &id);
        out.absorb(
            &mut refusal(KernelDiagnosticCode::DuplicateEvent),
            &fill("f1"),
        );
        out.absorb(
            &mut refusal(KernelDiagnosticCode::UnknownOrder),
            &fill("f2"),
        );
        assert!(out.accepted && out.severity == KernelSeverity::Warning);
        assert_eq!(named(&out, "venue_events_refused"), ["2"]);
        assert_eq!(
            named(&out, "venue_event_refused")
                .last()
                .map(String::as_str),
            Some("UNKNOWN_ORDER")
        );
        assert_eq!(
            named(&out, "venue_refusals"),
            [concat!(
                r#"[{"event_id":"f1","kind":"FILL","code":"DUPLICATE_EVENT"},"#,
                r#"{"event_id":"f2","kind":"FILL","code":"UNKNOWN_ORDER"}]"#
            )]
        );
    }

    #[test]
    fn absorbing_a_refusal_after_a_rate_limit_lists_it_and_keeps_the_rate_limit() {
        let id = Id::from("t");
        let mut out = KernelOutcome::ok(0, id.clone(), TradeStage::OrderSent, 1);
        // A follow-up refused with `code` at `severity`, naming order `client` (seq `seq`).
        let refused_as = |code, severity, client: &'static str, seq| {
            KernelOutcome::refused(
                0,
                id.clone(),
                TradeStage::Idle,
                code,
                severity,
                vec![("client_order_id", Detail::Static(client))],
                seq,
            )
        };
        let mut limited = refused_as(
            KernelDiagnosticCode::RateLimited,
            KernelSeverity::Warning,
            "c1",
            2,
        );
        out.absorb(
            &mut limited,
            &VenueEvent::new("r1", KernelEventKind::RateLimited, &id),
        );
        let mut refused = refused_as(
            KernelDiagnosticCode::UnknownOrder,
            KernelSeverity::Critical,
            "other",
            3,
        );
        let long_id = "x".repeat(REFUSED_ID_SHOWN + 10);
        out.absorb(
            &mut refused,
            &VenueEvent::new(&long_id, KernelEventKind::Fill, &id),
        );
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::RateLimited);
        assert!(!out.accepted && out.severity == KernelSeverity::Critical);
        // The refusal's own details do not overwrite the rate limit's.
        assert_eq!(named(&out, "client_order_id"), ["c1"]);
        assert_eq!(named(&out, "venue_event_refused"), ["UNKNOWN_ORDER"]);
        assert_eq!(named(&out, "venue_events_refused"), ["1"]);
        let shown = format!("{}...", &long_id[..REFUSED_ID_SHOWN]);
        assert_eq!(
            named(&out, "venue_refusals"),
            [format!(
                r#"[{{"event_id":"{shown}","kind":"FILL","code":"UNKNOWN_ORDER"}}]"#
            )]
        );
    }

    #[test]
    fn fingerprint_set_forgets_the_oldest_beyond_its_capacity() {
        let mut f = FingerprintSet::new(100);
        for i in 0..1000u64 {
            assert!(f.insert(i * 7919));
            assert!(!f.insert(i * 7919), "a repeat is known");
        }
        assert_eq!(f.len(), 100);
        assert!(!f.contains(&0) && !f.contains(&(899 * 7919)));
        assert!((900..1000u64).all(|i| f.contains(&(i * 7919))));
        let mut model = RecentSet::new(100);
        for i in 0..1000u64 {
            model.insert(i * 7919);
        }
        for i in 0..1000u64 {
            assert_eq!(f.contains(&(i * 7919)), model.contains(&(i * 7919)), "{i}");
        }
    }

    #[test]
    fn fingerprint_set_survives_colliding_probe_runs() {
        // Keys that share home slots force long probe runs and backward shifts on eviction.
        let mut f = FingerprintSet::new(64);
        let keys: Vec<u64> = (1..=5000u64).map(|i| i << 58 | i).collect();
        for (n, k) in keys.iter().enumerate() {
            f.insert(*k);
            let live = &keys[n.saturating_sub(63)..=n];
            assert!(live.iter().all(|k| f.contains(k)), "after {n}");
            if n >= 64 {
                assert!(!f.contains(&keys[n - 64]));
            }
        }
    }

    proptest::proptest! {
        /// The same answers as a queue and a set, for any mix of inserts (repeats included)
        /// and lookups, across its capacity and round and round its ring. Keys are few, so
        /// they repeat and share homes in a small table, and tags are cut to `tag_bits`
        /// (none at 0), so keys of one home are often told apart only by the full key.
        #[test]
        fn fingerprint_set_behaves_like_a_queue_and_a_set(
            cap in 1usize..12,
            tag_bits in 0u32..4,
            ops in proptest::collection::vec(
                (proptest::bool::ANY, proptest::bool::ANY, 0u64..40),
                1..600,
            )
        ) {
            let mut set = FingerprintSet::with_narrow_tags(cap, tag_bits);
            let (mut order, mut members) = (VecDeque::new(), std::collections::HashSet::new());
            // Spread over the 64 bits, and 0 among them (stored as 1, a key of its own here).
            let key = |k: u64| if k == 0 { 0 } else { k.wrapping_mul(0x2545_F491_4F6C_DD1D) };
            // `looked`: an insert after a lookup (`look_up`, `insert_looked_up`).
            for (insert, looked, k) in ops {
                let fp = key(k);
                if insert {
                    let new = members.insert(stored(fp));
                    if new {
                        order.push_back(stored(fp));
                        if order.len() > cap {
                            members.remove(&order.pop_front().unwrap());
                        }
                    }
                    if looked {
                        let l = set.look_up(fp);
                        proptest::prop_assert_eq!(l.found(), !new);
                        proptest::prop_assert_eq!(set.insert_looked_up(l), new);
                    } else {
                        proptest::prop_assert_eq!(set.insert(fp), new);
                    }
                } else {
                    proptest::prop_assert_eq!(set.contains(&fp), members.contains(&stored(fp)));
                }
                proptest::prop_assert_eq!(set.len(), order.len());
                for k in 0..40 {
                    let fp = key(k);
                    proptest::prop_assert_eq!(set.contains(&fp), members.contains(&stored(fp)));
                }
            }
            proptest::prop_assert!(set.in_order().eq(order.iter()));
            let back: FingerprintSet =
                bincode::deserialize(&bincode::serialize(&set).unwrap()).unwrap();
            proptest::prop_assert!(back == set);
            for k in 0..40 {
                proptest::prop_assert_eq!(back.contains(&key(k)), set.contains(&key(k)));
            }
        }
    }

    /// Fingerprints that all have home slot 0 in a table of `slots` slots.
    fn one_home(slots: usize, n: usize) -> Vec<u64> {
        let bits = slots.trailing_zeros();
        (1u64..)
            .filter(|k| mixed(*k) >> (64 - bits) == 0)
            .take(n)
            .collect()
    }

    #[test]
    fn fingerprint_set_tells_apart_keys_far_from_their_home() {
        // 64 keys of one home fill a run of 64 slots: beyond 30 from home an entry no longer
        // knows its distance, and lookups and backward shifts read the key instead.
        let mut f = FingerprintSet::new(64);
        let keys = one_home(128, 400);
        for (n, k) in keys.iter().enumerate() {
            assert!(f.insert(*k));
            assert!(!f.insert(*k));
            let live = &keys[n.saturating_sub(63)..=n];
            assert!(live.iter().all(|k| f.contains(k)), "after {n}");
            assert!(keys[..n.saturating_sub(63)].iter().all(|k| !f.contains(k)));
        }
    }

    /// The kernel's unsettled fills as they were before `FifoMap` (a map, the queue of places,
    /// and the places of values taken out early, skipped at eviction), with one fix: taken
    /// places are counted, where the old set forgot a second take of the same id and then
    /// evicted that id's next value at its old place.
    #[derive(Default)]
    struct OldUnsettled {
        map: ahash::AHashMap<Id, u32>,
        order: VecDeque<Id>,
        taken: ahash::AHashMap<Id, usize>,
    }

    impl OldUnsettled {
        fn insert(&mut self, cap: usize, id: Id, v: u32) -> Vec<u32> {
            if self.map.insert(id.clone(), v).is_none() {
                self.order.push_back(id);
            }
            let mut out = Vec::new();
            while self.map.len() > cap || self.order.len() > 2 * cap {
                let Some(old) = self.order.pop_front() else {
                    break;
                };
                if let Some(n) = self.taken.get_mut(&old).filter(|n| **n > 0) {
                    *n -= 1;
                    continue;
                }
                out.extend(self.map.remove(&old));
            }
            out
        }

        fn take(&mut self, id: &Id) -> Option<u32> {
            let v = self.map.remove(id)?;
            *self.taken.entry(id.clone()).or_default() += 1;
            Some(v)
        }
    }

    proptest::proptest! {
        /// Same values, same evictions, same answers as the structure it replaced, for any
        /// mix of inserts (repeats included) and early takes, across its bounds.
        #[test]
        fn fifo_map_behaves_like_the_map_and_queue_it_replaced(
            ops in proptest::collection::vec((0u8..3, 0u8..24, 0u32..1000), 1..400)
        ) {
            let cap = 5;
            let mut new = FifoMap::new(cap);
            let mut old = OldUnsettled::default();
            for (op, key, v) in ops {
                let k = id(&format!("f{key}"));
                if op < 2 {
                    new.insert(k.clone(), v);
                    let mut pushed = Vec::new();
                    while let Some(x) = new.pop_over_capacity() {
                        pushed.push(x);
                    }
                    proptest::prop_assert_eq!(pushed, old.insert(cap, k, v));
                } else {
                    proptest::prop_assert_eq!(new.take(&k), old.take(&k));
                }
                proptest::prop_assert_eq!(new.len(), old.map.len());
                for (k, v) in &old.map {
                    proptest::prop_assert_eq!(new.get(k), Some(v));
                }
            }
            // Checkpoints: the old two fields, and back.
            let bytes = bincode::serialize(&new).unwrap();
            let (map, order): (ahash::AHashMap<Id, u32>, VecDeque<Id>) =
                bincode::deserialize(&bytes).unwrap();
            proptest::prop_assert_eq!(&map, &old.map);
            let mut back = FifoMap::from_parts(map, order, cap);
            proptest::prop_assert!(back == new);
            // The rebuilt table answers like the original, through lookups and takes.
            for (k, v) in &old.map {
                proptest::prop_assert_eq!(back.get(k), Some(v));
                proptest::prop_assert_eq!(back.take(k), new.take(k));
                proptest::prop_assert_eq!(back.get(k), None);
            }
            proptest::prop_assert!(back.is_empty() && new.is_empty());
        }
    }

    #[test]
    fn fifo_map_survives_colliding_probe_runs() {
        fifo_map_against_the_old_one_from(0);
    }

    #[test]
    fn fifo_map_positions_wrap_in_their_entries() {
        // Entries keep 31 bits of a position: start just before they wrap.
        fifo_map_against_the_old_one_from(ENTRY_POSITION - 700);
    }

    fn fifo_map_against_the_old_one_from(front: u64) {
        // Many ids in a small table: long probe runs, backward shifts on every take.
        let (cap, mut m, mut old) = (64, FifoMap::new(64), OldUnsettled::default());
        m.front = front;
        for i in 0..5000u32 {
            let k = id(&format!("fill-{i}"));
            m.insert(k.clone(), i);
            let mut pushed = Vec::new();
            while let Some(x) = m.pop_over_capacity() {
                pushed.push(x);
            }
            assert_eq!(pushed, old.insert(cap, k, i));
            if i % 3 == 0 {
                let earlier = id(&format!("fill-{}", i / 2));
                assert_eq!(m.take(&earlier), old.take(&earlier), "{i}");
            }
            assert!(m.len() <= cap);
            assert!(old.map.iter().all(|(k, v)| m.get(k) == Some(v)));
        }
    }

    #[test]
    fn compact_table_homes_and_tags_are_the_bits_they_were() {
        // Home and tag from shifts made once: the same bits as from the index bits.
        for capacity in [1usize, 3, 64, 1000, 50_000, 100_000, 1 << 20] {
            let t = CompactTable::new(capacity, capacity);
            let bits = t.slots.len().trailing_zeros();
            for k in 0..2000u64 {
                let m = mixed(k.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ k);
                assert_eq!(t.home(m), (m >> (64 - bits)) as usize, "{capacity} {k}");
                assert_eq!(
                    t.tag(m),
                    ((m << bits) >> 32) as u32 & t.tag_mask,
                    "{capacity}"
                );
            }
            assert_eq!(
                (t.one, t.far),
                (1 << t.position_bits, FAR << t.position_bits)
            );
        }
    }

    #[test]
    fn fingerprint_set_encodes_like_the_recent_set_it_replaced() {
        let mut old = RecentSet::new(3);
        let mut new = FingerprintSet::new(3);
        for fp in [5u64, 9, 2, 7] {
            old.insert(fp);
            new.insert(fp);
        }
        let back: FingerprintSet =
            bincode::deserialize(&bincode::serialize(&old).unwrap()).unwrap();
        assert_eq!(back, new);
        let again: FingerprintSet =
            bincode::deserialize(&bincode::serialize(&new).unwrap()).unwrap();
        assert_eq!(again, new);
        assert!(again.contains(&2) && !again.contains(&5));
    }

    #[test]
    fn recent_ring_round_trips_through_its_stored_layout() {
        let mut r = RecentRing::default();
        for i in 0..(SLOT_SEEN_EVENTS as u64 + 5) {
            // The first ten are an earlier trade's: pushed out, they are not kept.
            if i == 10 {
                r.new_trade();
            }
            r.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        let bytes = bincode::serialize(&r).unwrap();
        let old_layout: (Vec<u64>, usize) = bincode::deserialize(&bytes).unwrap();
        assert_eq!(old_layout.0.len(), SLOT_SEEN_EVENTS);
        assert_eq!(old_layout.1, 5);
        let mut back: RecentRing = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.trade_wrote(), SLOT_SEEN_EVENTS);
        back.set_trade_wrote(r.trade_wrote()).unwrap();
        assert_eq!(back, r);
        for i in 0..(SLOT_SEEN_EVENTS as u64 + 5) {
            let fp = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(back.contains(fp), r.contains(fp), "{i}");
        }
        // Another fingerprint with a tag in the ring is still not a member.
        let same_tag = r.items()[3] ^ 1;
        assert!(!r.contains(same_tag));
    }

    #[test]
    fn slot_set_behaves_like_the_btree_set_it_replaced() {
        use std::collections::BTreeSet;
        let mut set = SlotSet::default();
        let mut model = BTreeSet::new();
        let mut x = 12345u64;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = (x >> 40) as usize % 10_000;
            if x & 1 == 0 {
                assert_eq!(set.insert(i), model.insert(i));
            } else {
                assert_eq!(set.remove(i), model.remove(&i));
            }
            assert_eq!(set.first(), model.first().copied());
            assert_eq!(set.len(), model.len());
        }
        assert!(set.iter().eq(model.iter().copied()));
        let bytes = bincode::serialize(&model).unwrap();
        assert_eq!(
            bincode::serialize(&set).unwrap(),
            bytes,
            "stored like a BTreeSet"
        );
        let back: SlotSet = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, set);
    }

    #[test]
    fn a_stored_slot_set_with_a_member_past_any_slot_is_refused() {
        // Found by fuzzing checkpoints: a member of 2^49 made the set allocate 2^43 words
        // while decoding, and the failed allocation aborted the process.
        let bytes = bincode::serialize(&vec![3usize, 1 << 49]).unwrap();
        let err = bincode::deserialize::<SlotSet>(&bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("562949953421312"), "{err}");
        let bytes = bincode::serialize(&vec![3usize, MAX_SLOTS - 1]).unwrap();
        let back: SlotSet = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.len(), 2);
    }

    #[test]
    fn recent_ring_tags_spread_ids_that_differ_only_at_the_end() {
        let fps: Vec<u64> = (1000..1064)
            .map(|i| fingerprint(&format!("mock-e{i}")))
            .collect();
        let tags: std::collections::HashSet<u8> = fps.iter().map(|&fp| tag(fp)).collect();
        assert!(
            tags.len() > 40,
            "only {} distinct tags for 64 ids",
            tags.len()
        );
        let mut r = RecentRing::default();
        for &fp in &fps[..40] {
            r.insert(fp);
        }
        assert!(fps[..40].iter().all(|&fp| r.contains(fp)));
        assert!(fps[40..].iter().all(|&fp| !r.contains(fp)));
    }

    #[test]
    fn tag_hits_finds_every_matching_tag() {
        let mut tags = [0u8; SLOT_SEEN_EVENTS];
        for (i, t) in tags.iter_mut().enumerate() {
            *t = (i * 37 % 11) as u8;
        }
        tags[SLOT_SEEN_EVENTS - 1] = 255;
        for tag in [0, 3, 10, 11, 255] {
            let hits = tag_hits(&tags, tag);
            assert_eq!(hits, portable_tag_hits(&tags, tag), "tag {tag}");
            for (i, t) in tags.iter().enumerate() {
                assert_eq!(hits >> i & 1 == 1, *t == tag, "tag {tag} at {i}");
            }
        }
    }

    #[test]
    fn a_reset_slot_equals_a_new_one() {
        let mut s = TradeSlot::new(3);
        s.trade_id = id("t-1");
        s.asset = id("BTC");
        s.side = TradeSide::Short;
        s.entry_price = 10.0;
        s.size = 2.0;
        s.initial_size = 2.0;
        s.leverage = 3.0;
        s.entry_time = 5.0;
        s.unrealized_pnl = 1.0;
        s.realized_pnl = 1.5;
        s.fees_paid = 0.1;
        s.closed = true;
        s.exit_leg_ratios = smallvec::smallvec![0.5, 0.25, 0.25];
        s.active_leg_index = 1;
        s.fsm_state = TradeStage::Closed;
        s.close_reason = "exit_filled".into();
        s.last_event_time = 9.0;
        s.metadata.insert("k".into(), MetaValue::Int(1));
        s.mark_price = 11.0;
        s.committed_notional = 20.0;
        s.seen_events.insert(7);
        s.seen_fills.insert(8);
        s.exit_reason = "tp".into();
        s.reset();
        assert_eq!(s, TradeSlot::new(3));
    }

    #[test]
    fn a_ring_keeps_what_its_trade_wrote_and_stores_it_after_its_places() {
        let mut r = RecentRing::default();
        let n = SLOT_SEEN_EVENTS as u64 + 10;
        for i in 1..=n {
            r.insert(i);
        }
        assert_eq!(
            (r.len(), r.trade_wrote()),
            (SLOT_SEEN_EVENTS, SLOT_SEEN_EVENTS)
        );
        assert!((1..=n).all(|i| r.contains(i)) && !r.contains(n + 1));
        let bytes = bincode::serialize(&r).unwrap();
        let (items, next): (Vec<u64>, usize) = bincode::deserialize(&bytes).unwrap();
        assert_eq!((items.len(), next), (SLOT_SEEN_EVENTS + 10, 10));
        assert_eq!(
            items[SLOT_SEEN_EVENTS..],
            (1..=10).collect::<Vec<u64>>()[..]
        );
        let back: RecentRing = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, r);
        assert!((1..=n).all(|i| back.contains(i)));
        r.clear();
        assert!(r.is_empty() && !r.contains(1) && r == RecentRing::default());
    }

    /// What the last trade wrote is pushed out unkept: only the current trade's is kept, so a
    /// slot's event memory grows only while one trade has more than 64 events.
    #[test]
    fn a_ring_keeps_nothing_of_the_last_trade_and_forgets_it_at_the_next() {
        let mut r = RecentRing::default();
        let n = SLOT_SEEN_EVENTS as u64;
        for i in 1..=n + 5 {
            r.insert(i);
        }
        r.new_trade();
        assert!(
            r.contains(n + 5) && !r.contains(1),
            "the ring is kept, what it kept is not"
        );
        for i in 1..=n {
            r.insert(1_000 + i);
        }
        assert_eq!(r.trade_wrote(), SLOT_SEEN_EVENTS);
        assert!(!r.contains(n + 5), "the last trade's pushed out, not kept");
        r.insert(2_000);
        assert!(
            r.contains(1_001),
            "the trade's own is kept once it wrote the whole ring"
        );
        // Decoded, the ring takes every place for the trade's; a checkpoint says less.
        let mut back: RecentRing = bincode::deserialize(&bincode::serialize(&r).unwrap()).unwrap();
        assert_eq!(back.trade_wrote(), SLOT_SEEN_EVENTS);
        r.new_trade();
        r.insert(3_000);
        back.new_trade();
        back.insert(3_000);
        assert!(back.set_trade_wrote(SLOT_SEEN_EVENTS + 1).is_err());
        back.set_trade_wrote(1).unwrap();
        assert_eq!(back, r);
    }

    /// Legs are encoded as the `Vec` they were: checkpoints written before still load.
    #[test]
    fn legs_encode_as_a_vec() {
        for legs in [vec![1.0], vec![0.5, 0.5], vec![0.5, 0.25, 0.25]] {
            let inline = Legs::from_slice(&legs);
            let bytes = bincode::serialize(&legs).unwrap();
            assert_eq!(bincode::serialize(&inline).unwrap(), bytes);
            assert_eq!(bincode::deserialize::<Legs>(&bytes).unwrap(), inline);
        }
    }

    /// `prefetch` loads the place the next insert writes: while the ring fills, the first
    /// free one (it loaded place 0 until the ring was full, a line the insert never wrote).
    #[test]
    fn recent_ring_place_is_where_the_next_insert_writes() {
        let mut r = RecentRing::default();
        for i in 0..(2 * SLOT_SEEN_EVENTS as u64 + 5) {
            let at = r.place();
            r.insert(1_000 + i);
            assert_eq!(r.items()[at], 1_000 + i, "insert {i} wrote place {at}");
        }
    }

    /// `RecentRing::insert` written plainly, as a reference: the place first (`place`), then
    /// whether the ring was full.
    fn reference_insert(r: &mut RecentRing, fp: u64) {
        let at = r.place();
        if r.len as usize == SLOT_SEEN_EVENTS {
            if r.mine as usize == SLOT_SEEN_EVENTS {
                r.keep_beyond(at);
            }
            r.next = ((at + 1) % SLOT_SEEN_EVENTS) as u8;
        } else {
            r.len += 1;
        }
        if (r.mine as usize) < SLOT_SEEN_EVENTS {
            r.mine += 1;
        }
        let d = match &mut r.data {
            Some(d) => d,
            None => r.first_data(),
        };
        d.tags[at % SLOT_SEEN_EVENTS] = tag(fp);
        d.items[at % SLOT_SEEN_EVENTS] = fp;
    }

    /// The ring's insert leaves it as the reference insert does (places, count, next place,
    /// the trade's share, what is kept beyond, its stored bytes), through filling, pushing
    /// out, new trades, a clear, a decoded ring's share set lower.
    #[test]
    fn recent_ring_insert_matches_the_reference_insert() {
        let (mut r, mut before) = (RecentRing::default(), RecentRing::default());
        let mut x = 7u64;
        for step in 0..3_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            match x >> 58 {
                0 => {
                    r.new_trade();
                    before.new_trade();
                }
                1 if step % 5 == 0 => {
                    r.clear();
                    before.clear();
                }
                2 => {
                    let bytes = bincode::serialize(&r).unwrap();
                    r = bincode::deserialize(&bytes).unwrap();
                    before = bincode::deserialize(&bytes).unwrap();
                    let n = (x >> 20) as usize % (r.len() + 1);
                    r.set_trade_wrote(n).unwrap();
                    before.set_trade_wrote(n).unwrap();
                }
                _ => {
                    r.insert(x);
                    reference_insert(&mut before, x);
                }
            }
            assert_eq!(
                (r.len, r.next, r.mine),
                (before.len, before.next, before.mine),
                "step {step}"
            );
            assert_eq!(r, before, "step {step}");
            assert_eq!(
                bincode::serialize(&r).unwrap(),
                bincode::serialize(&before).unwrap()
            );
            assert!(r.contains(x) == before.contains(x));
        }
    }

    /// An ENTER's transition IDLE -> ORDER_SENT with inline ids and `details`.
    fn entered(details: TransitionDetails) -> KernelTransition {
        KernelTransition {
            timestamp: 1.0,
            trade_id: id("t1"),
            slot_id: 0,
            prev_state: TradeStage::Idle,
            next_state: TradeStage::OrderSent,
            trigger: "ENTER",
            intent_id: id("i1"),
            event_id: Id::default(),
            details,
        }
    }

    /// An answer's transitions are forgotten without their drop only when none owns heap
    /// memory: an id past the inline length, or details with text of their own, says so.
    #[test]
    fn a_transition_owns_nothing_only_without_heap_text() {
        let long = id("an-id-longer-than-twenty-three-bytes");
        let t = entered(TransitionDetails::Submit {
            client_order_id: id("k-1"),
            qty: 1.0,
        });
        assert!(t.owns_nothing());
        for heap in [
            KernelTransition {
                trade_id: long.clone(),
                ..t.clone()
            },
            KernelTransition {
                intent_id: long.clone(),
                ..t.clone()
            },
            KernelTransition {
                event_id: long.clone(),
                ..t.clone()
            },
            KernelTransition {
                details: TransitionDetails::Submit {
                    client_order_id: long.clone(),
                    qty: 1.0,
                },
                ..t.clone()
            },
            KernelTransition {
                details: TransitionDetails::Named(vec![("reason", Detail::Static("x"))]),
                ..t.clone()
            },
        ] {
            assert!(!heap.owns_nothing(), "{heap:?}");
        }
        let mut out = KernelOutcome::blank();
        out.transitions = vec![
            t.clone(),
            KernelTransition {
                trade_id: long,
                ..t
            },
        ];
        out.reset_ok(0, id("t2"), TradeStage::Idle, 1);
        assert!(out.transitions.is_empty());
    }

    /// `reset_ok` looks at one or two transitions without a loop and leaves empty lists as
    /// they are: whatever the answer held (up to three transitions, one owning heap text at
    /// any place, or none; events, cancels and details), it is told the same as by a walk of
    /// every transition, and every list ends empty.
    #[test]
    fn reset_ok_empties_every_list_and_tells_owning_transitions_as_a_walk() {
        let plain = entered(TransitionDetails::Empty);
        let owning = entered(TransitionDetails::Ended {
            filled_size: 0.0,
            order_size: 1.0,
            reason: "gone".to_owned(),
        });
        for n in 0..=3 {
            for heap_at in (0..n).map(Some).chain([None]) {
                let transitions: Vec<_> = (0..n)
                    .map(|i| {
                        if heap_at == Some(i) {
                            owning.clone()
                        } else {
                            plain.clone()
                        }
                    })
                    .collect();
                let mut out = KernelOutcome::blank();
                out.transitions = transitions;
                assert_eq!(
                    out.transitions_own_nothing(),
                    out.transitions.iter().all(KernelTransition::owns_nothing),
                    "{n} transitions, heap text at {heap_at:?}"
                );
                out.emitted_events = vec![VenueEvent::new("e", KernelEventKind::Fill, &id("c"))];
                out.details = vec![("reason", Detail::Static("x"))];
                let order = VenueOrder::sample(id("k-1"), id("v-1"), id("t1"), id("ETHUSDT"));
                out.cancels = vec![order.clone()];
                out.submit = Some(order);
                out.reset_ok(0, id("t2"), TradeStage::Idle, 1);
                assert!(out.transitions.is_empty(), "{n}, {heap_at:?}");
                assert!(out.emitted_events.is_empty() && out.details.is_empty());
                assert!(out.cancels.is_empty() && out.submit.is_none());
                assert_eq!((out.trade_id.as_str(), out.seq), ("t2", 1));
            }
        }
    }
}
