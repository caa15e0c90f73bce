//! Journal rows as ClickHouse `Native` blocks, so a writer hands ClickHouse bytes instead of
//! building Python values row by row.
//!
//! A block is `varint(columns) varint(rows)` followed, per column, by its name, its type and
//! the column's values: fixed-width numbers little-endian, strings as `varint(len) bytes`,
//! `Nullable(T)` as one null-flag byte per row and then the values (a zero for a null).
//! `LowCardinality(String)` and `LowCardinality(Nullable(String))` columns (`kernel_id` and
//! the enum-like ones) go as the tables store them, so ClickHouse has nothing to convert:
//! `u64 1` (keys serialization version: dictionaries with additional keys), then for the
//! block `u64` index type (key width 0..=2 for UInt8/16/32, with the HasAdditionalKeys and
//! NeedUpdateDictionary flags), `u64` dictionary size, the dictionary's values as strings
//! (for `Nullable`, index 0 is the null slot, sent as ""), `u64` rows and each row's index.
//! Several blocks back to back are one insert. Types are the wire types of `tables.rs`.

// The row buffers write lengths and strings exactly as the Native format wants them.
use super::{columns, put_str as string, put_varint as varint, wire_types, RowBuf, Value, TABLES};
use super::{LC, LC_NULL};

/// DateTime64(6) microseconds; ties to even, like Python's `round`, so both writing paths
/// store the same instant. A time that is not a finite number (only a refused input carries
/// one; its row's details name the bad value) is stored as the epoch, 1970-01-01. A time
/// outside the column's range (epoch milliseconds passed as seconds, say) is stored at the
/// nearer end of it: beyond, ClickHouse and its clients could no longer read the table.
pub fn micros(ts: f64) -> i64 {
    if ts.is_finite() {
        ((ts * 1_000_000.0).round_ties_even() as i64).clamp(TS_MIN_MICROS, TS_MAX_MICROS)
    } else {
        0
    }
}

/// DateTime64's range, 1900-01-01 00:00:00 to 2299-12-31 23:59:59.999999, in microseconds.
pub const TS_MIN_MICROS: i64 = -2_208_988_800_000_000;
pub const TS_MAX_MICROS: i64 = 10_413_791_999_999_999;

/// One column being filled: values, plus null flags for a `Nullable` column. For a
/// `LowCardinality` one, `data` holds each row's index into the block's dictionary.
#[derive(Default)]
struct Column {
    nulls: Vec<u8>,
    data: Vec<u8>,
    lowcard: bool,
    dict: Dictionary,
}

impl Column {
    /// Empties the column for a block that sends it as `ty`.
    fn start(&mut self, ty: &str) {
        self.nulls.clear();
        self.data.clear();
        self.lowcard = ty.starts_with("LowCardinality(");
        if self.lowcard {
            self.dict.start(ty == LC_NULL);
        }
    }

    /// `json`: scratch for rendering details, kept between rows.
    fn push(&mut self, v: Value<'_>, json: &mut String) {
        let d = &mut self.data;
        match v {
            Value::Str(x) if self.lowcard => self.dict.push_index(d, x),
            Value::U64(x) => d.extend_from_slice(&x.to_le_bytes()),
            Value::U32(x) => d.extend_from_slice(&x.to_le_bytes()),
            Value::I64(x) => d.extend_from_slice(&x.to_le_bytes()),
            Value::F64(x) => d.extend_from_slice(&x.to_le_bytes()),
            Value::OptF64(x) => {
                self.nulls.push(u8::from(x.is_none()));
                d.extend_from_slice(&x.unwrap_or(0.0).to_le_bytes());
            }
            Value::Bool(x) => d.push(u8::from(x)),
            Value::Ts(x) => d.extend_from_slice(&micros(x).to_le_bytes()),
            Value::Str(x) => string(d, x),
            Value::Details(x) => {
                json.clear();
                x.write_json(json);
                string(d, json);
            }
        }
    }

    fn held(&self) -> usize {
        self.data.capacity() + self.nulls.capacity() + self.dict.held()
    }
}

/// A `LowCardinality` column's dictionary for one block: each distinct value once, in the
/// order first seen, found again through a small hash table. The journal's enum columns
/// hold a handful of values per block, so this stays a few cache lines.
#[derive(Default)]
struct Dictionary {
    /// The values as the block sends them, `varint(len) bytes` back to back.
    keys: Vec<u8>,
    /// Where each value's bytes (past its length) are in `keys`: (start, len).
    spans: Vec<(u32, u32)>,
    /// Open addressing, a power of two long and at most half full: index + 1 of the value
    /// hashed there, 0 for an empty slot.
    slots: Vec<u32>,
    /// Leading entries no value is looked up as: the null slot of a `Nullable` dictionary.
    reserved: usize,
    /// Bytes per row index: 1, 2 or 4 (ClickHouse's UInt8, UInt16, UInt32 keys).
    width: usize,
}

/// Fixed seeds, so a block encodes the same every time; values that collide only make the
/// probes of one block's table longer.
const HASH: ahash::RandomState = ahash::RandomState::with_seeds(1, 2, 3, 4);

/// Slots of a dictionary's hash table at the start of a block.
const FIRST_SLOTS: usize = 32;

impl Dictionary {
    fn start(&mut self, nullable: bool) {
        self.keys.clear();
        self.spans.clear();
        self.slots.clear();
        self.slots.resize(FIRST_SLOTS, 0);
        self.width = 1;
        self.reserved = 0;
        if nullable {
            // ClickHouse reads index 0 of a Nullable dictionary as NULL whatever it holds; the
            // kernel sends no NULLs, so no row points there ("" has an index of its own).
            string(&mut self.keys, "");
            self.spans.push((1, 0));
            self.reserved = 1;
        }
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn value(&self, i: usize) -> &[u8] {
        let (start, len) = self.spans[i];
        &self.keys[start as usize..(start + len) as usize]
    }

    /// Appends the index of `v` (added to the dictionary if new) to `indexes`, at the
    /// dictionary's width, widening the indexes already there when a new value outgrows it
    /// (new indexes come one at a time, so once is enough).
    fn push_index(&mut self, indexes: &mut Vec<u8>, v: &str) {
        let i = self.index_of(v);
        // Four-byte indexes are the widest: no shift by a usize's whole width on 32-bit targets.
        if self.width < 4 && i >> (8 * self.width) != 0 {
            widen(indexes, self.width);
            self.width *= 2;
        }
        match self.width {
            1 => indexes.push(i as u8),
            2 => indexes.extend_from_slice(&(i as u16).to_le_bytes()),
            _ => indexes.extend_from_slice(&(i as u32).to_le_bytes()),
        }
    }

    fn index_of(&mut self, v: &str) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = HASH.hash_one(v.as_bytes()) as usize & mask;
        loop {
            match self.slots[at] {
                0 => break,
                i if self.value(i as usize - 1) == v.as_bytes() => return i as usize - 1,
                _ => at = (at + 1) & mask,
            }
        }
        let i = self.spans.len();
        self.slots[at] = i as u32 + 1;
        string(&mut self.keys, v);
        self.spans
            .push(((self.keys.len() - v.len()) as u32, v.len() as u32));
        if 2 * (self.len() - self.reserved) > self.slots.len() {
            self.grow();
        }
        i
    }

    /// Doubles the hash table and places every value again.
    fn grow(&mut self) {
        let size = 2 * self.slots.len();
        self.slots.clear();
        self.slots.resize(size, 0);
        for i in self.reserved..self.len() {
            let mut at = HASH.hash_one(self.value(i)) as usize & (size - 1);
            while self.slots[at] != 0 {
                at = (at + 1) & (size - 1);
            }
            self.slots[at] = i as u32 + 1;
        }
    }

    fn held(&self) -> usize {
        self.keys.capacity() + 8 * self.spans.capacity() + 4 * self.slots.capacity()
    }
}

/// Rewrites little-endian indexes `width` bytes wide as twice as wide.
fn widen(indexes: &mut Vec<u8>, width: usize) {
    let n = indexes.len() / width;
    indexes.resize(2 * n * width, 0);
    // From the back, so no index is overwritten before it is moved.
    for i in (0..n).rev() {
        let mut wide = [0u8; 8];
        wide[..width].copy_from_slice(&indexes[i * width..(i + 1) * width]);
        indexes[2 * i * width..2 * (i + 1) * width].copy_from_slice(&wide[..2 * width]);
    }
}

/// Appends one Native block of rows `from..to` of `rows` (of table `TABLES[table]`) to
/// `out`, `kernel_id` as its first column. Nothing is appended for no rows.
pub fn encode_block(
    out: &mut Vec<u8>,
    kernel_id: &str,
    table: usize,
    rows: &RowBuf,
    from: usize,
    to: usize,
) {
    let to = to.min(rows.len());
    if from >= to {
        return;
    }
    let name = TABLES[table];
    let names = columns(name);
    let types = wire_types(name).expect("every table has wire types");
    SCRATCH.with_borrow_mut(|(cols, json)| {
        // The columns of the last block, emptied: a writer encoding block after block
        // refills memory it already has instead of growing fresh buffers every time.
        cols.resize_with(names.len().max(cols.len()), Column::default);
        let cols = &mut cols[..names.len()];
        for (col, ty) in cols.iter_mut().zip(types) {
            col.start(ty);
        }
        for i in from..to {
            let mut at = 0;
            rows.visit(table, i, &mut |v| {
                cols[at].push(v, json);
                at += 1;
            });
            debug_assert_eq!(at, names.len(), "{name} row visits every column");
        }
        write_block(out, kernel_id, names, types, cols, to - from);
    });
    SCRATCH.with_borrow_mut(|scratch| {
        if held(scratch) > SCRATCH_KEPT {
            *scratch = Default::default();
        }
    });
}

/// Bytes of memory the column buffers (dictionaries included) and the JSON scratch hold.
fn held((cols, json): &(Vec<Column>, String)) -> usize {
    cols.iter().map(Column::held).sum::<usize>() + json.capacity()
}

/// Scratch memory a thread keeps between blocks: enough for the blocks a journal writes (a
/// few MB at its default `batch_rows`), for the column buffers together and for the encoded
/// block's buffer; what a huge block (a large `batch_rows`, very long rows) grew beyond it
/// is freed after that block.
pub const SCRATCH_KEPT: usize = 16 << 20;

/// Frees `buf` once it holds more than [`SCRATCH_KEPT`], so a thread that once encoded a
/// huge block does not keep that memory for good.
pub fn trim_scratch(buf: &mut Vec<u8>) {
    if buf.capacity() > SCRATCH_KEPT {
        *buf = Vec::new();
    }
}

thread_local! {
    /// Per thread: the column buffers and the JSON scratch of the last block encoded.
    static SCRATCH: std::cell::RefCell<(Vec<Column>, String)> = Default::default();
}

fn write_block(
    out: &mut Vec<u8>,
    kernel_id: &str,
    names: &[&str],
    types: &[&str],
    cols: &[Column],
    n: usize,
) {
    let payload: usize = cols
        .iter()
        .map(|c| c.nulls.len() + c.data.len() + c.dict.keys.len())
        .sum();
    out.reserve(payload + n + kernel_id.len() + 64 * names.len());
    varint(out, names.len() as u64 + 1);
    varint(out, n as u64);
    // kernel_id: one value for the whole block, so a one-entry dictionary and a zero a row.
    string(out, "kernel_id");
    string(out, KERNEL_ID_TYPE);
    lowcard_head(out, 1, 1);
    string(out, kernel_id);
    out.extend_from_slice(&(n as u64).to_le_bytes());
    out.resize(out.len() + n, 0);
    for ((name, ty), col) in names.iter().zip(types).zip(cols) {
        string(out, name);
        string(out, ty);
        if col.lowcard {
            lowcard_head(out, col.dict.width, col.dict.len());
            out.extend_from_slice(&col.dict.keys);
            out.extend_from_slice(&(n as u64).to_le_bytes());
        }
        out.extend_from_slice(&col.nulls);
        out.extend_from_slice(&col.data);
    }
}

/// How the `kernel_id` column is sent, as the tables store it.
pub const KERNEL_ID_TYPE: &str = LC;

/// What comes before a `LowCardinality` column's dictionary values in a block: the keys
/// serialization version (1: each block brings its own dictionary, ClickHouse's
/// SharedDictionariesWithAdditionalKeys), the index type (the width of the row indexes,
/// 0..=2 for UInt8/16/32, and the flags saying the dictionary comes with the block) and the
/// dictionary's size.
fn lowcard_head(out: &mut Vec<u8>, width: usize, keys: usize) {
    const HAS_ADDITIONAL_KEYS: u64 = 1 << 9;
    const NEED_UPDATE_DICTIONARY: u64 = 1 << 10;
    let index_type = width.trailing_zeros() as u64 | HAS_ADDITIONAL_KEYS | NEED_UPDATE_DICTIONARY;
    for word in [1, index_type, keys as u64] {
        out.extend_from_slice(&word.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{AccountRow, Outbox, ACCOUNT_COLUMNS, ACCOUNT_EVENTS, ACCOUNT_TYPES};
    use crate::types::*;

    /// (name, type, raw bytes) of one column.
    type ColumnBytes = (String, String, Vec<u8>);

    /// Reads a block back: (columns, rows, [(name, type, raw column bytes)]), knowing the
    /// widths of the types the journal sends.
    fn read_block(block: &[u8]) -> (u64, u64, Vec<ColumnBytes>) {
        use crate::journal::{read_bytes, read_str, read_varint};
        let mut b = block;
        let ncols = read_varint(&mut b);
        let nrows = read_varint(&mut b);
        let mut cols = Vec::new();
        for _ in 0..ncols {
            let name = read_str(&mut b).to_string();
            let ty = read_str(&mut b).to_string();
            let before = b;
            let width = |t: &str| match t {
                "UInt64" | "Int64" | "Float64" | "DateTime64(6, 'UTC')" => Some(8),
                "UInt32" => Some(4),
                "Bool" => Some(1),
                _ => None,
            };
            match (
                ty.strip_prefix("Nullable(")
                    .and_then(|t| t.strip_suffix(')')),
                width(&ty),
            ) {
                _ if ty.starts_with("LowCardinality(") => {
                    let (_, values) = lowcard(&mut b);
                    assert_eq!(values.len() as u64, nrows);
                }
                (Some(inner), _) => {
                    read_bytes(&mut b, nrows as usize * (1 + width(inner).unwrap()));
                }
                (None, Some(w)) => {
                    read_bytes(&mut b, nrows as usize * w);
                }
                (None, None) => {
                    for _ in 0..nrows {
                        read_str(&mut b);
                    }
                }
            }
            cols.push((name, ty, before[..before.len() - b.len()].to_vec()));
        }
        assert!(b.is_empty(), "the block has no trailing bytes");
        (ncols, nrows, cols)
    }

    /// Reads a `LowCardinality` column: (index width in bytes, each row's dictionary index
    /// and value).
    fn lowcard(b: &mut &[u8]) -> (usize, Vec<(u64, String)>) {
        use crate::journal::{read_array, read_bytes, read_str};
        let mut word = || u64::from_le_bytes(read_array(b));
        assert_eq!(word(), 1, "keys serialization version");
        let index_type = word();
        assert_eq!(index_type >> 8, 0b110, "additional keys, update dictionary");
        let width = 1usize << (index_type & 0xff);
        let keys = word();
        let dict: Vec<String> = (0..keys).map(|_| read_str(b).to_string()).collect();
        let rows = u64::from_le_bytes(read_array(b));
        let values = (0..rows)
            .map(|_| {
                let mut i = [0u8; 8];
                i[..width].copy_from_slice(read_bytes(b, width));
                let i = u64::from_le_bytes(i);
                (i, dict[i as usize].clone())
            })
            .collect();
        (width, values)
    }

    fn lowcard_column(col: &ColumnBytes) -> (usize, Vec<(u64, String)>) {
        let mut b = &col.2[..];
        let out = lowcard(&mut b);
        assert!(b.is_empty());
        out
    }

    fn accounts(wallets: &[Option<f64>]) -> RowBuf {
        accounts_of(wallets, "ev-é")
    }

    fn accounts_of(wallets: &[Option<f64>], event_id: &str) -> RowBuf {
        account_rows(wallets.iter().map(|w| (*w, "")), event_id)
    }

    /// Account rows of (wallet balance, asset).
    fn account_rows<'a>(
        rows: impl Iterator<Item = (Option<f64>, &'a str)>,
        event_id: &str,
    ) -> RowBuf {
        let mut o = Outbox::default();
        for (i, (wallet, asset)) in rows.enumerate() {
            o.record_account(
                7 + i as u64,
                &AccountRow {
                    ts: 1.5,
                    event_id: id(event_id),
                    kind: AccountEventKind::AccountUpdate,
                    asset: id(asset),
                    amount: 2.0,
                    fee: 0.0,
                    fill_id: id(""),
                    wallet_balance: wallet,
                    available_margin: None,
                    used_margin: None,
                    maint_margin: None,
                    k_capital: 10.0,
                    reconcile_status: "OK",
                    reconcile_delta: 0.0,
                    accepted: true,
                    diagnostic_code: KernelDiagnosticCode::Ok,
                    fee_charged: None,
                },
            );
        }
        let [_, rows, ..] = o.drain_tables(usize::MAX);
        rows
    }

    /// Encodes account rows with these assets and reads the asset column back.
    fn assets_sent(assets: &[String]) -> (usize, Vec<(u64, String)>) {
        let rows = account_rows(assets.iter().map(|a| (None, a.as_str())), "e");
        let mut out = Vec::new();
        encode_block(&mut out, "k", ACCOUNT_EVENTS, &rows, 0, rows.len());
        let (_, _, cols) = read_block(&out);
        assert_eq!(cols[6].0, "asset");
        lowcard_column(&cols[6])
    }

    #[rstest::rstest]
    #[case::a_handful(4, 1)]
    #[case::all_byte_indexes(256, 1)]
    #[case::one_past_byte_indexes(257, 2)]
    #[case::all_two_byte_indexes(65_536, 2)]
    #[case::one_past_two_byte_indexes(65_537, 4)]
    fn a_dictionary_widens_its_indexes_as_values_outgrow_them(
        #[case] distinct: usize,
        #[case] width: usize,
    ) {
        // Every value twice, the second round in reverse: rows find the indexes given before.
        let names: Vec<String> = (0..distinct).map(|i| format!("A{i}")).collect();
        let assets: Vec<String> = names.iter().chain(names.iter().rev()).cloned().collect();
        let (sent_width, sent) = assets_sent(&assets);
        assert_eq!(sent_width, width);
        let values: Vec<&String> = sent.iter().map(|(_, v)| v).collect();
        assert_eq!(values, assets.iter().collect::<Vec<_>>());
        let first: Vec<u64> = sent[..distinct].iter().map(|(i, _)| *i).collect();
        assert_eq!(
            first,
            (0..distinct as u64).collect::<Vec<_>>(),
            "in order first seen"
        );
    }

    /// In a `Nullable` dictionary the null slot takes index 0: one value fewer fits each width.
    #[rstest::rstest]
    #[case::all_byte_indexes(255, 1)]
    #[case::one_past_byte_indexes(256, 2)]
    #[case::all_two_byte_indexes(65_535, 2)]
    #[case::one_past_two_byte_indexes(65_536, 4)]
    fn a_nullable_dictionary_widens_one_value_sooner(
        #[case] distinct: usize,
        #[case] width: usize,
    ) {
        let mut d = Dictionary::default();
        d.start(true);
        let mut indexes = Vec::new();
        let names: Vec<String> = (0..distinct).map(|i| format!("S{i}")).collect();
        for v in names.iter().chain(names.iter().rev()) {
            d.push_index(&mut indexes, v);
        }
        assert_eq!(d.width, width);
        assert_eq!(d.len(), distinct + 1, "the null slot and each value once");
        let read = |k: usize| {
            let mut i = [0u8; 8];
            i[..width].copy_from_slice(&indexes[k * width..(k + 1) * width]);
            u64::from_le_bytes(i)
        };
        assert_eq!(indexes.len(), 2 * distinct * width);
        for k in 0..distinct {
            assert_eq!(read(k), k as u64 + 1, "first round, row {k}");
            assert_eq!(
                read(2 * distinct - 1 - k),
                k as u64 + 1,
                "second round, row {k}"
            );
        }
    }

    #[test]
    fn a_nullable_dictionary_keeps_index_zero_for_null_and_gives_the_empty_string_its_own() {
        let mut d = Dictionary::default();
        d.start(true);
        let mut indexes = Vec::new();
        for v in ["BUY", "", "SELL", "", "BUY"] {
            d.push_index(&mut indexes, v);
        }
        assert_eq!(indexes, [1, 2, 3, 2, 1]);
        assert_eq!(d.len(), 4);
        assert_eq!(d.keys, b"\x00\x03BUY\x00\x04SELL");
        d.start(false);
        indexes.clear();
        for v in ["", "BUY", ""] {
            d.push_index(&mut indexes, v);
        }
        assert_eq!(
            indexes,
            [0, 1, 0],
            "without Nullable, \"\" is a value like any other"
        );
    }

    #[test]
    fn a_block_after_a_wide_one_starts_a_fresh_dictionary() {
        let many: Vec<String> = (0..300).map(|i| format!("A{i}")).collect();
        assert_eq!(assets_sent(&many).0, 2);
        let few = ["BTC", "ETH", "BTC"].map(String::from);
        let (width, sent) = assets_sent(&few);
        assert_eq!(width, 1);
        assert_eq!(
            sent,
            [(0, "BTC"), (1, "ETH"), (0, "BTC")].map(|(i, v)| (i, v.to_string()))
        );
    }

    #[test]
    fn a_block_carries_every_column_with_its_wire_type_and_values() {
        let rows = accounts(&[Some(3.25), None]);
        let mut out = Vec::new();
        encode_block(&mut out, "k-1", ACCOUNT_EVENTS, &rows, 0, 2);
        let (ncols, nrows, cols) = read_block(&out);
        assert_eq!((ncols, nrows), (1 + ACCOUNT_COLUMNS.len() as u64, 2));
        assert_eq!(cols[0].0, "kernel_id");
        assert_eq!(cols[0].1, "LowCardinality(String)");
        assert_eq!(
            lowcard_column(&cols[0]),
            (1, vec![(0, "k-1".into()), (0, "k-1".into())]),
            "one dictionary entry, one index a row"
        );
        let names: Vec<&str> = cols[1..].iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ACCOUNT_COLUMNS);
        let types: Vec<&str> = cols[1..].iter().map(|c| c.1.as_str()).collect();
        assert_eq!(types, ACCOUNT_TYPES);
        let seq = &cols[1].2;
        assert_eq!(seq[..8], 7u64.to_le_bytes());
        assert_eq!(seq[8..], 8u64.to_le_bytes());
        assert_eq!(
            cols[3].2[..8],
            1_500_000i64.to_le_bytes(),
            "ts in microseconds"
        );
        assert_eq!(
            cols[4].2,
            "\x05ev-é\x05ev-é".as_bytes(),
            "utf-8 byte length, not chars"
        );
        let wallet = &cols[10].2;
        assert_eq!(&wallet[..2], &[0, 1], "null flags come first");
        assert_eq!(wallet[2..10], 3.25f64.to_le_bytes());
        assert_eq!(wallet[10..], 0f64.to_le_bytes());
    }

    #[test]
    fn a_range_of_rows_and_no_rows() {
        let rows = accounts(&[Some(1.0), Some(2.0), Some(3.0)]);
        let mut out = Vec::new();
        encode_block(&mut out, "k", ACCOUNT_EVENTS, &rows, 1, 3);
        let (_, nrows, cols) = read_block(&out);
        assert_eq!(nrows, 2);
        assert_eq!(cols[1].2[..8], 8u64.to_le_bytes());
        let mut none = Vec::new();
        encode_block(&mut none, "k", ACCOUNT_EVENTS, &rows, 2, 2);
        assert!(none.is_empty());
    }

    #[test]
    fn micros_round_half_to_even_like_python() {
        assert_eq!(
            micros(1.79e12),
            TS_MAX_MICROS,
            "milliseconds as seconds: the end of range"
        );
        assert_eq!(micros(1e300), TS_MAX_MICROS);
        assert_eq!(micros(-1e12), TS_MIN_MICROS);
        assert_eq!(micros(0.0000025), 2);
        assert_eq!(micros(0.0000035), 4);
        assert_eq!(micros(1_700_000_000.123456), 1_700_000_000_123_456);
        assert_eq!(
            [
                micros(f64::NAN),
                micros(f64::INFINITY),
                micros(-f64::INFINITY)
            ],
            [0; 3]
        );
    }

    #[test]
    fn a_huge_block_does_not_stay_in_the_threads_scratch() {
        let held = || SCRATCH.with_borrow(held);
        // Nine rows of 2 MB event ids: 18 MB in one column, over the limit.
        let huge = accounts_of(&[None; 9], &"x".repeat(SCRATCH_KEPT / 8));
        let mut out = Vec::new();
        encode_block(&mut out, "k", ACCOUNT_EVENTS, &huge, 0, huge.len());
        assert!(out.len() > SCRATCH_KEPT, "the block is over the limit");
        assert!(held() <= SCRATCH_KEPT, "{} bytes of scratch kept", held());
        let mut small = Vec::new();
        encode_block(
            &mut small,
            "k",
            ACCOUNT_EVENTS,
            &accounts(&[Some(1.0)]),
            0,
            1,
        );
        assert_eq!(
            read_block(&small).1,
            1,
            "the next block is encoded as usual"
        );
        assert!(
            held() > 0,
            "a block within the limit keeps its scratch for the next one"
        );
        let mut kept = vec![0u8; 100];
        trim_scratch(&mut kept);
        assert_eq!(
            kept.capacity(),
            100,
            "a buffer within the limit is kept as it is"
        );
        let mut freed = Vec::<u8>::with_capacity(SCRATCH_KEPT + 1);
        trim_scratch(&mut freed);
        assert_eq!(freed.capacity(), 0, "a buffer over the limit is freed");
    }

    #[test]
    fn long_strings_get_multi_byte_lengths() {
        let mut out = Vec::new();
        string(&mut out, &"x".repeat(300));
        assert_eq!(&out[..2], &[0xac, 0x02]);
        assert_eq!(out.len(), 302);
    }
}
