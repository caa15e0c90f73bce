//! The pre-trade risk checks as the kernel asks them: each rule is a function of
//! [`RiskLimits`] in `crate::risk`, handed what it needs; a refusal ([`RiskRefusal`]) becomes
//! the intent's outcome here. What each slot commits towards the notional caps is kept here
//! too.

use super::exit::ExitSizing;
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

impl Kernel {
    /// The trading mode's answer to `intent` on slot `sid` ([`RiskLimits::check_trading_mode`]).
    #[inline(always)]
    pub(super) fn check_trading_mode(
        &self,
        intent: &Intent,
        sid: usize,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        let (mode, action) = (self.control.mode, intent.action);
        self.risk
            .check_trading_mode(mode, action, &intent.metadata)
            .map_err(|refusal| self.risk_refused(intent, sid, refusal, seq))
    }

    /// The order-rate rule's answer to `intent`'s order ([`RiskLimits::check_order_rate`]).
    #[inline(always)]
    pub(super) fn check_order_rate(
        &mut self,
        intent: &Intent,
        sid: usize,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        let counted = self.risk.check_order_rate(&mut self.rate, intent.timestamp);
        counted.map_err(|refusal| self.risk_refused(intent, sid, refusal, seq))
    }

    /// REDUCE_ONLY's answer to `exit` of slot `sid`, which the asset's position netted at the
    /// venue does not cover (it would go out plain): sized down to what reduces that position,
    /// reduce-only, or refused MODE_BLOCKED when nothing would ([`reduce_only_exit_size`]).
    #[cold]
    #[inline(never)]
    pub(super) fn reduce_only_exit(
        &self,
        intent: &Intent,
        sid: usize,
        mut exit: ExitSizing,
        seq: u64,
    ) -> Result<ExitSizing, KernelOutcome> {
        let room = self.room_units(sid, exit.side).max(0) as f64 / UNITS_PER_SIZE;
        let room = Some(lots_in(room, exit.m.lot_step)).filter(|&r| r > QTY_EPS);
        let qty = reduce_only_exit_size(exit.qty, room.unwrap_or(0.0))
            .map_err(|refusal| self.risk_refused(intent, sid, refusal, seq))?;
        exit.details
            .push(("reduce_only_size_from", Detail::F64(exit.qty)));
        (exit.qty, exit.whole, exit.reduce_only) = (qty, false, true);
        Ok(exit)
    }

    /// The risk checks of an ENTER sized as `entry`, each in its turn: the edge freeze, the
    /// leverage (the intent's and the account's with the entry), the notional caps per asset and in total (what the slots and the kept entries
    /// that may still fill commit, worked out only for a cap that is set), and the regime's parity.
    #[inline(always)]
    pub(super) fn check_entry_risk(
        &self,
        intent: &Intent,
        sid: usize,
        entry: &EntrySizing,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        let refused = |refusal| self.risk_refused(intent, sid, refusal, seq);
        let (risk, control) = (&self.risk, &self.control);
        let (reason, asset) = (&control.freeze_reason, &control.freeze_asset);
        check_edge_freeze(control.frozen, reason, asset).map_err(refused)?;
        let value = entry.cap_value(intent.order_type);
        let asset = &intent.asset;
        let committed_on_asset = || {
            self.asset_notional.get(asset).copied().unwrap_or(0.0)
                + self.committed_unsettled(Some(asset), Some(sid))
        };
        let committed = || self.total_notional + self.committed_unsettled(None, Some(sid));
        let account = || (committed(), self.equity());
        risk.check_leverage(intent.leverage, &value, account)
            .map_err(refused)?;
        risk.check_asset_notional(&value, committed_on_asset)
            .map_err(refused)?;
        risk.check_total_notional(&value, committed)
            .map_err(refused)?;
        risk.check_regime_parity(intent.order_type, intent.side, &intent.metadata)
            .map_err(refused)
    }

    /// The outcome of `intent` on slot `sid` that the risk checks refused: RISK_REJECTED (a
    /// mode refusing the action is MODE_BLOCKED, an override reading as a negative an invalid
    /// field), with the rule and the figures it was refused by.
    #[cold]
    #[inline(never)]
    pub(super) fn risk_refused(
        &self,
        intent: &Intent,
        sid: usize,
        refusal: RiskRefusal,
        seq: u64,
    ) -> KernelOutcome {
        use KernelDiagnosticCode as D;
        let (code, d) = match refusal {
            RiskRefusal::TradingState { mode, action } => (
                D::ModeBlocked,
                vec![
                    ("rule", Detail::Static("trading_state")),
                    ("field", Detail::Static("action")),
                    ("value", Detail::Static(action.name())),
                    ("mode", Detail::Static(mode.name())),
                    ("action", Detail::Static(action.name())),
                    (
                        "reason",
                        Detail::Static(if mode == ControlMode::Halted {
                            "the kernel is HALTED: no new entries"
                        } else {
                            "the kernel is REDUCE_ONLY: only EXIT and CANCEL"
                        }),
                    ),
                ],
            ),
            RiskRefusal::GrowsNettedPosition { qty, room } => (
                D::ModeBlocked,
                vec![
                    ("rule", Detail::Static("trading_state")),
                    ("field", Detail::Static("size")),
                    ("value", Detail::F64(qty)),
                    ("mode", Detail::Static(ControlMode::ReduceOnly.name())),
                    ("netted_room", Detail::F64(room)),
                    (
                        "reason",
                        Detail::Static(
                            "the kernel is REDUCE_ONLY: this exit would open or grow the \
                             asset's position netted at the venue the other way",
                        ),
                    ),
                ],
            ),
            RiskRefusal::Provenance => (
                D::RiskRejected,
                vec![
                    ("rule", Detail::Static("provenance")),
                    ("field", Detail::Static("metadata.source_run")),
                    ("value", Detail::Static("missing")),
                    ("mode", Detail::Static("LIVE")),
                ],
            ),
            RiskRefusal::EdgeFreeze { reason, asset } => (
                D::RiskRejected,
                vec![
                    ("rule", Detail::Static("edge_freeze")),
                    ("reason", Detail::Str(reason)),
                    ("asset", Detail::Str(asset)),
                ],
            ),
            RiskRefusal::Limit { rule, limit, value } => (
                D::RiskRejected,
                vec![
                    ("rule", Detail::Static(rule)),
                    ("limit", Detail::F64(limit)),
                    ("value", Detail::F64(value)),
                ],
            ),
            RiskRefusal::Notional {
                rule,
                limit,
                value,
                valued_at,
                valued_by,
            } => (
                D::RiskRejected,
                vec![
                    ("rule", Detail::Static(rule)),
                    ("limit", Detail::F64(limit)),
                    ("value", Detail::F64(value)),
                    ("cap_price", Detail::F64(valued_at)),
                    ("cap_price_source", Detail::Static(valued_by)),
                ],
            ),
            RiskRefusal::AccountLeverage {
                limit,
                value,
                notional,
                equity,
                valued_at,
                valued_by,
            } => {
                let mut d = vec![
                    ("rule", Detail::Static("max_leverage")),
                    ("limit", Detail::F64(limit)),
                    ("value", Detail::F64(value)),
                    ("notional", Detail::F64(notional)),
                    ("equity", Detail::F64(equity)),
                    ("cap_price", Detail::F64(valued_at)),
                    ("cap_price_source", Detail::Static(valued_by)),
                ];
                if equity <= 0.0 {
                    let why = "no equity to lever: set the seed capital (set_seed_capital)";
                    d.push(("reason", Detail::Static(why)));
                }
                (D::RiskRejected, d)
            }
            RiskRefusal::RegimeParity { regime, side } => (
                D::RiskRejected,
                vec![
                    ("rule", Detail::Static("regime_parity")),
                    ("regime", Detail::Static(regime.name())),
                    ("side", Detail::Static(side.name())),
                    ("field", Detail::Static("metadata.override")),
                ],
            ),
            RiskRefusal::OverrideReadsNegative(text) => {
                let reason = "reads as a negative: an override is True, 1 or other text";
                let value = Detail::Str(text);
                return self.invalid_field(intent, "metadata.override", value, reason, seq);
            }
        };
        self.refuse(intent, Some(sid), code, KernelSeverity::Warning, d, seq)
    }

    /// What the kept entries (of `asset`, or all; slot `starting`'s aside) count towards the
    /// notional caps (see `EndedOrders::doubt_notional`): an order the venue may still fill
    /// is exposure.
    pub(super) fn committed_unsettled(&self, asset: Option<&str>, starting: Option<usize>) -> f64 {
        self.ended
            .doubt_notional(asset, starting, &self.entry_marks)
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
