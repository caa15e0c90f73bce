//! Shared by the fuzz targets: records framed in one fuzz input, a realistic run to seed the
//! corpus with, and the invariants the property tests (`tests/kernel_props.rs`) check.

use std::path::PathBuf;

use dita_kernel::kernel::{Kernel, KernelInput};
use dita_kernel::mock::{MockConfig, MockVenue};
use dita_kernel::wal::kernel_log::encode_input;
use dita_kernel::*;

/// Splits a fuzz input into records, each a 2-byte little-endian length and that many bytes
/// (the last one cut short if the input ends first).
pub fn split_records(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = u16::from_le_bytes([data[0], data[1]]) as usize;
        let end = (2 + len).min(data.len());
        out.push(&data[2..end]);
        data = &data[end..];
    }
    out
}

/// The inverse of [`split_records`].
pub fn join_records(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(&(r.len() as u16).to_le_bytes());
        out.extend_from_slice(r);
    }
    out
}

/// The inputs a kernel accepted in a short session against the mock venue (entries, fills,
/// marks, funding, settlements, exits, settings), in order, each encoded as a WAL record.
pub fn session_records() -> Vec<Vec<u8>> {
    let mut k = Kernel::new("fuzz", 4).unwrap();
    let mut venue = MockVenue::new(MockConfig {
        partial_fill_rate: 0.3,
        ..MockConfig::default()
    })
    .unwrap();
    let mut inputs = vec![
        KernelInput::SeedCapital(1000.0),
        KernelInput::ExchangeConfig(vec![("taker_rate".into(), 0.0004)]),
        KernelInput::MarkPrice {
            asset: id("BTC"),
            price: 100.0,
            ts: 1.0,
        },
    ];
    let step = |k: &mut Kernel, input: KernelInput, inputs: &mut Vec<KernelInput>| {
        let out = k.apply(&input);
        inputs.push(input);
        out
    };
    let mut n = 0;
    for (slot, side) in [(0, TradeSide::Long), (1, TradeSide::Short)] {
        for action in [KernelCommandType::Enter, KernelCommandType::Exit] {
            n += 1;
            let mut i = Intent::new(
                &format!("i{n}"),
                &format!("t{slot}"),
                slot,
                "BTC",
                side,
                action,
                100.0 + n as f64,
                1.5,
            );
            i.timestamp = n as f64;
            let Ok(out) = step(&mut k, KernelInput::Intent(i), &mut inputs) else {
                continue;
            };
            if let Some(order) = &out.submit {
                for e in venue.submit(order) {
                    let _ = step(&mut k, KernelInput::VenueEvent(e), &mut inputs);
                }
            }
            let mut funding = AccountEvent::new(&format!("f{n}"), AccountEventKind::FundingFee);
            funding.asset = id("BTC");
            funding.amount = -0.25;
            let _ = step(&mut k, KernelInput::AccountEvent(funding), &mut inputs);
        }
    }
    inputs.push(KernelInput::SlotExitLegs {
        slot_id: 2,
        ratios: vec![0.5, 0.5],
    });
    inputs.push(KernelInput::CalibrateFee {
        price: 100.0,
        qty: 1.0,
        actual_fee: 0.05,
        maker: false,
    });
    inputs
        .iter()
        .map(|input| {
            let mut buf = Vec::new();
            encode_input(input, &mut buf);
            buf
        })
        .collect()
}

/// Writes `seeds` into `corpus/<target>/` of this crate when that folder is missing or
/// empty, so a first run starts from well-formed inputs rather than from nothing.
pub fn write_seeds(target: &str, seeds: impl FnOnce() -> Vec<Vec<u8>>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        return;
    }
    std::fs::create_dir_all(&dir).unwrap();
    for (i, seed) in seeds().into_iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
    }
}

/// The invariants of `tests/kernel_props.rs`: no negative size, no order filled past its
/// size, and the K capital equal to seed + realized - fees + funding.
pub fn check_invariants(k: &Kernel) {
    for s in k.slots() {
        assert!(
            s.size >= 0.0 || s.size.is_nan(),
            "negative size {} in slot {}",
            s.size,
            s.slot_id
        );
        for o in [&s.active_entry_order, &s.active_exit_order]
            .into_iter()
            .flatten()
        {
            assert!(
                !(o.filled_size > o.size * (1.0 + 1e-9) + 1e-9),
                "filled {} > ordered {} in slot {}",
                o.filled_size,
                o.size,
                s.slot_id
            );
        }
    }
    let a = &k.account;
    let expected = a.seed_capital + a.k_realized_pnl - a.k_fees_paid + a.k_funding_net;
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        !((a.k_capital() - expected).abs() > tolerance),
        "K capital {} != seed + realized - fees + funding {expected}",
        a.k_capital()
    );
}
