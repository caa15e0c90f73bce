//! Venue events: each taken in, checked, routed to the order it names (working, or kept after
//! it ended) and handed to its handler (`acks`, `fills`, `kept_orders`, `late_fills`,
//! `order_ends`), with the types it is routed in and the reasons its handlers give. The one
//! path every venue event takes; its checks live in `venue_event_checks.rs`, and the lookup of
//! its order in `order_lookup.rs`.

use super::*;

/// Whether a fill is one a reconciliation with the venue made (its metadata says so).
pub(super) fn is_reconciliation(ev: &VenueEvent) -> bool {
    matches!(ev.metadata.get("source"), Some(MetaValue::Str(s)) if s == "reconciliation")
}

/// The slot a venue event was routed to, and its ids' fingerprints, for the slot's
/// memories once the event is taken (see `Kernel::venue_event`).
pub(super) struct RoutedEvent {
    pub(super) sid: usize,
    pub(super) event_fp: u64,
    pub(super) fill_fp: Option<u64>,
}

/// The order a venue event names (`Kernel::find_order`): its slot, the key of the order kept
/// after it ended when it is that one (None: the slot's working order), and the place of
/// [`OrderIndex`]'s table that held its client id when the event found it there.
#[derive(Clone, Copy, Debug)]
pub(super) struct FoundOrder {
    pub(super) sid: usize,
    pub(super) late: Option<KeptOrderKey>,
    pub(super) client_place: Option<usize>,
}

/// A venue event's ids as text, each read out of its [`Id`] once (`EventIds::of`): an id's
/// text is behind a choice of how it is stored, and an event's checks,
/// lookup and memories read its event, client, venue and fill ids two or three times each.
#[derive(Clone, Copy)]
pub(super) struct EventIds<'a> {
    pub(super) event: &'a str,
    pub(super) client: &'a str,
    pub(super) venue: &'a str,
    pub(super) fill: &'a str,
}

impl<'a> EventIds<'a> {
    /// Another event than a fill is read for no fill id (empty here): only a fill's is looked at.
    #[inline(always)]
    pub(super) fn of(ev: &'a VenueEvent) -> Self {
        EventIds {
            event: &ev.event_id,
            client: &ev.venue_client_id,
            venue: &ev.venue_order_id,
            fill: if ev.kind == KernelEventKind::Fill {
                &ev.fill_id
            } else {
                ""
            },
        }
    }

    /// [`VenueEvent::fill_key`]'s text: the fill id, or the event id when it gives none.
    #[inline(always)]
    pub(super) fn fill_key(&self) -> &'a str {
        if self.fill.is_empty() {
            self.event
        } else {
            self.fill
        }
    }
}

/// A fill's client id as its event names it: its [`fingerprint`] (made once by
/// `on_venue_event_into`), and the place of [`OrderIndex`]'s table that held it when the
/// event found its order there (None: in the map), where the order's finish removes it
/// without comparing the id again.
#[derive(Clone, Copy, Debug)]
pub(super) struct ClientIdLookup {
    pub(super) fp: u64,
    pub(super) place: Option<usize>,
}

/// Why a rate limit on an order the venue holds does not end it (see `throttled_cancel`).
pub(super) const THROTTLED_CANCEL: &str =
    "the venue holds the order: its cancel was throttled and the order still works";
/// Why a slot whose order may still work at the venue takes no new order.
pub(super) const IN_DOUBT: &str = "the slot's last order was rate limited before the venue \
     acknowledged it (with a cancel asked, or acknowledged or filled after) and may still work \
     at the venue: another order beside it could trade the position twice; its late fills book \
     as they come, and reconcile_with_venue learns its status (and cancels it if it works)";
/// Why the venue's ack or fill of an order it rate limited with no cancel asked is CRITICAL.
pub(super) const HELD_AFTER_THROTTLE: &str = "the venue holds an order it answered \
     RATE_LIMITED, which ended it here as a throttled submit: it is in doubt until a fill \
     completes it or reconcile_with_venue settles it, and an order sent again meanwhile may \
     work beside it";
/// Why a CANCEL on a slot whose order is in doubt asks the venue again.
pub(super) const CANCEL_IN_DOUBT: &str =
    "the slot's order is in doubt (rate limited before its ack, with \
     a cancel asked): its cancel is sent again; the venue's cancel ack ends the doubt, and \
     reconcile_with_venue settles it otherwise";
/// Why the venue's refusal to cancel an order in doubt settles nothing.
pub(super) const IN_DOUBT_CANCEL_REFUSED: &str =
    "the venue refused to cancel the order in doubt: it may \
     never have had it, or the order filled or ended there; its status is still unknown, and \
     reconcile_with_venue settles it";
/// Why the venue's end of an order in doubt is taken.
pub(super) const IN_DOUBT_ENDED: &str =
    "the order was in doubt (rate limited before its ack, with a \
     cancel asked): the venue ended it, and its slot trades again once what it filled is booked";
/// Why an order rate limited before its ack, with a cancel asked, is kept.
pub(super) const THROTTLED_BEFORE_ACK: &str =
    "the throttled request may have been its cancel: the order \
     is ended here but kept for its fills, which are booked if it was working at the venue";
/// Why an order's end, come again after it ended, stating more filled than is booked is taken.
pub(super) const LATE_END_FIGURE: &str =
    "the venue ended the order again stating more filled than is booked, after an end that \
     gave no figure: the missing fill is applied when it comes, and the slot takes no new \
     order until then";
/// Why an order's end, come again, stating another figure than the order has is refused.
pub(super) const LATE_END_CONTRADICTS: &str =
    "the venue ended the order again stating another filled size than its earlier figure, \
     above what is booked: nothing changes; reconcile with the venue";
/// Why a rate limit on an order the venue holds, with no cancel asked for, is refused.
pub(super) const UNASKED_THROTTLE: &str =
    "a rate limit for an order the venue holds, with no cancel asked for: the order still works";

/// Marks `out` as the venue's rate limit on order `client_order_id`: not carried out
/// (`accepted=false`), `RATE_LIMITED` WARNING with the venue's `retry_after`.
pub(super) fn rate_limited(out: &mut KernelOutcome, ev: &VenueEvent, client_order_id: &Id) {
    out.accepted = false;
    out.diagnostic_code = KernelDiagnosticCode::RateLimited;
    out.severity = KernelSeverity::Warning;
    out.details
        .push(("retry_after", Detail::F64(ev.retry_after)));
    out.details
        .push(("client_order_id", client_order_id.into()));
}

impl Kernel {
    pub fn on_venue_event(&mut self, ev: &VenueEvent) -> KernelOutcome {
        let mut out = KernelOutcome::blank();
        self.on_venue_event_into(ev, &mut out);
        out
    }

    /// [`Kernel::on_venue_event`] answered in `out` (see [`Kernel::process_intent_into`]).
    pub fn on_venue_event_into(&mut self, ev: &VenueEvent, out: &mut KernelOutcome) {
        // A fill's client id, fingerprinted once: for the prefetch and, when the fill
        // completes the order of that id, its keys and its memory as finished.
        let mut client_fp = None;
        // And its key's (`VenueEvent::fill_key`), once: its event's or fill's memory and the
        // fee waiting for settlement under it.
        let mut key_fp = None;
        let ids = EventIds::of(ev);
        if ev.kind == KernelEventKind::Fill {
            // A fill may finish its order, which remembers the order's ids, and its predicted
            // fee waits for settlement under its fill id. An empty venue id is no second
            // fingerprint.
            let (c, v) = (ids.client, ids.venue);
            let fp = fingerprint(c);
            if v.is_empty() {
                self.finished_orders.prefetch_insert(&[fp]);
            } else {
                self.finished_orders
                    .prefetch_insert(&[fp, venue_fingerprint(v)]);
            }
            client_fp = Some(fp);
            let key = fingerprint(ids.fill_key());
            if ev.fee.is_none() {
                self.unsettled.prefetch_insert(key);
            }
            key_fp = Some(key);
        }
        let seq = self.next_seq();
        self.counters.venue_events += 1;
        let mut routed = None;
        let fps = [client_fp, key_fp];
        if let Err(whole) = self.venue_event(ev, ids, seq, &mut routed, fps, out) {
            *out = whole;
            if out.diagnostic_code == KernelDiagnosticCode::DuplicateEvent
                && key_fp.is_some()
                && !ev.fill_id.is_empty()
                && !self.unsettled.is_empty()
            {
                self.learn_fill_id(ev, seq, out);
            }
        }
        // The slot remembers the event (and its fill) once taken, or throttled.
        if let Some(r) = routed
            .filter(|_| out.accepted || out.diagnostic_code == KernelDiagnosticCode::RateLimited)
        {
            let slot = &mut self.slots[r.sid];
            slot.seen_events.insert(r.event_fp);
            if let Some(fp) = r.fill_fp {
                slot.seen_fills.insert(fp);
            }
        }
        if out.accepted {
            self.account.note_input_time(ev.timestamp);
        } else {
            self.counters.venue_events_refused += 1;
        }
        if self.outbox.enabled {
            self.outbox.record_venue_event(ev, out);
        }
    }

    /// The refusal of `ev`, naming slot `sid` (the slot of the order it names), else the slot
    /// the event names when there is one: that slot's stage and its current trade as they are,
    /// whatever trade the event names (an operator reconciles the slot as it stands). An event
    /// naming none of the kernel's slots says IDLE and its own trade.
    #[cold]
    pub(super) fn event_refusal(
        &self,
        ev: &VenueEvent,
        sid: Option<usize>,
        code: KernelDiagnosticCode,
        sev: KernelSeverity,
        details: Details,
        seq: u64,
    ) -> KernelOutcome {
        let named = usize::try_from(ev.slot_id).ok();
        let (state, trade, slot_id) = match sid.or(named).and_then(|i| self.slots.get(i)) {
            Some(s) => (s.fsm_state, s.trade_id.clone(), s.slot_id as i64),
            None => (TradeStage::Idle, ev.trade_id.clone(), ev.slot_id),
        };
        KernelOutcome::refused(slot_id, trade, state, code, sev, details, seq)
    }

    /// Judges and applies `ev`, answering in `out` or with the answer made whole (see
    /// [`Handled`]); `routed` is set once it names a slot's order and is no duplicate
    /// (`on_venue_event` remembers it there after). `fps`: a fill's client id and key
    /// ([`VenueEvent::fill_key`]) fingerprinted (None for another event). Inlined into its one
    /// caller, as each of its steps into it: called, its answer and `routed` would pass
    /// through memory.
    #[inline(always)]
    pub(super) fn venue_event(
        &mut self,
        ev: &VenueEvent,
        ids: EventIds<'_>,
        seq: u64,
        routed: &mut Option<RoutedEvent>,
        fps: [Option<u64>; 2],
        out: &mut KernelOutcome,
    ) -> Handled {
        self.check_event_id(ev, ids, seq)?;
        // Every event's numbers are checked: the common case (all plainly within bounds,
        // `event_numbers_in_bounds`) decides all seven at once, and only an event failing it
        // walks them to name the first (or finds none: -0.0 is within bounds).
        if !event_numbers_in_bounds(ev) {
            if let Some(refused) = self.number_refusal_of(ev, seq) {
                return Err(refused);
            }
        }
        let found = self.find_order(ev, seq)?;
        self.check_event_matches_order(ev, ids, found, seq)?;
        // Judged on the order's side (a sell carries no commission in the coin; an order not
        // held takes none), before the event is remembered: a corrected resend is taken.
        if ev.kind == KernelEventKind::Fill && !ev.metadata.is_empty() {
            let side = self.order_of(found).map_or(OrderSide::Sell, |o| o.side);
            if let Some(d) = base_fee_refusal(ev, side) {
                use KernelDiagnosticCode as D;
                let sev = KernelSeverity::Error;
                let sid = Some(found.sid);
                return Err(self.event_refusal(ev, sid, D::InvalidIntent, sev, d, seq));
            }
        }
        let (event_fp, fill_fp) = self.check_event_is_new(ev, ids, found.sid, fps[1], seq)?;
        *routed = Some(RoutedEvent {
            sid: found.sid,
            event_fp,
            fill_fp,
        });
        self.dispatch_event(ev, ids, found, fps, seq, out)
    }

    /// Hands `ev`, judged new and naming `found`, to its handler: a working order's ack, fill,
    /// refused cancel, throttle or end, or a kept order's late ack, fill or end.
    #[inline(always)]
    pub(super) fn dispatch_event(
        &mut self,
        ev: &VenueEvent,
        ids: EventIds<'_>,
        found: FoundOrder,
        [client_fp, key_fp]: [Option<u64>; 2],
        seq: u64,
        out: &mut KernelOutcome,
    ) -> Handled {
        use KernelDiagnosticCode as D;
        use KernelEventKind as K;
        let FoundOrder {
            sid,
            late,
            client_place,
        } = found;
        let whole = match ev.kind {
            K::CancelAck | K::Expired | K::Reject if late.is_some() && is_reconciliation(ev) => {
                self.settle_awaited(ev, late.expect("checked"), seq)
            }
            // The venue's own end of an order in doubt says what became of it.
            K::CancelAck | K::Expired | K::Reject
                if late.is_some_and(|k| self.ended.is_in_doubt(k)) =>
            {
                self.end_in_doubt(ev, late.expect("checked"), seq)
            }
            // The venue took an order whose submit it answered RATE_LIMITED.
            K::OrderAck | K::Fill if late.is_some_and(|k| self.ended.throttled_submit(k)) => {
                self.held_after_throttle(ev, late.expect("checked"), seq)
            }
            // Its end again, after it ended: it may give the figure the first end did not.
            K::CancelAck | K::Expired | K::Reject if late.is_some() => {
                self.apply_late_end(ev, sid, late.expect("checked"), seq)
            }
            K::OrderAck if late.is_some() => {
                self.apply_late_ack(ev, sid, late.expect("checked"), seq)
            }
            K::CancelReject if late.is_some_and(|k| self.ended.is_in_doubt(k)) => {
                let mut d = order_named(ev);
                d.push(("reason", Detail::Static(IN_DOUBT_CANCEL_REFUSED)));
                let (code, sev) = (D::InvalidTransition, KernelSeverity::Warning);
                self.event_refusal(ev, Some(sid), code, sev, d, seq)
            }
            _ if late.is_some() && ev.kind != K::Fill => {
                self.ended_order_refusal(ev, Some(sid), seq, FILL_AFTER_END)
            }
            K::Fill => match late {
                Some(key) => self.apply_late_fill(ev, key, seq),
                None => {
                    let key_fp = key_fp.unwrap_or_else(|| fingerprint(ids.fill_key()));
                    let client = client_fp.map(|fp| ClientIdLookup {
                        fp,
                        place: client_place,
                    });
                    return self.apply_fill(ev, sid, seq, client, key_fp, out);
                }
            },
            K::OrderAck => return self.apply_ack(ev, ids.venue, sid, seq, out),
            K::CancelReject => self.apply_cancel_reject(ev, sid, seq),
            // An order the venue holds (acknowledged, filled, worked or named by its id before)
            // is at the venue, and a rate limit cannot take it back: the throttled request was
            // its cancel.
            K::RateLimited if self.rate_limit_shows_it_held(ev, sid) => {
                self.throttled_cancel(ev, sid, seq)
            }
            K::CancelAck | K::Reject | K::Expired | K::RateLimited => {
                self.apply_order_end(ev, sid, seq)
            }
        };
        Err(whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_finding_no_order_says_the_stage_and_trade_of_the_slot_the_event_names() {
        let mut k = Kernel::new("refusal", 2).unwrap();
        k.slots[0].fsm_state = TradeStage::PositionOpen;
        k.slots[0].trade_id = id("t-open");
        // An ack of an entry that filled and ended, naming its trade.
        let mut ev = VenueEvent::new("e1", KernelEventKind::OrderAck, &id("c-ended"));
        (ev.trade_id, ev.slot_id) = (id("t-entered"), 0);
        let refused = |ev: &VenueEvent| {
            let (code, sev) = (
                KernelDiagnosticCode::InvalidTransition,
                KernelSeverity::Info,
            );
            k.event_refusal(ev, None, code, sev, Vec::new(), 1)
        };
        let out = refused(&ev);
        assert_eq!(out.slot_id, 0);
        assert_eq!(out.state, TradeStage::PositionOpen);
        assert_eq!(out.trade_id, id("t-open"));
        // An event naming no slot of the kernel's says IDLE and its own trade.
        for outside in [-1, 2] {
            ev.slot_id = outside;
            let out = refused(&ev);
            assert_eq!(out.slot_id, outside);
            assert_eq!(out.state, TradeStage::Idle);
            assert_eq!(out.trade_id, id("t-entered"));
        }
    }
}
