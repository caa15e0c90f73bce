//! The risk limits a kernel checks orders against, and the venue's precision limits per
//! asset: what each takes, checked field by field before anything changes.

use crate::error::{check_number, format_number, KernelError, KernelResult, MAX_MAGNITUDE};
use serde::{Deserialize, Serialize};

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

/// The limits a number turns on (`None` turns each off).
const NUMERIC_LIMITS: [&str; 4] = [
    "max_leverage",
    "max_notional_per_asset",
    "max_notional_total",
    "max_order_rate",
];

impl RiskLimits {
    /// A copy with `updates` applied; all values are checked before anything changes.
    pub fn with_updates(&self, updates: &[(String, ConfigValue)]) -> KernelResult<RiskLimits> {
        let mut next = self.clone();
        for (field, value) in updates {
            next.update(field, value)?;
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

    /// Sets `field` to `value`, checked: a limit to a number it takes ([`check_limit`]) or
    /// off, the edge threshold to a number or off, the regime to one it names, the provenance
    /// rule to a flag.
    fn update(&mut self, field: &str, value: &ConfigValue) -> KernelResult<()> {
        let f = field;
        match (f, value) {
            (f, ConfigValue::Off) if NUMERIC_LIMITS.contains(&f) => *self.limit_mut(f) = None,
            (f, ConfigValue::Num(v)) if NUMERIC_LIMITS.contains(&f) => {
                *self.limit_mut(f) = Some(check_limit(f, *v)?);
            }
            ("edge_freeze_threshold_bps", ConfigValue::Off) => {
                self.edge_freeze_threshold_bps = None
            }
            ("edge_freeze_threshold_bps", ConfigValue::Num(v)) => {
                check_number(f, *v, -MAX_MAGNITUDE)?;
                self.edge_freeze_threshold_bps = Some(*v);
            }
            ("regime", ConfigValue::Text(s)) => {
                self.regime = Regime::parse(s).ok_or_else(|| {
                    KernelError::invalid("regime", s, "must be NEUTRAL, BULL or BEAR")
                })?;
            }
            ("regime", ConfigValue::Off) => self.regime = Regime::Neutral,
            ("require_source_run_in_live", ConfigValue::Flag(b)) => {
                self.require_source_run_in_live = *b
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
            (f, v) if NUMERIC_LIMITS.contains(&f) || f == "edge_freeze_threshold_bps" => {
                return Err(KernelError::invalid(
                    f,
                    v.as_written(),
                    "must be a number or None",
                ))
            }
            _ => {
                return Err(KernelError::UnknownField {
                    field: field.to_owned(),
                    context: "risk limits",
                    known: &RISK_LIMITS_FIELDS,
                })
            }
        }
        Ok(())
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

/// `v` as limit `field` takes it: a positive number within bounds, a leverage cap at least
/// [`MIN_LEVERAGE`], an order rate of at least 1 and at most [`MAX_ORDER_RATE`] a second.
fn check_limit(field: &str, v: f64) -> KernelResult<f64> {
    check_number(field, v, 0.0)?;
    if v <= 0.0 {
        return Err(KernelError::invalid(
            field,
            format_number(v),
            "must be positive (use None to turn the rule off)",
        ));
    }
    if field == "max_leverage" && v < MIN_LEVERAGE {
        return Err(KernelError::invalid(
            field,
            format!("{v:e}"),
            "must be at least 1e-15 (use None to turn the rule off)",
        ));
    }
    if field == "max_order_rate" && v < 1.0 {
        // Counted in a one-second window, a rate below 1 refuses every order.
        return Err(KernelError::invalid(
            field,
            format_number(v),
            "must be at least 1: orders are counted in a one-second window, \
             where a rate below 1 refuses every order",
        ));
    }
    if field == "max_order_rate" && v > MAX_ORDER_RATE {
        return Err(KernelError::invalid(
            field,
            format_number(v),
            "must be at most 100000 a second, the most the window counts \
             (use None to turn the rule off)",
        ));
    }
    Ok(v)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::RateWindow;

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
}
