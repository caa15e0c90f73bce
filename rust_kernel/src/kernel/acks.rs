//! A venue's acknowledgements of orders and of cancels: the ack (and the venue id it teaches),
//! an ack that comes late or cuts the size, a refused cancel, and a throttled cancel.

use super::*;

impl Kernel {
    /// An ack of slot `sid`'s working order: its answer in `out`, else the refusal. `venue`:
    /// the event's venue order id's text (see [`EventIds`]).
    pub(super) fn apply_ack(
        &mut self,
        ev: &VenueEvent,
        venue: &str,
        sid: usize,
        seq: u64,
        out: &mut KernelOutcome,
    ) -> Handled {
        if let Some(refused) = self.venue_id_taken(ev, sid, seq) {
            return Err(refused);
        }
        let ctx = Ctx {
            holds_position: self.slots[sid].size > QTY_EPS,
        };
        let slot = &self.slots[sid];
        out.reset_ok(sid as i64, slot.trade_id.clone(), slot.fsm_state, seq);
        let moved = self.transition(
            out,
            sid,
            Trigger::Ack,
            ctx,
            ev.timestamp,
            &id(""),
            &ev.event_id,
            TransitionDetails::Empty,
        );
        if !moved {
            return Err(self.late_ack(ev, sid, seq));
        }
        let order = self.slots[sid]
            .active_order_mut()
            .expect("indexed orders are active");
        order.status = VenueOrderStatus::Acknowledged;
        let sent = order.size;
        if !venue.is_empty() {
            if order.venue_order_id.is_empty() {
                // The usual ack: the order carries no venue id yet, and none is replaced.
                order.venue_order_id = ev.venue_order_id.clone();
            } else {
                let before =
                    std::mem::replace(&mut order.venue_order_id, ev.venue_order_id.clone());
                // The id the venue replaced stops naming this slot, so an event that names it
                // later finds no order instead of this slot's next one (or none at all).
                if before != ev.venue_order_id && self.by_venue_id.get(&before) == Some(&sid) {
                    self.by_venue_id.remove(&before);
                }
            }
            self.index_venue_id(ev, sid, out);
        }
        if ev.size > 0.0 && (ev.size - sent).abs() > size_tolerance(sent) {
            self.acked_size(ev, sid, out);
        }
        Ok(())
    }

    /// An ack of another size than slot `sid`'s order was sent for (a late ack's too, after a
    /// fill), WARNING in `out` with both. Less (a venue cutting it to its lot, or a reduce-only
    /// exit to the position): the order's size, what it commits and counts, so the kernel does
    /// not wait for fills that never come. When what filled reaches it (a late ack), the order
    /// is filled, at what filled (a FILL transition). More: the size sent stands.
    #[cold]
    pub(super) fn acked_size(&mut self, ev: &VenueEvent, sid: usize, out: &mut KernelOutcome) {
        let was = engaged(&self.slots[sid]);
        let order = self.slots[sid].active_order_mut().expect("acknowledged");
        out.severity = KernelSeverity::Warning;
        out.details.push(("acked_size", Detail::F64(ev.size)));
        out.details.push(("order_size", Detail::F64(order.size)));
        if ev.size > order.size {
            out.details.push((
                "reason",
                Detail::Static(
                    "the venue acknowledged more than was sent: the size sent stands (a fill \
                     beyond it is refused as an overfill)",
                ),
            ));
            return;
        }
        // Nothing filled yet for an ack in order (from a sent stage); a late ack's order may
        // have filled what it states, or more.
        let filled =
            order.filled_size > QTY_EPS && order.filled_size >= ev.size - size_tolerance(ev.size);
        order.size = ev.size.max(order.filled_size);
        if filled {
            order.status = VenueOrderStatus::Filled;
        }
        let order = order.clone();
        out.details.push((
            "reason",
            Detail::Static(if filled {
                "the venue acknowledged less than was sent, and what filled reaches it: the \
                 order is filled"
            } else {
                "the venue acknowledged less than was sent (cut to its lot, or a reduce-only \
                 exit to the position): the order is that size"
            }),
        ));
        self.recount_slot(sid, was);
        if order.is_entry {
            let at = working_price(&order, entry_mark(&self.entry_marks, sid));
            let committed = held_notional(&self.slots[sid]) + order.remaining() * at;
            self.set_committed(sid, committed);
        }
        self.dirty.slot(sid);
        if filled {
            let holds = Ctx {
                holds_position: self.slots[sid].size > QTY_EPS,
            };
            let d = TransitionDetails::Ended {
                filled_size: order.filled_size,
                order_size: order.size,
                reason: "acknowledged at what filled".to_owned(),
            };
            let id_none = id("");
            let moved = self.transition(
                out,
                sid,
                Trigger::Fill,
                holds,
                ev.timestamp,
                &id_none,
                &ev.event_id,
                d,
            );
            debug_assert!(moved, "a working stage takes a fill");
            self.order_filled(sid, &order, 0.0, order.filled_size, None, None);
        }
    }

    /// An ack the slot's stage does not take. An ack of a working order that carries no venue
    /// id yet (a venue reordering its reports: a fill before the ack moved the order to
    /// working) teaches the kernel the ack's id, so an event naming the order by it alone
    /// finds it; the stage and status stay as the fill left them. `apply_ack` checked that no
    /// other working order carries the id. An order that carries an id (a fill's, which the
    /// venue sent after this ack, or an earlier ack's) keeps it, and the ack is refused.
    pub(super) fn late_ack(&mut self, ev: &VenueEvent, sid: usize, seq: u64) -> KernelOutcome {
        let slot = &self.slots[sid];
        let learns = !ev.venue_order_id.is_empty()
            && matches!(
                slot.fsm_state,
                TradeStage::EntryWorking | TradeStage::ExitWorking
            )
            && slot
                .active_order()
                .is_some_and(|o| o.venue_order_id.is_empty());
        if !learns {
            return self.stage_refusal(ev, sid, seq);
        }
        let order = self.slots[sid].active_order_mut().expect("checked above");
        order.venue_order_id = ev.venue_order_id.clone();
        let client_order_id = order.client_order_id.clone();
        let size = order.size;
        let mut out = self.late_ack_taken(ev, sid, &client_order_id, seq);
        self.index_venue_id(ev, sid, &mut out);
        // Its size is read as an ack's in order is: one below the order's cuts it, and
        // completes it when what filled reaches it.
        if ev.size > 0.0 && (ev.size - size).abs() > size_tolerance(size) {
            self.acked_size(ev, sid, &mut out);
        }
        out
    }

    /// The outcome of a late ack taken for its venue id (of a working order, or of a kept
    /// one): no transition, the slot's stage as it is.
    pub(super) fn late_ack_taken(
        &self,
        ev: &VenueEvent,
        sid: usize,
        client_order_id: &Id,
        seq: u64,
    ) -> KernelOutcome {
        let mut out = self.slot_outcome(sid, seq);
        out.details = vec![
            ("late_ack", Detail::Bool(true)),
            ("venue_order_id", (&ev.venue_order_id).into()),
            ("client_order_id", client_order_id.into()),
        ];
        out
    }

    /// The venue refused a cancel: the order keeps working in the stage it was in.
    pub(super) fn apply_cancel_reject(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        seq: u64,
    ) -> KernelOutcome {
        let ctx = Ctx {
            holds_position: self.slots[sid].size > QTY_EPS,
        };
        let mut out = self.slot_outcome(sid, seq);
        let d = TransitionDetails::Reason(Detail::Str(ev.reason.clone()));
        if !self.transition(
            &mut out,
            sid,
            Trigger::CancelReject,
            ctx,
            ev.timestamp,
            &id(""),
            &ev.event_id,
            d,
        ) {
            return self.stage_refusal(ev, sid, seq);
        }
        self.slots[sid]
            .active_order_mut()
            .expect("indexed orders are active")
            .cancel_requested = false;
        out
    }

    /// Whether the venue has taken slot `sid`'s working order (acknowledged or filled part).
    pub(super) fn venue_holds(&self, sid: usize) -> bool {
        self.slots[sid].active_order().is_some_and(|o| {
            o.filled_size > QTY_EPS
                || matches!(
                    o.status,
                    VenueOrderStatus::Acknowledged | VenueOrderStatus::PartiallyFilled
                )
        })
    }

    /// Whether a rate limit on slot `sid`'s working order shows the venue holds it: the venue
    /// acknowledged or filled part of it, the slot works it (a slot loaded so), the order
    /// carried the venue's id before this event, or the rate limit states a filled size. A
    /// venue may stamp its id on every event, its answer to a submit too: the id the rate
    /// limit names is no evidence, with a cancel asked or not.
    pub(super) fn rate_limit_shows_it_held(&self, ev: &VenueEvent, sid: usize) -> bool {
        let slot = &self.slots[sid];
        let working = matches!(
            slot.fsm_state,
            TradeStage::EntryWorking | TradeStage::ExitWorking
        );
        let own_venue_id = slot
            .active_order()
            .is_some_and(|o| !o.venue_order_id.is_empty());
        self.venue_holds(sid) || working || own_venue_id || ev.filled_size > 0.0
    }

    /// A rate limit on an order the venue holds. With a cancel asked for, the
    /// cancel was throttled: the order keeps working as after a refused cancel, and the
    /// outcome says `RATE_LIMITED` with `retry_after` so the caller can ask again later.
    /// With none asked for, no request of the kernel's was throttled: the event changes
    /// nothing and is refused (`INVALID_TRANSITION`), so an intent whose answer carried it
    /// still stands.
    pub(super) fn throttled_cancel(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        seq: u64,
    ) -> KernelOutcome {
        let order = self.slots[sid]
            .active_order()
            .expect("indexed orders are active");
        let client_order_id = order.client_order_id.clone();
        if !order.cancel_requested {
            let d = vec![
                ("kind", Detail::Static(ev.kind.name())),
                ("event_id", (&ev.event_id).into()),
                ("client_order_id", (&client_order_id).into()),
                (
                    "fsm_state",
                    Detail::Static(self.slots[sid].fsm_state.name()),
                ),
                ("reason", Detail::Static(UNASKED_THROTTLE)),
            ];
            return self.event_refusal(
                ev,
                Some(sid),
                KernelDiagnosticCode::InvalidTransition,
                KernelSeverity::Warning,
                d,
                seq,
            );
        }
        let mut out = self.apply_cancel_reject(ev, sid, seq);
        if out.accepted {
            rate_limited(&mut out, ev, &client_order_id);
            out.details
                .push(("order_kept", Detail::Static(THROTTLED_CANCEL)));
        }
        out
    }
}
