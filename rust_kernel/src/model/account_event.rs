//! What the exchange's account stream says: a fill's settled fee, a funding fee, the
//! account's balances and margins.

use crate::types::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An event of the exchange's account; which of its figures it carries depends on its `kind`.
#[derive(Clone, Debug, PartialEq)]
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

/// An account event's kind as its log record holds it: `predicted_fee_stands` is told by the
/// kind's place, the three after [`AccountEventKind`]'s own, so a record of an event without
/// it has the bytes it had before the flag was.
#[derive(Clone, Copy, Serialize, Deserialize)]
enum RecordedKind {
    FillSettled,
    AccountUpdate,
    FundingFee,
    FillSettledPredictedFeeStands,
    AccountUpdatePredictedFeeStands,
    FundingFeePredictedFeeStands,
}

impl RecordedKind {
    fn of(kind: AccountEventKind, predicted_fee_stands: bool) -> Self {
        use AccountEventKind as K;
        match (kind, predicted_fee_stands) {
            (K::FillSettled, false) => RecordedKind::FillSettled,
            (K::AccountUpdate, false) => RecordedKind::AccountUpdate,
            (K::FundingFee, false) => RecordedKind::FundingFee,
            (K::FillSettled, true) => RecordedKind::FillSettledPredictedFeeStands,
            (K::AccountUpdate, true) => RecordedKind::AccountUpdatePredictedFeeStands,
            (K::FundingFee, true) => RecordedKind::FundingFeePredictedFeeStands,
        }
    }

    /// The kind, and whether the predicted fee stands.
    fn split(self) -> (AccountEventKind, bool) {
        use AccountEventKind as K;
        match self {
            RecordedKind::FillSettled => (K::FillSettled, false),
            RecordedKind::AccountUpdate => (K::AccountUpdate, false),
            RecordedKind::FundingFee => (K::FundingFee, false),
            RecordedKind::FillSettledPredictedFeeStands => (K::FillSettled, true),
            RecordedKind::AccountUpdatePredictedFeeStands => (K::AccountUpdate, true),
            RecordedKind::FundingFeePredictedFeeStands => (K::FundingFee, true),
        }
    }
}

/// An account event as its log record holds it: its fields in their order, the flag in its
/// kind ([`RecordedKind`]).
#[derive(Serialize, Deserialize)]
struct Recorded<I> {
    event_id: I,
    kind: RecordedKind,
    asset: I,
    amount: f64,
    fee: f64,
    fill_id: I,
    wallet_balance: Option<f64>,
    available_margin: Option<f64>,
    used_margin: Option<f64>,
    maint_margin: Option<f64>,
    timestamp: f64,
}

impl Serialize for AccountEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Recorded {
            event_id: &self.event_id,
            kind: RecordedKind::of(self.kind, self.predicted_fee_stands),
            asset: &self.asset,
            amount: self.amount,
            fee: self.fee,
            fill_id: &self.fill_id,
            wallet_balance: self.wallet_balance,
            available_margin: self.available_margin,
            used_margin: self.used_margin,
            maint_margin: self.maint_margin,
            timestamp: self.timestamp,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for AccountEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = Recorded::<Id>::deserialize(d)?;
        let (kind, predicted_fee_stands) = r.kind.split();
        Ok(AccountEvent {
            event_id: r.event_id,
            kind,
            asset: r.asset,
            amount: r.amount,
            fee: r.fee,
            fill_id: r.fill_id,
            wallet_balance: r.wallet_balance,
            available_margin: r.available_margin,
            used_margin: r.used_margin,
            maint_margin: r.maint_margin,
            timestamp: r.timestamp,
            predicted_fee_stands,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An account event as a record held it before `predicted_fee_stands` was: the derived
    /// encoding of its fields.
    #[derive(Serialize)]
    struct Before {
        event_id: Id,
        kind: AccountEventKind,
        asset: Id,
        amount: f64,
        fee: f64,
        fill_id: Id,
        wallet_balance: Option<f64>,
        available_margin: Option<f64>,
        used_margin: Option<f64>,
        maint_margin: Option<f64>,
        timestamp: f64,
    }

    fn before(e: &AccountEvent) -> Before {
        Before {
            event_id: e.event_id.clone(),
            kind: e.kind,
            asset: e.asset.clone(),
            amount: e.amount,
            fee: e.fee,
            fill_id: e.fill_id.clone(),
            wallet_balance: e.wallet_balance,
            available_margin: e.available_margin,
            used_margin: e.used_margin,
            maint_margin: e.maint_margin,
            timestamp: e.timestamp,
        }
    }

    #[test]
    fn a_record_without_the_predicted_fee_standing_keeps_its_bytes_and_reads_back() {
        for kind in [
            AccountEventKind::FillSettled,
            AccountEventKind::AccountUpdate,
            AccountEventKind::FundingFee,
        ] {
            let mut e = AccountEvent::new("e-1", kind);
            e.asset = id("BTC");
            e.fee = 0.25;
            e.fill_id = id("a-fill-id-longer-than-twenty-three-bytes");
            e.wallet_balance = Some(1000.5);
            e.timestamp = 1_700_000_000.5;
            let old = bincode::serialize(&before(&e)).unwrap();
            assert_eq!(bincode::serialize(&e).unwrap(), old);
            assert_eq!(bincode::deserialize::<AccountEvent>(&old).unwrap(), e);
        }
    }

    #[test]
    fn a_record_of_the_predicted_fee_standing_reads_back_with_it_for_every_kind() {
        for kind in [
            AccountEventKind::FillSettled,
            AccountEventKind::AccountUpdate,
            AccountEventKind::FundingFee,
        ] {
            let mut e = AccountEvent::new("e-1", kind);
            e.fill_id = id("f-1");
            e.predicted_fee_stands = true;
            let bytes = bincode::serialize(&e).unwrap();
            assert_ne!(bytes, bincode::serialize(&before(&e)).unwrap());
            assert_eq!(bincode::deserialize::<AccountEvent>(&bytes).unwrap(), e);
        }
    }
}
