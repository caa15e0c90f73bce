//! The pool of outbox segments that every outbox of the process writes its rows into and a
//! drainer gives back once it has read them.

use super::*;
use std::sync::Mutex;

/// Segments whose rows were taken, for outboxes to write their next rows into: memory that
/// is already mapped (and, handed out last in first out, often still in cache) instead of
/// fresh pages to fault in. One pool serves the process ([`SEGMENT_POOL`]): the drainer of
/// any kernel gives segments back, and a new kernel starts in the segments of earlier ones.
#[derive(Debug, Default)]
pub struct SegmentPool(Mutex<Vec<RowBuf>>);

/// Segments a pool keeps at most; those given back beyond it are freed. Idle, a pool at its
/// cap holds 64 segments of 256 KiB of bytes and 32 KiB of row starts: 18 MiB. A kernel
/// drained every few milliseconds has a few out at a time (one per table being written,
/// those of the last drain being copied); 64 also cover a drainer about 140,000 rows (of
/// 120 bytes) behind.
pub(super) const POOLED_SEGMENTS: usize = 64;

/// The process's pool, where every outbox takes its segments from unless given another.
pub static SEGMENT_POOL: SegmentPool = SegmentPool::new();

impl SegmentPool {
    pub const fn new() -> SegmentPool {
        SegmentPool(Mutex::new(Vec::new()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RowBuf>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An empty segment: the one given back last, or a new one.
    pub(super) fn take(&self) -> RowBuf {
        let pooled = self.lock().pop();
        pooled.unwrap_or_else(RowBuf::segment)
    }

    /// Takes back segments whose rows were read. Buffers that are no segment (copies, or a
    /// segment a long row regrew) and those beyond the cap are freed, after the lock.
    pub fn give(&self, segments: impl IntoIterator<Item = RowBuf>) {
        let mut freed = Vec::new();
        let mut pool = self.lock();
        for mut s in segments {
            if s.is_segment() && pool.len() < POOLED_SEGMENTS {
                s.clear();
                pool.push(s);
            } else {
                freed.push(s);
            }
        }
        drop(pool);
        drop(freed);
    }

    /// The rows of a table's `segments` (as a take hands them out) as one buffer; the
    /// segments come back here.
    pub fn join(&self, segments: Vec<RowBuf>) -> RowBuf {
        let rows = RowBuf::concat(&segments);
        self.give(segments);
        rows
    }

    /// Segments held, for tests.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.lock().len()
    }
}
