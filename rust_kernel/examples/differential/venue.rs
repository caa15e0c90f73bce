//! The venue the generator plays: the orders the kernel sent, what the venue reported of
//! each, and its answers to them: acks, fills (partial and full, with and without fill ids
//! and running totals, over-filled, late), cancel acks and rejects, rejects, expiries and
//! rate limits, some with fields that disagree with the order, some held back and sent
//! out of order.

use dita_kernel::*;

use crate::rng::Rng;
use crate::values::{id_or_odd, number, odd_id};

/// An order the kernel handed out, as the venue knows it.
pub struct Sent {
    pub client: Id,
    /// The id the venue gives it.
    pub venue: String,
    pub slot: usize,
    pub trade: Id,
    pub asset: Id,
    pub side: OrderSide,
    pub price: f64,
    pub size: f64,
    /// What the venue reported filled so far.
    pub filled: f64,
    pub acked: bool,
    /// No longer among the kernel's open orders.
    pub ended: bool,
    pub cancel_asked: bool,
}

/// A fill the kernel took, which an account event may settle.
pub struct Fill {
    pub key: String,
    pub asset: Id,
    pub notional: f64,
}

#[derive(Default)]
pub struct Venue {
    pub orders: Vec<Sent>,
    pub fills: Vec<Fill>,
    /// Fill ids settled before their fill was reported: the next fills take them.
    pub settled_early: Vec<String>,
    /// Events made but held back, sent later (out of order).
    pub held: Vec<VenueEvent>,
    /// The latest events sent, for resending.
    pub recent: Vec<VenueEvent>,
    next_id: u64,
}

const RECENT: usize = 24;

impl Venue {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Takes note of the orders an answer hands out and the cancels it asks for.
    pub fn learn(&mut self, out: &KernelOutcome) {
        if let Some(o) = &out.submit {
            let n = self.next();
            self.orders.push(Sent {
                client: o.client_order_id.clone(),
                venue: format!("V{n}"),
                slot: o.slot_id,
                trade: o.trade_id.clone(),
                asset: o.asset.clone(),
                side: o.side,
                price: if o.price > 0.0 {
                    o.price
                } else {
                    o.reference_price
                },
                size: o.size,
                filled: 0.0,
                acked: false,
                ended: false,
                cancel_asked: false,
            });
        }
        for c in &out.cancels {
            if let Some(s) = self.order_mut(&c.client_order_id) {
                s.cancel_asked = true;
            }
        }
    }

    fn order_mut(&mut self, client: &str) -> Option<&mut Sent> {
        self.orders.iter_mut().rev().find(|s| &*s.client == client)
    }

    /// Takes note of an event the kernel was given and whether it took it.
    pub fn sent(&mut self, ev: &VenueEvent, taken: bool) {
        self.recent.push(ev.clone());
        if self.recent.len() > RECENT {
            self.recent.remove(0);
        }
        if !taken {
            return;
        }
        let Some(s) = self.order_mut(&ev.venue_client_id) else {
            return;
        };
        // The venue keeps to the id the kernel took, odd or not.
        if !ev.venue_order_id.is_empty() {
            s.venue = ev.venue_order_id.to_string();
        }
        match ev.kind {
            KernelEventKind::OrderAck => s.acked = true,
            KernelEventKind::Fill => {
                let total = if ev.filled_size > 0.0 {
                    ev.filled_size
                } else {
                    s.filled + ev.size
                };
                s.filled = s.filled.max(total);
                let asset = if ev.asset.is_empty() {
                    s.asset.clone()
                } else {
                    ev.asset.clone()
                };
                self.fills.push(Fill {
                    key: ev.fill_key().to_string(),
                    asset,
                    notional: ev.size * ev.price,
                });
            }
            _ => {}
        }
    }

    /// Marks the orders the kernel no longer holds open as ended.
    pub fn sync(&mut self, k: &Kernel) {
        let open = k.open_orders();
        for s in self.orders.iter_mut().filter(|s| !s.ended) {
            s.ended = !open.iter().any(|o| o.client_order_id == s.client);
        }
    }

    /// An event answering one of the orders sent (mostly one still working), or None when
    /// none was sent, and mostly when none is working.
    pub fn answer(&mut self, rng: &mut Rng, now: f64) -> Option<VenueEvent> {
        let working: Vec<usize> = (0..self.orders.len())
            .filter(|&i| !self.orders[i].ended)
            .collect();
        if self.orders.is_empty() || (working.is_empty() && rng.chance(0.7)) {
            return None;
        }
        let i = if !working.is_empty() && rng.chance(0.88) {
            *rng.pick(&working)
        } else {
            // Late answers go mostly to recent orders.
            let n = self.orders.len();
            n - 1 - rng.below(n.min(8))
        };
        let ev = self.answer_order(rng, i, now);
        // Some answers are held back and sent after later ones.
        if rng.chance(0.1) {
            self.held.push(ev);
            return Some(self.answer_order(rng, i, now));
        }
        Some(ev)
    }

    fn answer_order(&mut self, rng: &mut Rng, i: usize, now: f64) -> VenueEvent {
        let n = self.next();
        let s = &self.orders[i];
        let kind = answer_kind(rng, s);
        let mut ev = VenueEvent::new(
            &id_or_odd(rng, format!("ev{n}"), n, 0.03),
            kind,
            &id(&id_or_odd(rng, s.client.to_string(), n, 0.02)),
        );
        ev.timestamp = number(rng, now, 0.02);
        self.venue_ids(rng, &mut ev, i, n);
        self.echo_order(rng, &mut ev, i);
        match kind {
            KernelEventKind::Fill => self.fill(rng, &mut ev, i),
            KernelEventKind::OrderAck => {
                if rng.chance(0.5) {
                    ev.size = self.orders[i].size;
                    ev.price = self.orders[i].price;
                }
            }
            KernelEventKind::CancelAck | KernelEventKind::Expired => {
                if rng.chance(0.5) {
                    ev.filled_size = self.orders[i].filled;
                    ev.remaining_size = (self.orders[i].size - self.orders[i].filled).max(0.0);
                }
            }
            KernelEventKind::RateLimited => {
                let retry_after = rng.range(0.0, 2.0);
                ev.retry_after = number(rng, retry_after, 0.05);
            }
            _ => {
                ev.reason = rng
                    .pick(&["", "insufficient margin", "too late to cancel", "é"])
                    .to_string();
            }
        }
        if rng.chance(0.05) {
            let source = MetaValue::Str("reconciliation".into());
            ev.metadata.insert("source".into(), source);
        }
        ev
    }

    /// The venue's id: the order's, sometimes none, another order's or an odd one.
    fn venue_ids(&self, rng: &mut Rng, ev: &mut VenueEvent, i: usize, n: u64) {
        let s = &self.orders[i];
        let venue = match rng.weighted(&[85, 10, 2, 1, 2]) {
            0 => s.venue.clone(),
            1 => String::new(),
            2 => self.orders[rng.below(self.orders.len())].venue.clone(),
            3 => s.client.to_string(),
            _ => odd_id(rng, n),
        };
        ev.venue_order_id = id(&venue);
    }

    /// The order's own fields an event may repeat: mostly right, sometimes another's.
    fn echo_order(&self, rng: &mut Rng, ev: &mut VenueEvent, i: usize) {
        let s = &self.orders[i];
        match rng.weighted(&[60, 30, 4]) {
            0 => {}
            1 => {
                ev.trade_id = s.trade.clone();
                ev.asset = s.asset.clone();
                ev.side = Some(s.side);
                ev.slot_id = s.slot as i64;
            }
            _ => match rng.below(4) {
                0 => ev.trade_id = id("tr-other"),
                1 => ev.asset = id("OTHER"),
                2 => {
                    ev.side = Some(if s.side == OrderSide::Buy {
                        OrderSide::Sell
                    } else {
                        OrderSide::Buy
                    })
                }
                _ => ev.slot_id = s.slot as i64 + 1,
            },
        }
    }

    /// A fill of order `i`: full or partial, over-filled or tiny, with or without a fill id,
    /// a running total, a fee and a status.
    fn fill(&mut self, rng: &mut Rng, ev: &mut VenueEvent, i: usize) {
        let n = self.next();
        let s = &self.orders[i];
        let remaining = (s.size - s.filled).max(0.0);
        let qty = match rng.weighted(&[40, 40, 6, 4, 4, 6]) {
            0 => remaining,
            1 => remaining * rng.range(0.1, 0.9),
            2 => remaining * 1.5 + s.size * 0.1,
            3 => 1e-10,
            4 => 0.0,
            _ => s.size * rng.range(0.1, 1.0),
        };
        ev.size = number(rng, qty, 0.02);
        let price = s.price * rng.range(0.99, 1.01);
        ev.price = number(rng, price, 0.02);
        if rng.chance(0.55) {
            ev.filled_size = s.filled + qty;
            if rng.chance(0.04) {
                ev.filled_size = s.filled * 0.5;
            }
        }
        if rng.chance(0.2) {
            ev.remaining_size = (s.size - s.filled - qty).max(0.0);
        }
        ev.status = if s.filled + qty + 1e-12 < s.size {
            VenueOrderStatus::PartiallyFilled
        } else {
            VenueOrderStatus::Filled
        };
        if rng.chance(0.05) {
            ev.status = *rng.pick(VenueOrderStatus::ALL);
        }
        ev.fee = match rng.weighted(&[50, 33, 7, 5, 5]) {
            0 => None,
            1 => Some(qty * ev.price * 0.0005),
            2 => Some(-qty * ev.price * 0.0002),
            3 => Some(0.0),
            _ => Some(number(rng, 1.0, 1.0)),
        };
        let fill_id = match rng.weighted(&[65, 25, 10]) {
            0 if !self.settled_early.is_empty() && rng.chance(0.5) => self.settled_early.remove(0),
            0 => format!("fl{n}"),
            1 => String::new(),
            _ => odd_id(rng, n),
        };
        ev.fill_id = id(&fill_id);
    }

    /// An event naming no order the kernel sent.
    pub fn unknown(&mut self, rng: &mut Rng, now: f64) -> VenueEvent {
        let n = self.next();
        let kind = *rng.pick(KernelEventKind::ALL);
        let client = match rng.below(4) {
            0 => format!("k-diff-{}", 9000 + n),
            1 => String::new(),
            2 => format!("nobody{n}"),
            _ => odd_id(rng, n),
        };
        let mut ev = VenueEvent::new(&format!("ev{n}"), kind, &id(&client));
        ev.venue_order_id = id(&id_or_odd(rng, format!("V{}", 9000 + n), n, 0.3));
        ev.size = rng.range(0.1, 2.0);
        ev.price = rng.range(1.0, 100.0);
        ev.timestamp = now;
        if kind == KernelEventKind::Fill {
            ev.fill_id = id(&format!("fl{n}"));
        }
        ev
    }

    /// An event sent before: as it was, or under a new event id (the same fill reported
    /// twice), or one held back until now.
    pub fn again(&mut self, rng: &mut Rng) -> Option<VenueEvent> {
        if !self.held.is_empty() && rng.chance(0.5) {
            let i = rng.below(self.held.len());
            return Some(self.held.remove(i));
        }
        if self.recent.is_empty() {
            return None;
        }
        let mut ev = self.recent[rng.below(self.recent.len())].clone();
        if rng.chance(0.3) {
            let n = self.next();
            ev.event_id = id(&format!("ev{n}"));
        }
        Some(ev)
    }
}

/// What the venue says of order `s`: mostly fills once it works, acks before; of an order
/// that ended, mostly a late fill.
fn answer_kind(rng: &mut Rng, s: &Sent) -> KernelEventKind {
    use KernelEventKind::*;
    let (kinds, weights): (&[KernelEventKind], &[u32]) = if s.ended {
        (
            &[Fill, CancelAck, OrderAck, Expired, CancelReject, Reject],
            &[50, 15, 10, 10, 8, 7],
        )
    } else if !s.acked {
        (
            &[OrderAck, Fill, Reject, RateLimited, Expired, CancelAck],
            &[50, 22, 5, 5, 2, if s.cancel_asked { 15 } else { 2 }],
        )
    } else {
        (
            &[
                Fill,
                CancelAck,
                CancelReject,
                Expired,
                OrderAck,
                RateLimited,
                Reject,
            ],
            &[55, if s.cancel_asked { 25 } else { 3 }, 4, 3, 4, 4, 2],
        )
    };
    kinds[rng.weighted(weights)]
}
