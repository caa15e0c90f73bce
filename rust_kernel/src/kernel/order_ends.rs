//! The end of a working order: a cancel ack, a reject, an expiry or a rate limit moves its slot
//! back, keeps the order for its late fills when it reached the venue, and finishes it in the
//! indexes.

use super::*;

/// How a working order ends (`Kernel::end_order`): as the venue's end of `kind` stating
/// `figure` filled (0: none) with its `reason`, or a fill saying the order is
/// over short of its size (`Kernel::ends_short`), as an expiry without a figure.
pub(super) struct OrderEnd<'a> {
    pub(super) kind: KernelEventKind,
    pub(super) figure: f64,
    pub(super) reason: &'a str,
}

impl Kernel {
    // Not inlined: the ends of orders are rare beside acks and fills, whose path it would widen.
    #[inline(never)]
    pub(super) fn apply_order_end(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        seq: u64,
    ) -> KernelOutcome {
        let mut out = self.slot_outcome(sid, seq);
        let end = OrderEnd {
            kind: ev.kind,
            figure: ev.filled_size,
            reason: &ev.reason,
        };
        if !self.end_order(ev, sid, end, &mut out) {
            return self.stage_refusal(ev, sid, seq);
        }
        out
    }

    /// Ends slot `sid`'s working order as `end` says (the venue's end `ev`, or a fill `ev`
    /// saying the order is over short of its size), into `out`: its transition, the order
    /// kept for late fills when it was at the venue, and what the slot commits. False, with
    /// nothing changed, when the slot's stage takes no such end.
    pub(super) fn end_order(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        end: OrderEnd,
        out: &mut KernelOutcome,
    ) -> bool {
        use KernelEventKind as K;
        let trigger = match end.kind {
            K::CancelAck => Trigger::CancelAck,
            K::Reject => Trigger::Reject,
            K::Expired => Trigger::Expired,
            _ => Trigger::RateLimited,
        };
        let order = self.slots[sid]
            .active_order()
            .expect("indexed orders are active")
            .clone();
        // An exit ending with nothing held (a late fill of an exit canceled before it took what
        // was left) closes the trade: POSITION_OPEN at 0 would take no exit and no new trade.
        let holds = self.slots[sid].size > QTY_EPS;
        let d = TransitionDetails::Ended {
            filled_size: order.filled_size,
            order_size: order.size,
            reason: end.reason.to_owned(),
        };
        if !self.transition(
            out,
            sid,
            trigger,
            Ctx {
                holds_position: holds,
            },
            ev.timestamp,
            &id(""),
            &ev.event_id,
            d,
        ) {
            return false;
        }
        close_if_closed(&mut self.slots[sid]);
        // Whether another order finished with the venue id this one will be kept with.
        let kept_venue_id = if order.venue_order_id.is_empty() {
            &ev.venue_order_id
        } else {
            &order.venue_order_id
        };
        let reused = self.venue_id_finished_before(kept_venue_id);
        self.finish_order(sid, &order.client_order_id);
        // An order that was at the venue is kept: a fill may still come for it (see
        // `apply_late_fill`). One rejected unfilled never traded. A rate limit on an order
        // asked to cancel before the venue acknowledged it may be the cancel's, the order
        // working at the venue: it is kept in doubt, so its fills are not lost. One with no
        // cancel asked answered its submit, but is kept too: a venue acknowledging or filling
        // it after all puts it in doubt (`held_after_throttle`) rather than the slot trading
        // beside it, unless it would make the kernel forget an order of its leg whose fill
        // may still come: money that moved outweighs an order the venue most likely refused.
        let maybe_working = end.kind == K::RateLimited && order.cancel_requested;
        let throttled_submit = end.kind == K::RateLimited && !maybe_working;
        let kept = match end.kind {
            K::Reject => order.filled_size > 0.0 || end.figure > 0.0,
            _ if throttled_submit => !self.ended.may_still_fill((sid, order.is_entry, false)),
            _ => true,
        };
        let mut stated = 0.0;
        if kept {
            stated = self.keep_ended_order(ev, sid, &order, &end, reused, out);
        } else {
            self.ended.finished_elsewhere(&order.venue_order_id);
            if !self.ended.reconciled.is_empty() {
                self.ended.reconciled.remove(&order.client_order_id);
            }
        }
        self.clear_ended_order(sid, order.is_entry, holds);
        let rounding = self.rounding(&order);
        Self::say_what_end_filled(&order, &end, kept, stated, rounding, out);
        if end.kind == K::RateLimited {
            rate_limited(out, ev, &order.client_order_id);
            if maybe_working {
                out.details
                    .push(("order_kept", Detail::Static(THROTTLED_BEFORE_ACK)));
                out.details.push(("slot_waits", Detail::Static(IN_DOUBT)));
            }
        }
        true
    }

    /// Keeps slot `sid`'s `order`, ended as `end` says at the venue, for its late fills (see
    /// [`EndedOrders`]): with the venue id `ev` teaches it, the end's figure as the bound of
    /// its fills (a figure below what is booked is no bound, and said in `out`), and without
    /// one, what its reports stated, which it returns. `reused`: whether an order that
    /// finished before carried the venue id it is kept with.
    pub(super) fn keep_ended_order(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        end: &OrderEnd,
        reused: bool,
        out: &mut KernelOutcome,
    ) -> f64 {
        use KernelEventKind as K;
        let maybe_working = end.kind == K::RateLimited && order.cancel_requested;
        // A throttled submit keeps the status of an order the venue never acknowledged (what
        // `KeptOrder::throttled_submit` reads), and the venue's word that nothing filled.
        let throttled_submit = end.kind == K::RateLimited && !maybe_working;
        let mut ended = order.clone();
        ended.status = match end.kind {
            K::CancelAck => VenueOrderStatus::Canceled,
            K::Expired => VenueOrderStatus::Expired,
            _ if throttled_submit => VenueOrderStatus::New,
            _ => VenueOrderStatus::Rejected,
        };
        let key = (sid, order.is_entry, false);
        let learned = ended.venue_order_id.is_empty()
            && !ev.venue_order_id.is_empty()
            && !self.by_venue_id.contains_key(&ev.venue_order_id)
            && !self.ended.venue_id_claimed(&ev.venue_order_id, Some(key));
        if learned {
            ended.venue_order_id = ev.venue_order_id.clone();
            self.finished_orders
                .insert(venue_fingerprint(&ev.venue_order_id));
        }
        let learned_or_own = learned || !order.venue_order_id.is_empty();
        // The venue's filled size at the end bounds late fills, unless it says less than
        // the kernel booked from the venue's own fills: then it is no bound, and said.
        let short = end.figure > 0.0 && end.figure < order.filled_size - self.rounding(order);
        // Less than the kernel booked is no bound, and said here; more than the kernel was
        // told of (above the order's size too) is said after, once.
        if short {
            out.severity = KernelSeverity::Warning;
            out.details
                .push(("venue_filled_size", Detail::F64(end.figure)));
            out.details.push((
                "reason",
                Detail::Static(
                    "the venue reports less filled than the kernel booked from its fills",
                ),
            ));
        }
        // Without a figure, the slot waits for what the order's reports stated had filled
        // (`KeptOrder::stated_total`), said after.
        let final_filled = if throttled_submit {
            Some(0.0)
        } else {
            (end.figure > 0.0 && !short).then_some(end.figure.min(order.size))
        };
        let mut stated = 0.0;
        if final_filled.is_none() && !short {
            stated = self
                .covered_of(sid, order.is_entry)
                .filter(|c| !c.unplaced)
                .map_or(0.0, |c| c.reach().min(order.size));
        }
        self.keep_order(
            key,
            KeptOrder {
                order: ended,
                final_filled,
                stated_total: stated,
                rounding: 0.0,
                in_doubt: maybe_working,
                figure_by_load: false,
                fills: self.slots[sid].seen_fills.clone(),
                leg: self.slots[sid].active_leg_index,
                counted: (0, 0),
            },
        );
        if reused && learned_or_own {
            let kept_venue_id = if order.venue_order_id.is_empty() {
                &ev.venue_order_id
            } else {
                &order.venue_order_id
            };
            self.ended.finished_elsewhere(kept_venue_id);
        }
        self.sync_free(sid);
        stated
    }

    /// Takes slot `sid`'s ended working entry (`is_entry`) or exit off it, and what it
    /// committed: an entry's slot left holding nothing (`holds` false) turns FLAT, counted off
    /// first on the side it was counted on.
    pub(super) fn clear_ended_order(&mut self, sid: usize, is_entry: bool, holds: bool) {
        if is_entry {
            self.set_working(sid, true, None);
            let slot = &mut self.slots[sid];
            if !holds {
                slot.side = TradeSide::Flat;
            }
            let n = held_notional(slot);
            self.set_committed(sid, n);
        } else {
            self.set_working(sid, false, None);
        }
    }

    /// Says, into `out`, what `end` of `order` says filled beyond what the kernel booked: a
    /// figure above it (the missing fill is applied when it comes, if the order is `kept`),
    /// or, without one, what its reports `stated`; beyond the venue's `rounding`
    /// ([`Kernel::rounding`]).
    pub(super) fn say_what_end_filled(
        order: &VenueOrder,
        end: &OrderEnd,
        kept: bool,
        stated: f64,
        rounding: f64,
        out: &mut KernelOutcome,
    ) {
        if end.figure > order.filled_size + rounding {
            // The order ended at the venue with more filled than the kernel was told of: the
            // position is off until the missing fill comes, which is applied when it comes
            // (`apply_late_fill`). What is owed is at most what the order had left.
            let over = end.figure > order.size + size_tolerance(order.size);
            let (severity, reason) = if kept && over {
                (
                    KernelSeverity::Warning,
                    "the venue reports more filled than the order's size; what the order had left is applied when its fill comes, and the slot takes no new order until then",
                )
            } else if kept {
                (
                    KernelSeverity::Warning,
                    "the venue filled more than the kernel was told; the missing fill is applied when it comes, and the slot takes no new order until then",
                )
            } else {
                (
                    KernelSeverity::Critical,
                    "the venue filled more than the kernel was told; reconcile with the venue",
                )
            };
            out.severity = severity;
            out.details
                .push(("venue_filled_size", Detail::F64(end.figure)));
            out.details.push((
                "unreported_qty",
                Detail::F64(end.figure.min(order.size) - order.filled_size),
            ));
            out.details.push(("reason", Detail::Static(reason)));
        } else if stated > order.filled_size + rounding {
            out.severity = KernelSeverity::Warning;
            out.details
                .push(("reported_filled_size", Detail::F64(stated)));
            out.details
                .push(("unreported_qty", Detail::F64(stated - order.filled_size)));
            out.details
                .push(("reason", Detail::Static(STATED_NOT_BOOKED)));
        }
    }

    pub(super) fn finish_order(&mut self, sid: usize, client_order_id: &Id) {
        self.finish_order_fp(sid, client_order_id, fingerprint(client_order_id), None);
    }

    /// [`Kernel::finish_order`] with the client id's [`fingerprint`], `client_fp`, made.
    /// `place`: where [`OrderIndex`]'s table holds the client id, when known. Only a fill's
    /// lookup gives one, and nothing between it and here adds to the index (ids are added by
    /// `send_order` and `replace_slots` only); a path that does must pass None, as the place
    /// is checked in debug builds alone.
    pub(super) fn finish_order_fp(
        &mut self,
        sid: usize,
        client_order_id: &Id,
        client_fp: u64,
        place: Option<usize>,
    ) {
        match place {
            Some(p) => self.by_client_id.remove_at(p, client_order_id),
            None => {
                self.by_client_id.remove(client_order_id);
            }
        }
        if let Some(o) = self.slots[sid].active_order() {
            let v = &o.venue_order_id;
            if !v.is_empty() {
                self.by_venue_id.remove(v);
                self.finished_orders.insert(venue_fingerprint(v));
            }
        }
        self.finished_orders.insert(client_fp);
    }
}
