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

/// The exchange's figures an account event may carry, in the order [`Account::e_figures`]
/// and [`Account::e_taken_at`] hold them.
pub const E_FIGURES: [&str; 4] = [
    "wallet_balance",
    "available_margin",
    "used_margin",
    "maint_margin",
];

/// An account event's figures (see [`E_FIGURES`]), None where it carries none.
pub type Figures = [Option<f64>; 4];

/// How far after the kernel's latest input ([`Account::input_time`]) an E figure's time is
/// believed, in seconds. A figure stamped further ahead (milliseconds among seconds, a clock
/// hours ahead) would hold back every later report of it until the venue's clock got there.
pub const FIGURE_TIME_LEAD: f64 = 60.0;

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
    /// The venue's time of the event each E figure was last taken from (see [`E_FIGURES`];
    /// None: not known, or taken from an unstamped event). Not part of the serde state: a
    /// checkpoint carries it in a part of its own.
    #[serde(skip)]
    pub e_taken_at: [Option<f64>; 4],
    /// The latest time an intent or venue event the kernel accepted, or a mark price, was stamped
    /// (0: none yet): the kernel's clock, which an E figure's time is believed against
    /// ([`FIGURE_TIME_LEAD`]). Account events do not move it: a figure stamped ahead would vouch
    /// for itself. Not part of the serde state: a checkpoint carries it in a part of its own.
    #[serde(skip)]
    pub input_time: f64,
}

/// An E figure an account event carries that is older than the one the account holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StaleFigure {
    /// The figure's place in [`E_FIGURES`].
    pub index: usize,
    pub value: f64,
    /// The figure the account holds, and the time of the event it was taken from.
    pub held: f64,
    pub held_at: f64,
}

/// An account event's figures judged against those the account holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JudgedFigures {
    /// Older than the account's: left out.
    pub stale: Vec<StaleFigure>,
    /// Older than the account's, whose time is not believed: more than [`FIGURE_TIME_LEAD`]
    /// after the kernel's latest input, while the event's is within that of it. Taken.
    pub over_time_ahead: Vec<StaleFigure>,
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

    /// Capital the kernel may plan with: the exchange's figure once it has reported one, its
    /// available margin, else its wallet balance. An available margin taken from an event
    /// stamped before the wallet balance's (their times: [`Account::e_taken_at`]) is capped
    /// by it: a venue streams its balance more often than its margin, and a loss booked since
    /// the margin was reported is not available.
    pub fn available_capital(&self) -> f64 {
        let [wallet_at, available_at, ..] = self.e_taken_at;
        match (self.e_available_margin, self.e_wallet_balance) {
            (Some(available), Some(wallet)) if matches!((available_at, wallet_at), (Some(a), Some(w)) if a < w) => {
                available.min(wallet)
            }
            (Some(available), _) => available,
            (None, Some(wallet)) => wallet,
            (None, None) => self.k_capital(),
        }
    }

    /// The E figures, in the order of [`E_FIGURES`].
    pub fn e_figures(&self) -> Figures {
        [
            self.e_wallet_balance,
            self.e_available_margin,
            self.e_used_margin,
            self.e_maint_margin,
        ]
    }

    /// The figures of `figures`, from an event stamped `ts`, older than those the account
    /// holds: stamped before the event the account's figure was taken from. Figures of one
    /// time are not stale (a venue sends several in one millisecond, the latest last), nor are
    /// those of an unstamped event (`ts` 0), which no venue time orders. Nor, once the kernel
    /// has an input time, one whose held figure's time is more than [`FIGURE_TIME_LEAD`] after
    /// it, when `ts` is within that of it: that time is not believed (a figure stamped in
    /// milliseconds would hold back every later report of it for ever), and the event is news.
    pub fn judge_figures(&self, figures: &Figures, ts: f64) -> JudgedFigures {
        let held = self.e_figures();
        let now = self.input_time;
        let mut judged = JudgedFigures::default();
        for (index, figure) in figures.iter().enumerate() {
            let Some(value) = *figure else { continue };
            let Some(held_at) = self.e_taken_at[index].filter(|&at| ts > 0.0 && ts < at) else {
                continue;
            };
            let s = StaleFigure {
                index,
                value,
                held: held[index].unwrap_or(f64::NAN),
                held_at,
            };
            let ahead = now > 0.0 && held_at > now + FIGURE_TIME_LEAD;
            if ahead && (ts - now).abs() <= FIGURE_TIME_LEAD {
                judged.over_time_ahead.push(s);
            } else {
                judged.stale.push(s);
            }
        }
        judged
    }

    /// Moves [`Account::input_time`] to `ts` when `ts` is later and finite. Two compares: a
    /// time later than any is neither NaN nor -inf, so below +inf it is finite (`is_finite`
    /// tells it by its bits, a mask and a compare more).
    pub fn note_input_time(&mut self, ts: f64) {
        if ts > self.input_time && ts < f64::INFINITY {
            self.input_time = ts;
        }
    }

    /// Restores [`Account::input_time`] from a checkpoint.
    pub fn restore_input_time(&mut self, t: f64) -> Result<(), String> {
        if !(t.is_finite() && t >= 0.0) {
            return Err(format!("the latest input time, {t}, is no time"));
        }
        self.input_time = t;
        Ok(())
    }

    /// Takes the figures `figures` carries for E, from an event stamped `ts`, and remembers
    /// `ts` as each one's time when the event has one.
    pub fn take_figures(&mut self, figures: Figures, ts: f64) {
        let held = [
            &mut self.e_wallet_balance,
            &mut self.e_available_margin,
            &mut self.e_used_margin,
            &mut self.e_maint_margin,
        ];
        for ((figure, held), taken_at) in figures.into_iter().zip(held).zip(&mut self.e_taken_at) {
            if let Some(value) = figure {
                *held = Some(value);
                if ts > 0.0 {
                    *taken_at = Some(ts);
                }
            }
        }
    }

    /// Restores [`Account::e_taken_at`] from a checkpoint.
    pub fn restore_taken_at(&mut self, t: [Option<f64>; 4]) -> Result<(), String> {
        let held = self.e_figures();
        for (i, at) in t.iter().enumerate() {
            match at {
                Some(at) if !(at.is_finite() && *at > 0.0) => {
                    return Err(format!("the time of {}, {at}, is no time", E_FIGURES[i]));
                }
                Some(_) if held[i].is_none() => {
                    return Err(format!(
                        "a time of {}, which the account has not",
                        E_FIGURES[i]
                    ));
                }
                _ => {}
            }
        }
        self.e_taken_at = t;
        Ok(())
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

    /// `note_input_time`'s two compares move the time as `is_finite() && ts > input_time`
    /// does, for every pair of special and plain times (the latest time included: restored
    /// ones are any finite number).
    #[test]
    fn note_input_time_moves_as_the_finite_later_check() {
        let times = [
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::from_bits(1),
            0.0,
            -0.0,
            1.0,
            -1.0,
            1.7e9,
            1.7e9 + 0.5,
        ];
        for latest in times.into_iter().filter(|t| t.is_finite()) {
            for ts in times {
                let mut a = Account {
                    input_time: latest,
                    ..Default::default()
                };
                a.note_input_time(ts);
                let moved = ts.is_finite() && ts > latest;
                let want = if moved { ts } else { latest };
                assert_eq!(a.input_time.to_bits(), want.to_bits(), "{latest} then {ts}");
            }
        }
    }

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
