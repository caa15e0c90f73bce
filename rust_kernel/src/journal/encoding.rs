//! The row encoding: the byte writer that appends a row's values to a buffer, and the
//! readers that take them back. Every unchecked store and read of the journal is here,
//! behind safe functions: [`RowBuf::start_row`], [`RowWriter`] and [`read_str`].
//!
//! Why unsafe: the writer stores each value through a cursor into the buffer's spare
//! capacity, where `Vec`'s checked appends load, check and store its length at every value;
//! with them a kernel cycle with the journal on costs 7.5 % more instructions (the capture
//! itself 35 % more). The reader hands out an ASCII string without `from_utf8`'s check, which
//! costs the Native encoding 12 % more (docs/performance.md).
//!
//! The invariants the unsafe code relies on: the writer's cursor `at` always lies within its
//! buffer's allocation, every byte before it written; a store of up to [`SLACK`] bytes is
//! made only while `at` is not past `limit`, and a longer one only after `reserve` made
//! room for it; the buffer's length is set to the cursor once, when the writer is dropped
//! (or grows it). A row's strings never lie in the buffer it is written to. A string read
//! back was written from a `&str`, so its bytes, when ASCII, are UTF-8.

use super::*;

/// How far ahead of the end of a row buffer [`RowBuf::start_row`] prefetches, in bytes.
const PREFETCH_DISTANCE: usize = 512;

impl RowBuf {
    /// Starts a row of `(seq, sub)` if the segment has room for it ([`RowBuf::has_room`]):
    /// then the caller writes its values after this key, and it is true.
    #[inline]
    pub(super) fn start_row(&mut self, seq: u64, sub: u32) -> bool {
        if !self.has_room() {
            return false;
        }
        // The buffers are written once, front to back, far too much to stay in cache: each
        // new cache line would stall the writer on a load from memory. Asking for the lines a
        // few rows ahead lets those loads overlap with the kernel's work instead. Rows are
        // about 100 bytes: two lines a row keep ahead of them.
        let (bytes, starts) = (self.bytes.len(), self.starts.len());
        let ahead = self.bytes.as_ptr().wrapping_add(bytes + PREFETCH_DISTANCE);
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
pub(super) struct RowWriter<'a> {
    bytes: &'a mut Vec<u8>,
    /// The next byte to write, in `bytes`' allocation.
    at: *mut u8,
    /// The address [`SLACK`] bytes before the end of `bytes`' allocation (or 0): while `at`
    /// is not past it, any value of up to `SLACK` bytes fits, which one comparison tells.
    limit: usize,
}

/// Bytes a value may take and still be checked by one comparison with `RowWriter::limit`:
/// every value but a long string.
pub(super) const SLACK: usize = 64;

impl<'a> RowWriter<'a> {
    #[inline(always)]
    pub(super) fn new(bytes: &'a mut Vec<u8>) -> Self {
        let (at, limit) = spare_capacity(bytes);
        RowWriter { bytes, at, limit }
    }

    /// Makes sure `n` more bytes fit: in a segment, which starts each row with
    /// `ROW_ROOM` to spare, only a row with long strings or many details has to grow.
    #[inline(always)]
    fn reserve(&mut self, n: usize) {
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
        self.reserve(N);
        // SAFETY: `reserve` made sure of N writable bytes at `at`, in the allocation.
        unsafe {
            self.at.cast::<[u8; N]>().write_unaligned(b);
            self.at = self.at.add(N);
        }
        self
    }

    #[inline(always)]
    pub(super) fn code(&mut self, c: u8) -> &mut Self {
        self.put([c])
    }

    #[inline(always)]
    pub(super) fn bool(&mut self, x: bool) -> &mut Self {
        self.put([u8::from(x)])
    }

    #[inline(always)]
    pub(super) fn f64(&mut self, x: f64) -> &mut Self {
        self.put(x.to_le_bytes())
    }

    #[inline(always)]
    pub(super) fn i64(&mut self, x: i64) -> &mut Self {
        self.put(x.to_le_bytes())
    }

    #[inline(always)]
    pub(super) fn opt_f64(&mut self, x: Option<f64>) -> &mut Self {
        self.put([u8::from(x.is_some())]).f64(x.unwrap_or(0.0))
    }

    /// A varint: seven bits a byte, low first, the top bit set on all but the last.
    #[inline(always)]
    pub(super) fn varint(&mut self, n: u64) -> &mut Self {
        self.reserve(10);
        // SAFETY: `reserve` made sure of the varint's at most 10 bytes.
        self.at = unsafe { put_varint_at(self.at, n) };
        self
    }

    /// A string as its varint length and its bytes. Ids, assets and detail keys are short
    /// ([`SHORT_STR`]): a few moves, not a call to `memcpy`.
    #[inline(always)]
    pub(super) fn str(&mut self, s: &str) -> &mut Self {
        let b = s.as_bytes();
        let n = b.len();
        if n <= SHORT_STR {
            self.reserve(1 + SHORT_STR);
            // SAFETY: `reserve` made sure of 1 + SHORT_STR >= 1 + n writable bytes at `at`; a
            // row's buffer never overlaps a string handed to it.
            unsafe {
                self.at.write(n as u8);
                copy_short(b.as_ptr(), self.at.add(1), n);
                self.at = self.at.add(1 + n);
            }
        } else {
            self.reserve(10 + n);
            // SAFETY: `reserve` made sure of 10 + n bytes at `at`; a row's buffer never overlaps
            // a string handed to it.
            self.at = unsafe { write_long_str(self.at, b) };
        }
        self
    }

    /// Details as a blob: its length in 4 bytes (so a reader can skip it), the count as a
    /// varint, then each key and a tagged value.
    #[inline(always)]
    pub(super) fn details(&mut self, d: &[(&'static str, Detail)]) -> &mut Self {
        self.named_values(d.len(), d.iter().map(|(k, v)| (*k, v.as_ref())))
    }

    /// [`RowWriter::details`] of `n` named values.
    pub(super) fn named_values<'v>(
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
fn spare_capacity(bytes: &mut Vec<u8>) -> (*mut u8, usize) {
    let (len, cap) = (bytes.len(), bytes.capacity());
    let base = bytes.as_mut_ptr();
    // SAFETY: `len` is an offset within, or one past, the allocation.
    let at = unsafe { base.add(len) };
    (at, (base.addr() + cap).saturating_sub(SLACK))
}

/// Grows `bytes`, written up to `at`, to fit `n` more bytes (and at least [`SLACK`]);
/// returns its spare capacity as [`spare_capacity`] does.
#[cold]
#[inline(never)]
fn grow(bytes: &mut Vec<u8>, at: *mut u8, n: usize) -> (*mut u8, usize) {
    let len = at.addr() - bytes.as_ptr().addr();
    // SAFETY: the bytes up to `at` were written.
    unsafe { bytes.set_len(len) };
    bytes.reserve(n.max(SLACK));
    spare_capacity(bytes)
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

/// Appends `n` as a varint (what [`RowWriter`] writes; for the Native encoder).
#[inline(always)]
pub(super) fn put_varint(out: &mut Vec<u8>, n: u64) {
    RowWriter::new(out).varint(n);
}

/// Appends `s` as its varint length and its bytes (what [`RowWriter::str`] writes; for the
/// Native encoder).
#[inline(always)]
pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    RowWriter::new(out).str(s);
}

/// The next `n` bytes.
pub(super) fn read_bytes<'a>(b: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, rest) = b.split_at(n);
    *b = rest;
    head
}

/// The next `N` bytes, as an array for `from_le_bytes`.
pub(super) fn read_array<const N: usize>(b: &mut &[u8]) -> [u8; N] {
    read_bytes(b, N).try_into().expect("N bytes")
}

/// A varint as [`RowWriter::varint`] writes it.
pub(super) fn read_varint(b: &mut &[u8]) -> u64 {
    let (mut n, mut shift) = (0u64, 0);
    loop {
        let byte = read_bytes(b, 1)[0];
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

/// A string as [`RowWriter::str`] writes it.
pub(super) fn read_str<'a>(b: &mut &'a [u8]) -> &'a str {
    let len = read_varint(b) as usize;
    let bytes = read_bytes(b, len);
    if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8. Ids, assets and detail keys are ASCII; checking them with
        // the general `from_utf8`, an out-of-line call per string, would weigh on the journal
        // writer's encoding.
        return unsafe { std::str::from_utf8_unchecked(bytes) };
    }
    // Only `put_str` and `RowWriter::str` write these bytes, from a &str.
    std::str::from_utf8(bytes).expect("row buffers hold the utf-8 they were given")
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let len = u32::from_le_bytes(read_array(&mut b)) as usize;
            assert_eq!(len, b.len() - 1, "the blob's length, {spare} spare bytes");
            assert_eq!(DetailsRef(&b[..len]).to_json(), details_json(&details));
            assert_eq!(b[len..], [8]);
        }
    }
}
