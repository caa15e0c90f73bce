//! Fees waiting for the exchange's FILL_SETTLED: each fill's predicted fee by fill id and
//! asset ([`Unsettled`]), how a settlement settles them (the settlements that come before
//! their fill are held in `held_settlements`), and the times of funding payments
//! ([`FundingTimes`]).

use super::*;

/// The empty memory of money events' ids ([`MONEY_EVENT_MEMORY`]).
pub(super) fn money_event_memory() -> RecentSet<Id> {
    RecentSet::new(MONEY_EVENT_MEMORY)
}

/// A fill whose fee was predicted and waits for the exchange's FILL_SETTLED.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnsettledFill {
    pub slot_id: usize,
    pub trade_id: Id,
    pub predicted_fee: f64,
    pub price: f64,
    pub qty: f64,
    pub liquidity_maker: bool,
    /// The fill's asset, by its fingerprint ([`asset_print`]): None when not known (a fill of
    /// no asset, or one a checkpoint names none for), which a settlement naming any asset
    /// settles. A fingerprint, not the text, because every fill waiting carries it and the
    /// queue of 100,000 of them is what the kernel's cycle waits on memory for most. Not in
    /// the kernel's core fields: a checkpoint part of its own ([`UnsettledDetails`]).
    #[serde(skip)]
    pub asset: Option<NonZeroU64>,
    /// The size of the report the fill was booked from, when an earlier report had booked
    /// the rest of it (`Covered`): the exchange's fee for the fill id is for the
    /// whole report, and this fill's share of it is `qty / report_size`. 0 when the report
    /// was booked whole. In a checkpoint part of its own, as `asset`.
    #[serde(skip)]
    pub report_size: f64,
    /// The fee rate the fill was predicted at (not known for every fill a checkpoint holds),
    /// which its settlement is compared with: a rate changed since (a new fee tier) is not
    /// what the venue charged the fill. In a checkpoint part of its own ([`UnsettledRates`]).
    #[serde(skip)]
    pub rate: PredictedRate,
}

impl UnsettledFill {
    /// The liquidity the fill took, as its fee was predicted.
    pub(super) fn liquidity(&self) -> Liquidity {
        if self.liquidity_maker {
            Liquidity::Maker
        } else {
            Liquidity::Taker
        }
    }
}

/// The fee rate a waiting fill was predicted at, as an f32 in the padding beside
/// `liquidity_maker`: the queue of 100,000 waiting fills is what the kernel's cycle waits on
/// memory for most, and an `Option<f64>` would make each of them 16 bytes larger. NaN while not
/// known.
#[derive(Clone, Copy, Debug)]
pub struct PredictedRate(pub(super) f32);

impl Default for PredictedRate {
    fn default() -> Self {
        PredictedRate(f32::NAN)
    }
}

/// Equal when the same bits: two fills of unknown rates are alike.
impl PartialEq for PredictedRate {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl PredictedRate {
    pub fn of(rate: f64) -> Self {
        PredictedRate(rate as f32)
    }

    /// The rate, when known.
    pub fn known(self) -> Option<f64> {
        (!self.0.is_nan()).then_some(f64::from(self.0))
    }

    /// What a settlement is compared with, the configured rate being `now`: `now` itself when
    /// the fill was predicted at it (to an f32's precision) or at a rate not known, else the
    /// rate it was predicted at.
    pub fn against(self, now: f64) -> f64 {
        if self.0.is_nan() || self.0 == now as f32 {
            now
        } else {
            f64::from(self.0)
        }
    }
}

/// What an unsettled fill knows its asset by: the asset's 64-bit fingerprint (two assets
/// sharing one, and a fill id, have odds near 2^-64), None for none.
pub fn asset_print(asset: &str) -> Option<NonZeroU64> {
    if asset.is_empty() {
        None
    } else {
        NonZeroU64::new(fingerprint(asset))
    }
}

/// The fills whose fees wait under one fill id: one per asset (venues number trades per
/// market: BTCUSDT's trade 123 and ETHUSDT's are two fills). The kernel's core fields hold the
/// first; the others, rare and so out of line, are in a checkpoint part of their own
/// ([`UnsettledDetails`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Unsettled {
    pub(super) first: UnsettledFill,
    /// Boxed: one word in each of the 100,000 waiting, where a `Vec` takes three.
    #[allow(clippy::box_collection)]
    #[serde(skip)]
    pub(super) more: Option<Box<Vec<UnsettledFill>>>,
}

/// Why a FILL_SETTLED matches no one unsettled fill of its id.
pub(super) enum Unmatched {
    /// No fill of the id has the event's asset.
    NoFill,
    /// The event names no asset, and fills of several assets wait under the id.
    Ambiguous,
}

impl Unsettled {
    pub(super) fn one(fill: UnsettledFill) -> Self {
        Unsettled {
            first: fill,
            more: None,
        }
    }

    /// The fills of other assets under the id.
    pub(super) fn more(&self) -> &[UnsettledFill] {
        self.more.as_deref().map_or(&[], Vec::as_slice)
    }

    pub(super) fn len(&self) -> usize {
        1 + self.more().len()
    }

    pub(super) fn fill(&self, i: usize) -> &UnsettledFill {
        if i == 0 {
            &self.first
        } else {
            &self.more()[i - 1]
        }
    }

    /// What all its fills' predictions add up to.
    pub(super) fn predicted(&self) -> f64 {
        match self.more() {
            [] => self.first.predicted_fee,
            more => self.first.predicted_fee + more.iter().map(|f| f.predicted_fee).sum::<f64>(),
        }
    }

    /// Takes in `new`, a fill under the same id: it replaces the fill of its asset (the same
    /// fill id of one market again while its fee waits: only the newest counts), or waits
    /// beside the others. A fill whose asset is not known is no fill of `new`'s asset. Returns
    /// the prediction it replaced.
    /// A fill of another slot or trade is not the same fill again (a venue's self-trade: one
    /// trade id, both sides of one market): it waits beside.
    pub(super) fn absorb(&mut self, new: UnsettledFill) -> f64 {
        let same = |f: &UnsettledFill| {
            f.asset == new.asset && f.slot_id == new.slot_id && f.trade_id == new.trade_id
        };
        if same(&self.first) {
            return std::mem::replace(&mut self.first, new).predicted_fee;
        }
        let more = self.more.get_or_insert_with(Default::default);
        match more.iter_mut().find(|f| same(f)) {
            Some(old) => std::mem::replace(old, new).predicted_fee,
            None => {
                more.push(new);
                0.0
            }
        }
    }

    /// Which of its fills a FILL_SETTLED naming `asset` settles: the fill of that asset, else
    /// one whose asset is not known; without an asset, the one fill there is. Of several of
    /// the asset (a self-trade: nothing else says its side), the one whose predicted fee is
    /// nearest the settlement's `fee` (its share of a report booked in part), the oldest of equals
    /// (the oldest for a settlement of no fee: one whose predicted fee stands).
    pub(super) fn pick(&self, asset: &str, fee: Option<f64>) -> Result<usize, Unmatched> {
        let nearest = |a: Option<NonZeroU64>| {
            let off = |i: usize| {
                let f = self.fill(i);
                let share = if f.report_size > 0.0 {
                    f.qty / f.report_size
                } else {
                    1.0
                };
                fee.map_or(0.0, |fee| (fee * share - f.predicted_fee).abs())
            };
            (0..self.len())
                .filter(|&i| self.fill(i).asset == a)
                .min_by(|&i, &j| off(i).total_cmp(&off(j)))
        };
        if asset.is_empty() {
            return match self.len() {
                1 => Ok(0),
                _ if self.more().iter().all(|f| f.asset == self.first.asset) => {
                    nearest(self.first.asset).ok_or(Unmatched::NoFill)
                }
                _ => Err(Unmatched::Ambiguous),
            };
        }
        let print = asset_print(asset);
        nearest(print)
            .or_else(|| nearest(None))
            .ok_or(Unmatched::NoFill)
    }

    /// How many of its fills a FILL_SETTLED naming `asset` chooses among ([`Unsettled::pick`]):
    /// two or more are a self-trade's sides.
    pub(super) fn sides(&self, asset: &str) -> usize {
        let of =
            |a: Option<NonZeroU64>| (0..self.len()).filter(|&i| self.fill(i).asset == a).count();
        if asset.is_empty() {
            let one_asset = self.more().iter().all(|f| f.asset == self.first.asset);
            return if one_asset { self.len() } else { 0 };
        }
        match of(asset_print(asset)) {
            0 => of(None),
            n => n,
        }
    }

    /// Takes fill `i` out of the two or more it holds.
    pub(super) fn remove(&mut self, i: usize) -> UnsettledFill {
        let more = self.more.as_mut().expect("two or more fills");
        let taken = if i == 0 {
            std::mem::replace(&mut self.first, more.remove(0))
        } else {
            more.remove(i - 1)
        };
        if more.is_empty() {
            self.more = None;
        }
        taken
    }
}

/// The times of the FUNDING_FEEs the money event memory holds and of those it
/// forgot: a payment resent once [`MONEY_EVENT_MEMORY`] later payments and settlements pushed
/// its id out is known by its time. A venue pays funding in time order, so a payment stamped
/// before one the memory forgot came long ago. Not in the kernel's core fields: a checkpoint
/// part of its own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FundingTimes {
    /// The stamped FUNDING_FEEs the money event memory holds, taken oldest first: id, time.
    pub(super) held: VecDeque<(Id, f64)>,
    /// The latest time of a payment the memory forgot (0: none), and the fingerprints of the
    /// ids of those forgotten at that time (at most [`FORGOTTEN_FUNDING_IDS`]): another
    /// asset's payment of that time is news.
    pub(super) forgotten_at: f64,
    pub(super) forgotten_ids: VecDeque<u64>,
}

impl FundingTimes {
    /// The money event memory forgets `oldest`: if a payment held, its time is noted, when
    /// `believed` (not further ahead of the kernel's inputs than [`FIGURE_TIME_LEAD`], as an
    /// E figure's: one stamped in milliseconds among seconds would refuse every later one).
    pub(super) fn forget(&mut self, oldest: &Id, believed: impl Fn(f64) -> bool) {
        if self.held.front().is_none_or(|(held, _)| held != oldest) {
            return;
        }
        let Some((event_id, at)) = self.held.pop_front() else {
            return;
        };
        if !believed(at) || at < self.forgotten_at {
            return;
        }
        if at > self.forgotten_at {
            self.forgotten_at = at;
            self.forgotten_ids.clear();
        }
        if self.forgotten_ids.len() >= FORGOTTEN_FUNDING_IDS {
            self.forgotten_ids.pop_front();
        }
        self.forgotten_ids.push_back(fingerprint(&event_id));
    }

    /// The time of the forgotten payment a FUNDING_FEE `event_id` stamped `ts`, not in the
    /// memory, is as old as: stamped before it, or at its time under an id forgotten then.
    pub(super) fn forgotten(&self, event_id: &str, ts: f64) -> Option<f64> {
        let at = self.forgotten_at;
        let old = ts > 0.0
            && (ts < at || (ts == at && self.forgotten_ids.contains(&fingerprint(event_id))));
        old.then_some(at)
    }
}

impl Kernel {
    /// Remembers `fill` (one fill) waiting under `key`, whose fingerprint is `key_fp`.
    pub(super) fn remember_unsettled(&mut self, key: Id, key_fp: u64, fill: Unsettled) {
        self.account.k_unsettled_fees += fill.first.predicted_fee;
        let by_asset = fill.first.asset.is_some();
        let replaced = self
            .unsettled
            .insert_with_fp(key, key_fp, fill, |live, new| {
                if by_asset {
                    // Another asset's fill of the id waits beside it.
                    live.absorb(new.first)
                } else {
                    // A fill of no asset under an id waiting: only the newest counts.
                    std::mem::replace(live, new).predicted()
                }
            });
        if let Some(replaced) = replaced {
            self.account.k_unsettled_fees -= replaced;
        }
        // Too old to be settled by the exchange any more: the prediction stands.
        while let Some(f) = self.unsettled.pop_over_capacity() {
            self.account.k_unsettled_fees -= f.predicted();
        }
    }

    /// Settles the waiting fill of `fill_id` and `asset` (the one fill of the id without an
    /// asset) at `fee`: the exchange's replaces the prediction, and the calibration of the
    /// fill's liquidity learns from it; a prediction its venue says stands stays what the fill
    /// was charged, and the calibration learns nothing (the fee is not the exchange's). Says so
    /// in `details`; returns what it charged the fill, or why no one fill matches (nothing
    /// changed).
    pub(super) fn settle_fill(
        &mut self,
        fill_id: &Id,
        asset: &str,
        fee: SettledFee,
        details: &mut Details,
    ) -> Result<f64, Unmatched> {
        let f = self.take_unsettled(fill_id, asset, fee.exchange())?;
        // Settled as a resend may name it: by its asset, or by none.
        self.early_settlements
            .settled_both_ways(fill_id, f.asset, SettledAs::Fee(fee));
        details.push(("predicted_fee", Detail::F64(f.predicted_fee)));
        let charged = match fee {
            SettledFee::Exchange(fee) => self.charge_exchange_fee(&f, fee, details),
            SettledFee::Prediction => {
                details.push(("predicted_fee_stands", Detail::Bool(true)));
                f.predicted_fee
            }
        };
        let diff = charged - f.predicted_fee;
        self.account.k_fees_paid += diff;
        self.account.k_unsettled_fees -= f.predicted_fee;
        if let Some(slot) = self.slots.get_mut(f.slot_id) {
            if slot.trade_id == f.trade_id {
                slot.fees_paid += diff;
                self.dirty.slot(f.slot_id);
            }
        }
        Ok(charged)
    }

    /// What the exchange's `fee` charges fill `f`, taken out of the waiting fills, saying so in
    /// `details`; the calibration of the fill's liquidity learns from it.
    fn charge_exchange_fee(&mut self, f: &UnsettledFill, fee: f64, details: &mut Details) -> f64 {
        // A fill booked from part of a report is charged its share of the report's fee, and
        // the calibration learns from the whole report: the rest of it was booked, and
        // charged, under another report's key, which the exchange never settles.
        let part = (f.report_size > 0.0).then_some(f.report_size);
        let (charged, calibrated_qty) = match part {
            Some(whole) => (fee * f.qty / whole, whole),
            None => (fee, f.qty),
        };
        details.push(("actual_fee", Detail::F64(fee)));
        if let Some(whole) = part {
            details.push(("fee_charged", Detail::F64(charged)));
            details.push(("booked_qty", Detail::F64(f.qty)));
            details.push(("reported_qty", Detail::F64(whole)));
        }
        let liq = f.liquidity();
        // Against the rate the fill was predicted at: a fee tier changed since would teach the
        // calibration the ratio of the two rates.
        let rate = f.rate.against(self.fees.rate(liq));
        if let Ok(c) = self
            .fees
            .calibrate_at(f.price, calibrated_qty, fee, liq, rate)
        {
            details.push((
                "calibration_status",
                Detail::Static(c.calibration_status.name()),
            ));
            details.push(("calibration_ratio", Detail::F64(c.calibration_ratio)));
            // The ratio is the fill's liquidity's: say which.
            details.push(("liquidity", Detail::Static(c.liquidity.name())));
            if !c.learned {
                details.push(("calibration_learned", Detail::Bool(false)));
            }
        }
        charged
    }

    /// Takes the waiting fill of `fill_id` and `asset` out of the waiting fills
    /// ([`Unsettled::pick`], by the settlement's `fee` when it has one).
    fn take_unsettled(
        &mut self,
        fill_id: &Id,
        asset: &str,
        fee: Option<f64>,
    ) -> Result<UnsettledFill, Unmatched> {
        // The fill of the event's asset: venues number trades per market, so fills of several
        // assets may wait under one id. The fill picked is taken out of the others of its id
        // in place (None when it waits alone: the id is taken out whole, below).
        let picked = match self.unsettled.get_mut(fill_id) {
            None => Err(Unmatched::NoFill),
            Some(u) => u
                .pick(asset, fee)
                .map(|i| (u.len() > 1).then(|| u.remove(i))),
        };
        Ok(match picked? {
            Some(f) => f,
            None => {
                self.unsettled
                    .take(fill_id)
                    .expect("a picked fill waits")
                    .first
            }
        })
    }

    /// Whether FILL_SETTLED `ev`, saying its fill's predicted fee stands, is to wait for the
    /// other side's settlement: both sides of a self-trade wait under its fill id and asset, and
    /// none of their settlements standing is held (one is: each side's prediction stands).
    pub(super) fn standing_waits_for_a_side(&self, ev: &AccountEvent) -> bool {
        self.unsettled
            .get(&ev.fill_id)
            .is_some_and(|u| u.sides(&ev.asset) > 1)
            && self
                .early_settlements
                .standing_position(&ev.fill_id, &ev.asset)
                .is_none()
    }

    /// Holds FILL_SETTLED `ev`, saying its fill's predicted fee stands, for the other side's
    /// settlement ([`HELD_FOR_A_SIDE`]); naming no asset, under its sides' asset (their slot's):
    /// a fill of another market booked under the id (venues number trades per market) is not
    /// one of the sides and takes it not.
    #[cold]
    #[inline(never)]
    pub(super) fn hold_for_a_side(
        &mut self,
        ev: &AccountEvent,
        out: &mut KernelOutcome,
    ) -> Option<Details> {
        let sides_asset = || {
            let u = self.unsettled.get(&ev.fill_id)?;
            (0..u.len()).find_map(|i| {
                let f = u.fill(i);
                let slot = self.slots.get(f.slot_id)?;
                (slot.trade_id == f.trade_id && asset_print(&slot.asset) == f.asset)
                    .then(|| slot.asset.clone())
            })
        };
        let sides = if ev.asset.is_empty() {
            sides_asset()
        } else {
            None
        };
        match sides {
            Some(asset) => {
                let named = AccountEvent {
                    asset,
                    ..ev.clone()
                };
                self.hold_settlement(&named, out, HELD_FOR_A_SIDE)
            }
            None => self.hold_settlement(ev, out, HELD_FOR_A_SIDE),
        }
    }

    /// After FILL_SETTLED `ev` (input `seq`) settled one side of a self-trade, the settlement
    /// standing held for the other side ([`HELD_FOR_A_SIDE`]) settles the fill still waiting
    /// at its prediction, saying so in `out`.
    #[cold]
    #[inline(never)]
    pub(super) fn settle_other_side(
        &mut self,
        ev: &AccountEvent,
        seq: u64,
        out: &mut KernelOutcome,
    ) {
        let Some(i) = self
            .early_settlements
            .standing_position(&ev.fill_id, &ev.asset)
        else {
            return;
        };
        let asset = &self.early_settlements.held[i].asset;
        let waits = self.unsettled.get(&ev.fill_id);
        if waits.is_none_or(|u| u.pick(asset, None).is_err()) {
            return;
        }
        let s = self.early_settlements.take_at(i).expect("it is held");
        let mut settled = Details::new();
        let charged = self.settle_fill(&ev.fill_id, &s.asset, SettledFee::Prediction, &mut settled);
        debug_assert!(charged.is_ok(), "a fill of the side waits");
        let Ok(charged) = charged else {
            return;
        };
        self.early_settlements
            .settled(&ev.fill_id, &s.asset, SettledFee::Prediction);
        out.details
            .push(("other_side_settled_by", Detail::Id(s.event_id.clone())));
        out.details
            .push(("other_side_predicted_fee", Detail::F64(charged)));
        if self.outbox.enabled {
            self.record_applied_settlement(
                (ev.timestamp, seq),
                &ev.fill_id,
                &s,
                s.asset.clone(),
                charged,
            );
        }
    }

    /// Holds FILL_SETTLED `ev`, which no waiting fill matches, for its fill, saying so in
    /// `out`; a settlement of the same fill held already refuses it (the details returned):
    /// one fill is settled once. One of another fee is held beside (a self-trade's other side:
    /// maker and taker fees differ; a resend repeats its fee), up to two.
    #[cold]
    pub(super) fn hold_settlement(
        &mut self,
        ev: &AccountEvent,
        out: &mut KernelOutcome,
        why: &'static str,
    ) -> Option<Details> {
        let mut held = self.early_settlements.held_for(&ev.fill_id, &ev.asset);
        let (first, second) = (held.next(), held.next());
        drop(held);
        let fee = SettledFee::of(ev);
        let same_fee = |s: &&EarlySettlement| s.settled_fee() == fee;
        let refused_by = match (first, second) {
            (Some(a), Some(b)) => Some((
                if same_fee(&a) { a } else { b },
                !same_fee(&a) && !same_fee(&b),
            )),
            (Some(a), None) if same_fee(&a) => Some((a, false)),
            _ => None,
        };
        if let Some((held, both_sides)) = refused_by {
            let mut d = detail_field("fill_id", &ev.fill_id);
            d.push(("asset", (&ev.asset).into()));
            d.push(("held_event_id", (&held.event_id).into()));
            d.push((
                "reason",
                Detail::Static(if both_sides {
                    "settlements of both sides of this fill (a self-trade) came before it and \
                     are held for it already"
                } else {
                    "a settlement of this fill came before it and is held for it already"
                }),
            ));
            return Some(d);
        }
        let forgotten = self.early_settlements.hold(EarlySettlement {
            event_id: ev.event_id.clone(),
            fill_id: ev.fill_id.clone(),
            asset: ev.asset.clone(),
            fee: ev.fee,
            predicted_fee_stands: ev.predicted_fee_stands,
        });
        out.details.push(("held_for_fill", Detail::Bool(true)));
        out.details.push(("fill_id", (&ev.fill_id).into()));
        out.details.push(("reason", Detail::Static(why)));
        if let Some(old) = forgotten {
            // Its fill, if it ever comes, keeps its predicted fee: say which it was.
            out.severity = KernelSeverity::Warning;
            out.details
                .push(("forgotten_settlement", Detail::Id(old.event_id)));
            out.details
                .push(("forgotten_fill_id", Detail::Id(old.fill_id)));
        }
        None
    }

    /// The settlement held for fill `fill_key` of `asset`, just booked: settles
    /// it, saying so in `details`, when its fee was predicted (`predicted`), and returns what
    /// it charged; a fill booked with its venue's own fee drops it unapplied, as a settlement
    /// coming after it is refused.
    #[cold]
    pub(super) fn settle_early(
        &mut self,
        fill_key: &Id,
        asset: &str,
        predicted: bool,
        (fee, other_side_fee): (f64, f64),
        details: &mut Details,
    ) -> Option<f64> {
        let s = self
            .early_settlements
            .take(fill_key, asset, fee, other_side_fee)?;
        if !predicted {
            details.push(("unapplied_settlement", Detail::Id(s.event_id)));
            return None;
        }
        details.push(("settled_by", Detail::Id(s.event_id.clone())));
        let charged = self
            .settle_fill(fill_key, asset, s.settled_fee(), details)
            .ok();
        debug_assert!(charged.is_some(), "the fill just booked waits for its fee");
        self.early_settlements
            .settled(fill_key, &s.asset, s.settled_fee());
        charged
    }

    /// A fill report refused as a resend (`out`, DUPLICATE_EVENT) that names the fill id of
    /// a fill booked without one: the fill's predicted fee waits under its event id, the
    /// report's own, which no settlement names. The fee waits under the fill id now, and a
    /// settlement held for that id settles it; `out` stays the refusal (nothing is booked) and
    /// says so. Without it, the settlement stays held and the predicted fee stands for good.
    #[cold]
    #[inline(never)]
    pub(super) fn learn_fill_id(&mut self, ev: &VenueEvent, seq: u64, out: &mut KernelOutcome) {
        let (event_id, fill_id) = (&ev.event_id, &ev.fill_id);
        if fill_id.is_empty() || fill_id == event_id || self.unsettled.get(fill_id).is_some() {
            return;
        }
        // One fill, of the slot the refusal names: the report's own, booked without its id.
        let Some(sid) = self
            .unsettled
            .get(event_id)
            .filter(|u| u.len() == 1 && out.slot_id == u.first.slot_id as i64)
            .map(|u| u.first.slot_id)
        else {
            return;
        };
        let waiting = self.unsettled.take(event_id).expect("it waits");
        let f = &waiting.first;
        // The fee of the whole report, as its settlement states it, and of a self-trade's
        // other side, which took the other liquidity.
        let (whole, size) = if f.report_size > 0.0 && f.qty > 0.0 {
            (f.predicted_fee * f.report_size / f.qty, f.report_size)
        } else {
            (f.predicted_fee, f.qty)
        };
        let other_side_whole = self.fees.predict(f.price, size, f.liquidity().other_side());
        let fill_asset = f.asset;
        self.account.k_unsettled_fees -= waiting.predicted();
        self.remember_unsettled(fill_id.clone(), fingerprint(fill_id), waiting);
        self.slots[sid].seen_fills.insert(fingerprint(fill_id));
        out.details.push(("fill_id_learned", fill_id.into()));
        out.details.push(("booked_under_event_id", event_id.into()));
        // A refusal's own reason stays: one detail of a name.
        if !out.details.iter().any(|(name, _)| *name == "reason") {
            out.details
                .push(("reason", Detail::Static(FILL_ID_LEARNED)));
        }
        // Held under the fill id, by the asset it names, not the slot's: the slot may trade
        // another asset since, or none.
        let Some(asset) = self.early_settlements.asset_held_for(fill_id, fill_asset) else {
            return;
        };
        let Some(s) = self
            .early_settlements
            .take(fill_id, &asset, whole, other_side_whole)
        else {
            return;
        };
        let mut settled = Details::new();
        settled.push(("settled_by", Detail::Id(s.event_id.clone())));
        let charged = self.settle_fill(fill_id, &s.asset, s.settled_fee(), &mut settled);
        debug_assert!(charged.is_ok(), "the fill just learned waits for its fee");
        let Ok(charged) = charged else {
            return;
        };
        self.early_settlements
            .settled(fill_id, &s.asset, s.settled_fee());
        out.details.append(&mut settled);
        self.account.bump(ev.timestamp);
        self.dirty.account = true;
        if self.outbox.enabled {
            // A fill of no asset known is matched by a settlement naming none.
            let asset = if fill_asset.is_some() {
                s.asset.clone()
            } else {
                id("")
            };
            let at = (ev.timestamp, seq);
            self.record_applied_settlement(at, &ev.event_id, &s, asset, charged);
        }
    }

    /// The journal's second row of held settlement `s`, applied by an input of `seq`, stamped
    /// `ts`, to the fill of key `fill_key` (a resend naming the id of a fill booked without
    /// one, or a self-trade's other side settled): a FILL_SETTLED after its fill, under the
    /// fill's key (its row's `fill_id`) and `asset`, so a query joining fills to settlements
    /// finds what it charged.
    #[cold]
    fn record_applied_settlement(
        &mut self,
        (ts, seq): (f64, u64),
        fill_key: &Id,
        s: &EarlySettlement,
        asset: Id,
        charged: f64,
    ) {
        let r = self.account.reconcile();
        let row = AccountRow {
            ts,
            event_id: s.event_id.clone(),
            kind: AccountEventKind::FillSettled,
            asset,
            amount: 0.0,
            fee: s.fee,
            fill_id: fill_key.clone(),
            wallet_balance: None,
            available_margin: None,
            used_margin: None,
            maint_margin: None,
            k_capital: self.account.k_capital(),
            reconcile_status: r.status.name(),
            reconcile_delta: r.delta,
            accepted: true,
            diagnostic_code: KernelDiagnosticCode::Ok,
            fee_charged: Some(charged),
        };
        self.outbox.record_account(seq, &row);
    }
}

/// Why a settlement no waiting fill matches is held.
pub(super) const HELD_FOR_ITS_FILL: &str =
    "no fill of this id and asset waits for its fee: held, the settlement settles the fill when \
     it is booked (a venue's account stream often runs ahead of its orders'); a fill settled \
     already, or booked with its venue's fee, is not settled again";

/// Why a settlement saying the prediction stands is held while both sides of a self-trade wait.
pub(super) const HELD_FOR_A_SIDE: &str =
    "both sides of a self-trade wait under this fill id and asset, and a prediction standing \
     names no fee to tell them by: held until the other side's settlement settles the fill its \
     fee fits, the prediction then stands for the other";

/// What a resend naming the fill id of a fill booked without one does.
pub(super) const FILL_ID_LEARNED: &str =
    "a resend of a fill booked without a fill id names its id: nothing is booked again, and the \
     fill's predicted fee waits for the settlement of that id (one held for it settles it now)";
