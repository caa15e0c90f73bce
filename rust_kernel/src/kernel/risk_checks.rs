//! The pre-trade risk checks an order meets before it leaves: the trading mode and provenance,
//! leverage, the notional caps per asset and in total, the order rate. The limits themselves
//! are [`crate::risk::RiskLimits`]; what each slot commits towards the caps is kept here.

use super::*;

/// What `slot`'s position commits towards the notional caps: its size at its entry price.
pub(super) fn held_notional(slot: &TradeSlot) -> f64 {
    slot.size * slot.entry_price
}

/// The price what is still working of entry `order` commits at towards the notional caps,
/// `mark` the mark it was judged at (0: none): what [`cap_price`] judged it at, from a LIMIT
/// order's price as it went out or a MARKET order's reference (a LIMIT order at price 0 counts
/// at its reference too).
pub(super) fn working_price(order: &VenueOrder, mark: f64) -> f64 {
    let (order_type, price) = match order.order_type {
        OrderType::Limit if order.price > 0.0 => (order.order_type, order.price),
        _ => (OrderType::Market, order.reference_price),
    };
    cap_price(order_type, order.side, price, order.reference_price, mark)
}

/// `asset`'s latest mark in `marks` as the notional caps take it: 0 when none was given.
pub(super) fn latest_mark(marks: &IdMap<Id, f64>, asset: &str) -> f64 {
    marks.get(asset).copied().unwrap_or(0.0)
}

/// The mark slot `sid`'s entry was judged at, in `entry_marks` ([`Kernel::entry_marks`]).
pub(super) fn entry_mark(entry_marks: &[f64], sid: usize) -> f64 {
    entry_marks.get(sid).copied().unwrap_or(0.0)
}

/// The price an order of `order_type` and `side` going out at `price` counts at towards the
/// notional caps, `reference` the market's and `mark` the asset's latest mark (0: none): its
/// own, but for a SELL LIMIT the higher of it and the reference, since a sell fills at its
/// limit or above, so one priced under the market fills near the market. A MARKET order or a
/// SELL LIMIT counts at the mark when that is higher, so a stale or understated reference
/// does not let through an entry the cap should stop. What an entry is judged at and what its
/// working part commits.
pub(super) fn cap_price(
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

impl Kernel {
    /// The refusal of `intent` by the kernel's mode ([`Kernel::mode_refusal`]), looked at
    /// only when the mode may refuse it.
    #[inline(always)]
    pub(super) fn mode_blocks(
        &self,
        intent: &Intent,
        sid: usize,
        seq: u64,
    ) -> Option<KernelOutcome> {
        let mode = self.control.mode;
        let may = match mode {
            ControlMode::Halted | ControlMode::ReduceOnly => true,
            ControlMode::Live => self.risk.require_source_run_in_live,
            ControlMode::Paper | ControlMode::Shadow => false,
        };
        if may {
            self.mode_refusal(intent, sid, seq)
        } else {
            None
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn mode_refusal(
        &self,
        intent: &Intent,
        sid: usize,
        seq: u64,
    ) -> Option<KernelOutcome> {
        let mode = self.control.mode;
        let blocked = matches!(
            (intent.action, mode),
            (
                KernelCommandType::Enter,
                ControlMode::Halted | ControlMode::ReduceOnly
            )
        );
        if blocked {
            let d = vec![
                ("rule", Detail::Static("trading_state")),
                ("field", Detail::Static("action")),
                ("value", Detail::Static(intent.action.name())),
                ("mode", Detail::Static(mode.name())),
                ("action", Detail::Static(intent.action.name())),
                (
                    "reason",
                    Detail::Static(if mode == ControlMode::Halted {
                        "the kernel is HALTED: no new entries"
                    } else {
                        "the kernel is REDUCE_ONLY: only EXIT and CANCEL"
                    }),
                ),
            ];
            return Some(self.refuse(
                intent,
                Some(sid),
                KernelDiagnosticCode::ModeBlocked,
                KernelSeverity::Warning,
                d,
                seq,
            ));
        }
        if mode == ControlMode::Live
            && self.risk.require_source_run_in_live
            && intent.action != KernelCommandType::Cancel
            && !matches!(intent.metadata.get("source_run"), Some(MetaValue::Str(s)) if !s.is_empty())
        {
            let d = vec![
                ("rule", Detail::Static("provenance")),
                ("field", Detail::Static("metadata.source_run")),
                ("value", Detail::Static("missing")),
                ("mode", Detail::Static("LIVE")),
            ];
            return Some(self.refuse(
                intent,
                Some(sid),
                KernelDiagnosticCode::RiskRejected,
                KernelSeverity::Warning,
                d,
                seq,
            ));
        }
        None
    }

    /// The risk checks of an ENTER sized as `entry`: the edge freeze, the leverage, the
    /// notional caps per asset and in total, and the regime's parity.
    #[inline(always)]
    pub(super) fn check_entry_risk(
        &self,
        intent: &Intent,
        sid: usize,
        entry: &EntrySizing,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        use KernelDiagnosticCode as D;
        if self.control.frozen {
            let mut d = vec![("rule", Detail::Static("edge_freeze"))];
            d.push(("reason", Detail::Str(self.control.freeze_reason.clone())));
            d.push(("asset", Detail::Str(self.control.freeze_asset.clone())));
            return Err(self.refuse(
                intent,
                Some(sid),
                D::RiskRejected,
                KernelSeverity::Warning,
                d,
                seq,
            ));
        }
        if let Some(max) = self.risk.max_leverage {
            if intent.leverage > max {
                return Err(self.risk_refusal(
                    intent,
                    sid,
                    "max_leverage",
                    max,
                    intent.leverage,
                    seq,
                ));
            }
        }
        let notional = entry.notional;
        let cap = (entry.valued_at, entry.price, entry.mark);
        if let Some(max) = self.risk.max_notional_per_asset {
            let have = self
                .asset_notional
                .get(&intent.asset)
                .copied()
                .unwrap_or(0.0)
                + self.committed_in_doubt(Some(&intent.asset));
            if have + notional > max + 1e-9 {
                return Err(self.notional_refusal(
                    intent,
                    sid,
                    "max_notional_per_asset",
                    max,
                    have + notional,
                    cap,
                    seq,
                ));
            }
        }
        if let Some(max) = self.risk.max_notional_total {
            let have = self.total_notional + self.committed_in_doubt(None);
            if have + notional > max + 1e-9 {
                return Err(self.notional_refusal(
                    intent,
                    sid,
                    "max_notional_total",
                    max,
                    have + notional,
                    cap,
                    seq,
                ));
            }
        }
        if intent.order_type == OrderType::Market {
            let against = match self.risk.regime {
                Regime::Neutral => false,
                Regime::Bull => intent.side == TradeSide::Short,
                Regime::Bear => intent.side == TradeSide::Long,
            };
            let overridden = match intent.metadata.get("override") {
                Some(MetaValue::Bool(true)) | Some(MetaValue::Int(1)) => true,
                // Text reading as a negative is its author saying no override.
                Some(MetaValue::Str(s)) if against && reads_negative(s) => {
                    return Err(self.invalid_field(
                        intent,
                        "metadata.override",
                        Detail::Str(s.clone()),
                        "reads as a negative: an override is True, 1 or other text",
                        seq,
                    ));
                }
                // Text of only whitespace says nothing, as the empty text.
                Some(MetaValue::Str(s)) => !s.trim().is_empty(),
                _ => false,
            };
            if against && !overridden {
                let d = vec![
                    ("rule", Detail::Static("regime_parity")),
                    ("regime", Detail::Static(self.risk.regime.name())),
                    ("side", Detail::Static(intent.side.name())),
                    ("field", Detail::Static("metadata.override")),
                ];
                return Err(self.refuse(
                    intent,
                    Some(sid),
                    D::RiskRejected,
                    KernelSeverity::Warning,
                    d,
                    seq,
                ));
            }
        }
        Ok(())
    }

    pub(super) fn risk_refusal(
        &self,
        intent: &Intent,
        sid: usize,
        rule: &'static str,
        limit: f64,
        value: f64,
        seq: u64,
    ) -> KernelOutcome {
        let d = vec![
            ("rule", Detail::Static(rule)),
            ("limit", Detail::F64(limit)),
            ("value", Detail::F64(value)),
        ];
        self.refuse(
            intent,
            Some(sid),
            KernelDiagnosticCode::RiskRejected,
            KernelSeverity::Warning,
            d,
            seq,
        )
    }

    /// A notional cap's refusal ([`Kernel::risk_refusal`]), naming the price the entry was
    /// valued at, `cap.0`, and where that came from: the asset's mark `cap.2` when it
    /// was above the order's own price `cap.1`, else the order's limit or reference.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn notional_refusal(
        &self,
        intent: &Intent,
        sid: usize,
        rule: &'static str,
        limit: f64,
        value: f64,
        cap: (f64, f64, f64),
        seq: u64,
    ) -> KernelOutcome {
        let mut out = self.risk_refusal(intent, sid, rule, limit, value, seq);
        let (valued_at, price, mark) = cap;
        let source = if mark > 0.0 && valued_at == mark && mark > price {
            "mark_price"
        } else if intent.order_type == OrderType::Limit && valued_at == price {
            "limit_price"
        } else {
            "reference_price"
        };
        out.details.push(("cap_price", Detail::F64(valued_at)));
        out.details
            .push(("cap_price_source", Detail::Static(source)));
        out
    }

    pub(super) fn check_rate(
        &mut self,
        intent: &Intent,
        sid: usize,
        seq: u64,
    ) -> Option<KernelOutcome> {
        if let Some(max_rate) = self.risk.max_order_rate {
            let n = self.rate.count(intent.timestamp) as f64;
            if n + 1.0 > max_rate {
                return Some(self.risk_refusal(
                    intent,
                    sid,
                    "max_order_rate",
                    max_rate,
                    n + 1.0,
                    seq,
                ));
            }
        }
        None
    }

    /// Puts slot `sid` in (or takes it out of) the open slots of its asset: one lookup of the
    /// asset, whose set, once made, stays (see [`OpenByAsset`]). Returns the asset's
    /// [`asset_print`] when its set has it (see [`OpenByAsset::update`]).
    #[inline]
    pub(super) fn update_open_index(
        &mut self,
        sid: usize,
        holds: bool,
    ) -> Option<Option<NonZeroU64>> {
        let (changed, print) = self
            .open_by_asset
            .update(sid, &self.slots[sid].asset, holds);
        if changed {
            if holds {
                self.open_count += 1;
            } else {
                self.open_count -= 1;
            }
        }
        print
    }

    /// What the entries in doubt (of `asset`, or all) count towards the notional caps (see
    /// `EndedOrders::doubt_notional`): an order that may work at the venue is exposure.
    pub(super) fn committed_in_doubt(&self, asset: Option<&str>) -> f64 {
        self.ended.doubt_notional(asset, &self.entry_marks)
    }

    /// Sets what slot `sid` commits and the totals by asset and overall: one lookup of the
    /// asset, whose entry, once made, stays (see [`AssetNotional`]).
    #[inline(always)]
    pub(super) fn set_committed(&mut self, sid: usize, notional: f64) {
        let slot = &mut self.slots[sid];
        let delta = notional - slot.committed_notional;
        slot.committed_notional = notional;
        if delta != 0.0 {
            self.asset_notional.add(sid, &slot.asset, delta);
            self.total_notional = (self.total_notional + delta).max(0.0);
        }
    }
}
