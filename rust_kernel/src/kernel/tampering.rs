//! For tests: kernel states no input leads to, made by changing the kernel's fields directly
//! (a checkpoint's checks, and the write-ahead log's recovery, are tested on them).

use super::*;

impl Kernel {
    /// For tests: a kernel state no input leads to.
    #[cfg(test)]
    pub(crate) fn tamper_seq(&mut self, by: u64) {
        self.seq += by;
    }

    /// For tests: see [`Kernel::tamper_seq`].
    #[cfg(test)]
    pub(crate) fn tamper_slot(&mut self, sid: usize, change: impl FnOnce(&mut TradeSlot)) {
        change(&mut self.slots[sid]);
    }

    /// For tests: see [`Kernel::tamper_seq`].
    #[cfg(test)]
    pub(crate) fn tamper_counters(&mut self, change: impl FnOnce(&mut Counters)) {
        change(&mut self.counters);
    }

    /// For tests: see [`Kernel::tamper_seq`].
    #[cfg(test)]
    pub(crate) fn tamper_open_count(&mut self, n: usize) {
        self.open_count = n;
    }

    /// For tests: see [`Kernel::tamper_seq`].
    #[cfg(test)]
    pub(crate) fn tamper_venue_index(&mut self, venue_id: &str, sid: usize) {
        self.by_venue_id.insert(id(venue_id), sid);
    }

    /// For tests: every waiting fill's asset forgotten (a state no input leads to).
    #[cfg(test)]
    pub(crate) fn tamper_unsettled_assets(&mut self) {
        for (_, u) in self.unsettled.iter_mut() {
            u.first.asset = None;
        }
    }
}
