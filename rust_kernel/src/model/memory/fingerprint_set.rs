//! The kernel-wide memories of intent and order ids: the latest fingerprints, a fixed number
//! of them, the oldest forgotten first.

use super::tables::{mixed, stored, CompactTable, Probe};
use serde::{Deserialize, Serialize};

/// A bounded memory of recent 64-bit fingerprints (see `types::fingerprint`) with FIFO
/// eviction: the kernel-wide idempotency memories (100,000 intents, 50,000 orders), touched
/// on every intent and order. The fingerprints sit in a ring in insertion order; a
/// `CompactTable` finds them by their ring index, so the only place a lookup reads at
/// random is a table of 4-byte entries, and pushing out the oldest finds its entry by that
/// index without reading any fingerprint. Stored in checkpoints as a `RecentSet<u64>` is
/// (insertion order, members, capacity): the layout checkpoints hold for these memories.
#[derive(Clone, Debug)]
pub struct FingerprintSet {
    /// Fingerprints in insertion order (a ring once full); `head` is the oldest.
    ring: Vec<u64>,
    head: usize,
    /// An entry for each fingerprint in the ring, placed by its value, naming its index.
    table: CompactTable,
    capacity: usize,
}

/// The most fingerprints a [`FingerprintSet`] keeps: ring indices must fit a table entry
/// beside its tag and distance (the kernel keeps 100,000).
const FINGERPRINT_SET_MAX_CAPACITY: usize = 1 << 27;

/// A fingerprint looked up in a [`FingerprintSet`]: whether it is known and, once the set
/// has a table, where it is or would go: a check for a duplicate and the insert after it
/// share one lookup, a read of the table at a random place.
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

    /// Starts loading what inserting `fps` will touch (see [`prefetch`](crate::model::prefetch)):
    /// the table lines of each and of the oldest entries they will push out.
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

    /// A copy that encodes as this set does and serves nothing else: its lookup table, the
    /// larger part of its memory and never encoded, is left out, so it finds nothing and must
    /// not take an insert. Only a checkpoint's copy holds one ([`crate::kernel::CheckpointCopy`]).
    pub(crate) fn copy_to_encode(&self) -> Self {
        FingerprintSet {
            ring: self.ring.clone(),
            head: self.head,
            table: CompactTable::default(),
            capacity: self.capacity,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RecentSet;
    use std::collections::VecDeque;

    #[test]
    fn a_copy_to_encode_encodes_as_its_set_in_and_beyond_its_capacity() {
        let mut f = FingerprintSet::new(100);
        for i in 0..250u64 {
            f.insert(i * 7919);
            if i % 60 == 0 {
                let copy = bincode::serialize(&f.copy_to_encode()).unwrap();
                assert_eq!(copy, bincode::serialize(&f).unwrap(), "after {i}");
            }
        }
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

    #[test]
    fn fingerprint_set_encodes_like_a_recent_set() {
        let mut recent = RecentSet::new(3);
        let mut set = FingerprintSet::new(3);
        for fp in [5u64, 9, 2, 7] {
            recent.insert(fp);
            set.insert(fp);
        }
        let back: FingerprintSet =
            bincode::deserialize(&bincode::serialize(&recent).unwrap()).unwrap();
        assert_eq!(back, set);
        let again: FingerprintSet =
            bincode::deserialize(&bincode::serialize(&set).unwrap()).unwrap();
        assert_eq!(again, set);
        assert!(again.contains(&2) && !again.contains(&5));
    }
}
