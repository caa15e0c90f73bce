//! Every integration test file, built as one test binary: linked once, not once per file (a
//! binary per file, each linking the crate, would take most of `cargo test`'s time). Each file
//! stays a module of its own name, its tests named `<file>::<test>`. A new file
//! `tests/<name>.rs` needs its line below (`autotests = false` in Cargo.toml);
//! `every_test_file_is_built` fails until then.

// Each file declares its own `mod common;`, as a test binary of its own would.
#![allow(clippy::duplicate_mod)]

#[path = "account_figures_and_payments.rs"]
mod account_figures_and_payments;
#[path = "commission_in_the_coin.rs"]
mod commission_in_the_coin;
#[path = "edge_freeze.rs"]
mod edge_freeze;
#[path = "error_numbers.rs"]
mod error_numbers;
#[path = "events_under_another_venue_id.rs"]
mod events_under_another_venue_id;
#[path = "eviction.rs"]
mod eviction;
#[path = "exit_legs.rs"]
mod exit_legs;
#[path = "exits_and_cancels_act_on_their_slots_market.rs"]
mod exits_and_cancels_act_on_their_slots_market;
#[path = "fee_calibration.rs"]
mod fee_calibration;
#[path = "fees_and_commitment.rs"]
mod fees_and_commitment;
#[path = "figures_the_venue_rounds.rs"]
mod figures_the_venue_rounds;
#[path = "fill_reports.rs"]
mod fill_reports;
#[path = "fill_settlements.rs"]
mod fill_settlements;
#[path = "fills_booked_without_a_fill_id.rs"]
mod fills_booked_without_a_fill_id;
#[path = "kernel_props.rs"]
mod kernel_props;
#[path = "late_fills_of_canceled_exits.rs"]
mod late_fills_of_canceled_exits;
#[path = "late_fills_of_orders_in_doubt.rs"]
mod late_fills_of_orders_in_doubt;
#[path = "later_ends_of_ended_orders.rs"]
mod later_ends_of_ended_orders;
#[path = "limit_fills_past_their_limit.rs"]
mod limit_fills_past_their_limit;
#[path = "loaded_slots_value_their_positions.rs"]
mod loaded_slots_value_their_positions;
#[path = "maker_rebates.rs"]
mod maker_rebates;
#[path = "mark_prices_and_notional_caps.rs"]
mod mark_prices_and_notional_caps;
#[path = "market_closes_pass_the_order_rate.rs"]
mod market_closes_pass_the_order_rate;
#[path = "market_orders_with_a_limit_price.rs"]
mod market_orders_with_a_limit_price;
#[path = "minimum_leverage.rs"]
mod minimum_leverage;
#[path = "mock_venue.rs"]
mod mock_venue;
#[path = "order_rate_window.rs"]
mod order_rate_window;
#[path = "orders_filled_or_acked_short.rs"]
mod orders_filled_or_acked_short;
#[path = "orders_of_a_billion_lots.rs"]
mod orders_of_a_billion_lots;
#[path = "predicted_fees_that_stand.rs"]
mod predicted_fees_that_stand;
#[path = "rate_limits_naming_the_venue_id.rs"]
mod rate_limits_naming_the_venue_id;
#[path = "reconcile_explanation.rs"]
mod reconcile_explanation;
#[path = "reduce_only_exits_on_a_netted_book.rs"]
mod reduce_only_exits_on_a_netted_book;
#[path = "reloaded_slots_keep_their_fills.rs"]
mod reloaded_slots_keep_their_fills;
#[path = "settlements_before_their_fill.rs"]
mod settlements_before_their_fill;
#[path = "subnormal_prices.rs"]
mod subnormal_prices;
#[path = "times_past_the_last_datetime.rs"]
mod times_past_the_last_datetime;
#[path = "unread_report_fields.rs"]
mod unread_report_fields;
#[path = "wal_replay.rs"]
mod wal_replay;

/// A file in tests/ not named above would build into nothing and its tests never run.
#[test]
fn every_test_file_is_built() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let this = std::fs::read_to_string(dir.join("all.rs")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".rs")
            && name != "all.rs"
            && !this.contains(&format!("#[path = \"{name}\"]"))
        {
            missing.push(name);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "add to rust_kernel/tests/all.rs: {missing:?}"
    );
}
