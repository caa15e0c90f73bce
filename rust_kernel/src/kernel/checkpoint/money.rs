//! The checkpoint's parts of the money the kernel books: the unsettled fills and their fee
//! rates, the settlements held for their fills, the money events' ids, the funding times, the
//! marks, the assets below the edge threshold and the fee calibration. Each is written in a
//! fixed order and checked as it is read back.

use super::*;

/// How the unsettled fills' parts beyond the core hold them: each live id's first fill's asset
/// fingerprint ([`asset_print`], 0 for none), in the map's order, as runs of one asset and
/// their length; the first fills booked from part of a report, by their index in that order,
/// with the report's size; and the fills of other assets under an id, by its index, each with
/// its asset fingerprint and report size.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct UnsettledDetails {
    assets: Vec<(u64, u32)>,
    report_sizes: Vec<(u32, f64)>,
    more: Vec<(u32, UnsettledFill, u64, f64)>,
}

/// The unsettled fills' fee rates: the rate of each fill, in the map's order, each id's first
/// fill then its fills of other assets, as runs of one rate and their length (a rate changes
/// seldom, so a full map is a few runs).
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct UnsettledRates(Vec<(Option<f64>, u32)>);

/// Each asset's latest mark ([`Kernel::marks`]) and those the slots' entries were judged at
/// ([`Kernel::entry_marks`]).
pub(super) type MarksRepr = (Vec<(Id, f64)>, Vec<(usize, f64)>);

/// The settlements held for their fills, oldest first, how many were forgotten, and the
/// settled fills' keys ([`settled_key`]), oldest first.
pub(super) type EarlySettlementsRepr = (Vec<EarlySettlement>, u64, Vec<u64>);

impl Kernel {
    /// The unsettled fills' assets, report sizes and the fills of other assets under one id.
    pub(crate) fn unsettled_details(&self) -> UnsettledDetails {
        let print = |f: &UnsettledFill| f.asset.map_or(0, NonZeroU64::get);
        let mut t = UnsettledDetails::default();
        for (i, (_, u)) in self.unsettled.iter().enumerate() {
            let i = i as u32;
            match t.assets.last_mut() {
                Some((a, n)) if *a == print(&u.first) => *n += 1,
                _ => t.assets.push((print(&u.first), 1)),
            }
            if u.first.report_size != 0.0 {
                t.report_sizes.push((i, u.first.report_size));
            }
            for f in u.more() {
                t.more.push((i, f.clone(), print(f), f.report_size));
            }
        }
        t
    }

    /// Restores [`Kernel::unsettled_details`] from a checkpoint.
    pub(super) fn restore_unsettled_details(&mut self, t: UnsettledDetails) -> Result<(), String> {
        /// The `i`th live id's fills.
        fn nth<'a>(live: &'a mut [&mut Unsettled], i: u32) -> Result<&'a mut Unsettled, String> {
            let n = live.len();
            match live.get_mut(i as usize) {
                Some(u) => Ok(u),
                None => Err(format!(
                    "an unsettled fill at {i}, beyond the {n} there are"
                )),
            }
        }
        let mut live: Vec<&mut Unsettled> = self.unsettled.iter_mut().map(|(_, u)| u).collect();
        let runs: u64 = t.assets.iter().map(|(_, n)| u64::from(*n)).sum();
        if runs != live.len() as u64 {
            return Err(format!(
                "the unsettled fills' assets name {runs} fills, not the {} there are",
                live.len()
            ));
        }
        let mut at = 0;
        for (asset, n) in t.assets {
            for u in &mut live[at..at + n as usize] {
                u.first.asset = NonZeroU64::new(asset);
            }
            at += n as usize;
        }
        let report_size = |size: f64| {
            if size.is_finite() && size > 0.0 {
                Ok(size)
            } else {
                Err(format!(
                    "an unsettled fill's report size {size} is not a positive number"
                ))
            }
        };
        for (i, size) in t.report_sizes {
            nth(&mut live, i)?.first.report_size = report_size(size)?;
        }
        for (i, mut fill, asset, size) in t.more {
            fill.asset = NonZeroU64::new(asset);
            if size != 0.0 {
                fill.report_size = report_size(size)?;
            }
            let u = nth(&mut live, i)?;
            u.more.get_or_insert_with(Default::default).push(fill);
        }
        Ok(())
    }

    /// The unsettled fills' fee rates.
    pub(super) fn unsettled_rates(&self) -> UnsettledRates {
        let mut runs: Vec<(Option<f64>, u32)> = Vec::new();
        for (_, u) in self.unsettled.iter() {
            for i in 0..u.len() {
                let rate = u.fill(i).rate.known();
                match runs.last_mut() {
                    Some((r, n)) if r.map(f64::to_bits) == rate.map(f64::to_bits) => *n += 1,
                    _ => runs.push((rate, 1)),
                }
            }
        }
        UnsettledRates(runs)
    }

    /// Restores [`Kernel::unsettled_rates`] from a checkpoint, after the fills of other assets.
    pub(super) fn restore_unsettled_rates(
        &mut self,
        UnsettledRates(runs): UnsettledRates,
    ) -> Result<(), String> {
        let mut rates = runs
            .into_iter()
            .flat_map(|(rate, n)| std::iter::repeat_n(rate, n as usize));
        for (_, u) in self.unsettled.iter_mut() {
            for f in
                std::iter::once(&mut u.first).chain(u.more.iter_mut().flat_map(|m| m.iter_mut()))
            {
                let rate = rates
                    .next()
                    .ok_or("the unsettled fills' rates name fewer fills than there are")?;
                f.rate = match rate {
                    None => PredictedRate::default(),
                    Some(r) if r.is_finite() && (r as f32).is_finite() => PredictedRate::of(r),
                    Some(r) => return Err(format!("an unsettled fill's rate {r} is not finite")),
                };
            }
        }
        if rates.next().is_some() {
            return Err("the unsettled fills' rates name more fills than there are".into());
        }
        Ok(())
    }

    /// The ids of the account events that moved money ([`MONEY_EVENT_MEMORY`]), oldest first.
    pub(super) fn money_events(&self) -> Vec<&Id> {
        self.money_events_seen.iter().collect()
    }

    /// Restores [`Kernel::money_events`] from a checkpoint.
    pub(super) fn restore_money_events(&mut self, ids: Vec<Id>) -> Result<(), String> {
        if ids.len() > MONEY_EVENT_MEMORY {
            return Err(format!(
                "{} money event ids, more than the {MONEY_EVENT_MEMORY} remembered",
                ids.len()
            ));
        }
        let mut seen = money_event_memory();
        for event_id in ids {
            if !seen.insert(event_id) {
                return Err("a money event id is remembered twice".into());
            }
        }
        self.money_events_seen = seen;
        Ok(())
    }

    /// Each asset's latest mark price, by asset (sorted, so a checkpoint's bytes compare).
    pub fn marks(&self) -> Vec<(Id, f64)> {
        let mut marks: Vec<(Id, f64)> = self.marks.iter().map(|(a, p)| (a.clone(), *p)).collect();
        marks.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        marks
    }

    /// The marks the slots' entries were judged at, by slot, those not 0.
    pub(super) fn entry_marks(&self) -> Vec<(usize, f64)> {
        let marks = self.entry_marks.iter().copied().enumerate();
        marks.filter(|(_, m)| *m != 0.0).collect()
    }

    /// Restores [`Kernel::marks`] and [`Kernel::entry_marks`] from a checkpoint. Nothing
    /// changes on an error.
    pub(crate) fn restore_marks(&mut self, (marks, judged): MarksRepr) -> Result<(), String> {
        // As `mark_price` takes a mark: a named asset, a finite price above 0 within the bounds.
        let price = |p: f64| p > 0.0 && check_number("price", p, 0.0).is_ok();
        let mut assets = std::collections::HashSet::with_capacity(marks.len());
        for (asset, p) in &marks {
            if check_asset(asset).is_err() || !price(*p) || !assets.insert(asset) {
                return Err(format!(
                    "the mark price of {asset:?}, {p}, is no price (or the asset is named twice)"
                ));
            }
        }
        let mut judged_slots = std::collections::HashSet::with_capacity(judged.len());
        if let Some((sid, p)) = judged
            .iter()
            .find(|(i, p)| *i >= self.slots.len() || !price(*p) || !judged_slots.insert(*i))
        {
            return Err(format!(
                "slot {sid}'s entry judged at a mark of {p} (or the slot is named twice)"
            ));
        }
        self.marks = marks.into_iter().collect();
        self.entry_marks = vec![0.0; self.slots.len()];
        for (sid, p) in judged {
            self.entry_marks[sid] = p;
        }
        Ok(())
    }

    /// Restores the funding times from a checkpoint, after the money event ids. Nothing
    /// changes on an error.
    pub(super) fn restore_funding_times(&mut self, t: FundingTimes) -> Result<(), String> {
        let time = |at: f64| at.is_finite() && at >= 0.0;
        if !time(t.forgotten_at) || t.held.iter().any(|(_, at)| !(time(*at) && *at > 0.0)) {
            return Err("a funding payment's time is no time".into());
        }
        if t.forgotten_ids.len() > FORGOTTEN_FUNDING_IDS {
            return Err(format!(
                "{} forgotten funding payments' ids, more than the {FORGOTTEN_FUNDING_IDS} kept",
                t.forgotten_ids.len()
            ));
        }
        // Held in the money event memory's order: each is found as that memory forgets it.
        let mut ids = self.money_events_seen.iter();
        if !t.held.iter().all(|(held, _)| ids.any(|i| i == held)) {
            return Err("a funding payment's time of an id the money event memory lacks".into());
        }
        self.funding_times = t;
        Ok(())
    }

    /// The settlements held for their fills, oldest first, how many were forgotten, and the
    /// settled fills' keys.
    pub fn early_settlements(&self) -> (&VecDeque<EarlySettlement>, u64, Vec<&u64>) {
        let e = &self.early_settlements;
        (&e.held, e.forgotten, e.settled.iter().collect())
    }

    /// How many settlements that came before their fill were forgotten, pushed out by newer
    /// ones ([`EARLY_SETTLEMENT_MEMORY`]): their fills kept their predicted fees.
    pub fn early_settlements_forgotten(&self) -> u64 {
        self.early_settlements.forgotten
    }

    /// Restores [`Kernel::early_settlements`] from a checkpoint. Nothing changes on an error.
    pub(super) fn restore_early_settlements(
        &mut self,
        (held, forgotten, settled): EarlySettlementsRepr,
    ) -> Result<(), String> {
        if held.len() > EARLY_SETTLEMENT_MEMORY {
            return Err(format!(
                "{} settlements held for their fills, more than the {EARLY_SETTLEMENT_MEMORY} \
                 held",
                held.len()
            ));
        }
        if settled.len() > SETTLED_FILL_MEMORY {
            return Err(format!(
                "{} settled fills, more than the {SETTLED_FILL_MEMORY} remembered",
                settled.len()
            ));
        }
        let mut early = EarlySettlements {
            forgotten,
            ..Default::default()
        };
        for key in settled {
            if !early.settled.insert(key) {
                return Err("a settled fill is remembered twice".into());
            }
        }
        for s in held {
            if s.fill_id.is_empty() {
                return Err("a settlement held for its fill names no fill id".into());
            }
            if !s.fee.is_finite() {
                return Err(format!(
                    "a settlement held for its fill has a fee of {}",
                    s.fee
                ));
            }
            early.hold(s);
        }
        // Whether two held for one fill are of different fees is known once the part saying
        // which of them stand at their prediction is read (`restore_held_standing`).
        self.early_settlements = early;
        Ok(())
    }

    /// Where, among the settlements held for their fills, those saying their fill's predicted
    /// fee stands are.
    pub(crate) fn held_standing(&self) -> Vec<u32> {
        let held = self.early_settlements.held.iter().enumerate();
        held.filter(|(_, s)| s.predicted_fee_stands)
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Restores [`Kernel::held_standing`] from a checkpoint, then checks that no fill has more
    /// settlements held than its two sides ([`Kernel::check_held_sides`]).
    pub(super) fn restore_held_standing(&mut self, at: Vec<u32>) -> Result<(), String> {
        let held = &mut self.early_settlements.held;
        for (n, &i) in at.iter().enumerate() {
            if n > 0 && at[n - 1] >= i {
                return Err("the settlements standing at their prediction are out of order".into());
            }
            let Some(s) = held.get_mut(i as usize) else {
                return Err(format!(
                    "settlement {i} stands at its prediction, of {} held",
                    held.len()
                ));
            };
            if s.fee != 0.0 {
                return Err(format!(
                    "a settlement standing at its prediction names a fee of {}",
                    s.fee
                ));
            }
            s.predicted_fee_stands = true;
        }
        self.check_held_sides()
    }

    /// That the settlements held for one fill are of different fees (a self-trade's sides),
    /// two at most.
    pub(super) fn check_held_sides(&self) -> Result<(), String> {
        let mut fees: std::collections::HashMap<(&Id, &Id), Vec<SettledFee>> = Default::default();
        for s in &self.early_settlements.held {
            let of_fill = fees.entry((&s.fill_id, &s.asset)).or_default();
            if of_fill.len() == 2 || of_fill.contains(&s.settled_fee()) {
                return Err(format!(
                    "more settlements held for fill {:?} of {:?} than its two sides",
                    s.fill_id, s.asset
                ));
            }
            of_fill.push(s.settled_fee());
        }
        Ok(())
    }

    /// Restores every asset's last edge from a checkpoint (one written by a kernel that kept
    /// only the edges below the threshold holds those).
    pub(super) fn restore_last_edges(&mut self, edges: BTreeMap<Id, f64>) -> Result<(), String> {
        if let Some((asset, edge)) = edges.iter().find(|(_, e)| !e.is_finite()) {
            return Err(format!("the last edge of {asset}, {edge}, is not finite"));
        }
        self.last_edges = edges;
        Ok(())
    }

    /// Restores the maker's and the taker's fee calibration from a checkpoint. Their sample
    /// counts are held to [`MAX_COUNT`] by [`Kernel::check_counts`], as the rest.
    pub(super) fn restore_calibration_by_liquidity(
        &mut self,
        t: CalibrationByLiquidity,
    ) -> Result<(), String> {
        self.fees.restore_calibration_by_liquidity(t);
        self.check_counts()
    }
}
