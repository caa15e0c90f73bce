//! The kernel's vocabulary: enums, ids, metadata and diagnostic details.
//!
//! Enums carry their Python names; with the `python` feature they are also native Python
//! classes (the attribute is compiled out otherwise, so the core stays free of PyO3).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Immutable identifier text (trade, intent, order and event ids): see [`crate::id`].
pub use crate::id::Id;

/// An id from text.
#[inline]
pub fn id(s: &str) -> Id {
    // The empty id (no venue id yet, no event) is made on most inputs: answered without the
    // general path's copy (the mock workload is 0.05 % longer without this).
    if s.is_empty() {
        return Id::default();
    }
    Id::new(s)
}

/// Whether an id starts with a printable ASCII byte (or DEL), as nearly every id does: such
/// an id is neither empty nor flawed as [`id_flaw`] judges. On every intent and event, so the
/// first byte is all the common case looks at (a full scan for a NUL cost 2 % of a trade
/// cycle), in one signed comparison: a byte of 0x80 or more (UTF-8) is negative.
#[inline]
pub fn plain_start(s: &str) -> bool {
    s.as_bytes().first().is_some_and(|&b| b as i8 > 0x20)
}

/// Why a non-empty id of new input whose start is not [`plain_start`] is unusable: only
/// whitespace, or holding a NUL byte (which C strings, logs and many stores cut short).
/// `None` for a usable id and an empty one, which callers refuse themselves. Text from
/// Python is refused holding a NUL anywhere where it becomes an id.
#[cold]
pub fn id_flaw(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        None
    } else if s.trim().is_empty() {
        Some("must not be only whitespace")
    } else if s.as_bytes().contains(&0) {
        Some("must not hold a NUL byte")
    } else {
        None
    }
}

/// A 64-bit FNV-1a fingerprint of an id: stable across machines and versions (checkpoints
/// carry it), and small, so the kernel-wide memories of 100,000 ids stay cache-friendly.
/// Two ids colliding in a window of 100,000 has odds near 3e-10; the cost of a collision is
/// one refused intent (DUPLICATE_INTENT) or a late event reported as late, never a lost fill.
pub fn fingerprint(s: &str) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    // Eight bytes a step, each still folded in turn (the same value as byte by byte): a
    // venue event fingerprints three or four ids, and the loop's own counting was half the
    // cost of a byte.
    let mut chunks = s.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        for b in c {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    }
    for b in chunks.remainder() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// `<prefix><sep><n>` without going through `core::fmt`: ids are made on every order and
/// event (four per order with the mock venue), and formatting machinery was a quarter of
/// the cost of a whole trade cycle. A caller making many ids of one prefix keeps a
/// [`CounterIds`].
pub fn counter_id(prefix: &str, sep: &str, n: u64) -> Id {
    let head = prefix.len() + sep.len();
    let len = head + digit_count(n);
    if len > Id::INLINE_CAP {
        return long_counter_id(prefix, sep, n);
    }
    // Laid out in place, without the `String` a `CounterIds` keeps.
    let mut buf = [0u8; Id::INLINE_CAP];
    buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
    buf[prefix.len()..head].copy_from_slice(sep.as_bytes());
    put_digits(&mut buf, len, n);
    CounterIds::inline(&buf, len)
}

/// How many decimal digits `n` has.
#[inline]
fn digit_count(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// `n`'s digits into `buf`, ending at `len`, last first, two a step.
#[inline]
fn put_digits(buf: &mut [u8; Id::INLINE_CAP], len: usize, n: u64) {
    let mut at = len;
    let mut x = n;
    while x >= 100 {
        let pair = (x % 100) as usize * 2;
        x /= 100;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if x >= 10 {
        let pair = x as usize * 2;
        buf[at - 2..at].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        buf[at - 1] = b'0' + x as u8;
    }
}

/// Ids `<prefix><sep><n>` of one prefix and separator, laid out once: making one copies a
/// fixed-size head and writes the digits, where copying the prefix and separator anew took
/// two calls of `memcpy` (the kernel makes a client order id for every order).
#[derive(Clone, Debug)]
pub struct CounterIds {
    /// The prefix and separator, then zeros, when they fit an inline id.
    head: [u8; Id::INLINE_CAP],
    /// The prefix and separator.
    text: String,
    /// The last id [`CounterIds::make_next`] made inline: its counter, bytes and length.
    last: Option<(u64, [u8; Id::INLINE_CAP], usize)>,
}

impl CounterIds {
    pub fn new(prefix: &str, sep: &str) -> Self {
        let text = format!("{prefix}{sep}");
        let mut head = [0u8; Id::INLINE_CAP];
        if let Some(h) = head.get_mut(..text.len()) {
            h.copy_from_slice(text.as_bytes());
        }
        CounterIds {
            head,
            text,
            last: None,
        }
    }

    pub fn make(&self, n: u64) -> Id {
        match self.inline_bytes(n) {
            Some((buf, len)) => Self::inline(&buf, len),
            None => long_counter_id(&self.text, "", n),
        }
    }

    /// [`CounterIds::make`], for a counter counting up by one: the id after the last one
    /// made this way is that one's digits counted up in place (a carry into a new digit, or
    /// another counter, lays it out anew).
    pub fn make_next(&mut self, n: u64) -> Id {
        let head = self.text.len();
        if let Some((last, buf, len)) = self.last.as_mut() {
            if last.checked_add(1) == Some(n) {
                // `n - 1`'s digits plus one: the trailing nines turn to zeros, and the digit
                // before them counts up; all nines need one digit more.
                let mut i = *len;
                while i > head {
                    i -= 1;
                    if buf[i] != b'9' {
                        buf[i] += 1;
                        *last = n;
                        return Self::inline(buf, *len);
                    }
                    buf[i] = b'0';
                }
            }
        }
        match self.inline_bytes(n) {
            Some((buf, len)) => {
                self.last = Some((n, buf, len));
                Self::inline(&buf, len)
            }
            None => {
                self.last = None;
                long_counter_id(&self.text, "", n)
            }
        }
    }

    /// The first `len` bytes of `buf`, a prefix and its digits, as an inline id.
    #[inline]
    fn inline(buf: &[u8; Id::INLINE_CAP], len: usize) -> Id {
        // SAFETY: `buf[..len]` is a `str` (the head, whole when the id fits) followed by ASCII
        // digits: valid UTF-8 (checking it again cost as much as the rest of `make`). The
        // rest is zeros: `counter_id`'s buffer and `CounterIds::head` start so, and digits
        // are written within the `len` they are counted for.
        unsafe { Id::from_zero_padded(buf, len) }
    }

    /// The bytes of id `n` and their length, when it fits an inline id.
    #[inline]
    fn inline_bytes(&self, n: u64) -> Option<([u8; Id::INLINE_CAP], usize)> {
        let len = self.text.len() + digit_count(n);
        if len > Id::INLINE_CAP {
            return None;
        }
        let mut buf = self.head;
        // The digits straight into place.
        put_digits(&mut buf, len, n);
        Some((buf, len))
    }
}

/// [`counter_id`] on the heap, kept out of its way.
#[cold]
fn long_counter_id(prefix: &str, sep: &str, n: u64) -> Id {
    Id::from(format!("{prefix}{sep}{n}"))
}

/// "00" to "99", for [`counter_id`]: one division by 100 makes two digits.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[cfg(feature = "python")]
        #[pyo3::pyclass(eq, eq_int, frozen, hash, module = "dita._kernel")]
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

/// A metadata value: the JSON scalars. Nested values are refused at the boundary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MetaValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

pub type Metadata = BTreeMap<String, MetaValue>;

/// A value in a diagnostic's or transition's details.
#[derive(Clone, Debug, PartialEq)]
pub enum Detail {
    Str(String),
    Id(Id),
    Static(&'static str),
    F64(f64),
    I64(i64),
    Bool(bool),
}

impl From<&'static str> for Detail {
    fn from(v: &'static str) -> Self {
        Detail::Static(v)
    }
}
impl From<String> for Detail {
    fn from(v: String) -> Self {
        Detail::Str(v)
    }
}
impl From<&Id> for Detail {
    fn from(v: &Id) -> Self {
        Detail::Id(v.clone())
    }
}
impl From<f64> for Detail {
    fn from(v: f64) -> Self {
        Detail::F64(v)
    }
}
impl From<i64> for Detail {
    fn from(v: i64) -> Self {
        Detail::I64(v)
    }
}
impl From<usize> for Detail {
    fn from(v: usize) -> Self {
        Detail::I64(v as i64)
    }
}
impl From<bool> for Detail {
    fn from(v: bool) -> Self {
        Detail::Bool(v)
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::Str(s) => f.write_str(s),
            Detail::Id(s) => f.write_str(s),
            Detail::Static(s) => f.write_str(s),
            Detail::F64(v) => write!(f, "{v}"),
            Detail::I64(v) => write!(f, "{v}"),
            Detail::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// Ordered key/value details; small, so a Vec beats a map.
pub type Details = Vec<(&'static str, Detail)>;

/// A transition's details. The transitions of an order's life that carry some (its submit,
/// a fill, a cancel asked, its end, a refused cancel) keep theirs typed and inline, which
/// names are fixed: a transition is moved into its outcome and dropped with it, four named
/// values inline took 200 bytes of its 312, and a list is an allocation. Any other
/// transition's are a list. Read as a list of named values ([`TransitionDetails::iter`]), in
/// the same order whatever the form.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum TransitionDetails {
    #[default]
    Empty,
    /// An order sent: `client_order_id`, `qty`.
    Submit { client_order_id: Id, qty: f64 },
    /// A fill: `fill_qty` at `fill_price`, taking its order to `filled_size` of `order_size`;
    /// and `fee_charged`, for a report booked in part, the fee charged of it.
    Fill {
        fill_qty: f64,
        fill_price: f64,
        filled_size: f64,
        order_size: f64,
        fee_charged: Option<f64>,
    },
    /// A cancel asked: `client_order_id`.
    Cancel { client_order_id: Id },
    /// An order ended (canceled, rejected, expired, rate limited): `filled_size` of
    /// `order_size`, and the venue's `reason` when it gave one.
    Ended {
        filled_size: f64,
        order_size: f64,
        reason: String,
    },
    /// Only a `reason`: a refused cancel's (the venue's words, given or not), an edge freeze's.
    Reason(Detail),
    /// Any other transition's.
    Named(Details),
}

impl TransitionDetails {
    /// Whether dropping these frees nothing: no text on the heap. A list, a reason or an
    /// ended order's text may own some and says no.
    #[inline(always)]
    pub(crate) fn owns_nothing(&self) -> bool {
        match self {
            // Every field named (numbers only): one added must be looked at here.
            TransitionDetails::Empty
            | TransitionDetails::Fill {
                fill_qty: _,
                fill_price: _,
                filled_size: _,
                order_size: _,
                fee_charged: _,
            } => true,
            TransitionDetails::Submit {
                client_order_id,
                qty: _,
            }
            | TransitionDetails::Cancel { client_order_id } => !client_order_id.is_heap_allocated(),
            TransitionDetails::Ended { .. }
            | TransitionDetails::Reason(_)
            | TransitionDetails::Named(_) => false,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            TransitionDetails::Empty => 0,
            TransitionDetails::Submit { .. } => 2,
            TransitionDetails::Fill { fee_charged, .. } => 4 + usize::from(fee_charged.is_some()),
            TransitionDetails::Cancel { .. } | TransitionDetails::Reason(_) => 1,
            TransitionDetails::Ended { reason, .. } => 2 + usize::from(!reason.is_empty()),
            TransitionDetails::Named(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`th named value.
    pub fn entry(&self, i: usize) -> Option<(&'static str, DetailRef<'_>)> {
        Some(match (self, i) {
            (
                TransitionDetails::Submit {
                    client_order_id, ..
                },
                0,
            ) => ("client_order_id", DetailRef::Str(client_order_id)),
            (TransitionDetails::Submit { qty, .. }, 1) => ("qty", DetailRef::F64(*qty)),
            (TransitionDetails::Fill { fill_qty, .. }, 0) => {
                ("fill_qty", DetailRef::F64(*fill_qty))
            }
            (TransitionDetails::Fill { fill_price, .. }, 1) => {
                ("fill_price", DetailRef::F64(*fill_price))
            }
            (TransitionDetails::Fill { filled_size, .. }, 2) => {
                ("filled_size", DetailRef::F64(*filled_size))
            }
            (TransitionDetails::Fill { order_size, .. }, 3) => {
                ("order_size", DetailRef::F64(*order_size))
            }
            (TransitionDetails::Fill { fee_charged, .. }, 4) => {
                ("fee_charged", DetailRef::F64((*fee_charged)?))
            }
            (
                TransitionDetails::Cancel {
                    client_order_id, ..
                },
                0,
            ) => ("client_order_id", DetailRef::Str(client_order_id)),
            (TransitionDetails::Ended { filled_size, .. }, 0) => {
                ("filled_size", DetailRef::F64(*filled_size))
            }
            (TransitionDetails::Ended { order_size, .. }, 1) => {
                ("order_size", DetailRef::F64(*order_size))
            }
            (TransitionDetails::Ended { reason, .. }, 2) if !reason.is_empty() => {
                ("reason", DetailRef::Str(reason))
            }
            (TransitionDetails::Reason(why), 0) => ("reason", why.as_ref()),
            (TransitionDetails::Named(d), i) => d.get(i).map(|(k, v)| (*k, v.as_ref()))?,
            _ => return None,
        })
    }

    /// The named values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, DetailRef<'_>)> + '_ {
        (0..self.len()).filter_map(|i| self.entry(i))
    }

    /// The value named `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<DetailRef<'_>> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

impl From<Details> for TransitionDetails {
    fn from(d: Details) -> Self {
        if d.is_empty() {
            TransitionDetails::Empty
        } else {
            TransitionDetails::Named(d)
        }
    }
}

/// A detail value by reference: what journal rows store and render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DetailRef<'a> {
    Str(&'a str),
    F64(f64),
    I64(i64),
    Bool(bool),
}

impl Detail {
    pub fn as_ref(&self) -> DetailRef<'_> {
        match self {
            Detail::Str(s) => DetailRef::Str(s),
            Detail::Id(s) => DetailRef::Str(s),
            Detail::Static(s) => DetailRef::Str(s),
            Detail::F64(x) => DetailRef::F64(*x),
            Detail::I64(x) => DetailRef::I64(*x),
            Detail::Bool(x) => DetailRef::Bool(*x),
        }
    }
}

/// Render details as a JSON object (journal rows); keys are identifiers, values escaped.
pub fn details_json(details: &[(&'static str, Detail)]) -> String {
    details_json_from(details.iter().map(|(k, v)| (*k, v.as_ref())))
}

/// [`details_json`] for details read back from a journal row.
pub fn details_json_from<'a>(details: impl Iterator<Item = (&'a str, DetailRef<'a>)>) -> String {
    let mut out = String::with_capacity(64);
    write_details_json(&mut out, details);
    out
}

/// Appends the JSON object of `details` to `out` (what [`details_json`] returns), without
/// allocating: the journal's writer renders one per transition row.
pub fn write_details_json<'a>(
    out: &mut String,
    details: impl Iterator<Item = (&'a str, DetailRef<'a>)>,
) {
    out.push('{');
    for (i, (k, v)) in details.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, k);
        out.push(':');
        match v {
            DetailRef::Str(s) => json_string(out, s),
            DetailRef::F64(x) => json_f64(out, x),
            DetailRef::I64(x) => write_display(out, x),
            DetailRef::Bool(x) => out.push_str(if x { "true" } else { "false" }),
        }
    }
    out.push('}');
}

fn write_display(out: &mut String, x: impl fmt::Display) {
    use std::fmt::Write;
    write!(out, "{x}").expect("writing to a String cannot fail");
}

/// A finite number as a JSON number; NaN and the infinities (only refused inputs carry them)
/// as strings, since JSON has no such numbers.
fn json_f64(out: &mut String, x: f64) {
    if x.is_finite() {
        write_display(out, x);
    } else {
        out.push('"');
        write_display(out, x);
        out.push('"');
    }
}

pub fn metadata_json(meta: &Metadata) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in meta.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, k);
        out.push(':');
        match v {
            MetaValue::Null => out.push_str("null"),
            MetaValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            MetaValue::Int(x) => write_display(&mut out, x),
            MetaValue::Float(x) => json_f64(&mut out, *x),
            MetaValue::Str(s) => json_string(&mut out, s),
        }
    }
    out.push('}');
    out
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // Ids, keys and names: nothing to escape.
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_only_whitespace_or_led_by_a_nul_are_flawed() {
        assert_eq!(id_flaw(" \t\u{3000}"), Some("must not be only whitespace"));
        assert_eq!(id_flaw("\0"), Some("must not hold a NUL byte"));
        assert_eq!(id_flaw(" a\0"), Some("must not hold a NUL byte"));
        assert!(plain_start("a") && plain_start("a\0") && plain_start("~"));
        assert!(!plain_start("") && !plain_start(" a") && !plain_start("\0") && !plain_start("é"));
        assert_eq!(id_flaw("é\0"), Some("must not hold a NUL byte"));
        for fine in ["", "a", " a", "é", "\u{1}x", "a b", "i-1"] {
            assert_eq!(id_flaw(fine), None, "{fine:?}");
        }
    }

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

    #[test]
    fn fingerprints_fold_every_byte_in_turn() {
        // The plain FNV-1a loop, against the one taking eight bytes a step, at every length
        // around the step.
        let plain = |s: &str| {
            s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        };
        let text = "kernel-0123456789-κ-abcdefghijklmnopqrstuvwxyz";
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            assert_eq!(fingerprint(&text[..end]), plain(&text[..end]), "{end}");
        }
    }

    #[test]
    fn fingerprints_are_stable() {
        // Fixed values: a checkpoint written on one machine must mean the same on another.
        assert_eq!(fingerprint(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fingerprint("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fingerprint("k-1"), fingerprint("k-2"));
    }

    #[test]
    fn counter_ids() {
        assert_eq!(&*counter_id("k", "-", 0), "k-0");
        assert_eq!(
            &*counter_id("mock", "-e", 18446744073709551615),
            "mock-e18446744073709551615"
        );
        let long = "x".repeat(200);
        assert_eq!(&*counter_id(&long, "-", 7), format!("{long}-7"));
        assert!(!id("k-18446744073709551615").is_heap_allocated());
        // Exactly the inline limit, one over it, and multi-byte text in the prefix.
        let at_limit = counter_id("abcdefghij", "-e", 12345678901);
        assert_eq!(&*at_limit, "abcdefghij-e12345678901");
        assert!(!at_limit.is_heap_allocated(), "23 bytes fit inline");
        let over = counter_id("abcdefghij", "-e", 123456789012);
        assert_eq!(&*over, "abcdefghij-e123456789012");
        assert!(over.is_heap_allocated());
        assert_eq!(&*counter_id("κ", "-", 42), "κ-42");
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            101,
            12345,
            1_000_000,
            u64::MAX / 7,
            u64::MAX,
        ] {
            assert_eq!(&*counter_id("p", "-e", n), format!("p-e{n}"));
        }
        // u64::MAX has 20 digits: 23 bytes in all still fit inline, 24 do not.
        let at_limit = counter_id("abc", "", u64::MAX);
        assert_eq!(&*at_limit, format!("abc{}", u64::MAX));
        assert!(!at_limit.is_heap_allocated());
        let past = counter_id("abcd", "", u64::MAX);
        assert_eq!(&*past, format!("abcd{}", u64::MAX));
        assert!(past.is_heap_allocated());
    }

    #[test]
    fn one_counter_ids_makes_every_id_of_its_prefix() {
        // Kept and used again, as the kernel keeps its client order ids' prefix: each id is
        // the one `format!` makes, inline while it fits, on the heap past the limit, and no
        // digit of a longer id stays in a shorter one made after it.
        let ids = CounterIds::new("kernel-a", "-");
        for n in [
            99_999_999_999_999,
            7,
            99,
            100,
            0,
            1_000_000,
            12_345_678_901_234,
        ] {
            let made = ids.make(n);
            assert_eq!(&*made, format!("kernel-a-{n}"));
            assert!(!made.is_heap_allocated());
        }
        let past = ids.make(u64::MAX);
        assert_eq!(&*past, format!("kernel-a-{}", u64::MAX));
        assert!(past.is_heap_allocated());
        assert_eq!(&*ids.make(5), "kernel-a-5");
        let long = CounterIds::new(&"k".repeat(30), "-");
        assert_eq!(&*long.make(3), format!("{}-3", "k".repeat(30)));
    }

    #[test]
    fn counter_ids_made_in_turn_are_those_made_anew() {
        // Counted up in place from the last (carries, a new digit, the inline limit and the
        // counter's end included), or made anew after a jump: each id is `make`'s.
        let mut ids = CounterIds::new("kernel-a", "-");
        let fresh = CounterIds::new("kernel-a", "-");
        let check = |ids: &mut CounterIds, n: u64| {
            let made = ids.make_next(n);
            assert_eq!(made, fresh.make(n), "counter {n}");
            assert_eq!(made.is_heap_allocated(), fresh.make(n).is_heap_allocated());
        };
        for n in (0..1_200).chain(99_998..100_002) {
            check(&mut ids, n);
        }
        for n in [
            7,
            8,
            5,
            6,
            99_999_999_999_998,
            99_999_999_999_999,
            100_000_000_000_000,
        ] {
            check(&mut ids, n);
        }
        for n in [100_000_000_000_001, u64::MAX - 1, u64::MAX, 0, 1, 19, 20] {
            check(&mut ids, n);
        }
        // A head that ends in digits: only the counter's own digits count up.
        let mut nines = CounterIds::new("k99", "9");
        let fresh = CounterIds::new("k99", "9");
        for n in 0..=1_000 {
            assert_eq!(nines.make_next(n), fresh.make(n));
        }
    }

    #[test]
    fn details_render_as_json() {
        let d: Details = vec![
            ("field", "reference_price".into()),
            ("value", f64::NAN.into()),
            ("n", 3i64.into()),
        ];
        assert_eq!(
            details_json(&d),
            r#"{"field":"reference_price","value":"NaN","n":3}"#
        );
        let mut m = Metadata::new();
        m.insert("q\"".into(), MetaValue::Str("a\nb".into()));
        assert_eq!(metadata_json(&m), r#"{"q\"":"a\nb"}"#);
    }

    #[test]
    fn transition_details_read_as_named_values_in_order_whatever_their_form() {
        fn all(d: &TransitionDetails) -> Vec<(&'static str, DetailRef<'_>)> {
            d.iter().collect()
        }
        assert!(TransitionDetails::Empty.is_empty());
        assert_eq!(
            TransitionDetails::from(Details::new()),
            TransitionDetails::Empty
        );
        let submit = TransitionDetails::Submit {
            client_order_id: id("k-1"),
            qty: 0.5,
        };
        assert_eq!(
            all(&submit),
            [
                ("client_order_id", DetailRef::Str("k-1")),
                ("qty", DetailRef::F64(0.5))
            ]
        );
        let mut fill = TransitionDetails::Fill {
            fill_qty: 1.0,
            fill_price: 100.0,
            filled_size: 1.5,
            order_size: 2.0,
            fee_charged: None,
        };
        let names = |d: &TransitionDetails| d.iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            names(&fill),
            ["fill_qty", "fill_price", "filled_size", "order_size"]
        );
        assert_eq!(fill.get("fee_charged"), None);
        if let TransitionDetails::Fill { fee_charged, .. } = &mut fill {
            *fee_charged = Some(0.25);
        }
        assert_eq!(fill.len(), 5);
        assert_eq!(fill.get("fee_charged"), Some(DetailRef::F64(0.25)));
        assert_eq!(fill.get("filled_size"), Some(DetailRef::F64(1.5)));
        let cancel = TransitionDetails::Cancel {
            client_order_id: id("k-2"),
        };
        assert_eq!(all(&cancel), [("client_order_id", DetailRef::Str("k-2"))]);
        let mut ended = TransitionDetails::Ended {
            filled_size: 0.5,
            order_size: 2.0,
            reason: String::new(),
        };
        assert_eq!(
            all(&ended),
            [
                ("filled_size", DetailRef::F64(0.5)),
                ("order_size", DetailRef::F64(2.0))
            ]
        );
        if let TransitionDetails::Ended { reason, .. } = &mut ended {
            reason.push_str("expired");
        }
        assert_eq!(ended.len(), 3);
        assert_eq!(ended.get("reason"), Some(DetailRef::Str("expired")));
        let refused = TransitionDetails::Reason(Detail::Str(String::new()));
        assert_eq!(all(&refused), [("reason", DetailRef::Str(""))]);
        let named = TransitionDetails::from(vec![("reason", Detail::Static("stale"))]);
        assert_eq!(all(&named), [("reason", DetailRef::Str("stale"))]);
        assert_eq!(named.entry(1), None);
    }
}
