//! Pre-trade risk: the limits an order is checked against and the checks themselves.
//!
//! - `limits`: [`RiskLimits`] (leverage, notional caps, order rate, regime, edge freeze,
//!   provenance) and each asset's [`MarketLimits`], each taken only once checked.
//! - `checks`: one function per rule, on the limits, answering `Ok` or a [`RiskRefusal`]
//!   that names the rule and the figures; the kernel passes what a check needs (what is
//!   committed, the mode, the rate window) and turns a refusal into the intent's outcome.
//! - `rate`: the [`RateWindow`] the order-rate rule counts submits in.

mod checks;
mod limits;
mod rate;

pub use checks::{cap_price, check_edge_freeze, reduce_only_exit_size, CapValue, RiskRefusal};
pub use limits::{
    ConfigValue, MarketLimits, Regime, RiskLimits, MARKET_LIMITS_FIELDS, MAX_ORDER_RATE,
    MIN_LEVERAGE, RISK_LIMITS_FIELDS,
};
pub use rate::RateWindow;
