//! Sets of slot indices: the kernel's free slots, and each asset's open ones.

use serde::{Deserialize, Serialize};

/// A set of slot indices as a two-level bitmap: insert, remove and the lowest member are O(1)
/// for any realistic `max_slots` and touch one or two words. Iteration is in ascending order,
/// so sums over open slots add up in slot order, the same to the bit however the set was
/// made. Stored in checkpoints as the ascending list of members (as a `BTreeSet<usize>` is).
/// Two sets are equal when their members are: words emptied by removals stay allocated in
/// memory, not in a checkpoint.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_set_behaves_like_a_btree_set() {
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
        // A member of 2^49 would make the set allocate 2^43 words while decoding, and a
        // failed allocation aborts the process.
        let bytes = bincode::serialize(&vec![3usize, 1 << 49]).unwrap();
        let err = bincode::deserialize::<SlotSet>(&bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("562949953421312"), "{err}");
        let bytes = bincode::serialize(&vec![3usize, MAX_SLOTS - 1]).unwrap();
        let back: SlotSet = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.len(), 2);
    }
}
