//! `AccountEvent`: what a venue reports about the account (funding, fees, balances).

use crate::model::AccountEvent;
use crate::python::convert::dicts::dict_items;
use crate::python::convert::enums::enum_arg;
use crate::python::convert::flags::flag;
use crate::python::convert::numbers::{opt_real, real};
use crate::python::convert::short_repr;
use crate::python::convert::text::ident;
use crate::python::convert::text::str_arg;
use crate::python::convert::time::{opt_time, time_or_now};
use crate::types::{AccountEventKind, Id};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pyclass(name = "AccountEvent", module = "dita._kernel", frozen)]
pub struct PyAccountEvent {
    pub inner: AccountEvent,
}

#[pymethods]
impl PyAccountEvent {
    #[new]
    // `text_signature`: the defaults as Python shows them; the text arguments' defaults in
    // `signature` are Rust values, which it would show as "...".
    #[pyo3(signature = (event_id, kind, *, asset=Id::default(), amount=0.0, fee=0.0, fill_id=Id::default(), wallet_balance=None,
        available_margin=None, used_margin=None, maint_margin=None, timestamp=None, predicted_fee_stands=false),
        text_signature = "(event_id, kind, *, asset=\"\", amount=0.0, fee=0.0, fill_id=\"\", wallet_balance=None, available_margin=None, used_margin=None, maint_margin=None, timestamp=None, predicted_fee_stands=False)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        #[pyo3(from_py_with = ident::event_id)] event_id: Id,
        kind: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        #[pyo3(from_py_with = real::amount)] amount: f64,
        #[pyo3(from_py_with = real::fee)] fee: f64,
        #[pyo3(from_py_with = ident::fill_id)] fill_id: Id,
        #[pyo3(from_py_with = opt_real::wallet_balance)] wallet_balance: Option<f64>,
        #[pyo3(from_py_with = opt_real::available_margin)] available_margin: Option<f64>,
        #[pyo3(from_py_with = opt_real::used_margin)] used_margin: Option<f64>,
        #[pyo3(from_py_with = opt_real::maint_margin)] maint_margin: Option<f64>,
        #[pyo3(from_py_with = opt_time::timestamp)] timestamp: Option<f64>,
        #[pyo3(from_py_with = flag::predicted_fee_stands)] predicted_fee_stands: bool,
    ) -> PyResult<Self> {
        Ok(PyAccountEvent {
            inner: AccountEvent {
                event_id,
                kind: enum_arg(kind, "kind")?,
                asset,
                amount,
                fee,
                fill_id,
                wallet_balance,
                available_margin,
                used_margin,
                maint_margin,
                timestamp: time_or_now(timestamp),
                predicted_fee_stands,
            },
        })
    }

    #[getter]
    fn event_id(&self) -> &str {
        &self.inner.event_id
    }
    #[getter]
    fn kind(&self) -> AccountEventKind {
        self.inner.kind
    }
    #[getter]
    fn asset(&self) -> &str {
        &self.inner.asset
    }
    #[getter]
    fn amount(&self) -> f64 {
        self.inner.amount
    }
    #[getter]
    fn fee(&self) -> f64 {
        self.inner.fee
    }
    #[getter]
    fn fill_id(&self) -> &str {
        &self.inner.fill_id
    }
    #[getter]
    fn wallet_balance(&self) -> Option<f64> {
        self.inner.wallet_balance
    }
    #[getter]
    fn available_margin(&self) -> Option<f64> {
        self.inner.available_margin
    }
    #[getter]
    fn used_margin(&self) -> Option<f64> {
        self.inner.used_margin
    }
    #[getter]
    fn maint_margin(&self) -> Option<f64> {
        self.inner.maint_margin
    }
    #[getter]
    fn timestamp(&self) -> f64 {
        self.inner.timestamp
    }
    #[getter]
    fn predicted_fee_stands(&self) -> bool {
        self.inner.predicted_fee_stands
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = &self.inner;
        let d = PyDict::new(py);
        d.set_item("event_id", &*e.event_id)?;
        d.set_item("kind", e.kind.name())?;
        d.set_item("asset", &*e.asset)?;
        d.set_item("amount", e.amount)?;
        d.set_item("fee", e.fee)?;
        d.set_item("fill_id", &*e.fill_id)?;
        d.set_item("wallet_balance", e.wallet_balance)?;
        d.set_item("available_margin", e.available_margin)?;
        d.set_item("used_margin", e.used_margin)?;
        d.set_item("maint_margin", e.maint_margin)?;
        d.set_item("timestamp", e.timestamp)?;
        d.set_item("predicted_fee_stands", e.predicted_fee_stands)?;
        Ok(d)
    }
}

/// The fields an account event's dict form (the original kernel's `on_account_event`) takes:
/// `AccountEvent`'s keywords, the balances also under the account's `e_` names.
const DICT_FIELDS: &[&str] = &[
    "event_id",
    "kind",
    "asset",
    "amount",
    "fee",
    "fill_id",
    "wallet_balance",
    "available_margin",
    "used_margin",
    "maint_margin",
    "timestamp",
    "predicted_fee_stands",
];

/// An account event from its dict form: `kind` and the event's fields, `event_id` optional
/// (`default_id` when missing); every field checked as `AccountEvent` checks it. A missing or
/// unknown kind, an unknown field, or a value the event refuses: an error naming it.
pub fn account_event_from_dict<'py>(
    d: &Bound<'py, PyDict>,
    default_id: impl FnOnce() -> String,
) -> PyResult<Bound<'py, PyAccountEvent>> {
    let py = d.py();
    let kwargs = PyDict::new(py);
    for (key, value) in dict_items(d)? {
        let key = str_arg(&key, "account event field")?;
        let field = key
            .strip_prefix("e_")
            .filter(|f| f.ends_with("margin") || *f == "wallet_balance");
        let field = field.unwrap_or(&key);
        if !DICT_FIELDS.contains(&field) {
            return Err(PyValueError::new_err(format!(
                "invalid account event: unknown field {key:?} (value {}); it takes {}",
                short_repr(&value),
                DICT_FIELDS.join(", ")
            )));
        }
        if kwargs.contains(field)? {
            return Err(PyValueError::new_err(format!(
                "invalid account event: {field} given twice (as {field} and e_{field})"
            )));
        }
        kwargs.set_item(field, value)?;
    }
    let Some(kind) = kwargs.get_item("kind")? else {
        return Err(PyValueError::new_err(
            "invalid account event: missing kind (FILL_SETTLED, ACCOUNT_UPDATE or FUNDING_FEE)",
        ));
    };
    kwargs.del_item("kind")?;
    let event_id = match kwargs.get_item("event_id")? {
        Some(id) => {
            kwargs.del_item("event_id")?;
            id
        }
        None => pyo3::types::PyString::new(py, &default_id()).into_any(),
    };
    py.get_type::<PyAccountEvent>()
        .call((event_id, kind), Some(&kwargs))?
        .cast_into::<PyAccountEvent>()
        .map_err(Into::into)
}
