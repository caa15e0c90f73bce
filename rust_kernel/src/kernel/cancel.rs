//! CANCEL: the cancel of a slot's working order, or of its order in doubt, which may still
//! work at the venue.

use super::*;

/// Why a CANCEL with a size is refused.
const CANCEL_OF_A_SIZE: &str = "a CANCEL cancels the slot's whole working order: leave \
     target_size 0 (to trade less, cancel and send a smaller order)";

impl Kernel {
    /// A CANCEL: the slot's working order is asked to cancel (`cancels`), its stage kept until
    /// the venue answers; an order in doubt is asked again ([`Kernel::cancel_in_doubt`]).
    pub(super) fn cancel(&mut self, intent: &Intent, seen: bool, seq: u64) -> KernelOutcome {
        let sid = match self.check_intent(intent, seen, seq) {
            Ok(s) => s,
            Err(o) => return o,
        };
        if intent.target_size > 0.0 {
            // Taken, a CANCEL meant to take part of a resting order off would take all of it.
            let mut d = detail_field("target_size", intent.target_size);
            d.push(("reason", Detail::Static(CANCEL_OF_A_SIZE)));
            let (code, sev) = (KernelDiagnosticCode::InvalidIntent, KernelSeverity::Error);
            return self.refuse(intent, Some(sid), code, sev, d, seq);
        }
        let stage = self.slots[sid].fsm_state;
        if !fsm::CANCELLABLE.contains(&stage) || self.slots[sid].active_order().is_none() {
            if let Some(order) = self.ended.in_doubt(sid, None).cloned() {
                return self.cancel_in_doubt(intent, sid, order, seq);
            }
            let mut d = detail_field("slot_id", sid as i64);
            d.push(("fsm_state", Detail::Static(stage.name())));
            d.push(("reason", Detail::Static("no working order to cancel")));
            return self.refuse(
                intent,
                Some(sid),
                KernelDiagnosticCode::InvalidTransition,
                KernelSeverity::Warning,
                d,
                seq,
            );
        }
        if let Some(refused) = self.other_trade(intent, sid, seq) {
            return refused;
        }
        if let Some(refused) = self.other_asset(intent, sid, &self.slots[sid].asset, seq) {
            return refused;
        }
        let trade_id = self.slots[sid].trade_id.clone();
        let order = {
            let o = self.slots[sid].active_order_mut().expect("checked above");
            o.cancel_requested = true;
            o.clone()
        };
        let mut out = KernelOutcome::ok(intent.slot_id, trade_id, stage, seq);
        let ctx = Ctx {
            holds_position: self.slots[sid].size > QTY_EPS,
        };
        let d = TransitionDetails::Cancel {
            client_order_id: order.client_order_id.clone(),
        };
        self.transition(
            &mut out,
            sid,
            Trigger::CancelRequest,
            ctx,
            intent.timestamp,
            &intent.intent_id,
            &id(""),
            d,
        );
        self.counters.cancels_requested += 1;
        out.cancels.push(order);
        out
    }

    /// Asks to cancel slot `sid`'s working order for `reason` (the kernel's own cancel, no
    /// intent): marked asked, its CANCEL_REQUEST said, the order put in `out.cancels`. Nothing
    /// when its stage has no order the venue can cancel or the cancel is asked already.
    pub(super) fn ask_to_cancel_working(
        &mut self,
        out: &mut KernelOutcome,
        sid: usize,
        ts: f64,
        reason: &'static str,
    ) {
        let stage = self.slots[sid].fsm_state;
        if !fsm::CANCELLABLE.contains(&stage) {
            return;
        }
        let Some(o) = self.slots[sid].active_order_mut() else {
            return;
        };
        if o.cancel_requested {
            return;
        }
        o.cancel_requested = true;
        let order = o.clone();
        let ctx = Ctx {
            holds_position: self.slots[sid].size > QTY_EPS,
        };
        let d = TransitionDetails::Reason(Detail::Static(reason));
        self.transition(
            out,
            sid,
            Trigger::CancelRequest,
            ctx,
            ts,
            &id(""),
            &id(""),
            d,
        );
        self.counters.cancels_requested += 1;
        out.cancels.push(order);
    }

    /// A CANCEL on a slot whose `order` is in doubt: its cancel may have been the request the
    /// venue throttled, so it is asked again (`cancels`), the slot's stage kept, rather than
    /// refused while the order may still fill at the venue. The venue's answer ends the doubt
    /// (a cancel ack) or leaves it to `reconcile_with_venue` (a reject: the venue may never
    /// have had it, or it filled).
    #[cold]
    pub(super) fn cancel_in_doubt(
        &mut self,
        intent: &Intent,
        sid: usize,
        order: VenueOrder,
        seq: u64,
    ) -> KernelOutcome {
        if let Some(refused) = self.other_trade(intent, sid, seq) {
            return refused;
        }
        // The slot may be free by now: the order's asset is the one the cancel acts on.
        if let Some(refused) = self.other_asset(intent, sid, &order.asset, seq) {
            return refused;
        }
        let slot = &self.slots[sid];
        let mut out = KernelOutcome::ok(intent.slot_id, slot.trade_id.clone(), slot.fsm_state, seq);
        out.severity = KernelSeverity::Warning;
        out.details
            .push(("client_order_id", (&order.client_order_id).into()));
        out.details.push(("order_in_doubt", Detail::Bool(true)));
        out.details
            .push(("reason", Detail::Static(CANCEL_IN_DOUBT)));
        self.counters.cancels_requested += 1;
        out.cancels.push(order);
        out
    }
}
