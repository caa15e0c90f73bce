//! Fills of working orders: sized (`fill_reports`), booked on the slot and the account, the
//! fee predicted for settlement, the order completed or left working.

use super::*;

/// What booking a fill charged and made, for its journal row.
pub(super) struct BookedFill {
    /// What the fill was charged: its prediction or the venue's fee, or what the settlement
    /// that came before it charged.
    pub(super) fee: f64,
    /// Whether only the part of the report's fee booked was charged.
    pub(super) prorated: bool,
    pub(super) realized: f64,
    pub(super) liquidity: Liquidity,
    /// What an exit fill sold beyond what its slot held (0 when nothing): no
    /// PnL is realized on it, and its outcome says it (`BookedFill::beyond_position`).
    pub(super) unheld: f64,
    /// What the settlement that came before the fill said settling it (empty when none was
    /// held), for the fill's outcome.
    pub(super) settled: Details,
    /// What an exit fill closing its slot left below one lot (0 when nothing): the venue takes
    /// no order for it, so it stays at the venue and is closed at the entry price.
    pub(super) dust: f64,
}

/// Why an exit's last fill closes its slot with less than one lot still held.
pub(super) const DUST_CLOSED: &str =
    "less than one lot was left, which the venue takes no order for: it stays at the venue and \
     is closed at the entry price, realizing nothing";

/// Why a fill's `metadata.base_fee_qty` is refused.
pub(super) const BAD_BASE_FEE: &str =
    "must be a finite number of the base asset, at least 0 and less than the fill's size";

/// The part of an entry fill's `qty` (of report `ev`) the venue kept as its commission in the
/// base asset (`metadata.base_fee_qty`, a spot buy's commission): the account is credited the
/// rest, and so is the slot. A report booked in part keeps its share.
#[inline]
pub(super) fn base_fee_of(ev: &VenueEvent, qty: f64) -> f64 {
    let whole = match ev.metadata.get("base_fee_qty") {
        Some(MetaValue::Float(f)) => *f,
        Some(MetaValue::Int(i)) => *i as f64,
        _ => return 0.0,
    };
    if qty < ev.size {
        whole * qty / ev.size
    } else {
        whole
    }
}

/// The details refusing a fill whose `metadata.base_fee_qty` is no commission it can have
/// kept: not a number, negative, or all of the fill or more.
#[cold]
pub(super) fn base_fee_refusal(ev: &VenueEvent) -> Option<Details> {
    let value = ev.metadata.get("base_fee_qty")?;
    let fits = match value {
        MetaValue::Float(f) => f.is_finite() && *f >= 0.0 && ev.size - *f > QTY_EPS,
        MetaValue::Int(i) => *i >= 0 && ev.size - (*i as f64) > QTY_EPS,
        _ => false,
    };
    if fits {
        return None;
    }
    // The value as the venue gave it (a float, a text, a flag), not the kernel's reading of it.
    let shown = match value {
        MetaValue::Null => Detail::Static("None"),
        MetaValue::Bool(b) => Detail::Bool(*b),
        MetaValue::Int(i) => Detail::I64(*i),
        MetaValue::Float(f) if f.is_finite() => Detail::F64(*f),
        MetaValue::Float(f) => Detail::Str(format_number(*f)),
        MetaValue::Str(s) => Detail::Str(s.clone()),
    };
    let mut d = detail_field("metadata.base_fee_qty", shown);
    d.push(("reason", Detail::Static(BAD_BASE_FEE)));
    Some(d)
}

/// Why an exit fill beyond its slot's position is CRITICAL.
pub(super) const EXIT_BEYOND_POSITION: &str =
    "the exit filled more than the slot held: PnL is realized on \
     what it held, and the venue holds the rest, which no slot shows; reconcile with the venue";

impl BookedFill {
    /// Says, into `out`, what an exit fill sold beyond its slot's position (`unheld` above 0):
    /// CRITICAL, `unheld_qty`, and the reason unless the report's own total gave one.
    #[cold]
    #[inline(never)]
    pub(super) fn beyond_position(&self, out: &mut KernelOutcome) {
        out.severity = KernelSeverity::Critical;
        out.details.push(("unheld_qty", Detail::F64(self.unheld)));
        if !out.details.iter().any(|(name, _)| *name == "reason") {
            out.details
                .push(("reason", Detail::Static(EXIT_BEYOND_POSITION)));
        }
    }

    /// Says, into `details`, what the exit's last fill left below one lot and closed
    /// (`dust` above 0).
    #[cold]
    pub(super) fn dust_closed(&self, details: &mut Details) {
        details.push(("dust_closed_qty", Detail::F64(self.dust)));
        if !details.iter().any(|(name, _)| *name == "reason") {
            details.push(("reason", Detail::Static(DUST_CLOSED)));
        }
    }

    /// Says what report `ev`, partly booked already, was charged (`prorated`): `fee_charged`
    /// for the `booked_qty` of it, of the `reported_fee`.
    #[cold]
    pub(super) fn charged_part(&self, details: &mut Details, qty: f64, ev: &VenueEvent) {
        details.push(("fee_charged", Detail::F64(self.fee)));
        details.push(("reported_fee", Detail::F64(ev.fee.unwrap_or(0.0))));
        details.push(("booked_qty", Detail::F64(qty)));
    }
}

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
/// from venues): 1e-9 of it, at least [`QTY_EPS`]. A fill's running total this close to its
/// order's size completes the order.
#[inline(always)]
pub(super) fn size_tolerance(size: f64) -> f64 {
    QTY_EPS.max(size * 1e-9)
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
        let sid = match self.by_client_id.get(&ev.venue_client_id) {
            Some(&sid) => Some(sid),
            None if ev.venue_client_id.is_empty() => self.working_by_venue_id(&ev.venue_order_id),
            None => None,
        };
        // After it: the running total it states, else what is booked and its size (a resend
        // stating its total reads as the fill it repeats).
        let after = |o: &VenueOrder| {
            if ev.filled_size > 0.0 {
                ev.filled_size
            } else {
                o.filled_size + ev.size
            }
        };
        // The order it names working, else one kept after it ended (found as a late fill is):
        // that one's part fill said FILLED would end an order in doubt.
        let kept = || {
            let (c, v) = (&ev.venue_client_id, &ev.venue_order_id);
            let key = match self.ended.by_client(c) {
                None if c.is_empty() => self.ended.by_venue(v),
                key => key,
            };
            key.and_then(|k| self.ended.get(k)).map(|k| &k.order)
        };
        let order = match sid {
            Some(sid) => self.slots[sid].active_order(),
            None => kept(),
        };
        match order {
            Some(o) if o.size - after(o) > size_tolerance(o.size) => {
                VenueOrderStatus::PartiallyFilled
            }
            _ => VenueOrderStatus::Filled,
        }
    }

    /// Whether `diff` is less than half a lot of `asset` (any `diff` when no lot is set): off
    /// the lot grid by less, a size is float noise; by a whole lot, it is what the venue did.
    pub(super) fn below_half_a_lot(&self, asset: &str, diff: f64) -> bool {
        let lot = self.limits_for(asset).lot_step;
        lot <= 0.0 || diff.abs() < lot / 2.0
    }

    /// What slot `sid` holds once exit `order`'s fill of `qty` is booked. A fill completing
    /// the exit leaves nothing when what is left is float error (the fills' sizes add up to the
    /// position only within it, under half the asset's lot) or dust: less than one lot, which
    /// an exit of the whole position leaves off the grid ([`whole_position`]) and the venue
    /// takes no order for. A deliberate partial exit leaves a lot or more.
    #[inline]
    pub(super) fn after_exit_fill(&self, sid: usize, order: &VenueOrder, qty: f64) -> f64 {
        let rest = self.slots[sid].size - qty;
        if rest <= QTY_EPS {
            return rest;
        }
        let completes = order.size - (order.filled_size + qty) <= size_tolerance(order.size);
        if !completes {
            return rest;
        }
        let lot = self.limits_for(&order.asset).lot_step;
        let float_error =
            rest <= QTY_EPS.max(order.size * 1e-13) && (lot <= 0.0 || rest < lot / 2.0);
        let dust = lot > 0.0 && lot - rest > size_tolerance(lot);
        if float_error || dust {
            0.0
        } else {
            rest
        }
    }

    /// Notes what a reconciliation fill of `order` covers (see `covered_by_reconciliation`).
    pub(super) fn note_reconciliation(&mut self, ev: &VenueEvent, order: &VenueOrder) {
        if ev.filled_size > 0.0 && is_reconciliation(ev) {
            let upto = self
                .ended
                .reconciled
                .entry(order.client_order_id.clone())
                .or_insert(0.0);
            *upto = upto.max(ev.filled_size);
        }
    }

    /// What slot `sid` holds once `order`'s fill of `qty` (of report `ev`) is booked: its size
    /// plus what an entry's fill credited ([`base_fee_of`]), or what an exit's leaves
    /// ([`Kernel::after_exit_fill`]).
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
            self.after_exit_fill(sid, order, qty)
        }
    }

    /// Books `qty` of `order` at `ev.price` on slot `sid`: the position, its PnL and fees,
    /// the account, the fee waiting for settlement and the index of open slots. `size_after`:
    /// what the slot then holds ([`Kernel::size_after_fill`], which the caller judged the fill
    /// by). `partly`: what the report's interval left uncovered is less than its size
    /// (`ReportInterval`): for a per-fill report, its fill was partly booked already by an
    /// earlier report. The caller counts the slot again once it has booked the fill on the
    /// order too (`recount_slot`): one count of both changes. `key_fp`: the fill's key
    /// ([`VenueEvent::fill_key`]) fingerprinted.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn book_fill(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        qty: f64,
        size_after: f64,
        partly: bool,
        key_fp: u64,
    ) -> BookedFill {
        let (liquidity, fee, prorated) = self.fill_fee(ev, order, qty, partly);
        self.note_reconciliation(ev, order);
        let rest = self.slots[sid].size - qty;
        let dust = if !order.is_entry && size_after == 0.0 && rest > QTY_EPS.max(order.size * 1e-13)
        {
            rest
        } else {
            0.0
        };
        let (realized, unheld) = self.book_on_slot(ev, sid, order, qty, size_after, fee);
        let holds = self.slots[sid].size > QTY_EPS;
        // The open set of the slot's asset knows the asset's print (nothing below reads the
        // open slots): the asset is hashed again only when it has no set.
        let print = self.update_open_index(sid, holds);
        self.account.k_realized_pnl += realized;
        self.account.k_fees_paid += fee;
        self.account.bump(ev.timestamp);
        self.dirty.account = true;
        self.counters.fills += 1;
        let charged = (fee, liquidity);
        self.await_settlement(ev, sid, qty, charged, partly, key_fp, print);
        // A settlement that came before the fill settles it now, as it would have coming after;
        // the fill's journal row says what it charged (its own row, held, charged nothing), so
        // the rows still add up to K.
        let mut settled = Details::new();
        let mut fee = fee;
        if !self.early_settlements.held.is_empty() {
            if let Some(charged) =
                self.settle_held_settlement(ev, sid, qty, fee, partly, &mut settled)
            {
                fee = charged;
            }
        }
        BookedFill {
            fee,
            prorated,
            realized,
            liquidity,
            unheld,
            settled,
            dust,
        }
    }

    /// The liquidity a fill of `qty` of `order` took (the report's, else a LIMIT order's is
    /// maker's), and the fee it is charged: predicted, or the venue's own; of a report partly
    /// booked already (`partly`: resent or overlapping an earlier one, `Covered`), only the
    /// part booked (`prorated`): the earlier report charged the rest, and charged whole, the
    /// account would pay the overlap twice.
    #[inline(always)]
    pub(super) fn fill_fee(
        &self,
        ev: &VenueEvent,
        order: &VenueOrder,
        qty: f64,
        partly: bool,
    ) -> (Liquidity, f64, bool) {
        let liquidity = match ev.metadata.get("liquidity") {
            Some(MetaValue::Str(s)) if s.eq_ignore_ascii_case("maker") => Liquidity::Maker,
            Some(MetaValue::Str(s)) if s.eq_ignore_ascii_case("taker") => Liquidity::Taker,
            _ if order.order_type == OrderType::Limit => Liquidity::Maker,
            _ => Liquidity::Taker,
        };
        let predicted = self.fees.predict(ev.price, qty, liquidity);
        let (fee, prorated) = match ev.fee {
            None => (predicted, false),
            Some(f) if partly && !is_reconciliation(ev) => (f * qty / ev.size, true),
            Some(f) => (f, false),
        };
        (liquidity, fee, prorated)
    }

    /// Books `qty` of `order` at `ev.price`, charged `fee`, on slot `sid`'s position, which
    /// then holds `size_after`: an entry's fill moves its entry price, an exit's realizes PnL
    /// and takes from its leg. What it realized, and what an exit sold beyond the position.
    #[inline(always)]
    pub(super) fn book_on_slot(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        qty: f64,
        size_after: f64,
        fee: f64,
    ) -> (f64, f64) {
        let slot = &mut self.slots[sid];
        let mut realized = 0.0;
        let mut unheld = 0.0;
        let held_before = slot.size;
        if order.is_entry {
            // What the account was credited: the fill, less a commission kept in the base asset.
            let credited = size_after - slot.size;
            slot.entry_price = (slot.entry_price * slot.size + ev.price * credited) / size_after;
            slot.size = size_after;
            // What the entry filled in all: a late fill may come after exits took some.
            slot.initial_size += credited;
        } else {
            // A fill beyond what the slot holds (an exit the venue does not cap, after a late
            // fill of an earlier exit took part of the position) realizes PnL on what it held:
            // the rest sold a position the trade never had.
            if qty - slot.size > size_tolerance(slot.size) {
                unheld = qty - slot.size;
            }
            realized = slot.side.sign() * (ev.price - slot.entry_price) * (qty - unheld);
            slot.realized_pnl += realized;
            slot.size = size_after;
            slot.leg_taken += qty;
            if slot.size <= QTY_EPS {
                slot.size = 0.0;
            }
        }
        slot.fees_paid += fee;
        // A position opening takes its asset's latest mark, so its PnL is not shown at the
        // fill's price until the next mark; so does one a late entry fill reopens, whose slot
        // kept the mark of the position it held before.
        if order.is_entry
            && (slot.mark_price == 0.0 || held_before <= QTY_EPS)
            && !self.marks.is_empty()
        {
            slot.mark_price = latest_mark(&self.marks, &slot.asset);
        }
        let mark = if slot.mark_price > 0.0 {
            slot.mark_price
        } else {
            ev.price
        };
        slot.unrealized_pnl = slot.side.sign() * (mark - slot.entry_price) * slot.size;
        (realized, unheld)
    }

    /// A predicted fee (`charged`, with the fill's liquidity) waits for the exchange's
    /// settlement ([`Unsettled`]), known by the fill's asset too (`print`: what the open set
    /// of the asset knows it by), and a report partly booked by its size: its fee is settled
    /// for the whole report. A fee the venue stated leaves nothing waiting: a settlement sent
    /// for it is answered as such, not held for a fill that will not come.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn await_settlement(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        qty: f64,
        (fee, liquidity): (f64, Liquidity),
        partly: bool,
        key_fp: u64,
        print: Option<Option<NonZeroU64>>,
    ) {
        let fill_key = ev.fill_key();
        if ev.fee.is_some() {
            let asset = asset_print(&self.slots[sid].asset);
            self.early_settlements
                .settled_both_ways(fill_key, asset, None);
            return;
        }
        let asset = print.unwrap_or_else(|| asset_print(&self.slots[sid].asset));
        let whole = partly && !is_reconciliation(ev);
        let report_size = if whole { ev.size } else { 0.0 };
        self.remember_unsettled(
            fill_key.clone(),
            key_fp,
            Unsettled::one(UnsettledFill {
                slot_id: sid,
                trade_id: self.slots[sid].trade_id.clone(),
                predicted_fee: fee,
                price: ev.price,
                qty,
                liquidity_maker: liquidity == Liquidity::Maker,
                asset,
                report_size,
                rate: PredictedRate::of(self.fees.rate(liquidity)),
            }),
        );
    }

    /// The settlement held for the fill `ev` just booked on slot `sid` (`qty` of it, charged
    /// `fee`), if one came before it: settled, saying so in `settled`. What it charged.
    #[cold]
    #[inline(never)]
    pub(super) fn settle_held_settlement(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        qty: f64,
        fee: f64,
        partly: bool,
        settled: &mut Details,
    ) -> Option<f64> {
        let predicted = ev.fee.is_none();
        // The fee of the whole report, as its settlement states it.
        let whole = match ev.fee {
            Some(f) => f,
            None if partly && qty > 0.0 => fee * ev.size / qty,
            None => fee,
        };
        let asset = self.slots[sid].asset.clone();
        self.settle_early(ev.fill_key(), &asset, predicted, whole, settled)
    }

    /// What follows a fill booked on slot `sid`: the slot's commitment (the position at its
    /// entry price, plus an entry's `working`, what is still working, at [`working_price`]) and
    /// the fill's running-total keys remembered.
    #[inline(always)]
    pub(super) fn after_fill(
        &mut self,
        sid: usize,
        order: &VenueOrder,
        working: f64,
        keys: [Option<u64>; 2],
    ) {
        let slot = &self.slots[sid];
        let committed = if order.is_entry {
            // Only what still works needs the mark (none after a whole fill, the usual case).
            let at = if working > 0.0 {
                working_price(order, entry_mark(&self.entry_marks, sid))
            } else {
                0.0
            };
            held_notional(slot) + working * at
        } else {
            held_notional(slot)
        };
        self.set_committed(sid, committed);
        // One by one: a loop over the two took a counter and a bound.
        let [total, also] = keys;
        if let Some(k) = total {
            self.slots[sid].seen_fills.insert(k);
        }
        if let Some(k) = also {
            self.slots[sid].seen_fills.insert(k);
        }
    }

    /// The journal's row for a fill of `order` booked as `b`, when the journal is kept.
    #[inline(always)]
    pub(super) fn record_fill_row(
        &mut self,
        seq: u64,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        qty: f64,
        b: &BookedFill,
    ) {
        if self.outbox.enabled {
            self.write_fill_row(seq, ev, sid, order, qty, b);
        }
    }

    #[inline(never)]
    pub(super) fn write_fill_row(
        &mut self,
        seq: u64,
        ev: &VenueEvent,
        sid: usize,
        order: &VenueOrder,
        qty: f64,
        b: &BookedFill,
    ) {
        let slot = &self.slots[sid];
        let row = FillRow {
            ts: ev.timestamp,
            trade_id: &slot.trade_id,
            slot_id: sid,
            event_id: &ev.event_id,
            fill_id: ev.fill_key(),
            client_order_id: &order.client_order_id,
            venue_order_id: if ev.venue_order_id.is_empty() {
                &order.venue_order_id
            } else {
                &ev.venue_order_id
            },
            asset: &slot.asset,
            side: order.side,
            is_entry: order.is_entry,
            price: ev.price,
            qty,
            fee: b.fee,
            liquidity: b.liquidity.name(),
            realized_pnl: b.realized,
        };
        self.outbox.record_fill(seq, &row);
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
        if plan.complete {
            // The event's client id fingerprinted, when it is the order's.
            let client = client.filter(|_| ev.venue_client_id == order.client_order_id);
            let (stated, uncounted) = (ev.filled_size, Some(was));
            self.order_filled(sid, &order, stated, plan.new_filled, client, uncounted);
        } else if ev.remaining_size == 0.0
            && ev.filled_size > 0.0
            && Self::ends_short(ev, &order, plan.new_filled)
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
        let complete = order.size - new_filled <= size_tolerance(order.size);
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
            // may name the order by it alone.
            o.venue_order_id = ev.venue_order_id.clone();
            self.by_venue_id.insert(ev.venue_order_id.clone(), sid);
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

    /// Slot `sid`'s working `order` is filled, at `new_filled` (a fill completed it, or a late
    /// ack cut it to what filled), the report saying so stating the running total `stated` (0:
    /// none): it is finished and its slot counted again; an exit's leg is done, and the trade
    /// closed when nothing is left. The caller made its transition, and counted the slot after
    /// the fill unless it gives `uncounted`: whether the slot was [`engaged`] before the fill,
    /// which it is then counted from.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn order_filled(
        &mut self,
        sid: usize,
        order: &VenueOrder,
        stated: f64,
        new_filled: f64,
        client: Option<ClientIdLookup>,
        uncounted: Option<bool>,
    ) {
        // The client id fingerprinted once (or by the caller: `client`), for its keys here
        // and its memory as finished.
        let client_fp = match client {
            Some(c) => c.fp,
            None => fingerprint(&order.client_order_id),
        };
        self.remember_completed(sid, order, stated, client_fp);
        let place = client.and_then(|c| c.place);
        self.finish_filled_order(sid, order, new_filled, client_fp, place);
        self.clear_filled_order(sid, order.is_entry, uncounted);
    }

    /// Slot `sid` remembers `order` as filled at its size, for a status report stating it
    /// later, and at the total `stated` when that differs (a venue summing its fills states
    /// 0.1 + 0.2 for an order of 0.3, and reports that figure again).
    #[inline(always)]
    pub(super) fn remember_completed(
        &mut self,
        sid: usize,
        order: &VenueOrder,
        stated: f64,
        client_fp: u64,
    ) {
        let k = completed_key_of(client_fp, order.size);
        self.slots[sid].seen_fills.insert(k);
        let near = (stated - order.size).abs() <= size_tolerance(order.size);
        if stated > 0.0 && stated != order.size && near {
            let stated = completed_key_of(client_fp, stated);
            self.slots[sid].seen_fills.insert(stated);
        }
    }

    /// Finishes slot `sid`'s filled `order` in the indexes and the memory of finished orders
    /// (its client id's fingerprint `client_fp`, at `place` of the order index when known). An
    /// order a reconciliation booked part of stays kept, full at `new_filled`: the venue's own
    /// reports of those fills may still come, and are known as such
    /// (`covered_by_reconciliation`) while it is kept (any other fill of it is an overfill).
    #[inline(always)]
    pub(super) fn finish_filled_order(
        &mut self,
        sid: usize,
        order: &VenueOrder,
        new_filled: f64,
        client_fp: u64,
        place: Option<usize>,
    ) {
        let reconciled = !self.ended.reconciled.is_empty()
            && self.ended.reconciled.contains_key(&order.client_order_id);
        // Its venue id, when kept orders (or this one, kept) may share it.
        let venue_id = (reconciled || !self.ended.by_venue_id.is_empty()).then(|| {
            let o = self.slots[sid]
                .active_order()
                .expect("the filled order is the slot's");
            o.venue_order_id.clone()
        });
        let done = reconciled.then(|| self.filled_order_kept(sid, new_filled));
        let shared = venue_id
            .as_ref()
            .is_some_and(|v| reconciled && self.venue_id_finished_before(v));
        self.finish_order_fp(sid, &order.client_order_id, client_fp, place);
        if let Some(v) = &venue_id {
            match done {
                Some(kept) => {
                    self.keep_order((sid, order.is_entry, true), kept);
                    if shared {
                        self.ended.finished_elsewhere(v);
                    }
                }
                None => self.ended.finished_elsewhere(v),
            }
        }
    }

    /// Slot `sid`'s working order, filled at `new_filled`, as it is kept for the reports of the
    /// fills a reconciliation booked.
    #[cold]
    #[inline(never)]
    pub(super) fn filled_order_kept(&self, sid: usize, new_filled: f64) -> KeptOrder {
        let slot = &self.slots[sid];
        let mut o = slot
            .active_order()
            .expect("the filled order is the slot's")
            .clone();
        o.status = VenueOrderStatus::Filled;
        KeptOrder {
            order: o,
            final_filled: Some(new_filled),
            stated_total: 0.0,
            in_doubt: false,
            fills: slot.seen_fills.clone(),
            leg: slot.active_leg_index,
            counted: (0, 0),
        }
    }

    /// Takes slot `sid`'s filled working entry (`is_entry`) or exit off it: an exit's leg is
    /// done, and the trade closed when nothing is left; the slot is counted again (see
    /// [`Kernel::order_filled`] for `uncounted`).
    #[inline(always)]
    pub(super) fn clear_filled_order(
        &mut self,
        sid: usize,
        is_entry: bool,
        uncounted: Option<bool>,
    ) {
        // Counted by the caller with what it had left (`recount_slot`), clearing the order
        // changes the counts only for a remainder within the size's tolerance, or for an
        // entry leaving its slot holding nothing (no longer engaged).
        let slot = &mut self.slots[sid];
        let working = if is_entry {
            &mut slot.active_entry_order
        } else {
            &mut slot.active_exit_order
        };
        // Dropped where it is (not moved out first).
        let left = working.as_ref().is_some_and(|o| o.remaining() > 0.0);
        *working = None;
        let was = engaged(slot) || is_entry;
        if !is_entry {
            advance_leg(slot);
            close_if_closed(slot);
        }
        match uncounted {
            // The caller did not count the slot after booking the fill: counted once, from
            // before it (its order gone and its size moved, its units changed: `count_slot`).
            Some(before) => self.count_slot(sid, before),
            None if left || was != engaged(&self.slots[sid]) => self.recount_slot(sid, was),
            None => {}
        }
        if !self.ended.by_key.is_empty() {
            // A trade closed while a fill of its entry is owed is not free yet.
            self.sync_free(sid);
        }
    }

    /// Whether fill `ev` of `order`, booked to `new_filled` short of the order's size, is the
    /// venue saying the order is over (the caller checked that it states a running total and
    /// nothing remaining): its status says FILLED, and its running total is
    /// what is booked with it, so no fill of the order is missing or resent. A fill without a
    /// status says FILLED (the kind's own): a venue that builds its partial fills so, with a
    /// running total, must state PARTIALLY_FILLED or what remains.
    #[cold]
    #[inline(never)]
    pub(super) fn ends_short(ev: &VenueEvent, order: &VenueOrder, new_filled: f64) -> bool {
        ev.status == VenueOrderStatus::Filled
            && (ev.filled_size - new_filled).abs() <= size_tolerance(order.size)
    }

    /// Ends slot `sid`'s working order, booked by fill `ev` short of its size, which the venue
    /// says is over (`ends_short`): as an expiry without a figure ends it (a cancel ack, when a
    /// cancel was asked), into `out` after the fill, WARNING with `ended_short`. Kept without a
    /// figure, so a fill of it after all (the venue said over too soon) is booked as a late
    /// fill; nothing is owed, its reports having stated what is booked.
    #[cold]
    #[inline(never)]
    pub(super) fn end_short(&mut self, ev: &VenueEvent, sid: usize, out: &mut KernelOutcome) {
        let order = self.slots[sid]
            .active_order()
            .expect("the filled order is the slot's");
        let (size, filled) = (order.size, order.filled_size);
        let kind = if order.cancel_requested {
            KernelEventKind::CancelAck
        } else {
            KernelEventKind::Expired
        };
        let end = OrderEnd {
            kind,
            figure: 0.0,
            reason: ENDED_SHORT,
        };
        let ended = self.end_order(ev, sid, end, out);
        debug_assert!(ended, "a working stage takes an expiry and a cancel ack");
        out.severity = out.severity.max(KernelSeverity::Warning);
        out.details.push(("ended_short", Detail::Bool(true)));
        out.details.push(("order_size", Detail::F64(size)));
        out.details.push(("filled_size", Detail::F64(filled)));
        if !out.details.iter().any(|(name, _)| *name == "reason") {
            out.details.push(("reason", Detail::Static(ENDED_SHORT)));
        }
    }
}
