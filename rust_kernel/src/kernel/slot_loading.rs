//! Loading slots from outside (`reconcile_from_slots`): every slot checked before any is
//! taken, the indexes built again from them, and what the kernel knew of the same trades
//! kept. Also the slot settings a strategy changes: metadata and exit legs.

use super::*;

/// What exit fills took of each slot's exit leg: each slot's `leg_taken` that is not 0, by slot
/// id. Outside the slot's own encoding: a checkpoint holds it as a part of its own, and a
/// `reconcile_from_slots` record beside its slots ([`KernelInput::ReplaceSlots`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LegsTaken(pub(super) Vec<(u32, f64)>);

impl LegsTaken {
    /// What exit fills took of `slots`' legs.
    pub fn of(slots: &[TradeSlot]) -> Self {
        LegsTaken(
            slots
                .iter()
                .filter(|s| s.leg_taken != 0.0)
                .map(|s| (s.slot_id as u32, s.leg_taken))
                .collect(),
        )
    }

    /// Each slot's `leg_taken` that is not 0, by slot id.
    pub fn entries(&self) -> &[(u32, f64)] {
        &self.0
    }

    /// Sets each slot's `leg_taken` to what this says (0 where it says nothing), once it is
    /// checked as this build writes it: in slot order, each slot once, within `slots`, each a
    /// positive number. Nothing changes on an error.
    pub fn set_on(&self, slots: &mut [TradeSlot]) -> Result<(), String> {
        let taken = &self.0;
        check_by_slot(taken, slots.len(), "leg_taken")?;
        if let Some(&(sid, t)) = taken.iter().find(|(_, t)| !(t.is_finite() && *t > 0.0)) {
            return Err(format!("slot {sid} leg_taken {t} is not a positive number"));
        }
        slots.iter_mut().for_each(|s| s.leg_taken = 0.0);
        for &(sid, t) in taken {
            slots[sid as usize].leg_taken = t;
        }
        Ok(())
    }
}

/// Checks a checkpoint part that holds `what` for some slots, by slot id, as this build writes
/// it: in slot order, each slot once, within the kernel's `n` slots.
pub(super) fn check_by_slot<T>(entries: &[(u32, T)], n: usize, what: &str) -> Result<(), String> {
    if let Some(w) = entries.windows(2).find(|w| w[0].0 >= w[1].0) {
        return Err(format!(
            "{what} of slot {} after slot {}: not in slot order",
            w[1].0, w[0].0
        ));
    }
    match entries.iter().find(|(sid, _)| *sid as usize >= n) {
        Some(&(sid, _)) => Err(format!("{what} of slot {sid}, beyond the {n} slots")),
        None => Ok(()),
    }
}

/// The checks of a loaded slot (`replace_slots`) beyond its fields on their own and its
/// stage: a stage that outlives a call, a position with a price and no more
/// than its initial size, a side, an asset, a trade id and a leverage wherever a position is
/// held or an order works, and each working order a real one of this slot
/// ([`check_loaded_order`]; `seen`: the client and venue ids of the slots checked before).
pub(super) fn check_loaded_slot(
    i: usize,
    s: &TradeSlot,
    seen: &mut [std::collections::HashSet<Id>; 2],
) -> KernelResult<()> {
    check_loaded_state(i, s)?;
    check_loaded_holder(i, s)?;
    for (which, order, side) in [
        (
            "active_entry_order",
            &s.active_entry_order,
            s.side.entry_order_side(),
        ),
        (
            "active_exit_order",
            &s.active_exit_order,
            s.side.exit_order_side(),
        ),
    ] {
        if let Some(o) = order {
            check_loaded_order(i, s, which, o, side)?;
            check_loaded_order_fits(i, s, which, o, seen)?;
        }
    }
    Ok(())
}

/// Each of a slot's fields on its own, each named `field(name)`: what `load_slots` and
/// `TradeSlot(...)` check alike. Its trade id and asset usable as an intent's ([`flawed_id`]:
/// not only whitespace, no leading NUL; an asset no whitespace at either end, [`flawed_asset`];
/// empty is judged with its stage on loading); its sizes, entry price, leverage, mark price, commitment and
/// leg taken finite and not negative; its PnLs and fees finite, of either sign; no price
/// subnormal; its times in seconds (finite, not negative, not past the year 9999); its exit
/// legs as an intent's; each working order's own numbers ([`VenueOrder::check`]). How the
/// fields fit together (its stage against its size and orders) is checked on loading.
pub fn check_slot_fields(s: &TradeSlot, field: impl Fn(&str) -> String) -> KernelResult<()> {
    // An id an ENTER refuses would name a position no intent, mark or event can reach.
    for (name, text, flaw) in [
        ("trade_id", &s.trade_id, flawed_id(&s.trade_id)),
        ("asset", &s.asset, flawed_asset(&s.asset)),
    ] {
        if let Some(why) = flaw {
            return Err(KernelError::invalid(&field(name), format!("{text:?}"), why));
        }
    }
    check_numbers(
        &field,
        &[
            ("entry_price", s.entry_price),
            ("size", s.size),
            ("initial_size", s.initial_size),
            ("leverage", s.leverage),
        ],
        0.0,
    )?;
    // Signed (a trade paid in maker rebates has negative fees), finite and bounded.
    check_numbers(
        &field,
        &[
            ("realized_pnl", s.realized_pnl),
            ("unrealized_pnl", s.unrealized_pnl),
            ("fees_paid", s.fees_paid),
        ],
        f64::NEG_INFINITY,
    )?;
    // `leg_taken` has no upper bound: past the legs' shares it counts them done (the next
    // leg exit closes the rest).
    check_numbers(
        &field,
        &[
            ("leg_taken", s.leg_taken),
            ("mark_price", s.mark_price),
            ("committed_notional", s.committed_notional),
        ],
        0.0,
    )?;
    validate_leg_ratios(&s.exit_leg_ratios).map_err(|why| {
        KernelError::invalid(
            &field("exit_leg_ratios"),
            format_legs(&s.exit_leg_ratios),
            why,
        )
    })?;
    for (name, price) in [("entry_price", s.entry_price), ("mark_price", s.mark_price)] {
        if is_subnormal(price) {
            return Err(KernelError::invalid(
                &field(name),
                format_number(price),
                SUBNORMAL_PRICE,
            ));
        }
    }
    check_timestamp(&field("entry_time"), s.entry_time)?;
    check_timestamp(&field("last_event_time"), s.last_event_time)?;
    for (which, order) in [
        ("active_entry_order", &s.active_entry_order),
        ("active_exit_order", &s.active_exit_order),
    ] {
        let Some(o) = order else { continue };
        let field = |f: &str| field(&format!("{which}.{f}"));
        o.check(field)?;
        for (name, price) in [
            ("price", o.price),
            ("reference_price", o.reference_price),
            ("avg_fill_price", o.avg_fill_price),
        ] {
            if is_subnormal(price) {
                return Err(KernelError::invalid(
                    &field(name),
                    format_number(price),
                    SUBNORMAL_PRICE,
                ));
            }
        }
    }
    Ok(())
}

/// A loaded slot's stage (one that outlives a call), its position (a price, no more than its
/// initial size, all of it while its entry works), and its orders (not closed while it has
/// any, an entry or an exit).
pub(super) fn check_loaded_state(i: usize, s: &TradeSlot) -> KernelResult<()> {
    let field = |f: &str| format!("slots[{i}].{f}");
    if matches!(
        s.fsm_state,
        TradeStage::OrderRequested | TradeStage::ExitRequested
    ) {
        return Err(KernelError::invalid(
            &field("fsm_state"),
            s.fsm_state,
            "exists only inside one call; a saved slot is never in it",
        ));
    }
    let holds = s.size > QTY_EPS;
    if holds && s.entry_price <= 0.0 {
        return Err(KernelError::invalid(
            &field("entry_price"),
            format_number(s.entry_price),
            "a slot with a position needs a positive entry price",
        ));
    }
    if s.size > s.initial_size * (1.0 + 1e-9) + QTY_EPS {
        return Err(KernelError::invalid(
            &field("initial_size"),
            format_number(s.initial_size),
            "must not be below the slot's size",
        ));
    }
    if s.active_entry_order.is_some() && (s.initial_size - s.size).abs() > size_tolerance(s.size) {
        // While its entry works a trade has exited nothing: all it holds is what it entered.
        return Err(KernelError::invalid(
            &field("initial_size"),
            format_number(s.initial_size),
            "must equal the slot's size while its entry order works",
        ));
    }
    if s.closed && !matches!(s.fsm_state, TradeStage::Closed | TradeStage::Idle) {
        return Err(KernelError::invalid(
            &field("closed"),
            true,
            "a slot with a position or a working order is not closed",
        ));
    }
    if s.active_entry_order.is_some() && s.active_exit_order.is_some() {
        return Err(KernelError::invalid(
            &field("active_exit_order"),
            "an order",
            "a slot works an entry or an exit, not both",
        ));
    }
    Ok(())
}

/// What a loaded slot holding a position or working an order needs: a side and an asset for
/// its order, its trade's id, and a leverage whose margin is finite.
pub(super) fn check_loaded_holder(i: usize, s: &TradeSlot) -> KernelResult<()> {
    let field = |f: &str| format!("slots[{i}].{f}");
    let holds = s.size > QTY_EPS;
    let works = s.active_entry_order.is_some() || s.active_exit_order.is_some();
    if works && s.side == TradeSide::Flat {
        return Err(KernelError::invalid(
            &field("side"),
            s.side,
            "a slot working an order needs a LONG or SHORT side",
        ));
    }
    if works && s.asset.is_empty() {
        return Err(KernelError::invalid(
            &field("asset"),
            "''",
            "a slot working an order needs an asset",
        ));
    }
    if (works || holds) && s.trade_id.is_empty() {
        return Err(KernelError::invalid(
            &field("trade_id"),
            "''",
            "a slot with a position or a working order needs its trade's id",
        ));
    }
    if (works || holds) && s.leverage <= 0.0 {
        return Err(KernelError::invalid(
            &field("leverage"),
            format_number(s.leverage),
            "must be positive for a slot with a position or a working order",
        ));
    }
    // As an ENTER's leverage: one this small makes the position's margin infinite.
    if (works || holds) && s.leverage < MIN_LEVERAGE {
        return Err(KernelError::invalid(
            &field("leverage"),
            format!("{:e}", s.leverage),
            "must be at least 1e-15 for a slot with a position or a working order",
        ));
    }
    Ok(())
}

/// Loaded slot `i`'s working order `o` (its field `which`) as an order of its own, past its
/// numbers ([`check_slot_fields`]): an id, a positive size, the slot's trade and
/// asset, the `side` and `reduce_only` its role needs, a LIMIT price above zero, and a
/// status that has not ended.
pub(super) fn check_loaded_order(
    i: usize,
    s: &TradeSlot,
    which: &str,
    o: &VenueOrder,
    side: OrderSide,
) -> KernelResult<()> {
    let field = |f: &str| format!("slots[{i}].{which}.{f}");
    if o.client_order_id.is_empty() {
        return Err(KernelError::invalid(
            &field("client_order_id"),
            "''",
            "must not be empty",
        ));
    }
    if o.size <= 0.0 {
        return Err(KernelError::invalid(
            &field("size"),
            format_number(o.size),
            "must be positive",
        ));
    }
    for (name, value, own) in [
        ("trade_id", &o.trade_id, &s.trade_id),
        ("asset", &o.asset, &s.asset),
    ] {
        if value != own {
            return Err(KernelError::invalid(
                &field(name),
                value,
                "must be the slot's",
            ));
        }
    }
    if o.side != side {
        return Err(KernelError::invalid(
            &field("side"),
            o.side,
            "must be the side this order's role takes for the slot's side",
        ));
    }
    if o.is_entry != (which == "active_entry_order") {
        return Err(KernelError::invalid(
            &field("is_entry"),
            o.is_entry,
            "must say the order's role in the slot",
        ));
    }
    // An exit goes out reduce-only only when the asset's netted position covers it
    // (`Kernel::exit_reduces`), so only an entry's flag is wrong here.
    if o.is_entry && o.reduce_only {
        return Err(KernelError::invalid(
            &field("reduce_only"),
            o.reduce_only,
            "an entry never reduces",
        ));
    }
    if o.order_type == OrderType::Limit && o.price <= 0.0 {
        return Err(KernelError::invalid(
            &field("price"),
            format_number(o.price),
            "a LIMIT order needs a positive price",
        ));
    }
    if o.status.is_terminal() {
        return Err(KernelError::invalid(
            &field("status"),
            o.status.name(),
            "a working order has not ended",
        ));
    }
    Ok(())
}

/// Loaded slot `i`'s working order `o` (its field `which`) as it fits the slot: an entry
/// filled as far as the slot holds, an exit no larger than the position, and ids no other
/// slot's order carries (`seen`: those of the slots checked before).
pub(super) fn check_loaded_order_fits(
    i: usize,
    s: &TradeSlot,
    which: &str,
    o: &VenueOrder,
    seen: &mut [std::collections::HashSet<Id>; 2],
) -> KernelResult<()> {
    let field = |f: &str| format!("slots[{i}].{which}.{f}");
    // While its entry works, all a trade holds is what that entry filled, less a commission
    // the venue kept in the base asset (`metadata.base_fee_qty`, below the fill), or plus a
    // rebate it paid in it (below the fill too): less than twice what filled.
    let holds_more = s.size - 2.0 * o.filled_size > size_tolerance(s.size);
    let holds_none = o.filled_size > size_tolerance(o.filled_size) && s.size <= QTY_EPS;
    if o.is_entry && (holds_more || holds_none) {
        return Err(KernelError::invalid(
            &field("filled_size"),
            format_number(o.filled_size),
            "must be what the slot holds while the entry works (or more, by a commission kept \
             in the base asset, or less, by a rebate paid in it)",
        ));
    }
    if !o.is_entry && o.remaining() > s.size * (1.0 + 1e-9) + QTY_EPS {
        return Err(KernelError::invalid(
            &field("size"),
            format_number(o.size),
            "an exit must not sell more than the position it closes",
        ));
    }
    for (set, key, what) in [
        (0, &o.client_order_id, "client_order_id"),
        (1, &o.venue_order_id, "venue_order_id"),
    ] {
        if !key.is_empty() && !seen[set].insert(key.clone()) {
            return Err(KernelError::invalid(
                &field(what),
                key,
                "is the order of another slot too",
            ));
        }
    }
    Ok(())
}

/// A replacement slot ([`Kernel::replace_slots`]) at position `i`: its id, each field on its
/// own ([`check_slot_fields`]), the checks of [`check_loaded_slot`], and a stage that matches
/// its size and orders.
pub(super) fn check_replacement_slot(
    i: usize,
    s: &TradeSlot,
    seen: &mut [std::collections::HashSet<Id>; 2],
) -> KernelResult<()> {
    let field = |f: &str| format!("slots[{i}].{f}");
    if s.slot_id != i {
        return Err(KernelError::invalid(
            &field("slot_id"),
            s.slot_id,
            "must equal the slot's position",
        ));
    }
    check_slot_fields(s, field)?;
    check_loaded_slot(i, s, seen)?;
    check_stage_matches(i, s)
}

/// Whether loaded slot `i`'s stage is one its size and orders are in, and a position has an
/// asset and a side.
pub(super) fn check_stage_matches(i: usize, s: &TradeSlot) -> KernelResult<()> {
    let field = |f: &str| format!("slots[{i}].{f}");
    let holds = s.size > QTY_EPS;
    let consistent = match s.fsm_state {
        TradeStage::Idle | TradeStage::Closed => {
            !holds && s.active_entry_order.is_none() && s.active_exit_order.is_none()
        }
        TradeStage::PositionOpen => {
            holds && s.active_entry_order.is_none() && s.active_exit_order.is_none()
        }
        TradeStage::OrderRequested | TradeStage::OrderSent | TradeStage::EntryWorking => {
            s.active_entry_order.is_some()
        }
        TradeStage::ExitRequested | TradeStage::ExitSent | TradeStage::ExitWorking => {
            holds && s.active_exit_order.is_some()
        }
    };
    if !consistent {
        return Err(KernelError::invalid(
            &field("fsm_state"),
            s.fsm_state,
            "does not match the slot's size and orders",
        ));
    }
    if holds && s.asset.is_empty() {
        return Err(KernelError::invalid(
            &field("asset"),
            "''",
            "a slot with a position needs an asset",
        ));
    }
    if holds && s.side == TradeSide::Flat {
        return Err(KernelError::invalid(
            &field("side"),
            s.side,
            "a slot with a position needs a side",
        ));
    }
    Ok(())
}

/// Whether `new` holds the position `old` holds: the same trade, asset, side, entry, size and
/// mark.
fn same_position(old: &TradeSlot, new: &TradeSlot) -> bool {
    old.trade_id == new.trade_id
        && old.asset == new.asset
        && old.side == new.side
        && old.entry_price.to_bits() == new.entry_price.to_bits()
        && old.size.to_bits() == new.size.to_bits()
        && old.mark_price.to_bits() == new.mark_price.to_bits()
}

impl Kernel {
    pub(super) fn slot_index(&self, slot_id: i64) -> KernelResult<usize> {
        if slot_id < 0 || slot_id as usize >= self.slots.len() {
            return Err(KernelError::SlotOutOfRange {
                slot_id,
                max_slots: self.slots.len(),
            });
        }
        Ok(slot_id as usize)
    }

    pub fn set_slot_metadata(&mut self, slot_id: i64, metadata: Metadata) -> KernelResult<()> {
        let sid = self.slot_index(slot_id)?;
        self.seq += 1;
        self.slots[sid].metadata = metadata;
        self.dirty.slot(sid);
        Ok(())
    }

    pub fn set_slot_exit_legs(&mut self, slot_id: i64, ratios: &[f64]) -> KernelResult<()> {
        let sid = self.slot_index(slot_id)?;
        validate_leg_ratios(ratios)
            .map_err(|why| KernelError::invalid("exit_leg_ratios", format_legs(ratios), why))?;
        let slot = &self.slots[sid];
        if ratios.len() <= slot.active_leg_index && !fsm::is_free(slot.fsm_state) {
            return Err(KernelError::invalid(
                "exit_leg_ratios",
                format_legs(ratios),
                "has fewer legs than the slot has already exited",
            ));
        }
        self.seq += 1;
        self.slots[sid].exit_leg_ratios = Legs::from_slice(ratios);
        bound_leg_index(&mut self.slots[sid]);
        self.dirty.slot(sid);
        Ok(())
    }

    /// Replaces every slot with `slots` (a saved state), after checking all of them; the
    /// indexes are rebuilt from the new slots. Nothing changes if any slot is invalid.
    pub fn replace_slots(&mut self, mut slots: Vec<TradeSlot>) -> KernelResult<()> {
        self.check_replacement(&mut slots)?;
        self.carry_slot_memories(&mut slots);
        self.seq += 1;
        let ts = self.account.input_time;
        self.outbox
            .record_slots_loaded(self.seq, ts, &self.slots, &slots);
        self.load_slots(slots);
        Ok(())
    }

    /// Checks every slot of `slots` before any is taken (see [`check_replacement_slot`]),
    /// with their exit-leg indexes bound to their legs and what exits took of them held as
    /// their record replays it.
    pub(super) fn check_replacement(&self, slots: &mut [TradeSlot]) -> KernelResult<()> {
        if slots.len() != self.slots.len() {
            return Err(KernelError::invalid(
                "slots",
                slots.len(),
                "must hold exactly max_slots slots",
            ));
        }
        // An exit-leg index past the slot's legs is refused before anything changes, unless
        // the kernel's own slot shows it for the same trade.
        for (i, (s, own)) in slots.iter().zip(&self.slots).enumerate() {
            let legs = s.exit_leg_ratios.len();
            let kernel_shows_it =
                own.trade_id == s.trade_id && own.active_leg_index == s.active_leg_index;
            if s.active_leg_index > legs && !kernel_shows_it {
                return Err(KernelError::invalid(
                    &format!("slots[{i}].active_leg_index"),
                    format!("{}, past the slot's {legs} exit legs", s.active_leg_index),
                    "must be at most the number of exit legs (all done)",
                ));
            }
        }
        // An exit-leg index past the legs means every leg is done.
        slots.iter_mut().for_each(bound_leg_index);
        // A loaded slot keeps what exits took of its leg, as the caller's slot says. -0.0 is
        // held as 0.0: its record (`LegsTaken`, which leaves out what is 0) replays it so, and
        // the slot must show live what it shows recovered.
        slots.iter_mut().for_each(|s| s.leg_taken += 0.0);
        let mut seen_orders = [
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
        ];
        for (i, s) in slots.iter().enumerate() {
            check_replacement_slot(i, s, &mut seen_orders)?;
        }
        Ok(())
    }

    /// What the caller's `slots` remember of events and fills, taken as their record replays
    /// it (all of it their trade's, `RecentRing::trade_wrote`). A slot loaded holding the
    /// trade it held keeps its memory when the caller's slot brings none (a slot dict has no
    /// room for it), so a fill resent under a new event id is not booked again.
    pub(super) fn carry_slot_memories(&self, slots: &mut [TradeSlot]) {
        for s in slots.iter_mut() {
            s.seen_events.assume_trade_wrote_all();
            s.seen_fills.assume_trade_wrote_all();
        }
        for (new, old) in slots.iter_mut().zip(&self.slots) {
            if !new.trade_id.is_empty() && new.trade_id == old.trade_id {
                if new.seen_events.is_empty() {
                    new.seen_events.clone_from(&old.seen_events);
                }
                if new.seen_fills.is_empty() {
                    new.seen_fills.clone_from(&old.seen_fills);
                }
            }
        }
    }

    /// Takes the checked `slots` in place of the kernel's: the indexes and commitments made
    /// again from them, and what the kernel knew of the same trades kept.
    pub(super) fn load_slots(&mut self, slots: Vec<TradeSlot>) {
        let held_before: Vec<(f64, f64)> = self
            .slots
            .iter()
            .map(|s| (s.size, s.initial_size))
            .collect();
        // A position loaded as the kernel holds it keeps the kernel's valuation: an unmarked
        // one is valued at its last fill, which no slot field says.
        let valued: Vec<Option<f64>> = self
            .slots
            .iter()
            .zip(&slots)
            .map(|(old, new)| same_position(old, new).then_some(old.unrealized_pnl))
            .collect();
        self.retain_covered(&slots);
        self.retain_entry_marks(&slots);
        self.slots = slots;
        self.free.clear();
        self.open_by_asset.clear();
        self.open_count = 0;
        // Not counted while the slots go in; made from them once they are in.
        self.sides = SideCounts::default();
        self.by_client_id.clear();
        self.by_venue_id.clear();
        let ended = std::mem::take(&mut self.ended);
        self.asset_notional.clear();
        self.total_notional = 0.0;
        for (i, valued) in valued.into_iter().enumerate() {
            self.index_loaded_slot(i, valued);
        }
        self.retain_ended(ended, &held_before);
        self.recount_sides();
        // The account shows the open positions, their notional and unrealized PnL.
        self.dirty.account = true;
    }

    /// Loaded slot `i` in the indexes (free or open, its orders by client and venue id) and
    /// the commitments, its order counter followed; a position's unrealized PnL made again,
    /// unless it is `valued` (the kernel held the same position).
    pub(super) fn index_loaded_slot(&mut self, i: usize, valued: Option<f64>) {
        if fsm::is_free(self.slots[i].fsm_state) {
            self.free.insert(i);
        }
        if self.slots[i].size > QTY_EPS {
            // A figure of its mark, entry and size, as a mark makes it (unmarked, at its entry,
            // as its notional is): one loaded, or left by a slot view's write of the mark, entry
            // or size, would stand in the account's equity until the next mark.
            let s = &mut self.slots[i];
            let mark = if s.mark_price > 0.0 {
                s.mark_price
            } else {
                s.entry_price
            };
            s.unrealized_pnl =
                valued.unwrap_or_else(|| s.side.sign() * (mark - s.entry_price) * s.size);
            self.update_open_index(i, true);
        }
        let orders: Vec<(Id, Id)> = [
            &self.slots[i].active_entry_order,
            &self.slots[i].active_exit_order,
        ]
        .into_iter()
        .flatten()
        .map(|o| (o.client_order_id.clone(), o.venue_order_id.clone()))
        .collect();
        for (c, v) in orders {
            // The next orders' ids follow the loaded ones this kernel's id made (a fresh
            // kernel of the same id reloading its saved slots would issue them again, and
            // one order's fills would book on another slot).
            if let Some(n) = self.own_counter(&c) {
                self.order_counter = self.order_counter.max(n);
            }
            self.by_client_id.insert(c, i);
            if !v.is_empty() {
                self.by_venue_id.insert(v, i);
            }
        }
        let s = &self.slots[i];
        let working = s
            .active_entry_order
            .as_ref()
            .map(|o| o.remaining() * working_price(o, entry_mark(&self.entry_marks, i)))
            .unwrap_or(0.0);
        let n = held_notional(s) + working;
        self.slots[i].committed_notional = 0.0;
        self.set_committed(i, n);
        self.dirty.slot(i);
    }

    /// Before `slots` are loaded: the mark a working entry the loaded slot holds unchanged (same
    /// client id) was judged at is kept, and so is that of an entry kept in doubt for a trade
    /// the loaded slot holds without an entry ([`Kernel::retain_ended`] keeps it); any other
    /// loaded entry is judged at its asset's latest mark, as if sent now.
    pub(super) fn retain_entry_marks(&mut self, slots: &[TradeSlot]) {
        for (i, (old, new)) in self.slots.iter().zip(slots).enumerate() {
            let same = match (&old.active_entry_order, &new.active_entry_order) {
                (Some(a), Some(b)) => a.client_order_id == b.client_order_id,
                (_, None) => new.trade_id == old.trade_id && new.asset == old.asset,
                (None, Some(_)) => false,
            };
            if !same {
                self.entry_marks[i] = match &new.active_entry_order {
                    Some(o) => latest_mark(&self.marks, &o.asset),
                    None => 0.0,
                };
            }
        }
    }
}
