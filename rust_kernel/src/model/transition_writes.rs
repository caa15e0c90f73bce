//! Appending transitions to an answer's list with each field written straight into the
//! list's free place: [`push_transition`] and [`push_two_transitions`], safe functions over
//! one unsafe write.
//!
//! Why unsafe: `Vec::push` builds the 160-byte transition aside and copies it in (a call of
//! `memcpy`); writing each field in its place, each id cloned and the details made straight
//! into their fields, saves 3.6 % of the instructions of the kernel cycle
//! (docs/performance.md).
//!
//! The invariant the write relies on: the places written are the list's first free ones,
//! within its capacity (reserved just before), every field of each is written once (each
//! named by `every_field_written`, so one added to [`KernelTransition`] fails to compile until
//! it is written here too) before the length takes them in, and a free place holds nothing to
//! drop.

use super::KernelTransition;
use crate::fsm::Trigger;
use crate::types::{Id, TradeStage, TransitionDetails};

/// Appends the transition of slot `slot_id` from `prev_state` to `next_state` by `trigger`
/// at `timestamp`, its ids cloned into their fields: what `list.push(KernelTransition { .. })`
/// appends.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn push_transition(
    list: &mut Vec<KernelTransition>,
    timestamp: f64,
    trade_id: &Id,
    slot_id: usize,
    moved: (TradeStage, TradeStage, Trigger),
    intent_id: &Id,
    event_id: &Id,
    details: TransitionDetails,
) {
    list.reserve(1);
    let len = list.len();
    let place = list.spare_capacity_mut()[0].as_mut_ptr();
    // SAFETY: the list's free place at `len`, within its capacity (one reserved just above),
    // written whole (`write_fields`) before the length takes it in.
    unsafe {
        let ids = (trade_id, intent_id, event_id);
        write_fields(place, timestamp, slot_id, moved, ids, || details);
        list.set_len(len + 1);
    }
}

/// Two transitions of slot `slot_id` by one intent at one time (a request and its submit),
/// `first` then `second`, each with the details its closure makes in place: one reserve and
/// one length update for both, where two [`push_transition`]s cost 0.8 % more of the cycle.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn push_two_transitions(
    list: &mut Vec<KernelTransition>,
    timestamp: f64,
    trade_id: &Id,
    slot_id: usize,
    (intent_id, event_id): (&Id, &Id),
    (first, first_details): (
        (TradeStage, TradeStage, Trigger),
        impl FnOnce() -> TransitionDetails,
    ),
    (second, second_details): (
        (TradeStage, TradeStage, Trigger),
        impl FnOnce() -> TransitionDetails,
    ),
) {
    list.reserve(2);
    let len = list.len();
    let ids = (trade_id, intent_id, event_id);
    // SAFETY: the list's free places at `len` and `len + 1`, within its capacity (two
    // reserved just above), each written whole (`write_fields`) before the length takes them
    // in.
    unsafe {
        let place = list.as_mut_ptr().add(len);
        write_fields(place, timestamp, slot_id, first, ids, first_details);
        write_fields(
            place.add(1),
            timestamp,
            slot_id,
            second,
            ids,
            second_details,
        );
        list.set_len(len + 2);
    }
}

/// Writes every field of the transition at `place` once, through raw pointers (no reference
/// to the unwritten value), each id (trade, intent, event) cloned and the details made
/// straight into their fields.
///
/// # Safety
/// `place` is valid for writes of a transition and holds nothing to drop.
#[inline(always)]
unsafe fn write_fields(
    place: *mut KernelTransition,
    timestamp: f64,
    slot_id: usize,
    (prev_state, next_state, trigger): (TradeStage, TradeStage, Trigger),
    (trade_id, intent_id, event_id): (&Id, &Id, &Id),
    details: impl FnOnce() -> TransitionDetails,
) {
    // SAFETY: the caller's word.
    unsafe {
        (&raw mut (*place).timestamp).write(timestamp);
        (&raw mut (*place).trade_id).write(trade_id.clone());
        (&raw mut (*place).slot_id).write(slot_id);
        (&raw mut (*place).prev_state).write(prev_state);
        (&raw mut (*place).next_state).write(next_state);
        (&raw mut (*place).trigger).write(trigger.name());
        (&raw mut (*place).intent_id).write(intent_id.clone());
        (&raw mut (*place).event_id).write(event_id.clone());
        (&raw mut (*place).details).write(details());
    }
}

/// The fields [`write_fields`] writes one by one: a field added to [`KernelTransition`] fails
/// to compile here until it is named, and written there too.
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

    /// The transition `push` appends.
    fn built(
        n: usize,
        ids: &[Id; 3],
        moved: (TradeStage, TradeStage, Trigger),
        details: &TransitionDetails,
    ) -> KernelTransition {
        let [trade_id, intent_id, event_id] = ids;
        KernelTransition {
            timestamp: n as f64,
            trade_id: trade_id.clone(),
            slot_id: n,
            prev_state: moved.0,
            next_state: moved.1,
            trigger: moved.2.name(),
            intent_id: intent_id.clone(),
            event_id: event_id.clone(),
            details: details.clone(),
        }
    }

    /// What `push_transition` and `push_two_transitions` append is what `push` appends, into
    /// a list with room to spare, none, or none at all yet; each id inline or shared, and
    /// details owning text or not (each then freed once, when the list is dropped).
    #[test]
    fn transitions_written_in_place_are_the_ones_pushed() {
        let long = id("an-id-longer-than-twenty-three-bytes");
        let details = [
            TransitionDetails::Empty,
            TransitionDetails::Submit {
                client_order_id: long.clone(),
                qty: 1.5,
            },
            TransitionDetails::Named(vec![("reason", Detail::Str("why".repeat(20)))]),
        ];
        let request = (TradeStage::Idle, TradeStage::OrderRequested, Trigger::Enter);
        let submit = (
            TradeStage::OrderRequested,
            TradeStage::OrderSent,
            Trigger::Submit,
        );
        for capacity in [0, 1, 2, 5] {
            for ids in [
                [id("t1"), id("i1"), Id::default()],
                [long.clone(), long.clone(), long.clone()],
            ] {
                let [trade_id, intent_id, event_id] = &ids;
                let (mut pushed, mut written) =
                    (Vec::with_capacity(capacity), Vec::with_capacity(capacity));
                for (n, d) in details.iter().enumerate() {
                    pushed.push(built(n, &ids, request, d));
                    let moved = request;
                    push_transition(
                        &mut written,
                        n as f64,
                        trade_id,
                        n,
                        moved,
                        intent_id,
                        event_id,
                        d.clone(),
                    );
                    pushed.push(built(n, &ids, request, d));
                    pushed.push(built(n, &ids, submit, &details[0]));
                    push_two_transitions(
                        &mut written,
                        n as f64,
                        trade_id,
                        n,
                        (intent_id, event_id),
                        (request, || d.clone()),
                        (submit, || details[0].clone()),
                    );
                }
                assert_eq!(written, pushed, "capacity {capacity}");
            }
        }
    }
}
