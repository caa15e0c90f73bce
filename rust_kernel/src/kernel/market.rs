//! Market data, control and configuration: mark prices, the edge freeze, the control mode and
//! journal verbosity, exchange fees, seed capital, market rules and risk limits.

use super::*;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub mode: ControlMode,
    pub verbosity: Verbosity,
    pub debug_clickhouse_enabled: bool,
    pub source: String,
    pub frozen: bool,
    pub freeze_reason: String,
    pub freeze_asset: String,
    pub freeze_events: u64,
    pub updated_seq: u64,
    /// When (epoch seconds, 0.0 before any) and by whom (`source`) the mode was last set: a
    /// checkpoint part of its own, so a control plane can tell an entry older than the mode.
    #[serde(skip)]
    pub mode_set_at: f64,
    #[serde(skip)]
    pub mode_set_by: String,
}

impl Control {
    /// Names `asset`, its edge `edge_bps` below `threshold`, as what holds the edge freeze.
    pub(super) fn freeze_for(&mut self, asset: &str, edge_bps: f64, threshold: f64) {
        self.freeze_reason = format!("edge {edge_bps:.4} bps below threshold {threshold:.4} bps");
        self.freeze_asset = asset.to_string();
    }

    /// Lifts the edge freeze.
    pub(super) fn lift_freeze(&mut self) {
        self.frozen = false;
        self.freeze_reason.clear();
        self.freeze_asset.clear();
    }
}

impl Default for Control {
    fn default() -> Self {
        Control {
            mode: ControlMode::Paper,
            verbosity: Verbosity::Normal,
            debug_clickhouse_enabled: true,
            source: "default".into(),
            frozen: false,
            freeze_reason: String::new(),
            freeze_asset: String::new(),
            freeze_events: 0,
            updated_seq: 0,
            mode_set_at: 0.0,
            mode_set_by: String::new(),
        }
    }
}

/// Why a subnormal mark is refused: a mark is above 0, so unlike an order's price it has no 0
/// that means none.
const SUBNORMAL_MARK: &str =
    "must be at least 2.2250738585072014e-308 (the smallest normal float): a subnormal \
     price has lost its precision, and a position's value at it rounds to 0";

/// A mark price as [`Kernel::mark_price`] takes one: finite, positive, within the bound and
/// not subnormal.
pub fn check_mark_price(price: f64) -> KernelResult<()> {
    if !price.is_finite() || price <= 0.0 {
        return Err(KernelError::invalid(
            "price",
            format_number(price),
            "must be a finite positive number",
        ));
    }
    check_number("price", price, 0.0)?;
    if is_subnormal(price) {
        return Err(KernelError::invalid(
            "price",
            format_number(price),
            SUBNORMAL_MARK,
        ));
    }
    Ok(())
}

impl Kernel {
    pub fn mark_price(&mut self, asset: &str, price: f64, ts: f64) -> KernelResult<usize> {
        check_asset(asset)?;
        check_mark_price(price)?;
        check_timestamp("timestamp", ts)?;
        self.seq += 1;
        self.account.note_input_time(ts);
        match self.marks.get_mut(asset) {
            Some(m) => *m = price,
            None => {
                self.marks.insert(id(asset), price);
            }
        }
        let Some(set) = self.open_by_asset.get(asset) else {
            return Ok(0);
        };
        let mut n = 0;
        for i in set.iter() {
            let s = &mut self.slots[i];
            s.mark_price = price;
            s.unrealized_pnl = s.side.sign() * (price - s.entry_price) * s.size;
            if self.dirty.enabled && !self.dirty.flags[i] {
                self.dirty.flags[i] = true;
                self.dirty.slots.push(i);
            }
            n += 1;
        }
        self.dirty.account |= n > 0 && self.dirty.enabled;
        Ok(n)
    }

    /// The measured edge of `asset` changed. Below the configured threshold the kernel
    /// freezes (entries refused) and asks to cancel every working order.
    pub fn on_edge_update(
        &mut self,
        asset: &str,
        edge_bps: f64,
        ts: f64,
    ) -> KernelResult<KernelOutcome> {
        // An asset as `mark_price` takes one: a blank one would freeze the kernel naming none.
        check_asset(asset)?;
        check_number("edge_bps", edge_bps, -MAX_MAGNITUDE)?;
        check_timestamp("timestamp", ts)?;
        self.seq += 1;
        let was_frozen = self.control.frozen;
        match self.last_edges.get_mut(asset) {
            Some(e) => *e = edge_bps,
            None => {
                self.last_edges.insert(id(asset), edge_bps);
            }
        }
        let mut out = self.simple_outcome();
        let Some(threshold) = self.risk.edge_freeze_threshold_bps else {
            return Ok(out);
        };
        if edge_bps < threshold {
            if !self.control.frozen {
                self.control.frozen = true;
                self.control.freeze_events += 1;
                self.control.freeze_for(asset, edge_bps, threshold);
                self.dirty.control = true;
                out.details.push(("frozen", Detail::Bool(true)));
                self.cancel_orders_in_doubt(&mut out);
            }
            // Cancel every working order (repeat requests are harmless; venues answer them).
            let mut ids: Vec<usize> = self.by_client_id.values().copied().collect();
            ids.sort_unstable();
            ids.dedup();
            for sid in ids {
                self.ask_to_cancel_working(&mut out, sid, ts, EDGE_FREEZE_CANCEL);
            }
        } else if self.control.frozen && self.control.freeze_asset == asset {
            // Another asset's edge still below keeps the freeze, naming it.
            if let Some((below, edge)) = self.edge_below(threshold, asset) {
                self.control.freeze_for(&below, edge, threshold);
            } else {
                self.control.lift_freeze();
                out.details.push(("frozen", Detail::Bool(false)));
            }
            self.dirty.control = true;
        }
        if self.control.frozen != was_frozen && self.outbox.enabled {
            self.outbox.record_freeze(out.seq, ts, &self.control);
        }
        self.outbox.record_transitions(&out);
        Ok(out)
    }

    /// An asset whose last edge is below `threshold`, with that edge: `prefer` if its is,
    /// else the first by name.
    fn edge_below(&self, threshold: f64, prefer: &str) -> Option<(Id, f64)> {
        let below = |(_, edge): &(&Id, &f64)| **edge < threshold;
        (self.last_edges.get_key_value(prefer).filter(below))
            .or_else(|| self.last_edges.iter().find(below))
            .map(|(asset, &edge)| (asset.clone(), edge))
    }

    /// Asks again to cancel every order in doubt (rate limited before its ack, a cancel asked):
    /// such an order may still work at the venue, and a freeze cancels all that may.
    fn cancel_orders_in_doubt(&mut self, out: &mut KernelOutcome) {
        if self.ended.in_doubt_count == 0 {
            return;
        }
        let in_doubt: Vec<VenueOrder> = (self.kept_orders(|key, kept| kept.in_doubt && !key.2))
            .into_iter()
            .cloned()
            .collect();
        self.counters.cancels_requested += in_doubt.len() as u64;
        out.cancels.extend(in_doubt);
    }

    pub fn update_control(
        &mut self,
        mode: Option<ControlMode>,
        verbosity: Option<Verbosity>,
        debug: Option<bool>,
        source: &str,
        ts: f64,
    ) {
        let seq = self.next_seq();
        if let Some(m) = mode {
            self.control.mode = m;
            self.control.mode_set_at = ts;
            self.control.mode_set_by = source.to_string();
        }
        if let Some(v) = verbosity {
            self.control.verbosity = v;
            self.outbox.verbosity = v;
        }
        if let Some(d) = debug {
            self.control.debug_clickhouse_enabled = d;
        }
        self.control.source = source.to_string();
        self.control.updated_seq = seq;
        self.dirty.control = true;
        let was_journaling = self.outbox.enabled;
        self.sync_outbox_gate();
        // The change turning journaling off is journaled too: a reader of the journal learns
        // that its rows stop there (fills included), not only that they start again.
        if self.outbox.enabled || was_journaling {
            let row = ControlRow {
                ts,
                mode: self.control.mode,
                verbosity: self.control.verbosity,
                debug_clickhouse_enabled: self.control.debug_clickhouse_enabled,
                source: source.to_string(),
            };
            self.outbox.record_control(seq, &row);
        }
    }

    /// `update_control` while the kernel runs `running`, the mode its caller read before
    /// deciding: a change made between that read and this call is not overwritten. Whether
    /// it applied; one that did not changes nothing, its sequence number and journal row
    /// included.
    pub fn update_control_if_mode(
        &mut self,
        running: ControlMode,
        mode: Option<ControlMode>,
        verbosity: Option<Verbosity>,
        debug: Option<bool>,
        source: &str,
        ts: f64,
    ) -> bool {
        if self.control.mode != running {
            return false;
        }
        self.update_control(mode, verbosity, debug, source, ts);
        true
    }

    pub(super) fn sync_outbox_gate(&mut self) {
        self.outbox.enabled = self.journal_attached && self.control.debug_clickhouse_enabled;
        self.outbox.verbosity = self.control.verbosity;
    }

    /// Whether a journal is attached (the control plane may still hold journaling off).
    pub fn journal_attached(&self) -> bool {
        self.journal_attached
    }

    /// Journals every intent and transition from here, whatever the control says: NORMAL
    /// verbosity at least, with journaling on while a journal is attached. The control itself
    /// is unchanged, and its next change sets the gate again (a replay for an audit).
    pub fn journal_every_intent(&mut self) {
        self.outbox.enabled = self.journal_attached;
        if self.outbox.verbosity == Verbosity::Quiet {
            self.outbox.verbosity = Verbosity::Normal;
        }
    }

    pub fn set_journal_enabled(&mut self, enabled: bool) {
        self.journal_attached = enabled;
        self.sync_outbox_gate();
    }

    pub fn set_projection_enabled(&mut self, enabled: bool) {
        let n = self.slots.len();
        self.dirty = Dirty {
            enabled,
            flags: vec![false; if enabled { n } else { 0 }],
            ..Dirty::default()
        };
        if enabled {
            self.dirty.account = true;
            self.dirty.control = true;
        }
    }

    pub fn set_exchange_config(&mut self, fields: &[(String, f64)]) -> KernelResult<()> {
        let next = self.fees.config.with_updates(fields)?;
        self.seq += 1;
        self.fees.config = next;
        Ok(())
    }

    pub fn set_seed_capital(&mut self, capital: f64) -> KernelResult<()> {
        check_number("capital", capital, 0.0)?;
        self.seq += 1;
        self.account.seed_capital = capital;
        self.account.bump(self.account.last_update_time);
        self.dirty.account = true;
        Ok(())
    }

    pub fn set_market_limits(&mut self, asset: &str, fields: &[(String, f64)]) -> KernelResult<()> {
        check_asset(asset)?;
        let m = MarketLimits::from_fields(fields)?;
        self.seq += 1;
        self.market_limits.insert(id(asset), m);
        Ok(())
    }

    pub fn risk_updates(&self, updates: &[(String, ConfigValue)]) -> KernelResult<RiskLimits> {
        self.risk.with_updates(updates)
    }

    pub fn set_risk_limits(&mut self, limits: RiskLimits) {
        self.seq += 1;
        // Every asset's last edge is judged against the new threshold (none while the rule is
        // off): the freeze holds naming an asset below, the one that froze it first, or lifts.
        // Entries are refused at once; working orders are asked to cancel by the next edge
        // update below (a limit change answers with nothing to send).
        let threshold = limits.edge_freeze_threshold_bps;
        let was_frozen = self.control.frozen;
        let holding = threshold.and_then(|t| self.edge_below(t, &self.control.freeze_asset));
        match (holding, threshold) {
            (Some((below, edge)), Some(threshold)) => {
                if !self.control.frozen {
                    self.control.frozen = true;
                    self.control.freeze_events += 1;
                }
                self.control.freeze_for(&below, edge, threshold);
                self.dirty.control = true;
            }
            _ if self.control.frozen => {
                self.control.lift_freeze();
                self.dirty.control = true;
            }
            _ => {}
        }
        // A limit change carries no time of its own: the row takes the latest input's.
        if self.control.frozen != was_frozen && self.outbox.enabled {
            self.outbox
                .record_freeze(self.seq, self.account.input_time, &self.control);
        }
        self.risk = limits;
    }
}
