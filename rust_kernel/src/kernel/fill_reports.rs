//! What the venue's fill reports of an order cover ([`Covered`]), so that each fill is booked
//! once however it is resent, reordered or restated, and the keys a booked fill is remembered
//! by (its running total, its size, its completion).

use super::*;

/// The parts of an order's filled quantity the venue's fill reports account for, as
/// disjoint intervals `(from, to]` of its running total, in order. A report with
/// the fill's size and the running total after it stands for `(total - size, total]`; one
/// with the running total only (or a reconciliation's) for `(0, total]`: every fill up to
/// there. A report is booked for the part of its interval nothing covered yet, so a fill
/// reported twice, in whichever form and however late, is booked once, and one reported
/// late, out of order, still counts. One interval (the usual case: each report goes on from the
/// last) is held inline, so a cold slot's order costs no second memory round trip.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Covered {
    pub(super) intervals: SmallVec<[(f64, f64); 1]>,
    /// A fill of the order was booked without a place (no running total): it may be any part
    /// the intervals leave uncovered, so only a report they cover whole is known (a resend).
    pub(super) unplaced: bool,
}

/// Where a fill report lies in what is covered: its interval, and what of it is not covered.
#[derive(Clone, Copy)]
pub(super) struct ReportInterval {
    pub(super) from: f64,
    pub(super) to: f64,
    pub(super) free: f64,
}

impl Covered {
    /// `ev`'s interval and its uncovered part; None when the report gives no running total,
    /// or a size above it (such a report has no place, and is booked by its size alone), and,
    /// once a fill was booked without a place, when the intervals do not cover it whole.
    pub(super) fn place(&self, ev: &VenueEvent) -> Option<ReportInterval> {
        let to = ev.filled_size;
        if to <= 0.0 {
            return None;
        }
        // A size at or below the smallest the kernel trades is float residue (a venue taking
        // a total from the one before): the report gives its running total alone.
        let per_fill = ev.size > QTY_EPS && !is_reconciliation(ev);
        let from = if per_fill { to - ev.size } else { 0.0 };
        if from < -size_tolerance(to) {
            return None;
        }
        let from = from.max(0.0);
        let taken: f64 = self
            .intervals
            .iter()
            .map(|&(a, b)| (b.min(to) - a.max(from)).max(0.0))
            .sum();
        let free = (to - from - taken).max(0.0);
        // A fill nothing covered books its own size, not the difference of two totals, which
        // is off by their float error; a fill covered in part by more is booked for the rest.
        let free = if per_fill && (free - ev.size).abs() <= float_error(to) {
            ev.size
        } else {
            free
        };
        if self.unplaced && free > QTY_EPS {
            return None;
        }
        Some(ReportInterval { from, to, free })
    }

    pub(super) fn insert(&mut self, from: f64, to: f64) {
        // Totals apart by their float error are one; by a lot, a fill still to come lies between.
        let eps = float_error(to);
        let (mut from, mut to) = (from, to);
        self.intervals.retain(|&mut (a, b)| {
            let apart = b < from - eps || a > to + eps;
            if !apart {
                from = from.min(a);
                to = to.max(b);
            }
            apart
        });
        let at = self.intervals.partition_point(|&(a, _)| a < from);
        self.intervals.insert(at, (from, to));
    }

    /// After a fill of the order was booked: its report's interval is covered now. One booked
    /// without a place (no running total) may be any of the order's fills, so from then on an
    /// earlier fill the intervals leave uncovered cannot be told from a resend: the order is
    /// judged by its fill ids and event ids, and by what its intervals cover whole.
    pub(super) fn booked(&mut self, placed: Option<ReportInterval>) {
        match placed {
            Some(p) => self.insert(p.from, p.to),
            None => self.unplaced = true,
        }
    }

    /// What a loaded order that says `filled` has filled covers: every fill up to there.
    pub(super) fn loaded(filled: f64) -> Self {
        let mut c = Covered::default();
        if filled > QTY_EPS {
            c.insert(0.0, filled);
        }
        c
    }

    /// The highest running total a report stated.
    pub(super) fn reach(&self) -> f64 {
        self.intervals.last().map_or(0.0, |&(_, b)| b)
    }
}

/// Why a fill whose running total is above its order's size is CRITICAL though booked: the
/// fill itself fits what the order had left.
pub(super) const TOTAL_ABOVE_ORDER: &str =
    "the venue's running total is above the order's size: it reports an overfill; reconcile with the venue";

/// Why an order a fill said was over short of its size ended.
pub(super) const ENDED_SHORT: &str =
    "the venue's fill says the order is over (FILLED, nothing remaining) \
     short of its size: it ended at what filled, as an expiry; a fill of it after all is booked";

/// What a late ack of a kept order does.
pub(super) const LATE_ACK: &str =
    "the venue acknowledged an order that already ended here: its venue \
     order id is learned, so its late fills are known by it";

/// Why an order that ended without a filled size leaves its slot waiting.
pub(super) const STATED_NOT_BOOKED: &str =
    "the order ended without a filled size, and its fill reports \
     stated more filled than the kernel was told; the missing fill is applied when it comes, \
     and the slot takes no new order until then";

/// What a fill report's running total says beyond `new_filled` (booked with this fill) of an
/// order of `size`, into `details`: a fill missing or on its way (WARNING, `venue_filled_size`
/// and `unreported_qty`, at most what the order had left), or, above the order's size, the
/// venue reporting an overfill (CRITICAL, with `order_size` and the reason). None when it
/// says no more, or the report states no fill size of its own. The usual fill says no more:
/// its check inline, what says more out of line ([`running_total_ahead_details`]).
#[inline(always)]
pub(super) fn running_total_ahead(
    ev: &VenueEvent,
    size: f64,
    new_filled: f64,
    details: &mut Details,
) -> Option<KernelSeverity> {
    if !(ev.size > 0.0 && ev.filled_size > new_filled + float_error(size)) {
        return None;
    }
    running_total_ahead_details(ev, size, new_filled, details)
}

/// [`running_total_ahead`] of a report whose running total is ahead of `new_filled`.
#[cold]
#[inline(never)]
pub(super) fn running_total_ahead_details(
    ev: &VenueEvent,
    size: f64,
    new_filled: f64,
    details: &mut Details,
) -> Option<KernelSeverity> {
    let over = ev.filled_size > size + size_tolerance(size);
    details.push(("venue_filled_size", Detail::F64(ev.filled_size)));
    details.push((
        "unreported_qty",
        Detail::F64((ev.filled_size.min(size) - new_filled).max(0.0)),
    ));
    if !over {
        return Some(KernelSeverity::Warning);
    }
    details.push(("order_size", Detail::F64(size)));
    details.push(("reason", Detail::Static(TOTAL_ABOVE_ORDER)));
    Some(KernelSeverity::Critical)
}

/// Why a LIMIT order's fill past its limit is CRITICAL.
pub(super) const FILLED_PAST_LIMIT: &str =
    "the venue filled a LIMIT order at a price worse than its limit: the fill is booked as \
     reported, at a price the order forbade; reconcile with the venue";

/// The key a fill without a fill id is remembered by: its order and the venue's running
/// total after it (the slot's memory spans the trade's orders, whose totals repeat: an exit
/// of 1 reaches the entry's total of 1). A fill id's fingerprint could equal it only by a
/// 2^-64 chance.
pub(super) fn running_total_key(client_order_id: &str, filled_size: f64) -> u64 {
    total_key_of(fingerprint(client_order_id), filled_size)
}

/// [`running_total_key`] of the client id whose [`fingerprint`] is `client_fp`.
#[inline]
pub(super) fn total_key_of(client_fp: u64, filled_size: f64) -> u64 {
    client_fp.rotate_left(17) ^ filled_size.to_bits() ^ 0x7e57_a11f_111e_d000
}

/// The key a fill with a fill id is also remembered by: its running-total key
/// and its size, so that a report without an id stating the same total with another size (a
/// fill the venue stamped with the order's total when it sent it) is not taken for its resend.
pub(super) fn sized_total_key(total_key: u64, size: f64) -> u64 {
    total_key ^ size.to_bits().rotate_left(29) ^ 0x51_2ed0_f111_1d00
}

/// The key an order that filled completely is remembered by in its slot's fill memory: its
/// client id and size, so that a status report stating that total later (with no
/// fill of its own) is known to book nothing.
pub(super) fn completed_key(client_order_id: &str, size: f64) -> u64 {
    completed_key_of(fingerprint(client_order_id), size)
}

/// [`completed_key`] of the client id whose [`fingerprint`] is `client_fp`.
#[inline]
pub(super) fn completed_key_of(client_fp: u64, size: f64) -> u64 {
    total_key_of(client_fp, size) ^ 0xf111_ed00_c0de_0015
}

/// The key a fill without a fill id is also remembered by: its running-total
/// key and its size, apart from [`sized_total_key`]'s, so that the same fill resent with an id
/// is known, while one a venue stamped with the same total and another size is not taken for it.
pub(super) fn id_less_key(total_key: u64, size: f64) -> u64 {
    sized_total_key(total_key, size) ^ 0x1d1e_55f1_11a6_0000
}

/// What a booked fill `ev` is remembered by besides `total_key` (`fill_size`'s): an id-less
/// fill's [`id_less_key`].
pub(super) fn also_remembered(ev: &VenueEvent, total_key: Option<u64>) -> Option<u64> {
    total_key
        .filter(|_| ev.fill_id.is_empty())
        .map(|k| id_less_key(k, ev.size))
}

/// The keys a fill is known by through the venue's running total after it (`by_total`, when
/// the report states its size and the total): a fill with no fill id by that total
/// (`total_key`), which, once booked, it is remembered by (`remembered`); a fill with a fill
/// id by its total and size as well ([`sized_total_key`]), so that its resend without the id
/// is known on an order no longer followed by its reports' intervals (a followed order's
/// intervals know it). The same total again is the same fill resent under a new event id,
/// while a total below what is known is an earlier fill arriving late, and counts.
#[derive(Clone, Copy)]
pub(super) struct FillKeys {
    pub(super) by_total: Option<u64>,
    pub(super) total_key: Option<u64>,
    pub(super) remembered: Option<u64>,
}

impl FillKeys {
    /// The keys of fill `ev` of `order`; `client_fp`: the event's client id fingerprinted,
    /// when made (taken when that id is the order's).
    pub(super) fn of(ev: &VenueEvent, order: &VenueOrder, client_fp: Option<u64>) -> Self {
        let no_fill_id = ev.fill_id.is_empty();
        let by_total = (ev.size > 0.0 && ev.filled_size > 0.0).then(|| {
            let same = ev.venue_client_id == order.client_order_id;
            match client_fp.filter(|_| same) {
                Some(fp) => {
                    debug_assert_eq!(fp, fingerprint(&order.client_order_id));
                    total_key_of(fp, ev.filled_size)
                }
                None => running_total_key(&order.client_order_id, ev.filled_size),
            }
        });
        let total_key = by_total.filter(|_| no_fill_id);
        let remembered = if no_fill_id {
            total_key
        } else {
            by_total.map(|k| sized_total_key(k, ev.size))
        };
        FillKeys {
            by_total,
            total_key,
            remembered,
        }
    }
}

impl Kernel {
    /// The size `ev` fills of `order` (on slot `sid`) and, for a fill known by the venue's
    /// running total, that total's key; or the refusal of a fill that is a resend, empty,
    /// priceless or more than the order has left. `client_fp`: the [`fingerprint`] of the
    /// event's client id, when the caller made it (the order's running-total key takes it
    /// when that id is the order's).
    ///
    /// The usual fill, stating its own size and no running total, of a working order (no
    /// `also_seen`), is sized here, inline: with no total there is nothing to place in what
    /// the order's reports covered (`Covered::place` places a total), no key to remember or
    /// find it by and no reconciliation covering it, so nothing
    /// [`Kernel::fill_size_checked`] reads makes it a resend or stale. Its checks of a size,
    /// a price and what the order has left are the same; a fill failing one, or one that
    /// may snap to what the order has left, is sized (or refused) by `fill_size_checked`,
    /// and so is every other fill. The answer is the same either way (a unit test checks).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn fill_size(
        &self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        also_seen: Option<&RecentRing>,
        covered: Option<&Covered>,
        seq: u64,
        client_fp: Option<u64>,
    ) -> Result<(f64, Option<u64>, Option<ReportInterval>), KernelOutcome> {
        let qty = ev.size;
        if ev.filled_size <= 0.0
            && also_seen.is_none()
            && qty > QTY_EPS
            && ev.price > 0.0
            && order.filled_size + qty <= order.size * (1.0 + 1e-9) + QTY_EPS
        {
            // Booked as it is when it is just what the order has left or too far from it
            // to snap to it; a fill that may snap is left to the rest.
            let left = order.size - order.filled_size;
            let near = left - qty <= size_tolerance(order.size);
            if left == qty || !near {
                return Ok((qty, None, None));
            }
        }
        self.fill_size_checked(ev, sid, order, also_seen, covered, seq, client_fp)
    }

    /// [`Kernel::fill_size`] of any fill: placed in what the order's reports covered when it
    /// is followed, then refused if it was booked already ([`Kernel::check_fill_is_new`]) or
    /// is no fill the order takes ([`Kernel::check_fill_fits`]); one completing the order
    /// within the tolerance books what the order had left.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    pub(super) fn fill_size_checked(
        &self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        also_seen: Option<&RecentRing>,
        covered: Option<&Covered>,
        seq: u64,
        client_fp: Option<u64>,
    ) -> Result<(f64, Option<u64>, Option<ReportInterval>), KernelOutcome> {
        // An order followed by its reports' intervals (`covered`) books what they do not cover
        // yet (`Covered`): resends, late fills and total-only reports in any order.
        let placed = covered.and_then(|c| c.place(ev).map(|p| (p, c.reach())));
        let qty = match &placed {
            Some((p, _)) => p.free,
            // A residue size with a running total is read as `Covered::place` reads it.
            None if ev.size > QTY_EPS || ev.filled_size <= 0.0 => ev.size,
            None => ev.filled_size - order.filled_size,
        };
        let keys = FillKeys::of(ev, order, client_fp);
        self.check_fill_is_new(ev, sid, order, also_seen, placed, keys, seq)?;
        self.check_fill_fits(ev, sid, order, qty, seq)?;
        // A fill completing the order within the tolerance above books what the order had
        // left: booked as reported, a hair over or under, the position would leave the lot
        // grid, and the next exit of the whole position would go out off the grid, which the
        // venue refuses (`whole_position`).
        // Only a difference that is noise ([`Kernel::short_is_noise`]): the tolerance is a whole
        // lot of 1 for an order of 1e9, and a venue that filled a lot less did not fill it.
        // A fill of just what is left is booked as it is: nothing to snap, no lot to look up.
        let left = order.size - order.filled_size;
        let snaps = left > QTY_EPS && left != qty && self.short_is_noise(ev, order, left - qty);
        let qty = if snaps { left } else { qty };
        Ok((qty, keys.remembered, placed.map(|(p, _)| p)))
    }

    /// The refusal of fill `ev` of `order` on slot `sid` as booked already: a fill a
    /// reconciliation booked, a resend (by its running-total `keys`, its fill id in
    /// `also_seen`, or a total not past what is booked), or one the order's reports already
    /// count (`placed`, with the highest total they stated).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_fill_is_new(
        &self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        also_seen: Option<&RecentRing>,
        placed: Option<(ReportInterval, f64)>,
        keys: FillKeys,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        use KernelDiagnosticCode as D;
        let no_fill_id = ev.fill_id.is_empty();
        let FillKeys {
            by_total,
            total_key,
            ..
        } = keys;
        let seen = |k: u64| {
            self.slots[sid].seen_fills.contains(k) || also_seen.is_some_and(|r| r.contains(k))
        };
        // The other way round: a fill with an id stating the running total and size an id-less
        // report of the order stated is that fill resent with an id.
        let resent = total_key.is_some_and(seen)
            || (placed.is_none() && total_key.is_some_and(|k| seen(sized_total_key(k, ev.size))))
            || (placed.is_none()
                && !no_fill_id
                && by_total.is_some_and(|k| seen(id_less_key(k, ev.size))))
            || (!no_fill_id && also_seen.is_some_and(|r| r.contains(fingerprint(&ev.fill_id))));
        let stale = placed.is_none()
            && ev.filled_size > 0.0
            && ev.filled_size <= order.filled_size + QTY_EPS
            && ev.size <= QTY_EPS;
        let refuse = |code, sev, d| Err(self.event_refusal(ev, Some(sid), code, sev, d, seq));
        if let Some(upto) = self.covered_by_reconciliation(ev, order) {
            let mut d = detail_field("filled_size", ev.filled_size);
            d.push(("reconciled_filled_size", Detail::F64(upto)));
            d.push((
                "reason",
                Detail::Static("a reconciliation booked the venue's fills up to this total"),
            ));
            return refuse(D::DuplicateEvent, KernelSeverity::Warning, d);
        }
        if stale || resent {
            let mut d = detail_field("filled_size", ev.filled_size);
            d.push(("order_filled_size", Detail::F64(order.filled_size)));
            return refuse(D::DuplicateEvent, KernelSeverity::Info, d);
        }
        if let Some((_, reach)) = placed.filter(|(p, _)| p.free <= QTY_EPS) {
            let mut d = detail_field("filled_size", ev.filled_size);
            d.push(("order_filled_size", Detail::F64(order.filled_size)));
            d.push(("reported_filled_size", Detail::F64(reach)));
            d.push((
                "reason",
                Detail::Static("the venue's reports already count this fill"),
            ));
            return refuse(D::DuplicateEvent, KernelSeverity::Warning, d);
        }
        Ok(())
    }

    /// The refusal of fill `ev` of `qty` as no fill `order` takes: an empty size, no price, or
    /// more than the order has left (an overfill).
    pub(super) fn check_fill_fits(
        &self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        qty: f64,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        use KernelDiagnosticCode as D;
        let refuse = |code, sev, d| Err(self.event_refusal(ev, Some(sid), code, sev, d, seq));
        if qty <= QTY_EPS {
            let mut d = detail_field("size", ev.size);
            d.push((
                "reason",
                Detail::Static("a fill needs a positive size or a larger cumulative filled_size"),
            ));
            return refuse(D::InvalidIntent, KernelSeverity::Error, d);
        }
        if ev.price <= 0.0 {
            let mut d = detail_field("price", ev.price);
            d.push(("reason", Detail::Static("a fill needs a positive price")));
            return refuse(D::InvalidIntent, KernelSeverity::Error, d);
        }
        if order.filled_size + qty > order.size * (1.0 + 1e-9) + QTY_EPS {
            let d = vec![
                ("order_size", Detail::F64(order.size)),
                ("filled_size", Detail::F64(order.filled_size)),
                ("fill_qty", Detail::F64(qty)),
                ("client_order_id", (&order.client_order_id).into()),
            ];
            return refuse(D::Overfill, KernelSeverity::Critical, d);
        }
        Ok(())
    }

    /// Says, into `out`, a fill `ev` of LIMIT order `order` at a price worse than its limit
    /// (a buy above it, a sell below it) by more than half a tick of its asset, or, with no
    /// tick set, by more than a billionth of the limit: CRITICAL, with the fill's `price`, the
    /// `limit_price` and the order's id. The fill is booked all the same: the venue made it.
    #[inline(always)]
    pub(super) fn fill_past_limit(
        &self,
        ev: &VenueEvent,
        order: &VenueOrder,
        out: &mut KernelOutcome,
    ) {
        if order.order_type != OrderType::Limit || order.price <= 0.0 {
            return;
        }
        let worse = match order.side {
            OrderSide::Buy => ev.price - order.price,
            OrderSide::Sell => order.price - ev.price,
        };
        if worse > 0.0 {
            self.fill_past_limit_by(ev, order, worse, out);
        }
    }

    /// [`Kernel::fill_past_limit`] of a fill `worse` than its order's limit.
    #[cold]
    #[inline(never)]
    fn fill_past_limit_by(
        &self,
        ev: &VenueEvent,
        order: &VenueOrder,
        worse: f64,
        out: &mut KernelOutcome,
    ) {
        let tick = self.limits_for(&order.asset).tick_size;
        let slack = if tick > 0.0 {
            tick * 0.5
        } else {
            order.price * 1e-9
        };
        if worse <= slack {
            return;
        }
        out.severity = KernelSeverity::Critical;
        // A late fill's details name its order already, and another finding its reason.
        let said = [
            ("price", Detail::F64(ev.price)),
            ("limit_price", Detail::F64(order.price)),
            ("client_order_id", (&order.client_order_id).into()),
            ("reason", Detail::Static(FILLED_PAST_LIMIT)),
        ];
        for (name, value) in said {
            if !out.details.iter().any(|(n, _)| *n == name) {
                out.details.push((name, value));
            }
        }
    }

    /// Whether `ev`, a venue fill of `order` giving its running total, is one a
    /// reconciliation booked already: a fill whose metadata says `source:
    /// reconciliation` books every venue fill up to its `filled_size` at once, under its own
    /// id, so the venue's reports of those fills may still come, under theirs. The total
    /// such a fill covers, if `ev` is within it. A report without a running total cannot be
    /// told from a new fill.
    pub(super) fn covered_by_reconciliation(
        &self,
        ev: &VenueEvent,
        order: &VenueOrder,
    ) -> Option<f64> {
        if self.ended.reconciled.is_empty() || ev.filled_size <= 0.0 {
            return None;
        }
        let upto = *self.ended.reconciled.get(&order.client_order_id)?;
        let within = ev.filled_size <= upto + float_error(upto);
        (within && !is_reconciliation(ev)).then_some(upto)
    }

    /// What the venue's reports of slot `sid`'s working entry (or exit) account for, when it
    /// is followed.
    pub(super) fn covered_of(&self, sid: usize, is_entry: bool) -> Option<&Covered> {
        self.covered.get(sid)?[usize::from(!is_entry)].as_ref()
    }

    /// Slot `sid`'s new working entry (or exit) is followed from nothing covered (see
    /// [`Covered`]). The slot's last order's intervals are cleared in place, so a new order
    /// allocates nothing for its first fill report.
    pub(super) fn follow_new_order(&mut self, sid: usize, is_entry: bool) {
        if self.covered.len() != self.slots.len() {
            // A kernel made from its core fields alone (a checkpoint's covered fills size it).
            self.covered.resize(self.slots.len(), [None, None]);
        }
        let leg = &mut self.covered[sid][usize::from(!is_entry)];
        match leg {
            Some(c) => {
                c.intervals.clear();
                c.unplaced = false;
            }
            None => *leg = Some(Covered::default()),
        }
    }

    /// Before `slots` are loaded: what the venue's reports covered is followed on for a
    /// working order the loaded slot holds unchanged (same client id, same filled size); any
    /// other loaded order's is what it says filled, `(0, filled_size]` ([`Covered::loaded`]).
    pub(super) fn retain_covered(&mut self, slots: &[TradeSlot]) {
        let mut covered = vec![[None, None]; slots.len()];
        for (i, (old, new)) in self.slots.iter().zip(slots).enumerate() {
            let pairs = [
                (&old.active_entry_order, &new.active_entry_order),
                (&old.active_exit_order, &new.active_exit_order),
            ];
            for (leg, pair) in pairs.into_iter().enumerate() {
                let Some(b) = pair.1 else { continue };
                let same = pair.0.as_ref().is_some_and(|a| {
                    a.client_order_id == b.client_order_id
                        && (a.filled_size - b.filled_size).abs() <= QTY_EPS
                });
                if same {
                    covered[i][leg] = self.covered.get_mut(i).and_then(|c| c[leg].take());
                } else {
                    // Any other loaded order is followed from what it says filled: the venue's
                    // reports up to that total are in it.
                    covered[i][leg] = Some(Covered::loaded(b.filled_size));
                }
            }
        }
        self.covered = covered;
    }
}
