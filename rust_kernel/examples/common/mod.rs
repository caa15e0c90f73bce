//! What the probes share: building ENTER/EXIT intents before the clock starts, and taking
//! one intent through the kernel and the native mock venue.

use dita_kernel::mock::MockVenue;
use dita_kernel::wal::kernel_log::InputRef;
use dita_kernel::*;

/// An intent on `slot` numbered `n` (ids `<tag><n>`, trade `t<n>`, time `n`).
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
        std::hint::black_box(k.on_venue_event(&ev));
        taken(k, InputRef::VenueEvent(&ev));
    }
}
