//! The order a venue event names: found by its client id, else its venue id, among working
//! orders and those kept after they ended; and the refusal of an event naming none the kernel
//! holds (a resend a slot remembers, a late event for an ended order, an unknown order, a venue
//! id two orders carry), and which order a venue id an order takes finds (`index_venue_id`). Its
//! own file as the one place an event finds its order, and what it is told when it finds none.

use super::*;

/// The details of an event naming an order the kernel does not hold: how it named it.
pub(super) fn order_named(ev: &VenueEvent) -> Details {
    vec![
        ("venue_client_id", (&ev.venue_client_id).into()),
        ("venue_order_id", (&ev.venue_order_id).into()),
        ("kind", Detail::Static(ev.kind.name())),
    ]
}

/// Why an event naming only a venue id a working order and a kept one carry is refused.
pub(super) const KEPT_SHARES_IT: &str =
    "the venue order id is a working order's and an ended order's the kernel keeps for its \
     late fills; name the order by its client id, or reconcile with the venue";
/// Why an event naming only a venue id a working order carries, and an order that finished
/// carried, is refused.
pub(super) const ANOTHER_CARRIES_IT: &str =
    "the venue order id is a working order's and an order's that finished (the venue \
     reusing its id): the event may be either's; name the order by its client id, or \
     reconcile with the venue";
/// What an order taking a venue id a finished order carried is told.
pub(super) const REUSED_VENUE_ID: &str =
    "an order that finished carried this venue order id (the venue reused it): an event \
     naming it alone names neither order and is refused; events naming this order by its \
     client id are its";
/// Why a fill for an order the kernel no longer holds is refused.
pub(super) const FILL_AFTER_END: &str =
    "fill for an order that already ended; reconcile with the venue";

/// Why a status report of an order that filled completely books nothing.
pub(super) const STATUS_OF_FILLED: &str =
    "the order filled completely at this total: a report stating it books nothing";
/// Why a fill within the totals at which its order filled completely books nothing.
pub(super) const WITHIN_FILLED: &str =
    "the order filled completely, and the venue's reports up to that total count this fill";

impl Kernel {
    /// The order `ev` names, working or kept after it ended ([`FoundOrder`]). The kernel's own
    /// client ids first: a venue id may be reused by a venue. An order that ended is still
    /// known (`EndedOrders`).
    #[inline(always)]
    pub(super) fn find_order(
        &self,
        ev: &VenueEvent,
        seq: u64,
    ) -> Result<FoundOrder, KernelOutcome> {
        let (c, v) = (&ev.venue_client_id, &ev.venue_order_id);
        let mut client_place = None;
        let found = match self.by_client_id.get_placed(&ev.venue_client_id) {
            Some((sid, place)) => {
                client_place = place;
                Some((sid, None))
            }
            None => match self.ended.by_client(c) {
                Some(k) => Some((k.0, Some(k))),
                // The kernel's own id of an order it no longer holds: the venue id must not
                // route the event to another order that carried it.
                None if !c.is_empty() && self.finished_orders.contains(&fingerprint(c)) => None,
                None => match self.working_by_venue_id(v) {
                    // An order kept for its late fills carries it too (the venue reused it):
                    // the id names neither, as it names no kept order two carry.
                    Some(_) if self.ended.venue_id_claimed(v, None) => {
                        return Err(self.shared_venue_id_refusal(ev, seq, KEPT_SHARES_IT));
                    }
                    // An order that finished carried it: the event may be that order's
                    // (`index_venue_id`).
                    Some(_) if self.venue_id_finished_before(v) => {
                        return Err(self.shared_venue_id_refusal(ev, seq, ANOTHER_CARRIES_IT));
                    }
                    working => working.map(|sid| (sid, None)),
                }
                .or_else(|| self.ended.by_venue(v).map(|k| (k.0, Some(k)))),
            },
        };
        let Some((sid, late)) = found else {
            return Err(self.unknown_order(ev, seq));
        };
        Ok(FoundOrder {
            sid,
            late,
            client_place,
        })
    }

    /// The order `ev` names as the bindings read it before the kernel takes the event (no
    /// refusal judged): the working order of its client id (of its venue id when it gives
    /// none), else one kept after it ended, found as a late event is.
    pub(super) fn named_order(&self, ev: &VenueEvent) -> Option<&VenueOrder> {
        let (c, v) = (&ev.venue_client_id, &ev.venue_order_id);
        let sid = match self.by_client_id.get(c) {
            Some(&sid) => Some(sid),
            None if c.is_empty() => self.working_by_venue_id(v),
            None => None,
        };
        if let Some(sid) = sid {
            return self.slots[sid].active_order();
        }
        let key = match self.ended.by_client(c) {
            None if c.is_empty() => self.ended.by_venue(v),
            key => key,
        };
        key.and_then(|k| self.ended.get(k)).map(|k| &k.order)
    }

    /// Slot `sid`'s working order, which has taken `ev`'s venue id, found by it from now on
    /// (`venue_id_taken` refused an id another working order carries). When an order that
    /// finished carried it too (the venue reused it), the id names neither: an event naming
    /// the order by it alone is refused in `find_order`, and `out` says so (WARNING).
    pub(super) fn index_venue_id(&mut self, ev: &VenueEvent, sid: usize, out: &mut KernelOutcome) {
        let v = &ev.venue_order_id;
        debug_assert!(self.working_by_venue_id(v).is_none_or(|o| o == sid));
        self.by_venue_id.insert(v.clone(), sid);
        if self.venue_id_finished_before(v) {
            self.reused_venue_id(ev, sid, out);
        }
    }

    /// A venue id slot `sid`'s order shares with an order that finished, said in `out`.
    #[cold]
    #[inline(never)]
    pub(super) fn reused_venue_id(&self, ev: &VenueEvent, sid: usize, out: &mut KernelOutcome) {
        let v = &ev.venue_order_id;
        let own = self.slots[sid]
            .active_order()
            .map(|o| o.client_order_id.clone());
        // The other order by its client id when it is kept after it ended; a finished order
        // is remembered by fingerprints alone.
        let other_order = self
            .ended
            .by_venue(v)
            .and_then(|k| self.ended.get(k))
            .map(|k| k.order.client_order_id.clone());
        out.severity = out.severity.max(KernelSeverity::Warning);
        out.details.push(("venue_order_id", v.into()));
        if let Some(c) = own {
            out.details.push(("client_order_id", (&c).into()));
        }
        if let Some(c) = other_order {
            out.details.push(("other_client_order_id", (&c).into()));
        }
        out.details
            .push(("venue_id_shared", Detail::Static(REUSED_VENUE_ID)));
    }

    /// The order `found` is: the slot's working order, or the one kept after it ended.
    #[inline(always)]
    pub(super) fn order_of(&self, found: FoundOrder) -> Option<&VenueOrder> {
        match found.late {
            Some(key) => self.ended.get(key).map(|k| &k.order),
            None => self.slots[found.sid].active_order(),
        }
    }

    /// The refusal of an event naming its order only by a venue id that a working order and
    /// an order kept for its late fills both carry: it may be either's, and
    /// booked on the working order a fill owed to the kept one moves a position the venue
    /// does not hold, while the kept one's slot waits for it for good.
    /// `reason` says which other order carries it.
    #[cold]
    pub(super) fn shared_venue_id_refusal(
        &self,
        ev: &VenueEvent,
        seq: u64,
        reason: &'static str,
    ) -> KernelOutcome {
        let mut d = order_named(ev);
        d.push(("reason", Detail::Static(reason)));
        self.event_refusal(
            ev,
            None,
            KernelDiagnosticCode::UnknownOrder,
            KernelSeverity::Critical,
            d,
            seq,
        )
    }

    /// The refusal of an event naming no order the kernel knows of. An order that ended
    /// long ago is known by its ids' fingerprints; a venue id's, in a checkpoint of behaviour
    /// version 40, is its plain `fingerprint`.
    #[cold]
    pub(super) fn unknown_order(&self, ev: &VenueEvent, seq: u64) -> KernelOutcome {
        let v = &ev.venue_order_id;
        let known = self
            .finished_orders
            .contains(&fingerprint(&ev.venue_client_id))
            || (!v.is_empty()
                && (self.finished_orders.contains(&venue_fingerprint(v))
                    || self.finished_orders.contains(&fingerprint(v))));
        if known {
            if let Some((sid, d)) = self.resent_to_slot(ev) {
                return self.event_refusal(
                    ev,
                    Some(sid),
                    KernelDiagnosticCode::DuplicateEvent,
                    KernelSeverity::Info,
                    d,
                    seq,
                );
            }
            return self.ended_order_refusal(ev, None, seq, FILL_AFTER_END);
        }
        self.event_refusal(
            ev,
            None,
            KernelDiagnosticCode::UnknownOrder,
            KernelSeverity::Warning,
            order_named(ev),
            seq,
        )
    }

    /// For an event of an order the kernel no longer holds: its slot and the details of a
    /// resend, when the slot it names (every slot, when it names none) remembers its event or
    /// fill id (a venue replaying recent reports on reconnect is not money moving).
    pub(super) fn resent_to_slot(&self, ev: &VenueEvent) -> Option<(usize, Details)> {
        match usize::try_from(ev.slot_id) {
            Ok(sid) if sid < self.slots.len() => Some((sid, self.resent_to(sid, ev)?)),
            Ok(_) => None,
            // No index names an ended order's slot: the memory of each slot of the event's
            // asset is asked, on a path that would otherwise raise a CRITICAL refusal.
            Err(_) => (0..self.slots.len())
                .filter(|&sid| ev.asset.is_empty() || self.slots[sid].asset == ev.asset)
                .find_map(|sid| Some((sid, self.resent_to(sid, ev)?))),
        }
    }

    /// The details of `ev` as a resend slot `sid` remembers (see [`Kernel::resent_to_slot`]).
    fn resent_to(&self, sid: usize, ev: &VenueEvent) -> Option<Details> {
        let slot = &self.slots[sid];
        if slot.seen_events.contains(fingerprint(&ev.event_id)) {
            return Some(detail_field("event_id", &ev.event_id));
        }
        let fill_seen = ev.kind == KernelEventKind::Fill
            && !ev.fill_id.is_empty()
            && slot.seen_fills.contains(fingerprint(&ev.fill_id));
        if fill_seen {
            return Some(detail_field("fill_id", &ev.fill_id));
        }
        // A fill resent without its fill id is known by its running total and size too (the
        // keys `fill_size` remembers), as on an order still working.
        let resent_by_total = ev.kind == KernelEventKind::Fill
            && ev.fill_id.is_empty()
            && ev.size > 0.0
            && ev.filled_size > 0.0
            && !ev.venue_client_id.is_empty()
            && {
                let k = running_total_key(&ev.venue_client_id, ev.filled_size);
                slot.seen_fills.contains(k) || slot.seen_fills.contains(sized_total_key(k, ev.size))
            };
        if resent_by_total {
            return Some(detail_field("filled_size", ev.filled_size));
        }
        // A report stating the running total at which its order filled completely (a status,
        // or its last fill) books nothing: no money moved that the slots do not show.
        let status_of_filled = ev.kind == KernelEventKind::Fill
            && ev.filled_size > 0.0
            && !ev.venue_client_id.is_empty()
            && slot
                .seen_fills
                .contains(completed_key(&ev.venue_client_id, ev.filled_size));
        if status_of_filled {
            let mut d = detail_field("filled_size", ev.filled_size);
            d.push(("reason", Detail::Static(STATUS_OF_FILLED)));
            return Some(d);
        }
        let reach = self.within_completed_order(sid, ev)?;
        let mut d = detail_field("filled_size", ev.filled_size);
        d.push(("reported_filled_size", Detail::F64(reach)));
        d.push(("reason", Detail::Static(WITHIN_FILLED)));
        Some(d)
    }

    /// The total at which slot `sid`'s last entry (or exit) filled completely, when that order
    /// is `ev`'s and the intervals its reports covered hold `ev`'s whole: a fill a total-only
    /// report counted, whose own report comes after the order ended.
    fn within_completed_order(&self, sid: usize, ev: &VenueEvent) -> Option<f64> {
        if ev.kind != KernelEventKind::Fill || ev.venue_client_id.is_empty() {
            return None;
        }
        let client_fp = fingerprint(&ev.venue_client_id);
        self.covered.get(sid)?.iter().flatten().find_map(|c| {
            let reach = c.reach();
            let completed = reach > 0.0
                && self.slots[sid]
                    .seen_fills
                    .contains(completed_key_of(client_fp, reach));
            let whole = c.place(ev).is_some_and(|p| p.free <= QTY_EPS);
            (completed && whole).then_some(reach)
        })
    }

    /// The refusal of an event for an order that already ended. A fill that cannot be
    /// applied (`fill_reason` says why) is loud: money moved that the slots do not show.
    pub(super) fn ended_order_refusal(
        &self,
        ev: &VenueEvent,
        sid: Option<usize>,
        seq: u64,
        fill_reason: &'static str,
    ) -> KernelOutcome {
        let mut d = order_named(ev);
        let (code, sev, reason) = if ev.kind == KernelEventKind::Fill {
            (
                KernelDiagnosticCode::UnknownOrder,
                KernelSeverity::Critical,
                fill_reason,
            )
        } else {
            (
                KernelDiagnosticCode::InvalidTransition,
                KernelSeverity::Info,
                "late event for an order that already ended",
            )
        };
        d.push(("reason", Detail::Static(reason)));
        self.event_refusal(ev, sid, code, sev, d, seq)
    }

    /// The slot of the working order the venue knows as `venue_id`, only if that order still
    /// carries the id: an index entry it outlived must not hand the event to the slot's next
    /// order, or to a slot without one.
    pub(super) fn working_by_venue_id(&self, venue_id: &Id) -> Option<usize> {
        let &sid = self.by_venue_id.get(venue_id)?;
        let carried = || {
            self.slots[sid]
                .active_order()
                .is_some_and(|o| o.venue_order_id == *venue_id)
        };
        carried().then_some(sid)
    }
}
