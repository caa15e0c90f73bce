//! Ids: made from text or from a counter, checked where new input brings them, and
//! fingerprinted for the kernel's memories of ids.

/// Immutable identifier text (trade, intent, order and event ids): see [`crate::id`].
pub use crate::id::Id;

/// An id from text.
#[inline]
pub fn id(s: &str) -> Id {
    // The empty id (no venue id yet, no event) is made on most inputs: answered without the
    // general path's copy.
    if s.is_empty() {
        return Id::default();
    }
    Id::new(s)
}

/// Whether an id starts with a printable ASCII byte (or DEL), as nearly every id does: such
/// an id is neither empty nor flawed as [`id_flaw`] judges. Asked of every id of every intent
/// and event, so the common case looks at the first byte only, in one signed comparison: a
/// byte of 0x80 or more (UTF-8) is negative.
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

/// Whether an id ends with a printable ASCII byte (or DEL): [`plain_start`] of its end.
#[inline]
pub fn plain_end(s: &str) -> bool {
    s.as_bytes().last().is_some_and(|&b| b as i8 > 0x20)
}

/// Why a non-empty asset of new input is unusable: flawed as any id ([`id_flaw`]), or with
/// whitespace at either end, which would make "BTCUSDT " a market of its own, outside the
/// caps and limits of BTCUSDT. `None` for a usable asset and an empty one.
#[cold]
pub fn asset_flaw(s: &str) -> Option<&'static str> {
    id_flaw(s).or_else(|| (s.trim() != s).then_some("must not have whitespace at either end"))
}

/// A 64-bit FNV-1a fingerprint of an id: stable across machines and versions (checkpoints
/// carry it), and small, so the kernel-wide memories of 100,000 ids stay cache-friendly.
/// Two ids colliding in a window of 100,000 has odds near 3e-10; the cost of a collision is
/// one refused intent (DUPLICATE_INTENT) or a late event reported as late, never a lost fill.
pub fn fingerprint(s: &str) -> u64 {
    folded(0xcbf2_9ce4_8422_2325, s)
}

/// The fingerprint of a venue order id in the memory of finished orders, which holds client
/// ids too: the id's bytes after a byte no `str` holds (0xFF), so a venue id equal to a
/// finished order's client id is not read as that order's venue id.
pub fn venue_fingerprint(s: &str) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    folded((0xcbf2_9ce4_8422_2325 ^ 0xff_u64).wrapping_mul(PRIME), s)
}

/// FNV-1a from `h` over `s`'s bytes.
#[inline(always)]
fn folded(mut h: u64, s: &str) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    // Eight bytes a step, each still folded in turn (the same value as byte by byte): a
    // venue event fingerprints three or four ids, and a loop of one byte a step spends much
    // of its time on its own counting.
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
/// event (four per order with the mock venue), and formatting machinery would be a large
/// share of a trade cycle. A caller making many ids of one prefix keeps a [`CounterIds`].
pub fn counter_id(prefix: &str, sep: &str, n: u64) -> Id {
    // Laid out in place, without the `String` a `CounterIds` keeps.
    match laid_out::<{ Id::INLINE_CAP }>(prefix, sep, n) {
        Some((buf, len)) => CounterIds::inline(&buf, len),
        None => long_counter_id(prefix, sep, n),
    }
}

/// `<prefix><sep><n>` in a zeroed buffer of `N` bytes and its length; None when it is longer.
#[inline]
fn laid_out<const N: usize>(prefix: &str, sep: &str, n: u64) -> Option<([u8; N], usize)> {
    let head = prefix.len() + sep.len();
    let len = head + digit_count(n);
    if len > N {
        return None;
    }
    let mut buf = [0u8; N];
    buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
    buf[prefix.len()..head].copy_from_slice(sep.as_bytes());
    put_digits(&mut buf, len, n);
    Some((buf, len))
}

/// How many decimal digits `n` has.
#[inline]
fn digit_count(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// `n`'s digits into `buf`, ending at `len`, last first, two a step.
#[inline]
fn put_digits<const N: usize>(buf: &mut [u8; N], len: usize, n: u64) {
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
/// fixed-size head and writes the digits, where copying the prefix and separator anew takes
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

    /// The first `len` bytes of `buf`, a prefix and its digits, as an inline id. The rest is
    /// zeros: `counter_id`'s buffer and `CounterIds::head` start so, and digits are written
    /// within the `len` they are counted for.
    #[inline]
    fn inline(buf: &[u8; Id::INLINE_CAP], len: usize) -> Id {
        Id::from_zero_padded(buf, len)
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

/// The longest [`long_counter_id`] laid out on the stack: a prefix of 44 bytes with its
/// separator and the 20 digits of the largest counter.
const LONG_COUNTER_ID_ROOM: usize = 64;

/// [`counter_id`] too long to be inline: a kernel whose id is longer than a few characters
/// makes every order id so once its counter has enough digits. Laid out on the stack, as the
/// shared text is made from it with one allocation; a head past that room is formatted.
fn long_counter_id(prefix: &str, sep: &str, n: u64) -> Id {
    match laid_out::<LONG_COUNTER_ID_ROOM>(prefix, sep, n) {
        Some((buf, len)) => {
            Id::from(std::str::from_utf8(&buf[..len]).expect("UTF-8 text and digits"))
        }
        None => Id::from(format!("{prefix}{sep}{n}")),
    }
}

/// "00" to "99", for [`counter_id`]: one division by 100 makes two digits.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

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
    fn assets_with_whitespace_at_either_end_are_flawed() {
        let ends = "must not have whitespace at either end";
        for padded in [
            "BTCUSDT ",
            "\tBTCUSDT",
            "BTCUSDT\n",
            "BTC\u{3000}",
            "\u{a0}BTC",
        ] {
            assert_eq!(asset_flaw(padded), Some(ends), "{padded:?}");
        }
        assert_eq!(asset_flaw(" "), Some("must not be only whitespace"));
        for fine in ["", "BTCUSDT", "BTC USDT", "é"] {
            assert_eq!(asset_flaw(fine), None, "{fine:?}");
        }
        assert!(plain_end("a") && !plain_end("a ") && !plain_end("") && !plain_end("é"));
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
    fn a_venue_fingerprint_is_its_ids_after_a_byte_no_str_holds() {
        let fnv = |bytes: &[u8]| {
            bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        };
        for v in ["", "paper-1", "12345678901234567890"] {
            let tagged: Vec<u8> = [0xff].iter().chain(v.as_bytes()).copied().collect();
            assert_eq!(venue_fingerprint(v), fnv(&tagged), "{v}");
            assert_ne!(venue_fingerprint(v), fingerprint(v), "{v}");
        }
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
        // Around the LONG_COUNTER_ID_ROOM bytes a shared id is laid out in without formatting.
        for head in ["y".repeat(43), "y".repeat(44), "y".repeat(45)] {
            let made = counter_id(&head, "-", u64::MAX);
            assert_eq!(&*made, format!("{head}-{}", u64::MAX));
            assert!(made.is_heap_allocated());
        }
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
}
