//! Whether two kernels hold the same state, as a checkpoint would hold it, and where they differ
//! first: what an audit of a recovered kernel against its replay reports.

use super::*;

/// Whether `a` and `b` are the same state: equal, or the same bytes (a NaN equals itself).
fn same<T: PartialEq + Serialize>(a: &T, b: &T) -> bool {
    a == b || bincode::serialize(a).ok() == bincode::serialize(b).ok()
}

/// `part`, and the field where the two printed values first differ.
fn named<T: std::fmt::Debug>(part: String, a: &T, b: &T) -> String {
    let (a, b) = (format!("{a:?}"), format!("{b:?}"));
    let mut at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(at) {
        at -= 1;
    }
    let field = a[..at].rfind(": ").map(|end| {
        let start = a[..end]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        &a[start..end]
    });
    match field {
        Some(f) if !f.is_empty() => format!("{part} ({f})"),
        _ => part,
    }
}

/// Every field of the kernel: a new one fails to compile here until
/// [`Kernel::state_difference`] compares it or it is said not to be part of a checkpoint's
/// state (the outbox, the projection's dirty keys, the journal flag).
#[allow(dead_code)]
fn compared_fields(kernel: &Kernel) {
    let Kernel {
        kernel_id: _,
        slots: _,
        free: _,
        open_by_asset: _,
        open_count: _,
        sides: _,
        by_client_id: _,
        by_venue_id: _,
        finished_orders: _,
        ended: _,
        covered: _,
        intents_seen: _,
        account_events_seen: _,
        money_events_seen: _,
        unsettled: _,
        early_settlements: _,
        funding_times: _,
        fees: _,
        account: _,
        control: _,
        risk: _,
        market_limits: _,
        marks: _,
        entry_marks: _,
        asset_notional: _,
        total_notional: _,
        rate: _,
        last_edges: _,
        seq: _,
        order_counter: _,
        order_ids: _,
        counters: _,
        outbox: _,
        dirty: _,
        journal_attached: _,
    } = kernel;
}

impl Kernel {
    /// Where `self` and `other` differ as the state a checkpoint holds (everything but the
    /// outbox, the projection's dirty keys and the journal flag, which are not in it): the
    /// first part that differs, with the field when it can say, or None when they are equal.
    /// Maps are compared as maps (their order in memory is random per map), floats bit for
    /// bit where `==` does not see them equal (a NaN equals itself).
    pub(crate) fn state_difference(&self, other: &Kernel) -> Option<String> {
        if self.kernel_id != other.kernel_id {
            return Some("kernel id".into());
        }
        if self.slots.len() != other.slots.len() {
            return Some("slot count".into());
        }
        if let Some((i, (a, b))) =
            (self.slots.iter().zip(&other.slots).enumerate()).find(|(_, (a, b))| !same(*a, *b))
        {
            return Some(named(format!("slot {i}"), a, b));
        }
        // Structs: the field is named too.
        macro_rules! structs {
            ($($field:ident: $part:expr),* $(,)?) => {$(
                if !same(&self.$field, &other.$field) {
                    return Some(named($part.to_string(), &self.$field, &other.$field));
                }
            )*};
        }
        // Numbers, and maps and memories, whose printed order is random or whose entries are
        // many: the part is named.
        macro_rules! parts {
            ($($field:ident: $part:expr),* $(,)?) => {$(
                if !same(&self.$field, &other.$field) {
                    return Some($part.to_string());
                }
            )*};
        }
        parts!(seq: "seq");
        structs!(
            account: "account",
            counters: "counters",
            fees: "fee model",
            control: "control",
            risk: "risk limits",
            rate: "rate window",
        );
        parts!(
            order_counter: "order counter",
            total_notional: "total committed notional",
            asset_notional: "committed notional by asset",
            market_limits: "market limits",
            open_count: "open slot count",
            free: "free slots",
            open_by_asset: "open slots by asset",
            by_client_id: "orders by client id",
            by_venue_id: "orders by venue id",
            unsettled: "unsettled fills",
            finished_orders: "finished orders memory",
            intents_seen: "intent id memory",
            account_events_seen: "account event id memory",
        );
        // The parts after the core, as they are written (sorted, so the bytes compare).
        PARTS
            .iter()
            .find(|p| p.bytes(self) != p.bytes(other))
            .map(|p| p.holds.to_string())
    }
}
