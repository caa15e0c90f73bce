//! What the kernel answers to each input: the outcome (taken or refused, and why), and the
//! transitions of slots' stages it made.

use super::{VenueEvent, VenueOrder};
use crate::fsm::Trigger;
use crate::types::*;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// A slot's move from stage `prev_state` to `next_state`, and the input that moved it
/// (`trigger`, with its intent or event id).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KernelTransition {
    pub timestamp: f64,
    pub trade_id: Id,
    pub slot_id: usize,
    pub prev_state: TradeStage,
    pub next_state: TradeStage,
    pub trigger: &'static str,
    pub intent_id: Id,
    pub event_id: Id,
    pub details: TransitionDetails,
}

/// A [`KernelTransition`]'s encoding read back, field for field; its trigger by name.
#[derive(Deserialize)]
struct TransitionRead {
    timestamp: f64,
    trade_id: Id,
    slot_id: usize,
    prev_state: TradeStage,
    next_state: TradeStage,
    trigger: String,
    intent_id: Id,
    event_id: Id,
    details: TransitionDetails,
}

impl<'de> Deserialize<'de> for KernelTransition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = TransitionRead::deserialize(d)?;
        let trigger = Trigger::ALL
            .map(Trigger::name)
            .into_iter()
            .find(|name| *name == t.trigger)
            .ok_or_else(|| D::Error::custom(format!("unknown trigger {:?}", t.trigger)))?;
        Ok(KernelTransition {
            timestamp: t.timestamp,
            trade_id: t.trade_id,
            slot_id: t.slot_id,
            prev_state: t.prev_state,
            next_state: t.next_state,
            trigger,
            intent_id: t.intent_id,
            event_id: t.event_id,
            details: t.details,
        })
    }
}

/// The answer to every input: whether it was taken, what changed and, if not, why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelOutcome {
    pub accepted: bool,
    pub slot_id: i64,
    pub trade_id: Id,
    pub state: TradeStage,
    pub diagnostic_code: KernelDiagnosticCode,
    pub severity: KernelSeverity,
    pub transitions: Vec<KernelTransition>,
    pub emitted_events: Vec<VenueEvent>,
    /// Orders the caller must hand to the venue (submit) or cancel, in this order.
    pub submit: Option<VenueOrder>,
    pub cancels: Vec<VenueOrder>,
    #[serde(deserialize_with = "read_details")]
    pub details: Details,
    pub seq: u64,
}

impl KernelOutcome {
    pub fn ok(slot_id: i64, trade_id: Id, state: TradeStage, seq: u64) -> Self {
        KernelOutcome {
            accepted: true,
            slot_id,
            trade_id,
            state,
            diagnostic_code: KernelDiagnosticCode::Ok,
            severity: KernelSeverity::Info,
            transitions: Vec::new(),
            emitted_events: Vec::new(),
            submit: None,
            cancels: Vec::new(),
            details: Vec::new(),
            seq,
        }
    }

    /// An outcome of no input yet, for an `_into` input to answer in (see
    /// `Kernel::process_intent_into`).
    pub fn blank() -> Self {
        Self::ok(-1, Id::default(), TradeStage::Idle, 0)
    }

    /// Makes this an `OK` outcome on `slot_id` with nothing recorded yet, keeping its lists'
    /// allocations: what an input answered in place starts from.
    #[inline(always)]
    pub(crate) fn reset_ok(&mut self, slot_id: i64, trade_id: Id, state: TradeStage, seq: u64) {
        self.accepted = true;
        self.slot_id = slot_id;
        self.trade_id = trade_id;
        self.state = state;
        self.diagnostic_code = KernelDiagnosticCode::Ok;
        self.severity = KernelSeverity::Info;
        if self.transitions.capacity() == 0 {
            // A blank outcome (a by-value input's): room for an ENTER's or EXIT's two and the
            // two its venue's ack and fill add, made at once rather than grown on the way.
            self.transitions = Vec::with_capacity(4);
        } else {
            self.transitions.clear();
        }
        // Most answers list no events, cancels or details: an empty list is left as it is.
        if !self.emitted_events.is_empty() {
            self.emitted_events.clear();
        }
        self.submit = None;
        if !self.cancels.is_empty() {
            self.cancels.clear();
        }
        if !self.details.is_empty() {
            self.details.clear();
        }
        self.seq = seq;
    }

    #[cold]
    pub fn refused(
        slot_id: i64,
        trade_id: Id,
        state: TradeStage,
        code: KernelDiagnosticCode,
        severity: KernelSeverity,
        details: Details,
        seq: u64,
    ) -> Self {
        KernelOutcome {
            accepted: false,
            diagnostic_code: code,
            severity,
            details,
            ..KernelOutcome::ok(slot_id, trade_id, state, seq)
        }
    }

    /// Whether the input changed the kernel: accepted, or a venue's rate limit, which is
    /// refused (`RATE_LIMITED`) yet ends an order the venue never acknowledged, or is a
    /// throttled cancel. What routes a venue's events on (an answer's, a poll's) asks this.
    pub fn applied(&self) -> bool {
        self.accepted || self.diagnostic_code == KernelDiagnosticCode::RateLimited
    }

    /// Folds the outcome of a follow-up input (a venue's synchronous answer, `event`) into this
    /// one: its transitions and cancels, and the details of a refused or rate-limited
    /// follow-up, are moved here; their lists' allocations stay with `follow_up`, for its next
    /// input.
    ///
    /// Every refused event is named, whatever came before it: `venue_event_refused` is the
    /// last one's diagnostic, `venue_events_refused` how many there were, and
    /// `venue_refusals` lists each in order, as JSON (`[{"event_id", "kind", "code"}]`). A
    /// refusal's own details come along only while this outcome is still `OK`: after a rate
    /// limit (its `retry_after`, `client_order_id`) they would overwrite the main diagnostic's.
    /// An ack or fill of the order such a rate limit ended brings its severity (CRITICAL) and
    /// details (`order_kept`, `slot_waits` while the order is in doubt).
    pub fn absorb(&mut self, follow_up: &mut KernelOutcome, event: &VenueEvent) {
        // The stage moves with the follow-up's transitions of this slot; a refused follow-up
        // moves nothing, whatever stage its refusal names.
        if let Some(t) = follow_up
            .transitions
            .iter()
            .rev()
            .find(|t| t.slot_id as i64 == self.slot_id)
        {
            self.state = t.next_state;
        }
        self.transitions.append(&mut follow_up.transitions);
        // Only an ack or fill of an order a rate limit ended is taken CRITICAL with
        // `order_kept`: the venue took an order it answered RATE_LIMITED, and "nothing was
        // placed" no longer holds.
        let held_after_all = follow_up.accepted
            && follow_up.severity == KernelSeverity::Critical
            && follow_up.details.iter().any(|(k, _)| *k == "order_kept");
        if held_after_all {
            self.severity = self.severity.max(follow_up.severity);
            self.details.append(&mut follow_up.details);
        } else if follow_up.diagnostic_code == KernelDiagnosticCode::RateLimited {
            self.accepted = false;
            self.diagnostic_code = KernelDiagnosticCode::RateLimited;
            self.severity = KernelSeverity::Warning;
            self.details.append(&mut follow_up.details);
        } else if !follow_up.accepted {
            // The venue's answer could not be applied: surface it, the intent stands. Once
            // named, the list and the count are the last details (until other details come
            // after them), so an answer of many refusals finds them at once from the end.
            let mut listed = match take_detail(&mut self.details, "venue_refusals") {
                Some(Detail::Str(listed)) => listed,
                _ => String::from("[]"),
            };
            let refused_so_far = match take_detail(&mut self.details, "venue_events_refused") {
                Some(Detail::I64(n)) => n,
                _ => 0,
            };
            self.severity = self.severity.max(follow_up.severity);
            self.details.push((
                "venue_event_refused",
                Detail::Static(follow_up.diagnostic_code.name()),
            ));
            if self.diagnostic_code == KernelDiagnosticCode::Ok {
                self.details.append(&mut follow_up.details);
            }
            // An id is shown whole up to a bound: an endless answer of one event carrying a
            // huge id is listed up to the answer's limit.
            let id = match event.event_id.char_indices().nth(REFUSED_ID_SHOWN) {
                Some((cut, _)) => Detail::Str(format!("{}...", &event.event_id[..cut])),
                None => Detail::Id(event.event_id.clone()),
            };
            listed.pop(); // the closing ']'
            if listed.len() > 1 {
                listed.push(',');
            }
            listed.push_str(&details_json(&[
                ("event_id", id),
                ("kind", Detail::Static(event.kind.name())),
                ("code", Detail::Static(follow_up.diagnostic_code.name())),
            ]));
            listed.push(']');
            self.details.push(("venue_refusals", Detail::Str(listed)));
            self.details
                .push(("venue_events_refused", Detail::I64(refused_so_far + 1)));
        }
        self.cancels.append(&mut follow_up.cancels);
    }
}

/// The most characters of a refused event's id `KernelOutcome::absorb` lists.
const REFUSED_ID_SHOWN: usize = 128;

/// Removes the last detail named `key` and returns its value; looked for from the end, where
/// `KernelOutcome::absorb` keeps what it updates.
fn take_detail(details: &mut Details, key: &str) -> Option<Detail> {
    let at = details.iter().rposition(|(k, _)| *k == key)?;
    Some(details.remove(at).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of `out`'s details named `key`, as text, in order.
    fn named(out: &KernelOutcome, key: &str) -> Vec<String> {
        out.details
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
            .collect()
    }

    #[test]
    fn absorbing_refused_follow_ups_counts_them_beside_the_last() {
        let id = Id::from("t");
        let mut out = KernelOutcome::ok(0, id.clone(), TradeStage::OrderSent, 1);
        let refusal = |code| {
            let details = vec![("event_id", Detail::Static("e"))];
            KernelOutcome::refused(
                0,
                id.clone(),
                TradeStage::OrderSent,
                code,
                KernelSeverity::Warning,
                details,
                2,
            )
        };
        let fill = |event_id| VenueEvent::new(event_id, KernelEventKind::Fill, &id);
        out.absorb(
            &mut refusal(KernelDiagnosticCode::DuplicateEvent),
            &fill("f1"),
        );
        out.absorb(
            &mut refusal(KernelDiagnosticCode::UnknownOrder),
            &fill("f2"),
        );
        assert!(out.accepted && out.severity == KernelSeverity::Warning);
        assert_eq!(named(&out, "venue_events_refused"), ["2"]);
        assert_eq!(
            named(&out, "venue_event_refused")
                .last()
                .map(String::as_str),
            Some("UNKNOWN_ORDER")
        );
        assert_eq!(
            named(&out, "venue_refusals"),
            [concat!(
                r#"[{"event_id":"f1","kind":"FILL","code":"DUPLICATE_EVENT"},"#,
                r#"{"event_id":"f2","kind":"FILL","code":"UNKNOWN_ORDER"}]"#
            )]
        );
    }

    #[test]
    fn absorbing_a_refusal_after_a_rate_limit_lists_it_and_keeps_the_rate_limit() {
        let id = Id::from("t");
        let mut out = KernelOutcome::ok(0, id.clone(), TradeStage::OrderSent, 1);
        // A follow-up refused with `code` at `severity`, naming order `client` (seq `seq`).
        let refused_as = |code, severity, client: &'static str, seq| {
            KernelOutcome::refused(
                0,
                id.clone(),
                TradeStage::Idle,
                code,
                severity,
                vec![("client_order_id", Detail::Static(client))],
                seq,
            )
        };
        let mut limited = refused_as(
            KernelDiagnosticCode::RateLimited,
            KernelSeverity::Warning,
            "c1",
            2,
        );
        out.absorb(
            &mut limited,
            &VenueEvent::new("r1", KernelEventKind::RateLimited, &id),
        );
        let mut refused = refused_as(
            KernelDiagnosticCode::UnknownOrder,
            KernelSeverity::Critical,
            "other",
            3,
        );
        let long_id = "x".repeat(REFUSED_ID_SHOWN + 10);
        out.absorb(
            &mut refused,
            &VenueEvent::new(&long_id, KernelEventKind::Fill, &id),
        );
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::RateLimited);
        assert!(!out.accepted && out.severity == KernelSeverity::Critical);
        // The refusal's own details do not overwrite the rate limit's.
        assert_eq!(named(&out, "client_order_id"), ["c1"]);
        assert_eq!(named(&out, "venue_event_refused"), ["UNKNOWN_ORDER"]);
        assert_eq!(named(&out, "venue_events_refused"), ["1"]);
        let shown = format!("{}...", &long_id[..REFUSED_ID_SHOWN]);
        assert_eq!(
            named(&out, "venue_refusals"),
            [format!(
                r#"[{{"event_id":"{shown}","kind":"FILL","code":"UNKNOWN_ORDER"}}]"#
            )]
        );
    }

    /// An ENTER's transition IDLE -> ORDER_SENT with inline ids and `details`.
    fn entered(details: TransitionDetails) -> KernelTransition {
        KernelTransition {
            timestamp: 1.0,
            trade_id: id("t1"),
            slot_id: 0,
            prev_state: TradeStage::Idle,
            next_state: TradeStage::OrderSent,
            trigger: "ENTER",
            intent_id: id("i1"),
            event_id: Id::default(),
            details,
        }
    }

    /// Whatever the answer held (up to three transitions, one owning heap text at any place,
    /// or none; events, cancels and details), `reset_ok` leaves every list empty.
    #[test]
    fn reset_ok_empties_every_list() {
        let plain = entered(TransitionDetails::Empty);
        let owning = entered(TransitionDetails::Ended {
            filled_size: 0.0,
            order_size: 1.0,
            reason: "gone".to_owned(),
        });
        for n in 0..=3 {
            for heap_at in (0..n).map(Some).chain([None]) {
                let transitions: Vec<_> = (0..n)
                    .map(|i| {
                        if heap_at == Some(i) {
                            owning.clone()
                        } else {
                            plain.clone()
                        }
                    })
                    .collect();
                let mut out = KernelOutcome::blank();
                out.transitions = transitions;
                out.emitted_events = vec![VenueEvent::new("e", KernelEventKind::Fill, &id("c"))];
                out.details = vec![("reason", Detail::Static("x"))];
                let order = VenueOrder::sample(id("k-1"), id("v-1"), id("t1"), id("ETHUSDT"));
                out.cancels = vec![order.clone()];
                out.submit = Some(order);
                out.reset_ok(0, id("t2"), TradeStage::Idle, 1);
                assert!(out.transitions.is_empty(), "{n}, {heap_at:?}");
                assert!(out.emitted_events.is_empty() && out.details.is_empty());
                assert!(out.cancels.is_empty() && out.submit.is_none());
                assert_eq!((out.trade_id.as_str(), out.seq), ("t2", 1));
            }
        }
    }

    /// An outcome encoded (a pickle's state) reads back with every field, its transitions'
    /// triggers and its details' names the kernel's own; a static text reads back as owned.
    #[test]
    fn an_outcome_reads_back_from_its_encoding() {
        let mut out = KernelOutcome::ok(2, id("t1"), TradeStage::OrderSent, 7);
        out.transitions = vec![
            entered(TransitionDetails::Submit {
                client_order_id: id("c1"),
                qty: 1.5,
            }),
            entered(TransitionDetails::Named(vec![(
                "edge_bps",
                Detail::F64(3.0),
            )])),
            entered(TransitionDetails::Reason(Detail::Static("frozen"))),
        ];
        out.details = vec![("reason", Detail::Static("late")), ("n", Detail::I64(3))];
        out.submit = Some(VenueOrder::sample(id("c1"), id("v1"), id("t1"), id("X")));
        let back: KernelOutcome = bincode::deserialize(&bincode::serialize(&out).unwrap()).unwrap();
        assert_eq!(details_json(&back.details), details_json(&out.details));
        assert_eq!(back.details[0].1, Detail::Str("late".to_owned()));
        assert_eq!(back.transitions[..2], out.transitions[..2]);
        assert_eq!(
            back.transitions[2].details,
            TransitionDetails::Reason(Detail::Str("frozen".to_owned()))
        );
        assert_eq!((back.submit, back.seq, back.slot_id), (out.submit, 7, 2));
        let mut unknown = out.transitions[0].clone();
        unknown.trigger = "NO_SUCH_TRIGGER";
        let bytes = bincode::serialize(&unknown).unwrap();
        assert!(bincode::deserialize::<KernelTransition>(&bytes).is_err());
    }
}
