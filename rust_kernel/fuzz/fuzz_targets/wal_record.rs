//! One WAL record's payload, behind the checksum and the hash chain: what a replay does with
//! records a buggy or newer writer sealed properly. Each record is decoded
//! (`kernel_log::decode_input`) and applied to one kernel (`Kernel::apply`, as replay does);
//! nothing may panic, and the kernel keeps the invariants of `tests/kernel_props.rs`.
//! The input is a run of records, each a 2-byte little-endian length and its payload; the
//! corpus starts from a real session's records.
//!
//!     cd rust_kernel/fuzz && cargo +nightly fuzz run wal_record -- -max_total_time=600 -jobs=1
#![no_main]

use dita_kernel::kernel::Kernel;
use dita_kernel::wal::kernel_log::decode_input;
use dita_kernel_fuzz::{
    check_invariants, join_records, session_records, split_records, write_seeds,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        write_seeds("wal_record", || {
            let records = session_records();
            // The whole session, and each record alone.
            let mut seeds = vec![join_records(&records)];
            seeds.extend(records.iter().map(|r| join_records(std::slice::from_ref(r))));
            seeds
        })
    },
    |data: &[u8]| {
        let mut k = Kernel::new("fuzz", 4).unwrap();
        for payload in split_records(data) {
            let Ok(input) = decode_input(payload) else { continue };
            let seq = k.seq();
            match k.apply(&input) {
                // The log's seq numbers are the kernel's: an accepted input moves it by one.
                Ok(out) if out.accepted => assert_eq!(k.seq(), seq + 1, "{input:?}"),
                _ => {}
            }
            check_invariants(&k);
        }
    }
);
