//! Hints to the CPU to start loading memory the kernel is about to read: slots and memories
//! touched once per input are mostly cold. Safe functions over one intrinsic,
//! `_mm_prefetch`, which no safe code can issue.
//!
//! Why unsafe: with orders spread over 10,000 slots an order takes about 30 % longer without
//! the prefetches, and over 10 slots about 20 % longer; they add 1.6 % to the instructions of
//! the kernel cycle, which only the time shows paying (docs/performance.md).
//!
//! The invariant the intrinsic relies on: `sse` is part of the x86_64 baseline, and a
//! prefetch reads nothing the program can observe and never faults, whatever the address.

/// A hint to the CPU to start loading every cache line of `value`; it changes nothing
/// observable (a prefetch never faults), and is nothing on other architectures.
#[inline]
pub fn prefetch<T>(value: &T) {
    let at: *const u8 = (value as *const T).cast();
    if std::mem::size_of::<T>() <= std::mem::align_of::<T>().min(64) {
        // Within one line wherever it is (an aligned value no larger than its alignment,
        // which is at most a line's, crosses none): the one prefetch, no line counting.
        prefetch_line(at);
    } else {
        prefetch_bytes(at, std::mem::size_of::<T>());
    }
}

/// [`prefetch`] for the `len` bytes at `start`, which need not be valid memory: a prefetch
/// of an address the program does not own is dropped by the CPU.
#[inline]
pub fn prefetch_bytes(start: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    // Every line the range touches: from the start of its first line to its last byte. The
    // lines `len` spans from a line's start, a count known where `len` is (a value's size),
    // so the loop unrolls to its prefetches; then the one more a range straddling a line
    // boundary past them reaches.
    let skew = start.addr() % 64;
    let first = start.wrapping_sub(skew);
    let whole = len.div_ceil(64);
    for k in 0..whole {
        prefetch_line(first.wrapping_add(64 * k));
    }
    if skew + len > 64 * whole {
        prefetch_line(first.wrapping_add(64 * whole));
    }
}

/// [`prefetch_bytes`] for the one cache line that holds `at`.
#[inline(always)]
pub fn prefetch_line(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `sse` is part of the x86_64 baseline, and a prefetch reads nothing the
        // program can observe and never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
