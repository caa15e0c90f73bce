//! Exchange configuration and the fee model: predict each fill's fee, learn from the fees
//! the exchange actually charged.

use crate::error::{check_number, format_number, KernelError, KernelResult, MAX_MAGNITUDE};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExchangeConfig {
    pub taker_rate: f64,
    pub maker_rate: f64,
    pub lot_step: f64,
    pub tick_size: f64,
    pub min_notional: f64,
    pub funding_interval_secs: f64,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        // Binance USD-M futures' base tier: a sensible default for a fresh kernel.
        ExchangeConfig {
            taker_rate: 0.0005,
            maker_rate: 0.0002,
            lot_step: 0.0,
            tick_size: 0.0,
            min_notional: 0.0,
            funding_interval_secs: 28_800.0,
        }
    }
}

pub const EXCHANGE_CONFIG_FIELDS: [&str; 6] = [
    "taker_rate",
    "maker_rate",
    "lot_step",
    "tick_size",
    "min_notional",
    "funding_interval_secs",
];

/// The finest lot step or tick taken (0 is none). A size or price over a step much finer
/// overflows to infinity (1e15 over 1e-309); below about 1e-12 a size on the grid can
/// already lose a step to float error, and no venue's step is that fine.
pub const MIN_STEP: f64 = 1e-15;

/// Checks a lot step or tick: a number from 0 up ([`check_number`]), and 0 (no rounding) or
/// at least [`MIN_STEP`].
pub fn check_step(field: &str, value: f64) -> KernelResult<f64> {
    let step = check_number(field, value, 0.0)?;
    if step > 0.0 && step < MIN_STEP {
        return Err(KernelError::invalid(
            field,
            format!("{step:e}"),
            "must be 0 (no rounding) or at least 1e-15",
        ));
    }
    Ok(step)
}

impl ExchangeConfig {
    /// A copy with `updates` applied; every value checked before anything changes.
    pub fn with_updates(&self, updates: &[(String, f64)]) -> KernelResult<ExchangeConfig> {
        let mut next = self.clone();
        for (field, value) in updates {
            let slot = match field.as_str() {
                "taker_rate" => &mut next.taker_rate,
                "maker_rate" => &mut next.maker_rate,
                "lot_step" => &mut next.lot_step,
                "tick_size" => &mut next.tick_size,
                "min_notional" => &mut next.min_notional,
                "funding_interval_secs" => &mut next.funding_interval_secs,
                _ => {
                    return Err(KernelError::UnknownField {
                        field: field.clone(),
                        context: "exchange config",
                        known: &EXCHANGE_CONFIG_FIELDS,
                    })
                }
            };
            *slot = match field.as_str() {
                // A maker rate may be negative (a rebate), down to -taker_rate (below).
                "maker_rate" => check_number(field, *value, -MAX_MAGNITUDE)?,
                "lot_step" | "tick_size" => check_step(field, *value)?,
                _ => check_number(field, *value, 0.0)?,
            };
        }
        if next.taker_rate >= 0.1 {
            return Err(KernelError::invalid(
                "taker_rate",
                format_number(next.taker_rate),
                "must be a fraction below 0.1",
            ));
        }
        if next.maker_rate >= 0.1 {
            return Err(KernelError::invalid(
                "maker_rate",
                format_number(next.maker_rate),
                "must be a fraction below 0.1",
            ));
        }
        // No venue rebates makers more than it charges takers: past that, a maker order
        // filled against one's own taker order would earn money from fees alone.
        if next.maker_rate < -next.taker_rate {
            // Named by the field this update set (the other kept its value).
            return Err(if updates.iter().any(|(f, _)| f == "maker_rate") {
                KernelError::invalid(
                    "maker_rate",
                    format!(
                        "{} (taker_rate {})",
                        format_number(next.maker_rate),
                        format_number(next.taker_rate)
                    ),
                    "a rebate must be at most the taker rate: maker_rate must be at least \
                     -taker_rate",
                )
            } else {
                KernelError::invalid(
                    "taker_rate",
                    format!(
                        "{} (maker_rate {})",
                        format_number(next.taker_rate),
                        format_number(next.maker_rate)
                    ),
                    "must be at least the maker rebate (-maker_rate)",
                )
            });
        }
        if next.funding_interval_secs <= 0.0 {
            return Err(KernelError::invalid(
                "funding_interval_secs",
                format_number(next.funding_interval_secs),
                "must be positive",
            ));
        }
        Ok(next)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Liquidity {
    Maker,
    Taker,
}

impl Liquidity {
    pub fn name(self) -> &'static str {
        match self {
            Liquidity::Maker => "MAKER",
            Liquidity::Taker => "TAKER",
        }
    }

    /// The liquidity of a trade's other side: a maker's order met a taker's, and the reverse.
    pub fn other_side(self) -> Liquidity {
        match self {
            Liquidity::Maker => Liquidity::Taker,
            Liquidity::Taker => Liquidity::Maker,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CalibrationStatus {
    Ok,
    Warn,
    Error,
}

impl CalibrationStatus {
    pub fn name(self) -> &'static str {
        match self {
            CalibrationStatus::Ok => "OK",
            CalibrationStatus::Warn => "WARN",
            CalibrationStatus::Error => "ERROR",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub expected_fee: f64,
    pub actual_fee: f64,
    pub ratio: f64,
    pub deviation_pct: f64,
    pub calibration_status: CalibrationStatus,
    /// The ratio and samples of the calibration the sample's liquidity predicts by.
    pub calibration_ratio: f64,
    pub calibration_samples: u64,
    /// Whether this sample moved the calibration (see [`CALIBRATION_BAND`]).
    pub learned: bool,
    pub liquidity: Liquidity,
}

/// Weight of the newest sample in the calibration ratio's moving average.
const CALIBRATION_ALPHA: f64 = 0.2;

/// The charged/expected ratios the calibration learns from: a free promotion (0) up to three
/// times the configured rate. A sample outside (a rebate against a positive rate, a fee in
/// another currency, a hundredfold charge) is reported as an ERROR and learned from not at
/// all: one outlier must not rescale every later estimate. A fill at a negative rate (a maker
/// rebate) is held to it too: the rebate paid over the rebate expected, both negative.
pub const CALIBRATION_BAND: (f64, f64) = (0.0, 3.0);

/// One liquidity's calibration: its ratio (the first learned sample's actual/expected, then
/// a moving average) and how many samples it learned.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiquidityCalibration {
    pub ratio: f64,
    pub samples: u64,
}

impl Default for LiquidityCalibration {
    fn default() -> Self {
        LiquidityCalibration {
            ratio: 1.0,
            samples: 0,
        }
    }
}

/// The maker's and the taker's calibration, as a checkpoint holds them beside the fee model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CalibrationByLiquidity {
    pub maker: LiquidityCalibration,
    pub taker: LiquidityCalibration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeeModel {
    pub config: ExchangeConfig,
    /// The ratio the newest learned sample left, that sample's liquidity's.
    pub calibration_ratio: f64,
    /// The samples learned, both liquidities together.
    pub calibration_samples: u64,
    /// Each liquidity's calibration, which its fills are predicted by: a venue's taker
    /// charges say nothing about what it charges or pays makers. A checkpoint holds them as
    /// a part of their own ([`CalibrationByLiquidity`]).
    #[serde(skip)]
    pub maker: LiquidityCalibration,
    #[serde(skip)]
    pub taker: LiquidityCalibration,
}

impl Default for FeeModel {
    fn default() -> Self {
        FeeModel {
            config: ExchangeConfig::default(),
            calibration_ratio: 1.0,
            calibration_samples: 0,
            maker: LiquidityCalibration::default(),
            taker: LiquidityCalibration::default(),
        }
    }
}

impl FeeModel {
    pub fn rate(&self, liquidity: Liquidity) -> f64 {
        match liquidity {
            Liquidity::Maker => self.config.maker_rate,
            Liquidity::Taker => self.config.taker_rate,
        }
    }

    /// The calibration `liquidity`'s fills are predicted by.
    pub fn calibration(&self, liquidity: Liquidity) -> &LiquidityCalibration {
        match liquidity {
            Liquidity::Maker => &self.maker,
            Liquidity::Taker => &self.taker,
        }
    }

    /// The fee the kernel charges for a fill when it happens (the exchange's figure
    /// replaces it when the fill settles): negative at a negative maker rate, a rebate,
    /// scaled by the maker's calibration as a charge is by the taker's.
    #[inline]
    pub fn predict(&self, price: f64, qty: f64, liquidity: Liquidity) -> f64 {
        price * qty * self.rate(liquidity) * self.calibration(liquidity).ratio
    }

    /// Compares a charged fee with the model's uncalibrated expectation and folds the
    /// ratio into `liquidity`'s calibration when within [`CALIBRATION_BAND`]: a charge's (an
    /// expectation above 0) and a rebate's (below 0, a negative maker rate) alike. An
    /// expectation of 0 (a free rate, no size) compares nothing and is refused.
    pub fn calibrate(
        &mut self,
        price: f64,
        qty: f64,
        actual_fee: f64,
        liquidity: Liquidity,
    ) -> KernelResult<Calibration> {
        self.calibrate_at(price, qty, actual_fee, liquidity, self.rate(liquidity))
    }

    /// [`FeeModel::calibrate`] against the fee at `rate`: the rate a settled fill was
    /// predicted at, which a config changed since no longer says.
    pub fn calibrate_at(
        &mut self,
        price: f64,
        qty: f64,
        actual_fee: f64,
        liquidity: Liquidity,
        rate: f64,
    ) -> KernelResult<Calibration> {
        let expected_fee = Self::expected_fee(price, qty, actual_fee, rate)?;
        // Compared signed: a rebate of 0.045 where 0.05 was expected is 0.9, a charge where a
        // rebate was expected is below 0 (an ERROR, outside the band, not learned).
        let ratio = actual_fee / expected_fee;
        let deviation_pct = (ratio - 1.0) * 100.0;
        let in_band = (CALIBRATION_BAND.0..=CALIBRATION_BAND.1).contains(&ratio);
        let side = match liquidity {
            Liquidity::Maker => &mut self.maker,
            Liquidity::Taker => &mut self.taker,
        };
        let learned = in_band;
        if learned {
            let average = if side.samples == 0 {
                ratio
            } else {
                CALIBRATION_ALPHA * ratio + (1.0 - CALIBRATION_ALPHA) * side.ratio
            };
            // An average of ratios within the band is within it, but rounding can put one at
            // 3.0000000000000004 (0.2 * 3 + 0.8 * 3): held to the band it learns from.
            let next = LiquidityCalibration {
                ratio: average.min(CALIBRATION_BAND.1),
                samples: side.samples + 1,
            };
            *side = next;
            self.calibration_samples += 1;
            self.calibration_ratio = next.ratio;
        }
        let abs = deviation_pct.abs();
        let calibration_status = if abs < 1.0 {
            CalibrationStatus::Ok
        } else if abs < 5.0 {
            CalibrationStatus::Warn
        } else {
            CalibrationStatus::Error
        };
        let now = *self.calibration(liquidity);
        Ok(Calibration {
            expected_fee,
            actual_fee,
            ratio,
            deviation_pct,
            calibration_status,
            calibration_ratio: now.ratio,
            calibration_samples: now.samples,
            learned,
            liquidity,
        })
    }

    /// The uncalibrated fee [`FeeModel::calibrate`] compares `actual_fee` with, the sample's
    /// numbers checked first; an expectation of 0 is refused.
    fn expected_fee(price: f64, qty: f64, actual_fee: f64, rate: f64) -> KernelResult<f64> {
        check_number("fill_price", price, 0.0)?;
        check_number("fill_qty", qty, 0.0)?;
        check_number("actual_fee", actual_fee, -MAX_MAGNITUDE)?;
        let expected_fee = price * qty * rate;
        if expected_fee == 0.0 && price > 0.0 && qty > 0.0 && rate != 0.0 {
            return Err(Self::underflowed(price, qty, expected_fee));
        }
        if expected_fee == 0.0 {
            return Err(KernelError::invalid(
                "expected_fee",
                format_number(expected_fee),
                "fill_price, fill_qty and the fee rate must all be other than 0 to calibrate",
            ));
        }
        Ok(expected_fee)
    }

    /// Refuses, beyond what [`FeeModel::calibrate`] refuses, a sample whose expected fee
    /// underflowed (qty 1e-320): a ratio over it is infinite, or a comparison with a number
    /// that lost its precision. Named by the smaller of price and qty, the likelier culprit.
    pub fn check_comparable(
        &self,
        price: f64,
        qty: f64,
        actual_fee: f64,
        liquidity: Liquidity,
    ) -> KernelResult<()> {
        let expected_fee = Self::expected_fee(price, qty, actual_fee, self.rate(liquidity))?;
        if expected_fee.is_normal() && (actual_fee / expected_fee).is_finite() {
            return Ok(());
        }
        Err(Self::underflowed(price, qty, expected_fee))
    }

    /// The refusal of a sample whose `expected_fee` underflowed (to 0 too: 1e-150 * 1e-200),
    /// named by the smaller of price and qty, the likelier culprit.
    #[cold]
    fn underflowed(price: f64, qty: f64, expected_fee: f64) -> KernelError {
        let (field, value) = if price < qty {
            ("fill_price", price)
        } else {
            ("fill_qty", qty)
        };
        KernelError::invalid(
            field,
            format!("{value:?}, an expected fee of {expected_fee:?}"),
            "fill_price * fill_qty * the fee rate is too small an expected fee to calibrate \
             against",
        )
    }

    /// Both liquidities' calibrations, as a checkpoint part of their own holds them.
    pub fn calibration_by_liquidity(&self) -> CalibrationByLiquidity {
        CalibrationByLiquidity {
            maker: self.maker,
            taker: self.taker,
        }
    }

    /// Restores [`FeeModel::calibration_by_liquidity`] from a checkpoint.
    pub fn restore_calibration_by_liquidity(&mut self, saved: CalibrationByLiquidity) {
        (self.maker, self.taker) = (saved.maker, saved.taker);
    }
}

/// Rounds `qty` down to a multiple of `step` (0 = no rounding). Works on the quotient with a
/// small tolerance so 0.3 / 0.1 counts as 3 steps, not 2.999...
pub fn round_down_to_step(qty: f64, step: f64) -> f64 {
    if step <= 0.0 {
        return qty;
    }
    let steps = whole_steps(qty / step, false);
    // Re-derive through the step's decimals so results print cleanly (0.30000000000000004 -> 0.3).
    at_decimals(steps * step, decimals_of(step))
}

/// Rounds `qty` up to a multiple of `step` (0 = no rounding), as `round_down_to_step` rounds
/// down: a size on the grid stays where it is.
pub fn round_up_to_step(qty: f64, step: f64) -> f64 {
    if step <= 0.0 {
        return qty;
    }
    at_decimals(whole_steps(qty / step, true) * step, decimals_of(step))
}

/// Rounds a price to the tick: down for buys, up for sells, so a limit never crosses further
/// than asked.
pub fn round_price_to_tick(price: f64, tick: f64, round_up: bool) -> f64 {
    if tick <= 0.0 {
        return price;
    }
    at_decimals(
        whole_steps(price / tick, round_up) * tick,
        decimals_of(tick),
    )
}

/// The whole number of steps in a quotient `q`, down (or up): a quotient within float error
/// of a whole number is that number, so a value on the grid stays where it is.
fn whole_steps(q: f64, up: bool) -> f64 {
    // Relative to the quotient (a few thousand units of the float's last place), and at
    // most a hundredth of a step, so a size of 1e12 steps is never moved by a whole step.
    let tolerance = (q.abs() * 1e-12).clamp(1e-9, 0.01);
    if up {
        (q - tolerance).ceil()
    } else {
        (q + tolerance).floor()
    }
}

/// The decimals of a lot step or tick, to print results cleanly by: None when it has more
/// than [`MAX_DECIMALS`] (a result is then left as computed).
fn decimals_of(step: f64) -> Option<i32> {
    let mut s = step;
    for d in 0..=MAX_DECIMALS {
        if s.round() != 0.0 && ((s - s.round()) / s).abs() < 1e-9 {
            return Some(d);
        }
        s *= 10.0;
    }
    None
}

/// The most decimals [`decimals_of`] looks for.
const MAX_DECIMALS: i32 = 15;

/// `x` at `decimals` (see [`decimals_of`]), or as it is without them.
fn at_decimals(x: f64, decimals: Option<i32>) -> f64 {
    match decimals {
        Some(d) => {
            let scale = 10f64.powi(d);
            (x * scale).round() / scale
        }
        None => x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn steps_and_ticks_finer_than_a_billionth_keep_their_decimals() {
        // Steps finer than an absolute tolerance are not taken for whole numbers: 2.7 stays.
        assert_eq!(round_down_to_step(2.7, 1e-9), 2.7);
        assert_eq!(round_down_to_step(0.3, 1e-10), 0.3);
        assert_eq!(round_price_to_tick(0.00001234, 1e-9, false), 0.00001234);
        assert_eq!(round_down_to_step(0.30000000000000004, 0.1), 0.3);
        assert_eq!(round_down_to_step(7.0, 2.5), 5.0);
        let tiny = round_down_to_step(3e-19, 1e-20); // more decimals than looked for: as computed
        assert!((tiny - 3e-19).abs() < 1e-30, "{tiny}");
        // On the grid stays on the grid, however many steps (the quotient's own error must not
        // take one step off: 2.3 at 1e-8 is not 2.29999999).
        for (x, step) in [
            (2.3, 1e-8),
            (1.0, 1e-9),
            (0.5, 1e-9),
            (0.32899658, 1e-8),
            (39.9, 1e-9),
        ] {
            assert_eq!(round_down_to_step(x, step), x, "{x} at {step}");
            assert_eq!(round_price_to_tick(x, step, false), x, "{x} at {step}");
            assert_eq!(round_price_to_tick(x, step, true), x, "{x} at {step}");
        }
        assert_eq!(round_down_to_step(2.300000014, 1e-8), 2.30000001);
        assert_eq!(round_price_to_tick(2.300000014, 1e-8, true), 2.30000002);
        assert_eq!(round_price_to_tick(100.0, 1000.0, false), 0.0);
        assert_eq!(round_price_to_tick(100.0, 1000.0, true), 1000.0);
    }

    #[test]
    fn calibration_status_thresholds() {
        let mut m = FeeModel::default();
        let c = m.calibrate(100.0, 1.0, 0.05, Liquidity::Taker).unwrap();
        assert!((c.expected_fee - 0.05).abs() < 1e-12);
        assert_eq!(c.calibration_status, CalibrationStatus::Ok);
        assert_eq!(c.calibration_samples, 1);
        let c = m.calibrate(100.0, 1.0, 0.0515, Liquidity::Taker).unwrap();
        assert_eq!(c.calibration_status, CalibrationStatus::Warn);
        let c = m.calibrate(100.0, 1.0, 0.06, Liquidity::Taker).unwrap();
        assert_eq!(c.calibration_status, CalibrationStatus::Error);
        assert!(c.calibration_ratio > 1.0 && c.calibration_ratio < 1.2);
        assert!(
            (m.predict(100.0, 1.0, Liquidity::Taker) - 0.05 * c.calibration_ratio).abs() < 1e-12
        );
    }

    #[rstest]
    #[case::hundredfold(5.0)]
    #[case::rebate_against_a_positive_rate(-0.02)]
    #[case::just_over_the_band(0.05 * CALIBRATION_BAND.1 * 1.001)]
    fn an_outlier_fee_is_reported_not_learned(#[case] charged: f64) {
        let mut m = FeeModel::default();
        m.calibrate(100.0, 1.0, 0.045, Liquidity::Taker).unwrap();
        let before = m.clone();
        let c = m.calibrate(100.0, 1.0, charged, Liquidity::Taker).unwrap();
        assert!(!c.learned);
        assert_eq!(c.calibration_status, CalibrationStatus::Error);
        assert_eq!(m, before, "an outlier moves nothing");
        assert!((m.predict(100.0, 1.0, Liquidity::Taker) - 0.045).abs() < 1e-12);
        let c = m.calibrate(100.0, 1.0, 0.0, Liquidity::Taker).unwrap();
        assert!(c.learned, "a fee-free promotion is a real rate");
    }

    #[test]
    fn calibration_refuses_bad_numbers() {
        let mut m = FeeModel::default();
        assert!(m.calibrate(f64::NAN, 1.0, 0.1, Liquidity::Taker).is_err());
        assert!(m.calibrate(100.0, -1.0, 0.1, Liquidity::Taker).is_err());
        assert!(m
            .calibrate(100.0, 1.0, f64::INFINITY, Liquidity::Taker)
            .is_err());
        assert_eq!(m.calibration_samples, 0);
    }

    #[test]
    fn config_updates_are_all_or_nothing() {
        let c = ExchangeConfig::default();
        let err = c
            .with_updates(&[("taker_rate".into(), 0.001), ("maker_rate".into(), -1.0)])
            .unwrap_err();
        assert!(err.to_string().contains("maker_rate"));
        assert!(c.with_updates(&[("bogus".into(), 1.0)]).is_err());
        let n = c.with_updates(&[("lot_step".into(), 0.001)]).unwrap();
        assert_eq!(n.lot_step, 0.001);
    }

    #[test]
    fn a_maker_rebate_down_to_the_taker_rate_is_taken() {
        let c = ExchangeConfig::default(); // taker 0.0005
        for maker in [-0.0001, -0.00025, -0.0005, 0.0] {
            let n = c.with_updates(&[("maker_rate".into(), maker)]).unwrap();
            assert_eq!(n.maker_rate, maker);
        }
        // Both at once: the floor is judged on the config they make together.
        let n = c
            .with_updates(&[("maker_rate".into(), -0.001), ("taker_rate".into(), 0.001)])
            .unwrap();
        assert_eq!((n.maker_rate, n.taker_rate), (-0.001, 0.001));
    }

    #[rstest]
    #[case::rebate_above_the_taker_rate(&[("maker_rate", -0.0006)], "invalid maker_rate: -0.0006 (taker_rate 0.0005)")]
    #[case::rebate_with_a_free_taker(&[("maker_rate", -0.0001), ("taker_rate", 0.0)], "invalid maker_rate: -0.0001 (taker_rate 0)")]
    #[case::taker_below_the_rebate(&[("taker_rate", 0.00005)], "invalid taker_rate: 5e-5 (maker_rate -0.0001)")]
    #[case::negative_taker(&[("taker_rate", -0.0001)], "invalid taker_rate: -0.0001 (must not be negative)")]
    #[case::nan_maker(&[("maker_rate", f64::NAN)], "invalid maker_rate: NaN")]
    #[case::infinite_rebate(&[("maker_rate", f64::NEG_INFINITY)], "invalid maker_rate: -inf")]
    #[case::huge_rebate(&[("maker_rate", -1e300)], "invalid maker_rate: -1e300")]
    fn a_rebate_past_its_floor_is_refused_naming_the_field(
        #[case] updates: &[(&str, f64)],
        #[case] message: &str,
    ) {
        // Starts from a rebate of 1 bp, so a lower taker rate can cross it.
        let c = ExchangeConfig::default()
            .with_updates(&[("maker_rate".into(), -0.0001)])
            .unwrap();
        let updates: Vec<(String, f64)> =
            updates.iter().map(|(f, v)| (f.to_string(), *v)).collect();
        let err = c.with_updates(&updates).unwrap_err().to_string();
        assert!(err.starts_with(message), "{err}");
    }

    /// A model at a maker rebate of 1 bp (taker 5 bp).
    fn rebate_model() -> FeeModel {
        let mut m = FeeModel::default();
        m.config = m
            .config
            .with_updates(&[("maker_rate".into(), -0.0001)])
            .unwrap();
        m
    }

    #[test]
    fn an_average_at_the_top_of_the_band_stays_in_it() {
        // 0.2 * 3 + 0.8 * 3 rounds to 3.0000000000000004: held to the band.
        let twice_at_three = || {
            let mut m = FeeModel::default();
            // A rate a binary fraction holds exactly: expected 6.25, charged 18.75, ratio 3.
            m.config = m
                .config
                .with_updates(&[("taker_rate".into(), 0.0625)])
                .unwrap();
            for _ in 0..2 {
                m.calibrate(100.0, 1.0, 18.75, Liquidity::Taker).unwrap();
            }
            m
        };
        let m = twice_at_three();
        assert_eq!((m.taker.ratio, m.calibration_ratio), (3.0, 3.0));
    }

    #[test]
    fn each_liquidity_learns_from_its_own_fills_and_predicts_by_its_own_ratio() {
        // Taker 5 bp, maker 2 bp. The venue charges takers 20 % over the rate: the taker's
        // ratio learns it...
        let mut m = FeeModel::default();
        for _ in 0..3 {
            let c = m.calibrate(100.0, 1.0, 0.06, Liquidity::Taker).unwrap();
            assert!(c.learned && c.liquidity == Liquidity::Taker);
        }
        assert!((m.taker.ratio - 1.2).abs() < 1e-12, "{:?}", m.taker);
        assert_eq!((m.taker.samples, m.maker.samples), (3, 0));
        // ...and a maker fill is still predicted at its rate (one ratio read 1.2 for it).
        assert_eq!(m.maker, LiquidityCalibration::default());
        assert!((m.predict(100.0, 1.0, Liquidity::Maker) - 0.02).abs() < 1e-12);
        assert!((m.predict(100.0, 1.0, Liquidity::Taker) - 0.06).abs() < 1e-12);
        // The maker's first sample is its ratio (not blended into the taker's 1.2); the
        // taker's stays where it was.
        let c = m.calibrate(100.0, 1.0, 0.018, Liquidity::Maker).unwrap();
        assert!(c.learned);
        assert!((c.calibration_ratio - 0.9).abs() < 1e-12, "{c:?}");
        assert_eq!(c.calibration_samples, 1);
        assert!((m.maker.ratio - 0.9).abs() < 1e-12);
        assert!((m.taker.ratio - 1.2).abs() < 1e-12);
        assert!((m.predict(100.0, 1.0, Liquidity::Maker) - 0.018).abs() < 1e-12);
        assert!((m.predict(100.0, 1.0, Liquidity::Taker) - 0.06).abs() < 1e-12);
        // The model's own figures: the newest learned sample's ratio, every sample counted.
        assert!((m.calibration_ratio - 0.9).abs() < 1e-12);
        assert_eq!(m.calibration_samples, 4);
        // A second maker sample is blended into the maker's ratio alone.
        let c = m.calibrate(100.0, 1.0, 0.02, Liquidity::Maker).unwrap();
        assert!((c.calibration_ratio - (0.2 * 1.0 + 0.8 * 0.9)).abs() < 1e-12);
        assert_eq!((m.maker.samples, m.taker.samples), (2, 3));
        assert!((m.taker.ratio - 1.2).abs() < 1e-12);
        // An outlier of one side moves neither.
        let before = m.clone();
        let c = m.calibrate(100.0, 1.0, 5.0, Liquidity::Maker).unwrap();
        assert!(!c.learned && c.calibration_samples == 2);
        assert_eq!(m, before);
    }

    #[test]
    fn a_rebate_is_predicted_negative_and_learned_by_the_makers_ratio_within_the_band() {
        let mut m = rebate_model();
        m.calibrate(100.0, 1.0, 0.045, Liquidity::Taker).unwrap();
        assert!((m.taker.ratio - 0.9).abs() < 1e-12);
        // The taker's ratio does not scale the rebate.
        assert!((m.predict(100.0, 1.0, Liquidity::Maker) - -0.01).abs() < 1e-12);
        // Paid 0.008 where 0.01 was expected: a ratio of 0.8, learned by the maker's side.
        let c = m.calibrate(100.0, 1.0, -0.008, Liquidity::Maker).unwrap();
        assert!((c.expected_fee - -0.01).abs() < 1e-12);
        assert!((c.ratio - 0.8).abs() < 1e-12);
        assert_eq!(c.calibration_status, CalibrationStatus::Error);
        assert!(c.learned);
        assert!((m.maker.ratio - 0.8).abs() < 1e-12);
        assert!((m.taker.ratio - 0.9).abs() < 1e-12, "the taker's moved");
        assert!((m.predict(100.0, 1.0, Liquidity::Maker) - -0.008).abs() < 1e-12);
        // A charge where a rebate was expected (a ratio below 0), or a rebate over three
        // times the one expected: reported, not learned.
        let before = m.clone();
        for paid in [0.02, -0.0301] {
            let c = m.calibrate(100.0, 1.0, paid, Liquidity::Maker).unwrap();
            assert!(!c.learned && c.calibration_status == CalibrationStatus::Error);
        }
        assert_eq!(m, before);
        // No rebate paid at all is a ratio of 0, in the band as a free promotion is.
        assert!(
            m.calibrate(100.0, 1.0, 0.0, Liquidity::Maker)
                .unwrap()
                .learned
        );
        // A free maker rate still compares nothing.
        m.config.maker_rate = 0.0;
        let before = m.clone();
        let err = m
            .calibrate(100.0, 1.0, 0.0, Liquidity::Maker)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected_fee"), "{err}");
        assert_eq!(m, before);
    }

    #[test]
    fn a_calibration_restores_from_its_checkpoint_part() {
        let mut m = FeeModel::default();
        m.calibrate(100.0, 1.0, 0.06, Liquidity::Taker).unwrap();
        m.calibrate(100.0, 1.0, 0.018, Liquidity::Maker).unwrap();
        let mut back = FeeModel {
            calibration_ratio: m.calibration_ratio,
            calibration_samples: m.calibration_samples,
            config: m.config.clone(),
            ..FeeModel::default()
        };
        back.restore_calibration_by_liquidity(m.calibration_by_liquidity());
        assert_eq!(back, m);
    }

    #[rstest]
    #[case(0.3, 0.1, 0.3)]
    #[case(0.1 + 0.2, 0.1, 0.3)]
    #[case(0.29999, 0.1, 0.2)]
    #[case(1.23456, 0.001, 1.234)]
    #[case(5.0, 0.0, 5.0)]
    #[case(0.0009, 0.001, 0.0)]
    fn lot_rounding(#[case] qty: f64, #[case] step: f64, #[case] want: f64) {
        assert_eq!(round_down_to_step(qty, step), want);
    }

    #[rstest]
    #[case(100.07, 0.05, false, 100.05)]
    #[case(100.07, 0.05, true, 100.1)]
    #[case(100.05, 0.05, true, 100.05)]
    #[case(0.1 + 0.2, 0.1, false, 0.3)]
    fn tick_rounding(#[case] price: f64, #[case] tick: f64, #[case] up: bool, #[case] want: f64) {
        assert_eq!(round_price_to_tick(price, tick, up), want);
    }
}
