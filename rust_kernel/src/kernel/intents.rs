//! Intents: the checks every intent meets, and ENTER, EXIT and CANCEL. An accepted intent
//! builds its order (`orders`); a refused one changes nothing but the sequence number.

use super::*;

/// An id refused for [`id_flaw`], quoted so its whitespace or NUL shows.
#[cold]
pub(super) fn quoted_id(text: &str) -> Detail {
    Detail::Str(format!("{text:?}"))
}

/// Why a non-empty id of new input is refused: only whitespace, or led by a NUL
/// ([`id_flaw`]). The common id is passed after one look at its first byte.
#[inline]
pub(super) fn flawed_id(text: &str) -> Option<&'static str> {
    if plain_start(text) {
        None
    } else {
        id_flaw(text)
    }
}

/// An asset named by market data or market limits: not empty, nor flawed ([`flawed_id`]).
pub(super) fn check_asset(asset: &str) -> KernelResult<()> {
    if asset.is_empty() {
        return Err(KernelError::invalid("asset", "''", "must not be empty"));
    }
    match flawed_id(asset) {
        Some(why) => Err(KernelError::invalid("asset", format!("{asset:?}"), why)),
        None => Ok(()),
    }
}

/// Whether an override's text reads as a negative ("false", "no", "0", "off", "none", "null",
/// in any case and with surrounding whitespace): its author meant no override ("None" is what
/// `str()` makes of a flag never set).
pub(super) fn reads_negative(text: &str) -> bool {
    let t = text.trim();
    ["false", "no", "0", "off", "none", "null"]
        .iter()
        .any(|n| t.eq_ignore_ascii_case(n))
}

/// Exit legs as an error shows them: the list, or past the 64 a trade may have, its first
/// eight and the count (a refused list of a million legs would make a message of megabytes).
pub(super) fn format_legs(ratios: &[f64]) -> String {
    if ratios.len() <= 64 {
        return format!("{ratios:?}");
    }
    let head: Vec<String> = ratios[..8].iter().map(|r| format!("{r:?}")).collect();
    format!("[{}, ...] ({} legs)", head.join(", "), ratios.len())
}

/// Whether every number `Kernel::check_intent` judges passes its checks at one look: its price,
/// size, leverage and limit within [0, `MAX_MAGNITUDE`], its time within [0, infinity) (a time may
/// be beyond the bound, `too_large`). Such numbers pass the field-by-field checks; any other is
/// judged there, in the same order. Read as their bits: a non-negative number's bits order as the
/// number does, and a negative one (-0.0 too) has the sign bit, as NaN has bits above infinity's,
/// so each is above the bound's bits and goes to the checks.
#[inline(always)]
pub(super) fn intent_numbers_in_bounds(intent: &Intent) -> bool {
    const MOST: u64 = MAX_MAGNITUDE.to_bits();
    let most = (intent.reference_price.to_bits())
        .max(intent.target_size.to_bits())
        .max(intent.leverage.to_bits())
        .max(intent.limit_price.to_bits());
    most <= MOST && intent.timestamp.to_bits() < f64::INFINITY.to_bits()
}

/// Exit legs: at least one, each a positive fraction, together at most the whole position.
pub fn validate_leg_ratios(ratios: &[f64]) -> Result<(), &'static str> {
    if ratios.is_empty() {
        return Err("needs at least one leg");
    }
    if ratios.len() > 64 {
        return Err("has more than 64 legs");
    }
    let bad = "every leg must be a fraction in (0, 1]";
    if let [r] = ratios {
        // The usual one leg: a fraction is all it needs (it cannot add up to more than 1;
        // NaN is none).
        return if *r > 0.0 && *r <= 1.0 {
            Ok(())
        } else {
            Err(bad)
        };
    }
    let mut sum = 0.0;
    for r in ratios {
        if !r.is_finite() || *r <= 0.0 || *r > 1.0 {
            return Err(bad);
        }
        sum += r;
    }
    if sum > 1.0 + 1e-9 {
        return Err("legs must not add up to more than 1");
    }
    Ok(())
}

impl Kernel {
    pub fn process_intent(&mut self, intent: &Intent) -> KernelOutcome {
        let mut out = KernelOutcome::blank();
        self.process_intent_into(intent, &mut out);
        out
    }

    /// [`Kernel::process_intent`] answered in `out`, whose lists the answer reuses: a caller
    /// that keeps one outcome for its inputs (a replay, a Rust host) allocates nothing for
    /// an accepted ENTER or EXIT or a venue's usual answers to it.
    pub fn process_intent_into(&mut self, intent: &Intent, out: &mut KernelOutcome) {
        if let Some(i) = usize::try_from(intent.slot_id)
            .ok()
            .filter(|&i| i < self.slots.len())
        {
            self.slots[i].prefetch();
            // What the slot's reports covered: a line of its own, which a new order resets.
            if let Some(legs) = self.covered.get(i) {
                prefetch(legs);
            }
        }
        let intent_fp = fingerprint(&intent.intent_id);
        self.intents_seen.prefetch_insert(&[intent_fp]);
        // Looked up once for the duplicate check and the insert of an accepted intent: the
        // commands leave the memory alone.
        let seen = self.intents_seen.look_up(intent_fp);
        let seq = self.next_seq();
        self.counters.intents += 1;
        let answered = match intent.action {
            KernelCommandType::Enter => self.enter(intent, seen.found(), seq, out),
            KernelCommandType::Exit => self.exit(intent, seen.found(), seq, out),
            KernelCommandType::Cancel => Err(self.cancel(intent, seen.found(), seq)),
        };
        if let Err(whole) = answered {
            *out = whole;
        }
        if out.accepted {
            self.counters.intents_accepted += 1;
            self.intents_seen.insert_looked_up(seen);
            // A refused intent changes nothing, its time included.
            self.account.note_input_time(intent.timestamp);
        } else {
            self.counters.intents_refused += 1;
        }
        if self.outbox.enabled {
            self.outbox.record_intent(intent, out);
        }
    }

    #[cold]
    pub(super) fn refuse(
        &self,
        intent: &Intent,
        slot: Option<usize>,
        code: KernelDiagnosticCode,
        severity: KernelSeverity,
        details: Details,
        seq: u64,
    ) -> KernelOutcome {
        let (state, trade) = match slot.and_then(|i| self.slots.get(i)) {
            Some(s) => (s.fsm_state, s.trade_id.clone()),
            None => (TradeStage::Idle, intent.trade_id.clone()),
        };
        KernelOutcome::refused(intent.slot_id, trade, state, code, severity, details, seq)
    }

    /// Field checks shared by every command; returns the slot index. `seen`: whether the
    /// intent id is in the memory of accepted ones (`process_intent` looks it up). The
    /// refusal is the large variant on purpose: it is the answer, built once, on the cold
    /// path. Inlined into ENTER, EXIT and CANCEL: called, it would hand the slot index back
    /// through the large result in memory.
    #[inline(always)]
    pub(super) fn check_intent(
        &self,
        intent: &Intent,
        seen: bool,
        seq: u64,
    ) -> Result<usize, KernelOutcome> {
        use KernelDiagnosticCode as D;
        let bad = |field: &'static str, value: Detail, reason: &'static str| {
            let mut d = vec![("field", Detail::Static(field)), ("value", value)];
            d.push(("reason", Detail::Static(reason)));
            Err(self.refuse(
                intent,
                None,
                D::InvalidIntent,
                KernelSeverity::Error,
                d,
                seq,
            ))
        };
        // The usual id passes at one look at its first byte (`plain_start`: not empty, nor
        // flawed); any other is judged in full, emptiness first.
        let intent_id = intent.intent_id.as_str();
        if !plain_start(intent_id) {
            if intent_id.is_empty() {
                return bad("intent_id", Detail::Static(""), "must not be empty");
            }
            if let Some(why) = flawed_id(intent_id) {
                return bad("intent_id", quoted_id(intent_id), why);
            }
        }
        if intent.slot_id < 0 || intent.slot_id as usize >= self.slots.len() {
            let mut d = detail_field("slot_id", intent.slot_id);
            d.push(("max_slots", self.slots.len().into()));
            // What a strategy helper's -1 (no free slot) or a typo in the id amounts to.
            d.push((
                "reason",
                Detail::Str(format!(
                    "no such slot: the kernel has slots 0 to {}",
                    self.slots.len() - 1
                )),
            ));
            return Err(self.refuse(
                intent,
                None,
                D::InvalidSlotId,
                KernelSeverity::Error,
                d,
                seq,
            ));
        }
        // The usual numbers pass at one look (`intent_numbers_in_bounds`: within [0, MAX_MAGNITUDE], the
        // time within [0, infinity)); any others are judged field by field.
        if !intent_numbers_in_bounds(intent) {
            let numbers = [
                ("reference_price", intent.reference_price),
                ("target_size", intent.target_size),
                ("leverage", intent.leverage),
                ("limit_price", intent.limit_price),
                ("timestamp", intent.timestamp),
            ];
            for (field, v) in numbers {
                if !v.is_finite() {
                    return bad(
                        field,
                        Detail::Str(format!("{v}")),
                        "must be a finite number",
                    );
                }
                if v < 0.0 {
                    return bad(field, Detail::F64(v), "must not be negative");
                }
                if too_large(field, v) {
                    return bad(field, Detail::F64(v), TOO_LARGE);
                }
            }
        }
        if seen {
            let d = detail_field("intent_id", &intent.intent_id);
            return Err(self.refuse(
                intent,
                Some(intent.slot_id as usize),
                D::DuplicateIntent,
                KernelSeverity::Warning,
                d,
                seq,
            ));
        }
        Ok(intent.slot_id as usize)
    }

    pub(super) fn check_order_prices(
        &self,
        intent: &Intent,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        let bad = |field: &'static str, value: f64, reason: &'static str| {
            let mut d = detail_field(field, value);
            d.push(("reason", Detail::Static(reason)));
            Err(self.refuse(
                intent,
                None,
                KernelDiagnosticCode::InvalidIntent,
                KernelSeverity::Error,
                d,
                seq,
            ))
        };
        if intent.reference_price <= 0.0 {
            return bad(
                "reference_price",
                intent.reference_price,
                "must be positive",
            );
        }
        if intent.order_type == OrderType::Limit && intent.limit_price <= 0.0 {
            return bad(
                "limit_price",
                intent.limit_price,
                "must be positive for a LIMIT order",
            );
        }
        Ok(())
    }

    /// An ENTER: its answer in `out` when taken, else the refusal (see [`Handled`]).
    pub(super) fn enter(
        &mut self,
        intent: &Intent,
        seen: bool,
        seq: u64,
        out: &mut KernelOutcome,
    ) -> Handled {
        use KernelDiagnosticCode as D;
        let sid = self.check_intent(intent, seen, seq)?;
        let bad = |k: &Kernel, field: &'static str, value: Detail, reason: &'static str| {
            let d = vec![
                ("field", Detail::Static(field)),
                ("value", value),
                ("reason", Detail::Static(reason)),
            ];
            Err(k.refuse(
                intent,
                None,
                D::InvalidIntent,
                KernelSeverity::Error,
                d,
                seq,
            ))
        };
        // The usual ids pass at one look at each first byte (`plain_start`: not empty, nor
        // flawed); any others are judged in full, emptiness first.
        let (trade, asset) = (intent.trade_id.as_str(), intent.asset.as_str());
        if !(plain_start(trade) && plain_start(asset)) {
            if trade.is_empty() {
                return bad(
                    self,
                    "trade_id",
                    Detail::Static(""),
                    "ENTER needs a trade id",
                );
            }
            if asset.is_empty() {
                return bad(self, "asset", Detail::Static(""), "ENTER needs an asset");
            }
            for (field, text) in [("trade_id", trade), ("asset", asset)] {
                if let Some(why) = flawed_id(text) {
                    return bad(self, field, quoted_id(text), why);
                }
            }
        }
        if intent.side == TradeSide::Flat {
            return bad(
                self,
                "side",
                Detail::Static("FLAT"),
                "ENTER needs LONG or SHORT",
            );
        }
        if intent.target_size <= 0.0 {
            return bad(
                self,
                "target_size",
                Detail::F64(intent.target_size),
                "ENTER needs a positive size",
            );
        }
        // A size the kernel takes for nothing (see `below_min_qty`) is the intent's fault, not
        // the venue's floor, which may not exist.
        if intent.target_size <= QTY_EPS {
            return bad(
                self,
                "target_size",
                Detail::F64(intent.target_size),
                TOO_SMALL,
            );
        }
        if intent.leverage < MIN_LEVERAGE {
            if intent.leverage <= 0.0 {
                return bad(
                    self,
                    "leverage",
                    Detail::F64(intent.leverage),
                    "must be positive",
                );
            }
            // A leverage this small (1e-320) makes a position's margin, its notional over the
            // leverage, infinite.
            return bad(
                self,
                "leverage",
                Detail::F64(intent.leverage),
                "must be at least 1e-15",
            );
        }
        if let Err(msg) = validate_leg_ratios(&intent.exit_leg_ratios) {
            return bad(
                self,
                "exit_leg_ratios",
                Detail::Str(format_legs(&intent.exit_leg_ratios)),
                msg,
            );
        }
        self.check_order_prices(intent, seq)?;
        if let Some(o) = self.mode_blocks(intent, sid, seq) {
            return Err(o);
        }
        let stage = self.slots[sid].fsm_state;
        if let Some(owed) = self.ended.awaited(sid) {
            return Err(self.awaiting_refusal(intent, sid, owed, None, seq));
        }
        if !fsm::is_free(stage) {
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
            return Err(self.refuse(
                intent,
                Some(sid),
                D::SlotBusy,
                KernelSeverity::Warning,
                d,
                seq,
            ));
        }
        // Risk guard.
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
        let notional = qty * valued_at;
        let cap = (valued_at, price, mark);
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
                    return bad(
                        self,
                        "metadata.override",
                        Detail::Str(s.clone()),
                        "reads as a negative: an override is True, 1 or other text",
                    );
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
        if let Some(o) = self.limit_off_tick(intent, sid, &m, intent.side.entry_order_side(), seq) {
            return Err(o);
        }
        if let Some(o) = self.check_rate(intent, sid, seq) {
            return Err(o);
        }
        // A MARKET order is judged at the higher of its reference and the asset's latest mark
        // (`mark`, as the caps take it): a stale low reference would refuse orders the venue
        // takes. Not at the mark alone: a mark carries no age, and a stale low one would refuse
        // them alike; one too high sends an order the venue may refuse.
        let (floor_at, source) = match intent.order_type {
            OrderType::Market if mark > price => (mark, "mark"),
            _ => (price, Self::price_source(intent)),
        };
        if Self::below_floor(&m, qty, floor_at) {
            return Err(self.below_floor_outcome(intent, sid, &m, qty, (floor_at, source), seq));
        }

        // Accepted: the slot starts a new trade; a late fill of the last one is refused now.
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
        out.reset_ok(intent.slot_id, intent.trade_id.clone(), stage, seq);
        let side = intent.side.entry_order_side();
        self.new_order(intent, sid, side, qty, None, &m, &mut out.submit);
        self.send_order(sid, Trigger::Enter, Ctx::default(), intent, out);
        if qty != intent.target_size {
            out.details.push(("rounded_size", Detail::F64(qty)));
        }
        self.entry_marks[sid] = mark;
        self.set_committed(sid, notional);
        Ok(())
    }

    /// An EXIT: its answer in `out` when taken, else the refusal (see [`Handled`]).
    pub(super) fn exit(
        &mut self,
        intent: &Intent,
        seen: bool,
        seq: u64,
        out: &mut KernelOutcome,
    ) -> Handled {
        use KernelDiagnosticCode as D;
        let sid = self.check_intent(intent, seen, seq)?;
        self.check_order_prices(intent, seq)?;
        if let Some(o) = self.mode_blocks(intent, sid, seq) {
            return Err(o);
        }
        let slot = &self.slots[sid];
        let stage = slot.fsm_state;
        // Only an exit owed blocks a new exit: with an entry owed, the kernel's position is
        // below the venue's, and exiting it reduces risk (the entry's fill still comes).
        if let Some(owed) = self.ended.owed(sid, false) {
            return Err(self.awaiting_refusal(intent, sid, owed, Some(false), seq));
        }
        if next_stage(
            stage,
            Trigger::Exit,
            Ctx {
                holds_position: true,
            },
        )
        .is_none()
        {
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
            return Err(self.refuse(intent, Some(sid), code, KernelSeverity::Warning, d, seq));
        }
        if let Some(refused) = self.other_trade(intent, sid, seq) {
            return Err(refused);
        }
        if !intent.asset.is_empty() && intent.asset != slot.asset {
            let mut d = detail_field("asset", &intent.asset);
            d.push(("slot_asset", (&slot.asset).into()));
            return Err(self.refuse(
                intent,
                Some(sid),
                D::InvalidIntent,
                KernelSeverity::Error,
                d,
                seq,
            ));
        }
        if intent.target_size > 0.0 && intent.target_size <= QTY_EPS {
            let mut d = detail_field("target_size", intent.target_size);
            d.push(("reason", Detail::Static(TOO_SMALL)));
            return Err(self.refuse(
                intent,
                Some(sid),
                D::InvalidIntent,
                KernelSeverity::Error,
                d,
                seq,
            ));
        }
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
        let m = self.limits_for(&slot.asset);
        let side = slot.side.exit_order_side();
        if let Some(o) = self.limit_off_tick(intent, sid, &m, side, seq) {
            return Err(o);
        }
        let price = Self::order_price(intent, &m, side);
        let whole = whole_position(size, m.lot_step);
        let mut qty = if (leg_qty - size).abs() <= QTY_EPS {
            whole
        } else {
            round_down_to_step(leg_qty, m.lot_step)
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
        if rest > QTY_EPS && (Self::below_floor(&m, round_down_to_step(rest, m.lot_step), price)) {
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
        // Venues take a reduce-only exit closing the whole position below their minimum
        // notional: refused, a position whose price fell under it could never be closed. One
        // the netted position does not cover goes out plain, and the floor applies to it as
        // to any order.
        let reduce_only = self.exit_reduces(sid, side, qty);
        let below = if qty + QTY_EPS >= size && reduce_only {
            Self::below_min_qty(&m, qty)
        } else {
            Self::below_floor(&m, qty, price)
        };
        if below {
            let at = (price, Self::price_source(intent));
            return Err(self.below_floor_outcome(intent, sid, &m, qty, at, seq));
        }
        let trade_id = slot.trade_id.clone();
        if let Some(o) = self.check_rate(intent, sid, seq) {
            return Err(o);
        }
        out.reset_ok(intent.slot_id, trade_id, stage, seq);
        let reduce_only = Some(reduce_only);
        self.new_order(intent, sid, side, qty, reduce_only, &m, &mut out.submit);
        let held = Ctx {
            holds_position: true,
        };
        out.details.append(&mut details);
        self.send_order(sid, Trigger::Exit, held, intent, out);
        let slot = &mut self.slots[sid];
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
        Ok(())
    }

    /// The refusal of an EXIT or a CANCEL naming another trade than the one
    /// slot `sid` holds: a strategy's stale or foreign slot id must not close or cancel
    /// what another trade opened. An empty trade id names the slot's trade.
    #[inline(always)]
    pub(super) fn other_trade(
        &self,
        intent: &Intent,
        sid: usize,
        seq: u64,
    ) -> Option<KernelOutcome> {
        let slot = &self.slots[sid];
        if intent.trade_id.is_empty() || intent.trade_id == slot.trade_id {
            return None;
        }
        Some(self.other_trade_refusal(intent, sid, seq))
    }

    #[cold]
    #[inline(never)]
    pub(super) fn other_trade_refusal(
        &self,
        intent: &Intent,
        sid: usize,
        seq: u64,
    ) -> KernelOutcome {
        let slot = &self.slots[sid];
        let mut d = detail_field("trade_id", &intent.trade_id);
        d.push(("slot_trade_id", (&slot.trade_id).into()));
        self.refuse(
            intent,
            Some(sid),
            KernelDiagnosticCode::InvalidIntent,
            KernelSeverity::Error,
            d,
            seq,
        )
    }

    pub(super) fn cancel(&mut self, intent: &Intent, seen: bool, seq: u64) -> KernelOutcome {
        let sid = match self.check_intent(intent, seen, seq) {
            Ok(s) => s,
            Err(o) => return o,
        };
        let stage = self.slots[sid].fsm_state;
        if !fsm::CANCELLABLE.contains(&stage) || self.slots[sid].active_order().is_none() {
            if let Some(order) = self.ended.in_doubt(sid, None).cloned() {
                return self.cancel_in_doubt(intent, sid, order, seq);
            }
            let d = vec![
                ("fsm_state", Detail::Static(stage.name())),
                ("reason", Detail::Static("no working order to cancel")),
            ];
            return self.refuse(
                intent,
                Some(sid),
                KernelDiagnosticCode::InvalidTransition,
                KernelSeverity::Warning,
                d,
                seq,
            );
        }
        if let Some(refused) = self.other_trade(intent, sid, seq) {
            return refused;
        }
        let trade_id = self.slots[sid].trade_id.clone();
        let order = {
            let o = self.slots[sid].active_order_mut().expect("checked above");
            o.cancel_requested = true;
            o.clone()
        };
        let mut out = KernelOutcome::ok(intent.slot_id, trade_id, stage, seq);
        let ctx = Ctx {
            holds_position: self.slots[sid].size > QTY_EPS,
        };
        let d = TransitionDetails::Cancel {
            client_order_id: order.client_order_id.clone(),
        };
        self.transition(
            &mut out,
            sid,
            Trigger::CancelRequest,
            ctx,
            intent.timestamp,
            &intent.intent_id,
            &id(""),
            d,
        );
        self.counters.cancels_requested += 1;
        out.cancels.push(order);
        out
    }

    /// A CANCEL on a slot whose `order` is in doubt: its cancel may have been the request the
    /// venue throttled, so it is asked again (`cancels`), the slot's stage kept, rather than
    /// refused while the order may still fill at the venue. The venue's answer ends the doubt
    /// (a cancel ack) or leaves it to `reconcile_with_venue` (a reject: the venue may never
    /// have had it, or it filled).
    #[cold]
    pub(super) fn cancel_in_doubt(
        &mut self,
        intent: &Intent,
        sid: usize,
        order: VenueOrder,
        seq: u64,
    ) -> KernelOutcome {
        if let Some(refused) = self.other_trade(intent, sid, seq) {
            return refused;
        }
        let slot = &self.slots[sid];
        let mut out = KernelOutcome::ok(intent.slot_id, slot.trade_id.clone(), slot.fsm_state, seq);
        out.severity = KernelSeverity::Warning;
        out.details
            .push(("client_order_id", (&order.client_order_id).into()));
        out.details.push(("order_in_doubt", Detail::Bool(true)));
        out.details
            .push(("reason", Detail::Static(CANCEL_IN_DOUBT)));
        self.counters.cancels_requested += 1;
        out.cancels.push(order);
        out
    }

    /// The refusal of a new order on a slot waiting for fills the venue said happened (see
    /// `EndedOrders::awaited`): entered or exited now, the slot would be sized on a position
    /// the venue does not hold, and a new trade would forget the order the fill is for.
    /// `is_entry`: whose wait refuses it (the entry's or the exit's, or either with `None`).
    #[cold]
    pub(super) fn awaiting_refusal(
        &self,
        intent: &Intent,
        sid: usize,
        owed: f64,
        is_entry: Option<bool>,
        seq: u64,
    ) -> KernelOutcome {
        let mut d = vec![
            ("field", Detail::Static("slot_id")),
            ("value", Detail::I64(sid as i64)),
            ("slot_id", Detail::I64(sid as i64)),
            ("awaited_fill_qty", Detail::F64(owed)),
        ];
        match self.ended.in_doubt(sid, is_entry) {
            Some(o) if owed <= 0.0 => {
                d.push(("client_order_id", (&o.client_order_id).into()));
                d.push(("reason", Detail::Static(IN_DOUBT)));
            }
            _ => d.push((
                "reason",
                Detail::Static(
                    "the venue reported fills of the slot's last order that have not come; \
                     wait for them, or reconcile_with_venue",
                ),
            )),
        }
        self.refuse(
            intent,
            Some(sid),
            KernelDiagnosticCode::SlotBusy,
            KernelSeverity::Warning,
            d,
            seq,
        )
    }
}
