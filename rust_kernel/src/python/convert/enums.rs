//! The kernel's enums: a member, or its name as text.

use super::text::utf8;
use super::type_name;
use crate::types::*;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

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
