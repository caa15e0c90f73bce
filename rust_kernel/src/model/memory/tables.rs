//! The linear-probing hash tables the memories keep their entries in: [`ProbeTable`] of
//! `u64` entries for the unsettled fills, [`CompactTable`] of `u32` entries for the
//! kernel-wide fingerprint sets.

use crate::model::prefetch;

/// 2^64 divided by the golden ratio: multiplying by it spreads a key's bits into the top
/// bits, which is where `ProbeTable::home` and `tag` take theirs from.
pub(super) const FIBONACCI_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
pub(super) fn mixed(hash: u64) -> u64 {
    hash.wrapping_mul(FIBONACCI_MIX)
}

/// The free slot of a [`ProbeTable`].
const EMPTY: u64 = 0;
/// The free slot of a [`CompactTable`].
const EMPTY32: u32 = 0;

/// A fingerprint as the memories keep it: 0 is stored as 1 ([`EMPTY`] marks a free slot); the
/// odds that this merges two live ids are those of any other 64-bit collision.
#[inline]
pub(super) fn stored(fp: u64) -> u64 {
    fp.max(1)
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
/// unsettled fills' [`FifoMap`](super::FifoMap) keeps its entries here so that a lookup, an
/// insert and an eviction each touch about one cache line (the fingerprint memories use the
/// half-size [`CompactTable`]).
#[derive(Clone, Debug, Default)]
pub(super) struct ProbeTable {
    pub(super) slots: Vec<u64>,
}

impl ProbeTable {
    /// A table for up to `capacity` entries: at least twice that, so probe runs stay short.
    pub(super) fn for_capacity(capacity: usize) -> Self {
        ProbeTable {
            slots: vec![EMPTY; (capacity * 2).next_power_of_two().max(8)],
        }
    }

    pub(super) fn is_empty(&self) -> bool {
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
    pub(super) fn find(&self, hash: u64, mut is: impl FnMut(u64) -> bool) -> (usize, bool) {
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
    pub(super) fn remove_at(&mut self, mut hole: usize, mixed_of: impl Fn(u64) -> u64) {
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
    pub(super) fn prefetch(&self, hash: u64) {
        if !self.is_empty() {
            prefetch(&self.slots[self.home(hash)]);
        }
    }
}

/// Linear-probing slots of `u32` entries, half the size of a [`ProbeTable`]'s, so that the
/// kernel-wide memories' tables, looked up at a random place for every new key, stay in the
/// core's own cache more often than tables of `u64`s would. An entry names its key by a
/// position (an index into the owner's ring or queue, where the full key is) and filters it
/// by how far it sits from its home slot and by a few more bits of its mixed hash (its tag):
/// a lookup reads a key only for an entry with the same home and tag, about one in a few
/// thousand for a key that is not there. An entry is
///
///   tag (the bits left) | 1 + distance from home, 30 and over as 31 (5 bits) | position
///
/// so no entry is `EMPTY32` (0). Removal shifts later entries of the run back, which needs each
/// one's home: its distance gives it, unless that is 30 or more (a run of that length is
/// rare), when the owner's `mixed_of` is asked for the key's mixed hash.
#[derive(Clone, Debug, Default)]
pub(super) struct CompactTable {
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
    /// The distance field of an entry in its home slot, and the far one ([`FAR`]), in place:
    /// each lookup's, made once.
    home_distance: u32,
    far_distance: u32,
}

const DISTANCE_BITS: u32 = 5;
/// The distance field of an entry 30 or more slots from its home.
const FAR: u32 = (1 << DISTANCE_BITS) - 1;

impl CompactTable {
    /// A table for up to `capacity` entries (at least twice that many slots, so probe runs
    /// stay short) whose positions are below `positions`, at most 2^27.
    pub(super) fn new(capacity: usize, positions: usize) -> Self {
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
            home_distance: 1 << position_bits,
            far_distance: FAR << position_bits,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
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
    pub(super) fn position_mask(&self) -> u32 {
        (1 << self.position_bits) - 1
    }

    /// The position of entry `e`.
    #[inline]
    pub(super) fn position(&self, e: u32) -> u32 {
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
    pub(super) fn find(&self, mixed: u64, mut is: impl FnMut(u32) -> bool) -> Probe {
        let mask = self.slots.len() - 1;
        let (home_distance, far_distance) = (self.home_distance, self.far_distance);
        let mut want = self.tag(mixed) | home_distance;
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
            if want & far_distance != far_distance {
                want += home_distance;
            }
        }
    }

    /// Fills the empty slot `probe` found with an entry naming `position`.
    #[inline]
    pub(super) fn put(&mut self, probe: Probe, position: u32) {
        self.slots[probe.at] = probe.fields | position;
    }

    /// Empties slot `hole`, shifting later entries of its probe run back; `mixed_of` gives
    /// the mixed hash (see [`mixed`]) of an entry's key, asked for only when the entry is
    /// too far from its home for the entry to tell.
    pub(super) fn remove_at(&mut self, mut hole: usize, mixed_of: impl Fn(u32) -> u64) {
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
    pub(super) fn prefetch(&self, mixed: u64) {
        if !self.is_empty() {
            prefetch(&self.slots[self.home(mixed)]);
        }
    }

    /// For tests: keeps only `bits` bits of each tag (none at 0), so that keys of one home
    /// are told apart only by reading them.
    #[cfg(test)]
    pub(super) fn narrow_tags(&mut self, bits: u32) {
        self.tag_mask &= !(u32::MAX.checked_shr(bits).unwrap_or(0));
    }
}

/// What [`CompactTable::find`] found: a slot, whether it holds the key, and the tag and
/// distance fields of an entry for the key in that slot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Probe {
    pub(super) at: usize,
    pub(super) found: bool,
    fields: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_table_homes_and_tags_are_the_mixed_hash_s_top_bits() {
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
                (t.home_distance, t.far_distance),
                (1 << t.position_bits, FAR << t.position_bits)
            );
        }
    }
}
