//! Venue events: their checks, and the routing of each to the order it names, working or kept
//! after it ended; then to its handler (`acks`, `fills`, `kept_orders`, `late_fills`,
//! `order_ends`).

use super::*;

/// The details of an event naming an order the kernel does not hold: how it named it.
pub(super) fn order_named(ev: &VenueEvent) -> Details {
    vec![
        ("venue_client_id", (&ev.venue_client_id).into()),
        ("venue_order_id", (&ev.venue_order_id).into()),
        ("kind", Detail::Static(ev.kind.name())),
    ]
}

/// Whether a rate limit says the venue holds its order: it states a filled size
/// or the venue's id of the order, so the throttled request was not the order's submit.
pub(super) fn rate_limit_shows_it_held(ev: &VenueEvent) -> bool {
    ev.filled_size > 0.0 || !ev.venue_order_id.is_empty()
}

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

/// Why a fill for an order the kernel no longer holds is refused.
pub(super) const FILL_AFTER_END: &str =
    "fill for an order that already ended; reconcile with the venue";

/// Why a status report of an order that filled completely books nothing.
pub(super) const STATUS_OF_FILLED: &str =
    "the order filled completely at this total: a report stating it books nothing";
/// Why a fill within the totals at which its order filled completely books nothing.
pub(super) const WITHIN_FILLED: &str =
    "the order filled completely, and the venue's reports up to that total count this fill";
/// Why a rate limit on an order the venue holds does not end it (see `throttled_cancel`).
pub(super) const THROTTLED_CANCEL: &str =
    "the venue holds the order: its cancel was throttled and the order still works";
/// Why a slot whose order may still work at the venue takes no new order.
pub(super) const IN_DOUBT: &str = "the slot's last order was rate limited before the venue \
     acknowledged it, with a cancel asked, and may still work at the venue: another order beside \
     it could trade the position twice; its late fills book as they come, and \
     reconcile_with_venue learns its status (and cancels it if it works)";
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

/// Whether `v` is a finite number, not negative where `non_negative`, within
/// [`MAX_MAGNITUDE`]: the common case, decided without looking at field names. A number
/// failing it goes to [`number_refusal_details`], which names the field (and has the last
/// word on what is too large).
#[inline(always)]
pub(super) fn in_bounds(v: f64, non_negative: bool) -> bool {
    if non_negative {
        (0.0..=MAX_MAGNITUDE).contains(&v)
    } else {
        v.abs() <= MAX_MAGNITUDE
    }
}

/// Whether an event's seven numbers plainly pass [`in_bounds`]: its six non-negative ones
/// within [0, `MAX_MAGNITUDE`] and its fee (negative for a rebate) within the bound either
/// side. Read as their bits, as [`intent_numbers_in_bounds`] reads an intent's: a non-negative number's
/// bits order as the number does, a negative one (-0.0 too) has the sign bit and NaN bits
/// above infinity's, so each is above the bound's bits; the fee is read without its sign. A
/// subnormal price ([`is_subnormal`]) goes to the checks too.
/// What this lets through `in_bounds` passes; anything else (-0.0 among it, which
/// `in_bounds` passes) goes to the field-by-field checks.
#[inline(always)]
pub(super) fn event_numbers_in_bounds(ev: &VenueEvent) -> bool {
    const MOST: u64 = MAX_MAGNITUDE.to_bits();
    let fee = ev.fee.map_or(0, |f| f.to_bits() & !(1 << 63));
    let most = (ev.price.to_bits())
        .max(ev.size.to_bits())
        .max(ev.filled_size.to_bits())
        .max(ev.remaining_size.to_bits())
        .max(ev.retry_after.to_bits())
        .max(ev.timestamp.to_bits())
        .max(fee);
    most <= MOST && ev.price.to_bits().wrapping_sub(1) >= NORMAL_BITS_LESS_ONE
}

/// The details refusing `v` of an event's `field`, if it is not finite, negative where
/// `non_negative`, or beyond [`MAX_MAGNITUDE`]; `bad_reason` says what it must be.
#[inline]
pub(super) fn number_refusal(
    field: &'static str,
    v: f64,
    non_negative: bool,
    bad_reason: &'static str,
) -> Option<Details> {
    if in_bounds(v, non_negative) {
        return None;
    }
    number_refusal_details(field, v, non_negative, bad_reason)
}

#[cold]
pub(super) fn number_refusal_details(
    field: &'static str,
    v: f64,
    non_negative: bool,
    bad_reason: &'static str,
) -> Option<Details> {
    let bad = !v.is_finite() || (non_negative && v < 0.0);
    if !bad && !too_large(field, v) {
        return None;
    }
    let value = if bad {
        format_number(v)
    } else {
        format!("{v:e}")
    };
    let mut d = detail_field(field, Detail::Str(value));
    d.push((
        "reason",
        Detail::Static(if bad { bad_reason } else { TOO_LARGE }),
    ));
    Some(d)
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
            // fee waits for settlement under its fill id. An empty venue id, or one that is
            // the client id, is no second fingerprint.
            let (c, v) = (ids.client, ids.venue);
            let fp = fingerprint(c);
            if v.is_empty() || same_bytes(v.as_bytes(), c.as_bytes()) {
                self.finished_orders.prefetch_insert(&[fp]);
            } else {
                self.finished_orders.prefetch_insert(&[fp, fingerprint(v)]);
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
        let (state, trade, slot_id) = match sid.and_then(|i| self.slots.get(i)) {
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
        if ev.kind == KernelEventKind::Fill && !ev.metadata.is_empty() {
            if let Some(d) = base_fee_refusal(ev) {
                use KernelDiagnosticCode as D;
                let sev = KernelSeverity::Error;
                return Err(self.event_refusal(ev, None, D::InvalidIntent, sev, d, seq));
            }
        }
        let found = self.find_order(ev, seq)?;
        self.check_event_matches_order(ev, ids, found, seq)?;
        let (event_fp, fill_fp) = self.check_event_is_new(ev, ids, found.sid, fps[1], seq)?;
        *routed = Some(RoutedEvent {
            sid: found.sid,
            event_fp,
            fill_fp,
        });
        self.dispatch_event(ev, ids, found, fps, seq, out)
    }

    /// Whether `ev`'s id is one the kernel takes: the usual id passes at one look at its first
    /// byte (`plain_start`), any other is judged in full.
    #[inline(always)]
    pub(super) fn check_event_id(
        &self,
        ev: &VenueEvent,
        ids: EventIds<'_>,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        if !plain_start(ids.event) {
            if let Some(refused) = self.event_id_refusal(ev, seq) {
                return Err(refused);
            }
        }
        Ok(())
    }

    /// The refusal of `ev` for its id, empty or flawed ([`flawed_id`]), if it is.
    #[cold]
    #[inline(never)]
    pub(super) fn event_id_refusal(&self, ev: &VenueEvent, seq: u64) -> Option<KernelOutcome> {
        let d = if ev.event_id.is_empty() {
            detail_field("event_id", Detail::Static(""))
        } else {
            let why = flawed_id(&ev.event_id)?;
            let mut d = detail_field("event_id", quoted_id(&ev.event_id));
            d.push(("reason", Detail::Static(why)));
            d
        };
        let (code, severity) = (KernelDiagnosticCode::InvalidIntent, KernelSeverity::Error);
        Some(self.event_refusal(ev, None, code, severity, d, seq))
    }

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
                        return Err(self.shared_venue_id_refusal(ev, seq));
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

    /// Whether `ev` agrees with the order it names: its slot, and its trade, asset, side and
    /// venue id where it states them ([`Kernel::disagreement`]).
    #[inline(always)]
    pub(super) fn check_event_matches_order(
        &self,
        ev: &VenueEvent,
        ids: EventIds<'_>,
        found: FoundOrder,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        let sid = found.sid;
        let unknown = |d| {
            let (code, severity) = (KernelDiagnosticCode::UnknownOrder, KernelSeverity::Error);
            Err(self.event_refusal(ev, Some(sid), code, severity, d, seq))
        };
        if ev.slot_id >= 0 && ev.slot_id as usize != sid {
            let mut d = detail_field("slot_id", ev.slot_id);
            d.push(("order_slot_id", Detail::I64(sid as i64)));
            return unknown(d);
        }
        let order = match found.late {
            Some(key) => self.ended.get(key).map(|k| &k.order),
            None => self.slots[sid].active_order(),
        };
        if let Some(d) = order.and_then(|o| Self::disagreement(ev, ids.venue, o)) {
            return unknown(d);
        }
        Ok(())
    }

    /// Whether slot `sid` has not taken `ev` already, by its event id or its fill id: the
    /// fingerprints it is remembered by once taken (its event's, and a fill's with a fill id),
    /// or the duplicate's refusal. `key_fp`: a fill's key ([`VenueEvent::fill_key`])
    /// fingerprinted (None for another event).
    #[inline(always)]
    pub(super) fn check_event_is_new(
        &self,
        ev: &VenueEvent,
        ids: EventIds<'_>,
        sid: usize,
        key_fp: Option<u64>,
        seq: u64,
    ) -> Result<(u64, Option<u64>), KernelOutcome> {
        // Fingerprinted once (a fill's key is its fill id, else its event id).
        let event_fp = match key_fp {
            Some(fp) if ids.fill.is_empty() => fp,
            _ => fingerprint(ids.event),
        };
        // A fill with neither a fill id nor a running total is known by its event id alone:
        // the slot's event memory keeps its trade's past its 64 places.
        let fill_fp = (ev.kind == KernelEventKind::Fill && !ids.fill.is_empty())
            .then(|| key_fp.unwrap_or_else(|| fingerprint(ids.fill)));
        let duplicate = |d| {
            let (code, severity) = (KernelDiagnosticCode::DuplicateEvent, KernelSeverity::Info);
            Err(self.event_refusal(ev, Some(sid), code, severity, d, seq))
        };
        if self.slots[sid].seen_events.contains(event_fp) {
            return duplicate(detail_field("event_id", &ev.event_id));
        }
        if fill_fp.is_some_and(|fp| self.slots[sid].seen_fills.contains(fp)) {
            return duplicate(if ev.fill_id.is_empty() {
                detail_field("event_id", &ev.event_id)
            } else {
                detail_field("fill_id", &ev.fill_id)
            });
        }
        Ok((event_fp, fill_fp))
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
            // An order the venue acknowledged or filled is at the venue, and a rate limit
            // cannot take it back: the throttled request was its cancel.
            K::RateLimited if self.venue_holds(sid) || rate_limit_shows_it_held(ev) => {
                self.throttled_cancel(ev, sid, seq)
            }
            K::CancelAck | K::Reject | K::Expired | K::RateLimited => {
                self.apply_order_end(ev, sid, seq)
            }
        };
        Err(whole)
    }

    /// The refusal of `ev` for its first number out of bounds, if any (what
    /// `venue_event` checks when not all of them are plainly within bounds).
    #[cold]
    pub(super) fn number_refusal_of(&self, ev: &VenueEvent, seq: u64) -> Option<KernelOutcome> {
        use KernelDiagnosticCode as D;
        // A fee may be negative (a rebate); the reason names the rule of the rest.
        let numbers = [
            ("price", ev.price, true),
            ("size", ev.size, true),
            ("filled_size", ev.filled_size, true),
            ("remaining_size", ev.remaining_size, true),
            ("retry_after", ev.retry_after, true),
            ("timestamp", ev.timestamp, true),
            ("fee", ev.fee.unwrap_or(0.0), false),
        ];
        for (field, v, non_negative) in numbers {
            let reason = if non_negative {
                "must be a finite, non-negative number"
            } else {
                "must be a finite number (negative for a rebate)"
            };
            let refusal = number_refusal(field, v, non_negative, reason).or_else(|| {
                (field == "price" && is_subnormal(v)).then(|| {
                    let mut d = detail_field(field, Detail::F64(v));
                    d.push(("reason", Detail::Static(SUBNORMAL_PRICE)));
                    d
                })
            });
            if let Some(d) = refusal {
                return Some(self.event_refusal(
                    ev,
                    None,
                    D::InvalidIntent,
                    KernelSeverity::Error,
                    d,
                    seq,
                ));
            }
        }
        None
    }

    /// The refusal of an event naming its order only by a venue id that a working order and
    /// an order kept for its late fills both carry: it may be either's, and
    /// booked on the working order a fill owed to the kept one moves a position the venue
    /// does not hold, while the kept one's slot waits for it for good.
    #[cold]
    pub(super) fn shared_venue_id_refusal(&self, ev: &VenueEvent, seq: u64) -> KernelOutcome {
        let mut d = order_named(ev);
        d.push((
            "reason",
            Detail::Static(
                "the venue order id is a working order's and an ended order's the kernel keeps \
                 for its late fills; name the order by its client id, or reconcile with the venue",
            ),
        ));
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
    /// long ago is known by its ids' fingerprints.
    #[cold]
    pub(super) fn unknown_order(&self, ev: &VenueEvent, seq: u64) -> KernelOutcome {
        let known = self
            .finished_orders
            .contains(&fingerprint(&ev.venue_client_id))
            || (!ev.venue_order_id.is_empty()
                && self
                    .finished_orders
                    .contains(&fingerprint(&ev.venue_order_id)));
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

    /// What in `ev` contradicts the order it names (its trade, asset, side or venue id), if
    /// anything: an event meant for another order must not move this one. Empty
    /// fields say nothing.
    /// `venue`: the event's venue order id's text (see [`EventIds`]).
    pub(super) fn disagreement(
        ev: &VenueEvent,
        venue: &str,
        order: &VenueOrder,
    ) -> Option<Details> {
        let (field, value, own) = if !ev.trade_id.is_empty() && ev.trade_id != order.trade_id {
            (
                "trade_id",
                Detail::from(&ev.trade_id),
                Detail::from(&order.trade_id),
            )
        } else if !ev.asset.is_empty() && ev.asset != order.asset {
            ("asset", Detail::from(&ev.asset), Detail::from(&order.asset))
        } else if ev.side.is_some_and(|side| side != order.side) {
            (
                "side",
                Detail::Static(ev.side.map_or("", |s| s.name())),
                Detail::Static(order.side.name()),
            )
        } else if Self::other_venue_id(ev, venue, order) {
            (
                "venue_order_id",
                Detail::from(&ev.venue_order_id),
                Detail::from(&order.venue_order_id),
            )
        } else {
            return None;
        };
        Some(vec![
            ("field", Detail::Static(field)),
            ("value", value),
            ("order_value", own),
            ("client_order_id", (&order.client_order_id).into()),
            (
                "reason",
                Detail::Static("the event does not match the order it names"),
            ),
        ])
    }

    /// Whether `ev`, naming `order` (by its client id), states a venue id other than the one
    /// the order carries, both given: another order's report (its fill booked here would
    /// corrupt the position). An ORDER_ACK is judged by the ack rules instead (an order
    /// still in ORDER_SENT or EXIT_SENT takes the id it acknowledges; one working keeps its own).
    pub(super) fn other_venue_id(ev: &VenueEvent, venue: &str, order: &VenueOrder) -> bool {
        ev.kind != KernelEventKind::OrderAck
            && !venue.is_empty()
            && !order.venue_order_id.is_empty()
            && venue != order.venue_order_id
    }

    pub(super) fn stage_refusal(&self, ev: &VenueEvent, sid: usize, seq: u64) -> KernelOutcome {
        let d = vec![
            (
                "fsm_state",
                Detail::Static(self.slots[sid].fsm_state.name()),
            ),
            ("kind", Detail::Static(ev.kind.name())),
            ("event_id", (&ev.event_id).into()),
        ];
        self.event_refusal(
            ev,
            Some(sid),
            KernelDiagnosticCode::InvalidTransition,
            KernelSeverity::Warning,
            d,
            seq,
        )
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

    /// A refusal when `venue_order_id` already names a working order of another slot: taking
    /// it would send that order's fills here.
    /// No working order carrying a venue id (the usual ack's case, its order the only one
    /// working and still without one) is nothing to look up: answered without a call.
    #[inline(always)]
    pub(super) fn venue_id_taken(
        &self,
        ev: &VenueEvent,
        sid: usize,
        seq: u64,
    ) -> Option<KernelOutcome> {
        if self.by_venue_id.is_empty() {
            return None;
        }
        let other = self.working_by_venue_id(&ev.venue_order_id)?;
        if other == sid || ev.venue_order_id.is_empty() {
            return None;
        }
        Some(self.venue_id_taken_refusal(ev, sid, other, seq))
    }

    #[cold]
    #[inline(never)]
    pub(super) fn venue_id_taken_refusal(
        &self,
        ev: &VenueEvent,
        sid: usize,
        other: usize,
        seq: u64,
    ) -> KernelOutcome {
        let mut d = detail_field("venue_order_id", &ev.venue_order_id);
        d.push(("other_slot_id", Detail::I64(other as i64)));
        d.push((
            "reason",
            Detail::Static("the venue order id is another working order's"),
        ));
        self.event_refusal(
            ev,
            Some(sid),
            KernelDiagnosticCode::UnknownOrder,
            KernelSeverity::Critical,
            d,
            seq,
        )
    }
}
