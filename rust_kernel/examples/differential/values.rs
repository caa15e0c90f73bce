//! The values a caller should never send, and ids of every length and encoding: what the
//! generator slips into otherwise valid input.

use crate::rng::Rng;

/// Numbers each of a kind the kernel's checks tell apart: not a number, infinite, negative,
/// negative zero, subnormal, beyond the kernel's largest magnitude, zero, tiny.
pub const BAD_NUMBERS: [f64; 12] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -1.0,
    -0.0,
    5e-324,
    1e-310,
    1e16,
    1e300,
    0.0,
    -1e-12,
    1e-13,
];

/// `good`, or with probability `p` a bad number.
pub fn number(rng: &mut Rng, good: f64, p: f64) -> f64 {
    if rng.chance(p) {
        *rng.pick(&BAD_NUMBERS)
    } else {
        good
    }
}

/// `good`, or with probability `p` a bad number or none.
pub fn opt_number(rng: &mut Rng, good: Option<f64>, p: f64) -> Option<f64> {
    if rng.chance(p) {
        if rng.chance(0.3) {
            None
        } else {
            Some(*rng.pick(&BAD_NUMBERS))
        }
    } else {
        good
    }
}

/// `text` padded with `fill` up to `len` bytes (or as it is when already that long).
fn padded(mut text: String, fill: char, len: usize) -> String {
    while text.len() + fill.len_utf8() <= len {
        text.push(fill);
    }
    while text.len() < len {
        text.push('0');
    }
    text
}

/// An id numbered `n` of an unusual form: empty, one byte, 22 to 25 bytes (around where an
/// id stops being held inline), long, multi-byte UTF-8, whitespace only, with a NUL.
pub fn odd_id(rng: &mut Rng, n: u64) -> String {
    match rng.below(14) {
        0 => String::new(),
        1 => rng.pick(&["x", "7", "-"]).to_string(),
        2 => padded(format!("id{n}"), 'z', 22),
        3 => padded(format!("id{n}"), 'z', 23),
        4 => padded(format!("id{n}"), 'z', 24),
        5 => padded(format!("id{n}"), 'z', 25),
        6 => padded(format!("long{n}-"), 'q', 40 + rng.below(300)),
        7 => padded(format!("é{n}"), 'é', 22 + rng.below(4)),
        8 => padded(format!("日{n}"), '本', 21 + rng.below(6)),
        9 => format!("🚀{n}"),
        10 => rng.pick(&[" ", "   ", "\t", "\n \t"]).to_string(),
        11 => format!(" lead{n}"),
        12 => format!("nul{n}\0x"),
        _ => format!("{n}"),
    }
}

/// `normal`, or with probability `p` an odd id.
pub fn id_or_odd(rng: &mut Rng, normal: String, n: u64, p: f64) -> String {
    if rng.chance(p) {
        odd_id(rng, n)
    } else {
        normal
    }
}
