//! Fills of working orders: sized (`fill_reports`), planned before anything changes, booked
//! ([`fill_booking`](super::fill_booking)) on the slot, the account and the order, and
//! answered; an order a fill completes is finished ([`filled_orders`](super::filled_orders)).

use super::*;

/// What a fill of a working order does, judged before anything changes
/// (`Kernel::plan_fill`): the size it books, the key of the running total it states, where its
/// report lies in what the order's reports covered, the order's filled size after it and
/// whether that completes it, the slot's move (`trigger`) and what the slot then holds, and
/// whether it teaches the order its venue id.
pub(super) struct FillPlan {
    pub(super) qty: f64,
    pub(super) total_key: Option<u64>,
    pub(super) placed: Option<ReportInterval>,
    pub(super) new_filled: f64,
    pub(super) complete: bool,
    pub(super) trigger: Trigger,
    pub(super) size_after: f64,
    pub(super) holds: bool,
    pub(super) learns_venue_id: bool,
}

/// How close two quantities around `size` must be to count as equal (fills arrive as floats
/// from venues, some rounded to the venue's own precision): 1e-9 of it, at least [`QTY_EPS`].
/// A venue's figure this close to the kernel's is its rounding while under half a lot
/// ([`Kernel::rounding`]): at 1e9 this is a whole lot of 1.
#[inline(always)]
pub(super) fn size_tolerance(size: f64) -> f64 {
    QTY_EPS.max(size * 1e-9)
}

/// The float error of quantities summed to around `total`, at least [`QTY_EPS`]: each double
/// added is off by 1e-16 of the sum at most, so 1e-12 bounds thousands of fills, and stays far
/// below one lot of 1 at totals of 1e9 and more. Two running totals this close are the same.
#[inline(always)]
pub(super) fn float_error(total: f64) -> f64 {
    QTY_EPS.max(total * 1e-12)
}

/// Whether fill `ev` of `order` says the venue works it past `filled`: its running total
/// (without one, `filled`) and the remaining size it states reach beyond by more than float
/// error, or, when it says FILLED, by more than the venue's `rounding`: a venue that rounds its
/// figures states their difference from the order's size as remaining (`size - filled`).
/// A late report of an earlier fill states what remained then, which its total offsets.
#[inline]
pub(super) fn works_on_past(
    ev: &VenueEvent,
    order: &VenueOrder,
    filled: f64,
    rounding: f64,
) -> bool {
    let stated = if ev.filled_size > 0.0 {
        ev.filled_size
    } else {
        filled
    };
    let noise = if ev.status == VenueOrderStatus::Filled {
        rounding
    } else {
        float_error(order.size)
    };
    ev.remaining_size > 0.0 && stated + ev.remaining_size > filled + noise
}

/// The transition details of a fill.
pub(super) fn fill_details(
    qty: f64,
    price: f64,
    filled: f64,
    order_size: f64,
) -> TransitionDetails {
    TransitionDetails::Fill {
        fill_qty: qty,
        fill_price: price,
        filled_size: filled,
        order_size,
        fee_charged: None,
    }
}

/// Adds to the fill's transition `moved` the fee the kernel charged of a report it booked in
/// part (called when `prorated`): a strategy hears that fee, and the outcome of an intent keeps
/// no details of the fills the venue answered it with. Out of line: the common path is a fill
/// booked whole.
#[cold]
#[inline(never)]
pub(super) fn fee_charged(moved: Option<&mut KernelTransition>, fee: f64) {
    if let Some(KernelTransition {
        details: TransitionDetails::Fill { fee_charged, .. },
        ..
    }) = moved
    {
        *fee_charged = Some(fee);
    }
}

impl Kernel {
    /// The status a FILL stating none says, read from the sizes against the order it names,
    /// working or kept after it ended: PARTIALLY_FILLED while the order has more than the
    /// completion tolerance left after it, else FILLED (the kind's own, also for an order the
    /// kernel does not hold). The bindings give an event made without a status this one before
    /// the kernel takes (and logs) it: read as FILLED, a part fill stating its running total
    /// would end its order there (`ends_short`), and an order in doubt's doubt with it.
    pub fn fill_status_by_sizes(&self, ev: &VenueEvent) -> VenueOrderStatus {
        // After it: the running total it states, else what is booked and its size (a resend
        // stating its total reads as the fill it repeats).
        let after = |o: &VenueOrder| {
            if ev.filled_size > 0.0 {
                ev.filled_size
            } else {
                o.filled_size + ev.size
            }
        };
        // The order it names working, else one kept after it ended: that one's part fill said
        // FILLED would end an order in doubt.
        let order = self.named_order(ev);
        match order {
            Some(o) if !self.completes(ev, o, after(o)) => VenueOrderStatus::PartiallyFilled,
            _ => VenueOrderStatus::Filled,
        }
    }

    /// Whether `order` is complete with `filled` booked, by fill `ev`: short of its size by
    /// no more than the smallest size the kernel trades ([`QTY_EPS`]), or by noise
    /// ([`Kernel::short_is_noise`]). A venue that ends an order a lot short says so
    /// (`ends_short`), and the order ends there, kept for a late fill.
    #[inline]
    pub(super) fn completes(&self, ev: &VenueEvent, order: &VenueOrder, filled: f64) -> bool {
        let left = order.size - filled;
        left <= QTY_EPS || self.short_is_noise(ev, order, left)
    }

    /// Whether `short`, what fill `ev` leaves of `order` (or how far it is from what the order
    /// had left, either way), is noise rather than what the venue did: within the venue's
    /// rounding ([`Kernel::rounding`]) and not contradicted by `ev` ([`works_on_past`]). More
    /// is a part the venue still works.
    pub(super) fn short_is_noise(&self, ev: &VenueEvent, order: &VenueOrder, short: f64) -> bool {
        // The rounding is at most the size's tolerance: a part fill, short by far more, is told
        // without looking up the lot.
        if short.abs() > size_tolerance(order.size) {
            return false;
        }
        let rounding = self.rounding(order);
        short.abs() <= rounding && !works_on_past(ev, order, order.size - short, rounding)
    }

    /// How far a venue's figure for `order` (a filled size, a running total, what remains) may
    /// be from the kernel's and still be the same: the venue's own rounding, 1e-9 of the size
    /// ([`size_tolerance`]), while under half the asset's lot (off the lot grid by less, a size
    /// is noise; by a whole lot, it is what the venue did), and never under the float error of
    /// the sums ([`float_error`]). With no lot set, the rounding alone bounds it.
    pub(super) fn rounding(&self, order: &VenueOrder) -> f64 {
        let lot = self.limits_for(&order.asset).lot_step;
        let half_lot = if lot > 0.0 { lot / 2.0 } else { f64::INFINITY };
        size_tolerance(order.size)
            .min(half_lot)
            .max(float_error(order.size))
    }

    /// What slot `sid` holds once exit `order`'s fill of `qty`, closing `closes` of the
    /// position, is booked. A fill completing the exit leaves nothing when what is left is
    /// float error (the fills' sizes add up to the position only within it, under half the
    /// asset's lot) or dust: less than one lot, which an exit of the whole position leaves off
    /// the grid ([`whole_position`]) and the venue takes no order for. A deliberate partial
    /// exit leaves a lot or more.
    #[inline]
    pub(super) fn after_exit_fill(
        &self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        qty: f64,
        closes: f64,
    ) -> f64 {
        let rest = self.slots[sid].size - closes;
        if rest <= QTY_EPS {
            return rest;
        }
        if !self.completes(ev, order, order.filled_size + qty) {
            return rest;
        }
        let lot = self.limits_for(&order.asset).lot_step;
        let noise = rest <= float_error(order.size) && (lot <= 0.0 || rest < lot / 2.0);
        let dust = lot > 0.0 && lot - rest > size_tolerance(lot);
        if noise || dust {
            0.0
        } else {
            rest
        }
    }

    /// What slot `sid` holds once `order`'s fill of `qty` (of report `ev`) is booked: its size
    /// plus what an entry's fill credited ([`base_fee_of`]), or what an exit's leaves
    /// ([`Kernel::after_exit_fill`]) once it closed what the fill did ([`closed_by`]).
    #[inline]
    pub(super) fn size_after_fill(
        &self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        qty: f64,
    ) -> f64 {
        if order.is_entry {
            self.slots[sid].size + qty - base_fee_of(ev, qty)
        } else {
            self.after_exit_fill(ev, sid, order, qty, closed_by(ev, qty))
        }
    }

    /// A fill of slot `sid`'s working order: its answer in `out`, else the refusal. Judged
    /// before anything changes ([`Kernel::plan_fill`]), then booked on the slot and the account
    /// ([`Kernel::book_fill`]) and on the order, and answered; an order it completes is
    /// finished, one the venue says is over short of its size ended.
    pub(super) fn apply_fill(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        seq: u64,
        client: Option<ClientIdLookup>,
        key_fp: u64,
        out: &mut KernelOutcome,
    ) -> Handled {
        // A copy: the fill's steps read it while they change the slot's own.
        let order = self.slots[sid]
            .active_order()
            .expect("indexed orders are active")
            .clone();
        let plan = self.plan_fill(ev, sid, &order, client.map(|c| c.fp), seq)?;
        let partly = plan.placed.as_ref().is_some_and(|p| p.free < ev.size);
        let was = engaged(&self.slots[sid]);
        let (qty, size_after) = (plan.qty, plan.size_after);
        let mut booked = self.book_fill(ev, sid, &order, qty, size_after, partly, key_fp);
        self.fill_working_order(ev, sid, order.is_entry, &plan, was);
        debug_assert_eq!(plan.holds, self.slots[sid].size > QTY_EPS);
        let working = if plan.complete {
            0.0
        } else {
            order.size - plan.new_filled
        };
        let also = also_remembered(ev, plan.total_key);
        self.after_fill(sid, &order, working, [plan.total_key, also]);
        self.answer_fill(ev, sid, &order, &plan, &mut booked, seq, out);
        if plan.learns_venue_id {
            self.index_venue_id(ev, sid, out);
        }
        if plan.complete {
            // The event's client id fingerprinted, when it is the order's.
            let client = client.filter(|_| ev.venue_client_id == order.client_order_id);
            let (stated, uncounted) = (ev.filled_size, Some(was));
            self.order_filled(sid, &order, stated, plan.new_filled, client, uncounted);
        } else if ev.remaining_size == 0.0
            && ev.filled_size > 0.0
            && Self::ends_short(ev, plan.new_filled, self.rounding(&order))
        {
            // The venue says the order is over short of its size: it ends. An ordinary
            // partial fill states a remainder, or no running total.
            self.end_short(ev, sid, out);
        }
        self.record_fill_row(seq, ev, sid, &order, qty, &booked);
        Ok(())
    }

    /// What fill `ev` of slot `sid`'s working `order` does, or its refusal: its size
    /// ([`Kernel::fill_size`]), the stage it moves the slot to, and whether it teaches the
    /// order its venue id. `client_fp`: the event's client id fingerprinted, when made.
    #[inline(always)]
    pub(super) fn plan_fill(
        &self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        client_fp: Option<u64>,
        seq: u64,
    ) -> Result<FillPlan, KernelOutcome> {
        let covered = self.covered_of(sid, order.is_entry);
        let (qty, total_key, placed) =
            self.fill_size(ev, sid, order, None, covered, seq, client_fp)?;
        let new_filled = order.filled_size + qty;
        let complete = self.completes(ev, order, new_filled);
        let trigger = if complete {
            Trigger::Fill
        } else {
            Trigger::PartialFill
        };
        let size_after = self.size_after_fill(ev, sid, order, qty);
        let holds = size_after > QTY_EPS;
        let ctx = Ctx {
            holds_position: holds,
        };
        if next_stage(self.slots[sid].fsm_state, trigger, ctx).is_none() {
            return Err(self.stage_refusal(ev, sid, seq));
        }
        // A fill naming a venue id its order does not carry yet teaches the kernel that id
        // (`fill_working_order`), unless a working order carries it. Looked at once: nothing
        // between changes the order's venue id.
        let learns_venue_id = !ev.venue_order_id.is_empty() && order.venue_order_id.is_empty();
        if learns_venue_id {
            if let Some(refused) = self.venue_id_taken(ev, sid, seq) {
                return Err(refused);
            }
        }
        Ok(FillPlan {
            qty,
            total_key,
            placed,
            new_filled,
            complete,
            trigger,
            size_after,
            holds,
            learns_venue_id,
        })
    }

    /// Books fill `ev`, as `plan` says, on slot `sid`'s working entry (`is_entry`) or exit:
    /// what its reports covered, its filled size, average price and status, and the venue id
    /// it teaches. The slot is counted again (`was`: whether it was [`engaged`] before the
    /// fill) unless the fill completes the order, which `order_filled` counts.
    #[inline(always)]
    pub(super) fn fill_working_order(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        is_entry: bool,
        plan: &FillPlan,
        was: bool,
    ) {
        if let Some(Some(c)) = self
            .covered
            .get_mut(sid)
            .map(|legs| &mut legs[usize::from(!is_entry)])
        {
            c.booked(plan.placed);
        }
        let slot = &mut self.slots[sid];
        let o = slot.active_order_mut().expect("active");
        o.avg_fill_price =
            (o.avg_fill_price * o.filled_size + ev.price * plan.qty) / plan.new_filled;
        o.filled_size = plan.new_filled;
        o.status = if plan.complete {
            VenueOrderStatus::Filled
        } else {
            VenueOrderStatus::PartiallyFilled
        };
        if plan.learns_venue_id {
            debug_assert!(o.venue_order_id.is_empty());
            // A fill before the ack is how the kernel learns the venue's id: later events
            // may name the order by it alone (indexed once the fill is answered).
            o.venue_order_id = ev.venue_order_id.clone();
        }
        if !plan.complete {
            // A fill completing the order counts the slot once, when the order is off it
            // (`order_filled`): the counts are sums, so counting in one step ends the same.
            self.recount_slot(sid, was);
        }
    }

    /// The answer to fill `ev` of `order`, booked as `plan` and `booked` say, into `out`: the
    /// slot as it now stands, what the fill was charged and settled by, what its running total
    /// says beyond it, and its transition.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn answer_fill(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        plan: &FillPlan,
        booked: &mut BookedFill,
        seq: u64,
        out: &mut KernelOutcome,
    ) {
        let slot = &self.slots[sid];
        out.reset_ok(sid as i64, slot.trade_id.clone(), slot.fsm_state, seq);
        if booked.prorated {
            booked.charged_part(&mut out.details, plan.qty, ev);
        }
        if !booked.settled.is_empty() {
            out.details.append(&mut booked.settled);
        }
        if let Some(ahead) = running_total_ahead(ev, order.size, plan.new_filled, &mut out.details)
        {
            out.severity = ahead;
        }
        self.fill_past_limit(ev, order, out);
        if booked.unheld > 0.0 {
            booked.beyond_position(out);
        }
        if booked.dust > 0.0 {
            booked.dust_closed(&mut out.details);
        }
        let ctx = Ctx {
            holds_position: plan.holds,
        };
        let details = fill_details(plan.qty, ev.price, plan.new_filled, order.size);
        let moved = self.transition(
            out,
            sid,
            plan.trigger,
            ctx,
            ev.timestamp,
            &id(""),
            &ev.event_id,
            details,
        );
        debug_assert!(
            moved,
            "plan_fill checked the same stage, trigger and context"
        );
        if booked.prorated {
            fee_charged(out.transitions.last_mut(), booked.fee);
        }
    }
}
