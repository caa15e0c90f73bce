//! [`OrderIndex`] answers as the map of ids it stands for, over random inserts, removals and
//! clears of ids that share a place in its table (the same last digits), ids of fewer digits
//! and ids with none (a removal also at the place a lookup found, as an order's finish does);
//! and it serializes as that map, and reads back from it.

use super::*;
use proptest::prelude::*;

/// Ids sharing places: 5, 1005 and 05 end alike; 999 takes the table's last place; `x` and the
/// empty id have no digit; ids of eight bytes and more in pairs of one length and place,
/// differing in one byte (compared eight at a time), the longer pair past the inline length.
const IDS: [&str; 15] = [
    "k-5",
    "k-1005",
    "k-05",
    "5",
    "k-999",
    "j-999",
    "k-1",
    "x",
    "",
    "order-00001005",
    "order-10001005",
    "order-0000-0001005",
    "order-0001-0001005",
    "a-client-order-id-past-the-inline-length-1005",
    "a-client-order-id-past-the-inline-length-2005",
];

#[derive(Clone, Debug)]
enum Op {
    Insert(usize, usize),
    /// An insert at the id's place, known beforehand (`insert_at`, as `send_order` puts the
    /// kernel's own ids), for an id with a place and a slot; else as `Insert`.
    InsertPlaced(usize, usize),
    Remove(usize),
    /// Looked up with its place (`get_placed`), and removed there when the table held it.
    RemoveFound(usize),
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..IDS.len(), 0..4usize).prop_map(|(i, s)| Op::Insert(i, s)),
        // The slot that marks a free place in the table, which a checkpoint could name.
        1 => (0..IDS.len()).prop_map(|i| Op::Insert(i, FREE)),
        3 => (0..IDS.len(), 0..4usize).prop_map(|(i, s)| Op::InsertPlaced(i, s)),
        3 => (0..IDS.len()).prop_map(Op::Remove),
        2 => (0..IDS.len()).prop_map(Op::RemoveFound),
        1 => Just(Op::Clear),
    ]
}

/// The entries, sorted: an index's and its map's compared whatever their order.
pub(super) fn sorted<'a>(entries: impl Iterator<Item = (&'a Id, &'a usize)>) -> Vec<(Id, usize)> {
    let mut v: Vec<(Id, usize)> = entries.map(|(c, &s)| (c.clone(), s)).collect();
    v.sort();
    v
}

/// `index` serializes as `map`, the map it stands for: read back as a map, and the map's bytes
/// read back as an index equal to it.
pub(super) fn serialized_as<I>(index: &I, map: &IdMap<Id, usize>) -> Result<(), TestCaseError>
where
    I: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let read: IdMap<Id, usize> = bincode::deserialize(&bincode::serialize(index).unwrap()).unwrap();
    prop_assert_eq!(&read, map);
    let back: I = bincode::deserialize(&bincode::serialize(map).unwrap()).unwrap();
    prop_assert!(&back == index);
    Ok(())
}

proptest! {
    #[test]
    fn order_index_is_its_map(ops in proptest::collection::vec(op(), 1..60)) {
        let mut index = OrderIndex::default();
        let mut map: IdMap<Id, usize> = IdMap::default();
        for op in ops {
            match op {
                Op::Insert(i, s) => {
                    prop_assert_eq!(index.insert(id(IDS[i]), s), map.insert(id(IDS[i]), s));
                }
                Op::InsertPlaced(i, s) => {
                    let c = id(IDS[i]);
                    let was = match OrderIndex::place(c.as_bytes()) {
                        Some(p) => index.insert_at(p, c.clone(), s),
                        None => index.insert(c.clone(), s),
                    };
                    prop_assert_eq!(was, map.insert(c, s));
                }
                Op::Remove(i) => {
                    prop_assert_eq!(index.remove(&id(IDS[i])), map.remove(&id(IDS[i])));
                }
                Op::RemoveFound(i) => {
                    let c = id(IDS[i]);
                    let found = index.get_placed(&c);
                    prop_assert_eq!(found.map(|(s, _)| s), map.get(&c).copied());
                    match found {
                        Some((_, Some(p))) => index.remove_at(p, &c),
                        _ => {
                            index.remove(&c);
                        }
                    }
                    map.remove(&c);
                }
                Op::Clear => {
                    index.clear();
                    map.clear();
                }
            }
            prop_assert_eq!(index.len(), map.len());
            for c in IDS {
                prop_assert_eq!(index.get(&id(c)), map.get(&id(c)));
                prop_assert_eq!(index.contains_key(&id(c)), map.contains_key(&id(c)));
            }
            prop_assert_eq!(sorted(index.iter()), sorted(map.iter()));
            let mut values: Vec<usize> = index.values().copied().collect();
            values.sort();
            let mut expected: Vec<usize> = map.values().copied().collect();
            expected.sort();
            prop_assert_eq!(values, expected);
            serialized_as(&index, &map)?;
        }
    }
}

#[test]
fn own_ids_take_the_table_and_others_the_map() {
    let mut index = OrderIndex::default();
    index.insert(id("probe-41"), 1);
    index.insert(id("probe-1041"), 2); // place 41 taken: the map
    index.insert(id("venue-x"), 3); // no digit: the map
    assert_eq!(index.in_table, 1);
    assert_eq!(index.map.len(), 2);
    assert_eq!(index.get(&id("probe-1041")), Some(&2));
    // Its place freed, an id in the map stays found there, and moves to the table only when
    // put in again.
    assert_eq!(index.remove(&id("probe-41")), Some(1));
    assert_eq!(index.get(&id("probe-1041")), Some(&2));
    assert_eq!(index.insert(id("probe-1041"), 4), Some(2));
    assert_eq!((index.in_table, index.map.len()), (1, 1));
    assert_eq!(index.get(&id("probe-1041")), Some(&4));
}

/// A place freed where a lookup found its id (an order's finish) keeps the id beside slot
/// [`FREE`]: nothing finds, lists or serializes it, and the place is taken again as a free one.
#[test]
fn a_place_freed_where_found_keeps_no_entry() {
    let mut index = OrderIndex::default();
    index.insert(id("probe-41"), 1);
    let (sid, place) = index.get_placed(&id("probe-41")).expect("in the table");
    assert_eq!((sid, place), (1, Some(41)));
    index.remove_at(41, &id("probe-41"));
    assert_eq!(index.table[41], (id("probe-41"), FREE));
    assert_eq!(index.len(), 0);
    assert_eq!(index.get(&id("probe-41")), None);
    assert!(index.get_placed(&id("probe-41")).is_none());
    assert_eq!(index.iter().count(), 0);
    assert!(index == OrderIndex::default());
    let bytes = bincode::serialize(&index).unwrap();
    assert_eq!(
        bytes,
        bincode::serialize(&IdMap::<Id, usize>::default()).unwrap()
    );
    // Another id of the place takes it (the table, not the map), the old one gone.
    assert_eq!(index.insert(id("probe-1041"), 2), None);
    assert_eq!((index.in_table, index.map.len()), (1, 0));
    assert_eq!(index.table[41], (id("probe-1041"), 2));
    assert_eq!(index.get(&id("probe-41")), None);
    // The same id again takes it too.
    index.remove_at(41, &id("probe-1041"));
    assert_eq!(index.insert(id("probe-1041"), 3), None);
    assert_eq!(index.get(&id("probe-1041")), Some(&3));
}

/// An id's place: its last three digits, or fewer when it ends in fewer.
#[test]
fn an_ids_place_is_its_last_digits() {
    for (c, place) in [
        ("k-123", Some(123)),
        ("k-1234", Some(234)),
        ("k-007", Some(7)),
        ("a12", Some(12)),
        ("12", Some(12)),
        ("7", Some(7)),
        ("x1y", None),
        ("1a", None),
        ("a1b23", Some(23)),
        ("", None),
    ] {
        assert_eq!(OrderIndex::place(c.as_bytes()), place, "{c:?}");
    }
}

/// The kernel's own client ids (`<kernel_id>-<n>`, as `new_order` makes them) take their
/// counter's place modulo the table's places, whatever the kernel id ends in: what
/// `send_order` puts them at without reading their digits.
#[test]
fn own_ids_take_their_counters_place() {
    let long = "a-kernel-id-past-the-inline-length-77";
    for kernel_id in ["probe", "k7", "k-12", "", long] {
        let ids = CounterIds::new(kernel_id, "-");
        for n in [0, 5, 42, 99, 100, 999, 1000, 1005, 123_456_789, u64::MAX] {
            let made = ids.make(n);
            let place = OrderIndex::place(made.as_bytes());
            assert_eq!(place, Some((n % ORDER_PLACES as u64) as usize), "{made}");
        }
    }
}
