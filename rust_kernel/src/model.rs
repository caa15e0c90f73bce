//! The data the kernel takes in and hands out: intents, venue and account events, orders,
//! slots, transitions and outcomes.

use crate::types::*;
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// A strategy's request for one slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub intent_id: Id,
    pub trade_id: Id,
    pub slot_id: i64,
    pub asset: Id,
    pub side: TradeSide,
    pub action: KernelCommandType,
    pub reference_price: f64,
    pub target_size: f64,
    pub leverage: f64,
    pub exit_leg_ratios: Vec<f64>,
    pub order_type: OrderType,
    pub limit_price: f64,
    pub reason: String,
    pub metadata: Metadata,
    pub timestamp: f64,
}

impl Intent {
    /// An intent with the constructor's defaults; tests and benches fill in the rest.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        intent_id: &str,
        trade_id: &str,
        slot_id: i64,
        asset: &str,
        side: TradeSide,
        action: KernelCommandType,
        reference_price: f64,
        target_size: f64,
    ) -> Self {
        Intent {
            intent_id: id(intent_id),
            trade_id: id(trade_id),
            slot_id,
            asset: id(asset),
            side,
            action,
            reference_price,
            target_size,
            leverage: 1.0,
            exit_leg_ratios: vec![1.0],
            order_type: OrderType::Market,
            limit_price: 0.0,
            reason: String::new(),
            metadata: Metadata::new(),
            timestamp: 0.0,
        }
    }
}

/// What a venue said about an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VenueEvent {
    pub event_id: Id,
    pub trade_id: Id,
    pub slot_id: i64,
    pub kind: KernelEventKind,
    pub status: VenueOrderStatus,
    pub venue_order_id: Id,
    pub venue_client_id: Id,
    pub side: Option<OrderSide>,
    pub asset: Id,
    pub price: f64,
    pub size: f64,
    pub filled_size: f64,
    pub remaining_size: f64,
    pub reason: String,
    pub metadata: Metadata,
    pub timestamp: f64,
    pub fill_id: Id,
    pub fee: Option<f64>,
    pub retry_after: f64,
}

impl VenueEvent {
    pub fn new(event_id: &str, kind: KernelEventKind, client_order_id: &Id) -> Self {
        VenueEvent {
            event_id: id(event_id),
            trade_id: id(""),
            slot_id: -1,
            kind,
            status: kind.implied_status(),
            venue_order_id: id(""),
            venue_client_id: client_order_id.clone(),
            side: None,
            asset: id(""),
            price: 0.0,
            size: 0.0,
            filled_size: 0.0,
            remaining_size: 0.0,
            reason: String::new(),
            metadata: Metadata::new(),
            timestamp: 0.0,
            fill_id: id(""),
            fee: None,
            retry_after: 0.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountEvent {
    pub event_id: Id,
    pub kind: AccountEventKind,
    pub asset: Id,
    pub amount: f64,
    pub fee: f64,
    pub fill_id: Id,
    pub wallet_balance: Option<f64>,
    pub available_margin: Option<f64>,
    pub used_margin: Option<f64>,
    pub maint_margin: Option<f64>,
    pub timestamp: f64,
}

impl AccountEvent {
    pub fn new(event_id: &str, kind: AccountEventKind) -> Self {
        AccountEvent {
            event_id: id(event_id),
            kind,
            asset: id(""),
            amount: 0.0,
            fee: 0.0,
            fill_id: id(""),
            wallet_balance: None,
            available_margin: None,
            used_margin: None,
            maint_margin: None,
            timestamp: 0.0,
        }
    }
}

/// An order the kernel handed (or will hand) to a venue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VenueOrder {
    pub client_order_id: Id,
    pub venue_order_id: Id,
    pub slot_id: usize,
    pub trade_id: Id,
    pub asset: Id,
    pub side: OrderSide,
    pub order_type: OrderType,
    pub price: f64,
    pub reference_price: f64,
    pub size: f64,
    pub filled_size: f64,
    pub avg_fill_price: f64,
    pub status: VenueOrderStatus,
    pub reduce_only: bool,
    pub cancel_requested: bool,
    pub created_at: f64,
    /// True for the order that opens the position, false for an exit.
    pub is_entry: bool,
}

impl VenueOrder {
    pub fn remaining(&self) -> f64 {
        (self.size - self.filled_size).max(0.0)
    }
}

/// A bounded memory of recently seen keys: idempotency that never grows without bound.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecentSet<K: Eq + Hash + Clone> {
    order: VecDeque<K>,
    members: HashSet<K, ahash::RandomState>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone> RecentSet<K> {
    pub fn new(capacity: usize) -> Self {
        RecentSet {
            order: VecDeque::new(),
            members: HashSet::default(),
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, k: &K) -> bool {
        self.members.contains(k)
    }

    /// Remembers `k`; returns false if it was already known.
    pub fn insert(&mut self, k: K) -> bool {
        if !self.members.insert(k.clone()) {
            return false;
        }
        self.order.push_back(k);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.members.remove(&old);
            }
        }
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn clear(&mut self) {
        self.order.clear();
        self.members.clear();
    }
}

impl<K: Eq + Hash + Clone> PartialEq for RecentSet<K> {
    fn eq(&self, other: &Self) -> bool {
        self.order == other.order && self.capacity == other.capacity
    }
}

/// How many event ids a slot remembers for duplicate detection.
pub const SLOT_SEEN_EVENTS: usize = 64;

/// The last few fingerprints (see `types::fingerprint`) in one small contiguous buffer:
/// per-slot idempotency memory that costs one allocation per slot, ever, and a short scan.
/// Thousands of slots stay cache-friendly, where a hash set per slot did not.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentRing {
    items: Vec<u64>,
    next: usize,
}

impl RecentRing {
    pub fn contains(&self, fp: u64) -> bool {
        self.items.contains(&fp)
    }

    pub fn insert(&mut self, fp: u64) {
        if self.items.len() < SLOT_SEEN_EVENTS {
            if self.items.capacity() == 0 {
                self.items.reserve_exact(SLOT_SEEN_EVENTS);
            }
            self.items.push(fp);
        } else {
            self.items[self.next] = fp;
            self.next = (self.next + 1) % SLOT_SEEN_EVENTS;
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeSlot {
    pub slot_id: usize,
    pub trade_id: Id,
    pub asset: Id,
    pub side: TradeSide,
    pub entry_price: f64,
    pub size: f64,
    pub initial_size: f64,
    pub leverage: f64,
    pub entry_time: f64,
    pub unrealized_pnl: f64,
    pub realized_pnl: f64,
    pub fees_paid: f64,
    pub closed: bool,
    pub exit_leg_ratios: Vec<f64>,
    pub active_leg_index: usize,
    pub active_entry_order: Option<VenueOrder>,
    pub active_exit_order: Option<VenueOrder>,
    pub fsm_state: TradeStage,
    pub close_reason: String,
    pub last_event_time: f64,
    pub metadata: Metadata,
    pub mark_price: f64,
    /// Notional this slot commits (position plus unfilled entry) at the entry reference price.
    pub committed_notional: f64,
    pub seen_events: RecentRing,
    pub seen_fills: RecentRing,
    /// The reason given by the EXIT intent working now; becomes close_reason on close.
    pub exit_reason: String,
}

impl TradeSlot {
    pub fn new(slot_id: usize) -> Self {
        TradeSlot {
            slot_id,
            trade_id: id(""),
            asset: id(""),
            side: TradeSide::Flat,
            entry_price: 0.0,
            size: 0.0,
            initial_size: 0.0,
            leverage: 1.0,
            entry_time: 0.0,
            unrealized_pnl: 0.0,
            realized_pnl: 0.0,
            fees_paid: 0.0,
            closed: false,
            exit_leg_ratios: vec![1.0],
            active_leg_index: 0,
            active_entry_order: None,
            active_exit_order: None,
            fsm_state: TradeStage::Idle,
            close_reason: String::new(),
            last_event_time: 0.0,
            metadata: Metadata::new(),
            mark_price: 0.0,
            committed_notional: 0.0,
            seen_events: RecentRing::default(),
            seen_fills: RecentRing::default(),
            exit_reason: String::new(),
        }
    }

    pub fn active_order(&self) -> Option<&VenueOrder> {
        self.active_entry_order
            .as_ref()
            .or(self.active_exit_order.as_ref())
    }

    pub fn active_order_mut(&mut self) -> Option<&mut VenueOrder> {
        match self.active_entry_order {
            Some(ref mut o) => Some(o),
            None => self.active_exit_order.as_mut(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct KernelTransition {
    pub timestamp: f64,
    pub trade_id: Id,
    pub slot_id: usize,
    pub prev_state: TradeStage,
    pub next_state: TradeStage,
    pub trigger: &'static str,
    pub intent_id: Id,
    pub event_id: Id,
    pub details: Details,
}

/// The answer to every input: whether it was taken, what changed and, if not, why.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelOutcome {
    pub accepted: bool,
    pub slot_id: i64,
    pub trade_id: Id,
    pub state: TradeStage,
    pub diagnostic_code: KernelDiagnosticCode,
    pub severity: KernelSeverity,
    pub transitions: Vec<KernelTransition>,
    pub emitted_events: Vec<VenueEvent>,
    /// Orders the caller must hand to the venue (submit) or cancel, in this order.
    pub submit: Option<VenueOrder>,
    pub cancels: Vec<VenueOrder>,
    pub details: Details,
    pub seq: u64,
}

impl KernelOutcome {
    pub fn ok(slot_id: i64, trade_id: Id, state: TradeStage, seq: u64) -> Self {
        KernelOutcome {
            accepted: true,
            slot_id,
            trade_id,
            state,
            diagnostic_code: KernelDiagnosticCode::Ok,
            severity: KernelSeverity::Info,
            transitions: Vec::new(),
            emitted_events: Vec::new(),
            submit: None,
            cancels: Vec::new(),
            details: Vec::new(),
            seq,
        }
    }

    pub fn refused(
        slot_id: i64,
        trade_id: Id,
        state: TradeStage,
        code: KernelDiagnosticCode,
        severity: KernelSeverity,
        details: Details,
        seq: u64,
    ) -> Self {
        KernelOutcome {
            accepted: false,
            diagnostic_code: code,
            severity,
            details,
            ..KernelOutcome::ok(slot_id, trade_id, state, seq)
        }
    }

    /// Folds the outcome of a follow-up input (a venue's synchronous answer) into this one.
    pub fn absorb(&mut self, follow: KernelOutcome) {
        self.transitions.extend(follow.transitions);
        if follow.slot_id == self.slot_id {
            self.state = follow.state;
        }
        if follow.diagnostic_code == KernelDiagnosticCode::RateLimited {
            self.accepted = false;
            self.diagnostic_code = KernelDiagnosticCode::RateLimited;
            self.severity = KernelSeverity::Warning;
            self.details.extend(follow.details);
        } else if !follow.accepted && self.diagnostic_code == KernelDiagnosticCode::Ok {
            // The venue's answer could not be applied: surface it, the intent stands.
            self.severity = self.severity.max(follow.severity);
            self.details.push((
                "venue_event_refused",
                Detail::Static(follow.diagnostic_code.name()),
            ));
            self.details.extend(follow.details);
        }
        self.cancels.extend(follow.cancels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ring_forgets_the_oldest_beyond_its_size() {
        let mut r = RecentRing::default();
        for i in 0..(SLOT_SEEN_EVENTS as u64 + 10) {
            r.insert(i);
        }
        assert_eq!(r.len(), SLOT_SEEN_EVENTS);
        assert!(!r.contains(0) && !r.contains(9));
        assert!(r.contains(10) && r.contains(SLOT_SEEN_EVENTS as u64 + 9));
    }
}
