//! An order a fill completes: remembered as filled, finished in the indexes (kept while a
//! reconciliation's fills of it may still be reported), and taken off its slot; one the venue
//! says is over short of its size is ended there.

use super::*;

impl Kernel {
    /// Slot `sid`'s working `order` is filled, at `new_filled` (a fill completed it, or a late
    /// ack cut it to what filled), the report saying so stating the running total `stated` (0:
    /// none): it is finished and its slot counted again; an exit's leg is done, and the trade
    /// closed when nothing is left. The caller made its transition, and counted the slot after
    /// the fill unless it gives `uncounted`: whether the slot was [`engaged`] before the fill,
    /// which it is then counted from.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn order_filled(
        &mut self,
        sid: usize,
        order: &VenueOrder,
        stated: f64,
        new_filled: f64,
        client: Option<ClientIdLookup>,
        uncounted: Option<bool>,
    ) {
        // The client id fingerprinted once (or by the caller: `client`), for its keys here
        // and its memory as finished.
        let client_fp = match client {
            Some(c) => c.fp,
            None => fingerprint(&order.client_order_id),
        };
        self.remember_completed(sid, order, stated, client_fp);
        let place = client.and_then(|c| c.place);
        self.finish_filled_order(sid, order, new_filled, client_fp, place);
        self.clear_filled_order(sid, order.is_entry, uncounted);
    }

    /// Slot `sid` remembers `order` as filled at its size, for a status report stating it
    /// later, and at the total `stated` when that differs (a venue summing its fills states
    /// 0.1 + 0.2 for an order of 0.3, and reports that figure again).
    #[inline(always)]
    pub(super) fn remember_completed(
        &mut self,
        sid: usize,
        order: &VenueOrder,
        stated: f64,
        client_fp: u64,
    ) {
        let k = completed_key_of(client_fp, order.size);
        self.slots[sid].seen_fills.insert(k);
        let near = (stated - order.size).abs() <= size_tolerance(order.size);
        if stated > 0.0 && stated != order.size && near {
            let stated = completed_key_of(client_fp, stated);
            self.slots[sid].seen_fills.insert(stated);
        }
    }

    /// Finishes slot `sid`'s filled `order` in the indexes and the memory of finished orders
    /// (its client id's fingerprint `client_fp`, at `place` of the order index when known). An
    /// order a reconciliation booked part of stays kept, full at `new_filled`: the venue's own
    /// reports of those fills may still come, and are known as such
    /// (`covered_by_reconciliation`) while it is kept (any other fill of it is an overfill).
    #[inline(always)]
    pub(super) fn finish_filled_order(
        &mut self,
        sid: usize,
        order: &VenueOrder,
        new_filled: f64,
        client_fp: u64,
        place: Option<usize>,
    ) {
        let reconciled = !self.ended.reconciled.is_empty()
            && self.ended.reconciled.contains_key(&order.client_order_id);
        // Its venue id, when kept orders (or this one, kept) may share it.
        let venue_id = (reconciled || !self.ended.by_venue_id.is_empty()).then(|| {
            let o = self.slots[sid]
                .active_order()
                .expect("the filled order is the slot's");
            o.venue_order_id.clone()
        });
        let done = reconciled.then(|| self.filled_order_kept(sid, new_filled));
        let shared = venue_id
            .as_ref()
            .is_some_and(|v| reconciled && self.venue_id_finished_before(v));
        self.finish_order_fp(sid, &order.client_order_id, client_fp, place);
        if let Some(v) = &venue_id {
            match done {
                Some(kept) => {
                    self.keep_order((sid, order.is_entry, true), kept);
                    if shared {
                        self.ended.finished_elsewhere(v);
                    }
                }
                None => self.ended.finished_elsewhere(v),
            }
        }
    }

    /// Slot `sid`'s working order, filled at `new_filled`, as it is kept for the reports of the
    /// fills a reconciliation booked.
    #[cold]
    #[inline(never)]
    pub(super) fn filled_order_kept(&self, sid: usize, new_filled: f64) -> KeptOrder {
        let slot = &self.slots[sid];
        let mut o = slot
            .active_order()
            .expect("the filled order is the slot's")
            .clone();
        o.status = VenueOrderStatus::Filled;
        KeptOrder {
            order: o,
            final_filled: Some(new_filled),
            stated_total: 0.0,
            rounding: 0.0,
            in_doubt: false,
            figure_by_load: false,
            fills: slot.seen_fills.clone(),
            leg: slot.active_leg_index,
            counted: (0, 0),
        }
    }

    /// Takes slot `sid`'s filled working entry (`is_entry`) or exit off it: an exit's leg is
    /// done, and the trade closed when nothing is left; the slot is counted again (see
    /// [`Kernel::order_filled`] for `uncounted`).
    #[inline(always)]
    pub(super) fn clear_filled_order(
        &mut self,
        sid: usize,
        is_entry: bool,
        uncounted: Option<bool>,
    ) {
        // Counted by the caller with what it had left (`recount_slot`), clearing the order
        // changes the counts only for a remainder within the size's tolerance, or for an
        // entry leaving its slot holding nothing (no longer engaged).
        let slot = &mut self.slots[sid];
        let working = if is_entry {
            &mut slot.active_entry_order
        } else {
            &mut slot.active_exit_order
        };
        // Dropped where it is (not moved out first).
        let left = working.as_ref().is_some_and(|o| o.remaining() > 0.0);
        *working = None;
        let was = engaged(slot) || is_entry;
        if !is_entry {
            advance_leg(slot);
            close_if_closed(slot);
        }
        match uncounted {
            // The caller did not count the slot after booking the fill: counted once, from
            // before it (its order gone and its size moved, its units changed: `count_slot`).
            Some(before) => self.count_slot(sid, before),
            None if left || was != engaged(&self.slots[sid]) => self.recount_slot(sid, was),
            None => {}
        }
        if !self.ended.by_key.is_empty() {
            // A trade closed while a fill of its entry is owed is not free yet.
            self.sync_free(sid);
        }
    }

    /// Whether fill `ev` of an order, booked to `new_filled` short of the order's size, is the
    /// venue saying the order is over (the caller checked that it states a running total and
    /// nothing remaining): its status says FILLED, and its running total is what is booked
    /// with it, within the venue's `rounding` ([`Kernel::rounding`]), so no fill of the order
    /// is missing or resent. A fill without a status says FILLED (the kind's own): a venue
    /// that builds its partial fills so, with a running total, must state PARTIALLY_FILLED or
    /// what remains.
    #[cold]
    #[inline(never)]
    pub(super) fn ends_short(ev: &VenueEvent, new_filled: f64, rounding: f64) -> bool {
        ev.status == VenueOrderStatus::Filled && (ev.filled_size - new_filled).abs() <= rounding
    }

    /// Ends slot `sid`'s working order, booked by fill `ev` short of its size, which the venue
    /// says is over (`ends_short`): as an expiry without a figure ends it (a cancel ack, when a
    /// cancel was asked), into `out` after the fill, WARNING with `ended_short`. Kept without a
    /// figure, so a fill of it after all (the venue said over too soon) is booked as a late
    /// fill; nothing is owed, its reports having stated what is booked.
    #[cold]
    #[inline(never)]
    pub(super) fn end_short(&mut self, ev: &VenueEvent, sid: usize, out: &mut KernelOutcome) {
        let order = self.slots[sid]
            .active_order()
            .expect("the filled order is the slot's");
        let (size, filled) = (order.size, order.filled_size);
        let kind = if order.cancel_requested {
            KernelEventKind::CancelAck
        } else {
            KernelEventKind::Expired
        };
        let end = OrderEnd {
            kind,
            figure: 0.0,
            reason: ENDED_SHORT,
        };
        let ended = self.end_order(ev, sid, end, out);
        debug_assert!(ended, "a working stage takes an expiry and a cancel ack");
        out.severity = out.severity.max(KernelSeverity::Warning);
        out.details.push(("ended_short", Detail::Bool(true)));
        out.details.push(("order_size", Detail::F64(size)));
        out.details.push(("filled_size", Detail::F64(filled)));
        if !out.details.iter().any(|(name, _)| *name == "reason") {
            out.details.push(("reason", Detail::Static(ENDED_SHORT)));
        }
    }
}
