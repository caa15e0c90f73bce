//! Intents: the checks every intent meets, and the routing of each to ENTER (`enter`), EXIT
//! (`exit`) or CANCEL (`cancel`). An accepted intent builds its order (`orders`); a refused one
//! changes nothing but the sequence number.

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

/// Why a non-empty asset of new input is refused ([`asset_flaw`]): flawed as an id, or with
/// whitespace at either end. The common asset is passed after one look at each end.
#[inline]
pub(super) fn flawed_asset(text: &str) -> Option<&'static str> {
    if plain_start(text) && plain_end(text) {
        None
    } else {
        asset_flaw(text)
    }
}

/// An asset named by market data or market limits: not empty, nor flawed ([`flawed_asset`]).
pub(super) fn check_asset(asset: &str) -> KernelResult<()> {
    if asset.is_empty() {
        return Err(KernelError::invalid("asset", "''", "must not be empty"));
    }
    match flawed_asset(asset) {
        Some(why) => Err(KernelError::invalid("asset", format!("{asset:?}"), why)),
        None => Ok(()),
    }
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
/// size, leverage and limit within [0, `MAX_MAGNITUDE`], its prices not subnormal, its time within
/// [0, `LAST_DATETIME_SECOND`] (a bound of its own, `timestamp_flaw`). Such numbers pass the
/// field-by-field checks; any other is judged there, in the same order. Read as their bits: a
/// non-negative number's bits order as the number does, and a negative one (-0.0 too) has the
/// sign bit, as NaN has bits above infinity's, so each is above the bound's bits and goes to the
/// checks; a subnormal price's bits, less one, are below [`NORMAL_BITS_LESS_ONE`].
#[inline(always)]
pub(super) fn intent_numbers_in_bounds(intent: &Intent) -> bool {
    const MOST: u64 = MAX_MAGNITUDE.to_bits();
    let (reference, limit) = (
        intent.reference_price.to_bits(),
        intent.limit_price.to_bits(),
    );
    let most = reference
        .max(intent.target_size.to_bits())
        .max(intent.leverage.to_bits())
        .max(limit);
    let least_price = reference.wrapping_sub(1).min(limit.wrapping_sub(1));
    most <= MOST
        && least_price >= NORMAL_BITS_LESS_ONE
        && intent.timestamp.to_bits() <= LAST_DATETIME_SECOND.to_bits()
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
        let bad = |field, value, reason| Err(self.invalid_field(intent, field, value, reason, seq));
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
        // The usual numbers pass at one look (`intent_numbers_in_bounds`: within
        // [0, MAX_MAGNITUDE], the time within [0, infinity)); any others are judged field by
        // field.
        if !intent_numbers_in_bounds(intent) {
            if let Some(refused) = self.number_refusal_of_intent(intent, seq) {
                return Err(refused);
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

    /// The refusal of `intent` for its first number out of bounds, if any (what
    /// `check_intent` looks for when not all of them are plainly within bounds).
    #[cold]
    #[inline(never)]
    pub(super) fn number_refusal_of_intent(
        &self,
        intent: &Intent,
        seq: u64,
    ) -> Option<KernelOutcome> {
        let numbers = [
            ("reference_price", intent.reference_price),
            ("target_size", intent.target_size),
            ("leverage", intent.leverage),
            ("limit_price", intent.limit_price),
        ];
        let bad =
            |field, value, reason| Some(self.invalid_field(intent, field, value, reason, seq));
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
            if field.ends_with("_price") && is_subnormal(v) {
                return bad(field, Detail::F64(v), SUBNORMAL_PRICE);
            }
        }
        let ts = intent.timestamp;
        let why = timestamp_flaw(ts)?;
        let value = if ts.is_finite() {
            Detail::F64(ts)
        } else {
            Detail::Str(format!("{ts}"))
        };
        bad("timestamp", value, why)
    }

    /// An INVALID_INTENT refusal of `intent`'s `field`, whose `value` is refused for `reason`.
    #[cold]
    #[inline(never)]
    pub(super) fn invalid_field(
        &self,
        intent: &Intent,
        field: &'static str,
        value: Detail,
        reason: &'static str,
        seq: u64,
    ) -> KernelOutcome {
        let d = vec![
            ("field", Detail::Static(field)),
            ("value", value),
            ("reason", Detail::Static(reason)),
        ];
        let (code, severity) = (KernelDiagnosticCode::InvalidIntent, KernelSeverity::Error);
        self.refuse(intent, None, code, severity, d, seq)
    }

    /// The prices an ENTER or EXIT needs: a positive reference, a LIMIT order's limit, and no
    /// limit on a MARKET order (it would fill at market whatever the limit says).
    pub(super) fn check_order_prices(
        &self,
        intent: &Intent,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        let bad = |field, value, reason| {
            let value = Detail::F64(value);
            Err(self.invalid_field(intent, field, value, reason, seq))
        };
        if intent.reference_price <= 0.0 {
            return bad(
                "reference_price",
                intent.reference_price,
                "must be positive",
            );
        }
        if intent.order_type == OrderType::Limit && intent.limit_price <= 0.0 {
            let reason = "must be positive for a LIMIT order";
            return bad("limit_price", intent.limit_price, reason);
        }
        if intent.order_type == OrderType::Market && intent.limit_price > 0.0 {
            let reason = "is for LIMIT orders: a MARKET order fills at market whatever its limit \
                          (order_type defaults to MARKET); give order_type LIMIT, or leave \
                          limit_price at 0";
            return bad("limit_price", intent.limit_price, reason);
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
        let d = (
            ("trade_id", &intent.trade_id),
            ("slot_trade_id", &slot.trade_id),
        );
        Some(self.other_than_the_slots_refusal(intent, sid, d, seq))
    }

    /// The refusal of an intent naming another trade or asset than its slot's:
    /// `((field, given), (slot_field, the slot's))`.
    #[cold]
    #[inline(never)]
    pub(super) fn other_than_the_slots_refusal(
        &self,
        intent: &Intent,
        sid: usize,
        ((field, given), (slot_field, slots)): ((&'static str, &Id), (&'static str, &Id)),
        seq: u64,
    ) -> KernelOutcome {
        let mut d = detail_field(field, given);
        d.push((slot_field, slots.into()));
        self.refuse(
            intent,
            Some(sid),
            KernelDiagnosticCode::InvalidIntent,
            KernelSeverity::Error,
            d,
            seq,
        )
    }

    /// The refusal of an EXIT or a CANCEL naming another asset than `asset`, that of the
    /// order slot `sid` works or the position it holds: a stale slot id must not act on
    /// another market. An empty asset names the slot's.
    #[inline(always)]
    pub(super) fn other_asset(
        &self,
        intent: &Intent,
        sid: usize,
        asset: &Id,
        seq: u64,
    ) -> Option<KernelOutcome> {
        if intent.asset.is_empty() || intent.asset == *asset {
            return None;
        }
        let d = (("asset", &intent.asset), ("slot_asset", asset));
        Some(self.other_than_the_slots_refusal(intent, sid, d, seq))
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
