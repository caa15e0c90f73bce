//! The journal outbox: rows the kernel leaves for a journal writer to drain, gated by
//! verbosity. Nothing here does I/O; the hot path only appends to a bounded buffer.
//!
//! A row is stored the way the journal will read it, packed back to back in a byte buffer
//! ([`RowBuf`]; in the [`Outbox`], fixed-size segments of each table): `seq u64 | sub u32`
//! and then the table's columns (see the `*_KINDS` lists) as fixed-width little-endian
//! numbers, `varint length + bytes` strings and details as a small self-describing blob.
//! Capturing a row is a few short copies, with nothing to allocate (but a segment from a
//! pool every few thousand rows) and nothing to drop later; whoever writes the journal reads
//! the values back with [`RowBuf::visit`] (into Python tuples, or into ClickHouse Native
//! blocks).
//! The `record_*` methods are the only writers: each lists its table's values in column
//! order, and a test reads every table back against them.
//!
//! - `tables`: the tables, their columns, their ClickHouse types and how each is stored;
//! - `rows`: the rows the kernel hands over and the `record_*` methods that write them;
//! - `encoding`: the byte writer and readers of a row's values;
//! - `row_buf`: a buffer of one table's rows, read back value by value;
//! - `details`: details and metadata as JSON text;
//! - `outbox`: queueing, capacity and drops, takes and drains;
//! - `pool`: the process's pool of segments;
//! - `native`: rows as ClickHouse Native blocks.

use crate::model::{prefetch_line, Intent, KernelOutcome, KernelTransition, VenueEvent};
use crate::types::*;

mod details;
// Unsafe: the row writer's unchecked stores and the reader's unchecked ASCII (the module says
// why and what holds).
#[allow(unsafe_code)]
mod encoding;
pub mod native;
mod outbox;
mod pool;
mod row_buf;
mod rows;
mod tables;

pub use details::DetailsRef;
pub use outbox::{Outbox, DEFAULT_JOURNAL_CAPACITY};
pub use pool::{SegmentPool, SEGMENT_POOL};
pub use row_buf::{RowBuf, Value, SEGMENT_BYTES};
pub use rows::{AccountRow, ControlRow, FillRow};
pub use tables::{
    columns, wire_types, Kind, ACCOUNT_COLUMNS, ACCOUNT_EVENTS, ACCOUNT_TYPES, CONTROL_CHANGES,
    CONTROL_COLUMNS, CONTROL_TYPES, FILLS, FILL_COLUMNS, FILL_TYPES, INTENTS, INTENT_COLUMNS,
    INTENT_TYPES, TABLES, TRANSITIONS, TRANSITION_COLUMNS, TRANSITION_TYPES, VENUE_EVENTS,
    VENUE_EVENT_COLUMNS, VENUE_EVENT_TYPES,
};

use details::*;
use encoding::*;
use tables::*;

#[cfg(test)]
mod outbox_props;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod writer_props;
