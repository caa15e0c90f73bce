//! The mock venue: deterministic for a seed, in-process, with knobs for the venue
//! behaviours the kernel must absorb (rejects, partial fills, rate limits, resting orders).

use crate::error::{check_number, format_number, KernelError, KernelResult};
use crate::model::{VenueEvent, VenueOrder};
use crate::types::*;
use ahash::AHashMap;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug, PartialEq)]
pub struct MockConfig {
    pub seed: u64,
    /// Probability that an accepted order fills at once (otherwise it rests, acknowledged).
    pub fill_rate: f64,
    pub reject_rate: f64,
    /// Probability that a filling order fills only `partial_fill_ratio` of its size at once.
    pub partial_fill_rate: f64,
    pub partial_fill_ratio: f64,
    pub rate_limit_rate: f64,
    pub retry_after: f64,
    pub latency_ms: f64,
    pub name: String,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            seed: 0,
            fill_rate: 1.0,
            reject_rate: 0.0,
            partial_fill_rate: 0.0,
            partial_fill_ratio: 0.5,
            rate_limit_rate: 0.0,
            retry_after: 1.0,
            latency_ms: 0.0,
            name: "mock".into(),
        }
    }
}

impl MockConfig {
    pub fn validate(&self) -> KernelResult<()> {
        for (field, v) in [
            ("fill_rate", self.fill_rate),
            ("reject_rate", self.reject_rate),
            ("partial_fill_rate", self.partial_fill_rate),
            ("rate_limit_rate", self.rate_limit_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(KernelError::invalid(
                    field,
                    format_number(v),
                    "must be a probability between 0 and 1",
                ));
            }
        }
        if !(self.partial_fill_ratio > 0.0 && self.partial_fill_ratio < 1.0) {
            return Err(KernelError::invalid(
                "partial_fill_ratio",
                format_number(self.partial_fill_ratio),
                "must be between 0 and 1 (exclusive)",
            ));
        }
        for (field, v) in [
            ("retry_after", self.retry_after),
            ("latency_ms", self.latency_ms),
        ] {
            crate::error::check_number(field, v, 0.0)?;
        }
        if self.name.is_empty() {
            return Err(KernelError::invalid("name", "''", "must not be empty"));
        }
        // Every id the venue makes starts with its name, and the kernel refuses an id holding
        // a NUL byte (Python's VenueEvent too): its answers would carry one into the log.
        if self.name.contains('\0') {
            return Err(KernelError::invalid(
                "name",
                format!("{:?}", self.name),
                "must not hold a NUL byte: the venue's ids carry its name",
            ));
        }
        Ok(())
    }
}

/// SplitMix64: tiny, fast and stable across versions, so a seed means the same run forever.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Debug)]
pub struct MockVenue {
    pub config: MockConfig,
    rng: SplitMix64,
    order_seq: u64,
    event_seq: u64,
    fill_seq: u64,
    /// What its ids start with: the venue's name, and `-s<seq>` once `resume` was called.
    id_prefix: String,
    ids: MockIds,
    pub submitted: u64,
    open: BTreeMap<Id, VenueOrder>,
    /// The last `MOCK_FINISHED_MEMORY` orders that ended (filled or canceled), for
    /// `order_status` and a cancel's refusal.
    finished: FinishedOrders,
    positions: AHashMap<Id, f64>,
}

/// The mock's order, event and fill ids, `<prefix>-<n>`, `<prefix>-e<n>` and `<prefix>-t<n>`:
/// each counter's next id is its last one counted up in place.
#[derive(Clone, Debug)]
struct MockIds {
    orders: CounterIds,
    events: CounterIds,
    fills: CounterIds,
}

impl MockIds {
    fn new(prefix: &str) -> Self {
        MockIds {
            orders: CounterIds::new(prefix, "-"),
            events: CounterIds::new(prefix, "-e"),
            fills: CounterIds::new(prefix, "-t"),
        }
    }
}

/// How many ended orders the mock remembers for `order_status`.
pub const MOCK_FINISHED_MEMORY: usize = 10_000;

/// The last [`MOCK_FINISHED_MEMORY`] orders that ended, found by client id. Only the oldest
/// ever leaves, so they take the places of a ring in turn; an id that ends again while
/// remembered keeps its place.
#[derive(Clone, Debug, Default)]
struct FinishedOrders {
    /// The order of position `p` (counted from 0 as orders end) at `p % MOCK_FINISHED_MEMORY`.
    orders: Vec<VenueOrder>,
    /// The position of the next order to end.
    next_position: u64,
    /// Each remembered order's position, by its client id.
    by_client_id: HashMap<Id, u64, foldhash::fast::RandomState>,
}

impl FinishedOrders {
    fn place(position: u64) -> usize {
        (position % MOCK_FINISHED_MEMORY as u64) as usize
    }

    fn get(&self, client_order_id: &str) -> Option<&VenueOrder> {
        let position = *self.by_client_id.get(client_order_id)?;
        self.orders.get(Self::place(position))
    }

    fn insert(&mut self, order: VenueOrder) {
        if self.orders.capacity() == 0 {
            // Whole at once, as the memory soon fills: growing to it would copy and rehash
            // it on the way.
            self.orders.reserve_exact(MOCK_FINISHED_MEMORY);
            self.by_client_id.reserve(MOCK_FINISHED_MEMORY + 1);
        }
        match self.by_client_id.entry(order.client_order_id.clone()) {
            Entry::Occupied(e) => self.orders[Self::place(*e.get())] = order,
            Entry::Vacant(e) => {
                let place = Self::place(self.next_position);
                e.insert(self.next_position);
                self.next_position += 1;
                if place < self.orders.len() {
                    // Full: the oldest order leaves its place to this one.
                    self.by_client_id
                        .remove(&self.orders[place].client_order_id);
                    self.orders[place] = order;
                } else {
                    self.orders.push(order);
                }
            }
        }
    }
}

impl MockVenue {
    /// Marks this venue's ids (`<name>-s<seq>-e<n>`) with `seq`, the kernel's seq when it
    /// was recovered from its log beside this venue (the kernel calls this). A venue started
    /// afresh counts from 1 again while the recovered kernel remembers the ids of its earlier
    /// run: unmarked, its first answers would be refused as duplicates and their fills lost.
    /// Every input moves the seq on, so each run that gave the kernel an event is marked
    /// apart from the next; each call adds its mark, so a venue several recovered kernels share
    /// carries all their seqs. 0 (a fresh kernel) leaves the ids as they are.
    pub fn resume(&mut self, seq: u64) {
        // The marks add up: with kernels sharing the venue, keeping only the last one's seq
        // would repeat the last run's mark when that kernel idled while another traded.
        if seq > 0 {
            self.id_prefix = counter_id(&self.id_prefix, "-s", seq).to_string();
            self.ids = MockIds::new(&self.id_prefix);
        }
    }
}

impl MockVenue {
    pub fn new(config: MockConfig) -> KernelResult<Self> {
        config.validate()?;
        let rng = SplitMix64(config.seed);
        let id_prefix = config.name.clone();
        let ids = MockIds::new(&id_prefix);
        Ok(MockVenue {
            config,
            rng,
            order_seq: 0,
            event_seq: 0,
            fill_seq: 0,
            id_prefix,
            ids,
            submitted: 0,
            open: BTreeMap::new(),
            finished: FinishedOrders::default(),
            positions: AHashMap::new(),
        })
    }

    fn event(&mut self, kind: KernelEventKind, order: &VenueOrder) -> VenueEvent {
        self.event_seq += 1;
        VenueEvent {
            event_id: self.ids.events.make_next(self.event_seq),
            trade_id: order.trade_id.clone(),
            slot_id: order.slot_id as i64,
            kind,
            status: kind.implied_status(),
            venue_order_id: order.venue_order_id.clone(),
            venue_client_id: order.client_order_id.clone(),
            side: Some(order.side),
            asset: order.asset.clone(),
            price: 0.0,
            size: order.size,
            filled_size: 0.0,
            remaining_size: 0.0,
            reason: String::new(),
            metadata: Metadata::new(),
            timestamp: order.created_at + self.config.latency_ms / 1000.0,
            fill_id: Id::default(),
            fee: None,
            retry_after: 0.0,
        }
    }

    fn fill_event(&mut self, order: &mut VenueOrder, qty: f64, price: f64) -> VenueEvent {
        order.avg_fill_price =
            (order.avg_fill_price * order.filled_size + price * qty) / (order.filled_size + qty);
        // Done when the fill covers what was left (the rest's float sum can miss the size by
        // an ulp: ~1e-9 at millions of units, where an absolute 1e-12 would leave the last fill
        // PARTIALLY_FILLED with dust while the order ended FILLED), or leaves only rounding.
        let left = order.size - order.filled_size;
        order.filled_size += qty;
        let done = qty >= left || left - qty <= 1e-12 * order.size.max(1.0);
        if done {
            order.filled_size = order.size;
        }
        let signed = if order.side == OrderSide::Buy {
            qty
        } else {
            -qty
        };
        *self.positions.entry(order.asset.clone()).or_insert(0.0) += signed;
        let mut ev = self.event(KernelEventKind::Fill, order);
        self.fill_seq += 1;
        ev.fill_id = self.ids.fills.make_next(self.fill_seq);
        ev.price = price;
        ev.size = qty;
        ev.filled_size = order.filled_size;
        ev.remaining_size = order.size - order.filled_size;
        ev.status = if done {
            VenueOrderStatus::Filled
        } else {
            VenueOrderStatus::PartiallyFilled
        };
        ev
    }

    fn fill_price(order: &VenueOrder) -> f64 {
        match order.order_type {
            OrderType::Market => order.reference_price,
            OrderType::Limit => order.price,
        }
    }

    pub fn submit(&mut self, order: &VenueOrder) -> Vec<VenueEvent> {
        let mut events = Vec::with_capacity(2);
        self.submit_into(order, &mut events);
        events
    }

    /// [`MockVenue::submit`], its events pushed onto `events`: a caller answering every order
    /// in one list keeps its allocation.
    pub fn submit_into(&mut self, order: &VenueOrder, events: &mut Vec<VenueEvent>) {
        self.submitted += 1;
        let c = &self.config;
        let (rl, rj, fr, pr) = (
            c.rate_limit_rate,
            c.reject_rate,
            c.fill_rate,
            c.partial_fill_rate,
        );
        if rl > 0.0 && self.rng.unit() < rl {
            let mut ev = self.event(KernelEventKind::RateLimited, order);
            ev.retry_after = self.config.retry_after;
            ev.reason = "mock rate limit".into();
            events.push(ev);
            return;
        }
        if rj > 0.0 && self.rng.unit() < rj {
            let mut ev = self.event(KernelEventKind::Reject, order);
            ev.reason = "mock reject".into();
            events.push(ev);
            return;
        }
        self.order_seq += 1;
        let mut o = order.clone();
        o.venue_order_id = self.ids.orders.make_next(self.order_seq);
        o.status = VenueOrderStatus::Acknowledged;
        events.push(self.event(KernelEventKind::OrderAck, &o));
        let fills = fr >= 1.0 || self.rng.unit() < fr;
        if fills {
            let partial = pr > 0.0 && self.rng.unit() < pr;
            let qty = if partial {
                o.size * self.config.partial_fill_ratio
            } else {
                o.size
            };
            let price = Self::fill_price(&o);
            let ev = self.fill_event(&mut o, qty, price);
            events.push(ev);
        }
        if o.filled_size < o.size {
            self.open.insert(o.client_order_id.clone(), o);
        } else {
            o.status = VenueOrderStatus::Filled;
            self.remember_finished(o);
        }
    }

    fn remember_finished(&mut self, order: VenueOrder) {
        self.finished.insert(order);
    }

    /// The venue's view of an order, open or recently ended; None if it never arrived.
    pub fn order_status(&self, client_order_id: &str) -> Option<&VenueOrder> {
        self.open
            .get(client_order_id)
            .or_else(|| self.finished.get(client_order_id))
    }

    pub fn cancel(&mut self, order: &VenueOrder) -> Vec<VenueEvent> {
        match self.open.remove(&order.client_order_id) {
            Some(mut o) => {
                let mut ev = self.event(KernelEventKind::CancelAck, &o);
                ev.filled_size = o.filled_size;
                ev.remaining_size = 0.0;
                o.status = VenueOrderStatus::Canceled;
                self.remember_finished(o);
                vec![ev]
            }
            None => {
                let mut ev = self.event(KernelEventKind::CancelReject, order);
                // An order that ended here is refused saying how it ended (as an exchange's
                // "already filled"): by the kind's own status alone, ACKNOWLEDGED with nothing
                // filled, the answer read as an order still working.
                let ended = self
                    .finished
                    .get(&order.client_order_id)
                    .filter(|o| o.asset == order.asset);
                ev.reason = match ended {
                    Some(o) => {
                        ev.status = o.status;
                        ev.filled_size = o.filled_size;
                        match o.status {
                            VenueOrderStatus::Filled => "order already filled",
                            _ => "order already canceled",
                        }
                    }
                    None => "order not open at the venue",
                }
                .into();
                vec![ev]
            }
        }
    }

    /// [`MockVenue::fill_open_order`] for a venue that keeps its promises (the Python
    /// `fill_open_order`): a limit order fills at its limit or better, a BUY at or below it,
    /// a SELL at or above it; a price worse than that is refused and the order stays open.
    pub fn fill_within_limit(
        &mut self,
        client_order_id: &str,
        price: Option<f64>,
    ) -> KernelResult<Vec<VenueEvent>> {
        // A price no order fills at (NaN, past the kernel's bound) is fill_open_order's to
        // refuse, with its own reason.
        let valid = price.filter(|&p| p > 0.0 && check_number("price", p, 0.0).is_ok());
        if let (Some(p), Some(o)) = (valid, self.open.get(client_order_id)) {
            let worse = match o.side {
                OrderSide::Buy => p > o.price,
                OrderSide::Sell => p < o.price,
            };
            if o.order_type == OrderType::Limit && worse {
                let side = o.side.name();
                return Err(KernelError::invalid(
                    "price",
                    format!("{} for a {side} LIMIT at {}", format_number(p), format_number(o.price)),
                    "worse than the order's limit: a BUY fills at its limit or lower, a SELL at its limit or higher",
                ));
            }
        }
        self.fill_open_order(client_order_id, price)
    }

    /// Fills what remains of a resting order at `price` (its own, the reference or limit
    /// price, when None), whatever its limit: the Rust harnesses play a venue filling past
    /// it; [`MockVenue::fill_within_limit`] refuses that.
    pub fn fill_open_order(
        &mut self,
        client_order_id: &str,
        price: Option<f64>,
    ) -> KernelResult<Vec<VenueEvent>> {
        let Some(mut o) = self.open.remove(client_order_id) else {
            return Err(KernelError::invalid(
                "client_order_id",
                client_order_id,
                "is not an open order at this venue",
            ));
        };
        let price = price.unwrap_or_else(|| Self::fill_price(&o));
        // Past the bound the kernel refuses a fill at (MAX_MAGNITUDE), the mock would fill an
        // order the kernel never books: refused here, the order stays open.
        let refused = if !price.is_finite() || price <= 0.0 {
            Some(KernelError::invalid(
                "price",
                format_number(price),
                "must be a finite positive number",
            ))
        } else {
            check_number("price", price, 0.0).err()
        };
        if let Some(e) = refused {
            self.open.insert(o.client_order_id.clone(), o);
            return Err(e);
        }
        let qty = o.size - o.filled_size;
        let ev = self.fill_event(&mut o, qty, price);
        o.status = VenueOrderStatus::Filled;
        self.remember_finished(o);
        Ok(vec![ev])
    }

    /// Drops an order from the venue's book silently (simulates a venue that lost it).
    pub fn forget_order(&mut self, client_order_id: &str) -> bool {
        self.open.remove(client_order_id).is_some()
    }

    pub fn open_orders(&self) -> impl Iterator<Item = &VenueOrder> {
        self.open.values()
    }

    pub fn positions(&self) -> impl Iterator<Item = (&Id, &f64)> {
        self.positions.iter()
    }
}
