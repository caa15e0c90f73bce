//! [`VenueIndex`] answers as the map of venue ids it stands for, over random inserts, removals
//! and clears of more ids than its list holds (so some go to the map, and the list frees and
//! takes places while the map holds others); and it serializes as that map, and reads back
//! from it.

use super::order_index_props::{serialized_as, sorted};
use super::*;
use proptest::prelude::*;

/// More ids than [`VENUE_FRONT`]: ids of one length differing in one byte (inline ids, whose
/// words are compared), ids shorter than eight bytes, the empty id, and ids past the inline
/// length (shared, made anew for each look, so compared by their texts).
const IDS: [&str; 10] = [
    "v-1",
    "v-2",
    "",
    "venue-00001005",
    "venue-10001005",
    "K-probe-00000001",
    "K-probe-00000002",
    "x",
    "a-venue-order-id-past-the-inline-length-1005",
    "a-venue-order-id-past-the-inline-length-2005",
];

#[derive(Clone, Debug)]
enum Op {
    Insert(usize, usize),
    Remove(usize),
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..IDS.len(), 0..4usize).prop_map(|(i, s)| Op::Insert(i, s)),
        4 => (0..IDS.len()).prop_map(Op::Remove),
        1 => Just(Op::Clear),
    ]
}

proptest! {
    #[test]
    fn venue_index_is_its_map(ops in proptest::collection::vec(op(), 1..80)) {
        let mut index = VenueIndex::default();
        let mut map: IdMap<Id, usize> = IdMap::default();
        for op in ops {
            match op {
                Op::Insert(i, s) => {
                    prop_assert_eq!(index.insert(id(IDS[i]), s), map.insert(id(IDS[i]), s));
                }
                Op::Remove(i) => {
                    prop_assert_eq!(index.remove(&id(IDS[i])), map.remove(&id(IDS[i])));
                }
                Op::Clear => {
                    index.clear();
                    map.clear();
                }
            }
            prop_assert!(index.front.len() <= VENUE_FRONT);
            prop_assert!(index.front.iter().all(|(v, _)| !index.map.contains_key(v)));
            prop_assert_eq!(index.len(), map.len());
            for v in IDS {
                prop_assert_eq!(index.get(&id(v)), map.get(&id(v)));
                prop_assert_eq!(index.contains_key(&id(v)), map.contains_key(&id(v)));
            }
            prop_assert_eq!(sorted(index.iter()), sorted(map.iter()));
            serialized_as(&index, &map)?;
        }
    }
}

/// The list takes the first ids, the map the rest; an id in the map stays there when the list
/// frees a place, and is found there.
#[test]
fn the_list_takes_the_first_ids_and_the_map_the_rest() {
    let mut index = VenueIndex::default();
    for (i, v) in IDS.iter().enumerate().take(VENUE_FRONT + 2) {
        assert_eq!(index.insert(id(v), i), None);
    }
    assert_eq!((index.front.len(), index.map.len()), (VENUE_FRONT, 2));
    assert_eq!(index.remove(&id(IDS[0])), Some(0));
    let last = id(IDS[VENUE_FRONT + 1]);
    assert_eq!(index.get(&last), Some(&(VENUE_FRONT + 1)));
    assert_eq!(index.insert(last.clone(), 9), Some(VENUE_FRONT + 1));
    assert_eq!((index.front.len(), index.map.len()), (VENUE_FRONT - 1, 2));
    assert_eq!(index.insert(id("new"), 7), None);
    assert_eq!((index.front.len(), index.map.len()), (VENUE_FRONT, 2));
    // A checkpoint holds one map of them all, whichever holds each.
    let map: IdMap<Id, usize> = bincode::deserialize(&bincode::serialize(&index).unwrap()).unwrap();
    assert_eq!(map.len(), VENUE_FRONT + 2);
    assert_eq!(map.get(&last), Some(&9));
}

/// A kernel's checkpoint holds the venue-id index as the map did: one working order's entry,
/// the same bytes as a map of it.
#[test]
fn a_checkpoint_holds_the_index_as_its_map() {
    let mut index = VenueIndex::default();
    index.insert(id("K-probe-00000001"), 3);
    let mut map: IdMap<Id, usize> = IdMap::default();
    map.insert(id("K-probe-00000001"), 3);
    assert_eq!(
        bincode::serialize(&index).unwrap(),
        bincode::serialize(&map).unwrap()
    );
}
