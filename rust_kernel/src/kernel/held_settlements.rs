//! Settlements held for the fills they name: a FILL_SETTLED that came before its fill
//! ([`EarlySettlement`], [`EarlySettlements`]), and the memory of fills settled, by
//! [`settled_key`].

use super::*;

/// A FILL_SETTLED that came before its fill: a venue's account stream often runs
/// ahead of its order stream. Held, it settles the fill of its id and asset when that is booked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlySettlement {
    pub event_id: Id,
    pub fill_id: Id,
    /// Empty when the event named none: it settles the first fill of its id booked.
    pub asset: Id,
    /// The fee it names: 0 for one saying the predicted fee stands.
    pub fee: f64,
    /// Whether it says its fill's predicted fee stands ([`SettledFee::Prediction`]). In a
    /// checkpoint part of its own.
    #[serde(skip)]
    pub predicted_fee_stands: bool,
}

impl EarlySettlement {
    /// What it settles its fill at.
    pub(super) fn settled_fee(&self) -> SettledFee {
        SettledFee::named(self.fee, self.predicted_fee_stands)
    }
}

/// What a FILL_SETTLED settles its fill at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum SettledFee {
    /// The fee the exchange charged (for a fill booked from part of a report, the report's).
    Exchange(f64),
    /// The fill's predicted fee: its venue says it will never report the fee. Matched,
    /// held and remembered as a settlement at a fee of its own, resolved when it meets its
    /// fill; the calibration learns nothing from it.
    Prediction,
}

impl SettledFee {
    pub(super) fn of(ev: &AccountEvent) -> Self {
        Self::named(ev.fee, ev.predicted_fee_stands)
    }

    /// What a settlement naming `fee`, and saying whether the predicted fee stands, settles at.
    fn named(fee: f64, predicted_fee_stands: bool) -> Self {
        if predicted_fee_stands {
            SettledFee::Prediction
        } else {
            SettledFee::Exchange(fee)
        }
    }

    /// The exchange's fee, when it names one.
    pub(super) fn exchange(self) -> Option<f64> {
        match self {
            SettledFee::Exchange(fee) => Some(fee),
            SettledFee::Prediction => None,
        }
    }
}

/// The FILL_SETTLEDs held for their fills, oldest first, at most [`EARLY_SETTLEMENT_MEMORY`]:
/// refused and dropped, each would leave its fill's predicted fee standing for good. Not in
/// the kernel's core fields: a checkpoint part of its own.
#[derive(Clone, Debug)]
pub(super) struct EarlySettlements {
    pub(super) held: VecDeque<EarlySettlement>,
    /// How many are held under each fill id: a fill booked looks its id up here, and scans
    /// `held` only when one waits for it.
    pub(super) fill_ids: IdMap<Id, u32>,
    /// How many were forgotten, pushed out by newer ones.
    pub(super) forgotten: u64,
    /// The fills settled, by [`settled_key`] ([`SETTLED_FILL_MEMORY`]).
    pub(super) settled: RecentSet<u64>,
}

impl Default for EarlySettlements {
    fn default() -> Self {
        EarlySettlements {
            held: VecDeque::new(),
            fill_ids: IdMap::default(),
            forgotten: 0,
            settled: RecentSet::new(SETTLED_FILL_MEMORY),
        }
    }
}

/// What the memory of settled fills knows a settlement by: its fill id and the asset it named
/// (none too: a venue naming none names none when it sends it again).
pub(super) fn settled_key(fill_id: &str, asset: &str) -> u64 {
    settled_key_of(fingerprint(fill_id), fingerprint(asset))
}

/// [`settled_key`] from the fill id's and the asset's fingerprints.
pub(super) fn settled_key_of(id_print: u64, asset_print: u64) -> u64 {
    id_print ^ asset_print.rotate_left(29)
}

/// What the memory of settled fills knows the fee a fill was settled at by: a settlement of
/// the fill at another fee is its other side's (a self-trade), at the same fee a resend. -0.0
/// is 0.0 here, as `==` has it where held settlements are compared. The prediction standing
/// is a fee of its own: saying so again is a resend, the exchange's fee the other side's.
pub(super) fn settled_fee_key(settled_key: u64, fee: SettledFee) -> u64 {
    match fee {
        SettledFee::Exchange(fee) => {
            settled_key ^ (fee + 0.0).to_bits().rotate_left(17) ^ 0x5e77_1ed0_fee0_0000
        }
        SettledFee::Prediction => settled_key ^ 0x57a9_d500_fee0_0001,
    }
}

/// What the memory of settled fills knows a fill settled at a fee it does not know by (one a
/// checkpoint of behaviour version 38 or before remembers): any settlement of it is a resend.
pub(super) fn fee_unknown_key(settled_key: u64) -> u64 {
    settled_key ^ 0xfee0_0000_0000_f00d
}

/// What the memory of settled fills knows a fill booked with its venue's own fee by: its
/// [`settled_key`] set apart, so a settlement of it is answered as such.
pub(super) fn booked_with_fee_key(settled_key: u64) -> u64 {
    settled_key ^ 0x0b00_c3d0_f1ee_5a1d
}

/// How the memory of settled fills remembers a fill.
#[derive(Clone, Copy, Debug)]
pub(super) enum SettledAs {
    /// Settled at a fee: a settlement of it at another is a self-trade's other side.
    Fee(SettledFee),
    /// Booked with its venue's own fee: nothing to settle.
    BookedWithFee,
}

impl EarlySettlements {
    /// Where the newest held for fill `fill_id` of `asset` (as its event named it) is.
    pub(super) fn position(&self, fill_id: &Id, asset: &str) -> Option<usize> {
        if !self.fill_ids.contains_key(fill_id) {
            return None;
        }
        self.held
            .iter()
            .rposition(|s| s.fill_id == *fill_id && s.asset == asset)
    }

    /// Those held for fill `fill_id` of `asset` (as the event named it), oldest first: one,
    /// or two of different fees (a self-trade's two sides).
    pub(super) fn held_for<'a>(
        &'a self,
        fill_id: &'a Id,
        asset: &'a str,
    ) -> impl Iterator<Item = &'a EarlySettlement> + 'a {
        let any = if self.fill_ids.contains_key(fill_id) {
            self.held.len()
        } else {
            0
        };
        self.held
            .iter()
            .take(any)
            .filter(move |s| s.fill_id == *fill_id && s.asset == asset)
    }

    /// The asset named by the newest settlement held for fill `fill_id` of asset `print`
    /// ([`asset_print`]): one naming that asset, else one naming none; for a fill of no asset
    /// known (None), the newest of any.
    pub(super) fn asset_held_for(&self, fill_id: &Id, print: Option<NonZeroU64>) -> Option<Id> {
        if !self.fill_ids.contains_key(fill_id) {
            return None;
        }
        let newest = |of: &dyn Fn(&EarlySettlement) -> bool| {
            self.held
                .iter()
                .rev()
                .find(|s| s.fill_id == *fill_id && of(s))
                .map(|s| s.asset.clone())
        };
        match print {
            Some(_) => newest(&|s| asset_print(&s.asset) == print)
                .or_else(|| newest(&|s| s.asset.is_empty())),
            None => newest(&|_| true),
        }
    }

    /// Holds `s`; returns the oldest, when it was pushed out.
    pub(super) fn hold(&mut self, s: EarlySettlement) -> Option<EarlySettlement> {
        *self.fill_ids.entry(s.fill_id.clone()).or_default() += 1;
        self.held.push_back(s);
        if self.held.len() <= EARLY_SETTLEMENT_MEMORY {
            return None;
        }
        let oldest = self.held.pop_front()?;
        self.unindex(&oldest.fill_id);
        self.forgotten += 1;
        Some(oldest)
    }

    /// Takes out the settlement held for the fill `fill_id` of `asset` just booked: the one
    /// naming that asset, else one naming none. Searched from the newest: one that came
    /// before its fill came just before. Of two (a self-trade's sides), the one whose fee is
    /// nearest `fee`, the fill's (its whole report's); of one at the exchange's fee and one
    /// saying the prediction stands, the exchange's when its fee is as near `fee` as
    /// `other_side_fee` (the other side's prediction) or nearer, else the standing one.
    pub(super) fn take(
        &mut self,
        fill_id: &Id,
        asset: &str,
        fee: f64,
        other_side_fee: f64,
    ) -> Option<EarlySettlement> {
        let i = self
            .position(fill_id, asset)
            .or_else(|| self.position(fill_id, ""))?;
        let (named, newer) = (&self.held[i].asset, self.held[i].settled_fee().exchange());
        // The exchange's fee is this side's when it is no further from this side's prediction
        // than from the other side's: a standing prediction says nothing of which side it is.
        let this_sides = |f: f64| (f - fee).abs() <= (f - other_side_fee).abs();
        let older_is_this_sides = |older: Option<f64>| match (older, newer) {
            // Two exchange fees: the nearer this fill's, the newer of equals.
            (Some(a), Some(b)) => (a - fee).abs() < (b - fee).abs(),
            (Some(f), None) => this_sides(f),
            (None, Some(f)) => !this_sides(f),
            // Two held for a fill are of different fees.
            (None, None) => false,
        };
        // The other side's, older, when it is this fill's.
        let i = self
            .held
            .iter()
            .take(i)
            .rposition(|s| s.fill_id == *fill_id && s.asset == *named)
            .filter(|&j| older_is_this_sides(self.held[j].settled_fee().exchange()))
            .unwrap_or(i);
        let s = self.held.remove(i)?;
        self.unindex(fill_id);
        Some(s)
    }

    /// Where the settlement standing held for fill `fill_id` of `asset` (as the event named it,
    /// else naming none) is: held while both sides of a self-trade wait ([`HELD_FOR_A_SIDE`]).
    /// For an event naming no asset, any held for the id: it names the one asset waiting under
    /// the id ([`Unsettled::pick`]), the one a standing one is held for.
    pub(super) fn standing_position(&self, fill_id: &Id, asset: &str) -> Option<usize> {
        if !self.fill_ids.contains_key(fill_id) {
            return None;
        }
        let held = |of: &dyn Fn(&str) -> bool| {
            self.held
                .iter()
                .rposition(|s| s.predicted_fee_stands && s.fill_id == *fill_id && of(&s.asset))
        };
        if asset.is_empty() {
            return held(&|_| true);
        }
        held(&|a| a == asset).or_else(|| held(&str::is_empty))
    }

    /// Takes out the settlement held at `i`.
    pub(super) fn take_at(&mut self, i: usize) -> Option<EarlySettlement> {
        let s = self.held.remove(i)?;
        self.unindex(&s.fill_id);
        Some(s)
    }

    /// Whether a settlement at `fee` of the fill settled under `key` ([`settled_key`]) is a
    /// resend: settled at that fee, or at one not known.
    pub(super) fn settled_at(&self, key: u64, fee: SettledFee) -> bool {
        self.settled.contains(&key)
            && (self.settled.contains(&settled_fee_key(key, fee))
                || self.settled.contains(&fee_unknown_key(key)))
    }

    /// The memory of settled fills a checkpoint before version 39 held (by fill id and asset
    /// only), each fill marked as settled at a fee not known ([`fee_unknown_key`]).
    pub(super) fn fees_not_known(&mut self) {
        let keys: Vec<u64> = self.settled.iter().copied().collect();
        self.settled.clear();
        for key in keys {
            self.settled.insert(key);
            self.settled.insert(fee_unknown_key(key));
        }
    }

    /// Remembers fill `fill_id`, settled at `fee` by a settlement naming `asset`
    /// ([`settled_key`], [`settled_fee_key`]).
    pub(super) fn settled(&mut self, fill_id: &str, asset: &str, fee: SettledFee) {
        self.remember(settled_key(fill_id, asset), SettledAs::Fee(fee));
    }

    /// Remembers fill `fill_id` of `asset` (its fingerprint, [`asset_print`]) as
    /// a settlement names it either way: by its asset and by none.
    pub(super) fn settled_both_ways(
        &mut self,
        fill_id: &str,
        asset: Option<NonZeroU64>,
        how: SettledAs,
    ) {
        let id_print = fingerprint(fill_id);
        let none = fingerprint("");
        for a in [asset.map_or(none, NonZeroU64::get), none] {
            self.remember(settled_key_of(id_print, a), how);
        }
    }

    /// Remembers the fill of `key` ([`settled_key`]) as settled `how`.
    fn remember(&mut self, key: u64, how: SettledAs) {
        match how {
            SettledAs::Fee(fee) => {
                self.settled.insert(key);
                self.settled.insert(settled_fee_key(key, fee));
            }
            SettledAs::BookedWithFee => {
                self.settled.insert(booked_with_fee_key(key));
            }
        }
    }

    pub(super) fn unindex(&mut self, fill_id: &Id) {
        if let Entry::Occupied(mut e) = self.fill_ids.entry(fill_id.clone()) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}
