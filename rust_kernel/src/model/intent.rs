//! What a strategy asks of a slot: enter, exit or cancel.

use crate::types::*;
use serde::{Deserialize, Serialize};

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
