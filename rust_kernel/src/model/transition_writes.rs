//! Appending a transition to an answer's list with each field written straight into the
//! list's free place: [`push_transition`], the safe API over one unsafe write.
//!
//! Why unsafe: `Vec::push` builds the 160-byte transition aside and copies it in (a call of
//! `memcpy`); writing each field in its place, each id cloned and the details made straight
//! into their fields, saves 3.6 % of the instructions of the kernel cycle
//! (docs/performance.md).
//!
//! The invariant the write relies on: the place written is the list's first free one, within
//! its capacity (reserved just before), every field of it is written once (each named by
//! `every_field_written`, so one added to [`KernelTransition`] fails to compile until it is
//! written here too) before the length takes it in, and a free place holds nothing to drop.

use super::KernelTransition;
use crate::types::{Id, TradeStage, TransitionDetails};

/// Appends the transition of slot `slot_id` from `prev_state` to `next_state` by `trigger`
/// at `timestamp`, its ids cloned into their fields and its details made by `details` in
/// theirs: what `list.push(KernelTransition { .. })` appends.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn push_transition(
    list: &mut Vec<KernelTransition>,
    timestamp: f64,
    trade_id: &Id,
    slot_id: usize,
    (prev_state, next_state, trigger): (TradeStage, TradeStage, &'static str),
    intent_id: &Id,
    event_id: &Id,
    details: impl FnOnce() -> TransitionDetails,
) {
    list.reserve(1);
    let len = list.len();
    // SAFETY: `place` is the list's free place at `len`, within its capacity (one reserved
    // just above), written through raw pointers (no reference to the unwritten value), every
    // field once, before the length takes it in; the free place held nothing to drop.
    unsafe {
        let place = list.as_mut_ptr().add(len);
        (&raw mut (*place).timestamp).write(timestamp);
        (&raw mut (*place).trade_id).write(trade_id.clone());
        (&raw mut (*place).slot_id).write(slot_id);
        (&raw mut (*place).prev_state).write(prev_state);
        (&raw mut (*place).next_state).write(next_state);
        (&raw mut (*place).trigger).write(trigger);
        (&raw mut (*place).intent_id).write(intent_id.clone());
        (&raw mut (*place).event_id).write(event_id.clone());
        (&raw mut (*place).details).write(details());
        list.set_len(len + 1);
    }
}

/// The fields [`push_transition`] writes one by one: a field added to [`KernelTransition`]
/// fails to compile here until it is named, and written there too.
#[allow(dead_code)]
fn every_field_written(t: KernelTransition) {
    let KernelTransition {
        timestamp: _,
        trade_id: _,
        slot_id: _,
        prev_state: _,
        next_state: _,
        trigger: _,
        intent_id: _,
        event_id: _,
        details: _,
    } = t;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{id, Detail};

    /// What `push_transition` appends is what `push` appends, into a list with room to spare,
    /// none, or none at all yet; each id inline or shared, and details owning text or not
    /// (each then freed once, when the list is dropped).
    #[test]
    fn a_transition_pushed_in_place_is_the_one_pushed() {
        let long = id("an-id-longer-than-twenty-three-bytes");
        let details = [
            TransitionDetails::Empty,
            TransitionDetails::Submit {
                client_order_id: long.clone(),
                qty: 1.5,
            },
            TransitionDetails::Named(vec![("reason", Detail::Str("why".repeat(20)))]),
        ];
        for capacity in [0, 1, 4] {
            for ids in [
                [id("t1"), id("i1"), Id::default()],
                [long.clone(), long.clone(), long.clone()],
            ] {
                let (mut pushed, mut written) =
                    (Vec::with_capacity(capacity), Vec::with_capacity(capacity));
                for (n, d) in details.iter().enumerate() {
                    let [trade_id, intent_id, event_id] = &ids;
                    let moved = (TradeStage::Idle, TradeStage::OrderSent, "ENTER");
                    pushed.push(KernelTransition {
                        timestamp: n as f64,
                        trade_id: trade_id.clone(),
                        slot_id: n,
                        prev_state: moved.0,
                        next_state: moved.1,
                        trigger: moved.2,
                        intent_id: intent_id.clone(),
                        event_id: event_id.clone(),
                        details: d.clone(),
                    });
                    push_transition(
                        &mut written,
                        n as f64,
                        trade_id,
                        n,
                        moved,
                        intent_id,
                        event_id,
                        || d.clone(),
                    );
                }
                assert_eq!(written, pushed, "capacity {capacity}");
            }
        }
    }
}
