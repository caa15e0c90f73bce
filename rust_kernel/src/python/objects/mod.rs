//! Native Python classes for the kernel's data, one file per type: built once at the
//! boundary, read lazily.

mod account_event;
mod copying;
mod equality;
mod intent;
mod order;
mod outcome;
mod slot;
mod venue_event;

pub use account_event::{account_event_from_dict, PyAccountEvent};
pub use intent::PyIntent;
pub use order::{orders_to_py, terminal_order_statuses, PyVenueOrder};
pub use outcome::{AnswerFacts, ControlAtInput, PyOutcome, PyTransition};
pub use slot::{
    slot_dict, slot_from_dict, take_slot_field, PySeenEventIds, PySlot, WRITABLE_SLOT_FIELDS,
};
pub use venue_event::{EventExtras, PyVenueEvent};
