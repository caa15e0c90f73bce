//! The one error type of the core. Trading refusals are not errors (they are outcomes with
//! diagnostics); these are broken configuration and programmer mistakes.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum KernelError {
    /// A value that is the wrong kind of thing or out of range; names the field and value.
    #[error("invalid {field}: {value} ({reason})")]
    InvalidValue {
        field: String,
        value: String,
        reason: &'static str,
    },
    /// A field the config does not have; lists the ones it has, so a typo shows at once.
    #[error("unknown field {field:?} in {context} (fields: {})", .known.join(", "))]
    UnknownField {
        field: String,
        context: &'static str,
        known: &'static [&'static str],
    },
    #[error(
        "slot_id {slot_id} out of range (kernel has {max_slots} slots: 0 to {})",
        .max_slots.saturating_sub(1)
    )]
    SlotOutOfRange { slot_id: i64, max_slots: usize },
    #[error("{0}")]
    State(String),
}

impl KernelError {
    pub fn invalid(field: &str, value: impl std::fmt::Display, reason: &'static str) -> Self {
        KernelError::InvalidValue {
            field: field.to_string(),
            value: value.to_string(),
            reason,
        }
    }
}

pub type KernelResult<T> = Result<T, KernelError>;

/// The largest magnitude the kernel takes for a price, size, amount, fee or limit: far
/// beyond any real market, and small enough that products and sums of such numbers (a
/// notional, a fee, an account's running totals) stay finite.
pub const MAX_MAGNITUDE: f64 = 1e15;

/// Why a number over [`MAX_MAGNITUDE`] is refused.
pub const TOO_LARGE: &str = "must be at most 1e15 in magnitude";

/// The version of the rules the kernel judges venue events and fees by, written into each
/// write-ahead log segment (see `wal::WalOptions::rules`). 0: before 2026-11-21. 1: fills
/// known by order and running total, events contradicting their order and acks claiming
/// another order's venue id refused, a fill checked against the stage before it changes
/// anything, outlier fees not learned. 2: a fill for an order that ended unfilled or
/// part-filled (a fill racing its cancel) applied while the slot still holds its trade. 3: a
/// venue id the venue replaced with another no longer routes events; client ids never
/// repeat one that loaded slots carry; a slot's exit-leg index stops at the number of its
/// legs; lot steps and ticks of 1e-9 or finer keep their decimals, and a LIMIT buy below
/// one tick is refused. 4: a rate limit on an order the venue acknowledged or filled part of
/// is its cancel throttled: the order keeps working. 5: a working order's fills are booked
/// by what its reports' running totals cover (`kernel::Covered`), so each is booked once
/// however it is resent or reordered; a CANCEL naming another trade than the slot's is
/// refused, as an EXIT was. 6: an ack arriving after a fill moved its order to working (a
/// venue reordering its reports) teaches the order's venue id when the order has none yet;
/// the stage stays. 7: an exit of the whole position goes out on the lot grid when the
/// position is within float error of it (`kernel::whole_position`), and is not held to the
/// minimum notional (it is reduce-only); a LIMIT order's notional is judged at its price on
/// the tick; rounding to a lot or tick never moves a size or price by a whole step (from
/// 1e12 steps on it did: 10,000 on a 1e-8 lot went out as 10000.00000001). 8: a fill
/// completing its order within the fill tolerance (a hair over or under what the order had
/// left, and less than half the asset's lot) books what the order had left, so the position
/// stays on the order's size; an ENTER's or EXIT's `target_size` above 0 but at most
/// `kernel::QTY_EPS` is refused as INVALID_INTENT naming it (it was BELOW_MIN_NOTIONAL, "below floor", with no floor set);
/// a venue id that a working order and an order kept for its late fills both carry names
/// neither (an event naming its order by it alone went to the working order); a FUNDING_FEE
/// with a `fee` or a FILL_SETTLED with an `amount` is refused as INVALID_INTENT naming it (the
/// other field is the one each reads: the figure was taken as 0, funding lost or a fill settled
/// free, which taught the fee calibration a free rate); the balance and margin figures a
/// FUNDING_FEE or FILL_SETTLED carries are taken for E (only an ACCOUNT_UPDATE's were).
///
/// 9 (before it, each as given in brackets):
/// - a MARKET entry against the regime whose `metadata["override"]` is text reading as a
///   negative ("false", "no", "0", "off", "none" or "null", in any case, trimmed) is refused
///   as INVALID_INTENT naming `metadata.override` and the text, and an override of only
///   whitespace is none, as the empty text (any non-empty text was an override);
/// - an intent, venue event or account event whose id (or an ENTER whose `trade_id` or
///   `asset`) is only whitespace or starts with a NUL is refused as INVALID_INTENT, and
///   `mark_price` or `set_market_limits` of such an asset raises (taken);
/// - a replayed record is judged under every input bound new input is ([`strict`]; a
///   refused input beyond one, which is logged all the same, was taken on recovery);
/// - a fill report partly booked already (resent or overlapping, `kernel::Covered`) is
///   charged its `fee` for the part booked, `fee * booked / size` (the whole fee: the part an
///   earlier report booked was paid twice);
/// - a position commits towards the notional caps at its entry price in every path, and
///   what still works of a LIMIT entry at its price as it went out (an entry's fills at its
///   reference price, and a LIMIT entry's rest at its reference after a fill, until a reload
///   of the slots counted them otherwise);
/// - a fill completing an exit that leaves the position within float error of nothing and
///   under half a lot leaves nothing (an exit of 1e8 in pieces kept a few 1e-9, the slot left
///   open after its exit filled).
///
/// 10: an order rate limited before the venue acknowledged it, with a cancel asked, is kept
/// for its late fills (the throttled request may have been the cancel, the order working at
/// the venue: it was forgotten, so its fills were UNKNOWN_ORDER and its position lost).
///
/// 11: a fill with a fill id and the venue's running total is remembered by that total and
/// its size as well, so the same fill resent without its id is a DUPLICATE_EVENT once the
/// order is no longer followed by its reports' intervals (a fill booked without a running
/// total stops that): it was booked a second time, a position the venue does not hold.
///
/// 12: an order that ended (cancel ack, expiry, reject) without the venue's filled size,
/// after its fill reports stated a running total above what is booked, leaves its slot
/// waiting for the rest, as an end stating that total does
/// (`kernel::Kept::stated_total`), and so does a late fill of it stating more; the total is
/// no bound, so a later report stating more still books (the slot was offered free, and a
/// new trade on it forgot the order: the missing fill came as UNKNOWN_ORDER). And the
/// venue's ack of an order kept after it ended (its cancel throttled before the ack) teaches
/// the order its venue id when it has none, as a late fill does: it was refused as a late
/// event, and a fill naming the order by that id alone was UNKNOWN_ORDER, its money lost.
/// A fill of an order that ended, resent without its fill id and naming its slot, is a
/// DUPLICATE_EVENT when the slot remembers its running total and size (it was UNKNOWN_ORDER,
/// CRITICAL, for money booked once already).
///
/// 13: an order rate limited before the venue acknowledged it, with a cancel asked, is in
/// doubt (`kernel::Kept::in_doubt`): its slot takes no new ENTER or EXIT until a late fill
/// completes it or a reconciliation ends it (a second exit beside a first still working sold
/// the position twice, the first's fill refused as UNKNOWN_ORDER; a new trade forgot the
/// order).
///
/// 14: a fill with a fill id stating the running total and size that a fill without an id
/// of the same order stated is that fill resent with an id, a DUPLICATE_EVENT, once the order
/// is no longer followed by its reports' intervals (it was booked a second time).
///
/// 15: an order that filled completely is remembered by its size in its slot's fill memory,
/// so a report stating only that running total after its last fill, naming its slot, is a
/// DUPLICATE_EVENT (INFO): it was UNKNOWN_ORDER, CRITICAL, money moved the slots do not show.
///
/// 16: the venue's own end (cancel ack, expiry, reject) of an order in doubt ends the doubt,
/// its figure bounding late fills (it was refused as a late event, the slot left blocked);
/// and a rate limit stating a filled size or the venue's order id says the venue holds the
/// order: the throttled request was its cancel, and the order keeps working (it was ended,
/// the figure capping its later fills, which came as OVERFILL).
///
/// 17: an entry in doubt commits what it may still fill towards the notional caps until the
/// doubt ends (the caps saw nothing of an order that may work at the venue); and a CANCEL on a
/// slot whose order is in doubt sends its cancel again (it was refused, INVALID_TRANSITION,
/// "no working order to cancel").
///
/// 18: a leg exit whose leg is below the venue's floor (under one lot, or under the minimum
/// notional at its price) goes out at the smallest size the venue takes, when the position
/// holds it (it was refused, BELOW_MIN_NOTIONAL with qty 0, and the leg never advanced: the
/// position could not be closed leg by leg); an entry fill the venue reported but the kernel
/// has not booked yet (an entry ended stating more filled) commits towards the notional caps
/// until it comes (a second entry passed the caps beside it); and a submit stamped later than
/// an intent's time counts in the order-rate window as made at that time (one intent stamped
/// an hour ahead refused every order for that hour).
///
/// 19: a FILL_SETTLED settles the unsettled fill of its `fill_id` and `asset` (venues number
/// trades per market): fills of two assets under one fill id both wait, each settled by its
/// own (the second's prediction replaced the first's, the first asset's settlement was applied
/// to the second's fill, its price, size and slot, and the second's was UNKNOWN_ORDER); one
/// naming an asset no fill of the id has is UNKNOWN_ORDER naming both, and one naming no asset
/// settles the one fill of its id, or is INVALID_INTENT naming `asset` when fills of several
/// assets wait under it. And a fill report only partly booked (`kernel::Covered`: an earlier
/// report booked the rest) whose fee is predicted is settled for its share of the exchange's
/// fee, `fee * booked / size`, and the calibration learns from the report's size and whole
/// fee (the whole fee was charged against the part's prediction, the overlap paid twice, and
/// the calibration learned a whole fee over a part's size).
///
/// 20: the fee calibration is kept per liquidity (`fees::FeeModel`): a maker fill's
/// settlement (or `calibrate_fee` with `maker`) teaches the maker's ratio, a taker's the
/// taker's, and each fill is predicted by its own side's; a rebate (a negative maker rate)
/// is learned as the rebate paid over the rebate expected, within the calibration's band
/// (one ratio scaled both sides: a venue charging takers 20 % over the rate had every maker
/// fill predicted 20 % off, a rebate scaled by what takers were charged, and rebates were
/// never learned).
///
/// 21: an exit fill that does not complete its leg counts towards the leg
/// (`model::TradeSlot::leg_taken`): a leg exit sends what is left of the leg's share, and legs
/// whose share such fills took already count as done, the exit going to the next; a completed
/// exit's fills past its leg's share count towards the next leg (a leg exit that ended
/// part-filled, say 0.1 of a leg of 0.3, went out again at 0.3 and took 0.4).
///
/// 22: `reconcile_from_slots` loads each slot's `leg_taken` as the caller's slot says it (0
/// when it says nothing), and its record carries it (`kernel::KernelInput::ReplaceSlotsLegs`):
/// a slot saved mid-leg and loaded back started its leg afresh, and its next leg exit sent the
/// leg's whole share again. A lot step or tick finer than `fees::MIN_STEP` is refused (a size
/// over a step of 1e-309 overflowed, and an order went out at an infinite size), and so is an
/// edge update of a blank asset (it froze the kernel naming none).
///
/// 23: an ENTER whose `leverage` is below `risk::MIN_LEVERAGE` (1e-15) is refused as
/// INVALID_INTENT naming it, and so is a loaded slot holding one (1e-320 was taken: the
/// position's margin, its notional over the leverage, was infinite).
///
/// 24: an exit goes out reduce-only only when the asset's position, netted over the slots
/// holding it (a venue in one-way mode holds one position per asset), covers it after every
/// other order of the asset on its side that may still work and every fill on that side the
/// venue said it made and the kernel has not booked (`kernel::Kernel::exit_reduces`), and a
/// plain exit of the whole position is judged by the minimum notional as any order is; a
/// loaded slot's exit order may say either. Before, every exit went out reduce-only: with one
/// slot long and another short of one size on an asset the venue holds nothing, refuses both
/// exits as reduce-only orders that would open a position, and neither slot could ever close.
///
/// 25: whether an exit goes out reduce-only (rules 24) is decided from sums kept as the
/// slots and kept orders change, per asset: the slots' netted position and what working
/// and kept orders may still take from it, by side, as whole units of 1e-15 of a size
/// (exact, so a kernel decoded from a checkpoint sums as the live one did). Before, an exit
/// beside a slot engaged the other way walked every open slot of the asset and every working
/// order, in floats; the two differ only within the rounding of either.
///
/// 26: a SELL LIMIT entry counts towards the notional caps, and its working order towards
/// the slot's commitment, at the higher of its limit and its reference price: a sell fills
/// at its limit or above, so a short limit of 1 with the market at 100 passed a cap of 1,000
/// for 500 and filled at 100, fifty times the cap. Risk limits set with the edge freeze off
/// lift a freeze in place: before, it refused every ENTER for good, as an edge update lifts
/// nothing while the rule is off. An ACCOUNT_UPDATE carrying an `amount` or `fee` is refused
/// naming it, as rules 8 refuse a FUNDING_FEE's `fee`: its balances were applied and the
/// figure dropped.
///
/// 27: `reconcile_from_slots` follows a loaded working order it does not hold unchanged (another
/// client id or filled size) from what the loaded order says filled (`kernel::Covered`): a fill
/// report whose running total is within it is a DUPLICATE_EVENT (it was booked on top, the
/// position above what the venue holds); and a slot loaded holding the trade it held keeps
/// its memory of the events and fills it took when the loaded slot brings none (a slot dict
/// has no room for it: a fill resent with its fill id and no running total after such a load
/// was booked a second time).
///
/// 28: a late fill of an exit whose cancel was acknowledged is booked while a second exit of
/// the slot works (`kernel::Kernel::apply_late_fill`), the second left as it went out: it was
/// refused as UNKNOWN_ORDER (CRITICAL), the slot holding what the venue had sold, and the
/// second exit's fills then left it a position the venue never had. An exit ending with
/// nothing held closes the trade (it went back to POSITION_OPEN at 0, taking no exit and no
/// new trade).
///
/// 29: a FILL_SETTLED is compared with the fee at the rate its fill was predicted at
/// (`kernel::UnsettledFill::rate`), for its calibration status and what the calibration
/// learns: a fee rate changed while the fill's fee waited (a new fee tier) was taken for the
/// venue's, and a settlement of exactly the predicted fee taught the calibration the ratio of
/// the two rates (5 bp settled after a change to 4 bp: 1.25, every later fill predicted 25 %
/// over).
///
/// 30: the edge freeze lifts only once no asset's last edge is below the threshold
/// (`kernel::Kernel::edge_below`, a checkpoint's last part): the asset that froze the kernel
/// coming back while another's edge was below names that one in the freeze instead (it lifted
/// the freeze alone, and entries passed while the other asset's edge was still below); risk
/// limits set with the freeze off forget them. And a stamp in the order-rate window later than
/// an intent's time is taken back to a second after that time at most, no further (rules 18
/// took it to the time itself: an intent stamped half a second behind the window's orders,
/// another process's clock, took them back with it, they left the window half a second early,
/// and the orders of the next half second passed a rate they doubled); a stamp an hour ahead
/// now leaves the window at most two seconds after an intent sees it.
///
/// 31: an exit fill beyond what its slot holds realizes PnL on what the slot held only, and
/// its outcome is CRITICAL naming the rest (`unheld_qty`): the venue sold a position no slot
/// holds. Only an exit the venue does not cap (not reduce-only, rules 24) gets there, after a
/// late fill of an earlier exit took part of the position (rules 28). Before, the whole fill
/// realized PnL (0.4 sold beyond a position of 0.6 counted as a gain or loss of the trade),
/// and the fill was OK (INFO). And the order-rate window rewrites no stamp
/// (`risk::RateWindow::count`): a count at an intent's time counts the stamps within a second
/// of it either way, and drops only those a second or more before both that time and the
/// latest stamp less than a second after it. Rules 30 took a stamp more than a second after
/// the time back to a second after it: with a rate of 5, five orders at 10.0, then an intent
/// stamped 8.0 took them to 9.0, and five more at 10.2 passed. And a count more than a second
/// after every order dropped them: an intent at 11.5 passed, and so did five more at 10.2. A
/// stamp an hour ahead counts only once an intent's time is within a second of it. A window
/// full (100,000 stamps) out of order drops the stamp farthest from the order, not the first
/// recorded. And a slot's event memory and a trade's fill memory keep what their 64-place
/// rings push out while the trade that wrote it goes on (`model::RecentRing::insert`, up to
/// `model::KEPT_BEYOND_RING`; how many of the event ring's places the slot's trade wrote is a
/// checkpoint part): a fill of an order filled in more pieces, reported without the running
/// total, resent once 64 later ones had pushed its own out, was booked a second time (a kept
/// order's late fill the same), and so was one with neither a fill id nor a running total,
/// known by its event id alone. And the ids
/// of accepted FUNDING_FEEs and FILL_SETTLEDs are kept apart from the ACCOUNT_UPDATEs'
/// (`kernel::MONEY_EVENT_MEMORY`, 100,000; a checkpoint's last part): in one memory of 10,000,
/// a funding payment resent after 10,000 balance updates (the funding history polled again)
/// was booked a second time.
///
/// 32: the exchange's figures (E: wallet balance, available, used and maintenance margin) go
/// forward in the venue's time, each on its own (`account::Account::e_taken_at`, a checkpoint's
/// last part): a figure is taken only from an account event stamped at or after the one it was
/// last taken from (of one time, in the order they come; an event stamped 0 is not judged). An
/// ACCOUNT_UPDATE whose every figure is older is refused, DUPLICATE_EVENT (INFO) naming the
/// figure, its value and time and the account's (`last_value`, `last_timestamp`), and changes
/// nothing; any event's older figures are left out (`figures_not_taken`), its newer ones and a
/// payment taken. Before, an ACCOUNT_UPDATE resent once 10,000 later ones had pushed its id out
/// of the account event memory was applied again, and a FUNDING_FEE polled late brought the
/// balance of its time: E went back to what the venue reported long ago, and so did the
/// reconcile status (a balance of 9,000 reported again over 10,000: MISMATCH). A figure's time
/// more than a minute after the latest time an accepted intent or venue event, or a mark price,
/// was stamped (`account::Account::input_time`, a checkpoint part; `account::FIGURE_TIME_LEAD`)
/// is not believed: an event stamped within a minute of that time takes the figure over it,
/// WARNING (`figures_time_not_believed`, `figure_time_ahead`, `latest_input_time`).
/// Judged by its time alone, a figure stamped in milliseconds among seconds, or by a clock
/// hours ahead, held back every later report of it until the venue's clock got there (for
/// milliseconds, for ever): E stood still while K moved, every update refused as INFO. And a
/// FILL_SETTLED that comes before its fill (a venue's account stream often runs ahead of its
/// order stream) is held for it (`kernel::EarlySettlement`, up to
/// `kernel::EARLY_SETTLEMENT_MEMORY`, the oldest forgotten with a WARNING; a checkpoint's last
/// part): accepted, `held_for_fill`, it settles the fill of its id and asset when that is
/// booked (the fill's outcome says `settled_by`), as it would have coming after; a settlement
/// of a fill settled already (`kernel::SETTLED_FILL_MEMORY`) is still refused UNKNOWN_ORDER.
/// Before, it was refused UNKNOWN_ORDER and dropped: the fill's predicted fee stood for good,
/// K's fees off by the difference, and the reconcile explanation named it as unsettled.
///
/// 33: a FUNDING_FEE whose id the money event memory forgot is known by its time
/// (`kernel::FundingTimes`, a checkpoint's last part): one stamped before the latest payment
/// the memory forgot, or at its time under an id forgotten then, is refused DUPLICATE_EVENT
/// (INFO) naming both times (`timestamp`, `forgotten_payment_time`); a forgotten payment's time
/// more than `account::FIGURE_TIME_LEAD` after the kernel's latest input time, or any while
/// the kernel has none yet, is not kept.
/// Before, a payment resent after 100,000 later payments and settlements was booked twice. A
/// FILL_SETTLED of a fill booked with its venue's own fee is refused DUPLICATE_EVENT (INFO,
/// `fill_id`, `asset`, `reason`), and a settled fill is remembered by its asset and by none
/// (resent naming it the other way: UNKNOWN_ORDER, settled already); before, either was held
/// for a fill that would not come. And a fill of another slot or trade under a fill id and
/// asset that waits (a venue's self-trade) waits beside it, and a settlement of several
/// settles the one whose predicted fee is nearest its fee: the second replaced the first, one
/// side's settlement was charged to the other and the other refused. And the notional caps
/// value a MARKET entry, or a SELL LIMIT one, at the asset's latest mark price when that is
/// above its reference (and limit) (`kernel::cap_price`), and what still works of it commits
/// at the mark it was judged at (the marks, every asset's whether or not a slot holds it, and
/// the entries', are a checkpoint's last part); a refusal names `cap_price` and
/// `cap_price_source`. Before, at the reference alone: a stale or understated one (1 with the
/// asset marked at 119.5) let through an entry the cap should stop (5 passed a cap of 500 and
/// filled at 120, 600 held). The marks are kept from rules 33 on only (an older build's
/// checkpoint holds none). And a slot whose position opens takes its asset's latest mark
/// (before: `mark_price` 0 and its PnL at the fill's price until the next mark). And the
/// kernel's floor (`min_notional`) judges a MARKET entry at the higher of its reference and the
/// asset's latest mark (a refusal names `floor_price`, `floor_price_source`); before, at its
/// reference: a stale low one refused orders the venue takes. And both sides'
/// settlements of a self-trade that come before its fills are held (two per fill id and asset,
/// of different fees; `kernel::EarlySettlement`), each fill taking the nearest its fee: before,
/// the second was refused as held already and its side kept its predicted fee. And an
/// ORDER_ACK stating a `size` below the order's is the order's size (WARNING, `acked_size`,
/// `order_size`; one above is not taken): before, the kernel waited for fills that never came
/// and the slot worked for good.
///
/// 34: a FILL saying its order is over short of its size (`status` FILLED, `remaining_size` 0,
/// its running total `filled_size` above 0 and what is booked with it; `Kernel::ends_short`)
/// ends the order there as an expiry without a figure ends it (WARNING, `ended_short`): kept
/// for its late fills, which are booked. Before, the order worked on until its cancel ack or
/// expiry came, or a reconciliation named it; its slot took no new ENTER or EXIT. And a late
/// ORDER_ACK (after a fill, `late_ack`) stating a `size` below the order's cuts it as an ack in
/// order does (rules 33), and completes it when what filled reaches that size; before, its
/// size was not read.
///
/// 35: an event naming its order by its client id that states a venue order id other than
/// the one the order carries (both given; an ORDER_ACK keeps its own rules) is refused as
/// another disagreement is (UNKNOWN_ORDER, ERROR, `field` `venue_order_id`, `value`,
/// `order_value`): nothing changes and its event id is not remembered. Before, it was applied
/// to the order its client id named: another order's fill moved this one's position. And
/// `reconcile_from_slots` refuses a slot whose `active_leg_index` is past its exit legs
/// (naming the index and the number of legs), unless the kernel's slot shows that index for
/// the same trade; before, the index was cut to the number of legs (every leg done).
///
/// 36: a late FILL of an order in doubt (rate limited before its ack with a cancel asked, rules
/// 13) saying it is over short of its size, as rules 34 reads a working order's (`status`
/// FILLED, `remaining_size` 0, its running total `filled_size` above 0 and what is booked with
/// it; `Kernel::ends_short`), ends the doubt: its slot takes a new ENTER (an exit's, a new
/// EXIT). Before, only a fill completing the order did, and the slot waited for
/// `reconcile_with_venue`.
pub const RULES: u16 = 36;

thread_local! {
    /// While a log record is replayed, the rules it was written under.
    static REPLAY_RULES: std::cell::Cell<Option<u16>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` (applying a write-ahead log record written under `rules`) as it ran then: the
/// input bounds added since records could be written (magnitudes, finite market-data times,
/// loaded slot data) are not applied, since a record was accepted when it was written, and
/// what changed between rules versions is judged by the record's version ([`rules`]), or a
/// log would no longer open, or would recover to another state than it recorded.
pub fn replaying<R>(rules: u16, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u16>);
    impl Drop for Restore {
        fn drop(&mut self) {
            REPLAY_RULES.set(self.0);
        }
    }
    let _restore = Restore(REPLAY_RULES.replace(Some(rules)));
    f()
}

/// Whether the input bounds apply (magnitudes, finite times, loaded slot data, id and
/// configuration checks): for new input, and from rules 9 on for a replayed record too. A
/// refused input is logged all the same, so a log of rules 9 must be judged by them again
/// or an input refused live (a fill at 1e16) is taken on recovery. Logs of rules 8 or older
/// replay without them, as builds before some of these bounds took such input. A bound
/// added later must gate on its own rules version (`rules() >= N`), not on this.
pub fn strict() -> bool {
    REPLAY_RULES.get().is_none_or(|r| r >= 9)
}

/// Whether the input is new, not a log record replayed. For a bound on input refused with an
/// error, which is never logged: no log holds an input it refuses, so it needs no rules
/// version, and the records taken before it replay as they ran.
pub fn new_input() -> bool {
    REPLAY_RULES.get().is_none()
}

/// The rules version in force: [`RULES`] for new input, the record's inside [`replaying`].
pub fn rules() -> u16 {
    REPLAY_RULES.get().unwrap_or(RULES)
}

/// Checks that a time (epoch seconds) is a finite number, naming the field if not.
pub fn check_timestamp(field: &str, ts: f64) -> KernelResult<f64> {
    if !ts.is_finite() && strict() {
        return Err(KernelError::invalid(field, ts, "must be a finite number"));
    }
    Ok(ts)
}

/// Whether `value` of `field` is beyond [`MAX_MAGNITUDE`] for new input. Times are epoch
/// seconds, but a caller's milliseconds must not read as nonsense: they are not bounded.
pub fn too_large(field: &str, value: f64) -> bool {
    value.abs() > MAX_MAGNITUDE && field != "timestamp" && strict()
}

/// `value` as an error shows it: in exponent form when tiny or huge, as Python shows it
/// (-1e-320 was written out in 330 digits, 1e300 in 301).
pub fn shown(value: f64) -> String {
    if value != 0.0 && (value.abs() < 1e-4 || value.abs() >= 1e16) {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

/// [`check_number`] for each `(name, value)`, the field named `field(name)`.
pub fn check_numbers(
    field: impl Fn(&str) -> String,
    values: &[(&str, f64)],
    min: f64,
) -> KernelResult<()> {
    for &(name, value) in values {
        check_number(&field(name), value, min)?;
    }
    Ok(())
}

/// Checks that a number is finite, at most [`MAX_MAGNITUDE`] in magnitude and at least `min`
/// (inclusive), naming the field if not.
pub fn check_number(field: &str, value: f64, min: f64) -> KernelResult<f64> {
    if !value.is_finite() {
        return Err(KernelError::invalid(
            field,
            value,
            "must be a finite number",
        ));
    }
    if too_large(field, value) {
        return Err(KernelError::invalid(field, format!("{value:e}"), TOO_LARGE));
    }
    if value < min {
        return Err(KernelError::invalid(
            field,
            shown(value),
            if min == 0.0 {
                "must not be negative"
            } else {
                "below the allowed minimum"
            },
        ));
    }
    Ok(value)
}
