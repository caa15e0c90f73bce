//! What the kernel's integration tests share.

use dita_kernel::wal::kernel_log::{KernelLog, KernelLogOptions};
use dita_kernel::wal::FsyncPolicy;
use dita_kernel::*;

/// An outcome's details name each field once: a reader taking them as a mapping (Python's
/// dict, a JSON object) would otherwise see only one of two values; and their numbers are finite.
#[allow(dead_code)]
pub fn well_formed_details(out: KernelOutcome) -> KernelOutcome {
    let mut names: Vec<&str> = out.details.iter().map(|(f, _)| *f).collect();
    names.sort_unstable();
    assert!(
        names.windows(2).all(|w| w[0] != w[1]),
        "a detail named twice: {:?}",
        out.details
    );
    // A number in details is finite: the journal writes them as strict JSON, which has none.
    assert!(
        out.details
            .iter()
            .all(|(_, d)| !matches!(d, Detail::F64(x) if !x.is_finite())),
        "a detail not finite: {:?}",
        out.details
    );
    out
}

/// Equal within a relative 1e-9 (absolute near 0).
#[allow(dead_code)] // not every test uses every helper
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

/// The outcome's detail named `name`, if it has one.
#[allow(dead_code)]
pub fn detail(out: &KernelOutcome, name: &str) -> Option<Detail> {
    out.details
        .iter()
        .find(|(n, _)| *n == name)
        .map(|d| d.1.clone())
}

/// A LONG intent on BTC at a reference price of 100.
#[allow(dead_code)]
pub fn long_btc(
    intent_id: &str,
    trade: &str,
    slot: i64,
    action: KernelCommandType,
    size: f64,
) -> Intent {
    Intent::new(
        intent_id,
        trade,
        slot,
        "BTC",
        TradeSide::Long,
        action,
        100.0,
        size,
    )
}

/// Fills `size` of `order` at 100, the report stating the running total `total` (0: none),
/// asserting the kernel took the fill.
#[allow(dead_code)]
pub fn fill_at_100(k: &mut Kernel, order: &VenueOrder, size: f64, total: f64, event_id: &str) {
    let mut f = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
    f.price = 100.0;
    f.size = size;
    f.filled_size = total;
    let out = k.on_venue_event(&f);
    assert!(out.accepted, "{out:?}");
}

/// Opens slot `slot` at `size` on BTC, `side`, filled whole at 100 (entry `e<slot>`, trade
/// `t<slot>`).
#[allow(dead_code)]
pub fn open_btc(k: &mut Kernel, slot: i64, side: TradeSide, size: f64) {
    let mut e = long_btc(
        &format!("e{slot}"),
        &format!("t{slot}"),
        slot,
        KernelCommandType::Enter,
        size,
    );
    e.side = side;
    let out = k.process_intent(&e);
    let order = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    fill_at_100(k, &order, order.size, order.size, &format!("f-e{slot}"));
}

/// The venue's ack of `order` under venue id `v-<client id>`, stating `size` (0: none).
#[allow(dead_code)]
pub fn ack(order: &VenueOrder, size: f64) -> VenueEvent {
    let mut e = VenueEvent::new(
        &format!("ack-{}", order.client_order_id),
        KernelEventKind::OrderAck,
        &order.client_order_id,
    );
    e.venue_order_id = id(&format!("v-{}", order.client_order_id));
    e.size = size;
    e.timestamp = 1_000.0;
    e
}

/// The order an EXIT of slot `slot`'s whole position (intent `x<slot>-<n>`) sends.
#[allow(dead_code)]
pub fn exit_whole(k: &mut Kernel, slot: i64, n: u32) -> VenueOrder {
    let x = long_btc(
        &format!("x{slot}-{n}"),
        "",
        slot,
        KernelCommandType::Exit,
        0.0,
    );
    let out = k.process_intent(&x);
    assert!(out.accepted, "{out:?}");
    out.submit.expect("exit sent")
}

/// Sets the format version and the behaviour version in the header of every segment of the
/// write-ahead log in `dir`, keeping the header's checksum right: the log as a build writing
/// them would have left it.
#[allow(dead_code)]
pub fn set_segment_header(dir: &std::path::Path, version: u16, behaviour: u16) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wal") {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[8..10].copy_from_slice(&version.to_le_bytes());
            bytes[10..12].copy_from_slice(&behaviour.to_le_bytes());
            let id_len = u16::from_le_bytes([bytes[12], bytes[13]]) as usize;
            let end = 14 + id_len + 8 + 32; // kernel id, first seq, previous hash
            let crc = crc32fast::hash(&bytes[..end]);
            bytes[end..end + 4].copy_from_slice(&crc.to_le_bytes());
            std::fs::write(&path, bytes).unwrap();
        }
    }
}

/// `state`, a checkpoint's, with one of its parts replaced: `part` is that part's bytes as
/// the kernel wrote them (found by them: they must occur once), `with` what takes their place.
/// How a test makes a checkpoint whose part says something the decoder must refuse.
#[allow(dead_code)]
pub fn with_part_replaced(state: &[u8], part: &[u8], with: &[u8]) -> Vec<u8> {
    let found: Vec<usize> = state
        .windows(part.len())
        .enumerate()
        .filter(|(_, w)| *w == part)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the part's {} bytes occur {} times in the checkpoint",
        part.len(),
        found.len()
    );
    let at = found[0];
    let mut out = state[..at].to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(&state[at + part.len()..]);
    out
}

/// The write-ahead log in `dir` and the kernel of one slot named `kernel_id` it holds (a new
/// one, or recovered from the log): unsynced, in segments of 1 MiB, a checkpoint every
/// `checkpoint_every` records (0: none).
#[allow(dead_code)]
pub fn open_log(
    dir: &std::path::Path,
    kernel_id: &str,
    checkpoint_every: u64,
) -> (KernelLog, Kernel) {
    let options = KernelLogOptions {
        fsync: FsyncPolicy::None,
        checkpoint_every,
        segment_bytes: 1 << 20,
    };
    KernelLog::open(dir, Kernel::new(kernel_id, 1).unwrap(), &options).unwrap()
}

/// The exchange's settlement `event_id` of fill `fill_id` of `asset`: `fee`, stamped `ts`.
#[allow(dead_code)]
pub fn settle(event_id: &str, fill_id: &str, asset: &str, fee: f64, ts: f64) -> AccountEvent {
    let mut e = AccountEvent::new(event_id, AccountEventKind::FillSettled);
    e.fill_id = id(fill_id);
    e.asset = id(asset);
    e.fee = fee;
    e.timestamp = ts;
    e
}

/// Fill `event_id` of `size` of `order` at 100, stating the running total `total` (0: none),
/// `status` and `remaining`.
#[allow(dead_code)] // not every test uses every helper
pub fn fill(
    order: &VenueOrder,
    event_id: &str,
    size: f64,
    total: f64,
    status: VenueOrderStatus,
    remaining: f64,
) -> VenueEvent {
    let mut e = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
    (e.price, e.size, e.filled_size, e.timestamp) = (100.0, size, total, 1_001.0);
    e.fill_id = id(&format!("T-{event_id}"));
    (e.status, e.remaining_size) = (status, remaining);
    e
}

/// A fill of `size` saying the order is over at `total` filled: FILLED, nothing remaining.
#[allow(dead_code)] // not every test uses every helper
pub fn filled_short(order: &VenueOrder, event_id: &str, size: f64, total: f64) -> VenueEvent {
    fill(order, event_id, size, total, VenueOrderStatus::Filled, 0.0)
}
