//! The kernel's side of orders kept after they ended: an order kept as it ends, its late ack,
//! the venue's or a reconciliation's end that settles what its slot waits for, the venue id it
//! learns, its slot held back from the free ones meanwhile, and what stays kept when slots are
//! loaded. Its own file as what changes slots and indexes around the memory in `ended_orders.rs`.

use super::*;

impl Kernel {
    /// The kept orders `wanted` picks, in slot order (exit before entry:
    /// [`EndedOrders::in_key_order`]).
    pub(super) fn kept_orders(
        &self,
        wanted: impl Fn(&KeptOrderKey, &KeptOrder) -> bool,
    ) -> Vec<&VenueOrder> {
        (self.ended.in_key_order().into_iter())
            .filter(|(k, kept)| wanted(k, kept))
            .map(|(_, kept)| &kept.order)
            .collect()
    }

    /// Keeps an order that ended (see [`EndedOrders`]), with what its reports covered while
    /// it worked, so its late fills are followed as its working fills were.
    pub(super) fn keep_order(&mut self, key: KeptOrderKey, kept: KeptOrder) {
        let covered = self
            .covered
            .get_mut(key.0)
            .and_then(|legs| legs[usize::from(!key.1)].take());
        let rounding = self.rounding(&kept.order);
        self.ended.keep(key, kept, rounding);
        if let Some(c) = covered {
            self.ended.covered.insert(key, c);
        }
    }

    /// Kept order `key` takes `figure` as what the venue says it filled in all (None: the
    /// figure it has stays), and its doubt ends: late fills may bring it up to that figure,
    /// and its slot waits for what of it is unbooked. The one place an end coming after the
    /// order ended (a reconciliation's, the venue's own) settles what its slot waits for.
    /// Returns the figure the order had.
    fn take_final_figure(&mut self, key: KeptOrderKey, figure: Option<f64>) -> Option<f64> {
        let kept = self.ended.get_mut(key).expect("kept orders are indexed");
        let before = kept.final_filled;
        if let Some(total) = figure {
            kept.final_filled = Some(total);
            kept.stated_total = 0.0;
        }
        kept.in_doubt = false;
        self.ended.note_owed(key);
        self.sync_free(key.0);
        self.dirty.slot(key.0);
        before
    }

    /// A reconciliation's end of an order kept after it ended: the venue's
    /// order status gives its filled size now, which becomes what late fills may reach. Below
    /// the end's figure (the end was wrong, or the fills it counted are booked), it ends the
    /// slot's wait for them.
    pub(super) fn settle_awaited(
        &mut self,
        ev: &VenueEvent,
        key: KeptOrderKey,
        seq: u64,
    ) -> KernelOutcome {
        let sid = key.0;
        let kept = self.ended.get(key).expect("kept orders are indexed");
        let booked = kept.order.filled_size;
        let total = ev.filled_size.max(booked).min(kept.order.size);
        let before = self.take_final_figure(key, Some(total));
        let mut out = self.slot_outcome(sid, seq);
        out.details.push(("venue_filled_size", Detail::F64(total)));
        if let Some(b) = before {
            out.details
                .push(("previous_final_filled_size", Detail::F64(b)));
        }
        out.details
            .push(("awaited_fill_qty", Detail::F64((total - booked).max(0.0))));
        out
    }

    /// The venue's own end (cancel ack, expiry, reject) of an order in doubt: what became of
    /// it is known. Its figure, when it gives one not below what is booked, bounds late fills
    /// as an end's does; without one, the slot waits for what its reports stated, as after any
    /// end without a figure. WARNING: the order was in doubt.
    pub(super) fn end_in_doubt(
        &mut self,
        ev: &VenueEvent,
        key: KeptOrderKey,
        seq: u64,
    ) -> KernelOutcome {
        let sid = key.0;
        let kept = self.ended.get(key).expect("kept orders are indexed");
        let booked = kept.order.filled_size;
        let figure = (ev.filled_size > 0.0 && ev.filled_size >= booked - kept.rounding)
            .then(|| ev.filled_size.min(kept.order.size));
        let coid = kept.order.client_order_id.clone();
        self.take_final_figure(key, figure);
        let mut out = self.slot_outcome(sid, seq);
        out.severity = KernelSeverity::Warning;
        out.details.push(("client_order_id", (&coid).into()));
        out.details
            .push(("venue_filled_size", Detail::F64(ev.filled_size)));
        out.details.push((
            "awaited_fill_qty",
            Detail::F64(self.ended.owed(sid, key.1).unwrap_or(0.0)),
        ));
        out.details.push(("reason", Detail::Static(IN_DOUBT_ENDED)));
        out
    }

    /// The venue's end (cancel ack, expiry, reject) of an order kept after it ended, come
    /// again (an order-status poll, a redelivered event). Stating more filled than is booked,
    /// beyond the venue's rounding, it gives the order's figure when it had none: the slot
    /// waits for the rest, WARNING with `unreported_qty`. Against another figure the order
    /// has, nothing changes: CRITICAL, the venue contradicts itself. Else a late event,
    /// refused at INFO.
    pub(super) fn apply_late_end(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        key: KeptOrderKey,
        seq: u64,
    ) -> KernelOutcome {
        let kept = self.ended.get(key).expect("kept orders are indexed");
        let (mut booked, rounding) = (kept.order.filled_size, kept.rounding);
        let figure = ev.filled_size.min(kept.order.size);
        let mut earlier = kept.final_filled;
        if kept.figure_by_load {
            // The loaded slot counts what its order's leg filled: an end up to that tells
            // nothing new; above it, the venue's figure is the first the order gets.
            let loaded = self.loaded_fill(key).max(booked);
            if figure <= loaded + rounding {
                return self.ended_order_refusal(ev, Some(sid), seq, FILL_AFTER_END);
            }
            let kept = self.ended.get_mut(key).expect("kept orders are indexed");
            kept.order.filled_size = loaded;
            kept.final_filled = None;
            kept.figure_by_load = false;
            (booked, earlier) = (loaded, None);
        }
        if figure <= booked + rounding || earlier.is_some_and(|f| (f - figure).abs() <= rounding) {
            return self.ended_order_refusal(ev, Some(sid), seq, FILL_AFTER_END);
        }
        let kept = self.ended.get(key).expect("kept orders are indexed");
        let coid = kept.order.client_order_id.clone();
        let mut d = vec![
            ("client_order_id", (&coid).into()),
            ("venue_filled_size", Detail::F64(ev.filled_size)),
            ("unreported_qty", Detail::F64(figure - booked)),
        ];
        if let Some(f) = earlier {
            d.push(("previous_final_filled_size", Detail::F64(f)));
            d.push(("reason", Detail::Static(LATE_END_CONTRADICTS)));
            let (code, sev) = (
                KernelDiagnosticCode::InvalidTransition,
                KernelSeverity::Critical,
            );
            return self.event_refusal(ev, Some(sid), code, sev, d, seq);
        }
        self.take_final_figure(key, Some(figure));
        let mut out = self.slot_outcome(sid, seq);
        out.severity = KernelSeverity::Warning;
        out.details.extend(d);
        out.details.push((
            "awaited_fill_qty",
            Detail::F64(self.ended.owed(sid, key.1).unwrap_or(0.0)),
        ));
        out.details
            .push(("reason", Detail::Static(LATE_END_FIGURE)));
        if !key.1 {
            // The exit sold more than was booked: a second exit may now work beyond what
            // the slot holds, as after the exit's late fill.
            self.cancel_exit_beyond_position(&mut out, sid, ev.timestamp);
        }
        out
    }

    /// What slot `key.0`, as loaded, holds as filled of kept order `key`'s leg (the entry's
    /// size held at most, or what the exits sold), within the order's size.
    fn loaded_fill(&self, key: KeptOrderKey) -> f64 {
        let slot = &self.slots[key.0];
        let leg = if key.1 {
            slot.initial_size
        } else {
            slot.initial_size - slot.size
        };
        leg.clamp(0.0, self.ended.get(key).map_or(0.0, |k| k.order.size))
    }

    /// Offers slot `sid` as free only if its stage is free and it waits for no fill the
    /// venue said happened (`EndedOrders::awaited`): a strategy asking for a free slot must
    /// not get one whose next trade would forget the order that fill is for.
    pub(super) fn sync_free(&mut self, sid: usize) {
        if fsm::is_free(self.slots[sid].fsm_state) {
            if self.ended.awaited(sid).is_some() {
                self.free.remove(sid);
            } else {
                self.free.insert(sid);
            }
        }
    }

    /// Whether an order that finished before carried venue id `v` (the venue reused it):
    /// an order kept with it then shares it, and it names none of them. Read from venue ids'
    /// own fingerprints: a venue id equal to a finished order's client id is no reuse.
    pub(super) fn venue_id_finished_before(&self, v: &Id) -> bool {
        !v.is_empty() && self.finished_orders.contains(&venue_fingerprint(v))
    }

    /// Whether venue id `vid` is a working order's, or a kept order's other than `key`.
    pub(super) fn venue_id_claimed_besides(&self, vid: &Id, key: KeptOrderKey) -> bool {
        self.by_venue_id.contains_key(vid) || self.ended.venue_id_claimed(vid, Some(key))
    }

    /// Kept order `key` learns its venue id `vid`, from a late fill or a late ack: later events may
    /// name the order by it alone, and it is known once forgotten, unless an order that finished
    /// before carried it too.
    pub(super) fn learn_kept_venue_id(&mut self, key: KeptOrderKey, vid: &Id) {
        if let Some(kept) = self.ended.get_mut(key) {
            kept.order.venue_order_id = vid.clone();
        }
        let reused = self.venue_id_finished_before(vid);
        self.ended.claim_venue_id(key, vid);
        self.finished_orders.insert(venue_fingerprint(vid));
        if reused {
            self.ended.finished_elsewhere(vid);
        }
    }

    /// The venue's ack of an order kept after it ended (its cancel throttled before the ack,
    /// or its end come first): it teaches the order its venue id when it has none, as a late
    /// fill does, so that fills naming the order by that id alone are booked. Otherwise a
    /// late event, refused.
    pub(super) fn apply_late_ack(
        &mut self,
        ev: &VenueEvent,
        sid: usize,
        key: KeptOrderKey,
        seq: u64,
    ) -> KernelOutcome {
        // The kept order's client id, when it learns the ack's venue id.
        let learner = self
            .ended
            .get(key)
            .filter(|k| {
                !ev.venue_order_id.is_empty()
                    && k.order.venue_order_id.is_empty()
                    && !self.venue_id_claimed_besides(&ev.venue_order_id, key)
            })
            .map(|k| k.order.client_order_id.clone());
        let Some(client_order_id) = learner else {
            return self.ended_order_refusal(ev, Some(sid), seq, FILL_AFTER_END);
        };
        self.learn_kept_venue_id(key, &ev.venue_order_id);
        let mut out = self.late_ack_taken(ev, sid, &client_order_id, seq);
        out.details.push(("reason", Detail::Static(LATE_ACK)));
        out
    }

    /// The venue's ack or fill `ev` of an order a rate limit ended as its throttled submit
    /// ([`KeptOrder::throttled_submit`]): the venue holds it after all, and the caller was
    /// told nothing was placed. The order is put in doubt as one rate limited with a cancel
    /// asked is (its slot takes no new order until a fill completes it or a reconciliation
    /// settles it, and its fills book as a kept order's), and the outcome is CRITICAL: an
    /// order sent again meanwhile may work beside it. A fill the slot cannot take is
    /// refused as any late fill is, and the order stays as it was.
    pub(super) fn held_after_throttle(
        &mut self,
        ev: &VenueEvent,
        key: KeptOrderKey,
        seq: u64,
    ) -> KernelOutcome {
        let sid = key.0;
        let kept = self.ended.get_mut(key).expect("kept orders are indexed");
        let was = (kept.in_doubt, kept.final_filled, kept.order.status);
        (kept.in_doubt, kept.final_filled) = (true, None);
        kept.order.status = VenueOrderStatus::Acknowledged;
        let (coid, unnamed) = (
            kept.order.client_order_id.clone(),
            kept.order.venue_order_id.is_empty(),
        );
        self.ended.note_owed(key);
        let mut out = if ev.kind == KernelEventKind::Fill {
            self.apply_late_fill(ev, key, seq)
        } else {
            let vid = &ev.venue_order_id;
            if unnamed && !vid.is_empty() && !self.venue_id_claimed_besides(vid, key) {
                self.learn_kept_venue_id(key, vid);
            }
            self.late_ack_taken(ev, sid, &coid, seq)
        };
        if !out.accepted {
            let kept = self.ended.get_mut(key).expect("kept orders are indexed");
            (kept.in_doubt, kept.final_filled, kept.order.status) = was;
            self.ended.note_owed(key);
            return out;
        }
        self.sync_free(sid);
        self.dirty.slot(sid);
        out.severity = KernelSeverity::Critical;
        out.details
            .push(("order_kept", Detail::Static(HELD_AFTER_THROTTLE)));
        if self.ended.is_in_doubt(key) {
            out.details.push(("slot_waits", Detail::Static(IN_DOUBT)));
        }
        out
    }

    /// After slots are loaded: what the kernel knew of ended orders and reconciled fills is
    /// kept where the loaded slot still holds the same trade of the same asset (an operator
    /// correcting one slot must not make the others forget a fill that may still come, or
    /// one a reconciliation booked), and dropped elsewhere.
    ///
    /// A slot loaded with another size than it had tells what filled: the fills its kept
    /// orders wait for count as included (a fill up to the venue's figure that then comes is
    /// a duplicate). A slot loaded as it was keeps waiting.
    pub(super) fn retain_ended(&mut self, old: EndedOrders, held_before: &[(f64, f64)]) {
        let shared: Vec<&Id> = old
            .by_venue_id
            .iter()
            .filter(|(_, claims)| claims.contains(&UNKEPT_CLAIMANT))
            .map(|(v, _)| v)
            .collect();
        for (key, kept) in &old.by_key {
            let slot = &self.slots[key.0];
            let o = &kept.order;
            if slot.trade_id == o.trade_id
                && slot.asset == o.asset
                && !self.by_client_id.contains_key(&o.client_order_id)
            {
                let mut kept = kept.clone();
                let now = (slot.size, slot.initial_size);
                let changed = held_before.get(key.0).is_some_and(|b| {
                    (b.0 - now.0).abs() > QTY_EPS || (b.1 - now.1).abs() > QTY_EPS
                });
                if changed {
                    // Without a figure from the venue, what the slot holds now is the bound,
                    // the total its reports stated included.
                    let total = kept
                        .final_filled
                        .unwrap_or(kept.stated_total.max(kept.order.filled_size));
                    kept.order.filled_size = kept.order.filled_size.max(total);
                    kept.final_filled = Some(total);
                    kept.stated_total = 0.0;
                    kept.in_doubt = false;
                    kept.figure_by_load = true;
                }
                let rounding = self.rounding(&kept.order);
                self.ended.keep(*key, kept, rounding);
                if let Some(c) = old.covered.get(key).filter(|_| !changed) {
                    self.ended.covered.insert(*key, c.clone());
                }
                self.sync_free(key.0);
            }
        }
        for v in shared {
            self.ended.finished_elsewhere(v);
        }
        for (coid, upto) in &old.reconciled {
            if self.by_client_id.contains_key(coid) || self.ended.by_client(coid).is_some() {
                self.ended.reconciled.insert(coid.clone(), *upto);
            }
        }
    }
}
