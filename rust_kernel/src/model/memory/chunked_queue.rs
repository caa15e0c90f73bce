//! A queue kept in shared chunks, so that a checkpoint's copy of a memory of 100,000 entries
//! costs a count per chunk on the input's thread instead of a copy of every entry.

use std::collections::VecDeque;
use std::sync::Arc;

/// Entries per chunk: a chunk the kernel changes while a checkpoint still holds it is copied
/// whole, and 1,024 entries copy in tens of microseconds.
const CHUNK: usize = 1024;

/// A first-in, first-out queue whose clone shares its chunks with the original; whichever
/// side then changes a shared chunk copies that chunk first (`Arc::make_mut`), so the other
/// side never sees the change.
#[derive(Debug)]
pub(super) struct ChunkedQueue<T> {
    chunks: VecDeque<Arc<Vec<T>>>,
    /// How many entries at the start of the first chunk were dropped from the front.
    head: usize,
    len: usize,
}

impl<T> Default for ChunkedQueue<T> {
    fn default() -> Self {
        ChunkedQueue {
            chunks: VecDeque::new(),
            head: 0,
            len: 0,
        }
    }
}

impl<T> Clone for ChunkedQueue<T> {
    fn clone(&self) -> Self {
        ChunkedQueue {
            chunks: self.chunks.clone(),
            head: self.head,
            len: self.len,
        }
    }
}

impl<T: Clone> ChunkedQueue<T> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The chunk and the place in it of the entry `i` from the front.
    #[inline]
    fn locate(&self, i: usize) -> (usize, usize) {
        let at = self.head + i;
        (at / CHUNK, at % CHUNK)
    }

    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        let (chunk, at) = self.locate(i);
        Some(&self.chunks[chunk][at])
    }

    /// The entry `i` from the front, to change: its chunk is copied first when a clone
    /// shares it.
    #[inline]
    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        let (chunk, at) = self.locate(i);
        Some(&mut Arc::make_mut(&mut self.chunks[chunk])[at])
    }

    pub(super) fn front(&self) -> Option<&T> {
        self.get(0)
    }

    pub(super) fn push_back(&mut self, entry: T) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => {
                if Arc::get_mut(last).is_none() {
                    // Shared with a clone: copied at its full size, so the pushes that fill
                    // it never grow it again.
                    let mut own = Vec::with_capacity(CHUNK);
                    own.extend_from_slice(last);
                    *last = Arc::new(own);
                }
                Arc::get_mut(last)
                    .expect("a chunk just made is not shared")
                    .push(entry);
            }
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(entry);
                self.chunks.push_back(Arc::new(chunk));
            }
        }
        self.len += 1;
    }

    /// Drops the front entry; its chunk goes once all its entries have.
    pub(super) fn drop_front(&mut self) {
        if self.len == 0 {
            return;
        }
        self.head += 1;
        self.len -= 1;
        if self.head == CHUNK || self.len == 0 {
            self.chunks.pop_front();
            self.head = 0;
        }
    }

    /// Entries, front first.
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        let head = self.head;
        self.chunks
            .iter()
            .enumerate()
            .flat_map(move |(n, chunk)| chunk[if n == 0 { head } else { 0 }..].iter())
    }

    /// Entries, front first, to change: every chunk a clone shares is copied.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        let head = self.head;
        self.chunks
            .iter_mut()
            .enumerate()
            .flat_map(move |(n, chunk)| {
                Arc::make_mut(chunk)[if n == 0 { head } else { 0 }..].iter_mut()
            })
    }
}

impl<T: Clone> std::ops::Index<usize> for ChunkedQueue<T> {
    type Output = T;

    #[inline]
    fn index(&self, i: usize) -> &T {
        self.get(i).expect("an entry within the queue")
    }
}

impl<T: Clone> std::ops::IndexMut<usize> for ChunkedQueue<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        self.get_mut(i).expect("an entry within the queue")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Pushes, drops, reads and changes give what a `VecDeque` gives, and a clone taken
        /// at any point keeps what it held whatever the original does after.
        #[test]
        fn a_chunked_queue_behaves_like_a_deque_and_its_clone_is_kept_apart(
            ops in proptest::collection::vec((0u8..4, 0u32..5000), 1..3000),
            clone_at in 0usize..3000,
        ) {
            let (mut queue, mut model) = (ChunkedQueue::default(), VecDeque::new());
            let mut kept: Option<(ChunkedQueue<u32>, VecDeque<u32>)> = None;
            for (step, (op, n)) in ops.into_iter().enumerate() {
                if step == clone_at {
                    kept = Some((queue.clone(), model.clone()));
                }
                match op {
                    0 | 1 => {
                        queue.push_back(n);
                        model.push_back(n);
                    }
                    2 => {
                        queue.drop_front();
                        model.pop_front();
                    }
                    _ => {
                        if !model.is_empty() {
                            let i = n as usize % model.len();
                            queue[i] += 1;
                            model[i] += 1;
                        }
                    }
                }
                proptest::prop_assert_eq!(queue.len(), model.len());
                proptest::prop_assert_eq!(queue.front(), model.front());
            }
            proptest::prop_assert!(queue.iter().eq(model.iter()));
            for (i, v) in model.iter().enumerate() {
                proptest::prop_assert_eq!(queue.get(i), Some(v));
            }
            proptest::prop_assert_eq!(queue.get(model.len()), None);
            if let Some((copy, then)) = kept {
                proptest::prop_assert!(copy.iter().eq(then.iter()));
            }
        }
    }

    #[test]
    fn changing_every_entry_leaves_a_clone_as_it_was() {
        let mut queue = ChunkedQueue::default();
        for n in 0..(3 * CHUNK as u32 + 5) {
            queue.push_back(n);
        }
        queue.drop_front();
        let copy = queue.clone();
        for v in queue.iter_mut() {
            *v *= 2;
        }
        assert!(copy.iter().copied().eq(1..(3 * CHUNK as u32 + 5)));
        assert!(queue
            .iter()
            .copied()
            .eq((1..(3 * CHUNK as u32 + 5)).map(|n| n * 2)));
    }
}
