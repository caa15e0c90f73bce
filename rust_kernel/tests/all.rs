//! Every integration test file, built as one test binary: linked once, not once per file (27
//! binaries linking the crate each took most of `cargo test`'s time). Each file stays a module
//! of its own name, its tests named `<file>::<test>`. A new file `tests/<name>.rs` needs its
//! line below (`autotests = false` in Cargo.toml); `every_test_file_is_built` fails until then.

// Each file declares its own `mod common;`, as it did as a binary of its own.
#![allow(clippy::duplicate_mod)]

#[path = "error_numbers.rs"]
mod error_numbers;
#[path = "eviction.rs"]
mod eviction;
#[path = "fees_and_commitment.rs"]
mod fees_and_commitment;
#[path = "fill_reports.rs"]
mod fill_reports;
#[path = "kernel_props.rs"]
mod kernel_props;
#[path = "maker_rebates.rs"]
mod maker_rebates;
#[path = "mock_venue.rs"]
mod mock_venue;
#[path = "reconcile_explanation.rs"]
mod reconcile_explanation;
#[path = "rules18.rs"]
mod rules18;
#[path = "rules19.rs"]
mod rules19;
#[path = "rules20.rs"]
mod rules20;
#[path = "rules21.rs"]
mod rules21;
#[path = "rules22.rs"]
mod rules22;
#[path = "rules23.rs"]
mod rules23;
#[path = "rules24.rs"]
mod rules24;
#[path = "rules25.rs"]
mod rules25;
#[path = "rules26.rs"]
mod rules26;
#[path = "rules27.rs"]
mod rules27;
#[path = "rules28.rs"]
mod rules28;
#[path = "rules29.rs"]
mod rules29;
#[path = "rules30.rs"]
mod rules30;
#[path = "rules31.rs"]
mod rules31;
#[path = "rules32_account.rs"]
mod rules32_account;
#[path = "rules32_settlement.rs"]
mod rules32_settlement;
#[path = "rules33_account.rs"]
mod rules33_account;
#[path = "rules33_ack_size.rs"]
mod rules33_ack_size;
#[path = "rules33_caps.rs"]
mod rules33_caps;
#[path = "rules33_early_self_trade.rs"]
mod rules33_early_self_trade;
#[path = "rules33_floor_mark.rs"]
mod rules33_floor_mark;
#[path = "rules33_marks.rs"]
mod rules33_marks;
#[path = "rules34_filled_short.rs"]
mod rules34_filled_short;
#[path = "rules35.rs"]
mod rules35;
#[path = "rules36.rs"]
mod rules36;
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
