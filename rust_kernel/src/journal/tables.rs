//! The journal's tables: their names and indexes, each table's columns in order, the
//! ClickHouse type each column is sent as, and how each column is stored in a row buffer.

use super::*;

/// The journal's tables, in the order the outbox keeps them and a drain hands them over.
pub const TABLES: [&str; 6] = [
    "fills",
    "account_events",
    "control_changes",
    "transitions",
    "intents",
    "venue_events",
];

/// Each table's place in [`TABLES`], and in every per-table array of the journal.
pub const FILLS: usize = 0;
pub const ACCOUNT_EVENTS: usize = 1;
pub const CONTROL_CHANGES: usize = 2;
pub const TRANSITIONS: usize = 3;
pub const INTENTS: usize = 4;
pub const VENUE_EVENTS: usize = 5;

/// Each table's columns in order, as a row holds them (`seq` and `sub` first: the input
/// that made the row and the row's number among that input's rows of the table).
pub const FILL_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "trade_id",
    "slot_id",
    "event_id",
    "fill_id",
    "client_order_id",
    "venue_order_id",
    "asset",
    "side",
    "leg",
    "price",
    "qty",
    "fee",
    "liquidity",
    "realized_pnl",
];
pub const ACCOUNT_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "event_id",
    "kind",
    "asset",
    "amount",
    "fee",
    "fill_id",
    "wallet_balance",
    "available_margin",
    "used_margin",
    "maint_margin",
    "k_capital",
    "reconcile_status",
    "reconcile_delta",
    "accepted",
    "diagnostic_code",
    "fee_charged",
];
pub const CONTROL_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "mode",
    "verbosity",
    "debug_clickhouse_enabled",
    "source",
];
pub const TRANSITION_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "trade_id",
    "slot_id",
    "prev_state",
    "next_state",
    "trigger",
    "intent_id",
    "event_id",
    "details",
];
pub const INTENT_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "intent_id",
    "trade_id",
    "slot_id",
    "asset",
    "side",
    "action",
    "order_type",
    "reference_price",
    "target_size",
    "limit_price",
    "leverage",
    "reason",
    "accepted",
    "diagnostic_code",
    "severity",
    "details",
    "metadata",
];
pub const VENUE_EVENT_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "event_id",
    "trade_id",
    "slot_id",
    "kind",
    "status",
    "venue_order_id",
    "venue_client_id",
    "side",
    "asset",
    "price",
    "size",
    "filled_size",
    "remaining_size",
    "reason",
    "fill_id",
    "fee",
    "retry_after",
    "accepted",
    "diagnostic_code",
    "severity",
    "details",
    "metadata",
];

/// The columns of `table` in order; a name that is no other table's is `venue_events`.
pub fn columns(table: &str) -> &'static [&'static str] {
    match table {
        "fills" => FILL_COLUMNS,
        "account_events" => ACCOUNT_COLUMNS,
        "control_changes" => CONTROL_COLUMNS,
        "transitions" => TRANSITION_COLUMNS,
        "intents" => INTENT_COLUMNS,
        _ => VENUE_EVENT_COLUMNS,
    }
}

/// The ClickHouse type each column is sent as in a Native block, aligned with the column
/// lists above (`kernel_id`, sent first as `native::KERNEL_ID_TYPE`, excluded): the table's
/// own type, so ClickHouse stores the block without converting it. Enums are
/// `LowCardinality(String)` (sent as a per-block dictionary and row indexes, see `native`);
/// `status` and `side` of venue events are `LowCardinality(Nullable(String))` although the
/// kernel never sends a NULL there (a missing side is ""). A test checks them against the
/// schema.
const TS: &str = "DateTime64(6, 'UTC')";
pub(super) const LC: &str = "LowCardinality(String)";
pub(super) const LC_NULL: &str = "LowCardinality(Nullable(String))";
const OPT_F64: &str = "Nullable(Float64)";
pub const FILL_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "Int64", "String", "String", "String", "String", LC, LC, LC,
    "Float64", "Float64", "Float64", LC, "Float64",
];
pub const ACCOUNT_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", LC, LC, "Float64", "Float64", "String", OPT_F64, OPT_F64,
    OPT_F64, OPT_F64, "Float64", LC, "Float64", "Bool", LC, OPT_F64,
];
pub const CONTROL_TYPES: &[&str] = &["UInt64", "UInt32", TS, LC, LC, "Bool", LC];
pub const TRANSITION_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "Int64", LC, LC, LC, "String", "String", "String",
];
pub const INTENT_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "String", "Int64", LC, LC, LC, LC, "Float64", "Float64",
    "Float64", "Float64", "String", "Bool", LC, LC, "String", "String",
];
pub const VENUE_EVENT_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "String", "Int64", LC, LC_NULL, "String", "String", LC_NULL,
    LC, "Float64", "Float64", "Float64", "Float64", "String", "String", OPT_F64, "Float64", "Bool",
    LC, LC, "String", "String",
];

/// Wire types of a table's columns (see [`FILL_TYPES`]); `None` for an unknown table.
pub fn wire_types(table: &str) -> Option<&'static [&'static str]> {
    Some(match table {
        "fills" => FILL_TYPES,
        "account_events" => ACCOUNT_TYPES,
        "control_changes" => CONTROL_TYPES,
        "transitions" => TRANSITION_TYPES,
        "intents" => INTENT_TYPES,
        "venue_events" => VENUE_EVENT_TYPES,
        _ => return None,
    })
}

/// How a column is stored in a row buffer; the `*_KINDS` lists follow the column lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One byte indexing these names (an enum's `code()`): read back as the name.
    Code(&'static [&'static str]),
    U64,
    U32,
    I64,
    F64,
    OptF64,
    Bool,
    Ts,
    Str,
    Details,
}

use Kind as K;
/// The `leg` column of a fill: `is_entry` as a code.
const LEGS: &[&str] = &["EXIT", "ENTRY"];
const STAGE: Kind = K::Code(TradeStage::NAMES);
const FILL_KINDS: &[Kind] = &[
    K::U64,
    K::U32,
    K::Ts,
    K::Str,
    K::I64,
    K::Str,
    K::Str,
    K::Str,
    K::Str,
    K::Str,
    K::Code(OrderSide::NAMES),
    K::Code(LEGS),
    K::F64,
    K::F64,
    K::F64,
    K::Str,
    K::F64,
];
const ACCOUNT_KINDS: &[Kind] = &[
    K::U64,
    K::U32,
    K::Ts,
    K::Str,
    K::Code(AccountEventKind::NAMES),
    K::Str,
    K::F64,
    K::F64,
    K::Str,
    K::OptF64,
    K::OptF64,
    K::OptF64,
    K::OptF64,
    K::F64,
    K::Str,
    K::F64,
    K::Bool,
    K::Code(KernelDiagnosticCode::NAMES),
    K::OptF64,
];
const CONTROL_KINDS: &[Kind] = &[K::U64, K::U32, K::Ts, K::Str, K::Str, K::Bool, K::Str];
const TRANSITION_KINDS: &[Kind] = &[
    K::U64,
    K::U32,
    K::Ts,
    K::Str,
    K::I64,
    STAGE,
    STAGE,
    K::Str,
    K::Str,
    K::Str,
    K::Details,
];
const INTENT_KINDS: &[Kind] = &[
    K::U64,
    K::U32,
    K::Ts,
    K::Str,
    K::Str,
    K::I64,
    K::Str,
    K::Code(TradeSide::NAMES),
    K::Code(KernelCommandType::NAMES),
    K::Code(OrderType::NAMES),
    K::F64,
    K::F64,
    K::F64,
    K::F64,
    K::Str,
    K::Bool,
    K::Code(KernelDiagnosticCode::NAMES),
    K::Code(KernelSeverity::NAMES),
    K::Details,
    K::Str,
];
const VENUE_EVENT_KINDS: &[Kind] = &[
    K::U64,
    K::U32,
    K::Ts,
    K::Str,
    K::Str,
    K::I64,
    K::Str,
    K::Str,
    K::Str,
    K::Str,
    K::Str,
    K::Str,
    K::F64,
    K::F64,
    K::F64,
    K::F64,
    K::Str,
    K::Str,
    K::OptF64,
    K::F64,
    K::Bool,
    K::Str,
    K::Code(KernelSeverity::NAMES),
    K::Details,
    K::Str,
];
pub(super) const KINDS: [&[Kind]; 6] = [
    FILL_KINDS,
    ACCOUNT_KINDS,
    CONTROL_KINDS,
    TRANSITION_KINDS,
    INTENT_KINDS,
    VENUE_EVENT_KINDS,
];
