//! An EXIT or a CANCEL acts on its slot: one naming another asset than the slot's (its working
//! order's, or its order in doubt's) is refused, naming `asset` and `slot_asset`, so a stale slot
//! id does not act on another market. The side an EXIT or a CANCEL says is not read: the kernel
//! closes the slot's own side, and a stale slot id is told by the `trade_id` it names.

use dita_kernel::*;

mod common;
use common::{detail, exit_whole, long_btc, open_btc};

fn on(intent_id: &str, action: KernelCommandType, asset: &str) -> Intent {
    let mut i = long_btc(intent_id, "", 0, action, 0.0);
    i.asset = id(asset);
    i
}

fn assert_refused_naming_the_asset(out: &KernelOutcome) {
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    assert_eq!(detail(out, "field"), Some(Detail::Static("asset")));
    assert_eq!(detail(out, "value"), Some(Detail::Id(id("ETH"))));
    assert_eq!(detail(out, "slot_asset"), Some(Detail::Id(id("BTC"))));
    assert!(out.cancels.is_empty() && out.submit.is_none(), "{out:?}");
}

#[test]
fn a_cancel_naming_another_asset_than_the_slots_is_refused_and_cancels_nothing() {
    let mut k = Kernel::new("cx", 1).unwrap();
    open_btc(&mut k, 0, TradeSide::Long, 1.0);
    exit_whole(&mut k, 0, 0);
    let out = k.process_intent(&on("c-eth", KernelCommandType::Cancel, "ETH"));
    assert_refused_naming_the_asset(&out);
    let exit = k.slots()[0].active_exit_order.clone().expect("exit works");
    assert!(!exit.cancel_requested);
    for (n, asset) in ["", "BTC"].into_iter().enumerate() {
        let out = k.process_intent(&on(&format!("c{n}"), KernelCommandType::Cancel, asset));
        assert!(out.accepted && out.cancels.len() == 1, "{asset:?}: {out:?}");
    }
}

#[test]
fn a_cancel_of_an_order_in_doubt_naming_another_asset_is_refused() {
    let mut k = Kernel::new("cx", 1).unwrap();
    let entry = k
        .process_intent(&long_btc("e0", "t0", 0, KernelCommandType::Enter, 1.0))
        .submit
        .expect("entry sent");
    assert!(
        k.process_intent(&on("c0", KernelCommandType::Cancel, ""))
            .accepted
    );
    let mut throttled = VenueEvent::new("rl", KernelEventKind::RateLimited, &entry.client_order_id);
    throttled.retry_after = 1.0;
    k.on_venue_event(&throttled);
    assert_eq!(k.orders_in_doubt().len(), 1);
    let out = k.process_intent(&on("c-eth", KernelCommandType::Cancel, "ETH"));
    assert_refused_naming_the_asset(&out);
    let out = k.process_intent(&on("c1", KernelCommandType::Cancel, "BTC"));
    assert!(out.accepted && out.cancels.len() == 1, "{out:?}");
    assert_eq!(detail(&out, "order_in_doubt"), Some(Detail::Bool(true)));
}

#[test]
fn a_cancel_with_no_working_order_is_refused_naming_the_slot() {
    let mut k = Kernel::new("cx", 1).unwrap();
    let out = k.process_intent(&on("c0", KernelCommandType::Cancel, ""));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidTransition);
    assert_eq!(detail(&out, "field"), Some(Detail::Static("slot_id")));
    assert_eq!(detail(&out, "value"), Some(Detail::I64(0)));
}

#[test]
fn an_exit_closes_the_slots_own_side_whatever_side_it_says() {
    let mut k = Kernel::new("cx", 1).unwrap();
    open_btc(&mut k, 0, TradeSide::Short, 1.0);
    // Another trade's id is what tells a stale slot id: refused, nothing sent.
    let mut stale = long_btc("x-stale", "t-other", 0, KernelCommandType::Exit, 0.0);
    stale.side = TradeSide::Short;
    let out = k.process_intent(&stale);
    assert!(!out.accepted && out.submit.is_none(), "{out:?}");
    assert_eq!(detail(&out, "field"), Some(Detail::Static("trade_id")));
    // The side said is not read: the short is bought back.
    let out = k.process_intent(&long_btc("x0", "t0", 0, KernelCommandType::Exit, 0.0));
    let sent = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(sent.side, OrderSide::Buy);
}
