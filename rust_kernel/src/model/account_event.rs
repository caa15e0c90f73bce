//! What the exchange's account stream says: a fill's settled fee, a funding fee, the
//! account's balances and margins.

use crate::types::*;
use serde::{Deserialize, Serialize};

/// An event of the exchange's account; which of its figures it carries depends on its `kind`.
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
    /// A FILL_SETTLED's: the venue will never report the fill's fee, so the kernel's
    /// prediction of it stands (`fee` stays 0).
    pub predicted_fee_stands: bool,
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
            predicted_fee_stands: false,
        }
    }
}
