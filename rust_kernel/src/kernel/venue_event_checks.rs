//! The checks a venue event meets before its handler: an id the kernel takes, numbers within
//! bounds, agreement with the order it names, not taken already, a stage that takes it, and a
//! venue id no other working order carries. Its own file as what an event must be, apart from
//! where it goes (`venue_events.rs`).

use super::*;

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
/// subnormal price ([`is_subnormal`]) goes to the checks too, as does a time past
/// [`LAST_DATETIME_SECOND`] ([`timestamp_flaw`]).
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
        .max(fee);
    most <= MOST
        && ev.timestamp.to_bits() <= LAST_DATETIME_SECOND.to_bits()
        && ev.price.to_bits().wrapping_sub(1) >= NORMAL_BITS_LESS_ONE
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
        if let Some(d) = self
            .order_of(found)
            .and_then(|o| Self::disagreement(ev, ids.venue, o))
        {
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
                let why = match field {
                    "price" if is_subnormal(v) => SUBNORMAL_PRICE,
                    "timestamp" => timestamp_flaw(v)?,
                    _ => return None,
                };
                let mut d = detail_field(field, Detail::F64(v));
                d.push(("reason", Detail::Static(why)));
                Some(d)
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

    /// The order side to give `ev`, which states its trade's side `trade` (the original
    /// kernel's `VenueEvent.side`), when that contradicts the order it names
    /// ([`Kernel::named_order`]): the order side of that trade side for an entry, or for an
    /// exit, so the kernel refuses it as it refuses a contradicting order side
    /// (`disagreement`). None when it agrees (the order side stated, if any, is compared as
    /// it is), when it names no order the kernel holds, or for FLAT, which names no side. The
    /// bindings give the event it before the kernel takes (and logs) it, as
    /// [`Kernel::fill_status_by_sizes`].
    pub fn side_of_trade_side(&self, ev: &VenueEvent, trade: TradeSide) -> Option<OrderSide> {
        let order = self.named_order(ev)?;
        let side = match trade {
            TradeSide::Flat => return None,
            t if order.is_entry => t.entry_order_side(),
            t => t.exit_order_side(),
        };
        (side != order.side).then_some(side)
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

    /// A refusal when `venue_order_id` already names a working order of another slot, of
    /// any market: taking it would send that order's fills here, and slots and
    /// reconciliation find orders by venue id alone (venue ids are unique per venue).
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
