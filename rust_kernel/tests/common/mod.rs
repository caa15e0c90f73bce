//! What the kernel's integration tests share.

use dita_kernel::*;

/// An outcome's details name each field once: a reader taking them as a mapping (Python's
/// dict, a JSON object) would otherwise see only one of two values; and their numbers are finite.
#[allow(dead_code)]
pub fn well_formed_details(out: KernelOutcome) -> KernelOutcome {
    let mut names: Vec<&str> = out.details.iter().map(|(f, _)| *f).collect();
    names.sort_unstable();
    assert!(
        names.windows(2).all(|w| w[0] != w[1]),
        "a detail named twice: {:?}",
        out.details
    );
    // A number in details is finite: the journal writes them as strict JSON, which has none.
    assert!(
        out.details
            .iter()
            .all(|(_, d)| !matches!(d, Detail::F64(x) if !x.is_finite())),
        "a detail not finite: {:?}",
        out.details
    );
    out
}

/// Equal within a relative 1e-9 (absolute near 0).
#[allow(dead_code)] // not every test uses every helper
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

/// The outcome's detail named `name`, if it has one.
#[allow(dead_code)]
pub fn detail(out: &KernelOutcome, name: &str) -> Option<Detail> {
    out.details
        .iter()
        .find(|(n, _)| *n == name)
        .map(|d| d.1.clone())
}
