//! Text and ids: valid UTF-8, bounded in length; ids hold no NUL byte.

use super::wrong_type;
use crate::types::{id, Id};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// The longest text one id, reason or source may be, in bytes. Every input goes into one
/// write-ahead log record (64 MiB at most) after the kernel applied it; input that could
/// not be logged would be applied and then stop the kernel. These bounds keep any input far
/// below that, and are far above any real id or message.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// `value`, refused (naming `field` and the length) when longer than [`MAX_TEXT_BYTES`].
pub fn bounded_text<'a>(value: &'a str, field: &str) -> PyResult<&'a str> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(PyValueError::new_err(format!(
            "invalid {field}: {} bytes long (at most {MAX_TEXT_BYTES})",
            value.len()
        )));
    }
    Ok(value)
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

/// A str argument, valid UTF-8, named on error.
pub fn str_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<String> {
    match obj.cast::<PyString>() {
        Ok(s) => utf8(s, field).map(str::to_string),
        Err(_) => Err(wrong_type(
            format_args!("invalid {field}: expected str"),
            obj,
        )),
    }
}

/// A text argument of an input, borrowed, checked as [`bounded_text`] and [`utf8`] check it;
/// for a `from_py_with` extractor, whose TypeError PyO3 begins with "argument '<field>': ".
fn text_ref<'a>(obj: &'a Bound<'_, PyAny>, field: &str) -> PyResult<&'a str> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| wrong_type("expected str", obj))?;
    bounded_text(utf8(s, field)?, field)
}

/// An id argument, checked as [`text_ref`] checks text and refused holding a NUL byte (C
/// strings, logs and many stores cut it short there). The kernel judges an empty id or one
/// of only whitespace (an outcome); it finds a NUL only at an id's start, keeping its own
/// check to the first byte, so a NUL further in is refused here, where text becomes an id.
fn id_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Id> {
    id_without_nul(text_ref(obj, field)?, field)
}

/// `text` as an id, refused (naming `field` and the value) when it holds a NUL byte.
fn id_without_nul(text: &str, field: &str) -> PyResult<Id> {
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
    id_without_nul(bounded_text(&s, field)?, field)
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
    internal_trade_id,
    fill_id,
    client_order_id,
));
named_extractors!(opt_ident -> Option<crate::types::Id> = opt_id_arg(asset));
// A `reason` is free text (a venue's own words), taken as it comes.
named_extractors!(free_text -> String = text_arg(reason, name));
named_extractors!(nul_free_text -> String = nul_free_text_arg(source));
