//! A new Python bytes object filled with the GIL released ([`bytes_without_gil`]): a safe
//! function over the C API's uninitialised bytes object.
//!
//! Why unsafe: FFI. pyo3's safe `PyBytes::new_with` zeroes the new object with the GIL held,
//! faulting in a block's fresh pages (megabytes) while the strategy's thread waits: a Python
//! thread running beside the journal's encoding keeps 0.42 of its speed with this function
//! and 0.31 with `new_with` (median of five interleaved runs) (docs/performance.md).
//!
//! The invariant the calls rely on: the new object is this function's alone until it returns
//! it, so no other thread, with or without the GIL, sees its buffer while it is filled, and
//! every byte is written before it is handed out.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// `data` as a new bytes object, copied with the GIL released: a block is megabytes, and
/// copying it (and faulting in the object's fresh pages) with the GIL held would stall the
/// strategy's thread for as long.
pub(super) fn bytes_without_gil<'py>(
    py: Python<'py>,
    data: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    // A slice's length never exceeds isize::MAX.
    let len = data.len() as ffi::Py_ssize_t;
    // SAFETY: with a null source, PyBytes_FromStringAndSize returns a new bytes object whose
    // `len` bytes are uninitialised (or null on failure, turned into the Python error); for
    // `len` 0 it is the shared empty object, and nothing is written into it. Until it is
    // returned, only this function holds the new object: no other thread, with or without
    // the GIL, can see its buffer while it is filled, and every byte is written before it is
    // handed out. Bytes objects are immutable afterwards, as Python expects.
    unsafe {
        let ptr = ffi::PyBytes_FromStringAndSize(std::ptr::null(), len);
        let bytes = Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked::<PyBytes>();
        let buf =
            std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(ptr).cast::<u8>(), data.len());
        py.detach(|| buf.copy_from_slice(data));
        Ok(bytes)
    }
}
