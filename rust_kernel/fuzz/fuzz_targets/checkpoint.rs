//! A checkpoint's state, behind its digest: `kernel_log::decode_kernel` on bytes a buggy or
//! newer writer could have sealed. Decoding must refuse or succeed, never panic, abort or
//! allocate without bound; a kernel it returns must take a re-encode and a session's inputs
//! without panicking (its invariants are not checked: the state is the file's word).
//!
//!     cd rust_kernel/fuzz && cargo +nightly fuzz run checkpoint -- -max_total_time=600 -jobs=1
#![no_main]

use dita_kernel::kernel::Kernel;
use dita_kernel::wal::kernel_log::{decode_input, decode_kernel, encode_kernel};
use dita_kernel_fuzz::{session_records, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        write_seeds("checkpoint", || {
            // The state of a new kernel and of one after each record of a session.
            let mut k = Kernel::new("fuzz", 4).unwrap();
            let mut seeds = vec![encode_kernel(&k)];
            for r in session_records() {
                let _ = k.apply(&decode_input(&r).unwrap());
                seeds.push(encode_kernel(&k));
            }
            seeds
        })
    },
    |data: &[u8]| {
        let Ok(mut k) = decode_kernel(data) else { return };
        let again = decode_kernel(&encode_kernel(&k)).expect("a decoded state re-encodes");
        assert_eq!(again.seq(), k.seq());
        for r in session_records() {
            let _ = k.apply(&decode_input(&r).unwrap());
        }
        let _ = encode_kernel(&k);
    }
);
