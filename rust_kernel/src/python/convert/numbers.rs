//! Real numbers and lists of them: any `numbers.Real` but a bool, named on error.

use super::{short_repr, type_name, wrong_type};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyFloat, PyInt, PyMapping, PyMemoryView, PySequence, PyString,
    PyType,
};

/// Whether `obj` is a real number as dita takes one everywhere, Python's layer included
/// (`dita._numbers.is_real`): a `numbers.Real` (int, float, numpy's integers and floats, a
/// `Fraction`). A bool is one to Python; callers refuse it first (`refuse_bool`).
pub fn is_real(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    static REAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    if obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyInt>() {
        return Ok(true);
    }
    obj.is_instance(REAL.import(obj.py(), "numbers", "Real")?)
}

/// A number argument, named on error: any real number (`is_real`), not a bool (Python's or
/// numpy's) and not a complex, a `Decimal` or text. A float32 price from a data column is
/// taken as `mark_price` takes it as an intent's price.
pub fn float_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<f64> {
    if obj.is_exact_instance_of::<PyFloat>() {
        return obj.extract::<f64>();
    }
    refuse_bool(obj, field)?;
    if !is_real(obj)? {
        return Err(wrong_type(
            format_args!("invalid {field}: expected a number"),
            obj,
        ));
    }
    obj.extract::<f64>().map_err(|e| {
        if e.is_instance_of::<PyOverflowError>(obj.py()) {
            let reason = if field == "timestamp" {
                "must be a finite number"
            } else {
                crate::error::TOO_LARGE
            };
            return too_large(obj, field, reason);
        }
        // A number whose __float__ raises or returns no float: its own error, as the cause
        // of one naming the field (it is no number too large).
        let err = PyTypeError::new_err(format!(
            "invalid {field}: {} {} could not be read as a number: {e}",
            type_name(obj),
            short_repr(obj)
        ));
        err.set_cause(obj.py(), Some(e));
        err
    })
}

/// The ValueError for `obj`, a number of `field` too large for a float, and why.
fn too_large(obj: &Bound<'_, PyAny>, field: &str, reason: &str) -> PyErr {
    PyValueError::new_err(format!("invalid {field}: {} ({reason})", short_repr(obj)))
}

fn opt_float_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Option<f64>> {
    if obj.is_none() {
        return Ok(None);
    }
    float_arg(obj, field).map(Some)
}

/// Whether `obj` is a bool, Python's or numpy's (which is no int subclass).
pub fn is_bool(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyBool>() || matches!(type_name(obj).as_str(), "bool" | "bool_")
}

/// A TypeError naming `field` and the value when `obj` is a bool (Python's or numpy's): a
/// number PyO3 would take as 1.0 or 0.0, so `buy(size=True)` would buy 1.0.
fn refuse_bool(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<()> {
    if is_bool(obj) {
        return Err(wrong_type(
            format_args!("invalid {field}: expected a number"),
            obj,
        ));
    }
    Ok(())
}

/// The exit legs `obj` gives as `field`, a list of numbers; refused naming the field (and an
/// item by its place) when it is no list or an item no number (`float_arg`).
fn real_list_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<f64>> {
    leg_ratios(obj, field)?.ok_or_else(|| not_a_list(obj, field))
}

/// The TypeError for `obj`, given as `field`, a list of numbers, when it is none (text, a
/// number, None, a set): PyO3's own words ("Can't extract `str` to `Vec`") name neither what
/// is taken nor the value.
pub fn not_a_list(obj: &Bound<'_, PyAny>, field: &str) -> PyErr {
    wrong_type(
        format_args!("invalid {field}: expected a list of numbers"),
        obj,
    )
}

/// The exit-leg ratios `obj` gives as `field`: None when it is no sequence (text, bytes, a
/// number, None, a set, an iterator, a 0-d array), which the caller names; each item a number
/// as `float_arg` takes one, refused by its place. More than [`MAX_EXIT_LEGS`] is refused by its
/// `len()` or, failing that, at the first item past the cap: an endless sequence, or one whose
/// `len()` claims 2**40 items, is neither read to its end nor allocated for.
pub fn leg_ratios(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Option<Vec<f64>>> {
    if !is_sequence(obj)? {
        return Ok(None);
    }
    if let Ok(n) = obj.len() {
        if n > MAX_EXIT_LEGS {
            return Err(too_many_legs(field, Some(n)));
        }
    }
    // What is indexed yet not iterable (a 0-d numpy array) is no list either.
    let Ok(items) = obj.try_iter() else {
        return Ok(None);
    };
    let mut ratios = Vec::new();
    for (i, item) in items.enumerate() {
        if i == MAX_EXIT_LEGS {
            return Err(too_many_legs(field, None));
        }
        let item = item?;
        ratios.push(if item.is_exact_instance_of::<PyFloat>() {
            item.extract::<f64>()?
        } else {
            float_arg(&item, &format!("{field}[{i}]"))?
        });
    }
    Ok(Some(ratios))
}

/// Whether `obj` is a sequence as a list of legs may be: a list, a tuple, a `Sequence`, or
/// what is indexed as one (a numpy array, no registered `Sequence`). Not text, nor bytes,
/// which read as numbers (b"\x01" as [1.0]), nor a mapping, a set or an iterator.
fn is_sequence(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
        || obj.is_instance_of::<PyMemoryView>()
        || obj.cast::<PyMapping>().is_ok()
    {
        return Ok(false);
    }
    Ok(obj.cast::<PySequence>().is_ok() || obj.get_type().hasattr("__getitem__")?)
}

/// The ValueError for `count` exit legs given as `field` (None: more than the cap, the rest
/// not read), more than a trade may have.
fn too_many_legs(field: &str, count: Option<usize>) -> PyErr {
    PyValueError::new_err(match count {
        Some(n) => format!("invalid {field}: {n} legs (at most {MAX_EXIT_LEGS})"),
        None => format!(
            "invalid {field}: more than {MAX_EXIT_LEGS} legs (at most {MAX_EXIT_LEGS}; the rest \
             was not read)"
        ),
    })
}

fn opt_real_list_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Option<Vec<f64>>> {
    if obj.is_none() {
        return Ok(None);
    }
    real_list_arg(obj, field).map(Some)
}

named_extractors!(real -> f64 = float_arg(
    reference_price,
    target_size,
    leverage,
    limit_price,
    price,
    size,
    filled_size,
    remaining_size,
    retry_after,
    amount,
    fee,
    avg_fill_price,
    average_fill_price,
    intended_size,
    fill_rate,
    reject_rate,
    partial_fill_rate,
    partial_fill_ratio,
    rate_limit_rate,
    latency_ms,
));
named_extractors!(opt_real -> Option<f64> = opt_float_arg(
    fee,
    price,
    wallet_balance,
    available_margin,
    used_margin,
    maint_margin,
));
named_extractors!(real_list -> Vec<f64> = real_list_arg(ratios));
named_extractors!(opt_real_list -> Option<Vec<f64>> = opt_real_list_arg(exit_leg_ratios));

/// The most exit legs one trade may have.
pub const MAX_EXIT_LEGS: usize = 1024;
