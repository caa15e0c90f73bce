//! What a venue says about an order: an acknowledgement, a fill, a cancel, a reject, an
//! expiry or a rate limit.

use crate::types::*;
use serde::{Deserialize, Serialize};

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

    /// The id a fill is known by: the venue's trade id, or the event id when it gives none.
    pub fn fill_key(&self) -> &Id {
        if self.fill_id.is_empty() {
            &self.event_id
        } else {
            &self.fill_id
        }
    }
}
