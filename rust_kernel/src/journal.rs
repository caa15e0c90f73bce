//! The journal outbox: rows the kernel leaves for a journal writer to drain, gated by
//! verbosity. Nothing here does I/O; the hot path only appends to a bounded buffer.
//!
//! A row is stored the way the journal will read it, packed back to back in one byte buffer
//! per table ([`RowBuf`]): `seq u64 | sub u32` and then the table's columns (see the
//! `*_KINDS` lists) as fixed-width little-endian numbers, `varint length + bytes` strings and
//! details as a small self-describing blob. Capturing a row is a few short copies, with no
//! allocation and nothing to drop later; whoever writes the journal reads the values back
//! with [`RowBuf::visit`] (into Python tuples, or into ClickHouse Native blocks).
//! The `record_*` methods are the only writers: each lists its table's values in column
//! order, and a test reads every table back against them.

use crate::model::{prefetch_bytes, Intent, KernelOutcome, KernelTransition, VenueEvent};
use crate::types::*;
use std::sync::{Arc, Mutex};

pub mod native;

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
    "accepted",
    "diagnostic_code",
    "metadata",
];

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
/// lists above (`kernel_id`, sent first as `String`, excluded). The tables declare enums as
/// `LowCardinality(String)`; ClickHouse converts a `String` column into them on insert, so
/// the wire types are the table types without `LowCardinality` (and, for always-present
/// strings, without `Nullable`). A test checks them against the schema.
const TS: &str = "DateTime64(6, 'UTC')";
pub const FILL_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "Int64", "String", "String", "String", "String", "String",
    "String", "String", "Float64", "Float64", "Float64", "String", "Float64",
];
pub const ACCOUNT_TYPES: &[&str] = &[
    "UInt64",
    "UInt32",
    TS,
    "String",
    "String",
    "String",
    "Float64",
    "Float64",
    "String",
    "Nullable(Float64)",
    "Nullable(Float64)",
    "Nullable(Float64)",
    "Nullable(Float64)",
    "Float64",
    "String",
    "Float64",
];
pub const CONTROL_TYPES: &[&str] = &["UInt64", "UInt32", TS, "String", "String", "Bool", "String"];
pub const TRANSITION_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "Int64", "String", "String", "String", "String", "String",
    "String",
];
pub const INTENT_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "String", "Int64", "String", "String", "String", "String",
    "Float64", "Float64", "Float64", "Float64", "String", "Bool", "String", "String", "String",
];
pub const VENUE_EVENT_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "String", "Int64", "String", "String", "String", "String",
    "String", "String", "Float64", "Float64", "Float64", "Float64", "String", "Bool", "String",
    "String",
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
    K::Bool,
    K::Str,
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

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[inline(always)]
fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if b.len() <= SHORT_STR {
        put_short_str(out, b);
    } else {
        put_long_str(out, b);
    }
}

#[inline(never)]
fn put_long_str(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Strings up to this long are appended by [`put_short_str`].
const SHORT_STR: usize = 32;

/// Appends a string of at most [`SHORT_STR`] bytes (its length fits the one-byte varint)
/// straight into the buffer's spare capacity, without a call to `memcpy`: ids, assets and
/// detail keys are short, and a general copy of a few bytes costs the hot path more than the
/// copy itself.
#[inline(always)]
fn put_short_str(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len();
    assert!(n <= SHORT_STR);
    out.reserve(1 + SHORT_STR);
    let len = out.len();
    // SAFETY: `reserve` left room for 1 + SHORT_STR >= 1 + n bytes past `len`; `copy_short`
    // reads `b`'s n bytes and writes n bytes from `dst + 1`; `set_len` covers exactly the
    // 1 + n bytes written.
    unsafe {
        let dst = out.as_mut_ptr().add(len);
        dst.write(n as u8);
        copy_short(b.as_ptr(), dst.add(1), n);
        out.set_len(len + 1 + n);
    }
}

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
    // Only `put_str` writes these bytes, from a &str.
    std::str::from_utf8(bytes).expect("row buffers hold the utf-8 they were given")
}

fn put_details(out: &mut Vec<u8>, details: &[(&'static str, Detail)]) {
    // Length first (fixed width, filled in at the end), so a reader can skip the blob.
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    put_varint(out, details.len() as u64);
    for (k, v) in details {
        put_str(out, k);
        let tagged = |tag: u8, x: [u8; 8]| {
            let mut b = [tag; 9];
            b[1..].copy_from_slice(&x);
            b
        };
        match v.as_ref() {
            DetailRef::Str(s) => {
                out.push(0);
                put_str(out, s);
            }
            DetailRef::F64(x) => out.extend_from_slice(&tagged(1, x.to_le_bytes())),
            DetailRef::I64(x) => out.extend_from_slice(&tagged(2, x.to_le_bytes())),
            DetailRef::Bool(x) => out.extend_from_slice(&[3, u8::from(x)]),
        }
    }
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// How far ahead of the end of a row buffer [`RowBuf::begin`] prefetches, in bytes.
const ROW_AHEAD: usize = 512;

/// Rows of one table, packed back to back (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct RowBuf {
    bytes: Vec<u8>,
    /// Where each row starts in `bytes`.
    starts: Vec<usize>,
    /// Rows before it were taken (`discard_front`) and wait to be freed together: row `i` is
    /// `starts[head + i]`.
    head: usize,
}

impl RowBuf {
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

    /// Appends row `i` of `other`.
    pub fn push_from(&mut self, other: &RowBuf, i: usize) {
        self.starts.push(self.bytes.len());
        self.bytes.extend_from_slice(other.row(i));
    }

    /// Rows `from..to` as a buffer of their own.
    pub fn copy_range(&self, from: usize, to: usize) -> RowBuf {
        let mut out = RowBuf::default();
        let (from, to) = (self.head + from, self.head + to);
        if from < to {
            let base = self.starts[from];
            let end = self.starts.get(to).copied().unwrap_or(self.bytes.len());
            out.bytes.extend_from_slice(&self.bytes[base..end]);
            out.starts
                .extend(self.starts[from..to].iter().map(|s| s - base));
        }
        out
    }

    /// Forgets the first `n` rows. The kernel is borrowed (and the GIL held) meanwhile, so
    /// this must not cost what the buffer holds: a journal behind takes a little at a time
    /// from an outbox of millions of rows. The rows are only passed over, and freed (the
    /// rest moved to the front) once they are at least as many as the rows left, so each
    /// row is moved at most once per row taken after it.
    fn discard_front(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.head += n;
        debug_assert!(self.head <= self.starts.len());
        if self.head >= self.starts.len() {
            self.clear();
        } else if 2 * self.head >= self.starts.len() {
            let base = self.starts[self.head];
            self.bytes.drain(..base);
            self.starts.drain(..self.head);
            for s in &mut self.starts {
                *s -= base;
            }
            self.head = 0;
        }
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
        self.head = 0;
    }

    /// Starts a row of `(seq, sub)`; the caller appends its values.
    fn begin(&mut self, seq: u64, sub: u32) -> &mut Vec<u8> {
        // Room for a typical row at once, so its values never wait on a regrowth.
        self.bytes.reserve(256);
        // The buffers are written once, front to back, far too much to stay in cache: each
        // new cache line would stall the writer on a load from memory. Asking for the lines a
        // few rows ahead lets those loads overlap with the kernel's work instead.
        let (bytes, starts) = (self.bytes.len(), self.starts.len());
        prefetch_bytes(self.bytes.as_ptr().wrapping_add(bytes + ROW_AHEAD), 128);
        prefetch_bytes(self.starts.as_ptr().wrapping_add(starts + 8).cast(), 64);
        self.starts.push(self.bytes.len());
        self.bytes.extend_from_slice(&seq.to_le_bytes());
        self.bytes.extend_from_slice(&sub.to_le_bytes());
        &mut self.bytes
    }
}

/// Appends values to a row being written, in column order.
struct RowWriter<'a>(&'a mut Vec<u8>);

impl RowWriter<'_> {
    #[inline]
    fn code(&mut self, c: u8) -> &mut Self {
        self.0.push(c);
        self
    }
    #[inline]
    fn f64(&mut self, x: f64) -> &mut Self {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    #[inline]
    fn i64(&mut self, x: i64) -> &mut Self {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    #[inline]
    fn opt(&mut self, x: Option<f64>) -> &mut Self {
        self.0.push(u8::from(x.is_some()));
        self.f64(x.unwrap_or(0.0))
    }
    #[inline]
    fn bool(&mut self, x: bool) -> &mut Self {
        self.0.push(u8::from(x));
        self
    }
    #[inline]
    fn str(&mut self, s: &str) -> &mut Self {
        put_str(self.0, s);
        self
    }
    fn details(&mut self, d: &[(&'static str, Detail)]) -> &mut Self {
        put_details(self.0, d);
        self
    }
}

pub const DEFAULT_JOURNAL_CAPACITY: usize = 1_000_000;

/// Dropped rows a table accumulates at least before they are freed.
const COMPACT_AFTER: usize = 64;

/// Emptied row buffers handed back by whoever drained them, so the outbox refills memory that
/// is already mapped instead of growing fresh buffers (page faults, copies) after each drain.
/// Each table has a pool of its own: a table gets back buffers grown to its own rows, not a
/// small one from a quiet table that it would have to regrow.
#[derive(Debug, Default)]
pub struct Recycler(Arc<Mutex<[Vec<RowBuf>; 6]>>);

/// Buffers kept for reuse per table at most: a drain takes one; a second covers the rows
/// of the previous drain, still being copied out.
const RECYCLED_BUFFERS: usize = 2;

impl Clone for Recycler {
    /// A cloned outbox gets a pool of its own.
    fn clone(&self) -> Self {
        Recycler::default()
    }
}

impl Recycler {
    /// A handle on the same pool (for a drainer on another thread).
    pub fn share(&self) -> Recycler {
        Recycler(Arc::clone(&self.0))
    }

    /// Takes back a buffer of `table` (an index into `TABLES`) whose rows were written.
    pub fn give(&self, table: usize, mut buffer: RowBuf) {
        buffer.clear();
        let mut pools = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = pools.get_mut(table).filter(|p| p.len() < RECYCLED_BUFFERS) {
            pool.push(buffer);
        }
    }

    fn take(&self, table: usize) -> Option<RowBuf> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())[table].pop()
    }
}

/// Rows waiting for a journal, one buffer per table (in `TABLES` order), each in seq order.
#[derive(Clone, Debug)]
pub struct Outbox {
    pub enabled: bool,
    pub verbosity: Verbosity,
    /// Rows held at most; beyond it the oldest row is dropped and counted.
    pub capacity: usize,
    tables: [RowBuf; 6],
    /// Rows at the front of each table dropped for capacity, still in the buffer.
    dropped_front: [usize; 6],
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
    pub recycler: Recycler,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            enabled: false,
            verbosity: Verbosity::Normal,
            capacity: DEFAULT_JOURNAL_CAPACITY,
            tables: Default::default(),
            dropped_front: [0; 6],
            len: 0,
            dropped: 0,
            first_dropped_seq: None,
            covered_through: 0,
            queued_total: 0,
            cur_seq: 0,
            subs: [0; 6],
            recycler: Recycler::default(),
        }
    }
}

impl Outbox {
    #[inline]
    pub fn wants(&self, level: Verbosity) -> bool {
        self.enabled && self.verbosity >= level
    }

    /// Starts a row of `table` for input `seq`: numbers it within the input, makes room.
    fn begin(&mut self, table: usize, seq: u64) -> RowWriter<'_> {
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
        RowWriter(self.tables[table].begin(seq, sub))
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
        let Some((oldest, _)) = self.oldest().filter(|&(seq, _)| seq != self.cur_seq) else {
            return;
        };
        if oldest > self.covered_through {
            self.first_dropped_seq.get_or_insert(oldest);
        }
        for t in 0..6 {
            let table = &self.tables[t];
            let mut front = self.dropped_front[t];
            while front < table.len() && table.seq(front) == oldest {
                front += 1;
                self.len -= 1;
                self.dropped += 1;
            }
            // Free dropped rows once they are half the table (amortised O(1) per row), so a
            // full outbox that nobody drains stays within about twice its capacity.
            if front >= COMPACT_AFTER && front * 2 >= table.len() {
                self.tables[t].discard_front(front);
                front = 0;
            }
            self.dropped_front[t] = front;
        }
    }

    /// Forgets every row held and every drop counted since the last restart: for a journal
    /// that derives the rows up to now from the write-ahead log instead. The buffers are kept.
    pub fn restart(&mut self) {
        for (t, rows) in self.take_rows(usize::MAX).0.into_iter().enumerate() {
            self.recycler.give(t, rows);
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

    /// The oldest row held (rows dropped for capacity are not held): its seq and table.
    fn oldest(&self) -> Option<(u64, usize)> {
        (0..6)
            .filter(|&t| self.dropped_front[t] < self.tables[t].len())
            .map(|t| (self.tables[t].seq(self.dropped_front[t]), t))
            .min()
    }

    /// The seq of the oldest row held.
    pub fn first_seq(&self) -> Option<u64> {
        self.oldest().map(|(seq, _)| seq)
    }

    /// How many live rows of `table` have a seq below `cut`.
    fn count_below(&self, table: usize, cut: u64) -> usize {
        let (buf, front) = (&self.tables[table], self.dropped_front[table]);
        let (mut lo, mut hi) = (front, buf.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if buf.seq(mid) < cut {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo - front
    }

    /// Takes the oldest rows, per table in `TABLES` order: every row below some seq, and at
    /// most `max_rows` of them unless the oldest seq alone has more (it is never split, so a
    /// drain always ends on a whole input: whoever stores drains in order knows every row
    /// below the last seq it stored is stored). Taking everything swaps the buffers for
    /// recycled ones, so draining costs the kernel no copying.
    pub fn drain_tables(&mut self, max_rows: usize) -> [RowBuf; 6] {
        self.take_rows(max_rows).0
    }

    /// [`Outbox::drain_tables`], also saying whether the buffers were swapped (they are the
    /// outbox's own, to be given back to its recycler) rather than the rows copied out.
    pub fn take_rows(&mut self, max_rows: usize) -> ([RowBuf; 6], bool) {
        for t in 0..6 {
            let n = std::mem::take(&mut self.dropped_front[t]);
            self.tables[t].discard_front(n);
        }
        if self.len <= max_rows {
            self.len = 0;
            let swapped = std::array::from_fn(|t| {
                let next = self.recycler.take(t).unwrap_or_default();
                std::mem::replace(&mut self.tables[t], next)
            });
            return (swapped, true);
        }
        let live = |b: &RowBuf| !b.is_empty();
        let first = self
            .tables
            .iter()
            .filter(|b| live(b))
            .map(|b| b.seq(0))
            .min();
        let last = self
            .tables
            .iter()
            .filter(|b| live(b))
            .map(|b| b.seq(b.len() - 1))
            .max();
        let (Some(first), Some(last)) = (first, last) else {
            return (Default::default(), false);
        };
        let below = |o: &Self, cut: u64| (0..6).map(|t| o.count_below(t, cut)).sum::<usize>();
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
        let out = std::array::from_fn(|t| {
            let n = self.count_below(t, lo);
            let taken = self.tables[t].copy_range(0, n);
            self.tables[t].discard_front(n);
            taken
        });
        self.len = self.tables.iter().map(RowBuf::len).sum();
        (out, false)
    }

    /// Records an intent and the transitions it caused, as verbosity allows.
    pub fn record_intent(&mut self, intent: &Intent, out: &KernelOutcome) {
        if self.wants(Verbosity::Normal) {
            self.begin(INTENTS, out.seq)
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
                .details(&out.details);
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

    fn record_transition(&mut self, seq: u64, t: &KernelTransition) {
        self.begin(TRANSITIONS, seq)
            .f64(t.timestamp)
            .str(&t.trade_id)
            .i64(t.slot_id as i64)
            .code(t.prev_state.code())
            .code(t.next_state.code())
            .str(t.trigger)
            .str(&t.intent_id)
            .str(&t.event_id)
            .details(&t.details);
    }

    pub fn record_venue_event(&mut self, ev: &VenueEvent, out: &KernelOutcome) {
        if self.wants(Verbosity::Debug) {
            self.begin(VENUE_EVENTS, out.seq)
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
                .bool(out.accepted)
                .str(out.diagnostic_code.name())
                .str(&metadata_json(&ev.metadata));
        }
        self.record_transitions(out);
    }

    pub fn record_fill(&mut self, seq: u64, f: &FillRow) {
        self.begin(FILLS, seq)
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
        self.begin(ACCOUNT_EVENTS, seq)
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
            .f64(a.reconcile_delta);
    }

    pub fn record_control(&mut self, seq: u64, c: &ControlRow) {
        self.begin(CONTROL_CHANGES, seq)
            .f64(c.ts)
            .str(c.mode.name())
            .str(c.verbosity.name())
            .bool(c.debug_clickhouse_enabled)
            .str(&c.source);
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

    fn transition(o: &mut Outbox, seq: u64) {
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
            ],
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

    fn seqs(tables: &[RowBuf; 6]) -> Vec<u64> {
        let mut s: Vec<u64> = tables
            .iter()
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
        for s in written {
            assert_eq!(read_str(&mut b), s, "{} bytes", s.len());
        }
        assert!(b.is_empty(), "nothing written past the strings");
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
        fill.metadata
            .insert("venue".into(), MetaValue::Str("x".into()));
        assert!(k.on_venue_event(&fill).accepted);
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
        assert_eq!(ev[19], "Str(\"{\\\"venue\\\":\\\"x\\\"}\")");
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

    #[test]
    fn a_whole_take_swaps_buffers_and_a_partial_one_copies() {
        let mut o = Outbox::default();
        for seq in 1..=4 {
            transition(&mut o, seq);
        }
        let (taken, swapped) = o.take_rows(2);
        assert_eq!((seqs(&taken), swapped), (vec![1, 2], false));
        let (taken, swapped) = o.take_rows(100);
        assert_eq!((seqs(&taken), swapped), (vec![3, 4], true));
    }

    #[test]
    fn small_takes_from_a_large_outbox_pass_over_rows_instead_of_moving_the_rest() {
        let mut o = Outbox::default();
        for seq in 1..=1_000 {
            transition(&mut o, seq);
        }
        let start = o.tables[TRANSITIONS].bytes.as_ptr();
        let held = o.tables[TRANSITIONS].bytes.len();
        let mut seen = Vec::new();
        // A journal behind takes 10 rows at a time: nothing is moved until the rows taken
        // are as many as the rows left.
        for _ in 0..49 {
            let (taken, swapped) = o.take_rows(10);
            assert!(!swapped);
            seen.extend(seqs(&taken));
            assert_eq!(o.tables[TRANSITIONS].bytes.as_ptr(), start);
            assert_eq!(o.tables[TRANSITIONS].bytes.len(), held);
        }
        assert_eq!(o.len(), 510);
        // The 50th take frees the 500 rows taken: the 500 left move to the front once.
        seen.extend(seqs(&o.take_rows(10).0));
        assert_eq!(o.tables[TRANSITIONS].len(), 500);
        assert!(o.tables[TRANSITIONS].bytes.len() <= held / 2 + 1);
        // Rows come out whole, once, in order, whatever was freed in between.
        transition(&mut o, 1_001);
        seen.extend(seqs(&o.take_rows(usize::MAX).0));
        assert_eq!(seen, (1..=1_001).collect::<Vec<u64>>());
        assert!(o.is_empty());
    }

    #[test]
    fn a_full_outbox_nobody_drains_stays_within_twice_its_capacity() {
        let mut o = Outbox {
            capacity: 100,
            ..Outbox::default()
        };
        for seq in 1..=20_000 {
            transition(&mut o, seq);
        }
        assert_eq!((o.len(), o.dropped), (100, 19_900));
        assert!(
            o.tables[TRANSITIONS].len() <= 2 * 100 + COMPACT_AFTER,
            "{} rows held for 100 live",
            o.tables[TRANSITIONS].len()
        );
        let left = o.drain_tables(usize::MAX);
        assert_eq!(seqs(&left), (19_901..=20_000).collect::<Vec<u64>>());
    }

    #[test]
    fn drained_buffers_come_back_for_the_next_rows() {
        let mut o = outbox(100, 2);
        let tables = o.drain_tables(usize::MAX);
        let capacity = tables[TRANSITIONS].bytes.capacity();
        assert!(capacity > tables[FILLS].bytes.capacity());
        for (t, rows) in tables.into_iter().enumerate() {
            o.recycler.give(t, rows);
        }
        o.drain_tables(usize::MAX); // nothing to take; the tables continue in recycled buffers
        transition(&mut o, 101);
        assert_eq!(
            o.tables[TRANSITIONS].bytes.capacity(),
            capacity,
            "a table continues in its own recycled buffer"
        );
    }
}
