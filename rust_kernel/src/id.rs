//! [`Id`]: the kernel's immutable id text (trade, intent, order, event and fill ids, assets).
//!
//! 24 bytes. A text of up to [`Id::INLINE_CAP`] (23) bytes is always held inline, zero-padded,
//! with its length in the last byte; a longer one is shared (`Arc<str>`), that byte then
//! [`Tag::Heap`]. One text has one form, so two ids are equal when their three words are, and
//! only two shared texts ever compare their bytes. Reading an id's text is one compare of its
//! last byte.
//!
//! Why unsafe: the id is a union read by its last byte, and an inline text is handed out as
//! `&str` without checking its bytes again. Safe code has to check an inline text's UTF-8 at
//! every read: such an enum costs 45 % more instructions of the kernel cycle, an `Arc<str>`
//! for every id 97 % more, and `smol_str` (unsafe code of its own) 11 % more
//! (docs/performance.md).
//!
//! The invariants the unsafe code relies on, which only this module's code makes and reads:
//! the last byte is a [`Tag`], 0 to 23 the length of an inline text, `Heap` for a shared one;
//! an inline text is UTF-8 and the rest of its 23 bytes are zeros; a shared id's head is the
//! pointer `Arc::<str>::into_raw` gave and the text's length, its `rest` zeros, and the id
//! holds one count of that `Arc`, which its drop gives back once.

use serde::de::{Deserializer, Error, Unexpected, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The last byte of an [`Id`]: an inline text's length, or `Heap`. An enum so the values
/// past `Heap` are a niche (`Option<Id>` is 24 bytes, as `Option<SmolStr>` was).
#[allow(dead_code)] // Made by transmuting a length, never named.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Tag {
    L0 = 0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
    L16,
    L17,
    L18,
    L19,
    L20,
    L21,
    L22,
    L23,
    Heap,
}

/// A shared text: `Arc::<str>::into_raw`'s pointer to its first byte, and its length.
#[derive(Clone, Copy)]
#[repr(C)]
struct Shared {
    ptr: *const u8,
    len: usize,
}

/// An id's first 16 bytes: an inline text's first 16 bytes, or its shared text.
#[derive(Clone, Copy)]
#[repr(C)]
union Head {
    text: [u8; 16],
    shared: Shared,
}

/// Immutable identifier text. Ids up to 23 bytes (the kernel's own order ids, venues' event
/// and fill ids) live inline: making, cloning and dropping one never touches the allocator.
/// Longer ids are shared, so a clone is a reference-count bump and ids travel into
/// transitions and journal rows for free. Compared, ordered, hashed and serialized as its
/// text (a `HashMap<Id, _>` is looked up by `&str`).
#[repr(C)]
pub struct Id {
    head: Head,
    /// An inline text's bytes 16 to 22; zeros when shared.
    rest: [u8; 7],
    tag: Tag,
}

const _: () = assert!(std::mem::size_of::<Id>() == 24);
const _: () = assert!(std::mem::size_of::<Option<Id>>() == 24);
const _: () = assert!(std::mem::align_of::<Id>() == std::mem::align_of::<u64>());
const _: () = assert!(Tag::Heap as usize == Id::INLINE_CAP + 1);

// SAFETY: an `Id` is plain bytes or an `Arc<str>` it owns one count of, and `Arc<str>` is
// `Send` and `Sync`; the text is never written after it is made.
unsafe impl Send for Id {}
// SAFETY: as for `Send`: shared access only reads the bytes or the `Arc`'s immutable text.
unsafe impl Sync for Id {}

impl Id {
    /// The longest text held inline.
    pub const INLINE_CAP: usize = 23;

    /// The empty id.
    const EMPTY: Id = Id {
        head: Head { text: [0; 16] },
        rest: [0; 7],
        tag: Tag::L0,
    };

    /// An id of `text`: inline when it fits, else shared.
    #[inline]
    pub fn new(text: &str) -> Id {
        if text.len() <= Self::INLINE_CAP {
            Self::new_inline(text)
        } else {
            Self::shared(text)
        }
    }

    /// An inline id of `text`.
    ///
    /// # Panics
    ///
    /// When `text` is longer than [`Id::INLINE_CAP`].
    #[inline]
    pub fn new_inline(text: &str) -> Id {
        let len = text.len();
        assert!(
            len <= Self::INLINE_CAP,
            "an inline id holds at most 23 bytes"
        );
        let mut bytes = [0u8; 24];
        bytes[..len].copy_from_slice(text.as_bytes());
        bytes[Self::INLINE_CAP] = len as u8;
        // SAFETY: every bit pattern is a valid `Head` (a union of plain bytes and a pointer
        // that is never read when inline) and `[u8; 7]`; the last byte, `len`, is at most 23,
        // a `Tag` (`Tag::L0` to `Tag::L23` are 0 to 23). The text is valid UTF-8, zero-padded.
        unsafe { std::mem::transmute::<[u8; 24], Id>(bytes) }
    }

    /// An inline id of `buf`'s first `len` bytes, the rest of `buf` zeros: one fixed-size
    /// copy, for a maker laying ids out in a zeroed buffer of its own (`CounterIds`). The
    /// rest being zeros is the id's one form (one with other bytes there would not equal the
    /// same text made otherwise).
    ///
    /// # Panics
    ///
    /// When `len` is more than [`Id::INLINE_CAP`], or `buf[..len]` is not UTF-8.
    #[inline]
    pub fn from_zero_padded(buf: &[u8; Self::INLINE_CAP], len: usize) -> Id {
        assert!(
            len <= Self::INLINE_CAP,
            "an inline id holds at most 23 bytes"
        );
        debug_assert!(buf[len..].iter().all(|&b| b == 0), "zero-padded");
        // ASCII (every id a counter makes) told by the top bits of three overlapping words;
        // anything else checked whole.
        let word = |at: usize| u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
        let ascii = (word(0) | word(8) | word(15)) & 0x8080_8080_8080_8080 == 0;
        assert!(
            ascii || std::str::from_utf8(&buf[..len]).is_ok(),
            "an id is UTF-8"
        );
        let mut bytes = [0u8; 24];
        bytes[..Self::INLINE_CAP].copy_from_slice(buf);
        bytes[Self::INLINE_CAP] = len as u8;
        // SAFETY: as in `new_inline`: the last byte is `len`, at most 23, a `Tag`; the text,
        // UTF-8 (checked above) and zero-padded.
        unsafe { std::mem::transmute::<[u8; 24], Id>(bytes) }
    }

    /// A shared id of `text`, longer than inline ids hold.
    #[inline(never)]
    fn shared(text: &str) -> Id {
        debug_assert!(text.len() > Self::INLINE_CAP);
        let len = text.len();
        let ptr = Arc::into_raw(Arc::<str>::from(text)).cast::<u8>();
        Id {
            head: Head {
                shared: Shared { ptr, len },
            },
            rest: [0; 7],
            tag: Tag::Heap,
        }
    }

    /// Whether the text is shared (longer than [`Id::INLINE_CAP`]): an id that is not owns
    /// nothing, its clone is its bitwise copy and its drop frees nothing.
    #[inline(always)]
    pub fn is_heap_allocated(&self) -> bool {
        self.tag == Tag::Heap
    }

    /// The text.
    #[inline(always)]
    pub fn as_str(&self) -> &str {
        let tag = self.tag as u8;
        let (ptr, len) = if tag <= Self::INLINE_CAP as u8 {
            ((self as *const Id).cast::<u8>(), tag as usize)
        } else {
            // SAFETY: a shared id's head is its `Shared` (read as plain words either way).
            let s = unsafe { self.head.shared };
            (s.ptr, s.len)
        };
        // SAFETY: inline, the first `tag` (<= 23) bytes of `self`, its text; shared, the
        // `Arc<str>`'s text, alive while `self` holds its count. Either is valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr, len)) }
    }

    /// The text's length in bytes.
    #[inline(always)]
    pub fn len(&self) -> usize {
        let tag = self.tag as u8;
        if tag <= Self::INLINE_CAP as u8 {
            tag as usize
        } else {
            // SAFETY: a shared id's head is its `Shared`.
            unsafe { self.head.shared.len }
        }
    }

    /// Whether the text is empty (a shared text never is).
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.tag == Tag::L0
    }

    /// The id's three words: equal for two ids of one inline text, or of one shared text.
    #[inline(always)]
    fn words(&self) -> [u64; 3] {
        // SAFETY: `Id` is 24 bytes, 8-aligned, every byte initialized (an inline id's padding
        // is zeros, a shared one's `rest` too); a shared pointer read as an integer is only
        // compared.
        unsafe { std::mem::transmute_copy::<Id, [u64; 3]>(self) }
    }

    /// The shared text's `Arc` pointer.
    #[inline(always)]
    fn arc_ptr(&self) -> *const str {
        debug_assert!(self.is_heap_allocated());
        // SAFETY: only called on a shared id, whose head is its `Shared`.
        let s = unsafe { self.head.shared };
        std::ptr::slice_from_raw_parts(s.ptr, s.len) as *const str
    }

    /// A shared id's drop, out of line: every drop inlined is then one compare of the tag
    /// and a call never taken for an inline id, where the `Arc`'s release (its atomic
    /// decrement and the free) made each drop's code larger, and `drop_in_place` of an
    /// order with four ids a call of its own.
    #[cold]
    #[inline(never)]
    fn release(&mut self) {
        // SAFETY: only called by `drop`, once, on a shared id: the pointer is
        // `Arc::into_raw`'s and `self` holds one count, given back here (the id is gone
        // after).
        drop(unsafe { Arc::from_raw(self.arc_ptr()) });
    }
}

impl Clone for Id {
    #[inline(always)]
    fn clone(&self) -> Id {
        if self.is_heap_allocated() {
            // SAFETY: the pointer is `Arc::into_raw`'s, its count held by `self`: one more
            // count for the copy, given back by the copy's drop.
            unsafe { Arc::increment_strong_count(self.arc_ptr()) };
        }
        // SAFETY: the fields are plain data (`Copy`); a shared id's count was taken above.
        unsafe { std::ptr::read(self) }
    }
}

impl Drop for Id {
    #[inline(always)]
    fn drop(&mut self) {
        if self.is_heap_allocated() {
            self.release();
        }
    }
}

impl Default for Id {
    #[inline(always)]
    fn default() -> Id {
        Id::EMPTY
    }
}

impl Deref for Id {
    type Target = str;

    #[inline(always)]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Id {
    #[inline(always)]
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Id {
    #[inline(always)]
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl Borrow<str> for Id {
    #[inline(always)]
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Id {
    #[inline(always)]
    fn eq(&self, other: &Id) -> bool {
        let (a, b) = (self.words(), other.words());
        // Equal words: one inline text, or one shared text. Otherwise only two shared texts
        // (both longer than inline ones) may still be equal.
        ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2])) == 0
            || (self.is_heap_allocated()
                && other.is_heap_allocated()
                && shared_eq(self.as_str(), other.as_str()))
    }
}

/// Two shared texts' comparison, out of the way of inline ids'.
#[inline(never)]
fn shared_eq(a: &str, b: &str) -> bool {
    a == b
}

impl Eq for Id {}

/// `==` between an id and text of type `$t`, both ways: the id's text compared.
macro_rules! eq_as_text {
    ($($t:ty),+) => {$(
        impl PartialEq<$t> for Id {
            #[inline(always)]
            fn eq(&self, other: &$t) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }

        impl PartialEq<Id> for $t {
            #[inline(always)]
            fn eq(&self, other: &Id) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )+};
}

eq_as_text!(str, &str, String);

impl Ord for Id {
    #[inline]
    fn cmp(&self, other: &Id) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Id {
    #[inline]
    fn partial_cmp(&self, other: &Id) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Id {
    /// As its text's (`str`'s) hash: a map keyed by ids is looked up by `&str`.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<&str> for Id {
    #[inline]
    fn from(s: &str) -> Id {
        Id::new(s)
    }
}

impl From<&String> for Id {
    #[inline]
    fn from(s: &String) -> Id {
        Id::new(s)
    }
}

impl From<String> for Id {
    #[inline]
    fn from(s: String) -> Id {
        Id::new(&s)
    }
}

impl From<&Id> for String {
    #[inline]
    fn from(id: &Id) -> String {
        id.as_str().to_owned()
    }
}

impl From<Id> for String {
    #[inline]
    fn from(id: Id) -> String {
        id.as_str().to_owned()
    }
}

impl std::str::FromStr for Id {
    type Err = std::convert::Infallible;

    #[inline]
    fn from_str(s: &str) -> Result<Id, Self::Err> {
        Ok(Id::new(s))
    }
}

impl Serialize for Id {
    /// As a plain string (the same bytes as its `String`'s).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Id {
    /// From a string, or UTF-8 bytes (what `smol_str` took).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Id, D::Error> {
        struct IdVisitor;

        impl Visitor<'_> for IdVisitor {
            type Value = Id;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id::new(v))
            }

            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Id, E> {
                std::str::from_utf8(v)
                    .map(Id::new)
                    .map_err(|_| Error::invalid_value(Unexpected::Bytes(v), &self))
            }
        }

        deserializer.deserialize_str(IdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::hash::BuildHasher;
    use std::mem::ManuallyDrop;

    /// The shared text's count of a shared id.
    fn count(id: &Id) -> usize {
        // SAFETY: a shared id's pointer is `Arc::into_raw`'s; the `Arc` made here is never
        // dropped, so the count is left as it was.
        let arc = ManuallyDrop::new(unsafe { Arc::from_raw(id.arc_ptr()) });
        Arc::strong_count(&arc)
    }

    /// A weak handle on a shared id's text: alive while any id holds it.
    fn weak_of(id: &Id) -> std::sync::Weak<str> {
        // SAFETY: as in `count`: the `Arc` made here is never dropped.
        let arc = ManuallyDrop::new(unsafe { Arc::from_raw(id.arc_ptr()) });
        Arc::downgrade(&arc)
    }

    fn bincode_fixint() -> impl bincode::Options {
        use bincode::Options;
        bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .allow_trailing_bytes()
    }

    /// Ids checked against `String`: every read, comparison, hash, clone, drop and encoding.
    fn check(a: &str, b: &str) {
        let (ia, ib) = (Id::new(a), Id::new(b));
        let (sa, sb) = (a.to_owned(), b.to_owned());
        assert_eq!(ia.as_str(), sa);
        assert_eq!(&*ia, a);
        assert_eq!(ia.len(), sa.len());
        assert_eq!(ia.is_empty(), sa.is_empty());
        assert_eq!(ia.is_heap_allocated(), a.len() > Id::INLINE_CAP);
        assert_eq!(ia == ib, sa == sb);
        let (from_string, from_ref) = (Id::from(sb.clone()), Id::from(&sa));
        assert_eq!(ia == from_string, sa == sb);
        assert_eq!(ia, from_ref);
        assert_eq!(ia, *a);
        assert_eq!(ia, a);
        assert_eq!(ia, sa);
        assert_eq!(*a, ia);
        assert_eq!(a, ia);
        assert_eq!(sa, ia);
        assert_eq!(ia.cmp(&ib), sa.cmp(&sb));
        assert_eq!(ia.partial_cmp(&ib), sa.partial_cmp(&sb));
        let h = ahash::RandomState::with_seeds(1, 2, 3, 4);
        assert_eq!(h.hash_one(&ia), h.hash_one(a));
        assert_eq!(h.hash_one(&ia), h.hash_one(&sa));
        let f = std::collections::hash_map::RandomState::new();
        assert_eq!(f.hash_one(&ia), f.hash_one(a));
        assert_eq!(format!("{ia:?}"), format!("{sa:?}"));
        assert_eq!(format!("{ia}"), sa);
        // Clone and drop: a shared text's count up by one, then back.
        let copy = ia.clone();
        assert_eq!(copy, ia);
        assert_eq!(copy.words(), ia.words());
        if ia.is_heap_allocated() {
            assert_eq!(count(&ia), 2);
            drop(copy);
            assert_eq!(count(&ia), 1);
        } else {
            drop(copy);
        }
        // The same bytes as the text's, both ways, in the checkpoints' and the log's codecs.
        let bytes = bincode::serialize(&ia).unwrap();
        assert_eq!(bytes, bincode::serialize(&sa).unwrap());
        assert_eq!(bytes, bincode::serialize(a).unwrap());
        let back: Id = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, ia);
        if !ia.is_heap_allocated() {
            assert_eq!(back.words(), ia.words(), "one text, one form");
        }
        use bincode::Options;
        let fix = bincode_fixint().serialize(&ia).unwrap();
        assert_eq!(fix, bincode_fixint().serialize(&sa).unwrap());
        let back: Id = bincode_fixint().deserialize(&fix).unwrap();
        assert_eq!(back, ia);
        let mut map = HashMap::new();
        map.insert(ia.clone(), 1);
        assert_eq!(map.get(a), Some(&1));
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z0-9-]{0,30}",
            "[a-z]{22,25}",
            ".{0,12}",
            "[\\x00a\u{e9}\u{20ac}\u{1f600}]{0,14}",
            "[a-z]{1,80}",
        ]
    }

    proptest! {
        #[test]
        fn an_id_is_its_text(a in text(), b in text()) {
            check(&a, &b);
            check(&a, &a);
            // The same text equal whichever way it was made.
            let twin = Id::new(&a.clone());
            prop_assert_eq!(twin.words() == Id::new(&a).words(), a.len() <= Id::INLINE_CAP);
        }
    }

    #[test]
    fn the_boundaries_and_encodings() {
        let texts = [
            String::new(),
            "x".repeat(22),
            "x".repeat(23),
            "x".repeat(24),
            "x".repeat(100),
            "a\0b".into(),
            "\u{e9}".repeat(11) + "z", // 23 bytes, two-byte chars
            "\u{e9}".repeat(12),       // 24 bytes
            "\u{1f600}".repeat(6),     // 24 bytes, four-byte chars
        ];
        for a in &texts {
            for b in &texts {
                check(a, b);
            }
        }
        // The bytes as they were: an 8-byte little-endian length, then the text.
        for n in [0usize, 23, 24, 100] {
            let text = "q".repeat(n);
            let mut want = (n as u64).to_le_bytes().to_vec();
            want.extend_from_slice(text.as_bytes());
            assert_eq!(bincode::serialize(&Id::new(&text)).unwrap(), want);
            let back: Id = bincode::deserialize(&want).unwrap();
            assert_eq!(back, *text);
            assert_eq!(back.is_heap_allocated(), n > 23);
        }
        assert!(Id::default().is_empty() && Id::default().as_str().is_empty());
        assert_eq!(Id::default(), "");
        assert_eq!(Id::default().words(), [0; 3]);
        assert_eq!(Id::new_inline("abc"), Id::new("abc"));
        let none: Option<Id> = None;
        assert!(none.is_none() && Some(Id::new(&"y".repeat(40))).is_some());
    }

    #[test]
    fn every_inline_length_is_copied_whole_and_zero_padded() {
        let text = "abcdefghijklmnopqrstuvwxyz";
        for len in 0..=Id::INLINE_CAP {
            let made = Id::new_inline(&text[..len]);
            assert_eq!(made.as_str(), &text[..len]);
            let mut want = [0u8; 24];
            want[..len].copy_from_slice(&text.as_bytes()[..len]);
            want[23] = len as u8;
            // SAFETY: `Id` is 24 bytes, every one initialized.
            let got: [u8; 24] = unsafe { std::mem::transmute_copy(&made) };
            assert_eq!(got, want, "length {len}");
            // From a zeroed buffer: the same id.
            let mut buf = [0; Id::INLINE_CAP];
            buf[..len].copy_from_slice(&text.as_bytes()[..len]);
            let from_buf = Id::from_zero_padded(&buf, len);
            assert_eq!(from_buf, made);
            // SAFETY: as above.
            let got: [u8; 24] = unsafe { std::mem::transmute_copy(&from_buf) };
            assert_eq!(got, want, "length {len} from a buffer");
        }
    }

    #[test]
    fn a_zero_padded_id_of_any_utf8_is_its_text() {
        for text in [
            "",
            "k-1",
            "\u{e9}t\u{e9}-42",
            "\u{20ac}\u{1f600}-7",
            "x-\u{e9}",
        ] {
            let mut buf = [0; Id::INLINE_CAP];
            buf[..text.len()].copy_from_slice(text.as_bytes());
            assert_eq!(
                Id::from_zero_padded(&buf, text.len()),
                Id::new(text),
                "{text}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "an id is UTF-8")]
    fn a_zero_padded_id_is_utf8() {
        let mut buf = [0; Id::INLINE_CAP];
        buf[..3].copy_from_slice(&[b'k', 0xC3, b'-']);
        Id::from_zero_padded(&buf, 3);
    }

    #[test]
    #[should_panic(expected = "at most 23")]
    fn an_inline_id_holds_at_most_23_bytes() {
        Id::new_inline(&"x".repeat(24));
    }

    #[test]
    fn a_shared_text_is_freed_with_its_last_id() {
        let a = Id::new(&"long".repeat(10));
        let weak = weak_of(&a);
        let b = a.clone();
        let c = b.clone();
        assert_eq!(count(&a), 3);
        drop(a);
        drop(b);
        assert!(weak.upgrade().is_some());
        drop(c);
        assert!(weak.upgrade().is_none(), "freed with its last id");
    }

    #[test]
    fn a_shared_id_in_a_container_gives_its_count_back_once() {
        // Drops through drop glue (a `Vec`, an `Option`, a struct's fields) reach `release`
        // once for each shared id, and never for an inline one beside it.
        let a = Id::new(&"shared".repeat(6));
        let weak = weak_of(&a);
        let inline = Id::new("inline");
        let many: Vec<Id> = (0..10).map(|_| a.clone()).collect();
        let pair = (Some(a.clone()), inline.clone(), [a.clone(), inline.clone()]);
        assert_eq!(count(&a), 13);
        drop(many);
        assert_eq!(count(&a), 3);
        drop(pair);
        assert_eq!(count(&a), 1);
        assert_eq!(inline, "inline");
        drop(a);
        assert!(weak.upgrade().is_none(), "freed with its last id");
    }

    #[test]
    fn ids_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Id>();
        let a = Id::new(&"shared across threads".repeat(3));
        let b = a.clone();
        let t = std::thread::spawn(move || b.len());
        assert_eq!(t.join().unwrap(), a.len());
        assert_eq!(count(&a), 1);
    }
}
