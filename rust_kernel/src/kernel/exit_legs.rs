//! Exit legs: a trade exits in legs (`exit_leg_ratios` of its initial size); what each leg
//! exit sends, and how a completed exit moves to the next leg.

use super::*;

/// Marks a slot that a fill moved to CLOSED as closed, with its reason.
pub(super) fn close_if_closed(slot: &mut TradeSlot) {
    if slot.fsm_state == TradeStage::Closed && !slot.closed {
        slot.closed = true;
        slot.unrealized_pnl = 0.0;
        // Written into the slot's own text: a new trade clears it and keeps its allocation.
        if slot.exit_reason.is_empty() {
            slot.close_reason.clear();
            slot.close_reason.push_str("exit_filled");
        } else {
            slot.close_reason.clone_from(&slot.exit_reason);
        }
    }
}

/// An exit-leg index past the slot's legs stops at their number (all done): exits of an
/// explicit size can complete more exits than a trade has legs, and legs set on a free slot
/// can be fewer than it completed, but `reconcile_from_slots` must load the slot as the
/// kernel shows it.
pub(super) fn bound_leg_index(slot: &mut TradeSlot) {
    slot.active_leg_index = slot.active_leg_index.min(slot.exit_leg_ratios.len());
}

/// The slot's active leg is done (an exit completed): the next one begins. What exit fills
/// took past the done leg's share counts towards the next, as when such fills end without
/// completing an exit ([`leg_exit`]): an exit of an explicit size filled past its leg, or a
/// leg sent at the venue's floor, above its share, took part of the next leg too.
pub(super) fn advance_leg(slot: &mut TradeSlot) {
    let share = slot
        .exit_leg_ratios
        .get(slot.active_leg_index)
        .map(|r| slot.initial_size * r);
    slot.active_leg_index += 1;
    slot.leg_taken = match share {
        Some(share) if slot.leg_taken - share > QTY_EPS => slot.leg_taken - share,
        _ => 0.0,
    };
    bound_leg_index(slot);
}

/// The leg a leg exit closes, what of its share exit fills that did not complete the legs took
/// (`TradeSlot::leg_taken`, carried from leg to leg), and what is left of the share (None: the
/// last leg, or past it, which closes the whole position).
pub(super) struct LegExit {
    pub(super) leg: usize,
    pub(super) taken: f64,
    pub(super) left: Option<f64>,
}

/// What a leg exit on `slot` sends: the first leg from the active one whose share `leg_taken`
/// does not cover, and what is left of that share.
pub(super) fn leg_exit(slot: &TradeSlot) -> LegExit {
    let legs = slot.exit_leg_ratios.len();
    let (mut leg, mut taken) = (slot.active_leg_index, slot.leg_taken);
    while leg + 1 < legs {
        let share = slot.initial_size * slot.exit_leg_ratios[leg];
        if share - taken > QTY_EPS {
            let left = Some(share - taken);
            return LegExit { leg, taken, left };
        }
        // Within QTY_EPS of the share counts as taken whole; a hair short carries nothing
        // (a negative carry would be a leg_taken no checkpoint loads).
        taken = (taken - share).max(0.0);
        leg += 1;
    }
    LegExit {
        leg,
        taken,
        left: None,
    }
}

impl Kernel {
    /// The share of its initial size the next leg exit on slot `slot_id` closes: what the
    /// EXIT sizes ([`Kernel::size_exit`], at the slot's mark price, its entry price before a
    /// mark, as a MARKET exit) over the initial size, or over what the slot holds when that
    /// is more (a slot loaded so). A slot holding nothing answers its active leg's ratio (what
    /// a trade's first leg exit closes), None past its legs. `TradeSlot.next_exit_ratio()`
    /// answers it.
    pub fn next_exit_ratio(&self, slot_id: usize) -> Option<f64> {
        let slot = self.slots.get(slot_id)?;
        if slot.size <= 0.0 {
            return slot.exit_leg_ratios.get(slot.active_leg_index).copied();
        }
        let price = if slot.mark_price > 0.0 {
            slot.mark_price
        } else {
            slot.entry_price
        };
        let (kind, side) = (KernelCommandType::Exit, slot.side);
        let leg = Intent::new(
            "",
            &slot.trade_id,
            slot_id as i64,
            &slot.asset,
            side,
            kind,
            price,
            0.0,
        );
        let m = self.limits_for(&slot.asset);
        let exit = self.size_exit(&leg, slot_id, m, side.exit_order_side());
        Some(exit.qty / slot.initial_size.max(slot.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel whose slot 0 holds 1 BTC bought at 100, in exit legs `legs`, the venue
    /// taking no order below `min_qty`.
    fn held(legs: &[f64], min_qty: f64) -> Kernel {
        let mut k = Kernel::new("nx", 1).unwrap();
        let rules = MarketLimits {
            min_qty,
            ..k.limits_for("BTC")
        };
        k.market_limits.insert(id("BTC"), rules);
        let mut entry = leg_intent("e", KernelCommandType::Enter, 1.0);
        entry.exit_leg_ratios = legs.to_vec();
        let order = k.process_intent(&entry).submit.unwrap();
        fill(&mut k, "f", &order.client_order_id, 1.0);
        k
    }

    fn leg_intent(n: &str, action: KernelCommandType, size: f64) -> Intent {
        Intent::new(n, "t0", 0, "BTC", TradeSide::Long, action, 100.0, size)
    }

    fn fill(k: &mut Kernel, n: &str, client_order_id: &Id, size: f64) {
        let mut f = VenueEvent::new(n, KernelEventKind::Fill, client_order_id);
        (f.price, f.size, f.filled_size) = (100.0, size, size);
        assert!(k.on_venue_event(&f).accepted);
    }

    /// The leg exit the kernel sends next on slot 0, as a share of its initial size.
    fn sent_share(k: &mut Kernel) -> f64 {
        let leg = leg_intent("x", KernelCommandType::Exit, 0.0);
        let order = k.process_intent(&leg).submit.unwrap();
        order.size / k.slots[0].initial_size
    }

    #[test]
    fn the_next_exit_ratio_is_what_the_next_leg_exit_sends() {
        // Legs summing below one: the last leg closes what the first left, 0.75.
        let mut k = held(&[0.25, 0.25], 0.0);
        assert_eq!(k.next_exit_ratio(0), Some(0.25));
        let leg = leg_intent("x1", KernelCommandType::Exit, 0.0);
        let order = k.process_intent(&leg).submit.unwrap();
        fill(&mut k, "x1", &order.client_order_id, 0.25);
        assert_eq!(k.next_exit_ratio(0), Some(0.75));
        assert_eq!(sent_share(&mut k), 0.75);
        // What an exit of explicit size took of the leg is carried: 0.4 of the 0.5 leg left.
        let mut k = held(&[0.5, 0.5], 0.0);
        let part = leg_intent("p", KernelCommandType::Exit, 0.25);
        let order = k.process_intent(&part).submit.unwrap();
        fill(&mut k, "pf", &order.client_order_id, 0.1);
        assert!(
            k.slots[0].active_exit_order.is_none(),
            "a market exit's fill ends it"
        );
        let said = k.next_exit_ratio(0).unwrap();
        assert!((said - 0.4).abs() < 1e-12, "{said}");
        assert!((sent_share(&mut k) - said).abs() < 1e-12);
        // A venue taking no less than 0.6: the 0.5 leg goes out at 0.6, which would leave 0.4
        // no venue takes, so the leg exit closes the whole position.
        let mut k = held(&[0.5, 0.5], 0.6);
        assert_eq!(k.next_exit_ratio(0), Some(1.0));
        assert_eq!(sent_share(&mut k), 1.0);
    }

    #[test]
    fn a_slot_holding_nothing_says_its_active_legs_ratio_and_past_its_legs_nothing() {
        let mut k = Kernel::new("nx", 1).unwrap();
        assert_eq!(k.next_exit_ratio(0), Some(1.0));
        k.slots[0].exit_leg_ratios = vec![0.25, 0.75].into();
        k.slots[0].active_leg_index = 1;
        assert_eq!(k.next_exit_ratio(0), Some(0.75));
        k.slots[0].active_leg_index = 2;
        assert_eq!(k.next_exit_ratio(0), None);
        assert_eq!(k.next_exit_ratio(1), None);
    }

    #[test]
    fn every_leg_done_a_leg_exit_closes_what_the_slot_holds_whole() {
        // A late entry fill opened 0.5 of 1.0 entered again: a leg exit closes all of it.
        let mut k = held(&[1.0], 0.0);
        let slot = &mut k.slots[0];
        (slot.active_leg_index, slot.size) = (1, 0.5);
        assert!(leg_exit(slot).left.is_none());
        assert_eq!(k.next_exit_ratio(0), Some(0.5));
        // A slot loaded holding more than its initial size: all of it.
        (k.slots[0].size, k.slots[0].initial_size) = (2.0, 1.0);
        assert_eq!(k.next_exit_ratio(0), Some(1.0));
    }
}
