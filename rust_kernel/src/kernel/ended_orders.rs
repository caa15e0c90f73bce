//! Orders kept after they ended: a fill may still come for an order canceled, expired or
//! rejected after it traded, and for one rate limited before its ack with a cancel asked (in
//! doubt). Their late acks and fills, and what their slots wait for.

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
    /// For an order rate limited before the venue acknowledged it, with a cancel asked: whether it
    /// may still work at the venue (the throttled request may have been its cancel as well as its
    /// submit). Until that is known (a late fill completes it, the venue or a reconciliation ends
    /// it, or the slot is loaded with another size), its slot takes no new order: a second exit
    /// beside a first still working sells the position twice, and a new trade forgets the order
    /// whose fill may come. A checkpoint carries it in a part of its own
    /// ([`Kernel::in_doubt_keys`]).
    #[serde(skip)]
    pub(super) in_doubt: bool,
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

/// [`KeptOrder::flags`]: owed a fill, kept in doubt.
pub(super) const OWED: u8 = 1;

pub(super) const DOUBTED: u8 = 2;

impl KeptOrder {
    /// Whether the order is owed a fill (`due`) and in doubt, as [`EndedOrders`] counts them.
    pub(super) fn flags(&self) -> u8 {
        (if self.due() > 0.0 { OWED } else { 0 }) | (if self.in_doubt { DOUBTED } else { 0 })
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

    /// What the venue said filled of the order beyond what is booked (its end's figure, or
    /// the running total its reports stated), 0 within the size's tolerance.
    pub(super) fn due(&self) -> f64 {
        let due = self.final_filled.unwrap_or(self.stated_total) - self.order.filled_size;
        if due > size_tolerance(self.order.size) {
            due
        } else {
            0.0
        }
    }
}

/// Per slot, the last entry and the last exit order that ended without filling completely
/// (a cancel ack, an expiry, a reject after part of it filled, or a rate limit before the
/// ack with a cancel asked, which may have been the cancel's), by slot and by
/// their client and venue ids: a venue may still send a fill for it (a fill racing the
/// cancel), and that fill is money moving, to be applied, not lost. Orders that never
/// reached the venue (rate limited with no cancel asked, rejected unfilled) are not kept.
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
    /// order, and the caps look at none in doubt. A fill owed moved the venue's position, not yet
    /// the slots'.
    pub(super) owed_count: u32,
    pub(super) in_doubt_count: u32,
    /// How many kept entries are owed a fill: while none is, the notional caps look at no
    /// kept order for one. Counted, not a flag set for good: an entry cancelled
    /// unfilled is kept (a fill may race the cancel), and one owed a fill once would have
    /// had every capped ENTER after walk every kept order.
    pub(super) owed_entries: u32,
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
    pub(super) fn keep(&mut self, key: KeptOrderKey, mut kept: KeptOrder) {
        self.forget(key);
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
    /// `in_doubt_count`, `owed_entries`, `by_asset`): called after it is kept and after every
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
        let entry = key.1 && !key.2;
        let by_asset = self.by_asset.entry(asset.clone()).or_default();
        by_asset.taken[book_side(side)] += now.1 - was.1;
        let (was, now) = (was.0, now.0);
        for (i, flag) in [OWED, DOUBTED].into_iter().enumerate() {
            let (total, of_entries) = match flag {
                OWED => (
                    &mut self.owed_count,
                    entry.then_some(&mut self.owed_entries),
                ),
                _ => (&mut self.in_doubt_count, None),
            };
            let step = |n: &mut u32| match (was & flag != 0, now & flag != 0) {
                (false, true) => *n += 1,
                (true, false) => *n -= 1,
                _ => {}
            };
            step(total);
            step(&mut by_asset.n[i]);
            if let Some(n) = of_entries {
                step(n);
            }
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
        for k in self.by_key.values() {
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

    /// What the entries in doubt (of `asset`, or all) may still fill, each at the price it
    /// went out at: the venue may work them, so the notional caps count it.
    pub(super) fn doubt_notional(&self, asset: Option<&str>, entry_marks: &[f64]) -> f64 {
        // An entry fill the venue reported and the kernel has not booked yet counts too, at
        // the entry's working price, or a second entry would pass the caps beside it.
        let owed_too = self.owed_entries > 0;
        if self.in_doubt_count == 0 && !owed_too {
            return 0.0;
        }
        self.by_key
            .iter()
            .filter(|(k, _)| k.1 && !k.2)
            .filter(|(_, kept)| asset.is_none_or(|a| kept.order.asset == a))
            .map(|(_, kept)| {
                let qty = if kept.in_doubt {
                    kept.order.remaining()
                } else if owed_too {
                    kept.due()
                } else {
                    0.0
                };
                if qty > 0.0 {
                    let sid = kept.order.slot_id;
                    qty * working_price(&kept.order, entry_mark(entry_marks, sid))
                } else {
                    0.0
                }
            })
            .sum()
    }

    pub(super) fn get_mut(&mut self, key: KeptOrderKey) -> Option<&mut KeptOrder> {
        self.by_key.get_mut(&key)
    }

    pub(super) fn clear(&mut self) {
        *self = EndedOrders::default();
    }
}

impl Kernel {
    /// The kept orders `wanted` picks, in slot order (entry before exit).
    pub(super) fn kept_orders(
        &self,
        wanted: impl Fn(&KeptOrderKey, &KeptOrder) -> bool,
    ) -> Vec<&VenueOrder> {
        let mut v: Vec<_> = self
            .ended
            .by_key
            .iter()
            .filter(|(k, kept)| wanted(k, kept))
            .map(|(k, kept)| (*k, &kept.order))
            .collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v.into_iter().map(|(_, o)| o).collect()
    }

    /// Keeps an order that ended (see [`EndedOrders`]), with what its reports covered while
    /// it worked, so its late fills are followed as its working fills were.
    pub(super) fn keep_order(&mut self, key: KeptOrderKey, kept: KeptOrder) {
        let covered = self
            .covered
            .get_mut(key.0)
            .and_then(|legs| legs[usize::from(!key.1)].take());
        self.ended.keep(key, kept);
        if let Some(c) = covered {
            self.ended.covered.insert(key, c);
        }
    }

    /// A reconciliation's end of an order kept after it ended: the venue's
    /// order status gives its filled size now, which becomes what late fills may reach. Below
    /// the end's figure (the end was wrong, or the fills it counted are booked), it ends the
    /// slot's wait for them.
    pub(super) fn settle_awaited(
        &mut self,
        ev: &VenueEvent,
        key: KeptOrderKey,
        seq: u64,
    ) -> KernelOutcome {
        let sid = key.0;
        let kept = self.ended.get_mut(key).expect("kept orders are indexed");
        let booked = kept.order.filled_size;
        let total = ev.filled_size.max(booked).min(kept.order.size);
        let before = kept.final_filled;
        kept.final_filled = Some(total);
        kept.stated_total = 0.0;
        kept.in_doubt = false;
        self.ended.note_owed(key);
        self.sync_free(sid);
        self.dirty.slot(sid);
        let mut out = self.slot_outcome(sid, seq);
        out.details.push(("venue_filled_size", Detail::F64(total)));
        if let Some(b) = before {
            out.details
                .push(("previous_final_filled_size", Detail::F64(b)));
        }
        out.details
            .push(("awaited_fill_qty", Detail::F64((total - booked).max(0.0))));
        out
    }

    /// The venue's own end (cancel ack, expiry, reject) of an order in doubt: what became of
    /// it is known. Its figure, when it gives one not below what is booked, bounds late fills
    /// as an end's does; without one, the slot waits for what its reports stated, as after any
    /// end without a figure. WARNING: the order was in doubt.
    pub(super) fn end_in_doubt(
        &mut self,
        ev: &VenueEvent,
        key: KeptOrderKey,
        seq: u64,
    ) -> KernelOutcome {
        let sid = key.0;
        let kept = self.ended.get_mut(key).expect("kept orders are indexed");
        kept.in_doubt = false;
        let booked = kept.order.filled_size;
        if ev.filled_size > 0.0 && ev.filled_size >= booked - size_tolerance(kept.order.size) {
            kept.final_filled = Some(ev.filled_size.min(kept.order.size));
            kept.stated_total = 0.0;
        }
        let coid = kept.order.client_order_id.clone();
        self.ended.note_owed(key);
        self.sync_free(sid);
        self.dirty.slot(sid);
        let mut out = self.slot_outcome(sid, seq);
        out.severity = KernelSeverity::Warning;
        out.details.push(("client_order_id", (&coid).into()));
        out.details
            .push(("venue_filled_size", Detail::F64(ev.filled_size)));
        out.details.push((
            "awaited_fill_qty",
            Detail::F64(self.ended.owed(sid, key.1).unwrap_or(0.0)),
        ));
        out.details.push(("reason", Detail::Static(IN_DOUBT_ENDED)));
        out
    }

    /// Offers slot `sid` as free only if its stage is free and it waits for no fill the
    /// venue said happened (`EndedOrders::awaited`): a strategy asking for a free slot must
    /// not get one whose next trade would forget the order that fill is for.
    pub(super) fn sync_free(&mut self, sid: usize) {
        if fsm::is_free(self.slots[sid].fsm_state) {
            if self.ended.awaited(sid).is_some() {
                self.free.remove(sid);
            } else {
                self.free.insert(sid);
            }
        }
    }

    /// Whether an order that finished before carried venue id `v` (the venue reused it):
    /// an order kept with it then shares it, and it names none of them.
    pub(super) fn venue_id_finished_before(&self, v: &Id) -> bool {
        !v.is_empty() && self.finished_orders.contains(&fingerprint(v))
    }

    /// The OVERFILL refusal of a fill of kept `order`, with `details` and why.
    pub(super) fn kept_overfill(
        &self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        mut details: Details,
        reason: &'static str,
        seq: u64,
    ) -> KernelOutcome {
        details.push(("client_order_id", (&order.client_order_id).into()));
        details.push(("reason", Detail::Static(reason)));
        let (code, sev) = (KernelDiagnosticCode::Overfill, KernelSeverity::Critical);
        self.event_refusal(ev, Some(sid), code, sev, details, seq)
    }

    /// Whether venue id `vid` is a working order's, or a kept order's other than `key`.
    pub(super) fn venue_id_claimed_besides(&self, vid: &Id, key: KeptOrderKey) -> bool {
        self.by_venue_id.contains_key(vid) || self.ended.venue_id_claimed(vid, Some(key))
    }

    /// Kept order `key` learns its venue id `vid`, from a late fill or a late ack: later events may
    /// name the order by it alone, and it is known once forgotten, unless an order that finished
    /// before carried it too.
    pub(super) fn learn_kept_venue_id(&mut self, key: KeptOrderKey, vid: &Id) {
        if let Some(kept) = self.ended.get_mut(key) {
            kept.order.venue_order_id = vid.clone();
        }
        let reused = self.venue_id_finished_before(vid);
        self.ended.claim_venue_id(key, vid);
        self.finished_orders.insert(fingerprint(vid));
        if reused {
            self.ended.finished_elsewhere(vid);
        }
    }

    /// The venue's ack of an order kept after it ended (its cancel throttled before the ack,
    /// or its end come first): it teaches the order its venue id when it has none, as a late
    /// fill does, so that fills naming the order by that id alone are booked. Otherwise a
    /// late event, refused.
    pub(super) fn apply_late_ack(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        key: KeptOrderKey,
        seq: u64,
    ) -> KernelOutcome {
        // The kept order's client id, when it learns the ack's venue id.
        let learner = self
            .ended
            .get(key)
            .filter(|k| {
                !ev.venue_order_id.is_empty()
                    && k.order.venue_order_id.is_empty()
                    && !self.venue_id_claimed_besides(&ev.venue_order_id, key)
            })
            .map(|k| k.order.client_order_id.clone());
        let Some(client_order_id) = learner else {
            return self.ended_order_refusal(ev, Some(sid), seq, FILL_AFTER_END);
        };
        self.learn_kept_venue_id(key, &ev.venue_order_id);
        let mut out = self.late_ack_taken(ev, sid, &client_order_id, seq);
        out.details.push(("reason", Detail::Static(LATE_ACK)));
        out
    }

    /// A fill for an order kept after it ended (see `EndedOrders`): the venue filled it
    /// before the end it reported, or reported the end first. Applied while the slot still
    /// holds the order's trade and the position can take it: an entry's fill opens the
    /// position again (from IDLE) or adds to it; an exit's takes from a position no other
    /// exit is working on, and may close the trade. No further than the venue said had
    /// filled when the order ended, when it said. Otherwise refused, for reconciliation.
    pub(super) fn apply_late_fill(
        &mut self,
        ev: &VenueEvent,
        key: KeptOrderKey,
        seq: u64,
    ) -> KernelOutcome {
        let sid = key.0;
        let order = self
            .ended
            .get(key)
            .expect("kept orders are indexed")
            .order
            .clone();
        let (qty, total_key, placed) = match self.size_late_fill(ev, key, &order, seq) {
            Ok(sized) => sized,
            Err(refused) => return refused,
        };
        let new_filled = order.filled_size + qty;
        let size_after = self.size_after_fill(ev, sid, &order, qty);
        let ctx = Ctx {
            holds_position: size_after > QTY_EPS,
        };
        let learns_venue_id = !ev.venue_order_id.is_empty() && order.venue_order_id.is_empty();
        if let Some(refused) = self.late_fill_refusal(ev, key, &order, qty, ctx, seq) {
            return refused;
        }
        if order.is_entry && self.slots[sid].size <= QTY_EPS {
            // The entry ended unfilled and left the slot FLAT; this fill opens its side again.
            self.slots[sid].side = match order.side {
                OrderSide::Sell => TradeSide::Short,
                OrderSide::Buy => TradeSide::Long,
            };
        }
        let partly = placed.as_ref().is_some_and(|p| p.free < ev.size);
        let was = engaged(&self.slots[sid]);
        let key_fp = fingerprint(ev.fill_key());
        let mut booked = self.book_fill(ev, sid, &order, qty, size_after, partly, key_fp);
        self.recount_slot(sid, was);
        let complete = order.size - new_filled <= size_tolerance(order.size);
        let leg_done = self.fill_kept_order(ev, key, qty, total_key, placed, complete);
        if learns_venue_id {
            self.learn_kept_venue_id(key, &ev.venue_order_id);
        }
        if leg_done {
            // The leg the order was for is done, as if its last fill had come before the end.
            advance_leg(&mut self.slots[sid]);
        }
        let also = also_remembered(ev, total_key);
        self.after_fill(sid, &order, 0.0, [total_key, also]);
        let mut out = self.slot_outcome(sid, seq);
        out.details.append(&mut booked.settled);
        if booked.dust > 0.0 {
            booked.dust_closed(&mut out.details);
        }
        // Applied, and said: the position changed after its order was reported over.
        out.severity = KernelSeverity::Warning;
        out.details.push(("late_fill", Detail::Bool(true)));
        out.details
            .push(("client_order_id", (&order.client_order_id).into()));
        let moved = self.transition(
            &mut out,
            sid,
            Trigger::LateFill,
            ctx,
            ev.timestamp,
            &id(""),
            &ev.event_id,
            fill_details(qty, ev.price, new_filled, order.size),
        );
        debug_assert!(
            moved,
            "late_fill_refusal checked the same stage, trigger and context"
        );
        self.settle_late_fill_slot(sid);
        if booked.prorated {
            booked.charged_part(&mut out.details, qty, ev);
            fee_charged(out.transitions.last_mut(), booked.fee);
        }
        // As for a working order's fill (a late fill is a WARNING already).
        if let Some(KernelSeverity::Critical) =
            running_total_ahead(ev, order.size, new_filled, &mut out.details)
        {
            out.severity = KernelSeverity::Critical;
        }
        self.record_fill_row(seq, ev, sid, &order, qty, &booked);
        out
    }

    /// The size late fill `ev` books of kept `order` ([`Kernel::fill_size`], the kept order's
    /// fill memory and reports' intervals beside the slot's), or its refusal: an order that
    /// filled completely takes no fill, and one whose end stated its filled size no fill past
    /// it.
    pub(super) fn size_late_fill(
        &self,
        ev: &VenueEvent,
        key: KeptOrderKey,
        order: &VenueOrder,
        seq: u64,
    ) -> Result<(f64, Option<u64>, Option<ReportInterval>), KernelOutcome> {
        use KernelDiagnosticCode as D;
        let sid = key.0;
        let kept = self.ended.get(key).expect("kept orders are indexed");
        let covered = self.ended.covered.get(&key);
        let fills = Some(&kept.fills);
        let sized = self.fill_size(ev, sid, order, fills, covered, seq, None)?;
        let qty = sized.0;
        if key.2 {
            // Kept only for reports of fills a reconciliation booked; anything else is more
            // than the order's size, however small.
            let mut d = detail_field("fill_qty", qty);
            d.push(("filled_size", Detail::F64(order.filled_size)));
            d.push(("order_size", Detail::F64(order.size)));
            return Err(self.kept_overfill(ev, sid, order, d, "the order filled completely", seq));
        }
        let Some(total) = kept.final_filled else {
            return Ok(sized);
        };
        let tol = size_tolerance(total);
        if ev.filled_size > total + tol && !is_reconciliation(ev) {
            // The fill's own running total contradicts the end: it must not fill the gap
            // the end left for the fills it counted (they would then read as resends).
            let mut d = detail_field("filled_size", ev.filled_size);
            d.push(("venue_final_filled_size", Detail::F64(total)));
            let why = "the fill's running total is beyond what the venue said had filled \
                       when the order ended; reconcile with the venue";
            return Err(self.kept_overfill(ev, sid, order, d, why, seq));
        }
        if order.filled_size + qty > total + tol {
            // The venue said how much had filled when the order ended. When all of that
            // is booked and the fill's own running total says no more, it is one booked
            // already (a resend under a new id, or a fill a reconciliation booked); else
            // the venue contradicts its end.
            let booked_all = order.filled_size >= total - tol && ev.filled_size <= total + tol;
            let mut d = detail_field("fill_qty", qty);
            d.push(("filled_size", Detail::F64(order.filled_size)));
            d.push(("venue_final_filled_size", Detail::F64(total)));
            d.push(("client_order_id", (&order.client_order_id).into()));
            let (code, sev, reason) = if booked_all {
                (
                    D::DuplicateEvent,
                    KernelSeverity::Warning,
                    "the venue's final filled size for the ended order is booked already",
                )
            } else {
                (
                    D::Overfill,
                    KernelSeverity::Critical,
                    "beyond the filled size the venue reported when the order ended",
                )
            };
            d.push(("reason", Detail::Static(reason)));
            return Err(self.event_refusal(ev, Some(sid), code, sev, d, seq));
        }
        Ok(sized)
    }

    /// The refusal of late fill `ev` of `qty` of kept `order`, if its slot cannot take it: the
    /// slot took another trade since, an exit's fill is larger than the position, the slot's
    /// stage takes no late fill in `ctx`, or the fill teaches the order a venue id another
    /// order carries.
    pub(super) fn late_fill_refusal(
        &self,
        ev: &VenueEvent,
        key: KeptOrderKey,
        order: &VenueOrder,
        qty: f64,
        ctx: Ctx,
        seq: u64,
    ) -> Option<KernelOutcome> {
        let sid = key.0;
        let slot = &self.slots[sid];
        let why_not = if slot.trade_id != order.trade_id {
            Some("fill for an order that ended; the slot has taken another trade since; reconcile with the venue")
        } else if !order.is_entry && qty > slot.size + size_tolerance(slot.size) {
            Some("exit fill for an order that ended, larger than the position; reconcile with the venue")
        } else if next_stage(slot.fsm_state, Trigger::LateFill, ctx).is_none() {
            Some("fill for an order that ended, in a stage that cannot take it; reconcile with the venue")
        } else {
            None
        };
        // An exit's late fill while another exit of the trade works (sent after the first's
        // cancel was acknowledged) is booked too: the venue sold. The second exit is left as
        // it went out: the venue caps a reduce-only order at the position, and what it fills
        // beyond is the venue's to say.
        if let Some(reason) = why_not {
            return Some(self.ended_order_refusal(ev, Some(sid), seq, reason));
        }
        let learns_venue_id = !ev.venue_order_id.is_empty() && order.venue_order_id.is_empty();
        if learns_venue_id && self.venue_id_claimed_besides(&ev.venue_order_id, key) {
            let mut d = detail_field("venue_order_id", &ev.venue_order_id);
            d.push((
                "reason",
                Detail::Static("the venue order id is another order's"),
            ));
            let (code, severity) = (KernelDiagnosticCode::UnknownOrder, KernelSeverity::Critical);
            return Some(self.event_refusal(ev, Some(sid), code, severity, d, seq));
        }
        None
    }

    /// Books late fill `ev` of `qty` on kept order `key`: its filled size and average price,
    /// the fill's keys (`total_key` and those beside it), its doubt ended when it is over
    /// (`complete`, or the venue says so), and for an order whose end stated no figure the
    /// running total its report states (`placed`). Whether the fill completed the exit leg
    /// the order was for, no other exit sent since.
    pub(super) fn fill_kept_order(
        &mut self,
        ev: &VenueEvent,
        key: KeptOrderKey,
        qty: f64,
        total_key: Option<u64>,
        placed: Option<ReportInterval>,
        complete: bool,
    ) -> bool {
        let active_leg = self.slots[key.0].active_leg_index;
        // An exit sent since for what this one left of the leg completes the leg itself.
        let exit_working = self.slots[key.0].active_exit_order.is_some();
        let kept = self.ended.get_mut(key).expect("kept orders are indexed");
        let o = &mut kept.order;
        let new_filled = o.filled_size + qty;
        // An order in doubt the venue says is over short of its size, as a working order's
        // fill is read (`ends_short`), works at the venue no more either.
        let over = complete
            || (ev.remaining_size == 0.0
                && ev.filled_size > 0.0
                && Self::ends_short(ev, o, new_filled));
        o.avg_fill_price = (o.avg_fill_price * o.filled_size + ev.price * qty) / new_filled;
        o.filled_size = new_filled;
        let (is_entry, size) = (o.is_entry, o.size);
        if !ev.fill_id.is_empty() {
            kept.fills.insert(fingerprint(&ev.fill_id));
        }
        for k in [total_key, also_remembered(ev, total_key)]
            .into_iter()
            .flatten()
        {
            kept.fills.insert(k);
        }
        // Filled completely (or said over), the order works at the venue no more.
        kept.in_doubt &= !over;
        // An order that ended without a figure waits for what its reports stated, this
        // one's running total too (`KeptOrder::stated_total`).
        if let Some(p) = placed.as_ref().filter(|_| kept.final_filled.is_none()) {
            kept.stated_total = kept.stated_total.max(p.to.min(size));
        }
        let leg_done = !is_entry && complete && kept.leg == active_leg && !exit_working;
        self.ended.note_owed(key);
        if let Some(c) = self.ended.covered.get_mut(&key) {
            c.booked(placed);
        }
        leg_done
    }

    /// Slot `sid` after a late fill's transition: a trade an entry's fill reopened is no
    /// longer closed, one an exit's fill closed is, and the slot is offered as free only as
    /// [`Kernel::sync_free`] says.
    pub(super) fn settle_late_fill_slot(&mut self, sid: usize) {
        let slot = &mut self.slots[sid];
        if slot.closed && slot.fsm_state != TradeStage::Closed {
            // An entry's fill reopened a trade an exit had closed meanwhile.
            slot.closed = false;
            slot.close_reason.clear();
        }
        close_if_closed(slot);
        self.sync_free(sid);
    }

    /// After slots are loaded: what the kernel knew of ended orders and reconciled fills is
    /// kept where the loaded slot still holds the same trade of the same asset (an operator
    /// correcting one slot must not make the others forget a fill that may still come, or
    /// one a reconciliation booked), and dropped elsewhere.
    ///
    /// A slot loaded with another size than it had tells what filled: the fills its kept
    /// orders wait for count as included (a fill up to the venue's figure that then comes is
    /// a duplicate). A slot loaded as it was keeps waiting.
    pub(super) fn retain_ended(&mut self, old: EndedOrders, held_before: &[(f64, f64)]) {
        let shared: Vec<&Id> = old
            .by_venue_id
            .iter()
            .filter(|(_, claims)| claims.contains(&UNKEPT_CLAIMANT))
            .map(|(v, _)| v)
            .collect();
        for (key, kept) in &old.by_key {
            let slot = &self.slots[key.0];
            let o = &kept.order;
            if slot.trade_id == o.trade_id
                && slot.asset == o.asset
                && !self.by_client_id.contains_key(&o.client_order_id)
            {
                let mut kept = kept.clone();
                let now = (slot.size, slot.initial_size);
                let changed = held_before.get(key.0).is_some_and(|b| {
                    (b.0 - now.0).abs() > QTY_EPS || (b.1 - now.1).abs() > QTY_EPS
                });
                if changed {
                    // Without a figure from the venue, what the slot holds now is the bound,
                    // the total its reports stated included.
                    let total = kept
                        .final_filled
                        .unwrap_or(kept.stated_total.max(kept.order.filled_size));
                    kept.order.filled_size = kept.order.filled_size.max(total);
                    kept.final_filled = Some(total);
                    kept.stated_total = 0.0;
                    kept.in_doubt = false;
                }
                self.ended.keep(*key, kept);
                if let Some(c) = old.covered.get(key).filter(|_| !changed) {
                    self.ended.covered.insert(*key, c.clone());
                }
                self.sync_free(key.0);
            }
        }
        for v in shared {
            self.ended.finished_elsewhere(v);
        }
        for (coid, upto) in &old.reconciled {
            if self.by_client_id.contains_key(coid) || self.ended.by_client(coid).is_some() {
                self.ended.reconciled.insert(coid.clone(), *upto);
            }
        }
    }
}
