//! The kernel's indexes by id: working orders by client order id ([`OrderIndex`]) and by
//! venue id ([`VenueIndex`]), and values by asset ([`ByAsset`]: what slots commit towards the
//! notional caps, and the open slots of each asset).

use super::*;

/// Working orders by client order id, to their slot: a map of ids, with a table in front of it for
/// ids ending in a digit, as the kernel's own do (`CounterIds`: its prefix, then the order
/// counter). Such an id has its place in the table by its last three digits, so consecutive orders
/// take consecutive places and are found without hashing; an id is in the table only at its place
/// and only whole (compared in full), and in the map otherwise (no digit, or its place taken),
/// never in both. It stands for the map alone, in fewer instructions: the same entries, the same
/// answers, serialized as the same map. (A venue's ids in such a table cost more than they save:
/// the venue-id index is a [`VenueIndex`].)
#[derive(Clone, Debug, Default)]
pub(super) struct OrderIndex {
    /// `ORDER_PLACES` places once an id is put in one; a free place holds slot [`FREE`], so
    /// that an insert sees it free without reading the id, beside the empty id or the last id
    /// it held (left there by [`OrderIndex::remove_at`]; nothing reads the id of a free
    /// place, and taking the place again drops it).
    pub(super) table: Vec<(Id, usize)>,
    /// How many places are taken.
    pub(super) in_table: usize,
    pub(super) map: IdMap<Id, usize>,
}

/// The places of [`OrderIndex`]'s table, one for each number of three digits: ahead of the
/// orders working at once in an ordinary book (two a slot at most), so a counter's place is
/// free when it comes round.
pub(super) const ORDER_PLACES: usize = 1000;

/// The slot of a free place in [`OrderIndex`]'s table (its id the empty one, or the last it
/// held).
pub(super) const FREE: usize = usize::MAX;

impl OrderIndex {
    /// The place of an id ending in a digit: the number its last three digits (or fewer, all
    /// it has) make, so the kernel's own ids take their counter's place modulo 1,000; or None.
    #[inline]
    pub(super) fn place(id: &[u8]) -> Option<usize> {
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
    pub(super) fn place_walked(id: &[u8]) -> Option<usize> {
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
    pub(super) fn held(&self, id: &Id) -> Option<usize> {
        let p = Self::place(id.as_bytes())?;
        let (c, s) = self.table.get(p)?;
        (*s != FREE && c == id).then_some(p)
    }

    pub(super) fn get(&self, id: &Id) -> Option<&usize> {
        match self.held(id) {
            Some(p) => Some(&self.table[p].1),
            None if self.map.is_empty() => None,
            None => self.map.get(id),
        }
    }

    /// [`OrderIndex::get`], with the place in the table that holds the id when it is there:
    /// [`OrderIndex::remove_at`] takes it, while the index is unchanged since.
    #[inline]
    pub(super) fn get_placed(&self, id: &Id) -> Option<(usize, Option<usize>)> {
        match self.held(id) {
            Some(p) => Some((self.table[p].1, Some(p))),
            None if self.map.is_empty() => None,
            None => self.map.get(id).map(|&sid| (sid, None)),
        }
    }

    pub(super) fn contains_key(&self, id: &Id) -> bool {
        self.get(id).is_some()
    }

    pub(super) fn insert(&mut self, id: Id, sid: usize) -> Option<usize> {
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
    pub(super) fn insert_at(&mut self, p: usize, id: Id, sid: usize) -> Option<usize> {
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
    pub(super) fn insert_free_slot(&mut self, id: Id) -> Option<usize> {
        let was = self.remove(&id);
        self.map.insert(id, FREE);
        was
    }

    pub(super) fn remove(&mut self, id: &Id) -> Option<usize> {
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
    pub(super) fn remove_at(&mut self, p: usize, id: &Id) {
        debug_assert!(
            self.table[p].1 != FREE && self.table[p].0 == *id,
            "place {p} holds {id}"
        );
        self.in_table -= 1;
        // The id stays until the place is taken again (see `table`): a fill's finish
        // writes one word, not the empty id over the old one.
        self.table[p].1 = FREE;
    }

    pub(super) fn len(&self) -> usize {
        self.in_table + self.map.len()
    }

    pub(super) fn clear(&mut self) {
        if self.in_table > 0 {
            self.table.fill((Id::default(), FREE));
            self.in_table = 0;
        }
        self.map.clear();
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&Id, &usize)> {
        let table = self.table.iter().filter(|(_, s)| *s != FREE);
        table.map(|(c, s)| (c, s)).chain(self.map.iter())
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &usize> {
        self.iter().map(|(_, s)| s)
    }
}

/// An index of ids standing for an `IdMap<Id, usize>` (its `len`, `iter`, `get` and `insert`):
/// equal when it holds the same entries, wherever each is kept, and serialized as that map.
macro_rules! index_as_map {
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

index_as_map!(OrderIndex);

/// Working orders by venue id, to their slot: a few entries in a short list in front of a map,
/// an id in one or the other, never both. A venue acknowledges an order and reports its end
/// before the next is acknowledged as a rule, so the list holds the working orders' ids and the
/// map stays empty: an order's entry is put in and taken out without hashing its id or the
/// map's machinery. Past [`VENUE_FRONT`] entries, the map takes the next. It stands for the
/// map alone: the same entries, the same answers, serialized as the same map (as
/// [`OrderIndex`]).
#[derive(Clone, Debug, Default)]
pub(super) struct VenueIndex {
    /// Up to [`VENUE_FRONT`] entries (the capacity a first push gives), in no order.
    pub(super) front: Vec<(Id, usize)>,
    pub(super) map: IdMap<Id, usize>,
}

/// The entries [`VenueIndex`]'s list holds: the orders an ordinary book has working at once
/// by venue id are few; a look at each is cheaper than a hash up to about this many.
pub(super) const VENUE_FRONT: usize = 4;

impl VenueIndex {
    /// Where in the list `id` is: each entry compared as an [`Id`] (three words for inline
    /// ids, every id the kernel and the usual venue make), not byte by byte.
    #[inline(always)]
    pub(super) fn at(&self, id: &Id) -> Option<usize> {
        if self.front.is_empty() {
            return None;
        }
        self.front.iter().position(|(v, _)| v == id)
    }

    #[inline(always)]
    pub(super) fn get(&self, id: &Id) -> Option<&usize> {
        match self.at(id) {
            Some(i) => Some(&self.front[i].1),
            None if self.map.is_empty() => None,
            None => self.map.get(id),
        }
    }

    pub(super) fn contains_key(&self, id: &Id) -> bool {
        self.get(id).is_some()
    }

    #[inline(always)]
    pub(super) fn insert(&mut self, id: Id, sid: usize) -> Option<usize> {
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
    pub(super) fn remove(&mut self, id: &Id) -> Option<usize> {
        match self.at(id) {
            Some(i) => Some(self.front.swap_remove(i).1),
            None if self.map.is_empty() => None,
            None => self.map.remove(id),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.front.len() + self.map.len()
    }

    /// Whether no venue id is indexed (the list and the map both empty).
    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.front.is_empty() && self.map.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.front.clear();
        self.map.clear();
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&Id, &usize)> {
        let front = self.front.iter().map(|(v, s)| (v, s));
        front.chain(self.map.iter())
    }
}

index_as_map!(VenueIndex);

/// A value by asset whose entry, once made, stays when it comes to nothing (a total of 0, an
/// emptied set), with its allocation, so a trade opening and closing on one market changes it
/// in place rather than making and removing it each time. Read, compared and serialized as the
/// map of the assets whose value is something ([`NonZeroEntry::is_nonzero`]).
///
/// Each slot remembers where its asset's entry was (`places`), checked against the asset
/// before it is used: a slot changing its commitment (three times a trade) or opening and
/// closing finds its entry without hashing the asset.
#[derive(Clone, Debug)]
pub(super) struct ByAsset<V> {
    /// Each asset's value, in the order the assets first had one.
    pub(super) entries: Vec<(Id, V)>,
    /// Where each asset's value is in `entries`.
    pub(super) index: IdMap<Id, usize>,
    /// By slot, where its asset's entry was last found (`usize::MAX`: not yet).
    pub(super) places: Vec<usize>,
    /// Each entry's asset by its [`asset_print`], made with the entry: a fill booked on a
    /// slot of the asset reads it here rather than hashing the asset again.
    pub(super) prints: Vec<Option<NonZeroU64>>,
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

/// A [`ByAsset`] value, which may come to nothing (a total of 0, an emptied set): an entry
/// is read, compared and serialized only while its value is not nothing.
pub(super) trait NonZeroEntry {
    fn is_nonzero(&self) -> bool;
}

impl NonZeroEntry for f64 {
    fn is_nonzero(&self) -> bool {
        *self > 0.0
    }
}

impl NonZeroEntry for SlotSet {
    fn is_nonzero(&self) -> bool {
        !self.is_empty()
    }
}

impl<V: NonZeroEntry> ByAsset<V> {
    pub(super) fn get(&self, asset: &str) -> Option<&V> {
        let &p = self.index.get(asset)?;
        Some(&self.entries[p].1).filter(|v| v.is_nonzero())
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
    pub(super) fn place(&mut self, sid: usize, asset: &Id) -> Option<usize> {
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
    pub(super) fn insert_for(&mut self, sid: usize, asset: &Id, value: V) {
        self.insert(asset.clone(), value);
        self.remember(sid, self.entries.len() - 1);
    }

    pub(super) fn insert(&mut self, asset: Id, value: V) {
        self.index.insert(asset.clone(), self.entries.len());
        self.prints.push(asset_print(&asset));
        self.entries.push((asset, value));
    }

    /// Forgets where slot `sid`'s asset was found: its asset is changing.
    pub(super) fn forget(&mut self, sid: usize) {
        if let Some(p) = self.places.get_mut(sid) {
            *p = usize::MAX;
        }
    }

    /// The asset whose entry slot `sid` last found, if it remembers one.
    pub(super) fn remembered(&self, sid: usize) -> Option<&Id> {
        let p = *self.places.get(sid)?;
        self.entries.get(p).map(|(a, _)| a)
    }

    pub(super) fn remember(&mut self, sid: usize, place: usize) {
        if sid >= self.places.len() {
            self.places.resize(sid + 1, usize::MAX);
        }
        self.places[sid] = place;
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
        self.places.clear();
        self.prints.clear();
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&Id, &V)> {
        self.entries
            .iter()
            .map(|(asset, v)| (asset, v))
            .filter(|(_, v)| v.is_nonzero())
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }
}

/// What slots commit, by asset (notional, quote currency): at 1e-9 or below an asset commits
/// nothing.
pub(super) type AssetNotional = ByAsset<f64>;

impl AssetNotional {
    /// Adds `delta` to `asset`'s total, slot `sid`'s, held at 0 or above; at 1e-9 or below
    /// it is none.
    pub(super) fn add(&mut self, sid: usize, asset: &Id, delta: f64) {
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
pub(super) type OpenByAsset = ByAsset<SlotSet>;

impl OpenByAsset {
    /// Puts slot `sid` in `asset`'s set (`holds`) or takes it out: whether that changed it,
    /// and the asset's [`asset_print`] when it has a set (None: it has none, nor was one made).
    #[inline]
    pub(super) fn update(
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

impl Kernel {
    /// Puts slot `sid` in (or takes it out of) the open slots of its asset: one lookup of the
    /// asset, whose set, once made, stays (see [`OpenByAsset`]). Returns the asset's
    /// [`asset_print`] when its set has it (see [`OpenByAsset::update`]).
    #[inline]
    pub(super) fn update_open_index(
        &mut self,
        sid: usize,
        holds: bool,
    ) -> Option<Option<NonZeroU64>> {
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
}

/// The same assets with the same values.
impl<V: NonZeroEntry + PartialEq> PartialEq for ByAsset<V> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().count() == other.iter().count()
            && self.iter().all(|(asset, v)| other.get(asset) == Some(v))
    }
}

/// As the map of the assets whose value is something.
impl<V: NonZeroEntry + Serialize> Serialize for ByAsset<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.iter().count()))?;
        for (asset, v) in self.iter() {
            m.serialize_entry(asset, v)?;
        }
        m.end()
    }
}

impl<'de, V: NonZeroEntry + Deserialize<'de>> Deserialize<'de> for ByAsset<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut by_asset = ByAsset::default();
        for (asset, v) in IdMap::<Id, V>::deserialize(d)? {
            by_asset.insert(asset, v);
        }
        Ok(by_asset)
    }
}
