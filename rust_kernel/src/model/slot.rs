//! A trade slot: one strategy trade's position, its working orders and exit legs, and the
//! event and fill ids it has seen.

use super::{prefetch, Intent, RecentRing, VenueOrder};
use crate::types::*;
use serde::{Deserialize, Serialize};

/// A slot's exit leg ratios: two inline (the size of a `Vec`), so the usual one or two legs
/// come with the slot's own cache lines; more are allocated. Encoded as a `Vec` is.
pub type Legs = smallvec::SmallVec<[f64; 2]>;

/// One of the kernel's slots: the trade it holds (position, working orders, exit legs, stage)
/// and the event and fill ids it has seen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeSlot {
    pub slot_id: usize,
    pub trade_id: Id,
    /// Changed in a live kernel only by an ENTER (`start_trade`, after the kernel forgot the
    /// slot's places in its maps by asset when the asset differs) and by `replace_slots`
    /// (which rebuilds those maps): the maps trust a remembered place without comparing the
    /// asset, so any other path that changes it must forget them too (`ByAsset::forget`).
    pub asset: Id,
    pub side: TradeSide,
    pub entry_price: f64,
    pub size: f64,
    pub initial_size: f64,
    pub leverage: f64,
    pub entry_time: f64,
    pub unrealized_pnl: f64,
    pub realized_pnl: f64,
    pub fees_paid: f64,
    pub closed: bool,
    pub exit_leg_ratios: Legs,
    pub active_leg_index: usize,
    pub active_entry_order: Option<VenueOrder>,
    pub active_exit_order: Option<VenueOrder>,
    pub fsm_state: TradeStage,
    pub close_reason: String,
    pub last_event_time: f64,
    pub metadata: Metadata,
    pub mark_price: f64,
    /// Notional this slot commits (position plus unfilled entry) at the entry reference price.
    pub committed_notional: f64,
    pub seen_events: RecentRing,
    pub seen_fills: RecentRing,
    /// The reason given by the EXIT intent working now; becomes close_reason on close.
    pub exit_reason: String,
    /// What exit fills took from the position since the active leg began: an exit that ended
    /// part-filled leaves that much of the leg done. Kept out of the slot's own encoding: a
    /// checkpoint keeps it in a part of its own (`kernel::LegsTaken`), a `reconcile_from_slots`
    /// record beside the slots (`KernelInput::ReplaceSlots`'s `legs`).
    #[serde(skip)]
    pub leg_taken: f64,
    /// A MARKET close of the whole position went out exempt from the order-rate rule, and no
    /// fill changed the position since: the next close is judged and counted by the rule. Kept
    /// out of the slot's own encoding: a checkpoint keeps it in a part of its own.
    #[serde(skip)]
    pub exempt_close_sent: bool,
}

impl TradeSlot {
    pub fn new(slot_id: usize) -> Self {
        TradeSlot {
            slot_id,
            trade_id: id(""),
            asset: id(""),
            side: TradeSide::Flat,
            entry_price: 0.0,
            size: 0.0,
            initial_size: 0.0,
            leverage: 1.0,
            entry_time: 0.0,
            unrealized_pnl: 0.0,
            realized_pnl: 0.0,
            fees_paid: 0.0,
            closed: false,
            exit_leg_ratios: smallvec::smallvec![1.0],
            active_leg_index: 0,
            active_entry_order: None,
            active_exit_order: None,
            fsm_state: TradeStage::Idle,
            close_reason: String::new(),
            last_event_time: 0.0,
            metadata: Metadata::new(),
            mark_price: 0.0,
            committed_notional: 0.0,
            seen_events: RecentRing::default(),
            seen_fills: RecentRing::default(),
            exit_reason: String::new(),
            leg_taken: 0.0,
            exempt_close_sent: false,
        }
    }

    /// Starts loading the slot's memory before the kernel reads it: its own cache lines and
    /// its memories' tags. A slot not touched for a while (with many slots, most are) then
    /// costs about one memory round trip instead of one per line as the code walks it.
    pub fn prefetch(&self) {
        prefetch(self);
        // Legs beyond two are on the heap: their line comes after the slot's.
        if let Some(first) = self
            .exit_leg_ratios
            .first()
            .filter(|_| self.exit_leg_ratios.spilled())
        {
            prefetch(first);
        }
        self.seen_events.prefetch();
        self.seen_fills.prefetch();
    }

    /// Makes this slot equal to `TradeSlot::new(self.slot_id)` while keeping its allocations
    /// (texts, legs, the fill memory): a new trade on a slot costs no allocation and no walk
    /// of the last trade's data.
    pub fn reset(&mut self) {
        let TradeSlot {
            slot_id: _,
            trade_id,
            asset,
            side,
            entry_price,
            size,
            initial_size,
            leverage,
            entry_time,
            unrealized_pnl,
            realized_pnl,
            fees_paid,
            closed,
            exit_leg_ratios,
            active_leg_index,
            active_entry_order,
            active_exit_order,
            fsm_state,
            close_reason,
            last_event_time,
            metadata,
            mark_price,
            committed_notional,
            seen_events,
            seen_fills,
            exit_reason,
            leg_taken,
            exempt_close_sent,
        } = self;
        *trade_id = id("");
        *asset = id("");
        *side = TradeSide::Flat;
        *entry_price = 0.0;
        *size = 0.0;
        *initial_size = 0.0;
        *leverage = 1.0;
        *entry_time = 0.0;
        *unrealized_pnl = 0.0;
        *realized_pnl = 0.0;
        *fees_paid = 0.0;
        *closed = false;
        exit_leg_ratios.clear();
        exit_leg_ratios.push(1.0);
        *active_leg_index = 0;
        *active_entry_order = None;
        *active_exit_order = None;
        *fsm_state = TradeStage::Idle;
        close_reason.clear();
        *last_event_time = 0.0;
        metadata.clear();
        *mark_price = 0.0;
        *committed_notional = 0.0;
        seen_events.clear();
        seen_fills.clear();
        exit_reason.clear();
        *leg_taken = 0.0;
        *exempt_close_sent = false;
    }

    /// This slot taking the trade `intent` (an accepted ENTER) opens, at stage `stage`: what
    /// [`TradeSlot::reset`] then setting the trade's own fields from the intent makes, each
    /// field written once. The event ids the slot remembers stay across trades, the new
    /// trade having written none of them (`RecentRing::new_trade`).
    pub fn start_trade(&mut self, intent: &Intent, stage: TradeStage) {
        let TradeSlot {
            slot_id: _,
            trade_id,
            asset,
            side,
            entry_price,
            size,
            initial_size,
            leverage,
            entry_time,
            unrealized_pnl,
            realized_pnl,
            fees_paid,
            closed,
            exit_leg_ratios,
            active_leg_index,
            active_entry_order,
            active_exit_order,
            fsm_state,
            close_reason,
            last_event_time,
            metadata,
            mark_price,
            committed_notional,
            seen_events,
            seen_fills,
            exit_reason,
            leg_taken,
            exempt_close_sent,
        } = self;
        trade_id.clone_from(&intent.trade_id);
        asset.clone_from(&intent.asset);
        *side = intent.side;
        *entry_price = 0.0;
        *size = 0.0;
        *initial_size = 0.0;
        *leverage = intent.leverage;
        *entry_time = intent.timestamp;
        *unrealized_pnl = 0.0;
        *realized_pnl = 0.0;
        *fees_paid = 0.0;
        *closed = false;
        // A new trade's legs are most often the last trade's (the usual [1.0]): left as they
        // are when the same to the bit, else written anew.
        if !same_bits(exit_leg_ratios, &intent.exit_leg_ratios) {
            exit_leg_ratios.clear();
            exit_leg_ratios.extend_from_slice(&intent.exit_leg_ratios);
        }
        *active_leg_index = 0;
        *active_entry_order = None;
        *active_exit_order = None;
        *fsm_state = stage;
        close_reason.clear();
        *last_event_time = 0.0;
        // Cleared, then copied only when the intent carries any (a map's `clone_from` builds
        // a new one, empty or not, and drops the old). An empty map is left as it is: its
        // `clear` drops it whole all the same (an iterator's walk of no entries).
        if !metadata.is_empty() {
            metadata.clear();
        }
        if !intent.metadata.is_empty() {
            metadata.clone_from(&intent.metadata);
        }
        *mark_price = 0.0;
        *committed_notional = 0.0;
        seen_events.new_trade();
        seen_fills.clear();
        exit_reason.clear();
        *leg_taken = 0.0;
        *exempt_close_sent = false;
    }

    pub fn active_order(&self) -> Option<&VenueOrder> {
        self.active_entry_order
            .as_ref()
            .or(self.active_exit_order.as_ref())
    }

    pub fn active_order_mut(&mut self) -> Option<&mut VenueOrder> {
        match self.active_entry_order {
            Some(ref mut o) => Some(o),
            None => self.active_exit_order.as_mut(),
        }
    }
}

/// Whether `a` and `b` hold the same numbers to the bit (as `==` does not say of 0 and -0, or
/// of NaN), in the same order.
#[inline(always)]
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SLOT_SEEN_EVENTS;

    /// `TradeSlot::start_trade` written plainly, as a reference: the slot reset, its event ids
    /// kept, then the trade's fields set from the intent.
    fn reset_then_given(slot: &TradeSlot, intent: &Intent, stage: TradeStage) -> TradeSlot {
        let mut s = slot.clone();
        let prev_seen = std::mem::take(&mut s.seen_events);
        s.reset();
        s.seen_events = prev_seen;
        s.seen_events.new_trade();
        s.fsm_state = stage;
        s.trade_id = intent.trade_id.clone();
        s.asset = intent.asset.clone();
        s.side = intent.side;
        s.leverage = intent.leverage;
        s.entry_time = intent.timestamp;
        s.exit_leg_ratios.clear();
        s.exit_leg_ratios.extend_from_slice(&intent.exit_leg_ratios);
        s.metadata.clone_from(&intent.metadata);
        s
    }

    #[test]
    fn a_slot_starting_a_trade_is_the_slot_reset_then_given_the_trade() {
        let order = |client: &str, is_entry: bool| VenueOrder {
            is_entry,
            ..VenueOrder::sample(
                Id::from(client),
                Id::from("v-1"),
                Id::from("last-trade-with-an-id-longer-than-inline"),
                Id::from("ETHUSDT"),
            )
        };
        // A slot a trade used: every field away from its reset value, events and fills
        // remembered (more events than the ring holds), legs on the heap.
        let mut used = TradeSlot::new(3);
        used.trade_id = Id::from("last-trade-with-an-id-longer-than-inline");
        used.asset = Id::from("ETHUSDT");
        used.side = TradeSide::Short;
        used.entry_price = 5.0;
        used.size = 2.0;
        used.initial_size = 3.0;
        used.leverage = 4.0;
        used.entry_time = 9.0;
        used.unrealized_pnl = 1.0;
        used.realized_pnl = 2.0;
        used.fees_paid = 0.5;
        used.closed = true;
        used.exit_leg_ratios = Legs::from_slice(&[0.5, 0.25, 0.25]);
        used.active_leg_index = 2;
        used.active_entry_order = Some(order("k-1", true));
        used.active_exit_order = Some(order("k-2", false));
        used.fsm_state = TradeStage::Closed;
        used.close_reason = "stop".into();
        used.last_event_time = 10.0;
        used.metadata.insert("old".into(), MetaValue::Int(1));
        used.mark_price = 3.0;
        used.committed_notional = 7.0;
        for fp in 1..=(SLOT_SEEN_EVENTS as u64 + 5) {
            used.seen_events.insert(fp);
        }
        used.seen_fills.insert(99);
        used.exit_reason = "target".into();
        used.leg_taken = 0.3;
        used.exempt_close_sent = true;
        let fresh = TradeSlot::new(3);
        let mut plain = Intent::new(
            "i-1",
            "t-2",
            3,
            "BTCUSDT",
            TradeSide::Long,
            KernelCommandType::Enter,
            100.0,
            1.0,
        );
        plain.leverage = 2.0;
        plain.timestamp = 11.0;
        let mut full = plain.clone();
        full.trade_id = Id::from("a-new-trade-id-longer-than-inline");
        full.exit_leg_ratios = vec![0.25, 0.25, 0.5];
        full.metadata
            .insert("source_run".into(), MetaValue::Str("r".into()));
        full.metadata
            .insert("override".into(), MetaValue::Bool(true));
        let mut no_legs = plain.clone();
        no_legs.exit_leg_ratios.clear();
        // Legs the slot holds already (on the heap, as the full intent's: left as they are),
        // and legs equal to the slot's by `==` but not to the bit (0 and -0: written anew).
        let mut full_legs = used.clone();
        full_legs.exit_leg_ratios = Legs::from_slice(&full.exit_leg_ratios);
        let mut zero_leg = plain.clone();
        zero_leg.exit_leg_ratios = vec![0.0];
        let mut minus_zero_leg = fresh.clone();
        minus_zero_leg.exit_leg_ratios = Legs::from_slice(&[-0.0]);
        for slot in [&used, &fresh, &full_legs, &minus_zero_leg] {
            for intent in [&plain, &full, &no_legs, &zero_leg] {
                for stage in [TradeStage::Idle, TradeStage::Closed] {
                    let expected = reset_then_given(slot, intent, stage);
                    let mut started = slot.clone();
                    started.start_trade(intent, stage);
                    assert_eq!(started, expected);
                    for (a, b) in [
                        (&started.seen_events, &expected.seen_events),
                        (&started.seen_fills, &expected.seen_fills),
                    ] {
                        assert_eq!(a.trade_wrote(), b.trade_wrote());
                        assert_eq!(a.len(), b.len());
                    }
                    assert_eq!(started.leg_taken, expected.leg_taken);
                    let bits = |s: &TradeSlot| -> Vec<u64> {
                        s.exit_leg_ratios.iter().map(|r| r.to_bits()).collect()
                    };
                    assert_eq!(bits(&started), bits(&expected));
                    assert_eq!(
                        bincode::serialize(&started).unwrap(),
                        bincode::serialize(&expected).unwrap()
                    );
                }
            }
        }
    }

    #[test]
    fn a_reset_slot_equals_a_new_one() {
        let mut s = TradeSlot::new(3);
        s.trade_id = id("t-1");
        s.asset = id("BTC");
        s.side = TradeSide::Short;
        s.entry_price = 10.0;
        s.size = 2.0;
        s.initial_size = 2.0;
        s.leverage = 3.0;
        s.entry_time = 5.0;
        s.unrealized_pnl = 1.0;
        s.realized_pnl = 1.5;
        s.fees_paid = 0.1;
        s.closed = true;
        s.exit_leg_ratios = smallvec::smallvec![0.5, 0.25, 0.25];
        s.active_leg_index = 1;
        s.fsm_state = TradeStage::Closed;
        s.close_reason = "exit_filled".into();
        s.last_event_time = 9.0;
        s.metadata.insert("k".into(), MetaValue::Int(1));
        s.mark_price = 11.0;
        s.committed_notional = 20.0;
        s.seen_events.insert(7);
        s.seen_fills.insert(8);
        s.exit_reason = "tp".into();
        s.exempt_close_sent = true;
        s.reset();
        assert_eq!(s, TradeSlot::new(3));
    }

    /// Legs are encoded as a `Vec` is: the layout checkpoints hold for them.
    #[test]
    fn legs_encode_as_a_vec() {
        for legs in [vec![1.0], vec![0.5, 0.5], vec![0.5, 0.25, 0.25]] {
            let inline = Legs::from_slice(&legs);
            let bytes = bincode::serialize(&legs).unwrap();
            assert_eq!(bincode::serialize(&inline).unwrap(), bytes);
            assert_eq!(bincode::deserialize::<Legs>(&bytes).unwrap(), inline);
        }
    }
}
