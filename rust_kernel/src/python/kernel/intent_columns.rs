//! Intents read from columns, for `process_intents`: a dict of column name to column (a NumPy
//! or Arrow array, or a list), an Arrow table or record batch, or a pandas DataFrame, one
//! intent per row. Each field is checked as `KernelIntent(...)` checks it, and every row before
//! any is applied.

use crate::model::Intent;
use crate::python::convert::dicts::dict_items;
use crate::python::convert::ints::slot_id_arg;
use crate::python::convert::numbers::{opt_real_list, real};
use crate::python::convert::text::{free_text, ident};
use crate::python::convert::time::opt_time;
use crate::python::convert::wrong_type;
use crate::python::objects::PyIntent;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyTuple};

/// The columns every batch has, in `KernelIntent`'s order.
const REQUIRED: [&str; 8] = [
    "intent_id",
    "trade_id",
    "slot_id",
    "asset",
    "side",
    "action",
    "reference_price",
    "target_size",
];

/// The columns a batch may have; a row's default is `KernelIntent`'s.
const OPTIONAL: [&str; 8] = [
    "leverage",
    "exit_leg_ratios",
    "order_type",
    "limit_price",
    "reason",
    "metadata",
    "timestamp",
    "stage",
];

/// The most intents one `process_intents` call takes (rows of columns, or items of a sequence,
/// of which one past it is read to know there is more): a generator without end, or columns of
/// a billion rows, would otherwise be read until the process runs out of memory and aborts.
pub const MAX_BATCH_INTENTS: usize = 10_000_000;

/// Whether `batch` is columns (a dict, an Arrow table or record batch, or a DataFrame), not a
/// sequence of `KernelIntent`.
pub(super) fn is_columns(batch: &Bound<'_, PyAny>) -> bool {
    batch.is_instance_of::<PyDict>()
        || batch.hasattr("to_pydict").unwrap_or(false)
        || is_data_frame(batch)
}

/// A DataFrame: named columns, each read by its name. Iterated, it gives its column names, which
/// would be taken for a sequence of intents.
fn is_data_frame(batch: &Bound<'_, PyAny>) -> bool {
    batch.hasattr("columns").unwrap_or(false) && batch.hasattr("to_dict").unwrap_or(false)
}

/// A DataFrame's columns by name (each a Series, read as an array is).
fn data_frame_columns<'py>(frame: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let columns = PyDict::new(frame.py());
    for name in frame.getattr("columns")?.try_iter()? {
        let name = name?;
        columns.set_item(&name, frame.get_item(&name)?)?;
    }
    Ok(columns)
}

/// The intents of `batch`'s rows. Refused, naming the column or the row and field: an unknown
/// or missing column, columns of different lengths, a value `KernelIntent` would refuse.
pub(super) fn intents_from_columns(batch: &Bound<'_, PyAny>) -> PyResult<Vec<Intent>> {
    let py = batch.py();
    // An Arrow table's rows are counted before it is made lists, as each column is below.
    if let Ok(rows) = batch.getattr("num_rows").and_then(|n| n.extract::<usize>()) {
        check_batch_rows(rows)?;
    }
    let dict = if batch.is_instance_of::<PyDict>() {
        batch.clone()
    } else if batch.hasattr("to_pydict")? {
        batch.call_method0("to_pydict")?
    } else {
        data_frame_columns(batch)?.into_any()
    };
    let dict = dict.cast_into::<PyDict>().map_err(|e| {
        wrong_type(
            "process_intents: to_pydict() must return a dict",
            e.into_inner().as_any(),
        )
    })?;
    let mut columns: Vec<(&'static str, Bound<'_, PyList>)> = Vec::with_capacity(dict.len());
    let mut first_index = None;
    // A copy of the items, as `dict_items` reads a config's: a column's own len, dtype or
    // tolist may change the dict, and PyO3's dict iterator panics when it changes size.
    for (name, column) in dict_items(&dict)? {
        let name: String = name
            .extract()
            .map_err(|_| wrong_type("process_intents: column names must be str", &name))?;
        let Some(known) = REQUIRED.iter().chain(&OPTIONAL).find(|k| **k == name) else {
            return Err(PyValueError::new_err(format!(
                "process_intents: unknown column {name:?} (the columns are {}, and optionally {})",
                REQUIRED.join(", "),
                OPTIONAL.join(", ")
            )));
        };
        check_series_index(known, &column, &mut first_index)?;
        columns.push((known, as_list(known, &column)?));
    }
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|r| !columns.iter().any(|(name, _)| name == r))
        .collect();
    if !missing.is_empty() {
        return Err(PyValueError::new_err(format!(
            "process_intents: missing column{} {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        )));
    }
    let rows = columns[0].1.len();
    if let Some((name, column)) = columns.iter().find(|(_, c)| c.len() != rows) {
        return Err(PyValueError::new_err(format!(
            "process_intents: column {name} has {} rows, column {} has {rows}: columns must be as long",
            column.len(),
            columns[0].0
        )));
    }
    // Each field's column, or None when the batch leaves it to its default.
    let column_of = |name: &str| {
        columns
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c.clone())
    };
    let required = REQUIRED.map(|name| column_of(name).expect("checked above"));
    let optional = OPTIONAL.map(column_of);
    (0..rows)
        .map(|row| {
            read_row(&required, &optional, row).map_err(|e| {
                PyErr::from_type(
                    e.get_type(py),
                    format!("process_intents row {row}: {}", e.value(py)),
                )
            })
        })
        .collect()
}

/// Refuses a batch of more than `MAX_BATCH_INTENTS` rows.
fn check_batch_rows(rows: usize) -> PyResult<()> {
    if rows > MAX_BATCH_INTENTS {
        return Err(PyValueError::new_err(format!(
            "process_intents: {rows} rows; one call takes at most {MAX_BATCH_INTENTS} (split the batch)"
        )));
    }
    Ok(())
}

/// Refuses a pandas Series whose index differs from the first Series' (`first`, which the first
/// Series sets): columns are read by position, and a Series of another row order would pair
/// its values with other rows. A column of no index (a list, a NumPy or Arrow array) is read by
/// position only.
fn check_series_index<'py>(
    name: &'static str,
    column: &Bound<'py, PyAny>,
    first: &mut Option<(&'static str, Bound<'py, PyAny>)>,
) -> PyResult<()> {
    if column.is_instance_of::<PyList>() || column.is_instance_of::<PyTuple>() {
        return Ok(());
    }
    // A list's or an Arrow array's `index` is a method; a Series' is its Index.
    let Some(index) = column.getattr("index").ok().filter(|i| !i.is_callable()) else {
        return Ok(());
    };
    let Some((first_name, first_index)) = first.as_ref() else {
        *first = Some((name, index));
        return Ok(());
    };
    if index.is(first_index) || first_index.call_method1("equals", (&index,))?.is_truthy()? {
        return Ok(());
    }
    Err(PyValueError::new_err(format!(
        "process_intents: column {name}'s index differs from column {first_name}'s: columns are \
         read by position, so Series must share one index (align them first, e.g. \
         pd.DataFrame(columns), or reset_index(drop=True) each)"
    )))
}

/// A column as a list of Python values: a NumPy array's `tolist()`, an Arrow array's
/// `to_pylist()`, a list or tuple as it is; counted first, so a column past the batch's
/// limit is refused before it is made a list.
fn as_list<'py>(name: &str, column: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    if let Ok(rows) = column.len() {
        check_batch_rows(rows)?;
    }
    // NumPy's datetime64 and timedelta64 (kind M and m) list as integers of their unit: read as
    // numbers, nanoseconds would be taken for seconds. A pandas column with a time zone lists
    // as aware datetimes, which are times as any argument takes them.
    if let Ok(dtype) = column.getattr("dtype") {
        let kind = dtype
            .getattr("kind")
            .and_then(|k| k.extract::<String>())
            .unwrap_or_default();
        let zoned = dtype.getattr("tz").is_ok_and(|tz| !tz.is_none());
        if kind == "m" || (kind == "M" && !zoned) {
            return Err(PyTypeError::new_err(format!(
                "process_intents: column {name} holds {} values: give times as seconds since the \
                 epoch (floats) or timezone-aware datetimes, and figures as numbers",
                dtype.str()?
            )));
        }
    }
    let values = if column.hasattr("tolist")? {
        column.call_method0("tolist")?
    } else if column.hasattr("to_pylist")? {
        column.call_method0("to_pylist")?
    } else if column.is_instance_of::<PyList>() {
        column.clone()
    } else if let Ok(t) = column.cast::<PyTuple>() {
        t.to_list().into_any()
    } else {
        return Err(wrong_type(
            format_args!(
                "process_intents: column {name} must be a NumPy or Arrow array, a list or a tuple"
            ),
            column,
        ));
    };
    values.cast_into::<PyList>().map_err(|e| {
        wrong_type(
            format_args!("process_intents: column {name} gave no list"),
            e.into_inner().as_any(),
        )
    })
}

/// Row `row` as `KernelIntent(...)` makes it, each field checked by its converter.
fn read_row<'py>(
    required: &[Bound<'py, PyList>; 8],
    optional: &[Option<Bound<'py, PyList>>; 8],
    row: usize,
) -> PyResult<Intent> {
    let at = |column: &Bound<'py, PyList>| column.get_item(row);
    let [intent_id, trade_id, slot_id, asset, side, action, reference_price, target_size] =
        required;
    let [leverage, exit_leg_ratios, order_type, limit_price, reason, metadata, timestamp, stage] =
        optional;
    let opt = |column: &Option<Bound<'py, PyList>>| column.as_ref().map(at).transpose();
    let intent = PyIntent::new(
        named("intent_id", ident::intent_id(&at(intent_id)?))?,
        named("trade_id", ident::trade_id(&at(trade_id)?))?,
        named("slot_id", slot_id_arg(&at(slot_id)?))?,
        named("asset", ident::asset(&at(asset)?))?,
        &at(side)?,
        &at(action)?,
        named(
            "reference_price",
            real::reference_price(&at(reference_price)?),
        )?,
        named("target_size", real::target_size(&at(target_size)?))?,
        named(
            "leverage",
            opt(leverage)?.map_or(Ok(1.0), |v| real::leverage(&v)),
        )?,
        named(
            "exit_leg_ratios",
            opt(exit_leg_ratios)?.map_or(Ok(None), |v| opt_real_list::exit_leg_ratios(&v)),
        )?,
        opt(order_type)?.as_ref(),
        named(
            "limit_price",
            opt(limit_price)?.map_or(Ok(0.0), |v| real::limit_price(&v)),
        )?,
        named(
            "reason",
            opt(reason)?.map_or(Ok(String::new()), |v| free_text::reason(&v)),
        )?,
        opt(metadata)?.as_ref(),
        named(
            "timestamp",
            opt(timestamp)?.map_or(Ok(None), |v| opt_time::timestamp(&v)),
        )?,
        // Checked as `KernelIntent` checks it; the kernel goes by the slot's own stage.
        opt(stage)?.filter(|v| !is_missing_text(v)).as_ref(),
    )?;
    Ok(intent.inner)
}

/// Whether `value` is NaN, which a DataFrame holds for a missing text (a stage of None beside
/// stages given): for the stage, which an intent may lack, it is no stage.
fn is_missing_text(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyFloat>() && value.extract::<f64>().is_ok_and(f64::is_nan)
}

/// `value`, or its error with the field's name in front when the error does not say it.
fn named<T>(field: &str, value: PyResult<T>) -> PyResult<T> {
    value.map_err(|e| {
        Python::attach(|py| {
            let message = e.value(py).to_string();
            if message.contains(field) {
                e
            } else {
                PyErr::from_type(e.get_type(py), format!("{field}: {message}"))
            }
        })
    })
}
