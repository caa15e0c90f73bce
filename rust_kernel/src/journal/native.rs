//! Journal rows as ClickHouse `Native` blocks, so a writer hands ClickHouse bytes instead of
//! building Python values row by row.
//!
//! A block is `varint(columns) varint(rows)` followed, per column, by its name, its type and
//! the column's values: fixed-width numbers little-endian, strings as `varint(len) bytes`,
//! `Nullable(T)` as one null-flag byte per row and then the values (a zero for a null).
//! Several blocks back to back are one insert. Types are the wire types of `journal.rs`.

// The row buffers write lengths and strings exactly as the Native format wants them.
use super::{columns, put_str as string, put_varint as varint, wire_types, RowBuf, Value, TABLES};

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

/// One column being filled: values, plus null flags for a `Nullable` column.
#[derive(Default)]
struct Column {
    nulls: Vec<u8>,
    data: Vec<u8>,
}

impl Column {
    fn clear(&mut self) {
        self.nulls.clear();
        self.data.clear();
    }

    /// `json`: scratch for rendering details, kept between rows.
    fn push(&mut self, v: Value<'_>, json: &mut String) {
        let d = &mut self.data;
        match v {
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
        cols.iter_mut().for_each(Column::clear);
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

/// Bytes of memory the column buffers and the JSON scratch hold.
fn held((cols, json): &(Vec<Column>, String)) -> usize {
    let columns: usize = cols
        .iter()
        .map(|c| c.data.capacity() + c.nulls.capacity())
        .sum();
    columns + json.capacity()
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
    let payload: usize = cols.iter().map(|c| c.nulls.len() + c.data.len()).sum();
    out.reserve(payload + n * (kernel_id.len() + 1) + 64 * names.len());
    varint(out, names.len() as u64 + 1);
    varint(out, n as u64);
    string(out, "kernel_id");
    string(out, "String");
    for _ in 0..n {
        string(out, kernel_id);
    }
    for ((name, ty), col) in names.iter().zip(types).zip(cols) {
        string(out, name);
        string(out, ty);
        out.extend_from_slice(&col.nulls);
        out.extend_from_slice(&col.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{AccountRow, Outbox, ACCOUNT_COLUMNS, ACCOUNT_EVENTS, ACCOUNT_TYPES};
    use crate::types::*;

    /// Reads a block back: (columns, rows, [(name, type, raw column bytes)]), knowing the
    /// widths of the types the journal sends.
    /// (name, type, raw bytes) of one column.
    type ColumnBytes = (String, String, Vec<u8>);

    fn read_block(block: &[u8]) -> (u64, u64, Vec<ColumnBytes>) {
        use crate::journal::{read_str, read_varint, take};
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
                (Some(inner), _) => {
                    take(&mut b, nrows as usize * (1 + width(inner).unwrap()));
                }
                (None, Some(w)) => {
                    take(&mut b, nrows as usize * w);
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

    fn accounts(wallets: &[Option<f64>]) -> RowBuf {
        accounts_of(wallets, "ev-é")
    }

    fn accounts_of(wallets: &[Option<f64>], event_id: &str) -> RowBuf {
        let mut o = Outbox::default();
        for (i, wallet) in wallets.iter().enumerate() {
            o.record_account(
                7 + i as u64,
                &AccountRow {
                    ts: 1.5,
                    event_id: id(event_id),
                    kind: AccountEventKind::AccountUpdate,
                    asset: id(""),
                    amount: 2.0,
                    fee: 0.0,
                    fill_id: id(""),
                    wallet_balance: *wallet,
                    available_margin: None,
                    used_margin: None,
                    maint_margin: None,
                    k_capital: 10.0,
                    reconcile_status: "OK",
                    reconcile_delta: 0.0,
                },
            );
        }
        let [_, rows, ..] = o.drain_tables(usize::MAX);
        rows
    }

    #[test]
    fn a_block_carries_every_column_with_its_wire_type_and_values() {
        let rows = accounts(&[Some(3.25), None]);
        let mut out = Vec::new();
        encode_block(&mut out, "k-1", ACCOUNT_EVENTS, &rows, 0, 2);
        let (ncols, nrows, cols) = read_block(&out);
        assert_eq!((ncols, nrows), (1 + ACCOUNT_COLUMNS.len() as u64, 2));
        assert_eq!(cols[0].0, "kernel_id");
        assert_eq!(cols[0].2, b"\x03k-1\x03k-1");
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
