//! The CRC-32 of any span of one buffer, without reading the span: after one pass over the
//! buffer, a span's checksum costs a few multiplications in GF(2)[x] and at most two short
//! reads, whatever its length.
//!
//! The damaged-tail search asks, at every byte offset of a tail, whether a frame starts
//! there; each offset whose length field fits names a span of up to 64 MB to checksum. Read
//! span by span that is quadratic in the tail's length; through [`SpanCrc`] it is linear.
//!
//! The checksum is the one `crc32fast` computes (CRC-32/ISO-HDLC: reflected, polynomial
//! 0x04C11DB7, initial and final value all ones). For it, with `|Y|` the length of `Y` in
//! bytes, `crc(X ++ Y) = crc(X) * x^(8|Y|) ^ crc(Y)` (multiplication modulo the polynomial),
//! so `crc(Y) = crc(X ++ Y) ^ crc(X) * x^(8|Y|)`: a span's checksum follows from the
//! checksums of the buffer's prefixes up to its two ends. A prefix's checksum is that of the
//! last whole block before its end, kept from the pass, extended over the rest.

/// The polynomial, bit-reversed (the checksum's bits run lowest power first).
const POLY: u32 = 0xEDB8_8320;
/// `x^0` in the reversed representation.
const ONE: u32 = 1 << 31;
/// Bytes between the prefix checksums kept from the pass: at most this many are read again
/// at each end of a span. 256 keeps the kept checksums at 1.6 % of the buffer's size.
const BLOCK: usize = 256;

/// `a * b` modulo the polynomial, both in the reversed representation.
const fn mul(a: u32, mut b: u32) -> u32 {
    let mut product = 0;
    let mut bit = ONE;
    while bit != 0 {
        if a & bit != 0 {
            product ^= b;
        }
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
        bit >>= 1;
    }
    product
}

/// `POWERS[k][v] = x^(8 * v * 256^k)`: the factor that moves a checksum past `v * 256^k`
/// bytes; four digits of base 256 cover any length below 2^32.
const POWERS: [[u32; 256]; 4] = {
    let mut t = [[0u32; 256]; 4];
    // x^8: one byte. Each digit's step is the previous digit's step to the 256th power.
    let mut step = 1u32 << (31 - 8);
    let mut k = 0;
    while k < 4 {
        t[k][0] = ONE;
        let mut v = 1;
        while v < 256 {
            t[k][v] = mul(t[k][v - 1], step);
            v += 1;
        }
        step = mul(t[k][255], step);
        k += 1;
    }
    t
};

/// `crc` moved past `n` bytes: the checksum of `X` times `x^(8n)`, the part of
/// `crc(X ++ Y)` that `X` contributes when `|Y| = n`.
fn shift(crc: u32, n: usize) -> u32 {
    let n = u32::try_from(n).expect("spans stay below 4 GiB");
    let [d0, d1, d2, d3] = n.to_le_bytes();
    let mut factor = POWERS[0][d0 as usize];
    for (k, d) in [(1, d1), (2, d2), (3, d3)] {
        if d != 0 {
            factor = mul(factor, POWERS[k][d as usize]);
        }
    }
    mul(factor, crc)
}

/// One buffer with the checksums of its prefixes at every [`BLOCK`] bytes.
pub(crate) struct SpanCrc<'a> {
    bytes: &'a [u8],
    /// `blocks[j]` is the checksum of `bytes[..j * BLOCK]`.
    blocks: Vec<u32>,
}

impl<'a> SpanCrc<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        let mut blocks = Vec::with_capacity(bytes.len() / BLOCK + 1);
        let mut hasher = crc32fast::Hasher::new();
        blocks.push(0);
        for chunk in bytes.chunks_exact(BLOCK) {
            hasher.update(chunk);
            blocks.push(hasher.clone().finalize());
        }
        Self { bytes, blocks }
    }

    /// The checksum of `bytes[..end]`.
    fn prefix(&self, end: usize) -> u32 {
        let block = end / BLOCK;
        let rest = &self.bytes[block * BLOCK..end];
        shift(self.blocks[block], rest.len()) ^ crc32fast::hash(rest)
    }

    /// The checksum of `bytes[start..end]`, equal to `crc32fast::hash(&bytes[start..end])`.
    pub(crate) fn span(&self, start: usize, end: usize) -> u32 {
        assert!(
            start <= end && end <= self.bytes.len(),
            "span {start}..{end}"
        );
        self.prefix(end) ^ shift(self.prefix(start), end - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn moving_past_zero_bytes_changes_nothing_and_past_one_byte_is_x8() {
        assert_eq!(shift(0x1234_5678, 0), 0x1234_5678);
        assert_eq!(POWERS[0][1], 1 << (31 - 8));
        // Joining two known checksums: "1234" ++ "56789" is the check string "123456789".
        let (a, b) = (crc32fast::hash(b"1234"), crc32fast::hash(b"56789"));
        assert_eq!(shift(a, 5) ^ b, 0xCBF4_3926);
    }

    #[test]
    fn every_digit_of_a_long_shift_is_used() {
        // 2^24 + 2^16 + 2^8 + 1 bytes of zeros after "abc", against the shift's answer.
        let n = (1 << 24) + (1 << 16) + (1 << 8) + 1;
        let mut bytes = b"abc".to_vec();
        bytes.resize(3 + n, 0);
        let whole = crc32fast::hash(&bytes);
        let zeros = crc32fast::hash(&bytes[3..]);
        assert_eq!(shift(crc32fast::hash(b"abc"), n) ^ zeros, whole);
    }

    proptest! {
        #[test]
        fn a_span_s_checksum_is_the_checksum_of_its_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..3000),
            a in any::<prop::sample::Index>(),
            b in any::<prop::sample::Index>(),
        ) {
            let spans = SpanCrc::new(&bytes);
            let (x, y) = (a.index(bytes.len() + 1), b.index(bytes.len() + 1));
            let (start, end) = (x.min(y), x.max(y));
            prop_assert_eq!(spans.span(start, end), crc32fast::hash(&bytes[start..end]));
        }
    }
}
