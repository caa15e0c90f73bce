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

/// The share of its initial size the next leg exit on `slot` closes: the active leg's ratio;
/// once every leg is done, while the slot still holds a position (an entry's late fill opened
/// it again), what it holds, which a leg exit then closes whole ([`leg_exit`] leaves no
/// share); None when it holds nothing either. `TradeSlot.next_exit_ratio()` answers it.
pub fn next_exit_ratio(slot: &TradeSlot) -> Option<f64> {
    match slot.exit_leg_ratios.get(slot.active_leg_index) {
        Some(&ratio) => Some(ratio),
        // A slot loaded with an initial size below what it holds: all of it.
        None => (slot.size > 0.0).then(|| slot.size / slot.initial_size.max(slot.size)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_exit_ratio_is_the_active_legs_then_what_a_leg_exit_closes_whole() {
        let mut slot = TradeSlot::new(0);
        slot.exit_leg_ratios = vec![0.25, 0.75].into();
        (slot.size, slot.initial_size) = (1.0, 1.0);
        assert_eq!(next_exit_ratio(&slot), Some(0.25));
        slot.active_leg_index = 1;
        assert_eq!(next_exit_ratio(&slot), Some(0.75));
        // Every leg done while the slot holds 0.5 of 1.0 entered (an entry's late fill opened
        // it again): a leg exit closes all of it.
        (slot.active_leg_index, slot.size) = (2, 0.5);
        assert!(leg_exit(&slot).left.is_none());
        assert_eq!(next_exit_ratio(&slot), Some(0.5));
        slot.size = 0.0;
        assert_eq!(next_exit_ratio(&slot), None);
        // A slot loaded holding more than its initial size: all of it.
        (slot.size, slot.initial_size) = (2.0, 1.0);
        assert_eq!(next_exit_ratio(&slot), Some(1.0));
    }
}
