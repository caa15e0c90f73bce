//! The venue's market rules applied to an order before it is sent: its size on the lot grid,
//! its price on the tick, and the venue's floor (minimum quantity and notional), under which
//! an order is skipped as BELOW_MIN_NOTIONAL rather than sent.

use super::*;

/// Why an intent's `target_size` at or below [`QTY_EPS`] is refused.
pub(super) const TOO_SMALL: &str = "at or below the smallest size the kernel trades (1e-9)";

/// The size an exit of the whole position `size` sends: the lot's multiple it is within float
/// error of (legs taken off 1.0 leave 0.39999999999999997, which a venue on a 0.1 lot
/// refuses), else the multiple below it: what is left is dust the venue takes no order for (a
/// spot buy's commission kept in the base asset, a lot changed since the entry), which the
/// exit's last fill closes ([`Kernel::after_exit_fill`]). A position under one lot goes out as
/// it is.
pub(super) fn whole_position(size: f64, lot_step: f64) -> f64 {
    let on_grid = lots_in(size, lot_step);
    if (size - on_grid).abs() <= within_float_error(size) || on_grid > QTY_EPS {
        on_grid
    } else {
        size
    }
}

/// The lot's multiple at or below `qty`, for an order that reduces a position: never above it
/// by more than float error. [`round_down_to_step`] takes a count of lots within 1e-12 of it
/// (at most a hundredth of a lot) of a whole one as that one (at 1e10 lots of 1,
/// 9990000004.995 as 9990000005): a sell of it is more than the account holds, which a spot
/// venue refuses at every retry.
pub(super) fn lots_in(qty: f64, lot_step: f64) -> f64 {
    let on_grid = round_down_to_step(qty, lot_step);
    if on_grid - qty > reducing_tolerance(qty, lot_step) {
        // Re-snapped: the multiple below on the lot's decimals, as round_down_to_step gives it.
        round_down_to_step(on_grid - lot_step, lot_step)
    } else {
        on_grid
    }
}

/// How far under the lot's multiple a reducing quantity may be and still be that multiple:
/// a sum of fills' float error ([`float_error`], 1e-12 of it, as [`round_down_to_step`] takes
/// it), but from a million lots up no more than a millionth of a lot. There a sell above the
/// holding (a commission kept in the coin leaving 0.0002 of a lot) is refused at every retry,
/// while stepping down leaves one lot, a millionth of the position or less. Never under four
/// units of the quantity's last place, which no comparison tells apart.
fn reducing_tolerance(qty: f64, lot_step: f64) -> f64 {
    float_error(qty)
        .min(lot_step * 1e-6)
        .max(qty * 4.0 * f64::EPSILON)
}

/// How far a position may be from the lot's multiple it is and still be that multiple: a few
/// hundred units of the size's last place (one is 2.2e-16 of it). Wider, as [`float_error`]'s
/// 1e-12, a real fraction of a lot (the 0.995 a commission in the coin leaves at 1e10 lots of
/// 1) would be taken as float error.
fn within_float_error(size: f64) -> f64 {
    QTY_EPS.max(size * 1e-13)
}

impl Kernel {
    pub(super) fn limits_for(&self, asset: &str) -> MarketLimits {
        match self.market_limits.get(asset) {
            Some(m) => m.clone(),
            None => MarketLimits {
                lot_step: self.fees.config.lot_step,
                tick_size: self.fees.config.tick_size,
                min_qty: 0.0,
                min_notional: self.fees.config.min_notional,
            },
        }
    }

    /// The refusal of a LIMIT intent whose price the venue's tick takes to zero (a buy below
    /// one tick): sent, it would be an order at price 0. Inlined: a MARKET intent is let
    /// through at one look, the rest out of line.
    #[inline(always)]
    pub(super) fn limit_off_tick(
        &self,
        intent: &Intent,
        sid: usize,
        m: &MarketLimits,
        side: OrderSide,
        seq: u64,
    ) -> Option<KernelOutcome> {
        if intent.order_type != OrderType::Limit {
            return None;
        }
        self.limit_off_tick_priced(intent, sid, m, side, seq)
    }

    /// [`Kernel::limit_off_tick`] for a LIMIT intent.
    #[inline(never)]
    pub(super) fn limit_off_tick_priced(
        &self,
        intent: &Intent,
        sid: usize,
        m: &MarketLimits,
        side: OrderSide,
        seq: u64,
    ) -> Option<KernelOutcome> {
        let price = round_price_to_tick(intent.limit_price, m.tick_size, side == OrderSide::Sell);
        if price > 0.0 {
            return None;
        }
        let mut d = detail_field("limit_price", intent.limit_price);
        d.push(("tick_size", Detail::F64(m.tick_size)));
        d.push((
            "reason",
            Detail::Static("the venue's tick takes this price to zero"),
        ));
        Some(self.refuse(
            intent,
            Some(sid),
            KernelDiagnosticCode::InvalidIntent,
            KernelSeverity::Error,
            d,
            seq,
        ))
    }

    /// The price an order's notional is judged at: a MARKET order's reference, a LIMIT
    /// order's price as it goes out, on the tick (so a buy the tick takes under the minimum
    /// notional is not sent for the venue to refuse).
    pub(super) fn order_price(intent: &Intent, m: &MarketLimits, side: OrderSide) -> f64 {
        Self::sent_price(intent, m, side)
    }

    /// The price an order for `intent` goes out at: a MARKET order's reference, a LIMIT
    /// order's limit on the tick (down for buys, up for sells).
    pub(super) fn sent_price(intent: &Intent, m: &MarketLimits, side: OrderSide) -> f64 {
        match intent.order_type {
            OrderType::Market => intent.reference_price,
            OrderType::Limit => {
                round_price_to_tick(intent.limit_price, m.tick_size, side == OrderSide::Sell)
            }
        }
    }

    pub(super) fn below_floor(m: &MarketLimits, qty: f64, price: f64) -> bool {
        Self::below_min_qty(m, qty) || qty * price + 1e-9 < m.min_notional
    }

    /// The smallest size the venue takes at `price`: its minimum quantity and notional, on
    /// the lot grid (one lot at least); 0 when it states none of them.
    pub(super) fn least_order(m: &MarketLimits, price: f64) -> f64 {
        let by_notional = if price > 0.0 {
            m.min_notional / price
        } else {
            0.0
        };
        let mut least = round_up_to_step(m.min_qty.max(by_notional), m.lot_step);
        if m.lot_step > 0.0 && Self::below_floor(m, least, price) {
            // Rounding up forgives float error, a lot short where the notional is a hair over
            // whole lots (100 at 33.33333333 is 3.0000000003 lots): one lot more.
            least = round_up_to_step(least + m.lot_step, m.lot_step);
        }
        if least <= QTY_EPS {
            m.lot_step.max(0.0)
        } else {
            least
        }
    }

    /// Nothing to send, or less than the venue's minimum quantity.
    pub(super) fn below_min_qty(m: &MarketLimits, qty: f64) -> bool {
        qty <= QTY_EPS || qty + QTY_EPS < m.min_qty
    }

    /// What an order for `intent` is priced at as it goes out: its reference, or its limit.
    pub(super) fn price_source(intent: &Intent) -> &'static str {
        match intent.order_type {
            OrderType::Market => "reference",
            OrderType::Limit => "limit",
        }
    }

    /// The refusal of an order of `qty` below the venue's floor, judged at `(price, source)`:
    /// the price and what it is (`reference`, `limit`, or a MARKET entry's `mark`).
    #[cold]
    pub(super) fn below_floor_outcome(
        &self,
        intent: &Intent,
        sid: usize,
        m: &MarketLimits,
        qty: f64,
        (price, source): (f64, &'static str),
        seq: u64,
    ) -> KernelOutcome {
        let mut d = vec![
            ("reason", Detail::Static("below floor")),
            ("qty", Detail::F64(qty)),
            ("notional", Detail::F64(qty * price)),
            ("min_qty", Detail::F64(m.min_qty)),
            ("min_notional", Detail::F64(m.min_notional)),
            ("lot_step", Detail::F64(m.lot_step)),
        ];
        d.push(("floor_price", Detail::F64(price)));
        d.push(("floor_price_source", Detail::Static(source)));
        self.refuse(
            intent,
            Some(sid),
            KernelDiagnosticCode::BelowMinNotional,
            KernelSeverity::Info,
            d,
            seq,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_whole_exit_of_what_a_commission_in_the_coin_left_goes_out_on_the_lot_below() {
        // 10,000,000,005 PEPE bought, 0.1 % kept in the coin: a whole exit of 9990000005
        // would sell half a PEPE more than the account holds.
        assert_eq!(whole_position(9_990_000_004.995, 1.0), 9_990_000_004.0);
        assert_eq!(whole_position(0.014985, 0.00001), 0.01498);
        // Float error stays on the lot it is off: 1.0 - 0.6 on a 0.1 lot.
        assert_eq!(whole_position(1.0 - 0.6, 0.1), 0.4);
        assert_eq!(whole_position(0.3, 0.1), 0.3);
        // Under one lot, the position goes out as it is.
        assert_eq!(whole_position(0.995, 1.0), 0.995);
        // Under a million lots, fills added up that fall short of the multiple the venue holds
        // are that multiple: 1,000 fills of 0.07 on a lot of 0.01 (7,000 lots).
        let held = (0..1_000).fold(0.0, |held, _| held + 0.07);
        assert!(held < 70.0);
        assert_eq!(whole_position(held, 0.01), 70.0);
        // From a million lots, a commission's 0.0002 of a lot steps down (0.02 % of 1,000,000,001
        // PEPE kept in the coin), and so does float error over a millionth of a lot: one lot, a
        // millionth of the position at most, is left rather than a sell above the holding.
        assert_eq!(whole_position(999_800_000.999_8, 1.0), 999_800_000.0);
        assert_eq!(whole_position(19_980_000_000.999, 1.0), 19_980_000_000.0);
        let held = (0..10_000).fold(0.0, |held, _| held + 12.34);
        assert!(held < 123_400.0 && 123_400.0 - held > 0.01 * 1e-6);
        assert_eq!(whole_position(held, 0.01), 123_399.99);
    }

    /// A lot of 1, 2, 2.5 or 5 times a power of ten from 1e-8 to 1e3.
    fn lot() -> impl Strategy<Value = f64> {
        (prop::sample::select(vec![1.0, 2.0, 2.5, 5.0]), -8..=3i32)
            .prop_map(|(m, e)| m * 10f64.powi(e))
    }

    /// How far past a whole lot a position is, in lots: anywhere, on it, or just under the next.
    fn fraction() -> impl Strategy<Value = f64> {
        prop_oneof![
            0.0..1.0,
            Just(0.0),
            (1..16i32).prop_map(|k| 1.0 - 10f64.powi(-k)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn a_whole_exit_is_never_above_the_position_nor_a_lot_below_it(
            magnitude in -8.0..12.0f64,
            lot in lot(),
            fraction in fraction(),
        ) {
            let lots = (10f64.powf(magnitude) / lot).floor();
            let size = (lots + fraction) * lot;
            prop_assume!(size > QTY_EPS);
            let sent = whole_position(size, lot);
            let error = reducing_tolerance(size, lot);
            prop_assert!(sent <= size + error, "{sent} sent of {size} held on a lot of {lot}");
            // Under one lot the position goes out as it is, or as the lot it is within error of.
            prop_assert!(sent > size - lot - error, "{sent} sent of {size} held on {lot}");
            let part = lots_in(size * 0.5, lot);
            prop_assert!(part <= size * 0.5 + error, "{part} of {size} on a lot of {lot}");
        }
    }
}
