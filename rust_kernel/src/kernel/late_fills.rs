//! Late fills: a fill the venue sends for an order kept after it ended, sized against what
//! its end said, refused when its slot cannot take it, and booked on the slot and the kept
//! order. Its own file as the one path a fill takes besides a working order's (`fills.rs`).

use super::*;

impl Kernel {
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
        let complete = self.completes(ev, &order, new_filled);
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
        if booked.unheld > 0.0 {
            booked.beyond_position(&mut out);
        }
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
        self.fill_past_limit(ev, &order, &mut out);
        self.record_fill_row(seq, ev, sid, &order, qty, &booked);
        if !order.is_entry {
            self.cancel_exit_beyond_position(&mut out, sid, ev.timestamp);
        }
        out
    }

    /// Asks to cancel slot `sid`'s working exit when a late exit fill, or an ended exit's
    /// figure, left the slot holding less than the exit's remainder, less what the slot's
    /// ended exit is still owed (sold at the venue, its fills to come). Reduce-only is no
    /// stop: the venue nets the slots' positions, so another slot's holding covers the rest,
    /// and the exit would sell it.
    pub(super) fn cancel_exit_beyond_position(
        &mut self,
        out: &mut KernelOutcome,
        sid: usize,
        ts: f64,
    ) {
        let slot = &self.slots[sid];
        let Some(exit) = slot.active_exit_order.as_ref() else {
            return;
        };
        let held = slot.size - self.ended.owed(sid, false).unwrap_or(0.0);
        if exit.size - exit.filled_size > held + size_tolerance(slot.size) {
            self.ask_to_cancel_working(out, sid, ts, LATE_EXIT_FILL_CANCEL);
        }
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
        let tol = float_error(total);
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
        // An exit's fill its end stated (a cancel it raced) is the venue's word that it sold:
        // booked beyond the position as a working exit's fill would be, not left owed.
        let stated = self
            .ended
            .get(key)
            .is_some_and(|k| k.final_filled.is_some());
        let why_not = if slot.trade_id != order.trade_id {
            Some("fill for an order that ended; the slot has taken another trade since; reconcile with the venue")
        } else if !order.is_entry && qty > slot.size + size_tolerance(slot.size) && !stated {
            Some("exit fill for an order that ended, larger than the position; reconcile with the venue")
        } else if next_stage(slot.fsm_state, Trigger::LateFill, ctx).is_none() {
            Some("fill for an order that ended, in a stage that cannot take it; reconcile with the venue")
        } else {
            None
        };
        // An exit's late fill while another exit of the trade works (sent after the first's
        // cancel was acknowledged) is booked too: the venue sold. The second exit is then
        // asked to cancel if it works for more than is left (`cancel_exit_beyond_position`).
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
        let kept = self.ended.get(key).expect("kept orders are indexed");
        let rounding = self.rounding(&kept.order);
        let kept = self.ended.get_mut(key).expect("kept orders are indexed");
        let o = &mut kept.order;
        let new_filled = o.filled_size + qty;
        // An order in doubt the venue says is over short of its size, as a working order's
        // fill is read (`ends_short`), works at the venue no more either.
        let over = complete
            || (ev.remaining_size == 0.0
                && ev.filled_size > 0.0
                && Self::ends_short(ev, new_filled, rounding));
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
}
