//! A fill booked: on the slot's position and the account, its fee charged (predicted, the
//! venue's own, or a report's share) and left waiting for settlement, a settlement held for it
//! applied, and its journal row.

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
    "must be a finite number of the base asset, above minus the fill's size (a rebate) and \
     less than the fill's size";

/// Why a sell fill's `metadata.base_fee_qty` is refused: booked as on a buy, it would leave
/// the position larger than the sale did.
pub(super) const SOLD_BASE_FEE: &str =
    "a sell fill carries no commission in the base asset (the kernel books one on a buy only); \
     send the fill again without it, its fee in `fee`";

/// The part of a buy fill's `qty` (of report `ev`) the venue kept as its commission in the
/// base asset (`metadata.base_fee_qty`, a spot buy's commission): the account is credited the
/// rest, which a long entry's slot holds and a short's cover repays. A maker's rebate paid in
/// the base asset is negative: the account is credited more than the fill. A report booked in
/// part keeps its share. A sell fill carries none ([`base_fee_refusal`]).
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

/// What an exit's fill of `qty` (of report `ev`) closes of its position: the fill, less a
/// commission the venue kept in the coin ([`base_fee_of`]; a buy covering a short repays only
/// what the account was credited, and the rest stays owed).
#[inline]
pub(super) fn closed_by(ev: &VenueEvent, qty: f64) -> f64 {
    qty - base_fee_of(ev, qty)
}

/// The details refusing a fill (of an order on `side`) whose `metadata.base_fee_qty` is no
/// commission it can have kept, nor a rebate it can have paid: not a number, all of the fill
/// or more, a rebate of the fill's size or more, or any but 0 on a sell, which the kernel
/// books only on a buy ([`base_fee_of`]).
#[cold]
pub(super) fn base_fee_refusal(ev: &VenueEvent, side: OrderSide) -> Option<Details> {
    let value = ev.metadata.get("base_fee_qty")?;
    let fits = |f: f64| match side {
        OrderSide::Buy => f.is_finite() && f > -ev.size && ev.size - f > QTY_EPS,
        OrderSide::Sell => f == 0.0,
    };
    let fits = match value {
        MetaValue::Float(f) => fits(*f),
        MetaValue::Int(i) => fits(*i as f64),
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
    let sold = side == OrderSide::Sell && matches!(value, MetaValue::Float(_) | MetaValue::Int(_));
    d.push((
        "reason",
        Detail::Static(if sold { SOLD_BASE_FEE } else { BAD_BASE_FEE }),
    ));
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

impl Kernel {
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
        let rest = self.slots[sid].size - closed_by(ev, qty);
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
            if let Some(settled_at) =
                self.settle_held_settlement(ev, sid, qty, charged, partly, &mut settled)
            {
                fee = settled_at;
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
            let closes = closed_by(ev, qty);
            if closes - slot.size > size_tolerance(slot.size) {
                unheld = closes - slot.size;
            }
            realized = slot.side.sign() * (ev.price - slot.entry_price) * (closes - unheld);
            slot.realized_pnl += realized;
            slot.size = size_after;
            slot.leg_taken += qty;
            if slot.size <= QTY_EPS {
                slot.size = 0.0;
            }
        }
        slot.fees_paid += fee;
        // The position changed: its next market close is exempt from the order-rate rule.
        slot.exempt_close_sent = false;
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
                .settled_both_ways(fill_key, asset, SettledAs::BookedWithFee);
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
    /// `fee`, taking `liquidity`), if one came before it: settled, saying so in `settled`.
    /// What it charged.
    #[cold]
    #[inline(never)]
    pub(super) fn settle_held_settlement(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        qty: f64,
        (fee, liquidity): (f64, Liquidity),
        partly: bool,
        settled: &mut Details,
    ) -> Option<f64> {
        let predicted = ev.fee.is_none();
        // The fee of the whole report, as its settlement states it.
        let (whole, size) = match ev.fee {
            Some(f) => (f, ev.size),
            None if partly && qty > 0.0 => (fee * ev.size / qty, ev.size),
            None => (fee, qty),
        };
        // A self-trade's other side took the other liquidity: its prediction for the report.
        let other_side = self.fees.predict(ev.price, size, liquidity.other_side());
        let asset = self.slots[sid].asset.clone();
        self.settle_early(
            ev.fill_key(),
            &asset,
            predicted,
            (whole, other_side),
            settled,
        )
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fill of 0.5 carrying `base_fee_qty`.
    fn fill_with(base_fee_qty: MetaValue) -> VenueEvent {
        let mut ev = VenueEvent::new("f1", KernelEventKind::Fill, &id("c1"));
        (ev.price, ev.size) = (100.0, 0.5);
        ev.metadata.insert("base_fee_qty".into(), base_fee_qty);
        ev
    }

    #[test]
    fn a_commission_in_the_coin_is_taken_on_a_buy_and_refused_on_a_sell() {
        let kept = fill_with(MetaValue::Float(0.001));
        assert_eq!(base_fee_refusal(&kept, OrderSide::Buy), None);
        assert_eq!(base_fee_of(&kept, 0.5), 0.001);
        let d = base_fee_refusal(&kept, OrderSide::Sell).expect("refused on a sell");
        assert_eq!(
            d[0],
            ("field", Detail::Static("metadata.base_fee_qty")),
            "{d:?}"
        );
        assert_eq!(d[1], ("value", Detail::F64(0.001)));
        assert_eq!(d[2], ("reason", Detail::Static(SOLD_BASE_FEE)));
        // A rebate in the coin is refused on a sell too; none at all is no commission.
        let rebate = fill_with(MetaValue::Float(-0.001));
        assert!(base_fee_refusal(&rebate, OrderSide::Sell).is_some());
        for none in [
            MetaValue::Float(0.0),
            MetaValue::Int(0),
            MetaValue::Float(-0.0),
        ] {
            assert_eq!(base_fee_refusal(&fill_with(none), OrderSide::Sell), None);
        }
        // A value no fill can carry says so on either side.
        let text = fill_with(MetaValue::Str("0.001".into()));
        let d = base_fee_refusal(&text, OrderSide::Sell).expect("refused");
        assert_eq!(d[2], ("reason", Detail::Static(BAD_BASE_FEE)));
    }
}
