//! A copy of the kernel as a checkpoint holds it, made on the input's thread so the encoding,
//! tens of milliseconds once the memories are full, runs on the checkpoint's own thread.

use super::*;

/// The kernel's state as a checkpoint encodes it, and good for nothing else: the memories of
/// intent and order ids and the unsettled fills are copied without their lookup tables.
pub struct CheckpointCopy(Kernel);

impl CheckpointCopy {
    /// The checkpoint's bytes: those [`encode`](super::encode_checkpoint) gives the kernel
    /// copied.
    pub fn encode(&self) -> Vec<u8> {
        super::encode_checkpoint(&self.0)
    }
}

impl Kernel {
    /// Every field cloned but the journal's outbox, left empty: its rows are the journal's and
    /// no part of a checkpoint, and under a lagging journal it is the largest part by far. The
    /// fills waiting for settlement share their chunks with the copy ([`FifoMap`]), and the
    /// memories leave out their lookup tables, which a checkpoint rebuilds when read: together
    /// about two thirds of the memory once they are full. A new field fails to compile here
    /// until it is copied.
    pub fn copy_for_checkpoint(&self) -> CheckpointCopy {
        let Kernel {
            kernel_id,
            slots,
            free,
            open_by_asset,
            open_count,
            sides,
            by_client_id,
            by_venue_id,
            finished_orders,
            ended,
            covered,
            intents_seen,
            account_events_seen,
            money_events_seen,
            unsettled,
            early_settlements,
            funding_times,
            fees,
            account,
            control,
            risk,
            market_limits,
            marks,
            entry_marks,
            asset_notional,
            total_notional,
            rate,
            last_edges,
            seq,
            order_counter,
            order_ids,
            counters,
            outbox: _,
            dirty,
            journal_attached,
        } = self;
        CheckpointCopy(Kernel {
            kernel_id: kernel_id.clone(),
            slots: slots.clone(),
            free: free.clone(),
            open_by_asset: open_by_asset.clone(),
            open_count: *open_count,
            sides: sides.clone(),
            by_client_id: by_client_id.clone(),
            by_venue_id: by_venue_id.clone(),
            finished_orders: finished_orders.copy_to_encode(),
            ended: ended.clone(),
            covered: covered.clone(),
            intents_seen: intents_seen.copy_to_encode(),
            account_events_seen: account_events_seen.clone(),
            money_events_seen: money_events_seen.clone(),
            unsettled: unsettled.copy_to_encode(),
            early_settlements: early_settlements.clone(),
            funding_times: funding_times.clone(),
            fees: fees.clone(),
            account: account.clone(),
            control: control.clone(),
            risk: risk.clone(),
            market_limits: market_limits.clone(),
            marks: marks.clone(),
            entry_marks: entry_marks.clone(),
            asset_notional: asset_notional.clone(),
            total_notional: *total_notional,
            rate: rate.clone(),
            last_edges: last_edges.clone(),
            seq: *seq,
            order_counter: *order_counter,
            order_ids: order_ids.clone(),
            counters: counters.clone(),
            outbox: Outbox::default(),
            dirty: dirty.clone(),
            journal_attached: *journal_attached,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockVenue;

    /// Intents `from..to`, ENTER and EXIT in turn over three slots, through the mock venue;
    /// returns the ids of the fills booked.
    fn trade(kernel: &mut Kernel, venue: &mut MockVenue, from: u32, to: u32) -> Vec<Id> {
        let mut fills = Vec::new();
        for n in from..to {
            let action = if n % 2 == 0 {
                KernelCommandType::Enter
            } else {
                KernelCommandType::Exit
            };
            let intent = Intent::new(
                &format!("i{n}"),
                &format!("t{}", n / 2),
                i64::from(n % 3),
                "BTCUSDT",
                TradeSide::Long,
                action,
                100.0 + f64::from(n % 50),
                1.0,
            );
            let out = kernel.process_intent(&intent);
            if let Some(order) = &out.submit {
                for ev in venue.submit(order) {
                    if kernel.on_venue_event(&ev).accepted && ev.kind == KernelEventKind::Fill {
                        fills.push(ev.fill_id.clone());
                    }
                }
            }
        }
        fills
    }

    #[test]
    fn the_copy_encodes_as_the_kernel_does() {
        let mut kernel = Kernel::new("copied", 3).unwrap();
        kernel.set_journal_enabled(true);
        let mut venue = MockVenue::new(Default::default()).unwrap();
        trade(&mut kernel, &mut venue, 0, 40);
        assert!(
            !kernel.outbox.is_empty(),
            "the journal's rows are not copied"
        );
        let copy = kernel.copy_for_checkpoint();
        assert!(copy.0.outbox.is_empty());
        assert_eq!(copy.encode(), encode_checkpoint(&kernel));
    }

    #[test]
    fn the_copy_keeps_its_state_while_the_kernel_goes_on() {
        // Thousands of fills waiting for settlement: the memories span many shared chunks.
        let mut kernel = Kernel::new("copied", 3).unwrap();
        let mut venue = MockVenue::new(Default::default()).unwrap();
        let fills = trade(&mut kernel, &mut venue, 0, 6_000);
        let copy = kernel.copy_for_checkpoint();
        let at_copy = copy.encode();
        assert_eq!(at_copy, encode_checkpoint(&kernel));

        // Settlements take waiting fills out of the oldest, middle and newest chunks, and
        // more trading adds fills behind them.
        for fill_id in fills.iter().step_by(7) {
            let mut ev =
                AccountEvent::new(&format!("settled-{fill_id}"), AccountEventKind::FillSettled);
            ev.fill_id = fill_id.clone();
            ev.asset = id("BTCUSDT");
            ev.fee = 0.01;
            assert!(kernel.on_account_event(&ev).accepted, "{fill_id}");
        }
        trade(&mut kernel, &mut venue, 6_000, 9_000);

        assert_ne!(encode_checkpoint(&kernel), at_copy);
        assert_eq!(copy.encode(), at_copy);
    }
}
