//! A loaded slot's unrealized PnL is made again from its mark, entry and size (unmarked, at
//! its entry), as a mark makes it: a figure loaded, or left by a write of the mark, entry or
//! size through a slot view (which loads every slot), does not stand in the account's equity.

use dita_kernel::*;

mod common;
use common::{close, open_btc};

/// A kernel holding 1 BTC `side` from 100 on slot 0, marked at 105.
fn marked(side: TradeSide) -> Kernel {
    let mut k = Kernel::new("loaded", 1).unwrap();
    k.set_seed_capital(10_000.0).unwrap();
    open_btc(&mut k, 0, side, 1.0);
    k.mark_price("BTC", 105.0, 1_000.0).unwrap();
    k
}

#[test]
fn a_loaded_unrealized_pnl_other_than_its_mark_says_is_made_again() {
    for (side, sign) in [(TradeSide::Long, 1.0), (TradeSide::Short, -1.0)] {
        let mut k = marked(side);
        let mut slots = k.slots().to_vec();
        slots[0].unrealized_pnl = 1e6;
        k.replace_slots(slots).unwrap();
        assert!(close(k.slots()[0].unrealized_pnl, sign * 5.0));
        assert!(close(k.equity(), k.account.k_capital() + sign * 5.0));
    }
}

#[test]
fn a_loaded_mark_entry_or_size_values_the_position_at_once() {
    let mut k = marked(TradeSide::Long);
    let mut slots = k.slots().to_vec();
    slots[0].mark_price = 120.0;
    k.replace_slots(slots).unwrap();
    assert!(close(k.slots()[0].unrealized_pnl, 20.0));
    let mut slots = k.slots().to_vec();
    (slots[0].entry_price, slots[0].size, slots[0].initial_size) = (110.0, 2.0, 2.0);
    k.replace_slots(slots).unwrap();
    assert!(close(k.slots()[0].unrealized_pnl, 20.0));
    assert!(close(k.equity(), k.account.k_capital() + 20.0));
}

#[test]
fn an_unmarked_loaded_position_is_valued_at_its_entry() {
    let mut k = Kernel::new("loaded", 1).unwrap();
    k.set_seed_capital(10_000.0).unwrap();
    open_btc(&mut k, 0, TradeSide::Long, 1.0);
    let mut slots = k.slots().to_vec();
    assert_eq!(slots[0].mark_price, 0.0);
    slots[0].unrealized_pnl = -50.0;
    k.replace_slots(slots).unwrap();
    assert_eq!(k.slots()[0].unrealized_pnl, 0.0);
    assert!(close(k.equity(), k.account.k_capital()));
}
