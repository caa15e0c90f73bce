//! What the projection publishes: the slots, account and control changed since its last read,
//! all of one kernel state, read without holding the kernel or the GIL for long at a time.

use super::busy::{wait_mut, wait_ref, GilTurns};
use super::reads::ShownSlot;
use super::PyKernel;
use crate::python::convert::flags::{bool_arg, flag};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// How many slots a long read copies in one borrow of the kernel (about 0.25 ms).
const SLOTS_A_BORROW: usize = 512;

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
    /// in slot order. All of one kernel state: an input between two separate reads would show
    /// in the account and not in the slots. `full`: every slot, the account and the control (a
    /// resync); `with_account`: the account even unchanged (a heartbeat's rewrite). Either
    /// waits for a busy kernel as reads do; without them a busy kernel gives nothing and its
    /// changes wait for the next call.
    ///
    /// Many slots (a resync of thousands) are copied a few hundred at a time, the kernel free in
    /// between, and the slots changed meanwhile copied again in the last borrow, with the
    /// account and control; their dicts are made with the kernel free. Every millisecond or so
    /// of that, a thread waiting for the GIL (the strategy's) is given it.
    #[pyo3(signature = (*, full=false, with_account=false))]
    fn projection_changes<'py>(
        slf: &Bound<'py, Self>,
        #[pyo3(from_py_with = flag::full)] full: bool,
        #[pyo3(from_py_with = flag::with_account)] with_account: bool,
    ) -> PyResult<ProjectionChanges<'py>> {
        let py = slf.py();
        let mut turns = GilTurns::new();
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
        let tracking = (this.core.dirty.enabled, this.core.dirty.settings);
        let mut slots: Vec<ShownSlot> = Vec::with_capacity(slot_ids.len());
        if slot_ids.len() > SLOTS_A_BORROW && this.core.dirty.enabled {
            drop(this);
            for chunk in slot_ids.chunks(SLOTS_A_BORROW) {
                turns.take_if_due(py);
                let this = wait_ref(slf)?;
                slots.extend(chunk.iter().filter_map(|&sid| this.shown_slot(sid)));
            }
            this = wait_mut(slf)?;
            if (this.core.dirty.enabled, this.core.dirty.settings) == tracking {
                // Every slot changed since its copy is marked again: copied again, the answer
                // is of this borrow's state.
                let (changed, changed_account, changed_control) = this.core.dirty.drain();
                account |= changed_account;
                control |= changed_control;
                for sid in changed {
                    copy_again(&mut slots, this.shown_slot(sid));
                }
            } else {
                // Tracking was set meanwhile and its marks are gone: every slot copied again.
                slots.clear();
                slots.extend(slot_ids.iter().filter_map(|&sid| this.shown_slot(sid)));
            }
        } else {
            slots.extend(slot_ids.iter().filter_map(|&sid| this.shown_slot(sid)));
        }
        let account = (account || with_account)
            .then(|| this.account_dict(py))
            .transpose()?;
        let control = control.then(|| this.control_dict(py)).transpose()?;
        let kernel_id = this.core.kernel_id.clone();
        drop(this);
        let dicts = PyDict::new(py);
        for slot in &slots {
            turns.take_if_due(py);
            dicts.set_item(slot.slot_id(), slot.dict(py, &kernel_id)?)?;
        }
        Ok((dicts, account, control))
    }
}

/// Puts `slot`, copied again, in place of its earlier copy in `slots` (in slot order), or in
/// order among them when it changed after the read began.
fn copy_again(slots: &mut Vec<ShownSlot>, slot: Option<ShownSlot>) {
    let Some(slot) = slot else { return };
    match slots.binary_search_by_key(&slot.slot_id(), ShownSlot::slot_id) {
        Ok(i) => slots[i] = slot,
        Err(i) => slots.insert(i, slot),
    }
}
