//! ENTER: the checks an entry meets beyond every intent's (its fields, a slot free for a new
//! trade, the risk checks, the venue's floor), its size and price at the venue's rules, and the
//! order it sends.

use super::*;

/// An entry as it goes out: the asset's market rules, its size on the lot grid, its order's
/// side and price, and what it commits towards the notional caps: its size at the price the
/// caps value it at ([`cap_price`]), with the asset's latest mark that price took in (0: none).
pub(super) struct EntrySizing {
    pub(super) m: MarketLimits,
    pub(super) qty: f64,
    pub(super) side: OrderSide,
    pub(super) price: f64,
    pub(super) mark: f64,
    pub(super) valued_at: f64,
    pub(super) notional: f64,
}

impl EntrySizing {
    /// The entry as the notional caps value it, its order of `order_type`.
    #[inline(always)]
    pub(super) fn cap_value(&self, order_type: OrderType) -> CapValue {
        CapValue {
            notional: self.notional,
            valued_at: self.valued_at,
            order_type,
            price: self.price,
            mark: self.mark,
        }
    }
}

impl Kernel {
    /// An ENTER: its answer in `out` when taken, else the refusal (see [`Handled`]). Each
    /// check refuses in its turn; the first to refuse answers.
    pub(super) fn enter(
        &mut self,
        intent: &Intent,
        seen: bool,
        seq: u64,
        out: &mut KernelOutcome,
    ) -> Handled {
        let sid = self.check_intent(intent, seen, seq)?;
        self.check_entry_fields(intent, seq)?;
        self.check_order_prices(intent, seq)?;
        self.check_trading_mode(intent, sid, seq)?;
        let stage = self.check_slot_takes_entry(intent, sid, seq)?;
        let entry = self.size_entry(intent);
        self.check_entry_risk(intent, sid, &entry, seq)?;
        if let Some(o) = self.limit_off_tick(intent, sid, &entry.m, entry.side, seq) {
            return Err(o);
        }
        self.check_order_rate(intent, sid, seq)?;
        self.check_entry_floor(intent, sid, &entry, seq)?;
        self.send_entry(intent, sid, stage, entry, seq, out);
        Ok(())
    }

    /// What an ENTER needs beyond every intent's fields: a trade id, an asset, a side, a
    /// size the kernel trades, a leverage whose margin is finite, and exit legs.
    #[inline(always)]
    pub(super) fn check_entry_fields(
        &self,
        intent: &Intent,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        let bad = |field, value, reason| Err(self.invalid_field(intent, field, value, reason, seq));
        // The usual ids pass at one look at each first byte (`plain_start`: not empty, nor
        // flawed), and the asset at its last too; any others are judged in full, emptiness first.
        let (trade, asset) = (intent.trade_id.as_str(), intent.asset.as_str());
        if !(plain_start(trade) && plain_start(asset) && plain_end(asset)) {
            if trade.is_empty() {
                return bad("trade_id", Detail::Static(""), "ENTER needs a trade id");
            }
            if asset.is_empty() {
                return bad("asset", Detail::Static(""), "ENTER needs an asset");
            }
            if let Some(why) = flawed_id(trade) {
                return bad("trade_id", quoted_id(trade), why);
            }
            if let Some(why) = flawed_asset(asset) {
                return bad("asset", quoted_id(asset), why);
            }
        }
        if intent.side == TradeSide::Flat {
            return bad("side", Detail::Static("FLAT"), "ENTER needs LONG or SHORT");
        }
        let size = intent.target_size;
        if size <= 0.0 {
            return bad(
                "target_size",
                Detail::F64(size),
                "ENTER needs a positive size",
            );
        }
        // A size the kernel takes for nothing (see `below_min_qty`) is the intent's fault, not
        // the venue's floor, which may not exist.
        if size <= QTY_EPS {
            return bad("target_size", Detail::F64(size), TOO_SMALL);
        }
        if intent.leverage < MIN_LEVERAGE {
            let leverage = Detail::F64(intent.leverage);
            if intent.leverage <= 0.0 {
                return bad("leverage", leverage, "must be positive");
            }
            // A leverage this small (1e-320) makes a position's margin, its notional over the
            // leverage, infinite.
            return bad("leverage", leverage, "must be at least 1e-15");
        }
        if let Err(msg) = validate_leg_ratios(&intent.exit_leg_ratios) {
            let legs = Detail::Str(format_legs(&intent.exit_leg_ratios));
            return bad("exit_leg_ratios", legs, msg);
        }
        Ok(())
    }

    /// Whether slot `sid` takes a new trade: free, and waiting for no fill of an order that
    /// ended. Its stage, when it does.
    #[inline(always)]
    pub(super) fn check_slot_takes_entry(
        &self,
        intent: &Intent,
        sid: usize,
        seq: u64,
    ) -> Result<TradeStage, KernelOutcome> {
        let stage = self.slots[sid].fsm_state;
        if let Some(owed) = self.ended.awaited(sid) {
            return Err(self.awaiting_refusal(intent, sid, owed, None, seq));
        }
        if !fsm::is_free(stage) {
            return Err(self.slot_busy_refusal(intent, sid, stage, seq));
        }
        Ok(stage)
    }

    /// The refusal of an ENTER on slot `sid`, in `stage`, which holds a trade.
    #[cold]
    #[inline(never)]
    pub(super) fn slot_busy_refusal(
        &self,
        intent: &Intent,
        sid: usize,
        stage: TradeStage,
        seq: u64,
    ) -> KernelOutcome {
        let held = &self.slots[sid].trade_id;
        let d = vec![
            ("field", Detail::Static("slot_id")),
            ("value", Detail::I64(sid as i64)),
            ("slot_id", Detail::I64(sid as i64)),
            ("fsm_state", Detail::Static(stage.name())),
            ("trade_id", held.into()),
            (
                "reason",
                Detail::Static(if *held == intent.trade_id {
                    "the slot already holds this trade: an EXIT closes it, and a new trade \
                     needs a new trade id"
                } else {
                    "the slot holds another trade: use a free slot, or wait for it to close"
                }),
            ),
        ];
        let (code, severity) = (KernelDiagnosticCode::SlotBusy, KernelSeverity::Warning);
        self.refuse(intent, Some(sid), code, severity, d, seq)
    }

    /// The entry `intent` sends, at the venue's rules for its asset.
    #[inline(always)]
    pub(super) fn size_entry(&self, intent: &Intent) -> EntrySizing {
        let m = self.limits_for(&intent.asset);
        let qty = round_down_to_step(intent.target_size, m.lot_step);
        let side = intent.side.entry_order_side();
        let price = Self::order_price(intent, &m, side);
        // A BUY LIMIT fills at its price or under: the mark is not needed (one lookup saved).
        let mark = if intent.order_type == OrderType::Limit && side == OrderSide::Buy {
            0.0
        } else {
            latest_mark(&self.marks, &intent.asset)
        };
        let valued_at = cap_price(intent.order_type, side, price, intent.reference_price, mark);
        EntrySizing {
            m,
            qty,
            side,
            price,
            mark,
            valued_at,
            notional: qty * valued_at,
        }
    }

    /// Whether `entry` reaches the venue's floor. A MARKET order is judged at the higher of its
    /// reference and the asset's latest mark (`mark`, as the caps take it): a stale low
    /// reference would refuse orders the venue takes. Not at the mark alone: a mark carries no
    /// age, and a stale low one would refuse them alike; one too high sends an order the venue
    /// may refuse.
    #[inline(always)]
    pub(super) fn check_entry_floor(
        &self,
        intent: &Intent,
        sid: usize,
        entry: &EntrySizing,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        let (floor_at, source) = match intent.order_type {
            OrderType::Market if entry.mark > entry.price => (entry.mark, "mark"),
            _ => (entry.price, Self::price_source(intent)),
        };
        if Self::below_floor(&entry.m, entry.qty, floor_at) {
            let at = (floor_at, source);
            return Err(self.below_floor_outcome(intent, sid, &entry.m, entry.qty, at, seq));
        }
        Ok(())
    }

    /// The accepted ENTER goes out: the slot starts the new trade, and `entry`'s order is
    /// sent and committed, into `out`.
    #[inline(always)]
    pub(super) fn send_entry(
        &mut self,
        intent: &Intent,
        sid: usize,
        stage: TradeStage,
        entry: EntrySizing,
        seq: u64,
        out: &mut KernelOutcome,
    ) {
        self.start_trade(intent, sid, stage);
        out.reset_ok(intent.slot_id, intent.trade_id.clone(), stage, seq);
        self.new_order(
            intent,
            sid,
            entry.side,
            entry.qty,
            None,
            &entry.m,
            &mut out.submit,
        );
        self.send_order(sid, Trigger::Enter, Ctx::default(), true, intent, out);
        if entry.qty != intent.target_size {
            out.details.push(("rounded_size", Detail::F64(entry.qty)));
        }
        self.entry_marks[sid] = entry.mark;
        self.set_committed(sid, entry.notional);
    }

    /// Slot `sid`, free in `stage`, starts `intent`'s trade: a late fill of its last trade is
    /// refused from now on, and the slot is counted off the asset it held.
    #[inline(always)]
    pub(super) fn start_trade(&mut self, intent: &Intent, sid: usize, stage: TradeStage) {
        self.ended.forget_slot(sid);
        // Not engaged in a slot free for a trade (nor counted, dust aside); counted off all
        // the same if it were, under the asset it held, which changes below.
        let slot = &self.slots[sid];
        let was = engaged(slot);
        let other_asset = self
            .sides
            .count_off(&slot.asset, slot.side, was, sid, &intent.asset);
        if other_asset {
            // The places the slot remembers in the maps by asset are its old asset's.
            self.asset_notional.forget(sid);
            self.open_by_asset.forget(sid);
        }
        // Event ids stay remembered across trades; everything else starts afresh.
        self.slots[sid].start_trade(intent, stage);
    }
}
