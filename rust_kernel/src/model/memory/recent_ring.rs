//! A slot's memory of the event and fill ids it has seen: the latest 64 in a ring, and more
//! of the current trade's kept beyond it.

use super::tables::FIBONACCI_MIX;
use super::tag_match::tag_hits;
use super::RecentSet;
use crate::model::prefetch;
use serde::{Deserialize, Serialize};

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
    /// ring pushes out is the trade's own, and it is kept (`kept_beyond`).
    trade_wrote: u8,
    /// What the full ring pushed out while the trade that wrote it is still going, up to
    /// [`KEPT_BEYOND_RING`] more: an event or fill resent after 64 later ones would otherwise
    /// be booked again, a position the venue does not hold. None until a trade writes more
    /// than the ring holds; forgotten when the next trade starts.
    kept_beyond: Option<Box<RecentSet<u64>>>,
}

/// How many fingerprints a ring keeps beyond its places for one trade: a trade with more
/// events or fill keys than that forgets its oldest.
pub const KEPT_BEYOND_RING: usize = 1 << 16;

// What a trade wrote and kept takes no room in the slot: the ring's place, count and share are
// a byte each.
const _: () = assert!(std::mem::size_of::<RecentRing>() <= 3 * std::mem::size_of::<usize>());

#[derive(Clone, Debug)]
struct RingData {
    tags: [u8; SLOT_SEEN_EVENTS],
    items: [u64; SLOT_SEEN_EVENTS],
}

/// How a ring is stored in checkpoints: its places, then what is kept beyond them, and the
/// place the next insert writes once full.
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
        self.kept_beyond.as_ref().is_some_and(|b| b.contains(&fp))
    }

    /// Remembers `fp`. Once the ring is full, it pushes out the oldest it holds, which is kept
    /// beyond it (up to [`KEPT_BEYOND_RING`]) when the current trade wrote it: a trade's
    /// events and fills are known however many came after them. Only a trade with more than
    /// 64 gets there, so the usual ring needs nothing beyond it.
    #[inline(always)]
    pub fn insert(&mut self, fp: u64) {
        // The place (`place`), the count and the trade's share move with one test of the
        // count: a ring not full yet takes its first free place, a full one its oldest.
        let at;
        if (self.len as usize) < SLOT_SEEN_EVENTS {
            at = self.len as usize;
            self.len += 1;
            if (self.trade_wrote as usize) < SLOT_SEEN_EVENTS {
                self.trade_wrote += 1;
            }
        } else {
            at = self.next as usize % SLOT_SEEN_EVENTS;
            if (self.trade_wrote as usize) < SLOT_SEEN_EVENTS {
                self.trade_wrote += 1;
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
            self.kept_beyond
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
        self.trade_wrote = 0;
        self.kept_beyond = None;
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

    /// How many of the ring's places the current trade wrote. A ring decoded (its stored form
    /// has no room for it) takes every place it holds for the trade's, the cautious reading: a
    /// checkpoint keeps the figure apart where it is less.
    pub fn trade_wrote(&self) -> usize {
        self.trade_wrote as usize
    }

    /// Sets [`RecentRing::trade_wrote`], as a checkpoint says it: no more than the ring holds.
    pub fn set_trade_wrote(&mut self, n: usize) -> Result<(), String> {
        if n > self.len() {
            return Err(format!(
                "{n} events of the trade, more than the {} remembered",
                self.len
            ));
        }
        self.trade_wrote = n as u8;
        Ok(())
    }

    /// Takes every place the ring holds for the current trade's, as a decoded ring does.
    pub fn assume_trade_wrote_all(&mut self) {
        self.trade_wrote = self.len;
    }

    fn items(&self) -> &[u64] {
        self.data
            .as_ref()
            .map_or(&[], |d| &d.items[..self.len as usize])
    }

    /// What is kept beyond the ring, oldest first.
    fn kept_in_order(&self) -> impl Iterator<Item = &u64> {
        self.kept_beyond.iter().flat_map(|b| b.iter())
    }
}

impl PartialEq for RecentRing {
    fn eq(&self, other: &Self) -> bool {
        self.items() == other.items()
            && self.next == other.next
            && self.trade_wrote == other.trade_wrote
            && self.kept_in_order().eq(other.kept_in_order())
    }
}

/// Stored as the ring's places, then what is kept beyond it, oldest first (a ring that keeps
/// none is its places alone). Decoded, every place is taken for the current trade's
/// ([`RecentRing::trade_wrote`]).
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
            ring.kept_beyond
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
            items: r.items().iter().chain(r.kept_in_order()).copied().collect(),
            next: r.next as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::fingerprint;

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
        let stored: (Vec<u64>, usize) = bincode::deserialize(&bytes).unwrap();
        assert_eq!(stored.0.len(), SLOT_SEEN_EVENTS);
        assert_eq!(stored.1, 5);
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

    /// `prefetch` loads the place the next insert writes: while the ring fills, the first
    /// free one; once full, the oldest.
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
            if r.trade_wrote as usize == SLOT_SEEN_EVENTS {
                r.keep_beyond(at);
            }
            r.next = ((at + 1) % SLOT_SEEN_EVENTS) as u8;
        } else {
            r.len += 1;
        }
        if (r.trade_wrote as usize) < SLOT_SEEN_EVENTS {
            r.trade_wrote += 1;
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
        let (mut r, mut reference) = (RecentRing::default(), RecentRing::default());
        let mut x = 7u64;
        for step in 0..3_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            match x >> 58 {
                0 => {
                    r.new_trade();
                    reference.new_trade();
                }
                1 if step % 5 == 0 => {
                    r.clear();
                    reference.clear();
                }
                2 => {
                    let bytes = bincode::serialize(&r).unwrap();
                    r = bincode::deserialize(&bytes).unwrap();
                    reference = bincode::deserialize(&bytes).unwrap();
                    let n = (x >> 20) as usize % (r.len() + 1);
                    r.set_trade_wrote(n).unwrap();
                    reference.set_trade_wrote(n).unwrap();
                }
                _ => {
                    r.insert(x);
                    reference_insert(&mut reference, x);
                }
            }
            assert_eq!(
                (r.len, r.next, r.trade_wrote),
                (reference.len, reference.next, reference.trade_wrote),
                "step {step}"
            );
            assert_eq!(r, reference, "step {step}");
            assert_eq!(
                bincode::serialize(&r).unwrap(),
                bincode::serialize(&reference).unwrap()
            );
            assert!(r.contains(x) == reference.contains(x));
        }
    }
}
