//! The memory of orders kept after they ended: a fill may still come for an order canceled,
//! expired or rejected after it traded, and for one rate limited before its ack (in doubt with
//! a cancel asked, or once the venue shows it took the order after all). It holds each kept
//! order, its indexes by client and venue id and its counts; what the kernel does with them
//! lives in `kept_orders.rs` and `late_fills.rs`.

use super::*;

/// Which kept order: its slot, whether it is the slot's entry (else its exit), and whether
/// it filled completely (kept only so the venue's reports of fills a reconciliation booked
/// are known as such: any other fill of it is an overfill).
pub(crate) type KeptOrderKey = (usize, bool, bool);

/// A claimant of a venue id that is no kept order: an order that carried the id and
/// finished without being kept, while kept orders carried it too.
pub(super) const UNKEPT_CLAIMANT: KeptOrderKey = (usize::MAX, false, false);

/// An order kept after it ended (see [`EndedOrders`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeptOrder {
    pub(super) order: VenueOrder,
    /// The cumulative filled size the venue reported with the end, when it said (above 0):
    /// late fills may bring the order up to it and no further.
    pub(super) final_filled: Option<f64>,
    /// For an order that ended without that figure: the highest running total its fill
    /// reports stated (while the order was followed by their intervals, see [`Covered`]),
    /// when above what is booked. The slot waits for it as for the end's figure, but it
    /// bounds nothing: a later report may state more. A checkpoint carries it in a part of
    /// its own ([`Kernel::stated_totals`]).
    #[serde(skip)]
    pub(super) stated_total: f64,
    /// The venue's rounding of the order's figures ([`Kernel::rounding`], from the asset's lot
    /// when it was kept): what the end's figure or the stated total exceeds the booked size by
    /// within it is owed nothing. Not part of a checkpoint: set as the order is kept.
    #[serde(skip)]
    pub(super) rounding: f64,
    /// For an order rate limited before the venue acknowledged it, with a cancel asked, or
    /// acknowledged or filled after a rate limit ended it: whether it may still work at the
    /// venue (the throttled request may have been its cancel as well as its submit). Until
    /// that is known (a late fill completes it, the venue or a reconciliation ends it, or the
    /// slot is loaded with another size), its slot takes no new order: a second exit beside a
    /// first still working sells the position twice, and a new trade forgets the order whose
    /// fill may come. A checkpoint carries it in a part of its own
    /// ([`Kernel::in_doubt_keys`]).
    #[serde(skip)]
    pub(super) in_doubt: bool,
    /// Whether `final_filled` is what a slot loaded at another size made up, not the venue's
    /// figure: a venue's end stating more is no contradiction. A checkpoint carries it in a
    /// part of its own ([`Kernel::load_figure_keys`]).
    #[serde(skip)]
    pub(super) figure_by_load: bool,
    /// Fingerprints of the fills already applied to the order (the slot's memory when it
    /// ended, then each late fill): a fill resent later is known even once the slot's own
    /// memory has moved on.
    pub(super) fills: RecentRing,
    /// The slot's exit leg when the order ended: a late fill completing an exit advances the
    /// leg only if no other exit was sent since.
    pub(super) leg: usize,
    /// What [`EndedOrders`] last counted the order as ([`KeptOrder::flags`], [`KeptOrder::units`]),
    /// so a change is counted once. Not part of a checkpoint: kept orders are counted as
    /// they are kept.
    #[serde(skip)]
    pub(super) counted: (u8, i128),
}

/// [`KeptOrder::flags`]: owed a fill, kept in doubt, an entry the notional caps count.
pub(super) const OWED: u8 = 1;

pub(super) const DOUBTED: u8 = 2;

pub(super) const CAPPED: u8 = 4;

impl KeptOrder {
    /// Whether the order is owed a fill (`due`), in doubt, and an entry that may still fill
    /// (`unsettled`), as [`EndedOrders`] counts them.
    pub(super) fn flags(&self) -> u8 {
        (if self.due() > 0.0 { OWED } else { 0 })
            | (if self.in_doubt { DOUBTED } else { 0 })
            | (if self.order.is_entry && self.unsettled() > 0.0 {
                CAPPED
            } else {
                0
            })
    }

    /// What the venue may still fill of the order, as the notional caps count it: all that is
    /// left of it while in doubt (it may still work) or while it ended without the venue's
    /// figure (a fill may have raced its end: "cannot say"), else what the venue said filled
    /// of it that is not booked (`due`). A late fill, a reconciliation's figure or a load of
    /// its slot at another size settles it.
    pub(super) fn unsettled(&self) -> f64 {
        if self.in_doubt || self.final_filled.is_none() {
            self.order.remaining()
        } else {
            self.due()
        }
    }

    /// What the order may still take from the venue's position, in [`units`]: what is left
    /// of it while in doubt (it may still work), else what the venue said filled of it that
    /// is not booked (`due`).
    pub(super) fn units(&self) -> i128 {
        units(if self.in_doubt {
            self.order.remaining()
        } else {
            self.due()
        })
    }

    /// Whether the order ended on a rate limit answering its submit (no ack, no fill, no
    /// cancel asked): the venue said it never took it, and its acknowledgement or fill would
    /// say otherwise (`Kernel::held_after_throttle`). It keeps the status of an order never
    /// acknowledged, which no other kept order has.
    pub(super) fn throttled_submit(&self) -> bool {
        self.order.status == VenueOrderStatus::New
    }

    /// What the venue said filled of the order beyond what is booked (its end's figure, or
    /// the running total its reports stated), 0 within the venue's rounding: at a billion
    /// units on a lot of 1, a lot owed is a fill to wait for; 9e-7 at 2000, none is.
    pub(super) fn due(&self) -> f64 {
        let due = self.final_filled.unwrap_or(self.stated_total) - self.order.filled_size;
        if due > self.rounding {
            due
        } else {
            0.0
        }
    }
}

/// Per slot, the last entry and the last exit order that ended without filling completely
/// (a cancel ack, an expiry, a reject after part of it filled, or a rate limit before the
/// ack, which may have been the cancel's when one was asked), by slot and by
/// their client and venue ids: a venue may still send a fill for it (a fill racing the
/// cancel), and that fill is money moving, to be applied, not lost. An order rejected unfilled
/// never reached the venue and is not kept; one rate limited with no cancel asked is kept
/// owed nothing, until the venue's ack or fill shows it took the order after all.
/// Forgotten when the slot starts a new trade. A checkpoint carries it in parts of its own,
/// after the kernel's core fields.
#[derive(Clone, Debug, Default)]
pub(crate) struct EndedOrders {
    pub(super) by_key: IdMap<KeptOrderKey, KeptOrder>,
    /// The kernel's own (unique) client ids to their kept order.
    pub(super) by_client_id: IdMap<Id, KeptOrderKey>,
    /// Venue ids to the kept orders that carry them: an id two claim (a venue reusing ids)
    /// names neither, until all but one are forgotten.
    pub(super) by_venue_id: IdMap<Id, Vec<KeptOrderKey>>,
    /// For orders working or kept, the venue's filled size a reconciliation booked: every
    /// venue fill up to it is accounted for (see `Kernel::covered_by_reconciliation`).
    pub(super) reconciled: IdMap<Id, f64>,
    /// For kept orders followed by their reports' intervals, what those covered when they
    /// ended, and since (see [`Covered`]). A checkpoint part of its own, not [`EndedRepr`].
    pub(super) covered: IdMap<KeptOrderKey, Covered>,
    /// How many kept orders are owed a fill (`KeptOrder::due`), and how many are in doubt: while none
    /// is, `Kernel::orders_in_doubt`, which a runtime asks between data points, looks at no kept
    /// order. A fill owed moved the venue's position, not yet the slots'.
    pub(super) owed_count: u32,
    pub(super) in_doubt_count: u32,
    /// How many kept entries may still fill ([`KeptOrder::unsettled`]): while none may, the
    /// notional caps look at no kept order. Counted, not a flag set for good: one settled once
    /// would have had every capped ENTER after walk every kept order.
    pub(super) capped_entries: u32,
    /// The same two counts by asset, and what the asset's kept orders may still take from
    /// the venue's position, by side ([`KeptCounts`]; an asset leaves when none counts):
    /// while none is owed or in doubt on an asset, its exits decide their reduce-only
    /// without looking at the kept orders (`Kernel::exit_reduces`),
    /// whatever is owed on another.
    pub(super) by_asset: IdMap<Id, KeptCounts>,
}

/// An asset's kept orders in [`EndedOrders::by_asset`]: how many are owed a fill and how
/// many in doubt, and by side of the book ([`book_side`]) what they may still take from the
/// venue's position ([`KeptOrder::units`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct KeptCounts {
    pub(super) n: [u32; 2],
    pub(super) taken: [i128; 2],
}

impl EndedOrders {
    /// Keeps `kept` under `key`, with the venue's `rounding` of its figures
    /// ([`Kernel::rounding`]).
    pub(super) fn keep(&mut self, key: KeptOrderKey, mut kept: KeptOrder, rounding: f64) {
        self.forget(key);
        kept.rounding = rounding;
        // Counted afresh here (`note_owed`, below), whatever it was counted as elsewhere.
        kept.counted = (0, 0);
        self.by_client_id
            .insert(kept.order.client_order_id.clone(), key);
        let venue_id = kept.order.venue_order_id.clone();
        self.by_key.insert(key, kept);
        self.claim_venue_id(key, &venue_id);
        self.note_owed(key);
    }

    /// Counts kept order `key` again as owed a fill or not and in doubt or not (`owed_count`,
    /// `in_doubt_count`, `capped_entries`, `by_asset`): called after it is kept and after every
    /// change of what it is owed (its end's figure, its reports' running total, a late fill)
    /// or of its doubt.
    pub(super) fn note_owed(&mut self, key: KeptOrderKey) {
        let Some(k) = self.by_key.get_mut(&key) else {
            return;
        };
        let now = (k.flags(), k.units());
        let was = std::mem::replace(&mut k.counted, now);
        if was != now {
            let (asset, side) = (k.order.asset.clone(), k.order.side);
            self.count(key, &asset, side, was, now);
        }
    }

    /// Counts kept order `key` of `asset` on `side`, counted as `was` ([`KeptOrder::flags`],
    /// [`KeptOrder::units`]), as `now`.
    pub(super) fn count(
        &mut self,
        key: KeptOrderKey,
        asset: &Id,
        side: OrderSide,
        was: (u8, i128),
        now: (u8, i128),
    ) {
        if was == now {
            return;
        }
        let by_asset = self.by_asset.entry(asset.clone()).or_default();
        by_asset.taken[book_side(side)] += now.1 - was.1;
        let (was, now) = (was.0, now.0);
        let step = |n: &mut u32, flag: u8| match (was & flag != 0, now & flag != 0) {
            (false, true) => *n += 1,
            (true, false) => *n -= 1,
            _ => {}
        };
        for (i, flag) in [OWED, DOUBTED].into_iter().enumerate() {
            let total = match flag {
                OWED => &mut self.owed_count,
                _ => &mut self.in_doubt_count,
            };
            step(total, flag);
            step(&mut by_asset.n[i], flag);
        }
        if key.1 && !key.2 {
            step(&mut self.capped_entries, CAPPED);
        }
        if *by_asset == KeptCounts::default() {
            self.by_asset.remove(asset);
        }
    }

    /// What kept orders of `asset` on `side` may still take from the venue's
    /// position, in [`units`]: what `taken_on` walks them for.
    pub(super) fn units_on(&self, asset: &Id, side: OrderSide) -> i128 {
        if self.by_asset.is_empty() {
            return 0;
        }
        self.by_asset
            .get(asset)
            .map_or(0, |c| c.taken[book_side(side)])
    }

    /// Whether no kept order of `asset` is owed a fill or in doubt, as counted.
    pub(super) fn quiet_on(&self, asset: &Id) -> bool {
        self.by_asset.is_empty() || !self.by_asset.contains_key(asset)
    }

    /// What kept orders of `asset` on `side` may still take from the venue's position, in one
    /// walk of them (none while no kept order is owed a fill or in doubt): the remainders of
    /// those in doubt, which may still work, added to `taken`, and, returned, what the venue
    /// said filled of the others that is not booked yet (`KeptOrder::due`).
    pub(super) fn taken_on(&self, asset: &Id, side: OrderSide, taken: &mut f64) -> f64 {
        let mut owed = 0.0;
        if self.quiet_on(asset) {
            return owed;
        }
        for (_, k) in self.in_key_order() {
            if k.order.side != side || k.order.asset != *asset {
                continue;
            }
            if k.in_doubt {
                *taken += k.order.remaining();
            } else {
                owed += k.due();
            }
        }
        owed
    }

    pub(super) fn claim_venue_id(&mut self, key: KeptOrderKey, venue_id: &Id) {
        if !venue_id.is_empty() {
            let claims = self.by_venue_id.entry(venue_id.clone()).or_default();
            if !claims.contains(&key) {
                claims.push(key);
            }
        }
    }

    pub(super) fn forget(&mut self, key: KeptOrderKey) {
        let Some(old) = self.by_key.remove(&key) else {
            return;
        };
        self.count(key, &old.order.asset, old.order.side, old.counted, (0, 0));
        let coid = &old.order.client_order_id;
        self.by_client_id.remove(coid);
        self.reconciled.remove(coid);
        self.covered.remove(&key);
        let v = &old.order.venue_order_id;
        if let Some(claims) = self.by_venue_id.get_mut(v) {
            claims.retain(|k| *k != key);
            if claims.iter().all(|k| *k == UNKEPT_CLAIMANT) {
                self.by_venue_id.remove(v);
            }
        }
    }

    /// An order that carried `venue_id` finished without being kept: if kept orders carry
    /// the id too, it stays shared, and names none of them (a fill naming only it may be
    /// that order's, resent).
    pub(super) fn finished_elsewhere(&mut self, venue_id: &Id) {
        if self.by_venue_id.is_empty() || venue_id.is_empty() {
            return;
        }
        if let Some(claims) = self.by_venue_id.get_mut(venue_id) {
            if !claims.contains(&UNKEPT_CLAIMANT) {
                claims.push(UNKEPT_CLAIMANT);
            }
        }
    }

    /// Forgets the slot's kept orders (it starts a new trade).
    pub(super) fn forget_slot(&mut self, sid: usize) {
        if !self.by_key.is_empty() {
            for key in [
                (sid, true, false),
                (sid, false, false),
                (sid, true, true),
                (sid, false, true),
            ] {
                self.forget(key);
            }
        }
    }

    pub(super) fn by_client(&self, id: &Id) -> Option<KeptOrderKey> {
        if self.by_client_id.is_empty() || id.is_empty() {
            return None;
        }
        self.by_client_id.get(id).copied()
    }

    /// The kept order a venue id names: the one order that carries it.
    pub(super) fn by_venue(&self, id: &Id) -> Option<KeptOrderKey> {
        if self.by_venue_id.is_empty() || id.is_empty() {
            return None;
        }
        match self.by_venue_id.get(id)?.as_slice() {
            [key] if *key != UNKEPT_CLAIMANT => Some(*key),
            _ => None,
        }
    }

    /// Whether a kept order other than `key` carries venue id `id`.
    pub(super) fn venue_id_claimed(&self, id: &Id, key: Option<KeptOrderKey>) -> bool {
        self.by_venue_id
            .get(id)
            .is_some_and(|claims| claims.iter().any(|k| Some(*k) != key))
    }

    pub(super) fn get(&self, key: KeptOrderKey) -> Option<&KeptOrder> {
        self.by_key.get(&key)
    }

    /// Whether kept order `key` may still get a fill: it ended without the venue's figure, is
    /// owed part of it, or is in doubt.
    pub(super) fn may_still_fill(&self, key: KeptOrderKey) -> bool {
        self.by_key
            .get(&key)
            .is_some_and(|k| k.final_filled.is_none() || k.due() > 0.0 || k.in_doubt)
    }

    /// What the venue said had filled of the slot's kept orders, at their end, that it has
    /// not sent yet, if the slot waits: for money that moved, or for the status
    /// of an order that may still work at the venue (`KeptOrder::in_doubt`), when it may owe 0.
    pub(super) fn awaited(&self, sid: usize) -> Option<f64> {
        match (self.owed(sid, true), self.owed(sid, false)) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        }
    }

    /// What is owed of the slot's kept entry (or exit) order, if the slot waits for it (see
    /// `awaited`).
    #[inline(always)]
    pub(super) fn owed(&self, sid: usize, is_entry: bool) -> Option<f64> {
        if self.by_key.is_empty() {
            return None;
        }
        self.owed_kept(sid, is_entry)
    }

    /// [`EndedOrders::owed`] where some order is kept.
    #[inline(never)]
    pub(super) fn owed_kept(&self, sid: usize, is_entry: bool) -> Option<f64> {
        let k = self.by_key.get(&(sid, is_entry, false))?;
        let due = k.due();
        if due > 0.0 {
            Some(due)
        } else {
            k.in_doubt.then_some(0.0)
        }
    }

    /// Whether kept order `key` ended as its throttled submit ([`KeptOrder::throttled_submit`]).
    pub(super) fn throttled_submit(&self, key: KeptOrderKey) -> bool {
        self.by_key
            .get(&key)
            .is_some_and(KeptOrder::throttled_submit)
    }

    /// Whether kept order `key` is in doubt (`KeptOrder::in_doubt`).
    pub(super) fn is_in_doubt(&self, key: KeptOrderKey) -> bool {
        self.by_key.get(&key).is_some_and(|k| k.in_doubt)
    }

    /// The slot's kept order (its entry or exit, or either with `None`) whose status is not
    /// known (`KeptOrder::in_doubt`), if any.
    pub(super) fn in_doubt(&self, sid: usize, is_entry: Option<bool>) -> Option<&VenueOrder> {
        if self.by_key.is_empty() {
            return None;
        }
        [true, false]
            .into_iter()
            .filter(|&e| is_entry.is_none_or(|want| want == e))
            .filter_map(|e| self.by_key.get(&(sid, e, false)))
            .find(|k| k.in_doubt)
            .map(|k| &k.order)
    }

    /// What the kept entries (of `asset`, or all) may still fill ([`KeptOrder::unsettled`]),
    /// each at the price it went out at: the venue may still fill them, so the notional caps
    /// count it. Slot `starting`'s are left out: the trade it starts forgets them. Summed in
    /// key order ([`EndedOrders::in_key_order`]).
    pub(super) fn doubt_notional(
        &self,
        asset: Option<&str>,
        starting: Option<usize>,
        entry_marks: &[f64],
    ) -> f64 {
        if self.capped_entries == 0 {
            return 0.0;
        }
        self.in_key_order()
            .into_iter()
            .filter(|(k, _)| k.1 && !k.2 && Some(k.0) != starting)
            .filter(|(_, kept)| asset.is_none_or(|a| kept.order.asset == a))
            .map(|(_, kept)| {
                let qty = kept.unsettled();
                if qty > 0.0 {
                    let sid = kept.order.slot_id;
                    qty * working_price(&kept.order, entry_mark(entry_marks, sid))
                } else {
                    0.0
                }
            })
            .sum()
    }

    /// The kept orders by key (slot, then exit before entry): the map's own order is seeded at
    /// random per map, and a sum taken in another order can differ in its last digit, so a
    /// reopened kernel, or a second one holding the same orders, would judge a cap otherwise.
    pub(super) fn in_key_order(&self) -> Vec<(&KeptOrderKey, &KeptOrder)> {
        let mut kept: Vec<_> = self.by_key.iter().collect();
        kept.sort_unstable_by_key(|(k, _)| **k);
        kept
    }

    pub(super) fn get_mut(&mut self, key: KeptOrderKey) -> Option<&mut KeptOrder> {
        self.by_key.get_mut(&key)
    }

    pub(super) fn clear(&mut self) {
        *self = EndedOrders::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slot `sid`'s entry, kept in doubt with `size` of it unfilled, at a limit of 1.
    fn entry_in_doubt(sid: usize, size: f64) -> KeptOrder {
        let (client, trade) = (id(&format!("c{sid}")), id(&format!("t{sid}")));
        let mut order = VenueOrder::sample(client, id(""), trade, id("AAA"));
        (order.slot_id, order.side, order.price) = (sid, OrderSide::Buy, 1.0);
        (order.size, order.filled_size) = (size, 0.0);
        KeptOrder {
            order,
            final_filled: None,
            stated_total: 0.0,
            rounding: 0.0,
            in_doubt: true,
            figure_by_load: false,
            fills: RecentRing::default(),
            leg: 0,
            counted: (0, 0),
        }
    }

    #[test]
    fn an_entry_ended_without_the_venues_figure_counts_its_rest_until_settled() {
        // Cancelled with no figure ("cannot say"): a fill may have raced the cancel.
        let key = (0, true, false);
        let mut ended = EndedOrders::default();
        let mut cancelled = entry_in_doubt(0, 10.0);
        cancelled.in_doubt = false;
        ended.keep(key, cancelled, QTY_EPS);
        assert_eq!(ended.capped_entries, 1);
        assert_eq!(ended.doubt_notional(None, None, &[]), 10.0);
        assert_eq!(ended.doubt_notional(Some("BBB"), None, &[]), 0.0);
        // The slot starting a new trade forgets it: that trade's entry is judged without it.
        assert_eq!(ended.doubt_notional(None, Some(0), &[]), 0.0);
        // A late fill books 4 (now the slot's): the other 6 may still come.
        ended.get_mut(key).unwrap().order.filled_size = 4.0;
        ended.note_owed(key);
        assert_eq!(ended.doubt_notional(None, None, &[]), 6.0);
        // A reconciliation's figure of 4 settles it: nothing more can fill.
        ended.get_mut(key).unwrap().final_filled = Some(4.0);
        ended.note_owed(key);
        assert_eq!(ended.capped_entries, 0);
        assert_eq!(ended.doubt_notional(None, None, &[]), 0.0);
    }

    #[test]
    fn kept_orders_holding_the_same_entries_value_them_bit_for_bit_alike() {
        let sizes = [0.1, 0.2, 0.3, 0.7, 1.1, 1e-3, 3.3, 0.01];
        let valued: Vec<(u64, u64)> = (0..32)
            .map(|turn| {
                let mut ended = EndedOrders::default();
                for i in 0..sizes.len() {
                    let sid = (i + turn) % sizes.len();
                    ended.keep((sid, true, false), entry_in_doubt(sid, sizes[sid]), QTY_EPS);
                }
                let mut taken = 0.0;
                ended.taken_on(&id("AAA"), OrderSide::Buy, &mut taken);
                (
                    ended.doubt_notional(None, None, &[]).to_bits(),
                    taken.to_bits(),
                )
            })
            .collect();
        assert!(f64::from_bits(valued[0].0) > 5.7, "{valued:?}");
        assert!(valued.iter().all(|v| *v == valued[0]), "{valued:x?}");
    }
}
