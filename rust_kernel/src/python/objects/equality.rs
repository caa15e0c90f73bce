//! The data classes' `==`, as the original's dataclasses compared: field by field, a NaN field
//! equal to a NaN one. A dataclass compares tuples of its fields, and a tuple finds a float
//! object equal to itself, so a copy of an event holding NaN equals the event.

use pyo3::prelude::*;
use pyo3::types::PyBool;
use pyo3::PyClass;

use crate::model::{Intent, TradeSlot, VenueEvent, VenueOrder};
use crate::types::{MetaValue, Metadata};

/// `==` of a data class `C`: `equal` asked of another `C`, NotImplemented for any other type, so
/// Python asks the other side (`mock.ANY`, a wrapper of its own), as a dataclass does.
pub fn data_eq<'py, C: PyClass>(
    other: &Bound<'py, PyAny>,
    equal: impl FnOnce(&Bound<'py, C>) -> PyResult<bool>,
) -> PyResult<Py<PyAny>> {
    let py = other.py();
    let Ok(other) = other.cast::<C>() else {
        return Ok(py.NotImplemented());
    };
    Ok(PyBool::new(py, equal(other)?)
        .to_owned()
        .into_any()
        .unbind())
}

/// Whether `a` equals `b` field by field, each float `floats` lends out of them equal to the
/// other's when both are NaN.
pub fn equal_as_data<T: PartialEq + Clone>(
    a: &T,
    b: &T,
    floats: fn(&mut T) -> Vec<&mut f64>,
) -> bool {
    if a == b {
        return true;
    }
    let (mut a, mut b) = (a.clone(), b.clone());
    let (fa, fb) = (floats(&mut a), floats(&mut b));
    if fa.len() != fb.len() {
        return false;
    }
    for (x, y) in fa.into_iter().zip(fb) {
        if x.is_nan() && y.is_nan() {
            (*x, *y) = (0.0, 0.0);
        }
    }
    a == b
}

fn metadata_floats(m: &mut Metadata) -> impl Iterator<Item = &mut f64> {
    m.values_mut().filter_map(|v| match v {
        MetaValue::Float(f) => Some(f),
        _ => None,
    })
}

pub fn order_floats(o: &mut VenueOrder) -> Vec<&mut f64> {
    vec![
        &mut o.price,
        &mut o.reference_price,
        &mut o.size,
        &mut o.filled_size,
        &mut o.avg_fill_price,
        &mut o.created_at,
    ]
}

pub fn intent_floats(i: &mut Intent) -> Vec<&mut f64> {
    let mut floats = vec![
        &mut i.reference_price,
        &mut i.target_size,
        &mut i.leverage,
        &mut i.limit_price,
        &mut i.timestamp,
    ];
    floats.extend(i.exit_leg_ratios.iter_mut());
    floats.extend(metadata_floats(&mut i.metadata));
    floats
}

pub fn event_floats(e: &mut VenueEvent) -> Vec<&mut f64> {
    let mut floats = vec![
        &mut e.price,
        &mut e.size,
        &mut e.filled_size,
        &mut e.remaining_size,
        &mut e.timestamp,
        &mut e.retry_after,
    ];
    floats.extend(e.fee.as_mut());
    floats.extend(metadata_floats(&mut e.metadata));
    floats
}

pub fn slot_floats(s: &mut TradeSlot) -> Vec<&mut f64> {
    let mut floats = vec![
        &mut s.entry_price,
        &mut s.size,
        &mut s.initial_size,
        &mut s.leverage,
        &mut s.entry_time,
        &mut s.unrealized_pnl,
        &mut s.realized_pnl,
        &mut s.fees_paid,
        &mut s.last_event_time,
        &mut s.mark_price,
        &mut s.leg_taken,
    ];
    floats.extend(s.exit_leg_ratios.iter_mut());
    for order in [&mut s.active_entry_order, &mut s.active_exit_order] {
        floats.extend(order.as_mut().map(order_floats).into_iter().flatten());
    }
    floats.extend(metadata_floats(&mut s.metadata));
    floats
}
