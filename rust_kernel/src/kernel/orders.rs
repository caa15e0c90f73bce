//! Building and sending an order: its client order id (`<kernel_id>-<n>`), its fields, the
//! REQUEST and SUBMIT transitions, and its place in the order indexes.

use super::*;

impl Kernel {
    /// The counter of a client id this kernel's id makes (`<kernel_id>-<n>`, see `new_order`).
    pub(super) fn own_counter(&self, client_order_id: &str) -> Option<u64> {
        let digits = client_order_id
            .strip_prefix(self.kernel_id.as_str())?
            .strip_prefix('-')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// The counter in the last client order id made: the next order's is one more.
    pub fn order_counter(&self) -> u64 {
        self.order_counter
    }

    /// Moves the order counter to at least `through` (never back), so no id up to it is
    /// made again ([`KernelInput::OrderIdsSkipped`]).
    pub fn skip_order_ids(&mut self, through: u64) {
        self.seq += 1;
        self.order_counter = self.order_counter.max(through);
    }

    /// The order an accepted ENTER or EXIT sends, written into `submit` (its answer's, where
    /// the caller hands it to the venue): built there, not moved there from a copy.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new_order(
        &mut self,
        intent: &Intent,
        sid: usize,
        side: OrderSide,
        qty: f64,
        exit: Option<bool>,
        m: &MarketLimits,
        submit: &mut Option<VenueOrder>,
    ) {
        // `exit`: None for an entry, else whether the exit goes out reduce-only.
        // Wrapping: a loaded slot may carry an id with the largest counter (`own_counter`).
        self.order_counter = self.order_counter.wrapping_add(1);
        let client_order_id = self
            .order_ids
            .get_or_insert_with(|| CounterIds::new(&self.kernel_id, "-"))
            .make_next(self.order_counter);
        let price = Self::sent_price(intent, m, side);
        *submit = Some(VenueOrder {
            client_order_id,
            venue_order_id: id(""),
            slot_id: sid,
            trade_id: self.slots[sid].trade_id.clone(),
            asset: self.slots[sid].asset.clone(),
            side,
            order_type: intent.order_type,
            price,
            reference_price: intent.reference_price,
            size: qty,
            filled_size: 0.0,
            avg_fill_price: 0.0,
            status: VenueOrderStatus::New,
            reduce_only: exit == Some(true),
            cancel_requested: false,
            created_at: intent.timestamp,
            is_entry: exit.is_none(),
        });
    }

    /// The order [`Kernel::new_order`] put in an answer's `submit`, for [`Kernel::send_order`]
    /// and the transitions it writes (given the field, so the answer's other fields may be
    /// written meanwhile).
    #[inline(always)]
    pub(super) fn submitted(submit: &Option<VenueOrder>) -> &VenueOrder {
        let Some(order) = submit.as_ref() else {
            unreachable!("new_order puts the order in submit")
        };
        order
    }

    /// An accepted ENTER or EXIT goes out: the request and submit transitions, into `out`
    /// (its stage with them), then the order is registered (the rate window when `rated`, order
    /// index, the slot's active order). The order is the one [`Kernel::new_order`] put in `out`'s
    /// `submit` (built there, where it stays for the caller to hand to the venue).
    pub(super) fn send_order(
        &mut self,
        sid: usize,
        request: Trigger,
        ctx: Ctx,
        rated: bool,
        intent: &Intent,
        out: &mut KernelOutcome,
    ) {
        if !self.request_and_submit(out, sid, request, ctx, intent) {
            self.request_then_submit(out, sid, request, ctx, intent);
        }
        if rated {
            self.rate.record(intent.timestamp);
        }
        // The order's id is `<kernel_id>-<order_counter>` (`new_order` made it just before):
        // its place in the index is the counter's last three digits, not read from its text.
        let place = (self.order_counter % ORDER_PLACES as u64) as usize;
        let order = Self::submitted(&out.submit);
        self.by_client_id
            .insert_at(place, order.client_order_id.clone(), sid);
        self.follow_new_order(sid, order.is_entry);
        self.set_working_to(sid, order);
        self.counters.orders_submitted += 1;
    }

    /// The request and submit transitions of an order sent, written as the two
    /// [`Kernel::transition`] calls of [`Kernel::request_then_submit`] write them, when the
    /// table has both moves (an ENTER's from a free slot, an EXIT's from an open one): the
    /// slot looked up, the room made and the slot marked dirty once for both, the submit's
    /// details written in place from the order in `out.submit`. False, changing nothing,
    /// when either move is not in the table.
    #[inline(always)]
    pub(super) fn request_and_submit(
        &mut self,
        out: &mut KernelOutcome,
        sid: usize,
        request: Trigger,
        ctx: Ctx,
        intent: &Intent,
    ) -> bool {
        let ts = intent.timestamp;
        let slot = &mut self.slots[sid];
        let prev = slot.fsm_state;
        let Some(mid) = next_stage(prev, request, ctx) else {
            return false;
        };
        let Some(next) = next_stage(mid, Trigger::Submit, ctx) else {
            return false;
        };
        slot.fsm_state = next;
        // The second move's test of the time finds it taken already.
        if ts > slot.last_event_time {
            slot.last_event_time = ts;
        }
        update_free_set(&mut self.free, sid, prev, mid);
        update_free_set(&mut self.free, sid, mid, next);
        let order = Self::submitted(&out.submit);
        push_two_transitions(
            &mut out.transitions,
            ts,
            &slot.trade_id,
            sid,
            (&intent.intent_id, &Id::default()),
            ((prev, mid, request), || TransitionDetails::Empty),
            ((mid, next, Trigger::Submit), || TransitionDetails::Submit {
                client_order_id: order.client_order_id.clone(),
                qty: order.size,
            }),
        );
        out.state = next;
        // Once: a second mark of the same slot changes nothing.
        self.dirty.slot(sid);
        true
    }

    /// The request and submit transitions one by one: where [`Kernel::request_and_submit`]
    /// finds a move not in the table (each then made or not on its own).
    #[cold]
    #[inline(never)]
    pub(super) fn request_then_submit(
        &mut self,
        out: &mut KernelOutcome,
        sid: usize,
        request: Trigger,
        ctx: Ctx,
        intent: &Intent,
    ) {
        let order = Self::submitted(&out.submit);
        let details = TransitionDetails::Submit {
            client_order_id: order.client_order_id.clone(),
            qty: order.size,
        };
        let no_event = id("");
        self.transition(
            out,
            sid,
            request,
            ctx,
            intent.timestamp,
            &intent.intent_id,
            &no_event,
            TransitionDetails::Empty,
        );
        self.transition(
            out,
            sid,
            Trigger::Submit,
            ctx,
            intent.timestamp,
            &intent.intent_id,
            &no_event,
            details,
        );
    }
}
