//! Pre-trade guard configuration: risk limits per kernel and precision limits per asset.

use crate::error::{check_number, format_number, KernelError, KernelResult, MAX_MAGNITUDE};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The smallest leverage taken (an intent's, `max_leverage`, a loaded slot's): the reciprocal
/// of [`MAX_MAGNITUDE`], so a notional within bounds over it (its margin) stays finite.
pub const MIN_LEVERAGE: f64 = 1e-15;

/// The market's direction as the strategy's operator sees it. An aggressive (market) entry
/// against it needs `metadata["override"]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Regime {
    Neutral,
    Bull,
    Bear,
}

impl Regime {
    pub fn parse(s: &str) -> Option<Regime> {
        match s.to_ascii_uppercase().as_str() {
            "NEUTRAL" | "" => Some(Regime::Neutral),
            "BULL" => Some(Regime::Bull),
            "BEAR" => Some(Regime::Bear),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Regime::Neutral => "NEUTRAL",
            Regime::Bull => "BULL",
            Regime::Bear => "BEAR",
        }
    }
}

/// The highest `max_order_rate` taken: the stamps the rate window holds, which keep its memory
/// bounded. A rate above it would never bind: the count stops there.
pub const MAX_ORDER_RATE: f64 = 100_000.0;

/// Risk rules; `None` turns a rule off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskLimits {
    pub max_leverage: Option<f64>,
    pub max_notional_per_asset: Option<f64>,
    pub max_notional_total: Option<f64>,
    /// Orders (entries and exits) per second, counted on intent timestamps in a sliding
    /// one-second window: at least 1 (a fraction above it rounds down: 2.5 admits 2).
    pub max_order_rate: Option<f64>,
    pub regime: Regime,
    /// Below this measured edge (basis points) the kernel freezes and cancels working orders.
    pub edge_freeze_threshold_bps: Option<f64>,
    /// In LIVE mode every ENTER and EXIT must name its source run in metadata["source_run"].
    pub require_source_run_in_live: bool,
}

/// The fields `RiskLimits::with_updates` takes, named by an unknown-field error.
pub const RISK_LIMITS_FIELDS: [&str; 7] = [
    "max_leverage",
    "max_notional_per_asset",
    "max_notional_total",
    "max_order_rate",
    "regime",
    "edge_freeze_threshold_bps",
    "require_source_run_in_live",
];

impl Default for RiskLimits {
    fn default() -> Self {
        RiskLimits {
            max_leverage: None,
            max_notional_per_asset: None,
            max_notional_total: None,
            max_order_rate: None,
            regime: Regime::Neutral,
            edge_freeze_threshold_bps: None,
            require_source_run_in_live: true,
        }
    }
}

/// A configuration value as it arrives from Python (already type-checked there).
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigValue {
    Num(f64),
    Text(String),
    Flag(bool),
    Off,
}

impl ConfigValue {
    /// The value as the caller wrote it, for an error message.
    fn as_written(&self) -> String {
        match self {
            ConfigValue::Num(x) => format_number(*x),
            ConfigValue::Text(s) => format!("{s:?}"),
            ConfigValue::Flag(b) => if *b { "True" } else { "False" }.to_string(),
            ConfigValue::Off => "None".to_string(),
        }
    }
}

impl RiskLimits {
    /// A copy with `updates` applied; all values are checked before anything changes.
    pub fn with_updates(&self, updates: &[(String, ConfigValue)]) -> KernelResult<RiskLimits> {
        let mut next = self.clone();
        for (field, value) in updates {
            let f = field.as_str();
            match (f, value) {
                (
                    "max_leverage"
                    | "max_notional_per_asset"
                    | "max_notional_total"
                    | "max_order_rate",
                    ConfigValue::Off,
                ) => *next.limit_mut(f) = None,
                (
                    "max_leverage"
                    | "max_notional_per_asset"
                    | "max_notional_total"
                    | "max_order_rate",
                    ConfigValue::Num(v),
                ) => {
                    check_number(f, *v, 0.0)?;
                    if *v <= 0.0 {
                        return Err(KernelError::invalid(
                            f,
                            format_number(*v),
                            "must be positive (use None to turn the rule off)",
                        ));
                    }
                    if f == "max_leverage" && *v < MIN_LEVERAGE {
                        return Err(KernelError::invalid(
                            f,
                            format!("{v:e}"),
                            "must be at least 1e-15 (use None to turn the rule off)",
                        ));
                    }
                    if f == "max_order_rate" && *v < 1.0 {
                        // Counted in a one-second window, a rate below 1 refuses every order.
                        return Err(KernelError::invalid(
                            f,
                            format_number(*v),
                            "must be at least 1: orders are counted in a one-second window, \
                             where a rate below 1 refuses every order",
                        ));
                    }
                    if f == "max_order_rate" && *v > MAX_ORDER_RATE {
                        return Err(KernelError::invalid(
                            f,
                            format_number(*v),
                            "must be at most 100000 a second, the most the window counts \
                             (use None to turn the rule off)",
                        ));
                    }
                    *next.limit_mut(f) = Some(*v);
                }
                ("edge_freeze_threshold_bps", ConfigValue::Off) => {
                    next.edge_freeze_threshold_bps = None
                }
                ("edge_freeze_threshold_bps", ConfigValue::Num(v)) => {
                    check_number(f, *v, -MAX_MAGNITUDE)?;
                    next.edge_freeze_threshold_bps = Some(*v);
                }
                ("regime", ConfigValue::Text(s)) => {
                    next.regime = Regime::parse(s).ok_or_else(|| {
                        KernelError::invalid("regime", s, "must be NEUTRAL, BULL or BEAR")
                    })?;
                }
                ("regime", ConfigValue::Off) => next.regime = Regime::Neutral,
                ("require_source_run_in_live", ConfigValue::Flag(b)) => {
                    next.require_source_run_in_live = *b
                }
                ("regime", v) => {
                    return Err(KernelError::invalid(
                        f,
                        v.as_written(),
                        "must be NEUTRAL, BULL, BEAR or None",
                    ))
                }
                ("require_source_run_in_live", v) => {
                    return Err(KernelError::invalid(
                        f,
                        v.as_written(),
                        "must be True or False",
                    ))
                }
                (
                    "max_leverage"
                    | "max_notional_per_asset"
                    | "max_notional_total"
                    | "max_order_rate"
                    | "edge_freeze_threshold_bps",
                    v,
                ) => {
                    return Err(KernelError::invalid(
                        f,
                        v.as_written(),
                        "must be a number or None",
                    ))
                }
                _ => {
                    return Err(KernelError::UnknownField {
                        field: field.clone(),
                        context: "risk limits",
                        known: &RISK_LIMITS_FIELDS,
                    })
                }
            }
        }
        if let (Some(per_asset), Some(total)) =
            (next.max_notional_per_asset, next.max_notional_total)
        {
            if per_asset > total {
                return Err(KernelError::invalid(
                    "max_notional_per_asset",
                    format!(
                        "{} (max_notional_total {})",
                        format_number(per_asset),
                        format_number(total)
                    ),
                    "must not be above the total cap, where it can never bind",
                ));
            }
        }
        Ok(next)
    }

    fn limit_mut(&mut self, field: &str) -> &mut Option<f64> {
        match field {
            "max_leverage" => &mut self.max_leverage,
            "max_notional_per_asset" => &mut self.max_notional_per_asset,
            "max_notional_total" => &mut self.max_notional_total,
            _ => &mut self.max_order_rate,
        }
    }
}

/// A venue's precision and size floors for one asset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MarketLimits {
    pub lot_step: f64,
    pub tick_size: f64,
    pub min_qty: f64,
    pub min_notional: f64,
}

/// The fields `MarketLimits::from_fields` takes, named by an unknown-field error.
pub const MARKET_LIMITS_FIELDS: [&str; 4] = ["lot_step", "tick_size", "min_qty", "min_notional"];

impl MarketLimits {
    pub fn from_fields(fields: &[(String, f64)]) -> KernelResult<MarketLimits> {
        let mut m = MarketLimits::default();
        for (field, value) in fields {
            let slot = match field.as_str() {
                "lot_step" => &mut m.lot_step,
                "tick_size" => &mut m.tick_size,
                "min_qty" => &mut m.min_qty,
                "min_notional" => &mut m.min_notional,
                _ => {
                    return Err(KernelError::UnknownField {
                        field: field.clone(),
                        context: "market limits",
                        known: &MARKET_LIMITS_FIELDS,
                    })
                }
            };
            *slot = if matches!(field.as_str(), "lot_step" | "tick_size") {
                crate::fees::check_step(field, *value)?
            } else {
                check_number(field, *value, 0.0)?
            };
        }
        Ok(m)
    }
}

/// Submit timestamps within the last second, for the order-rate rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RateWindow {
    stamps: VecDeque<f64>,
    /// Whether the stamps are known to be in order (none later than the next): `count` then
    /// drops the old ones off the front rather than walk them all. Not in a checkpoint:
    /// false once loaded, until a count looks.
    #[serde(skip)]
    ordered: bool,
}

/// The window's stamps, whatever it knows of their order.
impl PartialEq for RateWindow {
    fn eq(&self, other: &Self) -> bool {
        self.stamps == other.stamps
    }
}

impl RateWindow {
    /// How many submits happened within a second of `now`, before or after it. No stamp is
    /// rewritten: one far ahead (another process's clock) counts only once `now` is within
    /// a second of it. The stamps a second or more before both `now` and the latest stamp
    /// less than a second after it leave, so a count taken ahead of the orders keeps the
    /// latest order's second.
    pub fn count(&mut self, now: f64) -> usize {
        if self.ordered && self.stamps.back().is_none_or(|&t| t - now < 1.0) {
            // In order, none a second or more ahead: the old ones are in front.
            let newest = self.stamps.back().map_or(now, |&t| t.min(now));
            self.drop_old(newest);
            // Those kept for the newest's second but a second before `now` are in front.
            let behind = match self.stamps.front() {
                Some(&t) if now - t >= 1.0 => self.stamps.partition_point(|&t| now - t >= 1.0),
                _ => 0,
            };
            return self.stamps.len() - behind;
        }
        let newest = self
            .stamps
            .iter()
            .filter(|&&t| t - now < 1.0)
            .fold(f64::NEG_INFINITY, |m, &t| m.max(t));
        let keep_from = now.min(newest);
        self.stamps.retain(|&t| keep_from - t < 1.0);
        self.ordered = self.in_order();
        self.stamps
            .iter()
            .filter(|&&t| now - t < 1.0 && t - now < 1.0)
            .count()
    }

    /// Whether no stamp is later than the next.
    fn in_order(&self) -> bool {
        let (a, b) = self.stamps.as_slices();
        a.is_sorted() && b.is_sorted() && a.last().zip(b.first()).is_none_or(|(x, y)| x <= y)
    }

    /// Drops the stamps in front a second or more before `now`.
    fn drop_old(&mut self, now: f64) {
        while let Some(&t) = self.stamps.front() {
            if now - t >= 1.0 {
                self.stamps.pop_front();
            } else {
                break;
            }
        }
    }

    pub fn record(&mut self, now: f64) {
        if self.stamps.back().is_some_and(|&t| t > now) {
            self.ordered = false;
        }
        self.stamps.push_back(now);
        // The window never needs more than the highest rate taken; keep memory bounded.
        if self.stamps.len() > MAX_ORDER_RATE as usize {
            if self.ordered {
                self.stamps.pop_front();
            } else {
                self.drop_farthest(now);
            }
        }
    }

    /// For a window full out of order: drops the stamp farthest from `now`, one a second or
    /// more away if any, rather than the first recorded. A stamp far ahead kept while the first
    /// recorded, within the second, left would hold the count at `now` below the most the
    /// window holds, and a rate of 100,000 would never bind.
    fn drop_farthest(&mut self, now: f64) {
        let away = |t: f64| (now - t).abs();
        let far = (0..self.stamps.len())
            .max_by(|&i, &j| away(self.stamps[i]).total_cmp(&away(self.stamps[j])));
        let far = far.filter(|&i| away(self.stamps[i]) >= 1.0).unwrap_or(0);
        self.stamps.remove(far);
        self.ordered = self.in_order();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_updates_validate_before_applying() {
        let r = RiskLimits::default();
        let err = r
            .with_updates(&[
                ("max_leverage".into(), ConfigValue::Num(5.0)),
                ("max_order_rate".into(), ConfigValue::Num(-1.0)),
            ])
            .unwrap_err();
        assert!(err.to_string().contains("max_order_rate"), "{err}");
        assert!(r
            .with_updates(&[("regime".into(), ConfigValue::Text("SIDEWAYS".into()))])
            .is_err());
        assert!(r
            .with_updates(&[("nope".into(), ConfigValue::Off)])
            .is_err());
        let n = r
            .with_updates(&[("regime".into(), ConfigValue::Text("bear".into()))])
            .unwrap();
        assert_eq!(n.regime, Regime::Bear);
    }

    #[test]
    fn an_order_rate_below_one_is_refused_naming_it() {
        // Orders are counted in a one-second window: at 0.5 a second the first order already
        // makes the count 1 > 0.5, so every order would be refused, forever.
        let r = RiskLimits::default();
        for v in [0.5, 0.999] {
            let err = r
                .with_updates(&[("max_order_rate".into(), ConfigValue::Num(v))])
                .unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains(&format!("max_order_rate: {v}")), "{shown}");
            assert!(shown.contains("at least 1"), "{shown}");
        }
        let n = r
            .with_updates(&[("max_order_rate".into(), ConfigValue::Num(1.0))])
            .unwrap();
        assert_eq!(n.max_order_rate, Some(1.0));
    }

    #[test]
    fn an_order_rate_above_what_the_window_counts_is_refused_naming_it() {
        // The window holds 100,000 stamps: at a rate of 100,001 the count never reaches it, and
        // every order would pass.
        let mut w = RateWindow::default();
        for _ in 0..100_002 {
            w.record(5.0);
        }
        assert_eq!(w.count(5.0) as f64, MAX_ORDER_RATE);
        let r = RiskLimits::default();
        for v in [100_001.0, 1e15] {
            let err = r
                .with_updates(&[("max_order_rate".into(), ConfigValue::Num(v))])
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("invalid max_order_rate: {v}")),
                "{err}"
            );
            assert!(err.contains("at most 100000"), "{err}");
        }
        let n = r
            .with_updates(&[("max_order_rate".into(), ConfigValue::Num(MAX_ORDER_RATE))])
            .unwrap();
        assert_eq!(n.max_order_rate, Some(MAX_ORDER_RATE));
    }

    #[test]
    fn a_max_leverage_below_the_smallest_leverage_is_refused_naming_it() {
        // A cap of 1e-320 would refuse every entry, as a rate below 1 would.
        let r = RiskLimits::default();
        for v in [1e-320, 1e-300, 9.9e-16] {
            let err = r
                .with_updates(&[("max_leverage".into(), ConfigValue::Num(v))])
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("invalid max_leverage: {v:e}")),
                "{err}"
            );
            assert!(err.contains("at least 1e-15"), "{err}");
        }
        let n = r
            .with_updates(&[("max_leverage".into(), ConfigValue::Num(MIN_LEVERAGE))])
            .unwrap();
        assert_eq!(n.max_leverage, Some(MIN_LEVERAGE));
    }

    #[test]
    fn limits_the_python_model_refuses_are_refused_naming_them() {
        // A per-asset cap above the total cap can never bind (a typo in one of them), and an
        // edge threshold beyond 1e15 is out of bounds: both are refused.
        let r = RiskLimits::default()
            .with_updates(&[("max_notional_total".into(), ConfigValue::Num(100.0))])
            .unwrap();
        let err = r
            .with_updates(&[("max_notional_per_asset".into(), ConfigValue::Num(200.0))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_notional_per_asset: 200"), "{err}");
        assert!(err.contains("max_notional_total 100"), "{err}");
        let err = RiskLimits::default()
            .with_updates(&[
                ("max_notional_per_asset".into(), ConfigValue::Num(200.0)),
                ("max_notional_total".into(), ConfigValue::Num(100.0)),
            ])
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_notional_per_asset: 200"), "{err}");
        for v in [1e16, -1e16] {
            let err = r
                .with_updates(&[("edge_freeze_threshold_bps".into(), ConfigValue::Num(v))])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("edge_freeze_threshold_bps: {v:e}")),
                "{err}"
            );
        }
        // Equal caps, each cap alone, and a cap turned off are fine.
        let n = r
            .with_updates(&[
                ("max_notional_per_asset".into(), ConfigValue::Num(100.0)),
                ("edge_freeze_threshold_bps".into(), ConfigValue::Num(-1e15)),
            ])
            .unwrap();
        assert_eq!(n.max_notional_per_asset, Some(100.0));
        n.with_updates(&[
            ("max_notional_total".into(), ConfigValue::Off),
            ("max_notional_per_asset".into(), ConfigValue::Num(500.0)),
        ])
        .unwrap();
    }

    #[test]
    fn rate_window_slides() {
        let mut w = RateWindow::default();
        for i in 0..5 {
            w.record(10.0 + i as f64 * 0.1);
        }
        assert_eq!(w.count(10.45), 5);
        assert_eq!(w.count(11.25), 2);
        assert_eq!(w.count(20.0), 0);
    }

    #[test]
    fn a_stamp_ahead_of_the_clock_counts_once_the_clock_is_within_a_second_of_it() {
        let mut w = RateWindow::default();
        w.record(3_610.0); // stamped an hour ahead
        w.record(10.0);
        assert_eq!(w.count(10.5), 1);
        assert_eq!(w.count(3_609.2), 1);
        assert_eq!(w.count(3_610.9), 1);
        assert_eq!(w.count(3_611.0), 0);
    }

    #[test]
    fn a_count_behind_the_stamps_keeps_them_where_they_were() {
        // Stamps less than a second ahead of `now` stay (another process's clock).
        let run = || {
            let mut w = RateWindow::default();
            for _ in 0..5 {
                w.record(10.0);
            }
            (w.count(9.5), w.count(10.5))
        };
        assert_eq!(run(), (5, 5));
    }

    #[test]
    fn a_count_rewrites_no_stamp() {
        let mut w = RateWindow::default();
        for _ in 0..5 {
            w.record(10.0);
        }
        // Two seconds behind: none within a second of it, and none moved.
        assert_eq!(w.count(8.0), 0);
        assert_eq!(w.count(10.2), 5);
        // Half a second ahead of 9.5.
        assert_eq!(w.count(9.5), 5);
        // More than a second after them: none counted, and none dropped, the newest
        // order's second.
        assert_eq!(w.count(11.5), 0);
        w.record(11.5);
        assert_eq!(w.count(10.2), 5);
        assert_eq!(w.count(11.0), 1);
    }

    #[test]
    fn what_remains_a_clock_ahead_with_an_order_in_the_window_drops_the_others() {
        // The window cannot tell clocks apart (docs/kernel.md): the second intent of a clock
        // 1.5 s ahead drops the five at 10.0, and the clock behind gets the rate again.
        let mut w = RateWindow::default();
        for _ in 0..5 {
            w.record(10.0);
        }
        assert_eq!(w.count(11.5), 0);
        w.record(11.5);
        assert_eq!(w.count(10.2), 5);
        assert_eq!(w.count(11.6), 1);
        assert_eq!(w.count(10.2), 0);
    }

    #[test]
    fn unordered_stamps_count_within_a_second_either_way() {
        let mut w = RateWindow::default();
        for t in [10.0, 3_610.0, 10.5, 9.4, 10.9] {
            w.record(t);
        }
        assert_eq!(w.count(10.3), 4); // 10.0, 10.5, 9.4 and 10.9, not 3,610
        assert_eq!(w.count(9.95), 4); // 10.9 is 0.95 after
        assert_eq!(w.count(10.5), 3); // 9.4 is 1.1 before: dropped
        assert_eq!(w.count(10.3), 3);
        // More than a second after every order but 3,610: the latest order's second stays.
        assert_eq!(w.count(12.0), 0);
        w.record(12.0);
        // 10.0 is 0.95 before, 12.0 1.05 after.
        assert_eq!(w.count(10.95), 3);
        // Far ahead: what is a second before it and before 3,610 leaves.
        assert_eq!(w.count(3_609.5), 1);
        assert_eq!(w.count(10.95), 0);
        w.record(3_610.5);
        assert_eq!(w.count(3_611.2), 1);
        assert_eq!(w.stamps, [3_610.0, 3_610.5]);
        assert!(w.ordered);
    }

    #[test]
    fn a_full_window_drops_the_stamp_farthest_from_the_order() {
        // A stamp an hour ahead, recorded after the first order: dropping the first recorded
        // would hold 99,999 within the second, and a rate of 100,000 would never bind.
        let mut w = RateWindow::default();
        w.record(5.0);
        w.record(3_610.0);
        for _ in 1..MAX_ORDER_RATE as usize {
            w.record(5.0); // the last one past the most the window holds
        }
        assert_eq!(w.count(5.0) as f64, MAX_ORDER_RATE);
        assert_eq!(w.count(3_610.0), 0);
        // In order, the first recorded is the farthest.
        w.record(5.5);
        assert_eq!(w.count(5.5) as f64, MAX_ORDER_RATE);
        assert_eq!(w.stamps.back(), Some(&5.5));
    }

    /// The window's count by its definition: every stamp within a second of `now` either way,
    /// those a second or more before both `now` and the latest stamp less than a second after
    /// it dropped.
    fn model_count(stamps: &mut Vec<f64>, now: f64) -> usize {
        let newest = stamps
            .iter()
            .filter(|&&t| t - now < 1.0)
            .fold(f64::NEG_INFINITY, |m, &t| m.max(t));
        stamps.retain(|&t| now.min(newest) - t < 1.0);
        stamps
            .iter()
            .filter(|&&t| now - t < 1.0 && t - now < 1.0)
            .count()
    }

    #[test]
    fn the_window_counts_as_every_stamp_were_looked_at() {
        counts_as_every_stamp_were_looked_at(&mut model_count);
    }

    fn counts_as_every_stamp_were_looked_at(
        model_count: &mut dyn FnMut(&mut Vec<f64>, f64) -> usize,
    ) {
        // Times that mostly go on, at times an hour ahead for one intent, late, or stepped
        // back; some orders recorded with no count (no rate limit then); a checkpoint at times.
        let mut w = RateWindow::default();
        let mut model = Vec::new();
        let (mut now, mut seed) = (1_000.0_f64, 7_u64);
        for i in 0..20_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let r = (seed >> 33) % 100;
            let at = match r {
                0 => now + 3_600.0,
                4 => now + 1.5,     // another process's clock, ahead
                2 | 3 => now - 0.5, // a stamp late, counted (2) or not (3)
                1 => {
                    now -= 2.5;
                    now
                }
                _ => {
                    now += (r as f64) * 1e-3;
                    now
                }
            };
            if r % 7 != 3 {
                assert_eq!(
                    w.count(at),
                    model_count(&mut model, at),
                    "order {i} at {at}"
                );
            }
            w.record(at);
            model.push(at);
            if i % 1_000 == 999 {
                w = bincode::deserialize(&bincode::serialize(&w).unwrap()).unwrap();
            }
        }
    }
}
