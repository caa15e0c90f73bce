//! The kernel's vocabulary: ids, enums, metadata and diagnostic details.

mod details;
mod enums;
mod ids;

pub use details::*;
pub use enums::*;
pub use ids::*;
