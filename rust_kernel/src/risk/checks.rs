//! The pre-trade risk checks: one function per rule, on the limits, whose answer is a type:
//! `Ok` lets the order through, a [`RiskRefusal`] names the rule that refuses it and the
//! figures it was refused by. A check is handed what it needs (what is committed, the
//! trading mode, the order-rate window), so it sees nothing of the kernel's internals.

use super::{RateWindow, Regime, RiskLimits};
use crate::types::{
    ControlMode, KernelCommandType, MetaValue, Metadata, OrderSide, OrderType, TradeSide,
};

/// Why the risk checks refuse an order.
#[derive(Clone, Debug, PartialEq)]
pub enum RiskRefusal {
    /// The trading mode takes no such intent: HALTED takes no ENTER, nor does REDUCE_ONLY
    /// (only EXIT and CANCEL).
    TradingState {
        mode: ControlMode,
        action: KernelCommandType,
    },
    /// In REDUCE_ONLY, an exit of `qty` whose order would open or grow a position the other
    /// way at the venue: the asset's position netted there leaves its side no `room`.
    GrowsNettedPosition { qty: f64, room: f64 },
    /// In LIVE mode, where the limits require it, an ENTER or EXIT names no source run
    /// (`metadata["source_run"]`).
    Provenance,
    /// The edge freeze holds (an asset's edge is below the threshold): no new entries.
    EdgeFreeze { reason: String, asset: String },
    /// A limit the order would pass (`max_leverage`, `max_order_rate`): `value` is what the
    /// order makes it.
    Limit {
        rule: &'static str,
        limit: f64,
        value: f64,
    },
    /// `max_leverage` the account would pass with the entry: `value` is its leverage then,
    /// `notional` (what the notional caps count committed, the entry valued at `valued_at`,
    /// from `valued_by`) over `equity`; infinite at an equity of 0 or less.
    AccountLeverage {
        limit: f64,
        value: f64,
        notional: f64,
        equity: f64,
        valued_at: f64,
        valued_by: &'static str,
    },
    /// A notional cap the entry would pass (`max_notional_per_asset`, `max_notional_total`):
    /// `value` is what would be committed with it, the entry valued at `valued_at`, a price
    /// taken from `valued_by` (`mark_price`, `limit_price` or `reference_price`).
    Notional {
        rule: &'static str,
        limit: f64,
        value: f64,
        valued_at: f64,
        valued_by: &'static str,
    },
    /// A MARKET entry against the regime, without `metadata["override"]`.
    RegimeParity { regime: Regime, side: TradeSide },
    /// `metadata["override"]` of an entry against the regime is text that reads as a negative
    /// ([`reads_negative`]): its author meant no override, and the intent is refused as
    /// invalid rather than let through or refused as against the regime.
    OverrideReadsNegative(String),
}

/// An entry as the notional caps value it: its `notional` at `valued_at` ([`cap_price`]),
/// from its order's type and own `price` and the asset's latest `mark` (0: none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CapValue {
    pub notional: f64,
    pub valued_at: f64,
    pub order_type: OrderType,
    pub price: f64,
    pub mark: f64,
}

impl CapValue {
    /// Where the price the entry is valued at came from: the asset's mark when that is above
    /// the order's own price, else the order's limit or reference.
    pub fn valued_by(&self) -> &'static str {
        if self.mark > 0.0 && self.valued_at == self.mark && self.mark > self.price {
            "mark_price"
        } else if self.order_type == OrderType::Limit && self.valued_at == self.price {
            "limit_price"
        } else {
            "reference_price"
        }
    }
}

/// The price an order of `order_type` and `side` going out at `price` counts at towards the
/// notional caps, `reference` the market's and `mark` the asset's latest mark (0: none): its
/// own, but for a SELL LIMIT the higher of it and the reference, since a sell fills at its
/// limit or above, so one priced under the market fills near the market. A MARKET order or a
/// SELL LIMIT counts at the mark when that is higher, so a stale or understated reference
/// does not let through an entry the cap should stop. What an entry is judged at and what its
/// working part commits.
pub fn cap_price(
    order_type: OrderType,
    side: OrderSide,
    price: f64,
    reference: f64,
    mark: f64,
) -> f64 {
    match order_type {
        OrderType::Limit if side == OrderSide::Sell => price.max(reference).max(mark),
        OrderType::Limit => price,
        OrderType::Market => price.max(mark),
    }
}

/// The edge freeze's answer to an ENTER: refused while it holds (`frozen`), naming why
/// (`reason`) and the asset whose edge holds it.
#[inline(always)]
pub fn check_edge_freeze(frozen: bool, reason: &str, asset: &str) -> Result<(), RiskRefusal> {
    if frozen {
        return Err(edge_frozen(reason, asset));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn edge_frozen(reason: &str, asset: &str) -> RiskRefusal {
    RiskRefusal::EdgeFreeze {
        reason: reason.to_owned(),
        asset: asset.to_owned(),
    }
}

/// REDUCE_ONLY's answer to an exit of `qty` that the asset's position netted at the venue
/// covers only up to `room` (on the lot grid, 0 when none): the size it goes out at, the
/// room, so it only reduces that position; refused when there is no room.
pub fn reduce_only_exit_size(qty: f64, room: f64) -> Result<f64, RiskRefusal> {
    if room > 0.0 {
        Ok(room.min(qty))
    } else {
        Err(RiskRefusal::GrowsNettedPosition { qty, room })
    }
}

/// Whether an override's text reads as a negative ("false", "no", "0", "off", "none", "null",
/// in any case and with surrounding whitespace): its author meant no override ("None" is what
/// `str()` makes of a flag never set).
fn reads_negative(text: &str) -> bool {
    let t = text.trim();
    ["false", "no", "0", "off", "none", "null"]
        .iter()
        .any(|n| t.eq_ignore_ascii_case(n))
}

impl RiskLimits {
    /// The trading mode's answer to `action` in `mode`: HALTED and REDUCE_ONLY refuse an
    /// ENTER; in LIVE mode, when the limits require it, an ENTER or EXIT names its source run
    /// in `metadata`. Looked at in full only in a mode that may refuse.
    #[inline(always)]
    pub fn check_trading_mode(
        &self,
        mode: ControlMode,
        action: KernelCommandType,
        metadata: &Metadata,
    ) -> Result<(), RiskRefusal> {
        let may_refuse = match mode {
            ControlMode::Halted | ControlMode::ReduceOnly => true,
            ControlMode::Live => self.require_source_run_in_live,
            ControlMode::Paper | ControlMode::Shadow => false,
        };
        if may_refuse {
            self.trading_mode_refusal(mode, action, metadata)
        } else {
            Ok(())
        }
    }

    #[cold]
    #[inline(never)]
    fn trading_mode_refusal(
        &self,
        mode: ControlMode,
        action: KernelCommandType,
        metadata: &Metadata,
    ) -> Result<(), RiskRefusal> {
        let blocked = matches!(
            (action, mode),
            (
                KernelCommandType::Enter,
                ControlMode::Halted | ControlMode::ReduceOnly
            )
        );
        if blocked {
            return Err(RiskRefusal::TradingState { mode, action });
        }
        // Text of only whitespace names no run, as for an override.
        let source_run =
            matches!(metadata.get("source_run"), Some(MetaValue::Str(s)) if !s.trim().is_empty());
        if mode == ControlMode::Live
            && self.require_source_run_in_live
            && action != KernelCommandType::Cancel
            && !source_run
        {
            return Err(RiskRefusal::Provenance);
        }
        Ok(())
    }

    /// `max_leverage`'s answer to `entry`, at the `leverage` its intent declares, and to the
    /// account it leaves: `account()` gives what the notional caps count committed already and
    /// the equity, asked only while the limit is set.
    #[inline(always)]
    pub fn check_leverage(
        &self,
        leverage: f64,
        entry: &CapValue,
        account: impl FnOnce() -> (f64, f64),
    ) -> Result<(), RiskRefusal> {
        let Some(max) = self.max_leverage else {
            return Ok(());
        };
        if leverage > max {
            return Err(RiskRefusal::Limit {
                rule: "max_leverage",
                limit: max,
                value: leverage,
            });
        }
        let (committed, equity) = account();
        check_account_leverage(max, committed + entry.notional, equity, entry)
    }

    /// `max_notional_per_asset`'s answer to `entry`: `committed` is what the asset's slots and
    /// its entries in doubt commit already, asked only while the cap is set.
    #[inline(always)]
    pub fn check_asset_notional(
        &self,
        entry: &CapValue,
        committed: impl FnOnce() -> f64,
    ) -> Result<(), RiskRefusal> {
        match self.max_notional_per_asset {
            Some(max) => check_cap("max_notional_per_asset", max, committed(), entry),
            None => Ok(()),
        }
    }

    /// `max_notional_total`'s answer to `entry`: `committed` is what every slot and entry in
    /// doubt commits already, asked only while the cap is set.
    #[inline(always)]
    pub fn check_total_notional(
        &self,
        entry: &CapValue,
        committed: impl FnOnce() -> f64,
    ) -> Result<(), RiskRefusal> {
        match self.max_notional_total {
            Some(max) => check_cap("max_notional_total", max, committed(), entry),
            None => Ok(()),
        }
    }

    /// The regime's answer to an entry on `side`: a MARKET entry against it (a short in a
    /// BULL regime, a long in a BEAR one) needs `metadata["override"]` (True, 1, or text that
    /// says something and does not read as a negative).
    #[inline(always)]
    pub fn check_regime_parity(
        &self,
        order_type: OrderType,
        side: TradeSide,
        metadata: &Metadata,
    ) -> Result<(), RiskRefusal> {
        if order_type != OrderType::Market {
            return Ok(());
        }
        let against = match self.regime {
            Regime::Neutral => false,
            Regime::Bull => side == TradeSide::Short,
            Regime::Bear => side == TradeSide::Long,
        };
        if against {
            self.check_override(side, metadata)
        } else {
            Ok(())
        }
    }

    /// An entry on `side` against the regime: let through by an override in `metadata`.
    #[inline(never)]
    fn check_override(&self, side: TradeSide, metadata: &Metadata) -> Result<(), RiskRefusal> {
        let overridden = match metadata.get("override") {
            Some(MetaValue::Bool(true)) | Some(MetaValue::Int(1)) => true,
            // Text reading as a negative is its author saying no override.
            Some(MetaValue::Str(s)) if reads_negative(s) => {
                return Err(RiskRefusal::OverrideReadsNegative(s.clone()));
            }
            // Text of only whitespace says nothing, as the empty text.
            Some(MetaValue::Str(s)) => !s.trim().is_empty(),
            _ => false,
        };
        if overridden {
            return Ok(());
        }
        Err(RiskRefusal::RegimeParity {
            regime: self.regime,
            side,
        })
    }

    /// `max_order_rate`'s answer to an order at `now`: the orders `window` counts within a
    /// second of it, this one too, at most the rate.
    #[inline(always)]
    pub fn check_order_rate(&self, window: &mut RateWindow, now: f64) -> Result<(), RiskRefusal> {
        if let Some(max_rate) = self.max_order_rate {
            let n = window.count(now) as f64;
            if n + 1.0 > max_rate {
                return Err(RiskRefusal::Limit {
                    rule: "max_order_rate",
                    limit: max_rate,
                    value: n + 1.0,
                });
            }
        }
        Ok(())
    }
}

/// `max_leverage` of `limit`'s answer to an account committing `notional` with `entry` on
/// `equity`: its leverage, notional over equity, is without bound (infinite) at an equity of 0
/// or less. Within a relative 1e-12 of the limit, as the notional caps.
#[inline(always)]
fn check_account_leverage(
    limit: f64,
    notional: f64,
    equity: f64,
    entry: &CapValue,
) -> Result<(), RiskRefusal> {
    if notional <= equity * limit * (1.0 + 1e-12) && equity > 0.0 {
        return Ok(());
    }
    Err(account_levered(limit, notional, equity, entry))
}

#[cold]
#[inline(never)]
fn account_levered(limit: f64, notional: f64, equity: f64, entry: &CapValue) -> RiskRefusal {
    RiskRefusal::AccountLeverage {
        limit,
        value: if equity > 0.0 {
            notional / equity
        } else {
            f64::INFINITY
        },
        notional,
        equity,
        valued_at: entry.valued_at,
        valued_by: entry.valued_by(),
    }
}

/// A notional cap `rule` of `limit`'s answer to `entry`, `committed` being committed already.
#[inline(always)]
fn check_cap(
    rule: &'static str,
    limit: f64,
    committed: f64,
    entry: &CapValue,
) -> Result<(), RiskRefusal> {
    let value = committed + entry.notional;
    // Running totals carry float error from every fill and exit added and taken: an entry at
    // the cap is within it by a relative hair, which at 1e8 is more than any absolute one.
    if value > limit + 1e-9_f64.max(limit * 1e-12) {
        return Err(notional_refused(rule, limit, value, entry));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn notional_refused(rule: &'static str, limit: f64, value: f64, entry: &CapValue) -> RiskRefusal {
    RiskRefusal::Notional {
        rule,
        limit,
        value,
        valued_at: entry.valued_at,
        valued_by: entry.valued_by(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(pairs: &[(&str, MetaValue)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn value(notional: f64) -> CapValue {
        CapValue {
            notional,
            valued_at: 100.0,
            order_type: OrderType::Market,
            price: 100.0,
            mark: 0.0,
        }
    }

    #[test]
    fn each_limit_refuses_past_it_and_not_at_it() {
        let limits = RiskLimits {
            max_leverage: Some(5.0),
            max_notional_per_asset: Some(1_000.0),
            max_notional_total: Some(2_000.0),
            ..RiskLimits::default()
        };
        let equity = || (600.0, 200.0);
        assert_eq!(limits.check_leverage(5.0, &value(400.0), equity), Ok(()));
        assert_eq!(
            limits.check_leverage(5.5, &value(400.0), equity),
            Err(RiskRefusal::Limit {
                rule: "max_leverage",
                limit: 5.0,
                value: 5.5
            })
        );
        assert_eq!(limits.check_asset_notional(&value(400.0), || 600.0), Ok(()));
        let refused = limits.check_total_notional(&value(400.0), || 1_700.0);
        assert_eq!(
            refused,
            Err(RiskRefusal::Notional {
                rule: "max_notional_total",
                limit: 2_000.0,
                value: 2_100.0,
                valued_at: 100.0,
                valued_by: "reference_price",
            })
        );
    }

    #[rstest::rstest]
    #[case::at_the_limit(600.0, 200.0, None)]
    #[case::past_it(601.0, 200.0, Some(5.005))]
    #[case::on_no_equity(0.0, 0.0, Some(f64::INFINITY))]
    #[case::on_a_negative_equity(0.0, -1.0, Some(f64::INFINITY))]
    fn the_accounts_leverage_with_the_entry_is_bounded(
        #[case] committed: f64,
        #[case] equity: f64,
        #[case] refused_at: Option<f64>,
    ) {
        let limits = RiskLimits {
            max_leverage: Some(5.0),
            ..RiskLimits::default()
        };
        let answer = limits.check_leverage(1.0, &value(400.0), || (committed, equity));
        let value = match answer {
            Err(RiskRefusal::AccountLeverage { value, .. }) => Some(value),
            other => {
                assert_eq!(other, Ok(()));
                None
            }
        };
        assert_eq!(value, refused_at);
    }

    #[test]
    fn what_is_committed_is_asked_only_while_a_cap_is_set() {
        let limits = RiskLimits::default();
        let asked = |_: ()| -> f64 { panic!("asked with no cap set") };
        assert_eq!(
            limits.check_asset_notional(&value(1e12), || asked(())),
            Ok(())
        );
        assert_eq!(
            limits.check_total_notional(&value(1e12), || asked(())),
            Ok(())
        );
        let account = || (asked(()), 0.0);
        assert_eq!(limits.check_leverage(1e9, &value(1e12), account), Ok(()));
    }

    #[test]
    fn the_price_a_refused_entry_was_valued_at_says_where_it_came_from() {
        let by = |order_type, price, mark| {
            let valued_at = cap_price(order_type, OrderSide::Buy, price, price, mark);
            CapValue {
                notional: 0.0,
                valued_at,
                order_type,
                price,
                mark,
            }
            .valued_by()
        };
        assert_eq!(by(OrderType::Market, 100.0, 110.0), "mark_price");
        assert_eq!(by(OrderType::Market, 100.0, 90.0), "reference_price");
        assert_eq!(by(OrderType::Limit, 100.0, 0.0), "limit_price");
    }

    #[test]
    fn the_mode_refuses_entries_when_halted_and_unnamed_runs_when_live() {
        let limits = RiskLimits::default();
        let none = Metadata::new();
        let (enter, exit) = (KernelCommandType::Enter, KernelCommandType::Exit);
        assert_eq!(
            limits.check_trading_mode(ControlMode::Halted, enter, &none),
            Err(RiskRefusal::TradingState {
                mode: ControlMode::Halted,
                action: enter
            })
        );
        assert_eq!(
            limits.check_trading_mode(ControlMode::ReduceOnly, exit, &none),
            Ok(())
        );
        assert_eq!(
            limits.check_trading_mode(ControlMode::Live, exit, &none),
            Err(RiskRefusal::Provenance)
        );
        let named = metadata(&[("source_run", MetaValue::Str("run-1".into()))]);
        assert_eq!(
            limits.check_trading_mode(ControlMode::Live, enter, &named),
            Ok(())
        );
        assert_eq!(
            limits.check_trading_mode(ControlMode::Paper, enter, &none),
            Ok(())
        );
    }

    #[test]
    fn a_market_entry_against_the_regime_needs_an_override_that_says_yes() {
        let limits = RiskLimits {
            regime: Regime::Bull,
            ..RiskLimits::default()
        };
        let none = Metadata::new();
        let short = TradeSide::Short;
        assert_eq!(
            limits.check_regime_parity(OrderType::Market, short, &none),
            Err(RiskRefusal::RegimeParity {
                regime: Regime::Bull,
                side: short
            })
        );
        assert_eq!(
            limits.check_regime_parity(OrderType::Limit, short, &none),
            Ok(())
        );
        assert_eq!(
            limits.check_regime_parity(OrderType::Market, TradeSide::Long, &none),
            Ok(())
        );
        for yes in [
            MetaValue::Bool(true),
            MetaValue::Int(1),
            MetaValue::Str("ops".into()),
        ] {
            let m = metadata(&[("override", yes)]);
            assert_eq!(
                limits.check_regime_parity(OrderType::Market, short, &m),
                Ok(())
            );
        }
        let blank = metadata(&[("override", MetaValue::Str("  ".into()))]);
        assert!(matches!(
            limits.check_regime_parity(OrderType::Market, short, &blank),
            Err(RiskRefusal::RegimeParity { .. })
        ));
        let no = metadata(&[("override", MetaValue::Str(" No ".into()))]);
        assert_eq!(
            limits.check_regime_parity(OrderType::Market, short, &no),
            Err(RiskRefusal::OverrideReadsNegative(" No ".into()))
        );
    }

    #[test]
    fn the_order_rate_counts_the_order_itself() {
        let limits = RiskLimits {
            max_order_rate: Some(2.0),
            ..RiskLimits::default()
        };
        let mut window = RateWindow::default();
        assert_eq!(limits.check_order_rate(&mut window, 10.0), Ok(()));
        window.record(10.0);
        assert_eq!(limits.check_order_rate(&mut window, 10.1), Ok(()));
        window.record(10.1);
        assert_eq!(
            limits.check_order_rate(&mut window, 10.2),
            Err(RiskRefusal::Limit {
                rule: "max_order_rate",
                limit: 2.0,
                value: 3.0
            })
        );
    }

    #[test]
    fn the_edge_freeze_refuses_naming_why() {
        assert_eq!(check_edge_freeze(false, "", ""), Ok(()));
        assert_eq!(
            check_edge_freeze(true, "edge low", "BTC"),
            Err(RiskRefusal::EdgeFreeze {
                reason: "edge low".into(),
                asset: "BTC".into()
            })
        );
    }
}
