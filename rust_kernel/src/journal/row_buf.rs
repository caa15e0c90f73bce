//! A buffer of one table's rows packed back to back, read back value by value; in an
//! outbox, a segment of fixed size.

use super::*;

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

/// Rows of one table, packed back to back (see the journal's module documentation). In an
/// outbox, one segment of a table's rows (see [`Outbox`]). Rows are started by
/// `RowBuf::start_row`, beside the byte writer in `encoding`, which writes their values.
#[derive(Clone, Debug, Default)]
pub struct RowBuf {
    pub(super) bytes: Vec<u8>,
    /// Where each row starts in `bytes`.
    pub(super) starts: Vec<usize>,
    /// Rows at the front that were taken or dropped (`discard_front`): row `i` is
    /// `starts[discarded + i]`. Their memory goes when the whole segment does.
    pub(super) discarded: usize,
}

/// Bytes of rows an outbox segment is made for.
pub const SEGMENT_BYTES: usize = 256 << 10;

/// Rows an outbox segment is made for: rows of 64 bytes or more (every table's but the
/// shortest control rows) fill its bytes first.
pub(super) const SEGMENT_ROWS: usize = SEGMENT_BYTES / 64;

/// Room a segment must have left for a row to start in it. Rows are about 40 to 200 bytes;
/// only one with long strings or details outgrows it, and then regrows its segment.
pub(super) const ROW_ROOM: usize = 1 << 10;

impl RowBuf {
    /// An empty outbox segment, its memory allocated but not yet touched.
    pub(super) fn segment() -> RowBuf {
        RowBuf {
            bytes: Vec::with_capacity(SEGMENT_BYTES),
            starts: Vec::with_capacity(SEGMENT_ROWS),
            discarded: 0,
        }
    }

    /// Whether a segment has the sizes it was made with (it was never regrown), so the pool
    /// may hand it out again.
    pub(super) fn is_segment(&self) -> bool {
        self.bytes.capacity() == SEGMENT_BYTES && self.starts.capacity() == SEGMENT_ROWS
    }

    /// Whether the next row can start here without the buffers growing (unless the row
    /// outgrows `ROW_ROOM`). Measured against the sizes of a segment, so a segment regrown
    /// by a long row takes no more rows, and against the capacities, so neither does a
    /// cloned one (a clone has no room to spare).
    #[inline]
    pub(super) fn has_room(&self) -> bool {
        let bytes = self.bytes.capacity().min(SEGMENT_BYTES);
        let rows = self.starts.capacity().min(SEGMENT_ROWS);
        self.bytes.len() + ROW_ROOM <= bytes && self.starts.len() < rows
    }

    pub fn len(&self) -> usize {
        self.starts.len() - self.discarded
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn row(&self, i: usize) -> &[u8] {
        let i = self.discarded + i;
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
    pub(super) fn last_seq(&self) -> Option<u64> {
        self.len().checked_sub(1).map(|i| self.seq(i))
    }

    /// How many rows have a seq below `cut` (rows are in seq order).
    pub(super) fn count_below(&self, cut: u64) -> usize {
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
                Kind::Code(names) => Value::Str(names[read_bytes(&mut b, 1)[0] as usize]),
                Kind::U64 => Value::U64(u64::from_le_bytes(read_array(&mut b))),
                Kind::U32 => Value::U32(u32::from_le_bytes(read_array(&mut b))),
                Kind::I64 => Value::I64(i64::from_le_bytes(read_array(&mut b))),
                Kind::F64 => Value::F64(f64::from_le_bytes(read_array(&mut b))),
                Kind::Ts => Value::Ts(f64::from_le_bytes(read_array(&mut b))),
                Kind::OptF64 => {
                    let present = read_bytes(&mut b, 1)[0] != 0;
                    let x = f64::from_le_bytes(read_array(&mut b));
                    Value::OptF64(present.then_some(x))
                }
                Kind::Bool => Value::Bool(read_bytes(&mut b, 1)[0] != 0),
                Kind::Str => Value::Str(read_str(&mut b)),
                Kind::Details => {
                    let len = u32::from_le_bytes(read_array(&mut b));
                    Value::Details(DetailsRef(read_bytes(&mut b, len as usize)))
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
        let (from, to) = (self.discarded + from, self.discarded + to);
        let end = self.starts.get(to).copied().unwrap_or(self.bytes.len());
        end - self.starts[from]
    }

    /// Appends row `i` of `other`.
    pub fn push_from(&mut self, other: &RowBuf, i: usize) {
        self.starts.push(self.bytes.len());
        self.bytes.extend_from_slice(other.row(i));
    }

    /// Appends rows `from..to` of `other`.
    pub(super) fn extend_from(&mut self, other: &RowBuf, from: usize, to: usize) {
        let (from, to) = (other.discarded + from, other.discarded + to);
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
        let live = |p: &RowBuf| p.bytes.len() - p.starts.get(p.discarded).copied().unwrap_or(0);
        let mut out = RowBuf {
            bytes: Vec::with_capacity(parts.iter().map(live).sum()),
            starts: Vec::with_capacity(parts.iter().map(RowBuf::len).sum()),
            discarded: 0,
        };
        for p in parts {
            out.extend_from(p, 0, p.len());
        }
        out
    }

    /// Keeps the first `n` rows and forgets the rest.
    pub(super) fn truncate_rows(&mut self, n: usize) {
        let end = self.discarded + n;
        if end < self.starts.len() {
            self.bytes.truncate(self.starts[end]);
            self.starts.truncate(end);
        }
    }

    /// Forgets the first `n` rows; their memory stays until the segment is emptied.
    pub(super) fn discard_front(&mut self, n: usize) {
        self.discarded += n;
        debug_assert!(self.discarded <= self.starts.len());
    }

    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
        self.discarded = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
