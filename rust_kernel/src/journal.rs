//! The journal outbox: rows the kernel leaves for a journal writer to drain, gated by
//! verbosity. Nothing here does I/O; the hot path only appends to a bounded buffer.
//!
//! A row is stored the way the journal will read it, packed back to back in a byte buffer
//! ([`RowBuf`]; in the [`Outbox`], fixed-size segments of each table): `seq u64 | sub u32`
//! and then the table's columns (see the `*_KINDS` lists) as fixed-width little-endian
//! numbers, `varint length + bytes` strings and details as a small self-describing blob.
//! Capturing a row is a few short copies, with nothing to allocate (but a segment from a
//! pool every few thousand rows) and nothing to drop later; whoever writes the journal reads
//! the values back with [`RowBuf::visit`] (into Python tuples, or into ClickHouse Native
//! blocks).
//! The `record_*` methods are the only writers: each lists its table's values in column
//! order, and a test reads every table back against them.

use crate::model::{prefetch_line, Intent, KernelOutcome, KernelTransition, VenueEvent};
use crate::types::*;
use std::sync::Mutex;

pub mod native;
#[cfg(test)]
mod outbox_props;
#[cfg(test)]
mod writer_props;

pub const TABLES: [&str; 6] = [
    "fills",
    "account_events",
    "control_changes",
    "transitions",
    "intents",
    "venue_events",
];

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

/// Metadata (an intent's, a venue event's) as the journal's JSON text; `{}` without a copy
/// for none (most).
fn metadata_text(meta: &Metadata) -> std::borrow::Cow<'static, str> {
    if meta.is_empty() {
        "{}".into()
    } else {
        metadata_json(meta).into()
    }
}

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
const LC: &str = "LowCardinality(String)";
const LC_NULL: &str = "LowCardinality(Nullable(String))";
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

/// A fill as the journal records it (built by the kernel when it applies the fill, from
/// what it holds: the ids are borrowed, not cloned).
#[derive(Clone, Debug)]
pub struct FillRow<'a> {
    pub ts: f64,
    pub trade_id: &'a str,
    pub slot_id: usize,
    pub event_id: &'a str,
    pub fill_id: &'a str,
    pub client_order_id: &'a str,
    pub venue_order_id: &'a str,
    pub asset: &'a str,
    pub side: OrderSide,
    pub is_entry: bool,
    pub price: f64,
    pub qty: f64,
    pub fee: f64,
    pub liquidity: &'static str,
    pub realized_pnl: f64,
}

#[derive(Clone, Debug)]
pub struct AccountRow {
    pub ts: f64,
    pub event_id: Id,
    pub kind: AccountEventKind,
    pub asset: Id,
    pub amount: f64,
    pub fee: f64,
    pub fill_id: Id,
    pub wallet_balance: Option<f64>,
    pub available_margin: Option<f64>,
    pub used_margin: Option<f64>,
    pub maint_margin: Option<f64>,
    pub k_capital: f64,
    pub reconcile_status: &'static str,
    pub reconcile_delta: f64,
    /// Whether the kernel applied the event; a refused one is recorded too (with the
    /// account as it stands), so the journal shows that the exchange's fact arrived.
    pub accepted: bool,
    pub diagnostic_code: KernelDiagnosticCode,
    /// What the kernel charged for the fill an accepted FILL_SETTLED settled: its `fee`, or
    /// for a fill booked from part of a report its share (rules 19). None for every other
    /// row (another kind, or a refused settlement, which charged nothing).
    pub fee_charged: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct ControlRow {
    pub ts: f64,
    pub mode: ControlMode,
    pub verbosity: Verbosity,
    pub debug_clickhouse_enabled: bool,
    pub source: String,
}

pub const FILLS: usize = 0;
pub const ACCOUNT_EVENTS: usize = 1;
pub const CONTROL_CHANGES: usize = 2;
pub const TRANSITIONS: usize = 3;
pub const INTENTS: usize = 4;
pub const VENUE_EVENTS: usize = 5;

/// Details in a row buffer: `u32 length` of what follows, then `varint(count)` and per entry
/// the key as a string, a tag byte and the value.
#[derive(Clone, Copy, Debug)]
pub struct DetailsRef<'a>(&'a [u8]);

impl DetailsRef<'_> {
    /// The details as the journal's JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64);
        self.write_json(&mut out);
        out
    }

    /// Appends [`DetailsRef::to_json`] to `out`.
    pub fn write_json(&self, out: &mut String) {
        let mut b = self.0;
        let n = read_varint(&mut b);
        write_details_json(
            out,
            (0..n).map(move |_| {
                let key = read_str(&mut b);
                let tag = take(&mut b, 1)[0];
                let value = match tag {
                    0 => DetailRef::Str(read_str(&mut b)),
                    1 => DetailRef::F64(f64::from_le_bytes(take8(&mut b))),
                    2 => DetailRef::I64(i64::from_le_bytes(take8(&mut b))),
                    _ => DetailRef::Bool(take(&mut b, 1)[0] != 0),
                };
                (key, value)
            }),
        );
    }
}

/// One column value of a row, typed as the journal writes it.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    U64(u64),
    U32(u32),
    I64(i64),
    F64(f64),
    OptF64(Option<f64>),
    Bool(bool),
    /// Seconds since the epoch (written as DateTime64(6) microseconds).
    Ts(f64),
    Str(&'a str),
    /// Rendered as a JSON object (a `String` column).
    Details(DetailsRef<'a>),
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
const KINDS: [&[Kind]; 6] = [
    FILL_KINDS,
    ACCOUNT_KINDS,
    CONTROL_KINDS,
    TRANSITION_KINDS,
    INTENT_KINDS,
    VENUE_EVENT_KINDS,
];

/// Appends `n` as a varint (what [`RowWriter`] writes; for the Native encoder).
#[inline(always)]
fn put_varint(out: &mut Vec<u8>, n: u64) {
    RowWriter::new(out).varint(n);
}

/// Appends `s` as its varint length and its bytes (what [`RowWriter::str`] writes; for the
/// Native encoder).
#[inline(always)]
fn put_str(out: &mut Vec<u8>, s: &str) {
    RowWriter::new(out).str(s);
}

/// Strings up to this long are copied by [`copy_short`]: ids, assets and detail keys are
/// short, and a general `memcpy` of a few bytes costs the hot path more than the copy itself.
const SHORT_STR: usize = 32;

/// Copies `n <= 32` bytes as at most two overlapping moves of the widest size that fits
/// (the first and the last 16, 8 or 4 bytes; single bytes below 4).
///
/// # Safety
/// `src` must be readable and `dst` writable for `n` bytes, and they must not overlap.
#[inline(always)]
unsafe fn copy_short(src: *const u8, dst: *mut u8, n: usize) {
    unsafe fn two<T: Copy>(src: *const u8, dst: *mut u8, n: usize) {
        let w = std::mem::size_of::<T>();
        let (head, tail) = (
            src.cast::<T>().read_unaligned(),
            src.add(n - w).cast::<T>().read_unaligned(),
        );
        dst.cast::<T>().write_unaligned(head);
        dst.add(n - w).cast::<T>().write_unaligned(tail);
    }
    match n {
        16.. => two::<[u64; 2]>(src, dst, n),
        8.. => two::<u64>(src, dst, n),
        4.. => two::<u32>(src, dst, n),
        1.. => {
            let (first, mid, last) = (*src, *src.add(n / 2), *src.add(n - 1));
            *dst = first;
            *dst.add(n / 2) = mid;
            *dst.add(n - 1) = last;
        }
        0 => {}
    }
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, rest) = b.split_at(n);
    *b = rest;
    head
}

fn take8(b: &mut &[u8]) -> [u8; 8] {
    take(b, 8).try_into().expect("8 bytes")
}

fn take4(b: &mut &[u8]) -> [u8; 4] {
    take(b, 4).try_into().expect("4 bytes")
}

fn read_varint(b: &mut &[u8]) -> u64 {
    let (mut n, mut shift) = (0u64, 0);
    loop {
        let byte = take(b, 1)[0];
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

fn read_str<'a>(b: &mut &'a [u8]) -> &'a str {
    let len = read_varint(b) as usize;
    let bytes = take(b, len);
    if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8. Ids, assets and detail keys are ASCII; checking them with
        // the general `from_utf8` (an out-of-line call per string) cost the journal writer an
        // eighth of its encoding.
        return unsafe { std::str::from_utf8_unchecked(bytes) };
    }
    // Only `put_str` and `RowWriter::str` write these bytes, from a &str.
    std::str::from_utf8(bytes).expect("row buffers hold the utf-8 they were given")
}

/// How far ahead of the end of a row buffer [`RowBuf::start_row`] prefetches, in bytes.
const ROW_AHEAD: usize = 512;

/// Rows of one table, packed back to back (see the module documentation). In an outbox, one
/// segment of a table's rows (see [`Outbox`]).
#[derive(Clone, Debug, Default)]
pub struct RowBuf {
    bytes: Vec<u8>,
    /// Where each row starts in `bytes`.
    starts: Vec<usize>,
    /// Rows before it were taken or dropped (`discard_front`); their memory goes when the
    /// whole segment does. Row `i` is `starts[head + i]`.
    head: usize,
}

/// Bytes of rows an outbox segment is made for.
pub const SEGMENT_BYTES: usize = 256 << 10;

/// Rows an outbox segment is made for: rows of 64 bytes or more (every table's but the
/// shortest control rows) fill its bytes first.
const SEGMENT_ROWS: usize = SEGMENT_BYTES / 64;

/// Room a segment must have left for a row to start in it. Rows are about 40 to 200 bytes;
/// only one with long strings or details outgrows it, and then regrows its segment.
const ROW_ROOM: usize = 1 << 10;

impl RowBuf {
    /// An empty outbox segment, its memory allocated but not yet touched.
    fn segment() -> RowBuf {
        RowBuf {
            bytes: Vec::with_capacity(SEGMENT_BYTES),
            starts: Vec::with_capacity(SEGMENT_ROWS),
            head: 0,
        }
    }

    /// Whether a segment has the sizes it was made with (it was never regrown), so the pool
    /// may hand it out again.
    fn is_segment(&self) -> bool {
        self.bytes.capacity() == SEGMENT_BYTES && self.starts.capacity() == SEGMENT_ROWS
    }

    /// Whether the next row can start here without the buffers growing (unless the row
    /// outgrows `ROW_ROOM`). Measured against the sizes of a segment, so a segment regrown
    /// by a long row takes no more rows, and against the capacities, so neither does a
    /// cloned one (a clone has no room to spare).
    #[inline]
    fn has_room(&self) -> bool {
        let bytes = self.bytes.capacity().min(SEGMENT_BYTES);
        let rows = self.starts.capacity().min(SEGMENT_ROWS);
        self.bytes.len() + ROW_ROOM <= bytes && self.starts.len() < rows
    }

    pub fn len(&self) -> usize {
        self.starts.len() - self.head
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn row(&self, i: usize) -> &[u8] {
        let i = self.head + i;
        let end = self.starts.get(i + 1).copied().unwrap_or(self.bytes.len());
        &self.bytes[self.starts[i]..end]
    }

    /// `(seq, sub)` of row `i`.
    pub fn key(&self, i: usize) -> (u64, u32) {
        let r = self.row(i);
        (
            u64::from_le_bytes(r[..8].try_into().expect("8 bytes")),
            u32::from_le_bytes(r[8..12].try_into().expect("4 bytes")),
        )
    }

    pub fn seq(&self, i: usize) -> u64 {
        self.key(i).0
    }

    /// The seq of the last row; None when there are no rows.
    fn last_seq(&self) -> Option<u64> {
        self.len().checked_sub(1).map(|i| self.seq(i))
    }

    /// How many rows have a seq below `cut` (rows are in seq order).
    fn count_below(&self, cut: u64) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.seq(mid) < cut {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Hands `out` the values of row `i` of `table` in column order.
    pub fn visit<'a>(&'a self, table: usize, i: usize, out: &mut impl FnMut(Value<'a>)) {
        let mut b = self.row(i);
        for kind in KINDS[table] {
            let v = match kind {
                Kind::Code(names) => Value::Str(names[take(&mut b, 1)[0] as usize]),
                Kind::U64 => Value::U64(u64::from_le_bytes(take8(&mut b))),
                Kind::U32 => Value::U32(u32::from_le_bytes(take4(&mut b))),
                Kind::I64 => Value::I64(i64::from_le_bytes(take8(&mut b))),
                Kind::F64 => Value::F64(f64::from_le_bytes(take8(&mut b))),
                Kind::Ts => Value::Ts(f64::from_le_bytes(take8(&mut b))),
                Kind::OptF64 => {
                    let present = take(&mut b, 1)[0] != 0;
                    let x = f64::from_le_bytes(take8(&mut b));
                    Value::OptF64(present.then_some(x))
                }
                Kind::Bool => Value::Bool(take(&mut b, 1)[0] != 0),
                Kind::Str => Value::Str(read_str(&mut b)),
                Kind::Details => {
                    let len = u32::from_le_bytes(take4(&mut b));
                    Value::Details(DetailsRef(take(&mut b, len as usize)))
                }
            };
            out(v);
        }
    }

    /// The bytes rows `from..to` take in the buffer: their keys, fixed-width values, strings
    /// (each with its varint length) and details, as packed. Read off the rows' starts, so
    /// O(1) whatever the rows hold.
    pub fn bytes_of(&self, from: usize, to: usize) -> usize {
        if from >= to {
            return 0;
        }
        let (from, to) = (self.head + from, self.head + to);
        let end = self.starts.get(to).copied().unwrap_or(self.bytes.len());
        end - self.starts[from]
    }

    /// Appends row `i` of `other`.
    pub fn push_from(&mut self, other: &RowBuf, i: usize) {
        self.starts.push(self.bytes.len());
        self.bytes.extend_from_slice(other.row(i));
    }

    /// Appends rows `from..to` of `other`.
    fn extend_from(&mut self, other: &RowBuf, from: usize, to: usize) {
        let (from, to) = (other.head + from, other.head + to);
        if from < to {
            let base = other.starts[from];
            let end = other.starts.get(to).copied().unwrap_or(other.bytes.len());
            let at = self.bytes.len();
            self.bytes.extend_from_slice(&other.bytes[base..end]);
            self.starts
                .extend(other.starts[from..to].iter().map(|s| s - base + at));
        }
    }

    /// The rows of `parts`, in order, as one buffer.
    pub fn concat(parts: &[RowBuf]) -> RowBuf {
        let live = |p: &RowBuf| p.bytes.len() - p.starts.get(p.head).copied().unwrap_or(0);
        let mut out = RowBuf {
            bytes: Vec::with_capacity(parts.iter().map(live).sum()),
            starts: Vec::with_capacity(parts.iter().map(RowBuf::len).sum()),
            head: 0,
        };
        for p in parts {
            out.extend_from(p, 0, p.len());
        }
        out
    }

    /// Keeps the first `n` rows and forgets the rest.
    fn truncate_rows(&mut self, n: usize) {
        let end = self.head + n;
        if end < self.starts.len() {
            self.bytes.truncate(self.starts[end]);
            self.starts.truncate(end);
        }
    }

    /// Forgets the first `n` rows; their memory stays until the segment is emptied.
    fn discard_front(&mut self, n: usize) {
        self.head += n;
        debug_assert!(self.head <= self.starts.len());
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
        self.head = 0;
    }

    /// Starts a row of `(seq, sub)` if the segment has room for it ([`RowBuf::has_room`]):
    /// then the caller writes its values after this key, and it is true.
    #[inline]
    fn start_row(&mut self, seq: u64, sub: u32) -> bool {
        if !self.has_room() {
            return false;
        }
        // The buffers are written once, front to back, far too much to stay in cache: each
        // new cache line would stall the writer on a load from memory. Asking for the lines a
        // few rows ahead lets those loads overlap with the kernel's work instead. Rows are
        // about 100 bytes: two lines a row keep ahead of them.
        let (bytes, starts) = (self.bytes.len(), self.starts.len());
        let ahead = self.bytes.as_ptr().wrapping_add(bytes + ROW_AHEAD);
        prefetch_line(ahead);
        prefetch_line(ahead.wrapping_add(64));
        prefetch_line(self.starts.as_ptr().wrapping_add(starts + 8).cast());
        // SAFETY: `has_room` holds: `starts` has room for one more start (its length is
        // below its capacity) and `bytes` for ROW_ROOM (1 KiB) more bytes, of which the row's
        // key takes 12. Each `set_len` covers exactly what was written.
        unsafe {
            self.starts.as_mut_ptr().add(starts).write(bytes);
            self.starts.set_len(starts + 1);
            let at = self.bytes.as_mut_ptr().add(bytes);
            at.cast::<[u8; 8]>().write_unaligned(seq.to_le_bytes());
            at.add(8)
                .cast::<[u8; 4]>()
                .write_unaligned(sub.to_le_bytes());
            self.bytes.set_len(bytes + 12);
        }
        true
    }
}

/// Appends a row's values to its buffer through a cursor into the buffer's spare capacity.
/// A value costs a comparison of two addresses and a store: the cursor lives in registers
/// (the hot tables' `record_*` paths are inlined into one function each, and the
/// out-of-line calls take and return pointers by value), where `Vec::push` would load,
/// check and store the buffer's length at every value. The length is set once, when the
/// writer is dropped.
struct RowWriter<'a> {
    bytes: &'a mut Vec<u8>,
    /// The next byte to write, in `bytes`' allocation.
    at: *mut u8,
    /// The address [`SLACK`] bytes before the end of `bytes`' allocation (or 0): while `at`
    /// is not past it, any value of up to `SLACK` bytes fits, which one comparison tells.
    limit: usize,
}

/// Bytes a value may take and still be checked by one comparison with `RowWriter::limit`:
/// every value but a long string.
const SLACK: usize = 64;

impl<'a> RowWriter<'a> {
    #[inline(always)]
    fn new(bytes: &'a mut Vec<u8>) -> Self {
        let (at, limit) = spare(bytes);
        RowWriter { bytes, at, limit }
    }

    /// Makes sure `n` more bytes fit: in a segment, which starts each row with
    /// [`ROW_ROOM`] to spare, only a row with long strings or many details has to grow.
    #[inline(always)]
    fn room(&mut self, n: usize) {
        let fits = if n <= SLACK {
            self.at.addr() <= self.limit
        } else {
            // `limit + SLACK` is the end of the allocation, or (when `limit` saturated at 0,
            // for an allocation ending below address 64) past it, where nothing over SLACK
            // bytes fits anyway; `at` never passes it, and the subtraction cannot overflow
            // as `at + n` could.
            n <= self.limit + SLACK - self.at.addr()
        };
        if !fits {
            (self.at, self.limit) = grow(self.bytes, self.at, n);
        }
    }

    /// Writes `N` bytes.
    #[inline(always)]
    fn put<const N: usize>(&mut self, b: [u8; N]) -> &mut Self {
        self.room(N);
        // SAFETY: `room` made sure of N writable bytes at `at`, in the allocation.
        unsafe {
            self.at.cast::<[u8; N]>().write_unaligned(b);
            self.at = self.at.add(N);
        }
        self
    }

    #[inline(always)]
    fn code(&mut self, c: u8) -> &mut Self {
        self.put([c])
    }

    #[inline(always)]
    fn bool(&mut self, x: bool) -> &mut Self {
        self.put([u8::from(x)])
    }

    #[inline(always)]
    fn f64(&mut self, x: f64) -> &mut Self {
        self.put(x.to_le_bytes())
    }

    #[inline(always)]
    fn i64(&mut self, x: i64) -> &mut Self {
        self.put(x.to_le_bytes())
    }

    #[inline(always)]
    fn opt(&mut self, x: Option<f64>) -> &mut Self {
        self.put([u8::from(x.is_some())]).f64(x.unwrap_or(0.0))
    }

    /// A varint: seven bits a byte, low first, the top bit set on all but the last.
    #[inline(always)]
    fn varint(&mut self, n: u64) -> &mut Self {
        self.room(10);
        // SAFETY: `room` made sure of the varint's at most 10 bytes.
        self.at = unsafe { put_varint_at(self.at, n) };
        self
    }

    /// A string as its varint length and its bytes. Ids, assets and detail keys are short
    /// ([`SHORT_STR`]): a few moves, not a call to `memcpy`.
    #[inline(always)]
    fn str(&mut self, s: &str) -> &mut Self {
        let b = s.as_bytes();
        let n = b.len();
        if n <= SHORT_STR {
            self.room(1 + SHORT_STR);
            // SAFETY: `room` made sure of 1 + SHORT_STR >= 1 + n writable bytes at `at`; a
            // row's buffer never overlaps a string handed to it.
            unsafe {
                self.at.write(n as u8);
                copy_short(b.as_ptr(), self.at.add(1), n);
                self.at = self.at.add(1 + n);
            }
        } else {
            self.room(10 + n);
            // SAFETY: `room` made sure of 10 + n bytes at `at`; a row's buffer never overlaps
            // a string handed to it.
            self.at = unsafe { write_long_str(self.at, b) };
        }
        self
    }

    /// Details as a blob: its length in 4 bytes (so a reader can skip it), the count as a
    /// varint, then each key and a tagged value.
    #[inline(always)]
    fn details(&mut self, d: &[(&'static str, Detail)]) -> &mut Self {
        self.named_values(d.len(), d.iter().map(|(k, v)| (*k, v.as_ref())))
    }

    /// [`RowWriter::details`] of `n` named values.
    fn named_values<'v>(
        &mut self,
        n: usize,
        d: impl Iterator<Item = (&'static str, DetailRef<'v>)>,
    ) -> &mut Self {
        self.put([0; 4]);
        let start = self.at.addr() - self.bytes.as_ptr().addr();
        self.varint(n as u64);
        for (k, v) in d {
            self.str(k);
            match v {
                DetailRef::Str(s) => self.code(0).str(s),
                DetailRef::F64(x) => self.code(1).f64(x),
                DetailRef::I64(x) => self.code(2).i64(x),
                DetailRef::Bool(x) => self.code(3).bool(x),
            };
        }
        let blob = u32::try_from(self.at.addr() - self.bytes.as_ptr().addr() - start)
            .expect("details under 4 GiB");
        // SAFETY: the 4 bytes before `start` were written above; the buffer may have grown
        // since, so they are found from its start now.
        unsafe {
            let slot = self.bytes.as_mut_ptr().add(start - 4);
            slot.cast::<[u8; 4]>().write_unaligned(blob.to_le_bytes());
        }
        self
    }
}

impl Drop for RowWriter<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let len = self.at.addr() - self.bytes.as_ptr().addr();
        // SAFETY: every byte up to `at` was written, by this writer or before it, and `at`
        // is within the allocation.
        unsafe { self.bytes.set_len(len) };
    }
}

/// Where `bytes`' spare capacity starts, and the address [`SLACK`] bytes before its end
/// (`RowWriter::limit`).
#[inline(always)]
fn spare(bytes: &mut Vec<u8>) -> (*mut u8, usize) {
    let (len, cap) = (bytes.len(), bytes.capacity());
    let base = bytes.as_mut_ptr();
    // SAFETY: `len` is an offset within, or one past, the allocation.
    let at = unsafe { base.add(len) };
    (at, (base.addr() + cap).saturating_sub(SLACK))
}

/// Grows `bytes`, written up to `at`, to fit `n` more bytes (and at least [`SLACK`]);
/// returns its spare capacity as [`spare`] does.
#[cold]
#[inline(never)]
fn grow(bytes: &mut Vec<u8>, at: *mut u8, n: usize) -> (*mut u8, usize) {
    let len = at.addr() - bytes.as_ptr().addr();
    // SAFETY: the bytes up to `at` were written.
    unsafe { bytes.set_len(len) };
    bytes.reserve(n.max(SLACK));
    spare(bytes)
}

/// Writes `n` as a varint at `at`; returns the end of what it wrote.
///
/// # Safety
/// `at` must be writable for 10 bytes.
#[inline(always)]
unsafe fn put_varint_at(mut at: *mut u8, mut n: u64) -> *mut u8 {
    while n >= 0x80 {
        at.write((n as u8) | 0x80);
        at = at.add(1);
        n >>= 7;
    }
    at.write(n as u8);
    at.add(1)
}

/// Writes a string longer than [`SHORT_STR`] at `at`: its varint length and its bytes;
/// returns the end of what it wrote.
///
/// # Safety
/// `at` must be writable for 10 + `b.len()` bytes, none of them in `b`.
#[inline(never)]
unsafe fn write_long_str(at: *mut u8, b: &[u8]) -> *mut u8 {
    // SAFETY: the caller's promise.
    unsafe {
        let at = put_varint_at(at, b.len() as u64);
        std::ptr::copy_nonoverlapping(b.as_ptr(), at, b.len());
        at.add(b.len())
    }
}

pub const DEFAULT_JOURNAL_CAPACITY: usize = 1_000_000;

/// Segments whose rows were taken, for outboxes to write their next rows into: memory that
/// is already mapped (and, handed out last in first out, often still in cache) instead of
/// fresh pages to fault in. One pool serves the process ([`SEGMENT_POOL`]): the drainer of
/// any kernel gives segments back, and a new kernel starts in the segments of earlier ones.
#[derive(Debug, Default)]
pub struct SegmentPool(Mutex<Vec<RowBuf>>);

/// Segments a pool keeps at most; those given back beyond it are freed. Idle, a pool at its
/// cap holds 64 segments of 256 KiB of bytes and 32 KiB of row starts: 18 MiB. A kernel
/// drained every few milliseconds has a few out at a time (one per table being written,
/// those of the last drain being copied); 64 also cover a drainer about 140,000 rows (of
/// 120 bytes) behind.
const POOLED_SEGMENTS: usize = 64;

/// The process's pool, where every outbox takes its segments from unless given another.
pub static SEGMENT_POOL: SegmentPool = SegmentPool::new();

impl SegmentPool {
    pub const fn new() -> SegmentPool {
        SegmentPool(Mutex::new(Vec::new()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RowBuf>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An empty segment: the one given back last, or a new one.
    fn take(&self) -> RowBuf {
        let pooled = self.lock().pop();
        pooled.unwrap_or_else(RowBuf::segment)
    }

    /// Takes back segments whose rows were read. Buffers that are no segment (copies, or a
    /// segment a long row regrew) and those beyond the cap are freed, after the lock.
    pub fn give(&self, segments: impl IntoIterator<Item = RowBuf>) {
        let mut freed = Vec::new();
        let mut pool = self.lock();
        for mut s in segments {
            if s.is_segment() && pool.len() < POOLED_SEGMENTS {
                s.clear();
                pool.push(s);
            } else {
                freed.push(s);
            }
        }
        drop(pool);
        drop(freed);
    }

    /// The rows of a table's `segments` (as a take hands them out) as one buffer; the
    /// segments come back here.
    pub fn join(&self, segments: Vec<RowBuf>) -> RowBuf {
        let rows = RowBuf::concat(&segments);
        self.give(segments);
        rows
    }

    /// Segments held, for tests.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.lock().len()
    }
}

/// How many of a table's first segments (in seq order) hold only rows below `cut`.
fn wholly_below(segments: &[RowBuf], cut: u64) -> usize {
    segments.partition_point(|s| s.last_seq().is_some_and(|last| last < cut))
}

/// Rows waiting for a journal. Each table (in `TABLES` order) is a queue of segments, oldest
/// first, its rows in seq order, and its rows are written into the last one. A segment is a
/// [`RowBuf`] of fixed size ([`SEGMENT_BYTES`]) and is never regrown: once it has less than
/// `ROW_ROOM` (1 KiB) left, or its row starts are used up, the next row starts a new
/// segment from the pool. Rows never span segments; a row longer than the room left (long
/// strings or details) grows its segment, which then takes no more rows. A take hands out
/// whole segments; rows dropped for capacity are passed over, and a segment they empty goes
/// back to the pool, so an outbox nobody drains holds its capacity's rows plus at most the
/// passed-over front of one segment per table.
#[derive(Clone, Debug)]
pub struct Outbox {
    pub enabled: bool,
    pub verbosity: Verbosity,
    /// Rows held at most; beyond it the oldest row is dropped and counted.
    pub capacity: usize,
    /// Every segment holds rows: one emptied goes back to the pool.
    tables: [Vec<RowBuf>; 6],
    len: usize,
    pub dropped: u64,
    /// The oldest input whose rows were dropped since [`Outbox::restart`]: a journal must
    /// not vouch for rows from there on.
    pub first_dropped_seq: Option<u64>,
    /// Inputs up to here are being derived again from the write-ahead log (see
    /// [`Outbox::clear_drop_mark`]): dropping their rows now loses nothing, so it is not marked.
    covered_through: u64,
    pub queued_total: u64,
    cur_seq: u64,
    subs: [u32; 6],
    /// Where new segments come from and where a drainer gives taken ones back.
    pub pool: &'static SegmentPool,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            enabled: false,
            verbosity: Verbosity::Normal,
            capacity: DEFAULT_JOURNAL_CAPACITY,
            tables: Default::default(),
            len: 0,
            dropped: 0,
            first_dropped_seq: None,
            covered_through: 0,
            queued_total: 0,
            cur_seq: 0,
            subs: [0; 6],
            pool: &SEGMENT_POOL,
        }
    }
}

impl Outbox {
    #[inline]
    pub fn wants(&self, level: Verbosity) -> bool {
        self.enabled && self.verbosity >= level
    }

    /// Starts a row of `table` for input `seq`: numbers it within the input, makes room.
    fn begin(&mut self, table: usize, seq: u64) -> &mut Vec<u8> {
        if seq != self.cur_seq {
            self.cur_seq = seq;
            self.subs = [0; 6];
        }
        let sub = self.subs[table];
        self.subs[table] += 1;
        if self.len >= self.capacity {
            self.drop_oldest();
        }
        self.queued_total += 1;
        self.len += 1;
        let segments = &mut self.tables[table];
        if !segments.last_mut().is_some_and(|s| s.start_row(seq, sub)) {
            self.open_segment(table, seq, sub);
        }
        let segment = self.tables[table].last_mut().expect("the row's segment");
        &mut segment.bytes
    }

    /// Starts the row in a new segment, once a segment's worth of rows: kept out of line so
    /// `begin` stays small.
    #[cold]
    #[inline(never)]
    fn open_segment(&mut self, table: usize, seq: u64, sub: u32) {
        let mut segment = self.pool.take();
        assert!(segment.start_row(seq, sub), "a new segment has room");
        self.tables[table].push(segment);
    }

    /// Rows waiting, over all tables.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Only when the outbox is full: kept out of line so `begin` stays small.
    #[cold]
    #[inline(never)]
    /// Drops every row of the oldest input held, so that what is left (and what a journal
    /// later finds missing) always starts on a whole input; never the input being recorded.
    fn drop_oldest(&mut self) {
        let Some(oldest) = self.first_seq().filter(|&seq| seq != self.cur_seq) else {
            return;
        };
        if oldest > self.covered_through {
            self.first_dropped_seq.get_or_insert(oldest);
        }
        for segments in &mut self.tables {
            // An input's rows may run over into the next segments.
            while let Some(front) = segments.first_mut() {
                // Every row held is of `oldest` or later.
                let n = front.count_below(oldest + 1);
                front.discard_front(n);
                self.len -= n;
                self.dropped += n as u64;
                if !front.is_empty() {
                    break;
                }
                // A few hundred segments at most to move, once per segment's worth of rows.
                self.pool.give([segments.remove(0)]);
            }
        }
    }

    /// Forgets every row held and every drop counted since the last restart: for a journal
    /// that derives the rows up to now from the write-ahead log instead. The segments go
    /// back to the pool.
    pub fn restart(&mut self) {
        for segments in self.take_rows(usize::MAX) {
            self.pool.give(segments);
        }
        self.first_dropped_seq = None;
    }

    /// Forgets the mark of dropped inputs for a journal that derives the rows of every input
    /// up to `through` from the write-ahead log, rows still held included: dropping those
    /// later is not marked either. Drops of later inputs are marked as before.
    pub fn clear_drop_mark(&mut self, through: u64) {
        self.first_dropped_seq = None;
        self.covered_through = self.covered_through.max(through);
    }

    /// Forgets the rows of inputs from `seq` on, the newest held: those of an input the
    /// kernel applied but could not log, which must not reach a journal (a restart does not
    /// know them, and gives their seq to another input). Returns how many rows went.
    pub fn discard_from(&mut self, seq: u64) -> usize {
        let mut gone = 0;
        for segments in &mut self.tables {
            while let Some(last) = segments.last_mut() {
                let keep = last.count_below(seq);
                gone += last.len() - keep;
                last.truncate_rows(keep);
                if !last.is_empty() {
                    break;
                }
                self.pool.give(segments.pop());
            }
        }
        self.len -= gone;
        self.queued_total -= gone as u64;
        gone
    }

    /// The seq of the oldest row held (rows dropped for capacity are not held).
    pub fn first_seq(&self) -> Option<u64> {
        self.tables
            .iter()
            .filter_map(|segments| segments.first())
            .map(|s| s.seq(0))
            .min()
    }

    /// How many rows of `table` have a seq below `cut`; `before[i]` is the number of rows
    /// in the table's segments before segment `i` (and, last, all of them).
    fn count_below(&self, table: usize, cut: u64, before: &[usize]) -> usize {
        let segments = &self.tables[table];
        let whole = wholly_below(segments, cut);
        before[whole] + segments.get(whole).map_or(0, |s| s.count_below(cut))
    }

    /// Takes the oldest rows, per table in `TABLES` order: every row below some seq, and at
    /// most `max_rows` of them unless the oldest seq alone has more (it is never split, so a
    /// drain always ends on a whole input: whoever stores drains in order knows every row
    /// below the last seq it stored is stored). Concatenated into one buffer per table; the
    /// segments go back to the pool.
    pub fn drain_tables(&mut self, max_rows: usize) -> [RowBuf; 6] {
        let pool = self.pool;
        self.take_rows(max_rows).map(|segments| pool.join(segments))
    }

    /// The rows [`Outbox::drain_tables`] takes, as each table's segments in order, to be given
    /// back to [`Outbox::pool`] once read. Taking everything hands out every segment, so the
    /// kernel copies nothing. A partial take hands out the segments below the cut and copies
    /// the rows below it out of the one the cut falls in: a copy of at most a segment, however
    /// many rows are taken.
    pub fn take_rows(&mut self, max_rows: usize) -> [Vec<RowBuf>; 6] {
        self.take_rows_through(max_rows, None)
    }

    /// [`Outbox::take_rows`] of the rows of inputs up to seq `through` (all with `None`): the
    /// rows of later inputs wait, whole, for a later take. A kernel with a write-ahead log
    /// journals only what the log holds, so a journal is never ahead of what a restart
    /// recovers (its rows past the log's end would take the keys of the inputs after it).
    pub fn take_rows_through(&mut self, max_rows: usize, through: Option<u64>) -> [Vec<RowBuf>; 6] {
        let last = self
            .tables
            .iter()
            .filter_map(|segments| segments.last().and_then(RowBuf::last_seq))
            .max();
        let held_back = matches!((through, last), (Some(t), Some(l)) if l > t);
        if self.len <= max_rows && !held_back {
            self.len = 0;
            // Into new lists, allocated here: the strategy thread's next segments go into the
            // outbox's own.
            return self.tables.each_mut().map(|s| s.split_off(0));
        }
        let first = self.first_seq();
        let (Some(first), Some(last)) = (first, last) else {
            return Default::default();
        };
        let last = through.map_or(last, |t| last.min(t));
        if last < first {
            return Default::default(); // the oldest input is not in the log yet
        }
        // Rows before each segment, counted once: each step of the search below is then a
        // search among the segments and in one of them, not a sum over a backlog's hundreds.
        let before = self.tables.each_ref().map(|segments| {
            let mut at = Vec::with_capacity(segments.len() + 1);
            at.push(0);
            for s in segments {
                at.push(at[at.len() - 1] + s.len());
            }
            at
        });
        let below = |o: &Self, cut: u64| {
            (0..6)
                .map(|t| o.count_below(t, cut, &before[t]))
                .sum::<usize>()
        };
        // The highest cut with at most max_rows rows below it (at least the oldest seq).
        let (mut lo, mut hi) = (first + 1, last + 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if below(self, mid) <= max_rows {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let taken = std::array::from_fn(|t| self.take_below(t, lo));
        self.len -= taken.iter().flatten().map(RowBuf::len).sum::<usize>();
        taken
    }

    /// The rows of `table` below `cut`: the segments wholly below it, and a copy of the rows
    /// below it in the segment it falls in, which keeps the rest.
    fn take_below(&mut self, table: usize, cut: u64) -> Vec<RowBuf> {
        let segments = &mut self.tables[table];
        let whole = wholly_below(segments, cut);
        let mut taken: Vec<RowBuf> = segments.drain(..whole).collect();
        if let Some(front) = segments.first_mut() {
            let n = front.count_below(cut);
            if n > 0 {
                let mut part = self.pool.take();
                part.extend_from(front, 0, n);
                front.discard_front(n);
                taken.push(part);
            }
        }
        taken
    }

    /// Records an intent and the transitions it caused, as verbosity allows.
    pub fn record_intent(&mut self, intent: &Intent, out: &KernelOutcome) {
        if self.wants(Verbosity::Normal) {
            self.row(INTENTS, out.seq)
                .f64(intent.timestamp)
                .str(&intent.intent_id)
                .str(&intent.trade_id)
                .i64(intent.slot_id)
                .str(&intent.asset)
                .code(intent.side.code())
                .code(intent.action.code())
                .code(intent.order_type.code())
                .f64(intent.reference_price)
                .f64(intent.target_size)
                .f64(intent.limit_price)
                .f64(intent.leverage)
                .str(&intent.reason)
                .bool(out.accepted)
                .code(out.diagnostic_code.code())
                .code(out.severity.code())
                .details(&out.details)
                .str(&metadata_text(&intent.metadata));
        }
        self.record_transitions(out);
    }

    /// Transitions at NORMAL; closes are kept at QUIET too.
    pub fn record_transitions(&mut self, out: &KernelOutcome) {
        if !self.enabled {
            return;
        }
        let all = self.verbosity >= Verbosity::Normal;
        for t in &out.transitions {
            if all || t.next_state == TradeStage::Closed {
                self.record_transition(out.seq, t);
            }
        }
    }

    #[inline(always)]
    fn record_transition(&mut self, seq: u64, t: &KernelTransition) {
        self.row(TRANSITIONS, seq)
            .f64(t.timestamp)
            .str(&t.trade_id)
            .i64(t.slot_id as i64)
            .code(t.prev_state.code())
            .code(t.next_state.code())
            .str(t.trigger)
            .str(&t.intent_id)
            .str(&t.event_id)
            .named_values(t.details.len(), t.details.iter());
    }

    // Out of line: inlined, its rows' code shaped the hot path of every venue event (callgrind
    // +0.3 % a cycle with no journal attached), while it runs only with one attached.
    #[inline(never)]
    pub fn record_venue_event(&mut self, ev: &VenueEvent, out: &KernelOutcome) {
        if self.wants(Verbosity::Debug) {
            let metadata = metadata_text(&ev.metadata);
            self.row(VENUE_EVENTS, out.seq)
                .f64(ev.timestamp)
                .str(&ev.event_id)
                .str(&ev.trade_id)
                .i64(ev.slot_id)
                .str(ev.kind.name())
                .str(ev.status.name())
                .str(&ev.venue_order_id)
                .str(&ev.venue_client_id)
                .str(ev.side.map(|s| s.name()).unwrap_or(""))
                .str(&ev.asset)
                .f64(ev.price)
                .f64(ev.size)
                .f64(ev.filled_size)
                .f64(ev.remaining_size)
                .str(&ev.reason)
                .str(&ev.fill_id)
                .opt(ev.fee)
                .f64(ev.retry_after)
                .bool(out.accepted)
                .str(out.diagnostic_code.name())
                .code(out.severity.code())
                .details(&out.details)
                .str(&metadata);
        }
        self.record_transitions(out);
    }

    pub fn record_fill(&mut self, seq: u64, f: &FillRow) {
        self.row(FILLS, seq)
            .f64(f.ts)
            .str(f.trade_id)
            .i64(f.slot_id as i64)
            .str(f.event_id)
            .str(f.fill_id)
            .str(f.client_order_id)
            .str(f.venue_order_id)
            .str(f.asset)
            .code(f.side.code())
            .code(u8::from(f.is_entry))
            .f64(f.price)
            .f64(f.qty)
            .f64(f.fee)
            .str(f.liquidity)
            .f64(f.realized_pnl);
    }

    pub fn record_account(&mut self, seq: u64, a: &AccountRow) {
        self.row(ACCOUNT_EVENTS, seq)
            .f64(a.ts)
            .str(&a.event_id)
            .code(a.kind.code())
            .str(&a.asset)
            .f64(a.amount)
            .f64(a.fee)
            .str(&a.fill_id)
            .opt(a.wallet_balance)
            .opt(a.available_margin)
            .opt(a.used_margin)
            .opt(a.maint_margin)
            .f64(a.k_capital)
            .str(a.reconcile_status)
            .f64(a.reconcile_delta)
            .bool(a.accepted)
            .code(a.diagnostic_code.code())
            .opt(a.fee_charged);
    }

    pub fn record_control(&mut self, seq: u64, c: &ControlRow) {
        self.row(CONTROL_CHANGES, seq)
            .f64(c.ts)
            .str(c.mode.name())
            .str(c.verbosity.name())
            .bool(c.debug_clickhouse_enabled)
            .str(&c.source);
    }

    /// A writer for a new row of `table` for input `seq`, made in the caller (always
    /// inlined), so it stays in registers; `begin`, out of line, hands over the buffer.
    #[inline(always)]
    fn row(&mut self, table: usize, seq: u64) -> RowWriter<'_> {
        RowWriter::new(self.begin(table, seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(o: &mut Outbox, seq: u64) {
        o.record_control(
            seq,
            &ControlRow {
                ts: seq as f64,
                mode: ControlMode::Paper,
                verbosity: Verbosity::Normal,
                debug_clickhouse_enabled: true,
                source: String::new(),
            },
        );
    }

    pub(super) fn transition(o: &mut Outbox, seq: u64) {
        let t = KernelTransition {
            timestamp: 0.5,
            trade_id: id("t"),
            slot_id: 0,
            prev_state: TradeStage::Idle,
            next_state: TradeStage::OrderRequested,
            trigger: "ENTER",
            intent_id: id("i"),
            event_id: id(""),
            details: vec![
                ("qty", Detail::F64(0.25)),
                ("n", Detail::I64(-3)),
                ("ok", Detail::Bool(true)),
                ("why", Detail::Static("stale")),
                ("id", Detail::Id(id("c-é"))),
                ("text", Detail::Str("a\"b".into())),
            ]
            .into(),
        };
        o.record_transition(seq, &t);
    }

    /// seq 1..=n, each with one control row and `per_seq - 1` transitions.
    fn outbox(n: u64, per_seq: usize) -> Outbox {
        let mut o = Outbox::default();
        for seq in 1..=n {
            control(&mut o, seq);
            for _ in 1..per_seq {
                transition(&mut o, seq);
            }
        }
        o
    }

    fn keys(b: &RowBuf) -> Vec<(u64, u32)> {
        (0..b.len()).map(|i| b.key(i)).collect()
    }

    /// The seqs of the rows of `bufs` (drained tables, or taken segments flattened), sorted.
    fn seqs<'a>(bufs: impl IntoIterator<Item = &'a RowBuf>) -> Vec<u64> {
        let mut s: Vec<u64> = bufs
            .into_iter()
            .flat_map(|b| (0..b.len()).map(|i| b.seq(i)))
            .collect();
        s.sort();
        s
    }

    /// Every value of row `i` as text, for comparisons.
    fn values(b: &RowBuf, table: usize, i: usize) -> Vec<String> {
        let mut out = Vec::new();
        b.visit(table, i, &mut |v| {
            out.push(match v {
                Value::Details(d) => d.to_json(),
                other => format!("{other:?}"),
            })
        });
        out
    }

    #[test]
    fn strings_of_every_length_read_back_as_written() {
        // Each length around the short copy's widths, and past it to the general path.
        let text: String = "aé-0123456789abcdefghijklmnopqrstuvwxyz".chars().collect();
        let mut out = vec![0xAA; 3]; // not at the start of the buffer
        let mut written = Vec::new();
        for end in 0..=text.len() {
            if let Some(s) = text.get(..end) {
                put_str(&mut out, s);
                written.push(s);
            }
        }
        assert!(written.iter().any(|s| s.len() > SHORT_STR));
        let mut b = &out[3..];
        for s in &written {
            assert_eq!(read_str(&mut b), *s, "{} bytes", s.len());
        }
        assert!(b.is_empty(), "nothing written past the strings");
        // The same from a buffer with no allocation at all, which grows on the first string.
        let mut fresh = Vec::new();
        for s in &written {
            put_str(&mut fresh, s);
        }
        let mut b = &fresh[..];
        for s in &written {
            assert_eq!(
                read_str(&mut b),
                *s,
                "{} bytes, from no allocation",
                s.len()
            );
        }
        assert!(b.is_empty());
    }

    #[test]
    fn details_read_back_as_written_when_the_buffer_grows_inside_them() {
        let long = "é".repeat(40);
        let details: Details = vec![
            ("qty", Detail::F64(0.25)),
            ("why", Detail::Str(long.clone())),
            ("n", Detail::I64(-3)),
            ("ok", Detail::Bool(true)),
            ("id", Detail::Id(id(&long))),
        ];
        for spare in [0, 7, 30, SLACK - 1, SLACK, SLACK + 1, 90, 1000] {
            let mut bytes = Vec::with_capacity(5 + spare);
            bytes.extend_from_slice(&[1, 2, 3, 4, 5]);
            RowWriter::new(&mut bytes).code(9).details(&details).code(8);
            assert_eq!(bytes[..6], [1, 2, 3, 4, 5, 9], "{spare} spare bytes");
            let mut b = &bytes[6..];
            let len = u32::from_le_bytes(take4(&mut b)) as usize;
            assert_eq!(len, b.len() - 1, "the blob's length, {spare} spare bytes");
            assert_eq!(DetailsRef(&b[..len]).to_json(), details_json(&details));
            assert_eq!(b[len..], [8]);
        }
    }

    #[test]
    fn taking_everything_hands_over_each_table_in_order() {
        let mut o = outbox(3, 3);
        let tables = o.drain_tables(100);
        assert!(o.is_empty());
        assert_eq!(keys(&tables[CONTROL_CHANGES]), [(1, 0), (2, 0), (3, 0)]);
        assert_eq!(
            keys(&tables[TRANSITIONS]),
            [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)],
            "numbered per table within a seq"
        );
        assert!(tables[FILLS].is_empty() && tables[INTENTS].is_empty());
    }

    #[test]
    fn a_buffers_bytes_are_its_rows_packed_bytes_and_grow_with_their_strings() {
        let sources = [0usize, 1, 127, 128, 1_000, 16_384, 100_000];
        let mut o = Outbox::default();
        for (seq, &len) in (1..).zip(&sources) {
            o.record_control(
                seq,
                &ControlRow {
                    ts: 1.0,
                    mode: ControlMode::Paper,
                    verbosity: Verbosity::Normal,
                    debug_clickhouse_enabled: true,
                    source: "s".repeat(len),
                },
            );
        }
        let mut rows = std::mem::take(&mut o.drain_tables(100)[CONTROL_CHANGES]);
        assert_eq!(rows.len(), sources.len());
        // Key, ts, mode and verbosity (varint length + name), the flag, then the source.
        let fixed = 12 + 8 + (1 + "PAPER".len()) + (1 + "NORMAL".len()) + 1;
        let varint = |n: usize| {
            if n < 128 {
                1
            } else if n < 16_384 {
                2
            } else {
                3
            }
        };
        let row = |len: usize| fixed + varint(len) + len;
        for (i, &len) in sources.iter().enumerate() {
            assert_eq!(rows.bytes_of(i, i + 1), row(len), "a source of {len} bytes");
        }
        let all: usize = sources.iter().map(|&l| row(l)).sum();
        assert_eq!(rows.bytes_of(0, rows.len()), all);
        assert_eq!(rows.bytes_of(2, 5), row(127) + row(128) + row(1_000));
        assert_eq!(rows.bytes_of(3, 3), 0);
        assert_eq!(rows.bytes_of(4, 2), 0);
        // Rows forgotten at the front are not counted; the rest keep their bytes.
        rows.discard_front(2);
        assert_eq!(rows.bytes_of(0, rows.len()), all - row(0) - row(1));
        assert_eq!(rows.bytes_of(0, 1), row(127));
        // A concatenation holds exactly its parts' bytes.
        let joined = RowBuf::concat(&[rows.clone(), rows.clone()]);
        assert_eq!(
            joined.bytes_of(0, joined.len()),
            2 * (all - row(0) - row(1))
        );
    }

    #[test]
    fn rows_read_back_as_written() {
        let mut o = Outbox::default();
        transition(&mut o, 7);
        o.record_account(
            8,
            &AccountRow {
                ts: 1.5,
                event_id: id("ev-é"),
                kind: AccountEventKind::AccountUpdate,
                asset: id("BTC"),
                amount: 2.0,
                fee: 0.1,
                fill_id: id(""),
                wallet_balance: Some(3.25),
                available_margin: None,
                used_margin: None,
                maint_margin: Some(0.0),
                k_capital: 10.0,
                reconcile_status: "OK",
                reconcile_delta: -0.5,
                accepted: false,
                diagnostic_code: KernelDiagnosticCode::UnknownOrder,
                fee_charged: Some(0.03),
            },
        );
        let t = o.drain_tables(usize::MAX);
        let tr = values(&t[TRANSITIONS], TRANSITIONS, 0);
        assert_eq!(tr.len(), TRANSITION_COLUMNS.len());
        assert_eq!(tr[0], "U64(7)");
        assert_eq!(tr[2], "Ts(0.5)");
        assert_eq!(tr[3], "Str(\"t\")");
        assert_eq!(tr[5], "Str(\"IDLE\")");
        assert_eq!(tr[7], "Str(\"ENTER\")");
        assert_eq!(
            tr[10],
            r#"{"qty":0.25,"n":-3,"ok":true,"why":"stale","id":"c-é","text":"a\"b"}"#
        );
        let ac = values(&t[ACCOUNT_EVENTS], ACCOUNT_EVENTS, 0);
        assert_eq!(ac.len(), ACCOUNT_COLUMNS.len());
        assert_eq!(ac[3], "Str(\"ev-é\")");
        assert_eq!(ac[9], "OptF64(Some(3.25))");
        assert_eq!(ac[10], "OptF64(None)");
        assert_eq!(ac[12], "OptF64(Some(0.0))");
        assert_eq!(ac[14], "Str(\"OK\")");
        assert_eq!(ac[15], "F64(-0.5)");
        assert_eq!(ac[16], "Bool(false)");
        assert_eq!(ac[17], "Str(\"UNKNOWN_ORDER\")");
        assert_eq!(ac[18], "OptF64(Some(0.03))");
    }

    #[test]
    fn refused_account_events_are_recorded_with_their_diagnostic() {
        use crate::kernel::Kernel;
        use crate::model::AccountEvent;
        let mut k = Kernel::new("k", 2).unwrap();
        k.set_journal_enabled(true);
        k.update_control(None, Some(Verbosity::Quiet), None, "test", 1.0);
        let _ = k.outbox.drain_tables(usize::MAX);
        // Rules 32 on, a settlement of no booked fill is held for it: one with its fee in
        // `amount` is refused.
        let mut unknown = AccountEvent::new("s1", AccountEventKind::FillSettled);
        unknown.fill_id = id("no-such-fill");
        unknown.amount = 0.5;
        unknown.timestamp = 2.0;
        let mut funding = AccountEvent::new("f1", AccountEventKind::FundingFee);
        funding.amount = -0.25;
        funding.timestamp = 3.0;
        let mut bad = AccountEvent::new("u1", AccountEventKind::AccountUpdate);
        bad.wallet_balance = Some(f64::NAN);
        bad.timestamp = 4.0;
        let outcomes: Vec<_> = [&unknown, &funding, &funding, &bad]
            .into_iter()
            .map(|ev| k.on_account_event(ev))
            .collect();
        let accepted: Vec<bool> = outcomes.iter().map(|o| o.accepted).collect();
        assert_eq!(accepted, [false, true, false, false]);
        let t = k.outbox.drain_tables(usize::MAX);
        let rows: Vec<Vec<String>> = (0..t[ACCOUNT_EVENTS].len())
            .map(|i| values(&t[ACCOUNT_EVENTS], ACCOUNT_EVENTS, i))
            .collect();
        let got: Vec<(&str, &str, &str, &str)> = rows
            .iter()
            .map(|r| (r[3].as_str(), r[4].as_str(), r[16].as_str(), r[17].as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "Str(\"s1\")",
                    "Str(\"FILL_SETTLED\")",
                    "Bool(false)",
                    "Str(\"INVALID_INTENT\")"
                ),
                (
                    "Str(\"f1\")",
                    "Str(\"FUNDING_FEE\")",
                    "Bool(true)",
                    "Str(\"OK\")"
                ),
                (
                    "Str(\"f1\")",
                    "Str(\"FUNDING_FEE\")",
                    "Bool(false)",
                    "Str(\"DUPLICATE_EVENT\")"
                ),
                (
                    "Str(\"u1\")",
                    "Str(\"ACCOUNT_UPDATE\")",
                    "Bool(false)",
                    "Str(\"INVALID_INTENT\")"
                ),
            ]
        );
        // Each row has its input's seq, and a refused one carries the account as it stands.
        let seqs: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        let want: Vec<String> = outcomes.iter().map(|o| format!("U64({})", o.seq)).collect();
        assert_eq!(seqs, want);
        assert_eq!(rows[2][13], rows[1][13], "the duplicate changed nothing");
        assert_eq!(
            rows[3][9], "OptF64(Some(NaN))",
            "the refused value as it came"
        );
        // Nothing was charged: a refused settlement, and the other kinds, leave fee_charged
        // empty.
        let charged: Vec<&str> = rows.iter().map(|r| r[18].as_str()).collect();
        assert_eq!(charged, ["OptF64(None)"; 4]);
    }

    #[test]
    fn a_settlements_row_holds_what_the_kernel_charged_the_fill() {
        use crate::kernel::Kernel;
        use crate::model::AccountEvent;
        let mut k = Kernel::new("k", 2).unwrap();
        k.set_journal_enabled(true);
        k.update_control(None, Some(Verbosity::Quiet), None, "test", 1.0);
        let fill = |k: &mut Kernel, coid: &Id, event_id: &str, fill_id: &str, size, filled| {
            let mut ev = VenueEvent::new(event_id, KernelEventKind::Fill, coid);
            (ev.price, ev.size, ev.filled_size, ev.fill_id) = (100.0, size, filled, id(fill_id));
            assert!(k.on_venue_event(&ev).accepted);
        };
        let settle = |k: &mut Kernel, event_id: &str, fill_id: &str, fee| {
            let mut ev = AccountEvent::new(event_id, AccountEventKind::FillSettled);
            (ev.fill_id, ev.asset, ev.fee) = (id(fill_id), id("BTC"), fee);
            k.on_account_event(&ev)
        };
        // Slot 0: a total of 2 (known by its event id "s1"), then trade "T2" of 3 at total 3,
        // of which the 1 left is booked. Slot 1: trade "W1" of 1, booked whole.
        let mut coids = Vec::new();
        for slot in 0..2 {
            let it = Intent::new(
                &format!("e{slot}"),
                &format!("t{slot}"),
                slot,
                "BTC",
                TradeSide::Long,
                KernelCommandType::Enter,
                100.0,
                10.0,
            );
            coids.push(k.process_intent(&it).submit.expect("sent").client_order_id);
        }
        fill(&mut k, &coids[0], "s1", "", 0.0, 2.0);
        fill(&mut k, &coids[0], "e2", "T2", 3.0, 3.0);
        fill(&mut k, &coids[1], "w1", "W1", 1.0, 1.0);
        let _ = k.outbox.drain_tables(usize::MAX);
        let part = settle(&mut k, "st", "T2", 0.18);
        let whole = settle(&mut k, "sw", "W1", 0.07);
        let again = settle(&mut k, "sw2", "W1", 0.07);
        assert!(part.accepted && whole.accepted && !again.accepted);
        let t = k.outbox.drain_tables(usize::MAX);
        let col = ACCOUNT_COLUMNS
            .iter()
            .position(|c| *c == "fee_charged")
            .unwrap();
        let charged: Vec<String> = (0..t[ACCOUNT_EVENTS].len())
            .map(|i| values(&t[ACCOUNT_EVENTS], ACCOUNT_EVENTS, i)[col].clone())
            .collect();
        // The share of the report's fee for the 1 of 3 booked under it, the whole fee of the
        // fill booked whole, nothing for the settlement refused.
        let share = 0.18 * 1.0 / 3.0;
        assert_eq!(
            charged,
            [
                format!("OptF64(Some({share:?}))"),
                "OptF64(Some(0.07))".into(),
                "OptF64(None)".into()
            ]
        );
    }

    #[test]
    fn every_table_reads_back_its_own_columns() {
        use crate::kernel::Kernel;
        let mut k = Kernel::new("k", 2).unwrap();
        k.set_journal_enabled(true);
        k.update_control(None, Some(Verbosity::Debug), None, "test", 1.0);
        let mut it = Intent::new(
            "e1",
            "t1",
            0,
            "BTC",
            TradeSide::Long,
            KernelCommandType::Enter,
            100.0,
            1.0,
        );
        it.reason = "why \"not\"".into();
        let out = k.process_intent(&it);
        let order = out.submit.expect("accepted");
        let mut fill = VenueEvent::new("f1", KernelEventKind::Fill, &order.client_order_id);
        fill.price = 100.0;
        fill.size = 1.0;
        fill.fill_id = id("exec-1");
        fill.fee = Some(0.02);
        fill.metadata
            .insert("venue".into(), MetaValue::Str("x".into()));
        assert!(k.on_venue_event(&fill).accepted);
        let mut limited = VenueEvent::new("r1", KernelEventKind::RateLimited, &id("c-9"));
        limited.retry_after = 2.5;
        let _ = k.on_venue_event(&limited);
        let tables = k.outbox.drain_tables(usize::MAX);
        for (t, buf) in tables.iter().enumerate() {
            if t == ACCOUNT_EVENTS {
                continue;
            }
            assert!(!buf.is_empty(), "{} has rows", TABLES[t]);
            for i in 0..buf.len() {
                assert_eq!(
                    values(buf, t, i).len(),
                    columns(TABLES[t]).len(),
                    "{}",
                    TABLES[t]
                );
            }
        }
        let intent = values(&tables[INTENTS], INTENTS, 0);
        assert_eq!(intent[3], "Str(\"e1\")");
        assert_eq!(intent[14], "Str(\"why \\\"not\\\"\")");
        let ev = values(&tables[VENUE_EVENTS], VENUE_EVENTS, 0);
        let col = |name| {
            columns("venue_events")
                .iter()
                .position(|c| *c == name)
                .unwrap()
        };
        assert_eq!(ev[col("fill_id")], "Str(\"exec-1\")");
        assert_eq!(ev[col("fee")], "OptF64(Some(0.02))");
        assert_eq!(ev[col("retry_after")], "F64(0.0)");
        assert_eq!(ev[col("metadata")], "Str(\"{\\\"venue\\\":\\\"x\\\"}\")");
        let limited = values(&tables[VENUE_EVENTS], VENUE_EVENTS, 1);
        assert_eq!(limited[col("fill_id")], "Str(\"\")");
        assert_eq!(limited[col("fee")], "OptF64(None)");
        assert_eq!(limited[col("retry_after")], "F64(2.5)");
        // Why the kernel refused or warned about an event is kept with it, as an intent's
        // is; an outcome with nothing to say leaves `{}`.
        assert_eq!(ev[col("severity")], "Str(\"INFO\")");
        assert_eq!(ev[col("details")], "{}");
        assert_eq!(limited[col("diagnostic_code")], "Str(\"UNKNOWN_ORDER\")");
        assert_eq!(limited[col("severity")], "Str(\"WARNING\")");
        assert_eq!(
            limited[col("details")],
            r#"{"venue_client_id":"c-9","venue_order_id":"","kind":"RATE_LIMITED"}"#
        );
    }

    #[test]
    fn a_partial_drain_ends_on_a_whole_seq() {
        let mut o = outbox(10, 3);
        // 7 rows allowed: seqs 1 and 2 (6 rows); seq 3 would make 9.
        let taken = o.drain_tables(7);
        assert_eq!(seqs(&taken), [1, 1, 1, 2, 2, 2]);
        assert_eq!(o.len(), 24);
        // Fewer rows allowed than the oldest seq holds: that seq still goes out whole.
        let taken = o.drain_tables(2);
        assert_eq!(seqs(&taken), [3, 3, 3]);
        assert_eq!(o.len(), 21);
        assert_eq!(seqs(&o.drain_tables(usize::MAX)).first(), Some(&4));
    }

    #[test]
    fn discard_from_forgets_the_newest_inputs_rows_across_segments() {
        let mut o = Outbox {
            enabled: true,
            ..Outbox::default()
        };
        for seq in 1..=3 {
            transition(&mut o, seq);
            control(&mut o, seq);
        }
        // Enough rows of seq 4 to run over into further segments.
        for _ in 0..5000 {
            transition(&mut o, 4);
        }
        control(&mut o, 4);
        assert!(o.tables[TRANSITIONS].len() > 1);
        assert_eq!(o.discard_from(4), 5001);
        assert_eq!((o.len(), o.queued_total), (6, 6));
        assert_eq!(o.tables[TRANSITIONS].len(), 1);
        assert_eq!(o.discard_from(9), 0);
        assert_eq!(seqs(&o.drain_tables(usize::MAX)), [1, 1, 2, 2, 3, 3]);
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_row_of_any_table_and_counts_it() {
        let mut o = Outbox {
            capacity: 4,
            ..Outbox::default()
        };
        transition(&mut o, 1);
        control(&mut o, 2);
        transition(&mut o, 3);
        control(&mut o, 4);
        control(&mut o, 5);
        assert_eq!((o.len(), o.dropped, o.queued_total), (4, 1, 5));
        assert_eq!(o.first_seq(), Some(2), "a dropped row is not held");
        assert_eq!(
            seqs(&o.drain_tables(100)),
            [2, 3, 4, 5],
            "seq 1 was the oldest"
        );
        assert_eq!(o.first_seq(), None);
    }

    #[test]
    fn a_full_outbox_drops_whole_inputs_but_never_the_one_being_recorded() {
        let mut o = Outbox {
            capacity: 4,
            ..Outbox::default()
        };
        for _ in 0..3 {
            transition(&mut o, 1);
        }
        control(&mut o, 2);
        control(&mut o, 3); // full: all three rows of input 1 go
        assert_eq!((o.len(), o.dropped, o.first_seq()), (2, 3, Some(2)));
        assert_eq!(o.first_dropped_seq, Some(1));
        for _ in 0..5 {
            transition(&mut o, 4); // input 4 pushes out 2 and 3, then outgrows the capacity
        }
        assert_eq!((o.len(), o.dropped, o.first_seq()), (5, 5, Some(4)));
        control(&mut o, 5);
        assert_eq!((o.len(), o.dropped), (1, 10));
        assert_eq!(
            o.first_dropped_seq,
            Some(1),
            "the oldest drop is what a journal needs"
        );
        assert_eq!(seqs(&o.drain_tables(100)), [5]);
        control(&mut o, 6);
        o.restart();
        assert_eq!(
            (o.len(), o.first_seq(), o.first_dropped_seq),
            (0, None, None)
        );
        control(&mut o, 7);
        assert_eq!(seqs(&o.drain_tables(100)), [7]);
    }

    #[test]
    fn a_cleared_drop_mark_stays_clear_for_the_inputs_it_covers() {
        let mut o = Outbox {
            capacity: 2,
            ..Outbox::default()
        };
        for seq in 1..=3 {
            control(&mut o, seq); // input 1 dropped
        }
        assert_eq!(o.first_dropped_seq, Some(1));
        o.clear_drop_mark(3); // rows of 1..=3 come from the log now
        assert_eq!(o.first_dropped_seq, None);
        control(&mut o, 4); // drops input 2: covered, not marked
        assert_eq!((o.first_dropped_seq, o.first_seq()), (None, Some(3)));
        control(&mut o, 5); // drops 3, covered
        control(&mut o, 6); // drops 4: not covered
        assert_eq!((o.dropped, o.first_dropped_seq), (4, Some(4)));
        o.clear_drop_mark(2); // an older span never lowers what is covered
        control(&mut o, 7); // drops 5
        assert_eq!(o.first_dropped_seq, Some(5));
    }

    /// An outbox with a pool of its own, so what a test sees in it is its own doing.
    pub(super) fn own_pool(capacity: usize) -> Outbox {
        Outbox {
            capacity,
            pool: Box::leak(Box::new(SegmentPool::new())),
            ..Outbox::default()
        }
    }

    /// Records one transition per seq, from `seq + 1` on, until the transitions span
    /// `segments` segments; returns the last seq recorded.
    fn fill_segments(o: &mut Outbox, mut seq: u64, segments: usize) -> u64 {
        while o.tables[TRANSITIONS].len() < segments {
            seq += 1;
            transition(o, seq);
        }
        seq
    }

    /// Where each segment of `table` keeps its bytes.
    fn addresses(o: &Outbox, table: usize) -> Vec<*const u8> {
        o.tables[table].iter().map(|s| s.bytes.as_ptr()).collect()
    }

    #[test]
    fn a_full_segment_is_never_regrown_the_next_row_starts_a_new_one() {
        let mut o = own_pool(usize::MAX);
        // Every segment keeps the memory it started with while its rows are added.
        let mut seen: Vec<*const u8> = Vec::new();
        let mut seq = 0;
        while o.tables[TRANSITIONS].len() < 4 {
            seq += 1;
            transition(&mut o, seq);
            let segments = &o.tables[TRANSITIONS];
            let back = segments.last().unwrap();
            assert!(back.is_segment(), "row {seq}: the sizes it was made with");
            match seen.get(segments.len() - 1) {
                Some(&at) => assert_eq!(back.bytes.as_ptr(), at, "row {seq} moved its segment"),
                None => seen.push(back.bytes.as_ptr()),
            }
        }
        assert_eq!(addresses(&o, TRANSITIONS), seen);
        for full in &o.tables[TRANSITIONS][..3] {
            assert!(
                full.bytes.len() + ROW_ROOM > SEGMENT_BYTES,
                "a segment is left only when full: {} bytes",
                full.bytes.len()
            );
        }
        // Short rows run out of row starts first: the segment ends there, bytes to spare.
        let mut seq = 0;
        while o.tables[CONTROL_CHANGES].len() < 2 {
            seq += 1;
            control(&mut o, seq);
        }
        let first = &o.tables[CONTROL_CHANGES][0];
        assert_eq!(first.len(), SEGMENT_ROWS);
        assert!(first.is_segment() && first.bytes.len() + ROW_ROOM <= SEGMENT_BYTES);
        let all = o.drain_tables(usize::MAX);
        assert_eq!(
            all[TRANSITIONS].len() + all[CONTROL_CHANGES].len(),
            o.queued_total as usize
        );
        assert_eq!(seqs(&all).len(), o.queued_total as usize);
    }

    #[test]
    fn a_whole_take_hands_out_the_segments_and_a_partial_one_copies_at_most_one() {
        let mut o = own_pool(usize::MAX);
        let last = fill_segments(&mut o, 0, 4);
        let at = addresses(&o, TRANSITIONS);
        let lens: Vec<usize> = o.tables[TRANSITIONS].iter().map(RowBuf::len).collect();
        // The cut falls in the middle of the third segment.
        let max_rows = lens[0] + lens[1] + lens[2] / 2;
        let taken = o.take_rows(max_rows);
        let part = &taken[TRANSITIONS];
        assert_eq!(part.len(), 3);
        assert_eq!(
            [part[0].bytes.as_ptr(), part[1].bytes.as_ptr()],
            [at[0], at[1]],
            "the segments below the cut go out as they are"
        );
        assert_ne!(
            part[2].bytes.as_ptr(),
            at[2],
            "the rows below the cut are a copy"
        );
        assert_eq!(part[2].len(), lens[2] / 2);
        assert_eq!(
            seqs(taken.iter().flatten()),
            (1..=max_rows as u64).collect::<Vec<u64>>()
        );
        // The segment the cut fell in keeps the rest of its rows where they are.
        assert_eq!(addresses(&o, TRANSITIONS), at[2..]);
        assert_eq!(o.tables[TRANSITIONS][0].len(), lens[2] - lens[2] / 2);
        assert_eq!(o.len(), lens[2] - lens[2] / 2 + lens[3]);
        assert_eq!(o.first_seq(), Some(max_rows as u64 + 1));
        // Taking everything hands out every segment, copying nothing.
        let rest = o.take_rows(usize::MAX);
        let rest_at: Vec<*const u8> = rest[TRANSITIONS].iter().map(|s| s.bytes.as_ptr()).collect();
        assert_eq!(rest_at, at[2..]);
        assert_eq!(
            seqs(rest.iter().flatten()),
            (max_rows as u64 + 1..=last).collect::<Vec<u64>>()
        );
        assert!(o.is_empty() && o.tables.iter().all(Vec::is_empty));
    }

    #[test]
    fn a_take_through_a_seq_leaves_the_later_inputs_whole() {
        let mut o = own_pool(usize::MAX);
        let last = fill_segments(&mut o, 0, 2);
        let held = o.len();
        // Nothing yet in the log: nothing taken, not even the oldest input.
        assert!(o
            .take_rows_through(usize::MAX, Some(0))
            .iter()
            .all(Vec::is_empty));
        assert_eq!(o.len(), held);
        let taken = o.take_rows_through(usize::MAX, Some(last / 2));
        assert_eq!(
            seqs(taken.iter().flatten()),
            (1..=last / 2).collect::<Vec<u64>>()
        );
        assert_eq!(o.first_seq(), Some(last / 2 + 1));
        // Bounded by both: the fewer rows win.
        let taken = o.take_rows_through(3, Some(last));
        assert_eq!(
            seqs(taken.iter().flatten()),
            (last / 2 + 1..=last / 2 + 3).collect::<Vec<u64>>()
        );
        // Past the newest input: everything left, as take_rows.
        let rest = o.take_rows_through(usize::MAX, Some(last + 10));
        assert_eq!(
            seqs(rest.iter().flatten()),
            (last / 2 + 4..=last).collect::<Vec<u64>>()
        );
        assert!(o.is_empty());
    }

    #[test]
    fn a_take_never_splits_an_input_whose_rows_span_segments() {
        let mut o = own_pool(usize::MAX);
        // Inputs 1..=before fill the first segment; the next one's rows fill the second
        // and run into the third, where one more input follows.
        let spanning = fill_segments(&mut o, 0, 2);
        let before = spanning - 1;
        control(&mut o, spanning);
        while o.tables[TRANSITIONS].len() < 3 {
            transition(&mut o, spanning);
        }
        let spanning_rows = o.len() - before as usize;
        transition(&mut o, spanning + 1);
        // Allowed all but one row of the spanning input: the take ends before it.
        let taken = o.take_rows(before as usize + spanning_rows - 1);
        assert_eq!(
            seqs(taken.iter().flatten()),
            (1..=before).collect::<Vec<u64>>()
        );
        assert_eq!(o.first_seq(), Some(spanning));
        // Allowed fewer rows than it alone has: it goes out whole, over both segments.
        let taken = o.take_rows(1);
        assert_eq!(seqs(taken.iter().flatten()), vec![spanning; spanning_rows]);
        assert_eq!(
            taken[TRANSITIONS].len(),
            2,
            "the second segment whole, a copy of the third's first row"
        );
        assert_eq!(taken[TRANSITIONS][1].len(), 1);
        assert_eq!((o.len(), o.first_seq()), (1, Some(spanning + 1)));
    }

    #[test]
    fn small_takes_from_a_large_outbox_pass_over_rows_instead_of_moving_the_rest() {
        let mut o = own_pool(usize::MAX);
        let last = fill_segments(&mut o, 0, 3);
        let at = addresses(&o, TRANSITIONS);
        let mut seen = Vec::new();
        // A journal behind takes 10 rows at a time: each take copies those rows, at most
        // two segments' worth of them, and every row left stays where it was written.
        while !o.is_empty() {
            let taken = o.take_rows(10);
            assert!(taken[TRANSITIONS].len() <= 2);
            seen.extend(seqs(taken.iter().flatten()));
            let left = addresses(&o, TRANSITIONS);
            assert_eq!(left, at[at.len() - left.len()..]);
        }
        // Rows come out whole, once, in order, whatever was handed out in between.
        assert_eq!(seen, (1..=last).collect::<Vec<u64>>());
        transition(&mut o, last + 1);
        assert_eq!(seqs(&o.drain_tables(usize::MAX)), [last + 1]);
    }

    #[test]
    fn a_full_outbox_nobody_drains_holds_its_capacity_and_a_segment_per_table() {
        let mut o = own_pool(5_000);
        let mut most = 0;
        for seq in 1..=40_000 {
            transition(&mut o, seq);
            // Rows still in memory, live or passed over.
            let held: usize = o.tables[TRANSITIONS].iter().map(|s| s.starts.len()).sum();
            most = most.max(held);
        }
        assert_eq!((o.len(), o.dropped), (5_000, 35_000));
        let per_segment = o.tables[TRANSITIONS][0].starts.len();
        assert!(
            most <= 5_000 + per_segment,
            "{most} rows held for 5,000 live, {per_segment} a segment"
        );
        let left = o.drain_tables(usize::MAX);
        assert_eq!(seqs(&left), (35_001..=40_000).collect::<Vec<u64>>());
    }

    #[test]
    fn a_segment_emptied_by_drops_goes_back_to_the_pool_for_the_next_rows() {
        let per_segment = fill_segments(&mut own_pool(usize::MAX), 0, 2) - 1;
        let capacity = per_segment / 2;
        let mut o = own_pool(capacity as usize);
        // Full from input `capacity` on: each input drops the oldest. The first segment
        // now holds only its last row; the second has room.
        let mut seq = per_segment + capacity - 1;
        for s in 1..=seq {
            transition(&mut o, s);
        }
        let at = addresses(&o, TRANSITIONS);
        assert_eq!((at.len(), o.tables[TRANSITIONS][0].len()), (2, 1));
        assert_eq!(o.pool.held(), 0);
        seq += 1;
        transition(&mut o, seq);
        assert_eq!(o.dropped, per_segment);
        assert_eq!(o.pool.held(), 1, "the emptied segment");
        assert_eq!(addresses(&o, TRANSITIONS), at[1..]);
        // When the second is full, the table goes on in the first one's memory.
        let last = fill_segments(&mut o, seq, 2);
        assert_eq!(addresses(&o, TRANSITIONS), [at[1], at[0]]);
        assert_eq!(o.pool.held(), 0);
        assert_eq!(o.first_seq(), Some(last - capacity + 1));
        assert_eq!(
            seqs(&o.drain_tables(usize::MAX)),
            (last - capacity + 1..=last).collect::<Vec<u64>>()
        );
        // A table's only segment goes back too, emptied by a row of another table.
        let mut one = own_pool(2);
        control(&mut one, 1);
        transition(&mut one, 2);
        transition(&mut one, 3);
        assert_eq!((one.dropped, one.pool.held()), (1, 1));
        assert!(one.tables[CONTROL_CHANGES].is_empty());
        assert_eq!(one.first_seq(), Some(2));
    }

    #[test]
    fn a_row_larger_than_its_segments_room_regrows_it_once_and_ends_it() {
        let mut o = own_pool(usize::MAX);
        transition(&mut o, 1);
        control(&mut o, 1);
        let source = "x".repeat(SEGMENT_BYTES + 100);
        o.record_control(
            2,
            &ControlRow {
                ts: 2.0,
                mode: ControlMode::Paper,
                verbosity: Verbosity::Normal,
                debug_clickhouse_enabled: true,
                source: source.clone(),
            },
        );
        control(&mut o, 3);
        control(&mut o, 4);
        let segments = &o.tables[CONTROL_CHANGES];
        assert_eq!(
            segments.iter().map(RowBuf::len).collect::<Vec<_>>(),
            [2, 2],
            "the rows after it start a new segment"
        );
        assert!(
            !segments[0].is_segment(),
            "it regrew the segment it started in"
        );
        assert!(segments[1].is_segment());
        assert_eq!(
            values(&segments[0], CONTROL_CHANGES, 1)[6],
            format!("Str({source:?})")
        );
        // A take whose cut falls after it hands its segment out as it is.
        let big = segments[0].bytes.as_ptr();
        let taken = o.take_rows(3);
        assert_eq!(seqs(taken.iter().flatten()), [1, 1, 2]);
        assert_eq!(taken[CONTROL_CHANGES].len(), 1);
        assert_eq!(taken[CONTROL_CHANGES][0].bytes.as_ptr(), big);
        assert_eq!(seqs(o.take_rows(usize::MAX).iter().flatten()), [3, 4]);
        // Given back, the regrown segment is freed rather than kept at its size.
        for segments in taken {
            o.pool.give(segments);
        }
        assert_eq!(
            o.pool.held(),
            1,
            "the transitions' segment, not the regrown one"
        );
    }

    #[test]
    fn a_cloned_outbox_goes_on_in_a_segment_of_its_own() {
        let mut o = own_pool(usize::MAX);
        transition(&mut o, 1);
        let mut copy = o.clone();
        transition(&mut copy, 2);
        let segments = &copy.tables[TRANSITIONS];
        assert_eq!(
            segments.len(),
            2,
            "the clone's copy of a segment has no room to spare"
        );
        assert!(segments[1].is_segment());
        assert_eq!(seqs(&copy.drain_tables(usize::MAX)), [1, 2]);
        assert_eq!(seqs(&o.drain_tables(usize::MAX)), [1]);
    }

    #[test]
    fn drained_segments_come_back_for_the_next_kernels_rows() {
        let mut o = own_pool(usize::MAX);
        fill_segments(&mut o, 0, 2);
        let at = addresses(&o, TRANSITIONS);
        for segments in o.take_rows(usize::MAX) {
            o.pool.give(segments);
        }
        assert_eq!(o.pool.held(), 2);
        // A new outbox on the same pool writes into the memory drained from the first.
        let mut next = Outbox {
            pool: o.pool,
            ..Outbox::default()
        };
        control(&mut next, 1);
        transition(&mut next, 1);
        let reused = [
            addresses(&next, CONTROL_CHANGES)[0],
            addresses(&next, TRANSITIONS)[0],
        ];
        assert_eq!(reused, [at[1], at[0]], "the last given back goes out first");
        assert_eq!(o.pool.held(), 0);
        // The pool keeps up to its cap, and only segments.
        o.pool
            .give((0..POOLED_SEGMENTS + 6).map(|_| RowBuf::segment()));
        o.pool.give([RowBuf::concat(&[])]);
        assert_eq!(o.pool.held(), POOLED_SEGMENTS);
    }
}
