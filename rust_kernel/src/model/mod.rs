//! The data the kernel takes in and hands out: intents, venue and account events, orders,
//! slots, transitions and outcomes; and the bounded memories of ids the kernel and its slots
//! keep.

mod account_event;
mod intent;
mod memory;
mod order;
mod outcome;
// Unsafe: the CPU's prefetch hint (the module says why and what holds).
#[allow(unsafe_code)]
mod prefetching;
mod slot;
// Unsafe: a transition written in the list's free place (the module says why and what holds).
#[allow(unsafe_code)]
mod transition_writes;
mod venue_event;

pub use account_event::*;
pub use intent::*;
pub use memory::*;
pub use order::*;
pub use outcome::*;
pub use prefetching::*;
pub use slot::*;
pub(crate) use transition_writes::{push_transition, push_two_transitions};
pub use venue_event::*;
