//! `KernelIntent`: what a strategy asks the kernel to do with a slot.

use super::equality::{data_eq, equal_as_data, intent_floats};
use crate::model::Intent;
use crate::python::convert::enums::{enum_arg, opt_enum_arg};
use crate::python::convert::ints::slot_id_arg;
use crate::python::convert::metadata::{metadata_arg, metadata_to_py, read_only_metadata};
use crate::python::convert::numbers::{opt_real_list, real};
use crate::python::convert::text::{free_text, ident};
use crate::python::convert::time::{datetime_of, opt_time, time_or_now};
use crate::types::{Id, KernelCommandType, OrderType, TradeSide, TradeStage};
use pyo3::prelude::*;
use pyo3::types::{PyDateTime, PyDict, PyTuple};

#[pyclass(name = "KernelIntent", module = "dita._kernel", frozen)]
pub struct PyIntent {
    pub inner: Intent,
    /// The original kernel's `stage`: kept for the strategy, not read by the kernel (which
    /// goes by the slot's own stage).
    pub stage: Option<TradeStage>,
}

#[pymethods]
impl PyIntent {
    #[new]
    // `text_signature`: the defaults as Python shows them; the text arguments' defaults in
    // `signature` are Rust values, which it would show as "...".
    #[pyo3(signature = (intent_id, trade_id, slot_id, asset, side, action, reference_price, target_size,
        leverage=1.0, exit_leg_ratios=None, order_type=None, limit_price=0.0, reason=String::new(),
        metadata=None, timestamp=None, stage=None),
        text_signature = "(intent_id, trade_id, slot_id, asset, side, action, reference_price, target_size, leverage=1.0, exit_leg_ratios=None, order_type=None, limit_price=0.0, reason=\"\", metadata=None, timestamp=None, stage=None)")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        #[pyo3(from_py_with = ident::intent_id)] intent_id: Id,
        #[pyo3(from_py_with = ident::trade_id)] trade_id: Id,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        side: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = real::reference_price)] reference_price: f64,
        #[pyo3(from_py_with = real::target_size)] target_size: f64,
        #[pyo3(from_py_with = real::leverage)] leverage: f64,
        #[pyo3(from_py_with = opt_real_list::exit_leg_ratios)] exit_leg_ratios: Option<Vec<f64>>,
        order_type: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = real::limit_price)] limit_price: f64,
        #[pyo3(from_py_with = free_text::reason)] reason: String,
        metadata: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = opt_time::timestamp)] timestamp: Option<f64>,
        stage: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(PyIntent {
            stage: opt_enum_arg(stage, "stage")?,
            inner: Intent {
                intent_id,
                trade_id,
                slot_id,
                asset,
                side: enum_arg(side, "side")?,
                action: enum_arg(action, "action")?,
                reference_price,
                target_size,
                leverage,
                exit_leg_ratios: exit_leg_ratios.unwrap_or_else(|| vec![1.0]),
                order_type: opt_enum_arg(order_type, "order_type")?.unwrap_or(OrderType::Market),
                limit_price,
                reason,
                metadata: metadata_arg(metadata, "metadata")?,
                timestamp: time_or_now(timestamp),
            },
        })
    }

    #[getter]
    fn intent_id(&self) -> &str {
        &self.inner.intent_id
    }
    #[getter]
    fn trade_id(&self) -> &str {
        &self.inner.trade_id
    }
    #[getter]
    fn slot_id(&self) -> i64 {
        self.inner.slot_id
    }
    #[getter]
    fn asset(&self) -> &str {
        &self.inner.asset
    }
    #[getter]
    fn side(&self) -> TradeSide {
        self.inner.side
    }
    #[getter]
    fn action(&self) -> KernelCommandType {
        self.inner.action
    }
    #[getter]
    fn reference_price(&self) -> f64 {
        self.inner.reference_price
    }
    #[getter]
    fn target_size(&self) -> f64 {
        self.inner.target_size
    }
    #[getter]
    fn leverage(&self) -> f64 {
        self.inner.leverage
    }
    #[getter]
    fn exit_leg_ratios<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.exit_leg_ratios)
    }
    #[getter]
    fn order_type(&self) -> OrderType {
        self.inner.order_type
    }
    #[getter]
    fn limit_price(&self) -> f64 {
        self.inner.limit_price
    }
    #[getter]
    fn reason(&self) -> &str {
        &self.inner.reason
    }
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        read_only_metadata(py, &self.inner.metadata)
    }
    /// When the strategy made it, in UTC (`timestamp_s` holds the seconds).
    #[getter]
    fn timestamp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDateTime>> {
        datetime_of(py, self.inner.timestamp, "timestamp")
    }
    /// `timestamp` in seconds since the Unix epoch.
    #[getter]
    fn timestamp_s(&self) -> f64 {
        self.inner.timestamp
    }
    #[getter]
    fn stage(&self) -> Option<TradeStage> {
        self.stage
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let i = &self.inner;
        let d = PyDict::new(py);
        d.set_item("intent_id", &*i.intent_id)?;
        d.set_item("trade_id", &*i.trade_id)?;
        d.set_item("slot_id", i.slot_id)?;
        d.set_item("asset", &*i.asset)?;
        d.set_item("side", i.side.name())?;
        d.set_item("action", i.action.name())?;
        d.set_item("reference_price", i.reference_price)?;
        d.set_item("target_size", i.target_size)?;
        d.set_item("leverage", i.leverage)?;
        d.set_item("exit_leg_ratios", PyTuple::new(py, &i.exit_leg_ratios)?)?;
        d.set_item("order_type", i.order_type.name())?;
        d.set_item("limit_price", i.limit_price)?;
        d.set_item("reason", &i.reason)?;
        d.set_item("metadata", metadata_to_py(py, &i.metadata)?)?;
        d.set_item("timestamp", i.timestamp)?;
        d.set_item("stage", self.stage.map(|s| s.name()))?;
        Ok(d)
    }

    /// Equal to an intent of the same fields, as the original's data class was.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        data_eq(other, |o: &Bound<'_, PyIntent>| {
            let o = o.get();
            Ok(equal_as_data(&o.inner, &self.inner, intent_floats) && o.stage == self.stage)
        })
    }

    /// Of its ids, which equal intents share.
    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        let i = &self.inner;
        (&*i.intent_id, &*i.trade_id, i.slot_id)
            .into_pyobject(py)?
            .hash()
    }

    /// Built again from its fields: pickle, `copy.copy` and `copy.deepcopy` work.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let this = slf.get();
        let i = &this.inner;
        // In the constructor's order (more fields than a Rust tuple converts at once).
        let args = PyTuple::new(
            py,
            [
                i.intent_id.into_pyobject(py)?.into_any(),
                i.trade_id.into_pyobject(py)?.into_any(),
                i.slot_id.into_pyobject(py)?.into_any(),
                i.asset.into_pyobject(py)?.into_any(),
                i.side.into_pyobject(py)?.into_any(),
                i.action.into_pyobject(py)?.into_any(),
                i.reference_price.into_pyobject(py)?.into_any(),
                i.target_size.into_pyobject(py)?.into_any(),
                i.leverage.into_pyobject(py)?.into_any(),
                PyTuple::new(py, &i.exit_leg_ratios)?.into_any(),
                i.order_type.into_pyobject(py)?.into_any(),
                i.limit_price.into_pyobject(py)?.into_any(),
                i.reason.as_str().into_pyobject(py)?.into_any(),
                metadata_to_py(py, &i.metadata)?.into_any(),
                i.timestamp.into_pyobject(py)?.into_any(),
                this.stage.into_pyobject(py)?.into_any(),
            ],
        )?;
        Ok((slf.get_type().into_any(), args))
    }

    fn __repr__(&self) -> String {
        let i = &self.inner;
        format!(
            "KernelIntent(intent_id={:?}, action={}, slot_id={}, asset={:?}, side={}, target_size={}, reference_price={})",
            &*i.intent_id, i.action, i.slot_id, &*i.asset, i.side, i.target_size, i.reference_price
        )
    }
}
