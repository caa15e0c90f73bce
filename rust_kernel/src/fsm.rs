//! The slot state machine: one `match (stage, trigger)` table; anything not listed is an
//! invalid transition.

use crate::types::TradeStage;
use serde::{Deserialize, Serialize};

/// What happened to a slot. Venue events map to the trigger of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    Enter,
    Exit,
    Submit,
    CancelRequest,
    Ack,
    PartialFill,
    Fill,
    CancelAck,
    CancelReject,
    Reject,
    Expired,
    RateLimited,
    /// A fill the venue sent after its order ended (`Kernel::apply_late_fill`).
    LateFill,
}

impl Trigger {
    /// Every trigger, as a transition made in Python may name one.
    pub const ALL: [Trigger; 13] = [
        Trigger::Enter,
        Trigger::Exit,
        Trigger::Submit,
        Trigger::CancelRequest,
        Trigger::Ack,
        Trigger::PartialFill,
        Trigger::Fill,
        Trigger::CancelAck,
        Trigger::CancelReject,
        Trigger::Reject,
        Trigger::Expired,
        Trigger::RateLimited,
        Trigger::LateFill,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Trigger::Enter => "ENTER",
            Trigger::Exit => "EXIT",
            Trigger::Submit => "SUBMIT",
            Trigger::CancelRequest => "CANCEL_REQUESTED",
            Trigger::Ack => "ORDER_ACK",
            Trigger::PartialFill => "PARTIAL_FILL",
            Trigger::Fill => "FILL",
            Trigger::CancelAck => "CANCEL_ACK",
            Trigger::CancelReject => "CANCEL_REJECT",
            Trigger::Reject => "REJECT",
            Trigger::Expired => "EXPIRED",
            Trigger::RateLimited => "RATE_LIMITED",
            Trigger::LateFill => "LATE_FILL",
        }
    }
}

/// Facts about the slot that decide between two legal targets.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ctx {
    /// Some of the position is held (an entry filled in part, or an exit left some).
    pub holds_position: bool,
}

use TradeStage::*;
use Trigger::*;

/// Stages from which ENTER may start a new trade.
pub const FREE: [TradeStage; 2] = [Idle, Closed];
/// Stages with a position and no order working on it.
pub const OPEN: [TradeStage; 1] = [PositionOpen];
/// Stages with an order at the venue that a CANCEL can target.
pub const CANCELLABLE: [TradeStage; 4] = [OrderSent, EntryWorking, ExitSent, ExitWorking];

pub fn is_free(stage: TradeStage) -> bool {
    FREE.contains(&stage)
}

/// The transition table. `None` means INVALID_TRANSITION. Inlined: most callers know the
/// trigger (`Kernel::transition` is inlined into each), and the match then folds to a check
/// of the stage or two, where a call walked two jump tables.
#[inline(always)]
pub fn next_stage(stage: TradeStage, trigger: Trigger, ctx: Ctx) -> Option<TradeStage> {
    let held = ctx.holds_position;
    let next = match (stage, trigger) {
        (Idle | Closed, Enter) => OrderRequested,
        (OrderRequested, Submit) => OrderSent,
        (OrderSent, Ack) => EntryWorking,
        // A fill may beat its acknowledgement; the fill implies the ack.
        (OrderSent | EntryWorking, PartialFill) => EntryWorking,
        (OrderSent | EntryWorking, Fill) => PositionOpen,
        // Cancel requests and rejects of them leave the stage as it was; the order records it.
        (OrderSent | EntryWorking, CancelRequest | CancelReject) => stage,
        // An entry that ends unfilled frees the slot; one that ends part-filled keeps what filled.
        (OrderRequested | OrderSent | EntryWorking, CancelAck | Reject | Expired | RateLimited) => {
            if held {
                PositionOpen
            } else {
                Idle
            }
        }
        (PositionOpen, Exit) => ExitRequested,
        (ExitRequested, Submit) => ExitSent,
        (ExitSent, Ack) => ExitWorking,
        (ExitSent | ExitWorking, PartialFill) => ExitWorking,
        // A filled exit leg closes the trade unless legs (size) remain.
        (ExitSent | ExitWorking, Fill) => {
            if held {
                PositionOpen
            } else {
                Closed
            }
        }
        (ExitSent | ExitWorking, CancelRequest | CancelReject) => stage,
        // An exit ending with nothing held closes the trade (a late fill of an exit canceled
        // before it took what was left).
        (ExitRequested | ExitSent | ExitWorking, CancelAck | Reject | Expired | RateLimited) => {
            if held {
                PositionOpen
            } else {
                Closed
            }
        }
        // A fill sent after its order ended: an entry's opens the position again (even of a
        // trade an exit closed meanwhile) or adds to it, an exit's takes from a position no
        // exit is working on and may close the trade, or from one another exit works on,
        // which keeps working, and whose end closes the trade if nothing is left.
        (Idle | Closed, LateFill) if held => PositionOpen,
        // An exit's fill its end stated, which came after the end closed the trade: the exit
        // sold beyond the position (a cancel it raced), and the trade stays closed.
        (Closed, LateFill) => Closed,
        (PositionOpen, LateFill) => {
            if held {
                PositionOpen
            } else {
                Closed
            }
        }
        (ExitRequested | ExitSent | ExitWorking, LateFill) => stage,
        _ => return None,
    };
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const HELD: Ctx = Ctx {
        holds_position: true,
    };
    const FLAT: Ctx = Ctx {
        holds_position: false,
    };

    #[rstest]
    #[case(Idle, Enter, FLAT, OrderRequested)]
    #[case(Closed, Enter, FLAT, OrderRequested)]
    #[case(OrderRequested, Submit, FLAT, OrderSent)]
    #[case(OrderSent, Ack, FLAT, EntryWorking)]
    #[case(OrderSent, PartialFill, HELD, EntryWorking)]
    #[case(EntryWorking, PartialFill, HELD, EntryWorking)]
    #[case(OrderSent, Fill, HELD, PositionOpen)]
    #[case(EntryWorking, Fill, HELD, PositionOpen)]
    #[case(OrderSent, CancelRequest, FLAT, OrderSent)]
    #[case(EntryWorking, CancelRequest, FLAT, EntryWorking)]
    #[case(OrderSent, CancelReject, FLAT, OrderSent)]
    #[case(EntryWorking, CancelReject, HELD, EntryWorking)]
    #[case(OrderRequested, Reject, FLAT, Idle)]
    #[case(OrderSent, Reject, FLAT, Idle)]
    #[case(OrderSent, RateLimited, FLAT, Idle)]
    #[case(EntryWorking, CancelAck, FLAT, Idle)]
    #[case(EntryWorking, CancelAck, HELD, PositionOpen)]
    #[case(EntryWorking, Expired, FLAT, Idle)]
    #[case(EntryWorking, Expired, HELD, PositionOpen)]
    #[case(EntryWorking, Reject, HELD, PositionOpen)]
    #[case(PositionOpen, Exit, HELD, ExitRequested)]
    #[case(ExitRequested, Submit, HELD, ExitSent)]
    #[case(ExitSent, Ack, HELD, ExitWorking)]
    #[case(ExitSent, PartialFill, HELD, ExitWorking)]
    #[case(ExitWorking, PartialFill, HELD, ExitWorking)]
    #[case(ExitSent, Fill, FLAT, Closed)]
    #[case(ExitWorking, Fill, FLAT, Closed)]
    #[case(ExitWorking, Fill, HELD, PositionOpen)]
    #[case(ExitSent, CancelRequest, HELD, ExitSent)]
    #[case(ExitWorking, CancelReject, HELD, ExitWorking)]
    #[case(ExitRequested, Reject, HELD, PositionOpen)]
    #[case(ExitSent, RateLimited, HELD, PositionOpen)]
    #[case(ExitWorking, CancelAck, HELD, PositionOpen)]
    #[case(ExitWorking, Expired, HELD, PositionOpen)]
    #[case(Idle, LateFill, HELD, PositionOpen)]
    #[case(Closed, LateFill, HELD, PositionOpen)]
    #[case(Closed, LateFill, FLAT, Closed)]
    #[case(PositionOpen, LateFill, HELD, PositionOpen)]
    #[case(PositionOpen, LateFill, FLAT, Closed)]
    #[case(ExitRequested, LateFill, HELD, ExitRequested)]
    #[case(ExitSent, LateFill, HELD, ExitSent)]
    #[case(ExitWorking, LateFill, HELD, ExitWorking)]
    #[case(ExitSent, LateFill, FLAT, ExitSent)]
    #[case(ExitWorking, LateFill, FLAT, ExitWorking)]
    #[case(ExitWorking, CancelAck, FLAT, Closed)]
    #[case(ExitSent, Reject, FLAT, Closed)]
    #[case(ExitWorking, Expired, FLAT, Closed)]
    fn legal_transitions(
        #[case] from: TradeStage,
        #[case] t: Trigger,
        #[case] ctx: Ctx,
        #[case] to: TradeStage,
    ) {
        assert_eq!(next_stage(from, t, ctx), Some(to));
    }

    #[rstest]
    #[case(Idle, Exit)]
    #[case(Idle, Ack)]
    #[case(Idle, Fill)]
    #[case(Closed, Fill)]
    #[case(Closed, Exit)]
    #[case(OrderRequested, Ack)]
    #[case(OrderSent, Enter)]
    #[case(EntryWorking, Enter)]
    #[case(EntryWorking, Ack)]
    #[case(EntryWorking, Exit)]
    #[case(PositionOpen, Enter)]
    #[case(PositionOpen, Ack)]
    #[case(PositionOpen, Fill)]
    #[case(PositionOpen, CancelAck)]
    #[case(PositionOpen, CancelRequest)]
    #[case(ExitRequested, Exit)]
    #[case(ExitWorking, Ack)]
    #[case(ExitWorking, Enter)]
    #[case(ExitWorking, Exit)]
    #[case(OrderRequested, LateFill)]
    #[case(OrderSent, LateFill)]
    #[case(EntryWorking, LateFill)]
    fn illegal_transitions_are_refused(#[case] from: TradeStage, #[case] t: Trigger) {
        assert_eq!(next_stage(from, t, HELD), None);
        assert_eq!(next_stage(from, t, FLAT), None);
    }

    #[test]
    fn every_pair_is_decided_without_panic() {
        let triggers = [
            Enter,
            Exit,
            Submit,
            CancelRequest,
            Ack,
            PartialFill,
            Fill,
            CancelAck,
            CancelReject,
            Reject,
            Expired,
            RateLimited,
            LateFill,
        ];
        let mut legal = 0;
        for s in TradeStage::ALL {
            for t in triggers {
                for ctx in [HELD, FLAT] {
                    if next_stage(*s, t, ctx).is_some() {
                        legal += 1;
                    }
                }
            }
        }
        // The table has a fixed size; a change to it should be deliberate.
        assert_eq!(legal, 105);
    }
}
