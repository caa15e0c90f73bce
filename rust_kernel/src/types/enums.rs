//! The kernel's enums: trade stages, sides, order types and statuses, event kinds,
//! diagnostic codes, severities, control modes.
//!
//! Enums carry their Python names; with the `python` feature they are also native Python
//! classes (the attribute is compiled out otherwise, so the core stays free of PyO3).

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[cfg(feature = "python")]
        // Equality and hash are the bindings' own (`python::convert::enums`): a member equals
        // its name as text too, as a string enum's does.
        #[pyo3::pyclass(frozen, module = "dita._kernel")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[pyo3(name = $text)] $variant),+
        }

        $(#[$meta])*
        #[cfg(not(feature = "python"))]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The names in declaration order: `NAMES[x.code() as usize] == x.name()`.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The variant's position in `ALL` (journal rows store this byte, not the name).
            #[inline]
            pub fn code(self) -> u8 {
                self as u8
            }

            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum!(
    /// Stage of a slot's trade lifecycle.
    TradeStage {
        Idle = "IDLE",
        OrderRequested = "ORDER_REQUESTED",
        OrderSent = "ORDER_SENT",
        EntryWorking = "ENTRY_WORKING",
        PositionOpen = "POSITION_OPEN",
        ExitRequested = "EXIT_REQUESTED",
        ExitSent = "EXIT_SENT",
        ExitWorking = "EXIT_WORKING",
        Closed = "CLOSED",
    }
);

named_enum!(KernelCommandType { Enter = "ENTER", Exit = "EXIT", Cancel = "CANCEL" });
named_enum!(TradeSide { Long = "LONG", Short = "SHORT", Flat = "FLAT" });
named_enum!(OrderSide { Buy = "BUY", Sell = "SELL" });
named_enum!(OrderType { Market = "MARKET", Limit = "LIMIT" });

named_enum!(KernelEventKind {
    OrderAck = "ORDER_ACK",
    Fill = "FILL",
    CancelAck = "CANCEL_ACK",
    CancelReject = "CANCEL_REJECT",
    Reject = "REJECT",
    Expired = "EXPIRED",
    RateLimited = "RATE_LIMITED",
});

named_enum!(VenueOrderStatus {
    New = "NEW",
    Acknowledged = "ACKNOWLEDGED",
    PartiallyFilled = "PARTIALLY_FILLED",
    Filled = "FILLED",
    Canceled = "CANCELED",
    Rejected = "REJECTED",
    Expired = "EXPIRED",
});

named_enum!(KernelDiagnosticCode {
    Ok = "OK",
    InvalidSlotId = "INVALID_SLOT_ID",
    InvalidIntent = "INVALID_INTENT",
    SlotBusy = "SLOT_BUSY",
    NoPosition = "NO_POSITION",
    DuplicateIntent = "DUPLICATE_INTENT",
    DuplicateEvent = "DUPLICATE_EVENT",
    UnknownOrder = "UNKNOWN_ORDER",
    InvalidTransition = "INVALID_TRANSITION",
    Overfill = "OVERFILL",
    RateLimited = "RATE_LIMITED",
    ModeBlocked = "MODE_BLOCKED",
    RiskRejected = "RISK_REJECTED",
    BelowMinNotional = "BELOW_MIN_NOTIONAL",
});

named_enum!(KernelSeverity { Info = "INFO", Warning = "WARNING", Error = "ERROR", Critical = "CRITICAL" });

named_enum!(ControlMode {
    Live = "LIVE",
    Paper = "PAPER",
    Shadow = "SHADOW",
    ReduceOnly = "REDUCE_ONLY",
    Halted = "HALTED",
});

named_enum!(Verbosity { Quiet = "QUIET", Normal = "NORMAL", Debug = "DEBUG" });

named_enum!(AccountEventKind {
    FillSettled = "FILL_SETTLED",
    AccountUpdate = "ACCOUNT_UPDATE",
    FundingFee = "FUNDING_FEE",
});

impl TradeSide {
    /// The order side that opens a position on this side.
    pub fn entry_order_side(self) -> OrderSide {
        match self {
            TradeSide::Short => OrderSide::Sell,
            _ => OrderSide::Buy,
        }
    }

    pub fn exit_order_side(self) -> OrderSide {
        match self {
            TradeSide::Short => OrderSide::Buy,
            _ => OrderSide::Sell,
        }
    }

    /// +1 for long, -1 for short: the sign of PnL per unit of price rise.
    pub fn sign(self) -> f64 {
        match self {
            TradeSide::Long => 1.0,
            TradeSide::Short => -1.0,
            TradeSide::Flat => 0.0,
        }
    }
}

impl VenueOrderStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            VenueOrderStatus::Filled
                | VenueOrderStatus::Canceled
                | VenueOrderStatus::Rejected
                | VenueOrderStatus::Expired
        )
    }
}

impl KernelEventKind {
    /// The order status an event implies when the venue did not say.
    pub fn implied_status(self) -> VenueOrderStatus {
        match self {
            KernelEventKind::OrderAck => VenueOrderStatus::Acknowledged,
            KernelEventKind::Fill => VenueOrderStatus::Filled,
            KernelEventKind::CancelAck => VenueOrderStatus::Canceled,
            KernelEventKind::CancelReject => VenueOrderStatus::Acknowledged,
            KernelEventKind::Reject => VenueOrderStatus::Rejected,
            KernelEventKind::Expired => VenueOrderStatus::Expired,
            KernelEventKind::RateLimited => VenueOrderStatus::Rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in TradeStage::ALL {
            assert_eq!(TradeStage::parse(s.name()), Some(*s));
            assert_eq!(TradeStage::NAMES[s.code() as usize], s.name());
        }
        for c in KernelDiagnosticCode::ALL {
            assert_eq!(KernelDiagnosticCode::NAMES[c.code() as usize], c.name());
        }
        for c in KernelDiagnosticCode::ALL {
            assert_eq!(KernelDiagnosticCode::parse(c.name()), Some(*c));
        }
        assert_eq!(KernelDiagnosticCode::ALL.len(), 14);
        assert_eq!(TradeStage::parse("idle"), None);
    }
}
