//! The one error type of the core. Trading refusals are not errors (they are outcomes with
//! diagnostics); these are broken configuration and programmer mistakes.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum KernelError {
    /// A value that is the wrong kind of thing or out of range; names the field and value.
    #[error("invalid {field}: {value} ({reason})")]
    InvalidValue {
        field: String,
        value: String,
        reason: &'static str,
    },
    /// A field the config does not have; lists the ones it has, so a typo shows at once.
    #[error("unknown field {field:?} in {context} (fields: {})", .known.join(", "))]
    UnknownField {
        field: String,
        context: &'static str,
        known: &'static [&'static str],
    },
    #[error(
        "slot_id {slot_id} out of range (kernel has {max_slots} slots: 0 to {})",
        .max_slots.saturating_sub(1)
    )]
    SlotOutOfRange { slot_id: i64, max_slots: usize },
    #[error("{0}")]
    State(String),
}

impl KernelError {
    pub fn invalid(field: &str, value: impl std::fmt::Display, reason: &'static str) -> Self {
        KernelError::InvalidValue {
            field: field.to_string(),
            value: value.to_string(),
            reason,
        }
    }
}

pub type KernelResult<T> = Result<T, KernelError>;

/// The largest magnitude the kernel takes for a price, size, amount, fee or limit: far
/// beyond any real market, and small enough that products and sums of such numbers (a
/// notional, a fee, an account's running totals) stay finite.
pub const MAX_MAGNITUDE: f64 = 1e15;

/// Why a number over [`MAX_MAGNITUDE`] is refused.
pub const TOO_LARGE: &str = "must be at most 1e15 in magnitude";

/// Why a subnormal price is refused ([`is_subnormal`]).
pub const SUBNORMAL_PRICE: &str =
    "must be 0 or at least 2.2250738585072014e-308 (the smallest normal float): a subnormal \
     price has lost its precision, and an entry price or a notional at it rounds to 0";

/// Whether `price` is subnormal: not 0, and smaller in magnitude than the smallest normal
/// float. A position's entry price at it (the fill's notional over its size) underflows to 0.
#[inline(always)]
pub fn is_subnormal(price: f64) -> bool {
    price != 0.0 && price.abs() < f64::MIN_POSITIVE
}

/// The bits of the smallest normal float less one: a non-negative price's bits, less one
/// (wrapping, so 0 stays clear), fall below them only when it is subnormal.
pub const NORMAL_BITS_LESS_ONE: u64 = f64::MIN_POSITIVE.to_bits() - 1;

/// The last second a datetime holds (9999-12-31 23:59:59 UTC), in seconds since the epoch:
/// every time the kernel keeps is read back as a datetime.
pub const LAST_DATETIME_SECOND: f64 = 253_402_300_799.0;

/// Why a time past [`LAST_DATETIME_SECOND`] is refused.
pub const PAST_LAST_DATETIME: &str =
    "must be seconds since the epoch, at most 253402300799 (9999-12-31 23:59:59 UTC, the last \
     second a datetime holds): this reads as milliseconds";

/// Why time `ts` (epoch seconds) is refused, if it is: not finite, before the epoch, or past
/// [`LAST_DATETIME_SECOND`]. The one check of a time, which intents, venue events, slots,
/// orders, marks and the Python constructors meet alike.
#[inline(always)]
pub fn timestamp_flaw(ts: f64) -> Option<&'static str> {
    if !ts.is_finite() {
        Some("must be a finite number")
    } else if ts < 0.0 {
        Some("must not be negative")
    } else if ts > LAST_DATETIME_SECOND {
        Some(PAST_LAST_DATETIME)
    } else {
        None
    }
}

/// [`timestamp_flaw`] as an error naming `field` and the time.
pub fn check_timestamp(field: &str, ts: f64) -> KernelResult<f64> {
    match timestamp_flaw(ts) {
        None => Ok(ts),
        Some(why) => Err(KernelError::invalid(field, format_number(ts), why)),
    }
}

/// Whether `value` of `field` is beyond [`MAX_MAGNITUDE`]. A time has a bound of its own,
/// [`LAST_DATETIME_SECOND`], far below it.
pub fn too_large(field: &str, value: f64) -> bool {
    value.abs() > MAX_MAGNITUDE && field != "timestamp"
}

/// `value` as an error shows it: in exponent form when tiny or huge, as Python shows it
/// (written out, -1e-320 takes 330 digits and 1e300 takes 301).
pub fn format_number(value: f64) -> String {
    if value != 0.0 && (value.abs() < 1e-4 || value.abs() >= 1e16) {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

/// [`check_number`] for each `(name, value)`, the field named `field(name)`.
pub fn check_numbers(
    field: impl Fn(&str) -> String,
    values: &[(&str, f64)],
    min: f64,
) -> KernelResult<()> {
    for &(name, value) in values {
        check_number(&field(name), value, min)?;
    }
    Ok(())
}

/// Checks that a number is finite, at most [`MAX_MAGNITUDE`] in magnitude and at least `min`
/// (inclusive), naming the field if not.
pub fn check_number(field: &str, value: f64, min: f64) -> KernelResult<f64> {
    if !value.is_finite() {
        return Err(KernelError::invalid(
            field,
            value,
            "must be a finite number",
        ));
    }
    if too_large(field, value) {
        return Err(KernelError::invalid(field, format!("{value:e}"), TOO_LARGE));
    }
    if value < min {
        return Err(KernelError::invalid(
            field,
            format_number(value),
            if min == 0.0 {
                "must not be negative"
            } else {
                "below the allowed minimum"
            },
        ));
    }
    Ok(value)
}
