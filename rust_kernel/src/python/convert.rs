//! Argument conversion at the boundary: enums by value or name, metadata, details, time.

use crate::types::*;
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyMapping, PyMemoryView, PyString, PyType,
};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The Python type name of `obj`, for error messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// `obj` as the native class `T`, or a TypeError "`expects`, got <type>".
pub fn expect_native<'a, 'py, T: pyo3::type_object::PyTypeCheck>(
    obj: &'a Bound<'py, PyAny>,
    expects: &str,
) -> PyResult<&'a Bound<'py, T>> {
    obj.cast::<T>()
        .map_err(|_| PyTypeError::new_err(format!("{expects}, got {}", type_name(obj))))
}

pub fn time_or_now(ts: Option<f64>) -> f64 {
    ts.unwrap_or_else(now)
}

/// Native enums and the names of their members share one extractor, so every
/// enum argument accepts `TradeSide.LONG` and `"LONG"` alike and names the field on error.
pub trait NamedEnum: Sized + Copy + for<'a, 'py> FromPyObject<'a, 'py> {
    const TYPE_NAME: &'static str;
    fn from_name(s: &str) -> Option<Self>;
    fn names() -> Vec<&'static str>;
}

macro_rules! named_enum_py {
    ($($t:ident),+) => {$(
        impl NamedEnum for $t {
            const TYPE_NAME: &'static str = stringify!($t);
            fn from_name(s: &str) -> Option<Self> { $t::parse(s) }
            fn names() -> Vec<&'static str> { $t::ALL.iter().map(|v| v.name()).collect() }
        }

        #[pymethods]
        impl $t {
            /// The member's name, e.g. "LONG".
            #[getter(name)]
            fn py_name(&self) -> &'static str { $t::name(*self) }

            /// The member with this name; ValueError naming the value otherwise.
            #[staticmethod]
            #[pyo3(name = "parse")]
            fn py_parse(value: &str) -> PyResult<Self> {
                $t::parse(value).ok_or_else(|| PyValueError::new_err(format!(
                    "unknown {} {:?}; expected one of {}", stringify!($t), value, <$t as NamedEnum>::names().join(", "))))
            }

            fn __str__(&self) -> &'static str { $t::name(*self) }

            fn __reduce__(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, (&'static str,))> {
                let parse = py.get_type::<$t>().getattr("parse")?.unbind();
                Ok((parse, ($t::name(*self),)))
            }
        }
    )+};
}

named_enum_py!(
    TradeStage,
    KernelCommandType,
    TradeSide,
    OrderSide,
    OrderType,
    KernelEventKind,
    VenueOrderStatus,
    KernelDiagnosticCode,
    KernelSeverity,
    ControlMode,
    Verbosity,
    AccountEventKind
);

pub fn enum_arg<T: NamedEnum>(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<T> {
    if let Ok(s) = obj.cast::<PyString>() {
        let text = utf8(s, field)?;
        return T::from_name(text).ok_or_else(|| {
            PyValueError::new_err(format!(
                "invalid {field}: unknown {} {:?}; expected one of {}",
                T::TYPE_NAME,
                text,
                T::names().join(", ")
            ))
        });
    }
    obj.extract::<T>().map_err(|_| {
        PyTypeError::new_err(format!(
            "invalid {field}: expected {} or its name as str, got {}",
            T::TYPE_NAME,
            type_name(obj)
        ))
    })
}

pub fn opt_enum_arg<T: NamedEnum>(
    obj: Option<&Bound<'_, PyAny>>,
    field: &str,
) -> PyResult<Option<T>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => enum_arg(o, field).map(Some),
    }
}

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
        // of one naming the field (it was reported as a number too large).
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
/// number PyO3 would take as 1.0 or 0.0, so `buy(size=True)` bought 1.0.
fn refuse_bool(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<()> {
    if is_bool(obj) {
        return Err(wrong_type(
            format_args!("invalid {field}: expected a number"),
            obj,
        ));
    }
    Ok(())
}

/// A list of floats as PyO3 takes one; an int too large for a float is named by its place.
fn real_list_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<f64>> {
    refuse_non_numbers(obj, field)?;
    obj.extract::<Vec<f64>>()
        .map_err(|e| list_overflow(obj, field, &e).unwrap_or_else(|| not_a_list(obj, field)))
}

/// The TypeError for `obj` where `what` is expected: "{what}, got {type} {value}", the value
/// as a short repr, so the error names both.
pub fn wrong_type(what: impl std::fmt::Display, obj: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "{what}, got {} {}",
        type_name(obj),
        short_repr(obj)
    ))
}

/// The TypeError for `obj`, given as `field`, a list of numbers, when it is none (text, a
/// number, None, a set): PyO3's own words ("Can't extract `str` to `Vec`") named neither what
/// is taken nor the value.
pub fn not_a_list(obj: &Bound<'_, PyAny>, field: &str) -> PyErr {
    wrong_type(
        format_args!("invalid {field}: expected a list of numbers"),
        obj,
    )
}

/// A TypeError naming the place in `field` of an item of `obj` that is no number as
/// `float_arg` takes one (a bool, a `Decimal`, a complex, text), walking whatever iterates:
/// a numpy array too, which PyO3 reads as a list but is no registered `Sequence`. Text and
/// what does not iterate are left to PyO3's reading, which refuses them. Bytes are refused
/// whole: PyO3 read b"\x01" as the list [1.0].
pub fn refuse_non_numbers(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<()> {
    if obj.is_instance_of::<PyString>() {
        return Ok(());
    }
    if obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
        || obj.is_instance_of::<PyMemoryView>()
    {
        return Err(not_a_list(obj, field));
    }
    let Ok(items) = obj.try_iter() else {
        return Ok(());
    };
    for (i, item) in items.enumerate() {
        let item = item?;
        if !item.is_exact_instance_of::<PyFloat>() {
            float_arg(&item, &format!("{field}[{i}]"))?;
        }
    }
    Ok(())
}

/// When `e`, the error of reading `obj` as a list of floats, is an int too large for a float:
/// the ValueError naming that int and its place in `field`.
pub fn list_overflow(obj: &Bound<'_, PyAny>, field: &str, e: &PyErr) -> Option<PyErr> {
    if !e.is_instance_of::<PyOverflowError>(obj.py()) {
        return None;
    }
    // A sequence (PyO3 reads no other as a list), so it can be walked again for the culprit.
    let items = obj.try_iter().ok()?;
    let (i, v) = items
        .flatten()
        .enumerate()
        .find(|(_, v)| v.extract::<f64>().is_err())?;
    let field = format!("{field}[{i}]");
    Some(too_large(&v, &field, crate::error::TOO_LARGE))
}

fn opt_real_list_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Option<Vec<f64>>> {
    if obj.is_none() {
        return Ok(None);
    }
    real_list_arg(obj, field).map(Some)
}

/// Extractors for `#[pyo3(from_py_with = ...)]`, one per argument: PyO3 hands an extractor
/// the value, not the argument's name.
macro_rules! named_extractors {
    ($module:ident -> $t:ty = $extract:ident($($name:ident),+ $(,)?)) => {
        pub mod $module {
            use pyo3::prelude::*;
            $(
                pub fn $name(obj: &Bound<'_, PyAny>) -> PyResult<$t> {
                    super::$extract(obj, stringify!($name))
                }
            )+
        }
    };
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
    fill_rate,
    reject_rate,
    partial_fill_rate,
    partial_fill_ratio,
    rate_limit_rate,
    latency_ms,
));
named_extractors!(opt_real -> Option<f64> = opt_float_arg(
    timestamp,
    fee,
    price,
    wallet_balance,
    available_margin,
    used_margin,
    maint_margin,
));
named_extractors!(real_list -> Vec<f64> = real_list_arg(ratios));
named_extractors!(opt_real_list -> Option<Vec<f64>> = opt_real_list_arg(exit_leg_ratios));

/// Whether `obj` is an int as dita takes one: Python's or any `numbers.Integral` (numpy's
/// integers, as a slot id computed from an array is), never a bool (Python's, which Python
/// counts as an int; numpy's is no `Integral`).
pub fn is_int(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    static INTEGRAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    if obj.is_instance_of::<PyBool>() {
        return Ok(false);
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(true);
    }
    obj.is_instance(INTEGRAL.import(obj.py(), "numbers", "Integral")?)
}

/// Refuses anything but an int (`is_int`: a bool, which Python counts as one, included),
/// naming `field` and the value.
pub fn expect_int(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<()> {
    if !is_int(obj)? {
        return Err(wrong_type(
            format_args!("invalid {field}: expected int"),
            obj,
        ));
    }
    Ok(())
}

/// A flag: a bool (Python's or numpy's) or the int 0 or 1 (a database row's flag). Anything
/// else (the text "no", 2, None) is refused, naming `field` and the value, rather than read
/// by its truth.
pub fn bool_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<bool> {
    if let Ok(flag) = obj.extract::<bool>() {
        return Ok(flag);
    }
    // Any int dita takes (`is_int`: numpy's too, as a column of flags read into an array is).
    match is_int(obj)?.then(|| obj.extract::<i64>().ok()).flatten() {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(wrong_type(
            format_args!("invalid {field}: expected bool (or 0 or 1)"),
            obj,
        )),
    }
}

named_extractors!(flag -> bool = bool_arg(maker, reduce_only));

fn opt_bool_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Option<bool>> {
    if obj.is_none() {
        return Ok(None);
    }
    bool_arg(obj, field).map(Some)
}

named_extractors!(opt_flag -> Option<bool> = opt_bool_arg(is_entry));

/// An int argument (not bool, not float), named on error; one beyond 64 bits is a ValueError.
pub fn int_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<i64> {
    expect_int(obj, field)?;
    int_value(obj, format_args!("{field}"))
}

/// The i64 of `obj`, an int (`is_int`), named `field` on error: one past the signed 64-bit
/// range says so, and an `Integral` that gives no int (no `__index__`) says that, not that it
/// is too large.
fn int_value<'py, T>(obj: &Bound<'py, PyAny>, field: std::fmt::Arguments<'_>) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
{
    obj.extract::<T>().map_err(|e| {
        if e.is_instance_of::<PyOverflowError>(obj.py()) {
            PyValueError::new_err(format!(
                "invalid {field}: {} (out of range)",
                short_repr(obj)
            ))
        } else {
            PyTypeError::new_err(format!(
                "invalid {field}: {} {} cannot be read as an int ({e})",
                type_name(obj),
                short_repr(obj)
            ))
        }
    })
}

/// `slot_id` arguments (`#[pyo3(from_py_with = slot_id_arg)]`): PyO3 names the argument of
/// a wrong type but not of an int too large, so the field is named here.
pub fn slot_id_arg(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    int_arg(obj, "slot_id")
}

/// A non-negative int argument (a slot index, a seed), named on error.
pub fn count_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<u64> {
    let v = int_arg(obj, field)?;
    u64::try_from(v)
        .map_err(|_| PyValueError::new_err(format!("invalid {field}: {v} (must not be negative)")))
}

/// An index (a slot's `active_leg_index`): an int from 0 to `usize::MAX`, named on error;
/// one negative or past that is a ValueError, anything but an int a TypeError.
pub fn index_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<usize> {
    expect_int(obj, field)?;
    if obj.lt(0)? {
        return Err(PyValueError::new_err(format!(
            "invalid {field}: {} (must not be negative)",
            short_repr(obj)
        )));
    }
    int_value(obj, format_args!("{field}"))
}

fn opt_int_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Option<i64>> {
    if obj.is_none() {
        return Ok(None);
    }
    int_arg(obj, field).map(Some)
}

named_extractors!(count -> u64 = count_arg(max_rows, seq));
named_extractors!(int -> i64 = int_arg(from_seq, chunk_rows));
named_extractors!(opt_int -> Option<i64> = opt_int_arg(to_seq));

/// A `VenueOrder`'s `slot_id`: an index.
pub fn slot_index_arg(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    Ok(count_arg(obj, "slot_id")? as usize)
}

/// The mock venue's `seed`.
pub fn seed_arg(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    count_arg(obj, "seed")
}

/// A path argument (str or os.PathLike of str), named on error. One no file name can hold (a
/// lone surrogate) is a ValueError naming it: PyO3's own conversion panicked on it.
pub fn path_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<std::path::PathBuf> {
    let wrong_type = || {
        PyTypeError::new_err(format!(
            "invalid {field}: expected a path, got {}",
            type_name(obj)
        ))
    };
    let os = obj.py().import("os")?;
    let path = os
        .call_method1("fspath", (obj,))
        .map_err(|_| wrong_type())?;
    if !path.is_instance_of::<PyString>() {
        return Err(wrong_type());
    }
    if let Err(e) = os.call_method1("fsencode", (&path,)) {
        let repr = path.repr().map(|r| r.to_string()).unwrap_or_default();
        return Err(PyValueError::new_err(format!(
            "invalid {field}: {repr} (not a valid file name: {})",
            e.value(obj.py())
        )));
    }
    // The system refuses a NUL in a file name with an error that prints it and names nothing.
    if path.contains("\0")? {
        return Err(PyValueError::new_err(format!(
            "invalid {field}: {} (not a valid file name: embedded null byte)",
            short_repr(&path)
        )));
    }
    path.extract().map_err(|_| wrong_type())
}

/// `wal_verify`'s and `wal_replay`'s `path`.
pub fn path_param(obj: &Bound<'_, PyAny>) -> PyResult<std::path::PathBuf> {
    path_arg(obj, "path")
}

/// A value's repr for an error message, cut at 80 characters (an int may have thousands).
pub fn short_repr(obj: &Bound<'_, PyAny>) -> String {
    let r = obj.repr().map(|r| r.to_string()).unwrap_or_default();
    match r.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &r[..cut]),
        None => r,
    }
}

/// The longest text one id, reason or source may be, in bytes. Every input goes into one
/// write-ahead log record (64 MiB at most) after the kernel applied it; input that could
/// not be logged would be applied and then stop the kernel. These bounds keep any input far
/// below that, and are far above any real id or message.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// The most exit legs one trade may have.
pub const MAX_EXIT_LEGS: usize = 1024;

/// `ratios`, refused (naming `field` and the count) when more than [`MAX_EXIT_LEGS`].
pub fn legs(ratios: Vec<f64>, field: &str) -> PyResult<Vec<f64>> {
    if ratios.len() > MAX_EXIT_LEGS {
        return Err(PyValueError::new_err(format!(
            "invalid {field}: {} legs (at most {MAX_EXIT_LEGS})",
            ratios.len()
        )));
    }
    Ok(ratios)
}

/// The most bytes of keys and text values one metadata dict may hold.
pub const MAX_METADATA_BYTES: usize = 4 << 20;

/// `value`, refused (naming `field` and the length) when longer than [`MAX_TEXT_BYTES`].
pub fn text<'a>(value: &'a str, field: &str) -> PyResult<&'a str> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(PyValueError::new_err(format!(
            "invalid {field}: {} bytes long (at most {MAX_TEXT_BYTES})",
            value.len()
        )));
    }
    Ok(value)
}

/// `obj` as a dict: a dict (or a subclass) as it is, any other Mapping (the stubs take one)
/// copied into a new dict, None when it is no Mapping.
pub fn as_dict<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyDict>>> {
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Some(d.clone()));
    }
    if obj.cast::<PyMapping>().is_err() {
        return Ok(None);
    }
    let copy = obj.py().get_type::<PyDict>().call1((obj,))?;
    Ok(Some(copy.cast_into::<PyDict>()?))
}

/// The items of `dict` as they are now. Iterate this, not the dict, when reading an item may
/// run Python code (a value's __float__) that can change the dict: PyO3's dict iterator
/// panics when the dict changes size under it.
pub fn dict_items<'py>(
    dict: &Bound<'py, PyDict>,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    dict.items().iter().map(|kv| kv.extract()).collect()
}

pub fn metadata_arg(obj: Option<&Bound<'_, PyAny>>, field: &str) -> PyResult<Metadata> {
    let mut out = Metadata::new();
    let mut size = 0;
    let Some(obj) = obj else { return Ok(out) };
    if obj.is_none() {
        return Ok(out);
    }
    let dict = as_dict(obj)?.ok_or_else(|| {
        PyTypeError::new_err(format!(
            "invalid {field}: expected a dict of str to str/int/float/bool/None, got {}",
            type_name(obj)
        ))
    })?;
    // A copy of the items, as `dict_items` reads a config's: a value's __float__ may change
    // the dict, and PyO3's dict iterator panics when the dict changes size under it.
    for (k, v) in dict_items(&dict)? {
        let key = match k.cast::<PyString>() {
            Ok(k) => utf8(k, field)?.to_string(),
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "invalid {field}: keys must be str, got {}",
                    k.repr().map(|r| r.to_string()).unwrap_or_default()
                )))
            }
        };
        let value = if v.is_none() {
            MetaValue::Null
        } else if let Ok(b) = v.extract::<bool>() {
            // Python's bool or numpy's (which is no int, unlike Python's).
            MetaValue::Bool(b)
        } else if v.is_instance_of::<PyInt>() || (!v.is_instance_of::<PyFloat>() && is_int(&v)?) {
            MetaValue::Int(int_value(&v, format_args!("{field}[{key:?}]"))?)
        } else if v.is_instance_of::<PyFloat>() {
            MetaValue::Float(v.extract::<f64>()?)
        } else if let Ok(s) = v.cast::<PyString>() {
            MetaValue::Str(utf8(s, format_args!("{field}[{key:?}]"))?.to_string())
        } else if is_real(&v)? {
            // Any other real number, as every entry point takes one: numpy's float32 (a model's
            // output) was refused while numpy's integers were taken.
            MetaValue::Float(float_arg(&v, &format!("{field}[{key:?}]"))?)
        } else {
            return Err(PyTypeError::new_err(format!(
                "invalid {field}[{key:?}]: values must be str, int, float, bool or None, got {}",
                type_name(&v)
            )));
        };
        size += key.len()
            + if let MetaValue::Str(s) = &value {
                s.len()
            } else {
                8
            };
        if size > MAX_METADATA_BYTES {
            return Err(PyValueError::new_err(format!(
                "invalid {field}: more than {MAX_METADATA_BYTES} bytes of keys and values"
            )));
        }
        out.insert(key, value);
    }
    Ok(out)
}

pub fn metadata_to_py<'py>(py: Python<'py>, meta: &Metadata) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in meta {
        match v {
            MetaValue::Null => d.set_item(k, py.None())?,
            MetaValue::Bool(b) => d.set_item(k, *b)?,
            MetaValue::Int(i) => d.set_item(k, *i)?,
            MetaValue::Float(f) => d.set_item(k, *f)?,
            MetaValue::Str(s) => d.set_item(k, s)?,
        }
    }
    Ok(d)
}

/// Named values (an outcome's or a transition's details) as a dict, in their order: the one
/// conversion both take, as the journal's row writer and `details_json` have one.
fn named_values_to_py<'py, 'v>(
    py: Python<'py>,
    values: impl Iterator<Item = (&'static str, DetailRef<'v>)>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in values {
        match v {
            DetailRef::Str(s) => d.set_item(k, s)?,
            DetailRef::F64(x) => d.set_item(k, x)?,
            DetailRef::I64(x) => d.set_item(k, x)?,
            DetailRef::Bool(x) => d.set_item(k, x)?,
        }
    }
    Ok(d)
}

/// A transition's details as a dict, in their order.
pub fn transition_details_to_py<'py>(
    py: Python<'py>,
    details: &TransitionDetails,
) -> PyResult<Bound<'py, PyDict>> {
    named_values_to_py(py, details.iter())
}

pub fn details_to_py<'py>(
    py: Python<'py>,
    details: &[(&'static str, Detail)],
) -> PyResult<Bound<'py, PyDict>> {
    named_values_to_py(py, details.iter().map(|(k, v)| (*k, v.as_ref())))
}

/// `s` as UTF-8, or a ValueError naming `field` and the value when it holds what UTF-8
/// cannot: a lone surrogate, which PyO3 alone raises as a UnicodeEncodeError naming nothing.
pub fn utf8<'a>(s: &'a Bound<'_, PyString>, field: impl std::fmt::Display) -> PyResult<&'a str> {
    s.to_str().map_err(|_| {
        // The repr escapes the surrogate, so it shows the value as the caller wrote it.
        let repr = s.repr().map(|r| r.to_string()).unwrap_or_default();
        let shown = match repr.char_indices().nth(60) {
            Some((at, _)) => format!("{}...", &repr[..at]),
            None => repr,
        };
        PyValueError::new_err(format!(
            "invalid {field}: {shown} is not valid UTF-8 (it holds a lone surrogate)"
        ))
    })
}

pub fn str_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<String> {
    match obj.cast::<PyString>() {
        Ok(s) => utf8(s, field).map(str::to_string),
        Err(_) => Err(PyTypeError::new_err(format!(
            "invalid {field}: expected str, got {}",
            type_name(obj)
        ))),
    }
}

/// A text argument of an input, borrowed, checked as [`text`] and [`utf8`] check it; for a
/// `from_py_with` extractor, whose TypeError PyO3 begins with "argument '<field>': ".
fn text_ref<'a>(obj: &'a Bound<'_, PyAny>, field: &str) -> PyResult<&'a str> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("expected str, got {}", type_name(obj))))?;
    text(utf8(s, field)?, field)
}

/// An id argument, checked as [`text_ref`] checks text and refused holding a NUL byte (C
/// strings, logs and many stores cut it short there). The kernel judges an empty id or one
/// of only whitespace (an outcome); it finds a NUL only at an id's start, keeping its own
/// check to the first byte, so a NUL further in is refused here, where text becomes an id.
fn id_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Id> {
    no_nul(text_ref(obj, field)?, field)
}

/// `text` as an id, refused (naming `field` and the value) when it holds a NUL byte.
fn no_nul(text: &str, field: &str) -> PyResult<Id> {
    nul_free(text, field).map(id)
}

/// `text`, refused (naming `field` and the value) when it holds a NUL byte.
fn nul_free<'a>(text: &'a str, field: &str) -> PyResult<&'a str> {
    if text.as_bytes().contains(&0) {
        return Err(PyValueError::new_err(format!(
            "invalid {field}: {text:?} holds a NUL byte"
        )));
    }
    Ok(text)
}

/// An id read from a dict (a loaded slot's) or a keyword, checked as [`id_arg`] checks an
/// argument; the TypeError names `field`, which PyO3 does not add here.
pub fn named_id(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Id> {
    let s = str_arg(obj, field)?;
    no_nul(text(&s, field)?, field)
}

/// An id argument that may be None (a keyword defaulting to None), else checked as [`id_arg`]
/// checks one; what is neither str nor None is a TypeError naming the value.
fn opt_id_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Option<Id>> {
    if obj.is_none() {
        return Ok(None);
    }
    if !obj.is_instance_of::<PyString>() {
        return Err(wrong_type("expected str or None", obj));
    }
    id_arg(obj, field).map(Some)
}

fn text_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<String> {
    text_ref(obj, field).map(str::to_string)
}

/// A text argument checked as [`text_arg`] checks one and refused holding a NUL byte, as an
/// id is: one kept in the kernel's state, the journal and Hazelcast (the control's `source`).
fn nul_free_text_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<String> {
    nul_free(text_ref(obj, field)?, field).map(str::to_string)
}

// Text arguments, named on error (see `text_ref`): ids, assets and names.
named_extractors!(ident -> crate::types::Id = id_arg(
    intent_id,
    trade_id,
    asset,
    event_id,
    venue_order_id,
    venue_client_id,
    fill_id,
    client_order_id,
));
named_extractors!(opt_ident -> Option<crate::types::Id> = opt_id_arg(asset));
// A `reason` is free text (a venue's own words), taken as it comes.
named_extractors!(words -> String = text_arg(reason, name));
named_extractors!(labels -> String = nul_free_text_arg(source));
