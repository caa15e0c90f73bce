//! [`AssetNotional`] and [`OpenByAsset`], whose entries stay once made, answer and serialize
//! as the maps they replaced, which removed an entry when it emptied: random changes on three
//! assets, each step against the replaced code.

use super::*;
use proptest::prelude::*;

const ASSETS: [&str; 3] = ["BTC", "ETH", "SOL"];

/// `asset_notional`'s update before its entries were kept.
fn add_removing(map: &mut IdMap<Id, f64>, asset: &Id, delta: f64) {
    match map.entry(asset.clone()) {
        Entry::Occupied(mut e) => {
            let a = (*e.get() + delta).max(0.0);
            if a <= 1e-9 {
                e.remove();
            } else {
                *e.get_mut() = a;
            }
        }
        Entry::Vacant(e) => {
            let a = delta.max(0.0);
            if a > 1e-9 {
                e.insert(a);
            }
        }
    }
}

/// `open_by_asset`'s update before its sets were kept.
fn update_removing(map: &mut IdMap<Id, SlotSet>, sid: usize, asset: &Id, holds: bool) -> bool {
    match map.entry(asset.clone()) {
        Entry::Occupied(mut e) => {
            let set = e.get_mut();
            let changed = if holds {
                set.insert(sid)
            } else {
                set.remove(sid)
            };
            if set.is_empty() {
                e.remove();
            }
            changed
        }
        Entry::Vacant(e) => {
            if holds {
                let mut set = SlotSet::default();
                set.insert(sid);
                e.insert(set);
            }
            holds
        }
    }
}

/// Slot `sid` about to change its map by asset `a` (of [`ASSETS`]), where `last` is the asset
/// each slot last changed it by: a slot's place is forgotten where its asset changes, as an
/// ENTER does (a map takes a remembered place without comparing its asset).
fn trading<V: NonZeroEntry>(
    kept: &mut ByAsset<V>,
    last: &mut [Option<usize>; 4],
    sid: usize,
    a: usize,
) {
    if last[sid].is_some_and(|was| was != a) {
        kept.forget(sid);
    }
    last[sid] = Some(a);
}

fn bytes<T: Serialize>(t: &T) -> Vec<u8> {
    bincode::serialize(t).unwrap()
}

/// What `t` serialized as a map holds, in order (a map's own order is random).
fn entries<T: Serialize, V: serde::de::DeserializeOwned>(t: &T) -> BTreeMap<Id, V> {
    bincode::deserialize(&bytes(t)).unwrap()
}

proptest! {
    #[test]
    fn asset_notional_is_the_map_it_replaced(
        ops in proptest::collection::vec((0..4usize, 0..3usize, -3..4i32, 0..3u8, 0..12u8), 1..60),
    ) {
        let (mut kept, mut map) = (AssetNotional::default(), IdMap::<Id, f64>::default());
        let mut last = [None; 4];
        // Slots changing what they commit, one slot on one asset and then another (its place
        // forgotten then, as an ENTER does); now and then the totals decoded from their
        // checkpoint bytes (no place remembered, the assets in another order) or cloned, or
        // both cleared, as a load of slots clears them, before the change.
        for (sid, a, units, scale, then) in ops {
            match then {
                9 => kept = bincode::deserialize(&bytes(&kept)).unwrap(),
                10 => kept = kept.clone(),
                11 => {
                    kept.clear();
                    map.clear();
                }
                _ => {}
            }
            // Whole amounts, fractions and amounts within 1e-9 of nothing.
            let delta = f64::from(units) * [1.0, 0.3, 4e-10][usize::from(scale)];
            trading(&mut kept, &mut last, sid, a);
            kept.add(sid, &id(ASSETS[a]), delta);
            add_removing(&mut map, &id(ASSETS[a]), delta);
            for asset in ASSETS {
                prop_assert_eq!(kept.get(asset), map.get(asset));
            }
            // A place remembered is the slot's asset's.
            for (s, was) in last.iter().enumerate() {
                let remembered = kept.remembered(s).map(Id::as_str);
                prop_assert!(remembered.is_none() || remembered == was.map(|a| ASSETS[a]));
            }
            prop_assert_eq!(entries::<_, f64>(&kept), entries::<_, f64>(&map));
            let read: AssetNotional = bincode::deserialize(&bytes(&map)).unwrap();
            prop_assert!(read == kept);
        }
    }

    #[test]
    fn open_by_asset_is_the_map_it_replaced(
        ops in proptest::collection::vec((0..4usize, 0..3usize, any::<bool>(), 0..12u8), 1..60),
    ) {
        let (mut kept, mut map) = (OpenByAsset::default(), IdMap::<Id, SlotSet>::default());
        let mut last = [None; 4];
        // As above: one slot on one asset and then another (its place forgotten then); now
        // and then the sets decoded from their checkpoint bytes, cloned, or both cleared,
        // before the change.
        for (sid, a, holds, then) in ops {
            match then {
                9 => kept = bincode::deserialize(&bytes(&kept)).unwrap(),
                10 => kept = kept.clone(),
                11 => {
                    kept.clear();
                    map.clear();
                }
                _ => {}
            }
            trading(&mut kept, &mut last, sid, a);
            let (changed, print) = kept.update(sid, &id(ASSETS[a]), holds);
            prop_assert_eq!(changed, update_removing(&mut map, sid, &id(ASSETS[a]), holds));
            // The asset's print as `asset_print` makes it, wherever its set is found; none
            // only where it has no set (never for a slot put in one).
            prop_assert!(print.is_some() || !holds);
            prop_assert!(print.is_none_or(|p| p == asset_print(ASSETS[a])));
            for asset in ASSETS {
                prop_assert_eq!(kept.get(asset), map.get(asset));
            }
            // A place remembered is the slot's asset's.
            for (s, was) in last.iter().enumerate() {
                let remembered = kept.remembered(s).map(Id::as_str);
                prop_assert!(remembered.is_none() || remembered == was.map(|a| ASSETS[a]));
            }
            prop_assert_eq!(kept.values().map(SlotSet::len).sum::<usize>(), map.values().map(SlotSet::len).sum::<usize>());
            prop_assert_eq!(entries::<_, Vec<usize>>(&kept), entries::<_, Vec<usize>>(&map));
            let read: OpenByAsset = bincode::deserialize(&bytes(&map)).unwrap();
            prop_assert!(read == kept);
        }
    }
}
