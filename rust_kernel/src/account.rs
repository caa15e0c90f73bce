//! The two views of the account and their reconciliation.
//!
//! K (kernel): what the kernel's own bookkeeping says the capital is.
//! E (exchange): what the exchange last reported. The two should agree; when they do not,
//! the status and explanation say how far apart they are and the likely reason.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReconcileStatus {
    Ok,
    Warn,
    Mismatch,
}

impl ReconcileStatus {
    pub fn name(self) -> &'static str {
        match self {
            ReconcileStatus::Ok => "OK",
            ReconcileStatus::Warn => "WARN",
            ReconcileStatus::Mismatch => "MISMATCH",
        }
    }
}

/// |E - K| within this fraction of capital (or one cent) is agreement.
pub const RECONCILE_OK_FRACTION: f64 = 0.0005;
/// Beyond this fraction of capital K and E are in mismatch.
pub const RECONCILE_MISMATCH_FRACTION: f64 = 0.01;
/// Unsettled fees (or rebates) smaller than this print as 0.00 and are no reason for a
/// delta: once every fill is settled, `k_unsettled_fees` keeps a rounding residue (1e-18).
pub const UNSETTLED_NOTED: f64 = 0.005;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub seed_capital: f64,
    pub k_realized_pnl: f64,
    pub k_fees_paid: f64,
    pub k_funding_net: f64,
    pub e_wallet_balance: Option<f64>,
    pub e_available_margin: Option<f64>,
    pub e_used_margin: Option<f64>,
    pub e_maint_margin: Option<f64>,
    /// Predicted fees of fills the exchange has not settled yet (negative for rebates).
    pub k_unsettled_fees: f64,
    pub event_seq: u64,
    pub last_update_time: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Reconciliation {
    pub status: ReconcileStatus,
    pub delta: f64,
    pub explanation: String,
}

impl Account {
    pub fn k_capital(&self) -> f64 {
        self.seed_capital + self.k_realized_pnl - self.k_fees_paid + self.k_funding_net
    }

    /// Capital the kernel may plan with: the exchange's figure once it has reported one.
    pub fn available_capital(&self) -> f64 {
        self.e_available_margin
            .or(self.e_wallet_balance)
            .unwrap_or_else(|| self.k_capital())
    }

    pub fn bump(&mut self, ts: f64) {
        self.event_seq += 1;
        if ts > self.last_update_time {
            self.last_update_time = ts;
        }
    }

    pub fn reconcile(&self) -> Reconciliation {
        let k = self.k_capital();
        let Some(e) = self.e_wallet_balance else {
            return Reconciliation {
                status: ReconcileStatus::Ok,
                delta: 0.0,
                explanation: "no exchange balance reported yet; K is the only view".to_string(),
            };
        };
        let delta = e - k;
        let scale = k.abs().max(1.0);
        let pct = delta.abs() / scale * 100.0;
        let status = if delta.abs() <= (RECONCILE_OK_FRACTION * scale).max(0.01) {
            ReconcileStatus::Ok
        } else if delta.abs() <= RECONCILE_MISMATCH_FRACTION * scale {
            ReconcileStatus::Warn
        } else {
            ReconcileStatus::Mismatch
        };
        let explanation = match status {
            ReconcileStatus::Ok => format!(
                "K and E agree within {:.2} ({pct:.3}% of capital)",
                delta.abs()
            ),
            _ => {
                let direction = if delta > 0.0 {
                    "E is above K"
                } else {
                    "E is below K"
                };
                let mut text = format!("{direction} by {:.2} ({pct:.3}% of capital)", delta.abs());
                if self.k_unsettled_fees >= UNSETTLED_NOTED && delta > 0.0 {
                    text.push_str(&format!(
                        "; {:.2} of predicted fees are not settled yet and may explain part of it",
                        self.k_unsettled_fees
                    ));
                } else if self.k_unsettled_fees <= -UNSETTLED_NOTED && delta < 0.0 {
                    // Maker rebates credited to K at their predicted size, not paid yet or
                    // paid at another size.
                    text.push_str(&format!(
                        "; {:.2} of predicted rebates are not settled yet and may explain part \
                         of it",
                        -self.k_unsettled_fees
                    ));
                } else if delta < 0.0 {
                    text.push_str("; look for fees, funding or fills the kernel has not seen");
                } else {
                    text.push_str("; look for deposits, rebates or fills the exchange reversed");
                }
                text
            }
        };
        Reconciliation {
            status,
            delta,
            explanation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_capital_identity_and_available_capital() {
        let mut a = Account {
            seed_capital: 1000.0,
            ..Default::default()
        };
        a.k_realized_pnl = 50.0;
        a.k_fees_paid = 2.0;
        a.k_funding_net = -1.0;
        assert_eq!(a.k_capital(), 1047.0);
        assert_eq!(a.available_capital(), 1047.0);
        a.e_wallet_balance = Some(1040.0);
        assert_eq!(a.available_capital(), 1040.0);
        a.e_available_margin = Some(900.0);
        assert_eq!(a.available_capital(), 900.0);
    }

    #[test]
    fn reconcile_grades() {
        let mut a = Account {
            seed_capital: 10_000.0,
            ..Default::default()
        };
        assert_eq!(a.reconcile().status, ReconcileStatus::Ok);
        a.e_wallet_balance = Some(10_001.0);
        assert_eq!(a.reconcile().status, ReconcileStatus::Ok);
        a.e_wallet_balance = Some(10_050.0);
        let r = a.reconcile();
        assert_eq!(r.status, ReconcileStatus::Warn);
        assert_eq!(r.delta, 50.0);
        assert!(
            r.explanation.contains("E is above K by 50.00"),
            "{}",
            r.explanation
        );
        a.e_wallet_balance = Some(9_000.0);
        assert_eq!(a.reconcile().status, ReconcileStatus::Mismatch);
    }

    #[test]
    fn unsettled_fees_and_rebates_are_named_on_their_side_of_the_delta() {
        let mut a = Account {
            seed_capital: 10_000.0,
            e_wallet_balance: Some(10_050.0),
            ..Default::default()
        };
        let text = |a: &Account| a.reconcile().explanation;
        a.k_unsettled_fees = 30.0;
        assert!(text(&a).contains("30.00 of predicted fees"), "{}", text(&a));
        // Rebates predicted (K credited) make K higher: they explain E below K, not above.
        a.k_unsettled_fees = -30.0;
        assert!(text(&a).contains("deposits, rebates"), "{}", text(&a));
        a.e_wallet_balance = Some(9_950.0);
        assert!(
            text(&a).contains("30.00 of predicted rebates"),
            "{}",
            text(&a)
        );
        a.k_unsettled_fees = 30.0;
        assert!(text(&a).contains("fees, funding or fills"), "{}", text(&a));
    }
}
