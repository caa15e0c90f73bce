//! An order as the kernel hands it to a venue and follows it there.

use crate::error::{check_numbers, check_timestamp, format_number, KernelError, KernelResult};
use crate::kernel::QTY_EPS;
use crate::types::*;
use serde::{Deserialize, Serialize};

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

/// For tests: an order partly filled with every field away from its default and the ids given.
#[cfg(test)]
impl VenueOrder {
    pub(crate) fn sample(client: Id, venue: Id, trade: Id, asset: Id) -> VenueOrder {
        VenueOrder {
            client_order_id: client,
            venue_order_id: venue,
            slot_id: 3,
            trade_id: trade,
            asset,
            side: OrderSide::Sell,
            order_type: OrderType::Limit,
            price: 5.0,
            reference_price: 5.5,
            size: 2.0,
            filled_size: 0.5,
            avg_fill_price: 5.0,
            status: VenueOrderStatus::PartiallyFilled,
            reduce_only: true,
            cancel_requested: true,
            created_at: 4.0,
            is_entry: true,
        }
    }
}

impl VenueOrder {
    pub fn remaining(&self) -> f64 {
        (self.size - self.filled_size).max(0.0)
    }

    /// Checks an order's numbers when it comes from outside the kernel (a caller's
    /// `VenueOrder`, a loaded slot's working order), each field named `field(name)`: finite,
    /// non-negative prices and size, no more filled than the size, a finite time.
    pub fn check(&self, field: impl Fn(&str) -> String) -> KernelResult<()> {
        check_numbers(
            &field,
            &[
                ("price", self.price),
                ("reference_price", self.reference_price),
                ("size", self.size),
                ("filled_size", self.filled_size),
                ("avg_fill_price", self.avg_fill_price),
            ],
            0.0,
        )?;
        if self.filled_size > self.size * (1.0 + 1e-9) + QTY_EPS {
            return Err(KernelError::invalid(
                &field("filled_size"),
                format_number(self.filled_size),
                "must not be more than the order's size",
            ));
        }
        check_timestamp(&field("created_at"), self.created_at)?;
        Ok(())
    }
}
