//! The kernel's bounded memories of ids: what it has seen (duplicate intents, orders, events
//! and fills), what waits for settlement, and which slots are open. Each keeps a fixed bound,
//! so a kernel that runs for months holds no more than one that started today.

mod chunked_queue;
mod fifo_map;
mod fingerprint_set;
mod recent_ring;
mod recent_set;
mod slot_set;
mod tables;
// Unsafe: SSE2 intrinsics that match a ring's tags (the module says why and what holds).
#[allow(unsafe_code)]
mod tag_match;

pub use fifo_map::*;
pub use fingerprint_set::*;
pub use recent_ring::*;
pub use recent_set::*;
pub use slot_set::*;
