//! Reduce-only netting: a venue in one-way mode holds one position per asset, netted over
//! every slot of it. [`SideCounts`] keeps, per asset, the slots' netted position and what
//! their working orders have left by side of the book, so an exit decides in O(1) whether it
//! may go out reduce-only ([`Kernel::exit_reduces`]).

use super::*;

/// Per asset, how many slots are engaged on it each way and the sums of [`AssetCounts`], kept
/// as they change, so that an exit knows in O(1) when no other slot may take from the venue's
/// netted position the other way ([`Kernel::exit_reduces`]) without walking the slots of the
/// asset. A slot is
/// engaged from its entry's submit until it holds nothing and no entry of it works
/// ([`engaged`]): a slot holding the asset the other way, or with an entry working on the
/// exit's side of the book, is engaged the other way. Counts, not sizes: exact, and the same
/// however they were reached, so a kernel restored from a checkpoint counts what the live one
/// did. Not part of a checkpoint: made again from the slots wherever they are restored or
/// replaced ([`Kernel::recount_sides`]).
#[derive(Clone, Debug, Default)]
pub(super) struct SideCounts {
    /// By asset, in the order first counted, and the index of each asset's place. A place is
    /// kept once made (one per asset traded, as the market limits are), so a trade opening
    /// and closing on it finds it, and a slot counted on it keeps its place (`SlotCount`)
    /// instead of looking the asset up at each change.
    pub(super) assets: Vec<(Id, AssetCounts)>,
    pub(super) index: IdMap<Id, u32>,
    /// What each slot was last counted as, grown as slots are counted.
    pub(super) slots: Vec<SlotCount>,
    /// Whether the counts follow the slots. False in a kernel decoded until they are made
    /// again: changes are not counted meanwhile.
    pub(super) current: bool,
}

/// A slot as [`SideCounts`] last counted it: its part of its asset's sums, and the place of
/// that asset (`NO_PLACE` while it counts on none: its asset may change only then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SlotCount {
    pub(super) units: SlotUnits,
    pub(super) place: u32,
}

pub(super) const NO_PLACE: u32 = u32::MAX;

impl Default for SlotCount {
    fn default() -> Self {
        SlotCount {
            units: SlotUnits::default(),
            place: NO_PLACE,
        }
    }
}

/// An asset's counts in [`SideCounts`]: how many slots are engaged on it, long and short, and
/// the slots' netted position and what their working orders
/// have left, by side of the book ([`book_side`]), as exact sums in [`units`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct AssetCounts {
    pub(super) engaged: [u32; 2],
    pub(super) net: i128,
    pub(super) working: [i128; 2],
}

/// A slot's part of its asset's sums ([`AssetCounts`]): its signed position and what its
/// working orders have left, by side of the book, in [`units`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SlotUnits {
    pub(super) net: i128,
    pub(super) working: [i128; 2],
}

impl SlotUnits {
    /// Whether any of its sums is not 0 (it is not `SlotUnits::default()`): one test of the
    /// three ORed together.
    #[inline(always)]
    pub(super) fn counts_any(&self) -> bool {
        (self.net | self.working[0] | self.working[1]) != 0
    }

    pub(super) fn of(slot: &TradeSlot) -> Self {
        // Only a slot holding a position counts in the net, as the walk nets the open slots
        // (`open_by_asset`): a slot left with dust is not, and may turn FLAT after it was
        // last counted.
        let net = if slot.size > QTY_EPS {
            units(slot.side.sign() * slot.size)
        } else {
            0
        };
        let mut u = SlotUnits {
            net,
            working: [0, 0],
        };
        for o in [&slot.active_entry_order, &slot.active_exit_order]
            .into_iter()
            .flatten()
        {
            u.working[book_side(o.side)] += units(o.remaining());
        }
        u
    }
}

/// Sizes as whole units of 1e-15 of a size, so that sums of them are exact: the
/// same in any order of adding and taking away, so a kernel counting as it goes and one
/// counting a checkpoint's slots afresh hold the same sums, and decide alike. A size is at
/// most 1e15 (`error::MAX_MAGNITUDE`), 1e30 units, and a larger one is held at that: i128 sums
/// 170 million of them.
///
/// Whole units by truncation (a cast, where rounding is a library call on the baseline
/// x86-64): monotonic and the same for the same size, which is all the sums need.
#[inline]
pub(super) fn units(size: f64) -> i128 {
    let u = size * UNITS_PER_SIZE;
    if u.abs() < 9e18 {
        // Within i64: the cast to it truncates, and is cheaper than one to i128.
        i128::from(u as i64)
    } else {
        // Beyond i64 (a size of 9,000 or more), held within a size of 1e15; NaN is 0.
        let most = MAX_MAGNITUDE * UNITS_PER_SIZE;
        u.clamp(-most, most) as i128
    }
}

/// [`units`] in a size.
pub(super) const UNITS_PER_SIZE: f64 = 1e15;

/// The index of `side` in per-side sums.
pub(super) fn book_side(side: OrderSide) -> usize {
    match side {
        OrderSide::Buy => 0,
        OrderSide::Sell => 1,
    }
}

impl SideCounts {
    pub(super) fn current() -> Self {
        SideCounts {
            current: true,
            ..SideCounts::default()
        }
    }

    /// Counts slot `sid` of `asset` on `side` as engaged or no longer (`engaged`: None when
    /// that did not change) and as adding `now` to the asset's sums, taking the asset's
    /// place first if the slot holds none (it leaves it in `count_off` only).
    #[inline(always)]
    pub(super) fn count(
        &mut self,
        asset: &Id,
        side: TradeSide,
        engaged: Option<bool>,
        sid: usize,
        now: SlotUnits,
    ) {
        if !self.current {
            return;
        }
        let place = self.place_of(asset, sid);
        let counted = &mut self.slots[sid];
        let was = std::mem::replace(&mut counted.units, now);
        let c = &mut self.assets[place as usize].1;
        c.net += now.net - was.net;
        for i in 0..2 {
            c.working[i] += now.working[i] - was.working[i];
        }
        Self::engage(c, side, engaged);
    }

    /// Where slot `sid`'s asset `asset` is counted, its place taken when it has none.
    #[inline(always)]
    pub(super) fn place_of(&mut self, asset: &Id, sid: usize) -> u32 {
        let place = match self.slots.get(sid).map_or(NO_PLACE, |c| c.place) {
            NO_PLACE => self.take_place(asset, sid),
            p => p,
        };
        debug_assert_eq!(
            &self.assets[place as usize].0, asset,
            "a slot's asset changed while counted"
        );
        place
    }

    /// As [`SideCounts::count`] where only what the slot's working orders have left changed,
    /// by `by` (per side of the book): the slot's count and its asset's sums moved by it,
    /// without the slot's whole units made again and compared.
    #[inline(always)]
    pub(super) fn count_working(
        &mut self,
        asset: &Id,
        side: TradeSide,
        engaged: Option<bool>,
        sid: usize,
        by: [i128; 2],
    ) {
        if !self.current {
            return;
        }
        let place = self.place_of(asset, sid);
        let counted = &mut self.slots[sid];
        let c = &mut self.assets[place as usize].1;
        let [buy, sell] = by;
        counted.units.working[0] += buy;
        counted.units.working[1] += sell;
        c.working[0] += buy;
        c.working[1] += sell;
        Self::engage(c, side, engaged);
    }

    /// Counts a slot on `side` of `c` as engaged or no longer (`engaged`: None when that did
    /// not change).
    #[inline(always)]
    pub(super) fn engage(c: &mut AssetCounts, side: TradeSide, engaged: Option<bool>) {
        let i = match side {
            TradeSide::Long => Some(0),
            TradeSide::Short => Some(1),
            // Counts nothing in the netted position either (`TradeSide::sign`).
            TradeSide::Flat => None,
        };
        if let (Some(i), Some(up)) = (i, engaged) {
            // A count taken below 0 (which would be a bug) reads as many, never as none: an
            // exit then walks the slots rather than trusting it.
            let n = &mut c.engaged[i];
            *n = if up {
                n.saturating_add(1)
            } else {
                n.checked_sub(1).unwrap_or(u32::MAX)
            };
        }
    }

    /// Gives slot `sid` the place of `asset`'s sums, made if no slot had it (see `count`).
    #[cold]
    #[inline(never)]
    pub(super) fn take_place(&mut self, asset: &Id, sid: usize) -> u32 {
        if sid >= self.slots.len() {
            self.slots.resize(sid + 1, SlotCount::default());
        }
        let place = match self.index.get(asset.as_str()) {
            Some(&p) => p,
            None => {
                self.assets.push((asset.clone(), AssetCounts::default()));
                let p = (self.assets.len() - 1) as u32;
                self.index.insert(asset.clone(), p);
                p
            }
        };
        self.slots[sid].place = place;
        place
    }

    /// Counts slot `sid` off its asset (engaged on it or not: `was_engaged`, on `side`),
    /// before its asset becomes `next`: leaving its place, unless `next` is the same asset (a
    /// slot trading one market keeps its place, and its next count looks nothing up).
    /// Whether `next` is another asset.
    pub(super) fn count_off(
        &mut self,
        asset: &Id,
        side: TradeSide,
        was_engaged: bool,
        sid: usize,
        next: &Id,
    ) -> bool {
        // Read in place, its three sums at one test (`counts_any`), not copied out and
        // compared with the empty count.
        let counts_any = self.slots.get(sid).is_some_and(|c| c.units.counts_any());
        if counts_any || was_engaged {
            self.count(
                asset,
                side,
                was_engaged.then_some(false),
                sid,
                SlotUnits::default(),
            );
        }
        let other = asset != next;
        if other {
            if let Some(counted) = self.slots.get_mut(sid) {
                counted.place = NO_PLACE;
            }
        }
        other
    }

    /// What slot `sid` was last counted as.
    pub(super) fn counted(&self, sid: usize) -> SlotUnits {
        self.slots
            .get(sid)
            .map_or(SlotUnits::default(), |c| c.units)
    }

    /// The counts of `asset`, when any slot was counted on it; for slot `sid` on it, without
    /// a lookup once it was.
    pub(super) fn of(&self, asset: &Id, sid: usize) -> Option<&AssetCounts> {
        let place = match self.slots.get(sid).map_or(NO_PLACE, |c| c.place) {
            NO_PLACE => *self.index.get(asset.as_str())?,
            p => p,
        };
        Some(&self.assets[place as usize].1)
    }
}

/// Whether `slot` is engaged on its asset ([`SideCounts`]): it holds a position or an entry
/// of it works. Its asset and side change only while it is not.
pub(super) fn engaged(slot: &TradeSlot) -> bool {
    slot.size > QTY_EPS || slot.active_entry_order.is_some()
}

/// How much of a position `net` (positive long, negative short) an order on `side` reduces:
/// a size, or its [`units`].
pub(super) fn exit_room<T: std::ops::Neg<Output = T>>(side: OrderSide, net: T) -> T {
    match side {
        OrderSide::Sell => net,
        OrderSide::Buy => -net,
    }
}

impl Kernel {
    /// Whether an exit of `qty` on `side` for slot `sid` goes out reduce-only: when the asset's
    /// position, netted over the slots holding it as a venue in one-way mode holds one
    /// position per asset, covers it after every other order of the asset on that side that
    /// may still work at the venue takes its remainder (other slots' entries and exits,
    /// reduce-only or not, and orders kept in doubt), and after what the venue said filled of
    /// ended orders on that side that is not booked yet (`KeptOrder::due`, a fill still to come).
    /// Otherwise it would open or grow a position the other way at the venue, which refuses or
    /// expires a reduce-only order doing so: with one slot long and another short of the same
    /// size the venue holds nothing, and neither exit could ever fill. Decided in O(1) from
    /// the sums [`SideCounts`] and the kept orders keep by asset (`room_units`).
    pub(super) fn exit_reduces(&self, sid: usize, side: OrderSide, qty: f64) -> bool {
        debug_assert!(self.sides.current, "the side counts follow the slots");
        self.room_units(sid, side) >= units(qty - size_tolerance(qty))
    }

    /// What the venue's netted position of slot `sid`'s asset leaves an exit on
    /// `side`, in [`units`], from sums kept as the slots and kept orders change (O(1), for a
    /// book hedged on the asset too): the slots' net, less what the other slots' working
    /// orders on that side have left, what kept orders in doubt on it have left and what
    /// the venue said filled of the other kept orders on it that is not booked yet (as
    /// `netted_room` walks them). The slot's own part is taken as it is now: it may have
    /// changed since it was counted, within this input.
    pub(super) fn room_units(&self, sid: usize, side: OrderSide) -> i128 {
        let own = &self.slots[sid];
        let i = book_side(side);
        let (now, was) = (SlotUnits::of(own), self.sides.counted(sid));
        let (net, working) = self
            .sides
            .of(&own.asset, sid)
            .map_or((0, 0), |c| (c.net, c.working[i]));
        let net = net - was.net + now.net;
        exit_room(side, net) - (working - was.working[i]) - self.ended.units_on(&own.asset, side)
    }

    /// What the venue's netted position of slot `sid`'s asset leaves an exit on `side`, after
    /// the other orders that may work on that side (walked when `others_work`) and the fills
    /// owed on that side.
    #[inline(never)]
    pub(super) fn netted_room(&self, sid: usize, side: OrderSide, others_work: bool) -> f64 {
        let own = &self.slots[sid];
        let net: f64 =
            self.open_by_asset
                .get(&own.asset)
                .map_or(own.side.sign() * own.size, |holders| {
                    holders
                        .iter()
                        .map(|s| self.slots[s].side.sign() * self.slots[s].size)
                        .sum()
                });
        let mut taken = 0.0;
        if others_work {
            let mut seen = SlotSet::default();
            for &s in self.by_client_id.values() {
                if s == sid || !seen.insert(s) || self.slots[s].asset != own.asset {
                    continue;
                }
                let slot = &self.slots[s];
                for o in [&slot.active_entry_order, &slot.active_exit_order]
                    .into_iter()
                    .flatten()
                {
                    if o.side == side {
                        taken += o.remaining();
                    }
                }
            }
        }
        // Orders in doubt count as working ones do (any of them makes `others_work`).
        let owed = self.ended.taken_on(&own.asset, side, &mut taken);
        exit_room(side, net) - taken - owed
    }

    /// Makes [`SideCounts`] again from the slots.
    pub(crate) fn recount_sides(&mut self) {
        let mut sides = SideCounts::current();
        sides.slots = vec![SlotCount::default(); self.slots.len()];
        for (sid, slot) in self.slots.iter().enumerate() {
            let (e, u) = (engaged(slot), SlotUnits::of(slot));
            if e || u != SlotUnits::default() {
                sides.count(&slot.asset, slot.side, e.then_some(true), sid, u);
            }
        }
        self.sides = sides;
    }

    /// Puts `order` as slot `sid`'s working entry (`is_entry`) or exit, or clears it (None),
    /// and counts the slot again.
    pub(super) fn set_working(&mut self, sid: usize, is_entry: bool, order: Option<VenueOrder>) {
        let slot = &mut self.slots[sid];
        let was = engaged(slot);
        let working = if is_entry {
            &mut slot.active_entry_order
        } else {
            &mut slot.active_exit_order
        };
        *working = order;
        self.recount_slot(sid, was);
    }

    /// Puts a copy of `order` as slot `sid`'s working entry or exit (its `is_entry`), as
    /// [`Kernel::set_working`] with `Some(order.clone())`: the order it replaces dropped
    /// first, so the copy is written where it goes rather than made aside and moved in.
    ///
    /// Counted in [`SideCounts`] by what changed (the order replaced, if any, taken off its
    /// side of the book and `order` put on its own) rather than by the slot's units made
    /// again ([`Kernel::recount_slot`]): the slot was counted as it was after its last
    /// change, and its size is not changed here, so the sums end the same.
    pub(super) fn set_working_to(&mut self, sid: usize, order: &VenueOrder) {
        let slot = &mut self.slots[sid];
        let was = engaged(slot);
        let working = if order.is_entry {
            &mut slot.active_entry_order
        } else {
            &mut slot.active_exit_order
        };
        let mut by = [0i128; 2];
        if let Some(old) = working {
            by[book_side(old.side)] -= units(old.remaining());
        }
        by[book_side(order.side)] += units(order.remaining());
        *working = Some(order.clone());
        let now = engaged(slot);
        if now != was || by != [0, 0] {
            self.sides
                .count_working(&slot.asset, slot.side, (now != was).then_some(now), sid, by);
        }
    }

    /// Counts slot `sid` in [`SideCounts`] as it is now, where it was `was` ([`engaged`])
    /// before a change: called after each change of its size or its orders (the sums count
    /// what its working orders have left).
    pub(super) fn recount_slot(&mut self, sid: usize, was: bool) {
        let slot = &self.slots[sid];
        let now = engaged(slot);
        let units = SlotUnits::of(slot);
        if now != was || units != self.sides.counted(sid) {
            self.sides.count(
                &slot.asset,
                slot.side,
                (now != was).then_some(now),
                sid,
                units,
            );
        }
    }

    /// [`Kernel::recount_slot`] where the slot's units changed, as they do when its working
    /// order is filled and cleared: counted without first comparing them with what was
    /// counted (counting units that did not change adds nothing).
    pub(super) fn count_slot(&mut self, sid: usize, was: bool) {
        let slot = &self.slots[sid];
        let now = engaged(slot);
        self.sides.count(
            &slot.asset,
            slot.side,
            (now != was).then_some(now),
            sid,
            SlotUnits::of(slot),
        );
    }

    /// Where the counts an exit decides by in O(1) differ from those made again: the
    /// [`SideCounts`] kept as slots changed against a recount from the slots (while kept),
    /// and the kept orders counted owed a fill or in doubt against those that are. None when
    /// they agree: what tests check after every input. It copies the kernel: not for a live
    /// one.
    #[doc(hidden)]
    pub fn side_counts_difference(&self) -> Option<String> {
        self.kept_counts_difference()
            .or_else(|| self.remembered_places_difference())
            .or_else(|| self.recounted_sides_difference())
    }

    /// Where the kept orders counted owed a fill or in doubt, in all and by asset, and the
    /// kept entries counted as may still fill, differ from those that are.
    pub(super) fn kept_counts_difference(&self) -> Option<String> {
        let e = &self.ended;
        let flagged = |f: u8| e.by_key.values().filter(|k| k.flags() & f != 0).count() as u32;
        let (owed, in_doubt) = (flagged(OWED), flagged(DOUBTED));
        let capped = e
            .by_key
            .iter()
            .filter(|(key, k)| key.1 && !key.2 && k.flags() & CAPPED != 0)
            .count() as u32;
        if e.owed_count != owed || e.in_doubt_count != in_doubt || e.capped_entries != capped {
            return Some(format!(
                "kept orders counted owed {}, in doubt {} and entries unsettled {}, are {owed}, \
                 {in_doubt} and {capped}",
                e.owed_count, e.in_doubt_count, e.capped_entries
            ));
        }
        let mut by_asset: Vec<(Id, KeptCounts)> = Vec::new();
        for k in e.by_key.values() {
            let (f, u) = (k.flags() & (OWED | DOUBTED), k.units());
            if f == 0 && u == 0 {
                continue;
            }
            let i = match by_asset.iter().position(|(a, _)| *a == k.order.asset) {
                Some(i) => i,
                None => {
                    by_asset.push((k.order.asset.clone(), KeptCounts::default()));
                    by_asset.len() - 1
                }
            };
            let c = &mut by_asset[i].1;
            c.n[0] += u32::from(f & OWED != 0);
            c.n[1] += u32::from(f & DOUBTED != 0);
            c.taken[book_side(k.order.side)] += u;
        }
        let mut kept_by_asset: Vec<(Id, KeptCounts)> =
            e.by_asset.iter().map(|(a, n)| (a.clone(), *n)).collect();
        by_asset.sort_by(|x, y| x.0.cmp(&y.0));
        kept_by_asset.sort_by(|x, y| x.0.cmp(&y.0));
        (kept_by_asset != by_asset)
            .then(|| format!("kept orders counted by asset {kept_by_asset:?}, are {by_asset:?}"))
    }

    /// Where a place a slot remembers in the maps by asset is not its asset's
    /// (`ByAsset::place` takes it without comparing).
    pub(super) fn remembered_places_difference(&self) -> Option<String> {
        for (sid, slot) in self.slots.iter().enumerate() {
            for (map, remembered) in [
                ("committed notional", self.asset_notional.remembered(sid)),
                ("open slots", self.open_by_asset.remembered(sid)),
            ] {
                if remembered.is_some_and(|a| *a != slot.asset) {
                    return Some(format!(
                        "slot {sid} remembers {remembered:?} in the {map} by asset, trades {:?}",
                        slot.asset
                    ));
                }
            }
        }
        None
    }

    /// Where the [`SideCounts`] kept as slots changed differ from a recount from the slots
    /// (while they are kept), and where the room an exit decides by from the sums differs
    /// from a walk of the slots (`netted_room`), beyond the rounding of either.
    pub(super) fn recounted_sides_difference(&self) -> Option<String> {
        if !self.sides.current {
            return None;
        }
        let mut again = self.clone();
        again.recount_sides();
        let nonzero = |c: &SideCounts| {
            let mut v: Vec<(Id, AssetCounts)> = c
                .assets
                .iter()
                .filter(|(_, n)| *n != AssetCounts::default())
                .cloned()
                .collect();
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        let (kept, made) = (nonzero(&self.sides), nonzero(&again.sides));
        if kept != made {
            return Some(format!("side counts kept {kept:?}, made again {made:?}"));
        }
        for sid in 0..self.slots.len() {
            let (counted, made) = (self.sides.counted(sid), again.sides.counted(sid));
            if counted != made {
                return Some(format!("slot {sid} counted as {counted:?}, is {made:?}"));
            }
        }
        for (sid, slot) in self.slots.iter().enumerate() {
            if slot.asset.is_empty() {
                continue;
            }
            for side in [OrderSide::Buy, OrderSide::Sell] {
                let summed = self.room_units(sid, side) as f64 / UNITS_PER_SIZE;
                let walked = self.netted_room(sid, side, true);
                if (summed - walked).abs() > 1e-9 * walked.abs().max(1.0) {
                    return Some(format!(
                        "slot {sid}'s room on {side:?}: {summed} summed, {walked} walked"
                    ));
                }
            }
        }
        None
    }
}
