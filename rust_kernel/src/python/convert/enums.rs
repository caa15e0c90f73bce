//! The kernel's enums: a member, or its name as text.

use super::text::utf8;
use super::{short_repr, type_name, wrong_type};
use crate::types::*;
use pyo3::exceptions::{PyAttributeError, PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyInt, PyString, PyType};

/// Native enums and the names of their members share one extractor, so every
/// enum argument accepts `TradeSide.LONG` and `"LONG"` alike and names the field on error.
pub trait NamedEnum: Sized + Copy + for<'a, 'py> FromPyObject<'a, 'py> {
    const TYPE_NAME: &'static str;
    /// The member of this name, or of one of its other names (`VenueOrderStatus`'s "ACKED").
    fn from_name(s: &str) -> Option<Self>;
    fn names() -> Vec<&'static str>;
}

/// The ValueError for `text`, no name of a member of `T`: names the enum and the text.
fn unknown_name<T: NamedEnum>(text: &str) -> PyErr {
    PyValueError::new_err(format!(
        "unknown {} {:?}; expected one of {}",
        T::TYPE_NAME,
        text,
        T::names().join(", ")
    ))
}

// Each enum is a string enum as the original kernel's were: built from its name
// (`TradeStage("IDLE")`), `.value` gives the name back, and a member equals its name as text,
// and its number too. Its hash is its name's: it finds its name's dict entry, not its number's.
macro_rules! named_enum_py {
    ($($t:ident $({ $($alias:literal => $member:ident),+ })?),+ $(,)?) => {$(
        impl NamedEnum for $t {
            const TYPE_NAME: &'static str = stringify!($t);
            fn from_name(s: &str) -> Option<Self> {
                $t::parse(s)$(.or(match s { $($alias => Some($t::$member),)+ _ => None }))?
            }
            fn names() -> Vec<&'static str> { $t::ALL.iter().map(|v| v.name()).collect() }
        }

        #[pymethods]
        impl $t {
            /// The member named `value` (or `value` itself when it is one); ValueError naming
            /// the enum and the text otherwise.
            #[new]
            fn py_new(value: &Bound<'_, PyAny>) -> PyResult<Self> {
                if let Ok(member) = value.cast::<$t>() {
                    return Ok(*member.get());
                }
                // ValueError, as a string enum raises for any value no member has.
                let Ok(text) = value.cast::<PyString>() else {
                    return Err(PyValueError::new_err(format!(
                        "{}() takes a member's name as str, got {} {}",
                        stringify!($t), type_name(value), short_repr(value))));
                };
                let text = utf8(text, stringify!($t))?;
                <$t as NamedEnum>::from_name(text).ok_or_else(|| unknown_name::<$t>(text))
            }

            /// The member's name, e.g. "LONG".
            #[getter(name)]
            fn py_name(&self) -> &'static str { $t::name(*self) }

            /// The member's name, as a string enum's value is.
            #[getter]
            fn value(&self) -> &'static str { $t::name(*self) }

            /// The member with this name; ValueError naming the value otherwise.
            #[staticmethod]
            #[pyo3(name = "parse")]
            fn py_parse(value: &str) -> PyResult<Self> {
                <$t as NamedEnum>::from_name(value).ok_or_else(|| unknown_name::<$t>(value))
            }

            fn __str__(&self) -> &'static str { $t::name(*self) }

            /// Formatted as its name is (`f"{stage:<15}"`), as a string enum's member is.
            fn __format__<'py>(&self, py: Python<'py>, spec: &str) -> PyResult<Bound<'py, PyAny>> {
                PyString::new(py, $t::name(*self)).call_method1("__format__", (spec,))
            }

            /// A str method of the member's name (`stage.startswith("EXIT")`), as a string
            /// enum's member has; other names raise AttributeError as for any object.
            fn __getattr__<'py>(&self, py: Python<'py>, attr: &str) -> PyResult<Bound<'py, PyAny>> {
                let name = PyString::new(py, $t::name(*self));
                match name.getattr(attr) {
                    Ok(method) if !attr.starts_with('_') => Ok(method),
                    _ => Err(PyAttributeError::new_err(format!(
                        "'{}' object has no attribute '{attr}'", stringify!($t)))),
                }
            }

            /// The member named `name` (`TradeStage["POSITION_OPEN"]`), as an Enum class gives
            /// it; KeyError naming the name otherwise.
            #[classmethod]
            fn __class_getitem__(_cls: &Bound<'_, PyType>, name: &Bound<'_, PyAny>) -> PyResult<Self> {
                name.cast::<PyString>()
                    .ok()
                    .and_then(|s| s.to_str().ok().and_then(<$t as NamedEnum>::from_name))
                    .ok_or_else(|| PyKeyError::new_err(name.clone().unbind()))
            }

            fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
                let py = other.py();
                if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                    // Ordered by name against a member or text, as a string enum's member is.
                    let other_name = if let Ok(member) = other.cast::<$t>() {
                        $t::name(*member.get()).to_owned()
                    } else if let Ok(text) = other.cast::<PyString>() {
                        // An alias ("ACKED") orders as the member it names, as it compares equal.
                        let text = text.to_str()?;
                        match <$t as NamedEnum>::from_name(text) {
                            Some(member) => $t::name(member).to_owned(),
                            None => text.to_owned(),
                        }
                    } else {
                        return Ok(py.NotImplemented());
                    };
                    return Ok(op.matches($t::name(*self).cmp(other_name.as_str()))
                        .into_pyobject(py)?.to_owned().into_any().unbind());
                }
                let equal = if let Ok(member) = other.cast::<$t>() {
                    *member.get() == *self
                } else if let Ok(text) = other.cast::<PyString>() {
                    text.to_str().ok().and_then(<$t as NamedEnum>::from_name) == Some(*self)
                } else if let Ok(n) = other.cast::<PyInt>() {
                    n.extract::<i64>().is_ok_and(|n| n == *self as i64)
                } else {
                    return Ok(py.NotImplemented());
                };
                Ok((equal == matches!(op, CompareOp::Eq)).into_pyobject(py)?.to_owned().into_any().unbind())
            }

            fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
                PyString::intern(py, $t::name(*self)).hash()
            }

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
    // The original kernel's `VenueEventStatus.ACKED` is an acknowledged order's status.
    VenueOrderStatus { "ACKED" => Acknowledged },
    KernelDiagnosticCode,
    KernelSeverity,
    ControlMode,
    Verbosity,
    AccountEventKind
);

#[pymethods]
impl VenueOrderStatus {
    /// `ACKNOWLEDGED` under the original kernel's name (`VenueEventStatus.ACKED`).
    #[classattr]
    #[allow(non_snake_case)]
    fn ACKED() -> VenueOrderStatus {
        VenueOrderStatus::Acknowledged
    }
}

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
        let expected = format!(
            "invalid {field}: expected {} or its name as str",
            T::TYPE_NAME
        );
        wrong_type(expected, obj)
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

/// A side as given: an order's (BUY/SELL, dita's) or a trade's (LONG/SHORT/FLAT, the original
/// kernel's), either as the member or its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideArg {
    Order(OrderSide),
    Trade(TradeSide),
}

/// A `side` argument that takes an `OrderSide` or a `TradeSide` (member or name); named on error.
pub fn side_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<SideArg> {
    if let Ok(side) = obj.cast::<OrderSide>() {
        return Ok(SideArg::Order(*side.get()));
    }
    if let Ok(side) = obj.cast::<TradeSide>() {
        return Ok(SideArg::Trade(*side.get()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let text = utf8(s, field)?;
        if let Some(side) = OrderSide::parse(text) {
            return Ok(SideArg::Order(side));
        }
        if let Some(side) = TradeSide::parse(text) {
            return Ok(SideArg::Trade(side));
        }
        return Err(PyValueError::new_err(format!(
            "invalid {field}: unknown side {text:?}; expected one of BUY, SELL (OrderSide) or \
             LONG, SHORT, FLAT (TradeSide)"
        )));
    }
    Err(wrong_type(
        format_args!("invalid {field}: expected OrderSide, TradeSide or its name as str"),
        obj,
    ))
}

/// The side of the trade an order of `side` belongs to: an entry buys a LONG and sells a
/// SHORT, an exit the other way round.
pub fn trade_side_of(side: OrderSide, is_entry: bool) -> TradeSide {
    match (side, is_entry) {
        (OrderSide::Buy, true) | (OrderSide::Sell, false) => TradeSide::Long,
        (OrderSide::Sell, true) | (OrderSide::Buy, false) => TradeSide::Short,
    }
}
