//! Values by id in arrival order, the oldest pushed out past a bound: the kernel's unsettled
//! fills.

use super::chunked_queue::ChunkedQueue;
use super::tables::{mixed, stored, ProbeTable};
use crate::model::prefetch;
use crate::types::*;
use serde::Serialize;
use std::collections::VecDeque;

/// Values by id, oldest first, for the kernel's fees waiting for the exchange's settlement:
/// at most `capacity` values are live, and the queue keeps at most twice that many places (a
/// value taken out early leaves its place behind until the place reaches the front). The
/// oldest value goes when either bound is passed. Kept in a `ProbeTable` by the id's
/// fingerprint, with the id checked on every match, so it is exact; an insert can be
/// prefetched before the input needs it. It is stored in checkpoints as the map of live
/// values and the queue of places' ids (a checkpoint's `unsettled` and `unsettled_order`).
///
/// A table entry carries the top 32 bits of its id's mixed hash beside its place's position,
/// so probing past other entries, and shifting them back on removal, never reads a place:
/// the places are far larger than the table and each read of one is a wait on memory.
#[derive(Clone, Debug)]
pub struct FifoMap<V> {
    /// Shared with a checkpoint's copy until either changes them ([`ChunkedQueue`]).
    places: ChunkedQueue<Place<V>>,
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

impl<V: Clone> FifoMap<V> {
    /// At most 2^28 values (the kernel keeps 100,000).
    pub fn new(capacity: usize) -> Self {
        FifoMap {
            places: ChunkedQueue::default(),
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

    /// The table slot of `id`'s live value (`id` an `Id`, or its text).
    fn find<K: ?Sized>(&self, id: &K, hash: u64) -> (usize, bool)
    where
        Id: PartialEq<K>,
    {
        self.find_inline(id, hash)
    }

    /// [`FifoMap::find`], inlined where a value is put (an unsettled fill, once a fill): a
    /// call's saving and restoring of registers is nearly half its cost.
    #[inline(always)]
    fn find_inline<K: ?Sized>(&self, id: &K, hash: u64) -> (usize, bool)
    where
        Id: PartialEq<K>,
    {
        if self.table.is_empty() {
            return (0, false);
        }
        let tag = mixed(hash) & ENTRY_TAG;
        self.table.find(hash, |e| {
            e & ENTRY_TAG == tag && self.place(e).hash == hash && self.place(e).id == *id
        })
    }

    /// The live value of `id`, an `Id` or its text (a lookup by text makes no `Id`).
    pub fn get<K: AsRef<str> + ?Sized>(&self, id: &K) -> Option<&V>
    where
        Id: PartialEq<K>,
    {
        let (at, found) = self.find(id, stored(fingerprint(id.as_ref())));
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
            self.places.drop_front();
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

    /// A copy that encodes as this map does and serves nothing else: the places are shared
    /// ([`ChunkedQueue`]) and the lookup table, never encoded, is left out, so it finds nothing
    /// and must not take an insert. Only a checkpoint's copy holds one
    /// ([`crate::kernel::CheckpointCopy`]).
    pub(crate) fn copy_to_encode(&self) -> Self {
        FifoMap {
            places: self.places.clone(),
            front: self.front,
            table: ProbeTable::default(),
            live: self.live,
            capacity: self.capacity,
        }
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

impl<V: Clone + PartialEq> PartialEq for FifoMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.capacity == other.capacity
            && self.places.len() == other.places.len()
            && self
                .places
                .iter()
                .zip(other.places.iter())
                .all(|(a, b)| a.id == b.id && a.value == b.value)
    }
}

impl<V: Clone + Serialize> Serialize for FifoMap<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Live<'a, V>(&'a FifoMap<V>);
        impl<V: Clone + Serialize> Serialize for Live<'_, V> {
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

impl<V: Clone> FifoMap<V> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The unsettled fills written plainly, as a reference: a map, the queue of places, and
    /// how many places of each id were taken out early, skipped at eviction (counted, so a
    /// second take of one id does not push out that id's next value at its earlier place).
    #[derive(Default)]
    struct UnsettledModel {
        map: ahash::AHashMap<Id, u32>,
        order: VecDeque<Id>,
        taken: ahash::AHashMap<Id, usize>,
    }

    impl UnsettledModel {
        fn insert(&mut self, cap: usize, id: Id, v: u32) -> Vec<u32> {
            if self.map.insert(id.clone(), v).is_none() {
                self.order.push_back(id);
            }
            let mut out = Vec::new();
            while self.map.len() > cap || self.order.len() > 2 * cap {
                let Some(oldest) = self.order.pop_front() else {
                    break;
                };
                if let Some(n) = self.taken.get_mut(&oldest).filter(|n| **n > 0) {
                    *n -= 1;
                    continue;
                }
                out.extend(self.map.remove(&oldest));
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
        /// Same values, same evictions, same answers as a map and a queue, for any mix of
        /// inserts (repeats included) and early takes, across its bounds.
        #[test]
        fn fifo_map_behaves_like_a_map_and_a_queue(
            ops in proptest::collection::vec((0u8..3, 0u8..24, 0u32..1000), 1..400)
        ) {
            let cap = 5;
            let mut map = FifoMap::new(cap);
            let mut model = UnsettledModel::default();
            for (op, key, v) in ops {
                let k = id(&format!("f{key}"));
                if op < 2 {
                    map.insert(k.clone(), v);
                    let mut pushed = Vec::new();
                    while let Some(x) = map.pop_over_capacity() {
                        pushed.push(x);
                    }
                    proptest::prop_assert_eq!(pushed, model.insert(cap, k, v));
                } else {
                    proptest::prop_assert_eq!(map.take(&k), model.take(&k));
                }
                proptest::prop_assert_eq!(map.len(), model.map.len());
                for (k, v) in &model.map {
                    proptest::prop_assert_eq!(map.get(k), Some(v));
                }
            }
            // Checkpoints: the two fields, and back.
            let bytes = bincode::serialize(&map).unwrap();
            proptest::prop_assert_eq!(&bincode::serialize(&map.copy_to_encode()).unwrap(), &bytes);
            let (values, order): (ahash::AHashMap<Id, u32>, VecDeque<Id>) =
                bincode::deserialize(&bytes).unwrap();
            proptest::prop_assert_eq!(&values, &model.map);
            let mut back = FifoMap::from_parts(values, order, cap);
            proptest::prop_assert!(back == map);
            // The rebuilt table answers like the original, through lookups and takes.
            for (k, v) in &model.map {
                proptest::prop_assert_eq!(back.get(k), Some(v));
                proptest::prop_assert_eq!(back.take(k), map.take(k));
                proptest::prop_assert_eq!(back.get(k), None);
            }
            proptest::prop_assert!(back.is_empty() && map.is_empty());
        }
    }

    #[test]
    fn fifo_map_survives_colliding_probe_runs() {
        fifo_map_against_the_model_from(0);
    }

    #[test]
    fn fifo_map_positions_wrap_in_their_entries() {
        // Entries keep 31 bits of a position: start just before they wrap.
        fifo_map_against_the_model_from(ENTRY_POSITION - 700);
    }

    fn fifo_map_against_the_model_from(front: u64) {
        // Many ids in a small table: long probe runs, backward shifts on every take.
        let (cap, mut m, mut model) = (64, FifoMap::new(64), UnsettledModel::default());
        m.front = front;
        for i in 0..5000u32 {
            let k = id(&format!("fill-{i}"));
            m.insert(k.clone(), i);
            let mut pushed = Vec::new();
            while let Some(x) = m.pop_over_capacity() {
                pushed.push(x);
            }
            assert_eq!(pushed, model.insert(cap, k, i));
            if i % 3 == 0 {
                let earlier = id(&format!("fill-{}", i / 2));
                assert_eq!(m.take(&earlier), model.take(&earlier), "{i}");
            }
            assert!(m.len() <= cap);
            assert!(model.map.iter().all(|(k, v)| m.get(k) == Some(v)));
        }
    }
}
