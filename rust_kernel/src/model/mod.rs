//! The data the kernel takes in and hands out: intents, venue and account events, orders,
//! slots, transitions and outcomes; and the bounded memories of ids the kernel and its slots
//! keep.

mod account_event;
mod intent;
mod memory;
mod order;
mod outcome;
mod prefetching;
mod slot;
mod venue_event;

pub use account_event::*;
pub use intent::*;
pub use memory::*;
pub use order::*;
pub use outcome::*;
pub use prefetching::*;
pub use slot::*;
pub use venue_event::*;
