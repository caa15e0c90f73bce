//! A bounded set of recently seen keys, the oldest forgotten first.

use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// A bounded memory of recently seen keys: idempotency that never grows without bound.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecentSet<K: Eq + Hash + Clone> {
    order: VecDeque<K>,
    members: HashSet<K, ahash::RandomState>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone> RecentSet<K> {
    pub fn new(capacity: usize) -> Self {
        RecentSet {
            order: VecDeque::new(),
            members: HashSet::default(),
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, k: &K) -> bool {
        self.members.contains(k)
    }

    /// Remembers `k`; returns false if it was already known.
    pub fn insert(&mut self, k: K) -> bool {
        if !self.members.insert(k.clone()) {
            return false;
        }
        self.order.push_back(k);
        if self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.members.remove(&oldest);
            }
        }
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn clear(&mut self) {
        self.order.clear();
        self.members.clear();
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &K> {
        self.order.iter()
    }
}

impl<K: Eq + Hash + Clone> PartialEq for RecentSet<K> {
    fn eq(&self, other: &Self) -> bool {
        self.order == other.order && self.capacity == other.capacity
    }
}
