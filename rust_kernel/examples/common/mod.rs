//! What the probes and the criterion bench share: building ENTER/EXIT intents and venue
//! event ids before the clock starts, and taking one intent through the kernel, with the
//! native mock venue or with prebuilt events.

use dita_kernel::mock::MockVenue;
use dita_kernel::wal::kernel_log::InputRef;
use dita_kernel::*;

/// An intent on `slot` numbered `n` (ids `<tag><n>`, trade `t<n>`, time `n`).
#[allow(dead_code)] // not every probe uses every helper
pub fn intent(tag: &str, n: usize, slot: usize, action: KernelCommandType, px: f64) -> Intent {
    let mut it = Intent::new(
        &format!("{tag}{n}"),
        &format!("t{n}"),
        slot as i64,
        "BTCUSDT",
        TradeSide::Long,
        action,
        px,
        1.0,
    );
    it.timestamp = n as f64;
    it
}

/// `n` ENTER/EXIT pairs, pair `i` on slot `i % slots`.
#[allow(dead_code)] // not every probe uses every helper
pub fn trade_pairs(n: usize, slots: usize) -> Vec<(Intent, Intent)> {
    (0..n)
        .map(|i| {
            (
                intent("e", i, i % slots, KernelCommandType::Enter, 100.0),
                intent("x", i, i % slots, KernelCommandType::Exit, 101.0),
            )
        })
        .collect()
}

/// Applies `intent`, hands its order to the venue and applies the venue's answers; `taken`
/// sees each input right after the kernel took it (where a write-ahead log records it).
// Never inlined, so callgrind can collect it alone (`--toggle-collect`), as through_prebuilt.
#[inline(never)]
pub fn through_mock(
    k: &mut Kernel,
    v: &mut MockVenue,
    intent: &Intent,
    mut taken: impl FnMut(&Kernel, InputRef<'_>),
) {
    let out = k.process_intent(intent);
    taken(k, InputRef::Intent(intent));
    let order = out.submit.expect("accepted");
    for ev in v.submit(&order) {
        let answer = k.on_venue_event(&ev);
        std::hint::black_box(&answer);
        taken(k, InputRef::VenueEvent(&ev));
    }
}

/// Venue event ids for cycle `i`: (entry ack, entry fill, exit ack, exit fill).
#[allow(dead_code)]
pub fn event_ids(n: usize) -> Vec<[Id; 4]> {
    (0..n)
        .map(|i| {
            [
                format!("ae{i}"),
                format!("fe{i}"),
                format!("ax{i}"),
                format!("fx{i}"),
            ]
            .map(|s| id(&s))
        })
        .collect()
}

/// A venue's two answers to an order, an ack and a full fill, made once: `through_prebuilt`
/// sets their ids for each order (as an adapter fills in a parsed message), so the cycle
/// measures the kernel and not the making of events; and the outcome every input of the
/// cycle is answered in.
#[allow(dead_code)]
pub struct Answers {
    ack: VenueEvent,
    fill: VenueEvent,
    outcome: KernelOutcome,
}

#[allow(dead_code)]
impl Answers {
    pub fn new() -> Self {
        let none = id("");
        Answers {
            ack: VenueEvent::new("", KernelEventKind::OrderAck, &none),
            fill: VenueEvent::new("", KernelEventKind::Fill, &none),
            outcome: KernelOutcome::blank(),
        }
    }
}

/// Applies `intent`, then an ack and a full fill of its order with the given event ids
/// (built beforehand, as the criterion bench's first figure does).
#[allow(dead_code)]
pub fn through_prebuilt(k: &mut Kernel, intent: &Intent, ids: &[Id], answers: &mut Answers) {
    let Answers { ack, fill, outcome } = answers;
    k.process_intent_into(intent, outcome);
    let order = outcome.submit.as_ref().expect("accepted");
    ack.event_id.clone_from(&ids[0]);
    ack.venue_client_id.clone_from(&order.client_order_id);
    ack.venue_order_id.clone_from(&order.client_order_id);
    fill.event_id.clone_from(&ids[1]);
    fill.venue_client_id.clone_from(&order.client_order_id);
    fill.price = order.reference_price;
    fill.size = order.size;
    // Seen by reference, as a caller reads its answer. One outcome answers every input, as
    // a Rust host keeps one (`process_intent_into`): the kernel refills its lists in place.
    std::hint::black_box(&*outcome);
    k.on_venue_event_into(ack, outcome);
    std::hint::black_box(&*outcome);
    k.on_venue_event_into(fill, outcome);
    std::hint::black_box(&*outcome);
}
