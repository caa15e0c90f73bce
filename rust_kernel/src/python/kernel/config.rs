//! Exchange config, market limits, risk limits, fee calibration and control: set, logged,
//! and shown as dicts.

use super::busy::{wait_mut, wait_ref};
use super::PyKernel;
use crate::error::check_number;
use crate::kernel::KernelInput;
use crate::python::convert::dicts::{as_dict, dict_items};
use crate::python::convert::enums::opt_enum_arg;
use crate::python::convert::flags::{bool_arg, flag};
use crate::python::convert::numbers::{float_arg, is_bool, is_real};
use crate::python::convert::text::{ident, nul_free_text, str_arg, utf8};
use crate::python::convert::time::now;
use crate::python::convert::{short_repr, type_name, wrong_type};
use crate::risk::ConfigValue;
use crate::types::{ControlMode, Id, Verbosity};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMapping, PyString};

/// A risk limit's value: None turns the limit off; a bool, text or real number is taken as
/// given, for the core to check against the limit.
fn config_value(v: &Bound<'_, PyAny>, field: &str) -> PyResult<ConfigValue> {
    if v.is_none() {
        Ok(ConfigValue::Off)
    } else if is_bool(v) {
        Ok(ConfigValue::Flag(v.is_truthy()?))
    } else if let Ok(s) = v.cast::<PyString>() {
        Ok(ConfigValue::Text(utf8(s, field)?.to_string()))
    } else if is_real(v)? {
        Ok(ConfigValue::Num(float_arg(v, field)?))
    } else {
        Err(wrong_type(
            format_args!("invalid {field}: expected a number, str, bool or None"),
            v,
        ))
    }
}

/// A risk limit that is a flag (`require_source_run_in_live`), read as every entry point reads
/// one (`bool_arg`: a bool, or the int 0 or 1 of a database row). Anything else is a ValueError,
/// as the core's refusal is, showing the value as Python does: the core would show a float 1.0
/// as 1, which reads as the int taken.
fn config_flag(v: &Bound<'_, PyAny>, field: &str) -> PyResult<ConfigValue> {
    match bool_arg(v, field) {
        Ok(flag) => Ok(ConfigValue::Flag(flag)),
        Err(e) if e.is_instance_of::<PyTypeError>(v.py()) => Err(PyValueError::new_err(format!(
            "invalid {field}: {} (must be True or False, or the int 0 or 1)",
            short_repr(v)
        ))),
        Err(e) => Err(e),
    }
}

/// `{name: number}` from a mapping, each value checked to be a real number (not bool/str).
fn number_fields(config: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<(String, f64)>> {
    let dict = as_dict(config)?.ok_or_else(|| {
        wrong_type(
            format_args!("{what} must be a dict of field name to number"),
            config,
        )
    })?;
    let mut out = Vec::with_capacity(dict.len());
    for (k, v) in dict_items(&dict)? {
        let key = str_arg(&k, &format!("{what} key"))?;
        out.push((key.clone(), float_arg(&v, &key)?));
    }
    Ok(out)
}

impl PyKernel {
    pub(super) fn control_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.core.control;
        let d = PyDict::new(py);
        d.set_item("kernel_id", &self.core.kernel_id)?;
        d.set_item("mode", c.mode.name())?;
        d.set_item("verbosity", c.verbosity.name())?;
        d.set_item("debug_clickhouse_enabled", c.debug_clickhouse_enabled)?;
        d.set_item("frozen", c.frozen)?;
        d.set_item("freeze_reason", &c.freeze_reason)?;
        d.set_item("freeze_asset", &c.freeze_asset)?;
        d.set_item("freeze_events", c.freeze_events)?;
        d.set_item("source", &c.source)?;
        d.set_item("updated_seq", c.updated_seq)?;
        d.set_item("mode_set_at", c.mode_set_at)?;
        d.set_item("mode_set_by", &c.mode_set_by)?;
        Ok(d)
    }
}

#[pymethods]
impl PyKernel {
    /// Sets the account's seed capital (`seed`, the original kernel's name for it).
    fn set_seed_capital(slf: &Bound<'_, Self>, seed: &Bound<'_, PyAny>) -> PyResult<()> {
        // Arguments are read before the kernel is taken: reading one may run Python code that
        // calls into this kernel, which would wait for itself.
        let c = float_arg(seed, "seed")?;
        // Refused naming the argument as the caller wrote it (the kernel's check names it
        // "capital"); the kernel checks it again by the same rule.
        check_number("seed", c, 0.0)?;
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        let seq = this.core.seq();
        this.core.set_seed_capital(c)?;
        this.log_input(seq, || KernelInput::SeedCapital(c))
    }

    /// Updates exchange fields (taker_rate, maker_rate, lot_step, tick_size, min_notional,
    /// funding_interval_secs). Every value is checked before anything changes; maker_rate may
    /// be negative (a rebate) down to -taker_rate.
    fn set_exchange_config(slf: &Bound<'_, Self>, config: &Bound<'_, PyAny>) -> PyResult<()> {
        let fields = number_fields(config, "exchange config")?;
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        let seq = this.core.seq();
        this.core.set_exchange_config(&fields)?;
        this.log_input(seq, || KernelInput::ExchangeConfig(fields))
    }

    pub(super) fn exchange_config<'py>(
        slf: &Bound<'_, Self>,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        let c = &this.core.fees.config;
        let d = PyDict::new(py);
        d.set_item("taker_rate", c.taker_rate)?;
        d.set_item("maker_rate", c.maker_rate)?;
        d.set_item("lot_step", c.lot_step)?;
        d.set_item("tick_size", c.tick_size)?;
        d.set_item("min_notional", c.min_notional)?;
        d.set_item("funding_interval_secs", c.funding_interval_secs)?;
        Ok(d)
    }

    /// Per-asset precision and floors from the venue: lot_step, tick_size, min_qty, min_notional.
    fn set_market_limits(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        limits: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let fields = number_fields(limits, "market limits")?;
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        let seq = this.core.seq();
        this.core.set_market_limits(&asset, &fields)?;
        this.log_input(seq, || KernelInput::MarketLimits {
            asset: asset.clone(),
            fields,
        })
    }

    fn market_limits<'py>(
        slf: &Bound<'_, Self>,
        py: Python<'py>,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let this = wait_ref(slf)?;
        let Some(m) = this.core.market_limits(&asset) else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("lot_step", m.lot_step)?;
        d.set_item("tick_size", m.tick_size)?;
        d.set_item("min_qty", m.min_qty)?;
        d.set_item("min_notional", m.min_notional)?;
        Ok(Some(d))
    }

    /// Sets risk rules from a dict (``RiskLimits.model_dump()``); None turns a rule off.
    fn set_risk_limits(slf: &Bound<'_, Self>, limits: &Bound<'_, PyAny>) -> PyResult<()> {
        let dict =
            &as_dict(limits)?.ok_or_else(|| wrong_type("risk limits must be a dict", limits))?;
        let mut updates = Vec::with_capacity(dict.len());
        // A copy of the items, as in `number_fields`: a value's __float__ may change the dict.
        for (k, v) in dict_items(dict)? {
            let key = str_arg(&k, "risk limits key")?;
            let value = if key == "require_source_run_in_live" {
                config_flag(&v, &key)?
            } else {
                config_value(&v, &key)?
            };
            updates.push((key, value));
        }
        let mut this = wait_mut(slf)?;
        let next = this.core.risk_updates(&updates)?;
        this.check_takes_input()?;
        let (seq, logged) = (this.core.seq(), this.wal.is_some().then(|| next.clone()));
        this.core.set_risk_limits(next);
        this.log_input(seq, || KernelInput::RiskLimits(logged.unwrap_or_default()))
    }

    fn risk_limits<'py>(slf: &Bound<'_, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        let r = &this.core.risk;
        let d = PyDict::new(py);
        d.set_item("max_leverage", r.max_leverage)?;
        d.set_item("max_notional_per_asset", r.max_notional_per_asset)?;
        d.set_item("max_notional_total", r.max_notional_total)?;
        d.set_item("max_order_rate", r.max_order_rate)?;
        d.set_item("regime", r.regime.name())?;
        d.set_item("edge_freeze_threshold_bps", r.edge_freeze_threshold_bps)?;
        d.set_item("require_source_run_in_live", r.require_source_run_in_live)?;
        Ok(d)
    }

    #[pyo3(signature = (fill_price, fill_qty, actual_fee, maker=false))]
    fn calibrate_fee<'py>(
        slf: &Bound<'_, Self>,
        py: Python<'py>,
        fill_price: &Bound<'_, PyAny>,
        fill_qty: &Bound<'_, PyAny>,
        actual_fee: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = flag::maker)] maker: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (price, qty, actual_fee) = (
            float_arg(fill_price, "fill_price")?,
            float_arg(fill_qty, "fill_qty")?,
            float_arg(actual_fee, "actual_fee")?,
        );
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        let seq = this.core.seq();
        let c = this.core.calibrate_fee(price, qty, actual_fee, maker)?;
        this.log_input(seq, || KernelInput::CalibrateFee {
            price,
            qty,
            actual_fee,
            maker,
        })?;
        let d = PyDict::new(py);
        d.set_item("expected_fee", c.expected_fee)?;
        d.set_item("actual_fee", c.actual_fee)?;
        d.set_item("ratio", c.ratio)?;
        d.set_item("deviation_pct", c.deviation_pct)?;
        d.set_item("calibration_status", c.calibration_status.name())?;
        d.set_item("calibration_ratio", c.calibration_ratio)?;
        d.set_item("calibration_samples", c.calibration_samples)?;
        d.set_item("calibration_learned", c.learned)?;
        d.set_item("liquidity", c.liquidity.name())?;
        Ok(d)
    }

    /// Changes the control; `mode` may be the original kernel's update, a dict of these
    /// arguments, which `update` names as the original did. Returns the new control. With
    /// `if_mode`, the change applies only while the kernel runs that mode (the one its caller
    /// read), else changes nothing and returns None.
    // `text_signature`: the defaults as Python shows them; `source`'s default in `signature` is
    // a Rust value, which it would show as "...".
    #[pyo3(signature = (mode=None, verbosity=None, debug_clickhouse_enabled=None, source="local".to_string(), *, if_mode=None, update=None),
        text_signature = "($self, mode=None, verbosity=None, debug_clickhouse_enabled=None, source=\"local\", *, if_mode=None, update=None)")]
    #[allow(clippy::too_many_arguments)]
    fn update_control<'py>(
        slf: &Bound<'py, Self>,
        mode: Option<&Bound<'_, PyAny>>,
        verbosity: Option<&Bound<'_, PyAny>>,
        debug_clickhouse_enabled: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = nul_free_text::source)] source: String,
        if_mode: Option<&Bound<'_, PyAny>>,
        update: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let update = match update {
            Some(u) => {
                if mode.is_some() {
                    return Err(PyTypeError::new_err(
                        "update_control takes its update as update or as mode, not both",
                    ));
                }
                Some(as_dict(u)?.ok_or_else(|| {
                    wrong_type(format_args!("invalid update: expected a dict"), u)
                })?)
            }
            None => mode.map(as_dict).transpose()?.flatten(),
        };
        if let Some(update) = update {
            if verbosity.is_some() || debug_clickhouse_enabled.is_some() {
                return Err(PyTypeError::new_err(
                    "update_control takes an update dict or the fields as arguments, not both",
                ));
            }
            return Self::update_control_from(slf, &update, source, if_mode);
        }
        let mode: Option<ControlMode> = opt_enum_arg(mode, "mode")?;
        let if_mode: Option<ControlMode> = opt_enum_arg(if_mode, "if_mode")?;
        let verbosity: Option<Verbosity> = opt_enum_arg(verbosity, "verbosity")?;
        let debug = match debug_clickhouse_enabled {
            None => None,
            Some(v) if v.is_none() => None,
            // A flag as every entry point takes one: a bool, Python's or numpy's, or 0 or 1.
            Some(v) => Some(bool_arg(v, "debug_clickhouse_enabled")?),
        };
        // Taken once the arguments are read (which may run Python code), and waited for as
        // every input waits: a control plane's HALTED from another thread lands while another
        // call is inside the kernel, instead of raising "Already borrowed".
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        let (seq, ts) = (this.core.seq(), now());
        match if_mode {
            None => this
                .core
                .update_control(mode, verbosity, debug, &source, ts),
            // Compared under the kernel's own lock: no other thread's change lands in between.
            Some(running) => {
                if !this
                    .core
                    .update_control_if_mode(running, mode, verbosity, debug, &source, ts)
                {
                    return Ok(None);
                }
            }
        }
        // Logged as a plain change: it applied, and its replay applies it again.
        this.log_input(seq, || KernelInput::Control {
            mode,
            verbosity,
            debug,
            source: source.clone(),
            ts,
        })?;
        this.control_dict(slf.py()).map(Some)
    }

    fn control<'py>(slf: &Bound<'_, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        this.control_dict(py)
    }
}

/// The fields an update dict (`update_control`) takes.
const CONTROL_FIELDS: [&str; 4] = ["mode", "verbosity", "debug_clickhouse_enabled", "source"];

impl PyKernel {
    /// `update_control` with its arguments in `update`, as the original kernel took them; an
    /// unknown field is refused, naming it and its value, nothing changed.
    fn update_control_from<'py>(
        slf: &Bound<'py, Self>,
        update: &Bound<'_, PyDict>,
        source: String,
        if_mode: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        for (key, value) in dict_items(update)? {
            let key = str_arg(&key, "control update field")?;
            if !CONTROL_FIELDS.contains(&key.as_str()) {
                return Err(PyValueError::new_err(format!(
                    "invalid control update: unknown field {key:?} (value {}); it takes {}",
                    short_repr(&value),
                    CONTROL_FIELDS.join(", ")
                )));
            }
        }
        let source = match update.get_item("source")? {
            // A value of another type is named as the update's; a bad text names itself.
            Some(s) => nul_free_text::source(&s).map_err(|e| {
                if e.is_instance_of::<PyTypeError>(s.py()) {
                    PyTypeError::new_err(format!(
                        "invalid control update: source {}",
                        e.value(s.py())
                    ))
                } else {
                    e
                }
            })?,
            None => source,
        };
        let field = |k: &str| update.get_item(k);
        let mode = field("mode")?;
        // Read as an update of its own, a dict here would be taken at any depth, and one nested
        // deep enough would overflow the stack.
        if let Some(m) = mode.as_ref().filter(|m| m.cast::<PyMapping>().is_ok()) {
            // Named by its type: the repr of a dict nested deep enough fails.
            return Err(PyTypeError::new_err(format!(
                "invalid control update: mode must be a mode name, got a {} (an update dict \
                 holds no other update)",
                type_name(m)
            )));
        }
        Self::update_control(
            slf,
            mode.as_ref(),
            field("verbosity")?.as_ref(),
            field("debug_clickhouse_enabled")?.as_ref(),
            source,
            if_mode,
            None,
        )
    }
}
