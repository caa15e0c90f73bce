//! What the projection publishes: the slots, account and control changed since its last read,
//! all of one kernel state, made dicts without holding the GIL for long at a time.

use super::busy::{wait_mut, GilTurns};
use super::reads::ShownSlot;
use super::PyKernel;
use crate::python::convert::flags::{bool_arg, flag};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `projection_changes`' answer: the changed slots' dicts by slot id, the account, the control.
type ProjectionChanges<'py> = (
    Bound<'py, PyDict>,
    Option<Bound<'py, PyDict>>,
    Option<Bound<'py, PyDict>>,
);

#[pymethods]
impl PyKernel {
    fn set_projection_enabled(slf: &Bound<'_, Self>, enabled: &Bound<'_, PyAny>) -> PyResult<()> {
        // A flag as every entry point takes one: a bool, Python's or numpy's, or 0 or 1.
        let enabled = bool_arg(enabled, "enabled")?;
        let mut this = wait_mut(slf)?;
        this.core.set_projection_enabled(enabled);
        Ok(())
    }

    /// What changed since the last call, for a projection publisher: `({slot_id: slot dict},
    /// account or None, control or None)`, the dicts of `slot_dict`, `account` and `control`,
    /// in slot order. Drained and copied in one borrow, so one cycle publishes one kernel state:
    /// an input between two separate reads would show in the account and not in the slots.
    /// `full`: every slot, the account and the control (a resync); `with_account`: the account
    /// even unchanged (a heartbeat's rewrite). Either waits for a busy kernel as reads do;
    /// without them a busy kernel gives nothing and its changes wait for the next call.
    ///
    /// The slots' dicts are made from their copies with the kernel free, and every millisecond
    /// of that a thread waiting for the GIL (the strategy's) is given it.
    #[pyo3(signature = (*, full=false, with_account=false))]
    fn projection_changes<'py>(
        slf: &Bound<'py, Self>,
        #[pyo3(from_py_with = flag::full)] full: bool,
        #[pyo3(from_py_with = flag::with_account)] with_account: bool,
    ) -> PyResult<ProjectionChanges<'py>> {
        let py = slf.py();
        let (slots, account, control, kernel_id) = {
            let mut this = if full || with_account {
                wait_mut(slf)?
            } else {
                match slf.try_borrow_mut() {
                    Ok(k) => k,
                    Err(_) => return Ok((PyDict::new(py), None, None)),
                }
            };
            let (mut slot_ids, mut account, mut control) = this.core.dirty.drain();
            if full {
                slot_ids = (0..this.core.max_slots()).collect();
                (account, control) = (true, true);
            }
            slot_ids.sort_unstable();
            let slots: Vec<ShownSlot> = slot_ids
                .into_iter()
                .filter_map(|sid| this.shown_slot(sid))
                .collect();
            let account = (account || with_account)
                .then(|| this.account_dict(py))
                .transpose()?;
            let control = control.then(|| this.control_dict(py)).transpose()?;
            (slots, account, control, this.core.kernel_id.clone())
        };
        let mut turns = GilTurns::new();
        let dicts = PyDict::new(py);
        for slot in &slots {
            turns.take_if_due(py);
            dicts.set_item(slot.slot_id(), slot.dict(py, &kernel_id)?)?;
        }
        Ok((dicts, account, control))
    }
}
