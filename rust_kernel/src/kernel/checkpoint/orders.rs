//! The checkpoint's parts of the orders the kernel follows: the orders kept for late fills,
//! what the venue's reports covered and stated, the orders of unknown status, and how many of
//! each slot's remembered events its trade wrote. Each is written in a fixed order and checked
//! as it is read back.

use super::*;

/// [`EndedOrders`] as a checkpoint holds it, in a fixed order (the id indexes follow from the
/// orders).
#[derive(Serialize, Deserialize)]
pub(super) struct EndedRepr {
    kept: Vec<(KeptOrderKey, KeptOrder)>,
    reconciled: Vec<(Id, f64)>,
    /// Venue ids with a claimant that is no kept order (see `EndedOrders::finished_elsewhere`).
    shared: Vec<Id>,
}

/// What the reports of followed orders covered: per working order its slot, whether it is
/// the entry, and the intervals; per kept order its key and the intervals.
pub(super) type CoveredRepr = (
    Vec<(usize, bool, Vec<(f64, f64)>)>,
    Vec<(KeptOrderKey, Vec<(f64, f64)>)>,
);

/// The orders of [`CoveredRepr`] a fill was booked on without a running total
/// ([`Covered::unplaced`]): working ones by slot and whether it is the entry, kept ones by key.
pub(super) type UnplacedRepr = (Vec<(usize, bool)>, Vec<KeptOrderKey>);

impl Kernel {
    /// The orders kept for late fills.
    pub(super) fn ended_orders(&self) -> EndedRepr {
        let mut kept: Vec<_> = self
            .ended
            .by_key
            .iter()
            .map(|(&k, v)| (k, v.clone()))
            .collect();
        kept.sort_unstable_by_key(|(k, _)| *k);
        let mut reconciled: Vec<_> = self
            .ended
            .reconciled
            .iter()
            .map(|(i, &t)| (i.clone(), t))
            .collect();
        reconciled.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut shared: Vec<Id> = self
            .ended
            .by_venue_id
            .iter()
            .filter(|(_, claims)| claims.contains(&UNKEPT_CLAIMANT))
            .map(|(v, _)| v.clone())
            .collect();
        shared.sort_unstable();
        EndedRepr {
            kept,
            reconciled,
            shared,
        }
    }

    /// Restores [`Kernel::ended_orders`] from a checkpoint.
    pub(super) fn restore_ended_orders(&mut self, repr: EndedRepr) -> Result<(), String> {
        let n = self.slots.len();
        if let Some((k, _)) = repr.kept.iter().find(|(k, _)| k.0 >= n) {
            return Err(format!(
                "a kept order names slot {}, beyond the kernel's {n}",
                k.0
            ));
        }
        self.ended.clear();
        for (key, kept) in repr.kept {
            let rounding = self.rounding(&kept.order);
            self.ended.keep(key, kept, rounding);
        }
        for v in &repr.shared {
            self.ended.finished_elsewhere(v);
        }
        self.ended.reconciled = repr.reconciled.into_iter().collect();
        Ok(())
    }

    /// What the venue's reports covered: `(slot, is_entry, intervals)` for the working orders
    /// followed, and the intervals of the kept orders.
    pub(super) fn covered_fills(&self) -> CoveredRepr {
        let mut working = Vec::new();
        for (sid, legs) in self.covered.iter().enumerate() {
            for (leg, c) in legs.iter().enumerate() {
                if let Some(c) = c {
                    working.push((sid, leg == 0, c.intervals.to_vec()));
                }
            }
        }
        let mut kept: Vec<_> = self
            .ended
            .covered
            .iter()
            .map(|(&k, c)| (k, c.intervals.to_vec()))
            .collect();
        kept.sort_unstable_by_key(|(k, _)| *k);
        (working, kept)
    }

    /// The orders a fill was booked on without a running total ([`UnplacedRepr`]).
    pub(super) fn unplaced_fills(&self) -> UnplacedRepr {
        let mut working = Vec::new();
        for (sid, legs) in self.covered.iter().enumerate() {
            for (leg, c) in legs.iter().enumerate() {
                if c.as_ref().is_some_and(|c| c.unplaced) {
                    working.push((sid, leg == 0));
                }
            }
        }
        let mut kept: Vec<_> = (self.ended.covered.iter())
            .filter(|(_, c)| c.unplaced)
            .map(|(&k, _)| k)
            .collect();
        kept.sort_unstable();
        (working, kept)
    }

    /// The running totals kept orders that ended without a figure wait for
    /// (`KeptOrder::stated_total`).
    pub(crate) fn stated_totals(&self) -> Vec<(KeptOrderKey, f64)> {
        let mut v: Vec<_> = self
            .ended
            .by_key
            .iter()
            .filter(|(_, k)| k.final_filled.is_none() && k.stated_total > 0.0)
            .map(|(&key, k)| (key, k.stated_total))
            .collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }

    /// The kept orders whose status is not known (`KeptOrder::in_doubt`).
    pub(super) fn in_doubt_keys(&self) -> Vec<KeptOrderKey> {
        let mut v: Vec<_> = self
            .ended
            .by_key
            .iter()
            .filter(|(_, k)| k.in_doubt)
            .map(|(&key, _)| key)
            .collect();
        v.sort_unstable();
        v
    }

    /// The kept orders whose figure a slot load made up (`KeptOrder::figure_by_load`).
    pub(super) fn load_figure_keys(&self) -> Vec<KeptOrderKey> {
        let mut v: Vec<_> = (self.ended.by_key.iter())
            .filter(|(_, k)| k.figure_by_load)
            .map(|(&key, _)| key)
            .collect();
        v.sort_unstable();
        v
    }

    /// Restores [`Kernel::load_figure_keys`] from a checkpoint: each names a kept order with
    /// a figure.
    pub(super) fn restore_load_figures(&mut self, v: Vec<KeptOrderKey>) -> Result<(), String> {
        for key in v {
            match self.ended.get_mut(key) {
                Some(k) if k.final_filled.is_some() => k.figure_by_load = true,
                _ => {
                    return Err(format!(
                        "a figure a slot load set names no kept order {key:?} with a figure"
                    ))
                }
            }
        }
        Ok(())
    }

    /// Each slot whose event memory holds events of an earlier trade, by slot id, with how
    /// many of its places the current trade wrote ([`RecentRing::trade_wrote`]): a decoded ring
    /// takes every place for the trade's.
    pub fn trade_event_counts(&self) -> Vec<(u32, u8)> {
        self.slots
            .iter()
            .filter(|s| s.seen_events.trade_wrote() < s.seen_events.len())
            .map(|s| (s.slot_id as u32, s.seen_events.trade_wrote() as u8))
            .collect()
    }

    /// Restores [`Kernel::trade_event_counts`] from a checkpoint, checked as they are written:
    /// in slot order, within the slots, each less than its memory holds. Nothing changes on an
    /// error.
    pub(super) fn restore_trade_event_counts(
        &mut self,
        counts: Vec<(u32, u8)>,
    ) -> Result<(), String> {
        check_by_slot(&counts, self.slots.len(), "the count of the trade's events")?;
        for &(sid, wrote) in &counts {
            let ring = &self.slots[sid as usize].seen_events;
            if wrote as usize >= ring.len() {
                return Err(format!(
                    "{wrote} events of slot {sid}'s trade, not fewer than the {} remembered",
                    ring.len()
                ));
            }
        }
        for (sid, wrote) in counts {
            let ring = &mut self.slots[sid as usize].seen_events;
            ring.set_trade_wrote(wrote as usize)?;
        }
        Ok(())
    }

    /// Restores [`Kernel::in_doubt_keys`] from a checkpoint.
    pub(super) fn restore_in_doubt(&mut self, v: Vec<KeptOrderKey>) -> Result<(), String> {
        for key in v {
            match self.ended.get_mut(key) {
                Some(k) if !key.2 => {
                    k.in_doubt = true;
                    self.ended.note_owed(key);
                    self.sync_free(key.0);
                }
                _ => {
                    return Err(format!(
                        "an order of unknown status names no kept order {key:?} that works"
                    ))
                }
            }
        }
        Ok(())
    }

    /// Restores [`Kernel::stated_totals`] from a checkpoint.
    pub(super) fn restore_stated_totals(
        &mut self,
        v: Vec<(KeptOrderKey, f64)>,
    ) -> Result<(), String> {
        for (key, total) in v {
            match self.ended.get_mut(key) {
                Some(k)
                    if k.final_filled.is_none()
                        && total.is_finite()
                        && total > 0.0
                        && total <= k.order.size =>
                {
                    k.stated_total = total;
                    self.ended.note_owed(key);
                    self.sync_free(key.0);
                }
                _ => {
                    return Err(format!(
                        "stated filled size {total} names no kept order {key:?} without a final \
                         filled size, or is not within its size"
                    ))
                }
            }
        }
        Ok(())
    }

    /// Restores [`Kernel::covered_fills`] from a checkpoint.
    pub(super) fn restore_covered_fills(
        &mut self,
        (working, kept): CoveredRepr,
    ) -> Result<(), String> {
        let n = self.slots.len();
        let ordered = |v: &[(f64, f64)]| {
            v.iter()
                .all(|&(a, b)| a.is_finite() && b.is_finite() && 0.0 <= a && a < b)
                && v.windows(2).all(|w| w[0].1 < w[1].0)
        };
        self.covered = vec![[None, None]; n];
        for (sid, is_entry, intervals) in working {
            if sid >= n || !ordered(&intervals) {
                return Err(format!(
                    "covered fill intervals {intervals:?} of slot {sid} (of the kernel's {n}) are not in order"
                ));
            }
            self.covered[sid][usize::from(!is_entry)] = Some(Covered {
                intervals: intervals.into(),
                unplaced: false,
            });
        }
        self.ended.covered.clear();
        for (key, intervals) in kept {
            if self.ended.get(key).is_none() || !ordered(&intervals) {
                return Err(format!(
                    "covered fill intervals {intervals:?} name no kept order {key:?}, or are not in order"
                ));
            }
            self.ended.covered.insert(
                key,
                Covered {
                    intervals: intervals.into(),
                    unplaced: false,
                },
            );
        }
        Ok(())
    }

    /// Restores [`Kernel::unplaced_fills`] onto the orders the covered fills part restored.
    pub(super) fn restore_unplaced_fills(
        &mut self,
        (working, kept): UnplacedRepr,
    ) -> Result<(), String> {
        for (sid, is_entry) in working {
            let leg = self
                .covered
                .get_mut(sid)
                .map(|legs| &mut legs[usize::from(!is_entry)]);
            let Some(Some(c)) = leg else {
                return Err(format!(
                    "slot {sid}'s order (entry: {is_entry}) has no covered fills"
                ));
            };
            c.unplaced = true;
        }
        for key in kept {
            let Some(c) = self.ended.covered.get_mut(&key) else {
                return Err(format!("kept order {key:?} has no covered fills"));
            };
            c.unplaced = true;
        }
        Ok(())
    }
}
