//! EXIT: the checks an exit meets beyond every intent's (a position to close, of the trade and
//! asset it names), its size (an explicit size, or the next exit leg's share, kept clear of
//! the venue's floor), whether it goes out reduce-only, and the order it sends.

use super::*;

/// An exit as it goes out: the asset's market rules, its order's side, price and size, whether
/// it closes the whole position (on the lot grid) and goes out reduce-only, the leg it closes (a
/// leg exit), and what its sizing says.
pub(super) struct ExitSizing {
    pub(super) m: MarketLimits,
    pub(super) side: OrderSide,
    pub(super) price: f64,
    pub(super) qty: f64,
    pub(super) whole: bool,
    pub(super) reduce_only: bool,
    pub(super) leg: Option<LegExit>,
    pub(super) details: Details,
}

/// Whether the order-rate rule judges and counts `intent`'s exit from `slot`, sized as `exit`:
/// every exit but the first MARKET one of the whole position since a fill last changed it. A
/// rate rule must never keep a position from being closed (flatten all, `Strategy.close`: one
/// exit per slot at once), and the exempt closes are no more than the fills. One the venue
/// ended unfilled (rejected, expired, cancelled, throttled) leaves the position as it was: the
/// closes after it are judged and counted, as a resting LIMIT close is.
#[inline(always)]
pub(super) fn rated_exit(intent: &Intent, exit: &ExitSizing, slot: &TradeSlot) -> bool {
    !(exit.whole && intent.order_type == OrderType::Market && !slot.exempt_close_sent)
}

impl Kernel {
    /// An EXIT: its answer in `out` when taken, else the refusal (see [`Handled`]). Each check
    /// refuses in its turn; the first to refuse answers.
    pub(super) fn exit(
        &mut self,
        intent: &Intent,
        seen: bool,
        seq: u64,
        out: &mut KernelOutcome,
    ) -> Handled {
        let sid = self.check_intent(intent, seen, seq)?;
        self.check_order_prices(intent, seq)?;
        self.check_trading_mode(intent, sid, seq)?;
        let stage = self.check_slot_takes_exit(intent, sid, seq)?;
        let slot = &self.slots[sid];
        let m = self.limits_for(&slot.asset);
        let side = slot.side.exit_order_side();
        if let Some(o) = self.limit_off_tick(intent, sid, &m, side, seq) {
            return Err(o);
        }
        let mut exit = self.size_exit(intent, sid, m, side);
        if self.control.mode == ControlMode::ReduceOnly && !exit.reduce_only {
            exit = self.reduce_only_exit(intent, sid, exit, seq)?;
        }
        self.check_exit_floor(intent, sid, &exit, seq)?;
        if rated_exit(intent, &exit, &self.slots[sid]) {
            self.check_order_rate(intent, sid, seq)?;
        }
        self.send_exit(intent, sid, stage, exit, seq, out);
        Ok(())
    }

    /// Whether slot `sid` takes `intent`'s exit: owed no exit fill, holding a position no other
    /// exit works on, of the trade and asset the intent names, the size it asks the kernel's
    /// to trade. Its stage, when it does.
    #[inline(always)]
    pub(super) fn check_slot_takes_exit(
        &self,
        intent: &Intent,
        sid: usize,
        seq: u64,
    ) -> Result<TradeStage, KernelOutcome> {
        use KernelDiagnosticCode as D;
        let slot = &self.slots[sid];
        let stage = slot.fsm_state;
        // Only an exit owed blocks a new exit: with an entry owed, the kernel's position is
        // below the venue's, and exiting it reduces risk (the entry's fill still comes).
        if let Some(owed) = self.ended.owed(sid, false) {
            return Err(self.awaiting_refusal(intent, sid, owed, Some(false), seq));
        }
        let holding = Ctx {
            holds_position: true,
        };
        if next_stage(stage, Trigger::Exit, holding).is_none() {
            return Err(self.no_exit_refusal(intent, sid, stage, seq));
        }
        if let Some(refused) = self.other_trade(intent, sid, seq) {
            return Err(refused);
        }
        if let Some(refused) = self.other_asset(intent, sid, &slot.asset, seq) {
            return Err(refused);
        }
        if intent.target_size > 0.0 && intent.target_size <= QTY_EPS {
            let mut d = detail_field("target_size", intent.target_size);
            d.push(("reason", Detail::Static(TOO_SMALL)));
            let severity = KernelSeverity::Error;
            return Err(self.refuse(intent, Some(sid), D::InvalidIntent, severity, d, seq));
        }
        Ok(stage)
    }

    /// The refusal of an EXIT on slot `sid`, whose `stage` takes none: it holds no position, an
    /// exit works already, or its entry still works.
    #[cold]
    #[inline(never)]
    pub(super) fn no_exit_refusal(
        &self,
        intent: &Intent,
        sid: usize,
        stage: TradeStage,
        seq: u64,
    ) -> KernelOutcome {
        use KernelDiagnosticCode as D;
        let (code, why) = if fsm::is_free(stage) {
            (D::NoPosition, "the slot holds no position")
        } else if matches!(
            stage,
            TradeStage::ExitRequested | TradeStage::ExitSent | TradeStage::ExitWorking
        ) {
            (D::SlotBusy, "an exit is already working")
        } else {
            (
                D::InvalidTransition,
                "the entry is still working; cancel it first",
            )
        };
        let mut d = detail_field("slot_id", sid as i64);
        d.push(("fsm_state", Detail::Static(stage.name())));
        d.push(("reason", Detail::Static(why)));
        self.refuse(intent, Some(sid), code, KernelSeverity::Warning, d, seq)
    }

    /// The exit `intent` sends from slot `sid`, at the venue's rules `m`, on `side`: the size
    /// it asks (at most the position), or its leg's share, on the lot grid; a leg below the
    /// venue's floor at the least the venue takes; the whole position where what would
    /// remain is below the floor.
    #[inline(always)]
    pub(super) fn size_exit(
        &self,
        intent: &Intent,
        sid: usize,
        m: MarketLimits,
        side: OrderSide,
    ) -> ExitSizing {
        let slot = &self.slots[sid];
        let size = slot.size;
        let mut details: Details = Vec::new();
        let leg = (intent.target_size <= 0.0).then(|| leg_exit(slot));
        // A leg exit that is not the last leg's: its share, less what was taken of it.
        let share_left = leg.as_ref().and_then(|l| l.left);
        let leg_qty = if intent.target_size > 0.0 {
            if intent.target_size > size + QTY_EPS {
                details.push(("clamped_target_size", Detail::F64(intent.target_size)));
            }
            intent.target_size.min(size)
        } else if let Some(left) = share_left {
            if let Some(l) = leg.as_ref().filter(|l| l.taken > 0.0) {
                details.push(("leg_taken", Detail::F64(l.taken)));
            }
            left.min(size)
        } else {
            size
        };
        let price = Self::order_price(intent, &m, side);
        let whole = whole_position(size, m.lot_step);
        let mut qty = if (leg_qty - size).abs() <= QTY_EPS {
            whole
        } else {
            lots_in(leg_qty, m.lot_step)
        };
        if share_left.is_some() && Self::below_floor(&m, qty, price) {
            // A leg below the venue's floor goes out at the smallest size the venue takes (all
            // of the position when that is no less): refused, it would never advance, and
            // every later leg exit would compute it again.
            let least = Self::least_order(&m, price);
            if least > QTY_EPS {
                details.push(("leg_below_floor", Detail::F64(qty)));
                qty = if least + QTY_EPS < size { least } else { whole };
            }
        }
        let rest = size - qty;
        if rest > QTY_EPS && (Self::below_floor(&m, lots_in(rest, m.lot_step), price)) {
            // What would remain could never be sold: close all of it now.
            details.push(("dust_avoided", Detail::F64(rest)));
            details.push((
                "reason",
                Detail::Static(
                    "remaining size below the venue's floor; closing the whole position",
                ),
            ));
            qty = whole;
        }
        let reduce_only = self.exit_reduces(sid, side, qty);
        ExitSizing {
            m,
            side,
            price,
            qty,
            whole: qty + QTY_EPS >= whole,
            reduce_only,
            leg,
            details,
        }
    }

    /// Whether `exit` reaches the venue's floor. Venues take a reduce-only exit closing the
    /// whole position below their minimum notional: refused, a position whose price fell under
    /// it could never be closed. The whole position is what goes out on the lot grid, the dust
    /// under one lot left (a base-asset fee or a coarser lot leaves some). One the netted
    /// position does not cover goes out plain, and the floor applies to it as to any order.
    #[inline(always)]
    pub(super) fn check_exit_floor(
        &self,
        intent: &Intent,
        sid: usize,
        exit: &ExitSizing,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        let (m, qty) = (&exit.m, exit.qty);
        let below = if exit.whole && exit.reduce_only {
            Self::below_min_qty(m, qty)
        } else {
            Self::below_floor(m, qty, exit.price)
        };
        if below {
            let at = (exit.price, Self::price_source(intent));
            return Err(self.below_floor_outcome(intent, sid, m, qty, at, seq));
        }
        Ok(())
    }

    /// The accepted EXIT goes out, into `out`: its order sent (counted by the order-rate rule
    /// as [`rated_exit`] says, the slot's exemption spent when it is not), the slot's exit
    /// reason set, and the legs an earlier exit took done.
    #[inline(always)]
    pub(super) fn send_exit(
        &mut self,
        intent: &Intent,
        sid: usize,
        stage: TradeStage,
        exit: ExitSizing,
        seq: u64,
        out: &mut KernelOutcome,
    ) {
        let rated = rated_exit(intent, &exit, &self.slots[sid]);
        let ExitSizing {
            m,
            side,
            qty,
            reduce_only,
            leg,
            mut details,
            ..
        } = exit;
        out.reset_ok(intent.slot_id, self.slots[sid].trade_id.clone(), stage, seq);
        self.new_order(
            intent,
            sid,
            side,
            qty,
            Some(reduce_only),
            &m,
            &mut out.submit,
        );
        let held = Ctx {
            holds_position: true,
        };
        out.details.append(&mut details);
        self.send_order(sid, Trigger::Exit, held, rated, intent, out);
        let slot = &mut self.slots[sid];
        slot.exempt_close_sent |= !rated;
        slot.exit_reason.clone_from(&intent.reason);
        if let Some(l) = leg.filter(|l| l.leg > slot.active_leg_index) {
            // Exits that did not complete them took the legs before: they are done.
            out.details.push((
                "legs_done",
                Detail::I64((l.leg - slot.active_leg_index) as i64),
            ));
            slot.active_leg_index = l.leg;
            slot.leg_taken = l.taken;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::RiskLimits;

    /// A kernel whose slot 0 holds 1 BTC, orders limited to 1 a second.
    fn held() -> Kernel {
        let mut k = Kernel::new("rx", 2).unwrap();
        let entry = Intent::new(
            "e",
            "t0",
            0,
            "BTC",
            TradeSide::Long,
            KernelCommandType::Enter,
            100.0,
            1.0,
        );
        let order = k.process_intent(&entry).submit.unwrap();
        let mut fill = VenueEvent::new("f", KernelEventKind::Fill, &order.client_order_id);
        (fill.price, fill.size, fill.filled_size) = (100.0, 1.0, 1.0);
        assert!(k.on_venue_event(&fill).accepted);
        let rate = RiskLimits {
            max_order_rate: Some(1.0),
            ..RiskLimits::default()
        };
        k.apply(&KernelInput::RiskLimits(rate)).unwrap();
        k
    }

    fn exit_of(n: &str, size: f64, order_type: OrderType) -> Intent {
        let mut x = Intent::new(
            n,
            "t0",
            0,
            "BTC",
            TradeSide::Long,
            KernelCommandType::Exit,
            100.0,
            size,
        );
        x.order_type = order_type;
        x.limit_price = if order_type == OrderType::Limit {
            101.0
        } else {
            0.0
        };
        x.timestamp = 60.0;
        x
    }

    /// Whether the rule judges `intent` on `k`'s slot 0 as it stands.
    fn rated(k: &Kernel, intent: &Intent) -> bool {
        let m = k.limits_for(&k.slots[0].asset);
        let exit = k.size_exit(intent, 0, m, OrderSide::Sell);
        rated_exit(intent, &exit, &k.slots[0])
    }

    #[test]
    fn only_the_first_market_close_since_a_fill_changed_the_position_is_exempt() {
        let mut k = held();
        let close = exit_of("x1", 1.0, OrderType::Market);
        assert!(rated(&k, &exit_of("l", 1.0, OrderType::Limit)));
        assert!(rated(&k, &exit_of("p", 0.5, OrderType::Market)));
        assert!(!rated(&k, &close));
        let order = k.process_intent(&close).submit.unwrap();
        assert!(k.slots[0].exempt_close_sent);
        let reject = VenueEvent::new("r1", KernelEventKind::Reject, &order.client_order_id);
        assert!(k.on_venue_event(&reject).accepted);
        // Ended unfilled: the next close is judged and counted (the window's one order)...
        let again = exit_of("x2", 1.0, OrderType::Market);
        assert!(rated(&k, &again));
        let order = k.process_intent(&again).submit.unwrap();
        let reject = VenueEvent::new("r2", KernelEventKind::Reject, &order.client_order_id);
        assert!(k.on_venue_event(&reject).accepted);
        // ...and the one after it refused, the window full.
        let third = k.process_intent(&exit_of("x3", 1.0, OrderType::Market));
        assert_eq!(
            third.diagnostic_code,
            KernelDiagnosticCode::RiskRejected,
            "{third:?}"
        );
        // A fill of part of the position gives the next close its exemption back.
        let mut part = exit_of("p2", 0.5, OrderType::Market);
        part.timestamp = 62.0;
        let order = k.process_intent(&part).submit.unwrap();
        let mut fill = VenueEvent::new("pf", KernelEventKind::Fill, &order.client_order_id);
        (fill.price, fill.size, fill.filled_size) = (100.0, 0.5, 0.5);
        assert!(k.on_venue_event(&fill).accepted);
        assert!(!k.slots[0].exempt_close_sent);
        let mut last = exit_of("x4", 0.5, OrderType::Market);
        last.timestamp = 62.0;
        assert!(k.process_intent(&last).accepted);
    }

    #[test]
    fn a_checkpoint_keeps_which_slots_spent_their_exempt_close() {
        let mut k = held();
        let order = k
            .process_intent(&exit_of("x1", 1.0, OrderType::Market))
            .submit
            .unwrap();
        let reject = VenueEvent::new("r1", KernelEventKind::Reject, &order.client_order_id);
        assert!(k.on_venue_event(&reject).accepted);
        let loaded = checkpoint::decode(&checkpoint::encode(&k)).unwrap();
        assert!(loaded.slots[0].exempt_close_sent && !loaded.slots[1].exempt_close_sent);
        assert_eq!(loaded.slots, k.slots);
    }
}
