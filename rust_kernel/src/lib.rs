//! dita's execution kernel core: pure Rust, no interpreter needed.
//!
//! `fsm` (the slot state machine table), `fees` (exchange config and fee model), `account`
//! (K/E reconciliation), `risk` (pre-trade limits), `kernel` (slots, orders, inputs),
//! `journal` (the outbox of journal rows), `latency` (the histogram of input latencies), `mock`
//! (the seeded mock venue). The Python bindings live in `python/` behind the `python` feature.
//!
//! Unsafe code is denied but in the few modules where a benchmark shows it pays, each behind
//! a safe API with its invariant written in its doc (docs/performance.md lists them).

#![deny(unsafe_code)]

pub mod account;
pub mod error;
pub mod fees;
pub mod fsm;
// Unsafe: the id's inline and shared forms in one union (the module says why and what holds).
#[allow(unsafe_code)]
mod id;
pub mod journal;
pub mod kernel;
pub mod latency;
pub mod mock;
pub mod model;
pub mod risk;
pub mod types;
pub mod wal;

#[cfg(feature = "python")]
mod python;

pub use error::{KernelError, KernelResult};
pub use kernel::{Kernel, KernelInput};
pub use model::*;
pub use types::*;
