//! Account events: FILL_SETTLED (the exchange's fee replaces the predicted one), FUNDING_FEE
//! and ACCOUNT_UPDATE (the E side of the account), and fee calibration samples.

use super::*;

/// Says, into `out`, which of an account event's figures `figures` are (`keys.0`, their names)
/// and the latest time the account's were taken at (`keys.1`); false when there are none.
pub(super) fn describe_figures(
    figures: &[StaleFigure],
    keys: (&'static str, &'static str),
    out: &mut KernelOutcome,
) -> bool {
    if figures.is_empty() {
        return false;
    }
    let names: Vec<&str> = figures.iter().map(|s| E_FIGURES[s.index]).collect();
    let latest = figures.iter().map(|s| s.held_at).fold(f64::MIN, f64::max);
    out.details.push((keys.0, Detail::Str(names.join(", "))));
    out.details.push((keys.1, Detail::F64(latest)));
    true
}

/// The refusal of an account event: no slot's.
#[cold]
pub(super) fn account_refusal(
    code: KernelDiagnosticCode,
    severity: KernelSeverity,
    details: Details,
    seq: u64,
) -> KernelOutcome {
    KernelOutcome::refused(-1, id(""), TradeStage::Idle, code, severity, details, seq)
}

/// Whether `ev`'s fields are ones the kernel takes: an id, finite numbers within bounds, and
/// each figure in the field of its kind. A FUNDING_FEE's payment is its `amount` and a
/// FILL_SETTLED's charge its `fee`, each reading only its own: a figure in the other field
/// would be lost. An ACCOUNT_UPDATE carrying either is refused too, so a deposit or charge
/// reported so is not dropped. Only a FILL_SETTLED says its fill's predicted fee stands, and
/// then it carries no fee of its own.
pub fn check_account_event_fields(ev: &AccountEvent, seq: u64) -> Result<(), KernelOutcome> {
    use KernelDiagnosticCode as D;
    let invalid = |d| {
        Err(account_refusal(
            D::InvalidIntent,
            KernelSeverity::Error,
            d,
            seq,
        ))
    };
    if !plain_start(&ev.event_id) {
        if ev.event_id.is_empty() {
            return invalid(detail_field("event_id", Detail::Static("")));
        }
        if let Some(why) = flawed_id(&ev.event_id) {
            let mut d = detail_field("event_id", quoted_id(&ev.event_id));
            d.push(("reason", Detail::Static(why)));
            return invalid(d);
        }
    }
    // Given, they name a fill or an asset, as ids of other input do: one of only whitespace
    // (or an asset "BTC ") would be held waiting for a fill no venue makes.
    let flaws = [
        ("fill_id", &ev.fill_id, flawed_id(&ev.fill_id)),
        ("asset", &ev.asset, flawed_asset(&ev.asset)),
    ];
    for (field, id, flaw) in flaws {
        if let Some(why) = flaw {
            let mut d = detail_field(field, quoted_id(id));
            d.push(("reason", Detail::Static(why)));
            return invalid(d);
        }
    }
    let checks = [
        ("amount", Some(ev.amount), false),
        ("fee", Some(ev.fee), false),
        ("timestamp", Some(ev.timestamp), true),
        ("wallet_balance", ev.wallet_balance, false),
        ("available_margin", ev.available_margin, true),
        ("used_margin", ev.used_margin, true),
        ("maint_margin", ev.maint_margin, true),
    ];
    for (field, v, non_negative) in checks {
        let reason = if non_negative {
            "must be a finite, non-negative number"
        } else {
            "must be a finite number"
        };
        if let Some(d) = v.and_then(|v| number_refusal(field, v, non_negative, reason)) {
            return invalid(d);
        }
    }
    if let Some(why) = timestamp_flaw(ev.timestamp) {
        let mut d = detail_field("timestamp", Detail::F64(ev.timestamp));
        d.push(("reason", Detail::Static(why)));
        return invalid(d);
    }
    const UPDATE_FIGURES: &str =
        "ACCOUNT_UPDATE carries balance and margin figures only: a payment is a FUNDING_FEE's \
         amount, a fill's charge a FILL_SETTLED's fee";
    let misplaced = match ev.kind {
        AccountEventKind::FundingFee if ev.fee != 0.0 => Some((
            "fee",
            ev.fee,
            "FUNDING_FEE carries its payment in amount (positive received, negative paid)",
        )),
        AccountEventKind::FillSettled if ev.amount != 0.0 => Some((
            "amount",
            ev.amount,
            "FILL_SETTLED carries the fee the exchange charged in fee",
        )),
        AccountEventKind::AccountUpdate if ev.amount != 0.0 => {
            Some(("amount", ev.amount, UPDATE_FIGURES))
        }
        AccountEventKind::AccountUpdate if ev.fee != 0.0 => Some(("fee", ev.fee, UPDATE_FIGURES)),
        _ => None,
    };
    if let Some((field, value, reason)) = misplaced {
        let mut d = detail_field(field, value);
        d.push(("reason", Detail::Static(reason)));
        return invalid(d);
    }
    if ev.predicted_fee_stands && ev.kind != AccountEventKind::FillSettled {
        let mut d = detail_field("predicted_fee_stands", true);
        d.push(("kind", Detail::Static(ev.kind.name())));
        d.push((
            "reason",
            Detail::Static("only a FILL_SETTLED says its fill's predicted fee stands"),
        ));
        return invalid(d);
    }
    if ev.predicted_fee_stands && ev.fee != 0.0 {
        let mut d = detail_field("fee", ev.fee);
        d.push((
            "reason",
            Detail::Static(
                "a FILL_SETTLED whose predicted fee stands carries no fee: the kernel's \
                 prediction is the fill's fee",
            ),
        ));
        return invalid(d);
    }
    Ok(())
}

/// Whether ACCOUNT_UPDATE `ev`, carrying `figures`, is news: some figure, not every one older
/// than the one held (`judged.stale`: resent once its id was forgotten, or overtaken).
pub(super) fn check_account_update(
    ev: &AccountEvent,
    figures: &Figures,
    judged: &JudgedFigures,
    seq: u64,
) -> Result<(), KernelOutcome> {
    use KernelDiagnosticCode as D;
    if figures.iter().all(Option::is_none) {
        let mut d = detail_field("wallet_balance", Detail::Static("None"));
        d.push((
            "reason",
            Detail::Static("ACCOUNT_UPDATE carries no balance or margin figure"),
        ));
        return Err(account_refusal(
            D::InvalidIntent,
            KernelSeverity::Error,
            d,
            seq,
        ));
    }
    let (stale, carried) = (&judged.stale, figures.iter().flatten().count());
    if let Some(s) = stale.first().filter(|_| stale.len() == carried) {
        let mut d = detail_field(E_FIGURES[s.index], s.value);
        d.push(("last_value", Detail::F64(s.held)));
        d.push(("timestamp", Detail::F64(ev.timestamp)));
        d.push(("last_timestamp", Detail::F64(s.held_at)));
        d.push((
            "reason",
            Detail::Static(
                "stamped before the event the account's figure was taken from: \
                 the venue has reported a newer one",
            ),
        ));
        return Err(account_refusal(
            D::DuplicateEvent,
            KernelSeverity::Info,
            d,
            seq,
        ));
    }
    Ok(())
}

impl Kernel {
    pub fn on_account_event(&mut self, ev: &AccountEvent) -> KernelOutcome {
        let seq = self.next_seq();
        self.counters.account_events += 1;
        let mut fee_charged = None;
        let out = self.account_event(ev, seq, &mut fee_charged);
        // Refused events too (a FILL_SETTLED of a fill settled already, a duplicate, a bad
        // value): whoever debugs a K/E mismatch sees the exchange's fact arrived and why it
        // was not applied. The account columns are the account as it stands.
        if self.outbox.enabled {
            let r = self.account.reconcile();
            let row = AccountRow {
                ts: ev.timestamp,
                event_id: ev.event_id.clone(),
                kind: ev.kind,
                asset: ev.asset.clone(),
                amount: ev.amount,
                fee: ev.fee,
                fill_id: ev.fill_id.clone(),
                wallet_balance: ev.wallet_balance,
                available_margin: ev.available_margin,
                used_margin: ev.used_margin,
                maint_margin: ev.maint_margin,
                k_capital: self.account.k_capital(),
                reconcile_status: r.status.name(),
                reconcile_delta: r.delta,
                accepted: out.accepted,
                diagnostic_code: out.diagnostic_code,
                fee_charged,
            };
            self.outbox.record_account(seq, &row);
        }
        out
    }

    /// Applies `ev`; `fee_charged` is set to what an accepted FILL_SETTLED charged its fill
    /// (for the journal's row) and left None otherwise.
    pub(super) fn account_event(
        &mut self,
        ev: &AccountEvent,
        seq: u64,
        fee_charged: &mut Option<f64>,
    ) -> KernelOutcome {
        if let Err(refused) = check_account_event_fields(ev, seq) {
            return refused;
        }
        if let Err(refused) = self.check_account_event_is_new(ev, seq) {
            return refused;
        }
        let mut out = KernelOutcome::ok(-1, id(""), TradeStage::Idle, seq);
        let figures = [
            ev.wallet_balance,
            ev.available_margin,
            ev.used_margin,
            ev.maint_margin,
        ];
        // E goes forward in the venue's time, figure by figure: an ACCOUNT_UPDATE resent once
        // the id memory forgot it would bring back a balance reported long ago.
        let judged = self.account.judge_figures(&figures, ev.timestamp);
        let applied = match ev.kind {
            AccountEventKind::FillSettled => {
                self.apply_fill_settled(ev, seq, &mut out, fee_charged)
            }
            AccountEventKind::FundingFee => {
                self.account.k_funding_net += ev.amount;
                Ok(())
            }
            AccountEventKind::AccountUpdate => check_account_update(ev, &figures, &judged, seq),
        };
        if let Err(refused) = applied {
            return refused;
        }
        self.take_account_figures(ev, figures, judged, &mut out);
        if ev.kind != AccountEventKind::AccountUpdate {
            self.remember_money_event(ev);
        } else {
            self.account_events_seen.insert(ev.event_id.clone());
        }
        self.account.bump(ev.timestamp);
        self.dirty.account = true;
        let r = self.account.reconcile();
        out.details
            .push(("reconcile_status", Detail::Static(r.status.name())));
        out.details.push(("reconcile_delta", Detail::F64(r.delta)));
        out
    }

    /// Whether `ev` is news: an id neither memory holds (the payments' and settlements' ids
    /// are kept apart from the balance updates', which come far more often and would push
    /// them out), and, for a payment whose id the memory forgot, a time after it.
    pub(super) fn check_account_event_is_new(
        &self,
        ev: &AccountEvent,
        seq: u64,
    ) -> Result<(), KernelOutcome> {
        use KernelDiagnosticCode as D;
        if self.account_events_seen.contains(&ev.event_id)
            || self.money_events_seen.contains(&ev.event_id)
        {
            let d = detail_field("event_id", &ev.event_id);
            return Err(account_refusal(
                D::DuplicateEvent,
                KernelSeverity::Info,
                d,
                seq,
            ));
        }
        // A payment whose id the memory forgot is known by its time.
        if ev.kind == AccountEventKind::FundingFee {
            if let Some(at) = self.funding_times.forgotten(&ev.event_id, ev.timestamp) {
                let mut d = detail_field("event_id", &ev.event_id);
                d.push(("timestamp", Detail::F64(ev.timestamp)));
                d.push(("forgotten_payment_time", Detail::F64(at)));
                d.push((
                    "reason",
                    Detail::Static(
                        "stamped before a funding payment booked long ago (or at its time, \
                         under its id), whose id is no longer remembered: a resend",
                    ),
                ));
                return Err(account_refusal(
                    D::DuplicateEvent,
                    KernelSeverity::Info,
                    d,
                    seq,
                ));
            }
        }
        Ok(())
    }

    /// A FILL_SETTLED: the exchange's fee replaces the fill's predicted one, or the prediction
    /// stands ([`Kernel::settle_fill`], saying so in `out`; `fee_charged`: what it charged), or,
    /// with no fill of its id and asset waiting, it is held for its fill; refused when its fill
    /// was settled, or booked with its venue's own fee, already. One saying the prediction
    /// stands while both sides of a self-trade wait is held for the other side's: naming no fee,
    /// it cannot tell the sides apart ([`Kernel::settle_other_side`]).
    pub(super) fn apply_fill_settled(
        &mut self,
        ev: &AccountEvent,
        seq: u64,
        out: &mut KernelOutcome,
        fee_charged: &mut Option<f64>,
    ) -> Result<(), KernelOutcome> {
        use KernelDiagnosticCode as D;
        let refuse = |code, sev, d| Err(account_refusal(code, sev, d, seq));
        if ev.fill_id.is_empty() {
            let d = detail_field("fill_id", Detail::Static(""));
            return refuse(D::InvalidIntent, KernelSeverity::Error, d);
        }
        let fee = SettledFee::of(ev);
        if fee == SettledFee::Prediction && self.standing_waits_for_a_side(ev) {
            return match self.hold_for_a_side(ev, out) {
                Some(d) => refuse(D::DuplicateEvent, KernelSeverity::Info, d),
                None => Ok(()),
            };
        }
        match self.settle_fill(&ev.fill_id, &ev.asset, fee, &mut out.details) {
            Ok(charged) => {
                *fee_charged = Some(charged);
                self.early_settlements.settled(&ev.fill_id, &ev.asset, fee);
                if !self.early_settlements.held.is_empty() {
                    self.settle_other_side(ev, seq, out);
                }
                Ok(())
            }
            Err(Unmatched::Ambiguous) => {
                let mut d = detail_field("asset", &ev.asset);
                d.push(("fill_id", (&ev.fill_id).into()));
                d.push((
                    "reason",
                    Detail::Static(
                        "fills of several assets wait under this fill id (venues \
                         number trades per market): name the fill's asset",
                    ),
                ));
                refuse(D::InvalidIntent, KernelSeverity::Error, d)
            }
            Err(Unmatched::NoFill) => self.unmatched_settlement(ev, seq, out),
        }
    }

    /// A FILL_SETTLED no waiting fill matches: refused when its fill was booked with its
    /// venue's own fee or settled already at its fee, else held for its fill (the venue's account
    /// stream ran ahead, or a self-trade's other side is still to come), unless one of the same
    /// fill is held already. The exchange's fee after a fill's prediction stood is held too: it
    /// may be the other side's, booked after.
    pub(super) fn unmatched_settlement(
        &mut self,
        ev: &AccountEvent,
        seq: u64,
        out: &mut KernelOutcome,
    ) -> Result<(), KernelOutcome> {
        use KernelDiagnosticCode as D;
        let refuse = |code, sev, d| Err(account_refusal(code, sev, d, seq));
        let key = settled_key(&ev.fill_id, &ev.asset);
        let settled = &self.early_settlements.settled;
        // A fill booked with its venue's own fee has nothing to settle.
        if settled.contains(&booked_with_fee_key(key)) {
            let mut d = detail_field("fill_id", &ev.fill_id);
            d.push(("asset", (&ev.asset).into()));
            d.push((
                "reason",
                Detail::Static(
                    "the fill was booked with its venue's own fee: nothing waits for \
                     a settlement",
                ),
            ));
            return refuse(D::DuplicateEvent, KernelSeverity::Info, d);
        }
        // Settled at another fee, it may be a self-trade's other side, its fill still to come.
        if self.early_settlements.settled_at(key, SettledFee::of(ev)) {
            let mut d = detail_field("fill_id", &ev.fill_id);
            let reason = if !ev.asset.is_empty() {
                d.push(("asset", (&ev.asset).into()));
                "no unsettled fill with this id and asset (unknown or already \
                 settled)"
            } else {
                "no unsettled fill with this id (unknown or already settled)"
            };
            d.push(("reason", Detail::Static(reason)));
            return refuse(D::UnknownOrder, KernelSeverity::Warning, d);
        }
        if let Some(d) = self.hold_settlement(ev, out, HELD_FOR_ITS_FILL) {
            return refuse(D::DuplicateEvent, KernelSeverity::Info, d);
        }
        Ok(())
    }

    /// Takes `ev`'s `figures` for the account's E side, whatever the event (a funding message
    /// carries the balance after it), but those older than the account's (`judged.stale`: a
    /// payment polled late brings the balance of its time), saying in `out` which it left
    /// and which times it did not believe.
    pub(super) fn take_account_figures(
        &mut self,
        ev: &AccountEvent,
        figures: Figures,
        judged: JudgedFigures,
        out: &mut KernelOutcome,
    ) {
        let JudgedFigures {
            stale,
            over_time_ahead,
        } = judged;
        let mut taken = figures;
        for s in &stale {
            taken[s.index] = None;
        }
        self.account.take_figures(taken, ev.timestamp);
        describe_figures(&stale, ("figures_not_taken", "last_figure_time"), out);
        // A figure stamped far after every other input (milliseconds among seconds, a clock
        // hours ahead) gave way to this later report: the operator fixes the venue's stamps.
        let keys = ("figures_time_not_believed", "figure_time_ahead");
        if describe_figures(&over_time_ahead, keys, out) {
            out.severity = KernelSeverity::Warning;
            out.details
                .push(("latest_input_time", Detail::F64(self.account.input_time)));
        }
    }

    /// Remembers the id of money event `ev`, a FUNDING_FEE's time too, and the time of a
    /// payment whose id the memory forgets ([`FundingTimes`]).
    pub(super) fn remember_money_event(&mut self, ev: &AccountEvent) {
        if self.money_events_seen.len() >= MONEY_EVENT_MEMORY {
            if let Some(oldest) = self.money_events_seen.iter().next() {
                let now = self.account.input_time;
                // With no input time yet (a kernel fed account events alone) nothing tells a
                // time stamped in milliseconds among seconds, which would refuse every later
                // payment: none is believed.
                let believed = |at: f64| now > 0.0 && at <= now + FIGURE_TIME_LEAD;
                self.funding_times.forget(oldest, believed);
            }
        }
        if ev.kind == AccountEventKind::FundingFee && ev.timestamp > 0.0 {
            self.funding_times
                .held
                .push_back((ev.event_id.clone(), ev.timestamp));
        }
        self.money_events_seen.insert(ev.event_id.clone());
    }

    pub fn calibrate_fee(
        &mut self,
        price: f64,
        qty: f64,
        actual_fee: f64,
        maker: bool,
    ) -> KernelResult<Calibration> {
        let liq = if maker {
            Liquidity::Maker
        } else {
            Liquidity::Taker
        };
        // Refused calibrations change nothing, not even the sequence (they are not logged).
        self.fees.check_comparable(price, qty, actual_fee, liq)?;
        let calibration = self.fees.calibrate(price, qty, actual_fee, liq)?;
        self.seq += 1;
        self.dirty.account = true; // the account shows the calibration
        Ok(calibration)
    }
}
