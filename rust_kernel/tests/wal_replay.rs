//! Replaying a kernel's write-ahead log gives the state the kernel had live: random mixed
//! workloads (entries, partial fills, exits, cancels, marks, account events, control and
//! config changes) are applied live and recorded, then the log is reopened, from the start
//! or from checkpoints, and the recovered kernel is compared field by field.

use std::path::Path;

use dita_kernel::kernel::{Kernel, KernelInput, BEHAVIOUR_VERSION};
use dita_kernel::mock::{MockConfig, MockVenue};
use dita_kernel::wal::kernel_log::{
    journal_rows_read_only, replay_checkpoints, replay_read_only, KernelLog, KernelLogOptions,
    ReplayRows,
};
use dita_kernel::wal::{verify, FsyncPolicy};
use dita_kernel::*;
use proptest::prelude::*;
use rstest::rstest;

mod common;
use common::set_segment_header;

/// Drives a kernel the way the bindings do: apply live, then record what changed state.
struct Live {
    k: Kernel,
    log: KernelLog,
    venue: MockVenue,
    /// Every order the kernel sent, for fills the venue sends late (after the order ended).
    sent: Vec<VenueOrder>,
    /// The fill ids (or event ids) of the fills the kernel booked, for their settlements.
    fill_keys: Vec<Id>,
}

impl Live {
    fn input(&mut self, input: KernelInput) -> Option<KernelOutcome> {
        let before = self.k.seq();
        let out = self.k.apply(&input).ok();
        if self.k.seq() != before {
            self.log.record(&self.k, &input).unwrap();
        }
        let out = out?;
        if let KernelInput::VenueEvent(e) = &input {
            if e.kind == KernelEventKind::Fill && out.accepted {
                self.fill_keys.push(e.fill_key().clone());
            }
        }
        if let Some(order) = &out.submit {
            self.sent.push(order.clone());
            let events = self.venue.submit(order);
            self.events(events);
        }
        for order in out.cancels.clone() {
            let events = self.venue.cancel(&order);
            self.events(events);
        }
        Some(out)
    }

    fn events(&mut self, events: Vec<VenueEvent>) {
        for e in events {
            self.input(KernelInput::VenueEvent(e));
        }
    }
}

fn options(checkpoint_every: u64) -> KernelLogOptions {
    KernelLogOptions {
        fsync: FsyncPolicy::None,
        checkpoint_every,
        segment_bytes: 4096,
    }
}

fn open(dir: &Path, checkpoint_every: u64) -> (KernelLog, Kernel) {
    KernelLog::open(
        dir,
        Kernel::new("replay", 4).unwrap(),
        &options(checkpoint_every),
    )
    .unwrap()
}

/// Everything a caller can observe of a kernel (compared with `==`: idempotency sets are
/// hash sets whose printed order differs between two equal kernels).
type Observable = (
    Vec<TradeSlot>,
    dita_kernel::account::Account,
    dita_kernel::kernel::Control,
    dita_kernel::kernel::Counters,
    dita_kernel::fees::FeeModel,
    u64,
    Vec<VenueOrder>,
    (Option<usize>, usize, f64),
);

fn observable(k: &Kernel) -> Observable {
    (
        k.slots().to_vec(),
        k.account.clone(),
        k.control.clone(),
        k.counters.clone(),
        k.fees.clone(),
        k.seq(),
        k.open_orders().into_iter().cloned().collect(),
        (
            k.free_slot(),
            k.open_positions(),
            k.total_committed_notional(),
        ),
    )
}

#[derive(Clone, Debug)]
enum Op {
    Enter {
        slot: i64,
        short: bool,
        size: f64,
        price: f64,
        limit: bool,
    },
    Exit {
        slot: i64,
        size: f64,
        price: f64,
    },
    Cancel {
        slot: i64,
    },
    FillResting {
        pick: usize,
        price: f64,
    },
    /// A fill for any order sent so far, working or ended (a venue's late fill).
    FillAny {
        pick: usize,
        size: f64,
        price: f64,
    },
    Mark {
        price: f64,
    },
    Funding {
        amount: f64,
    },
    Balance {
        wallet: f64,
    },
    /// A settlement of a fill booked so far (waiting for it or not): at `fee`, or, `stands`,
    /// at the fill's predicted fee.
    Settle {
        pick: usize,
        fee: f64,
        stands: bool,
    },
    /// A settlement, as [`Op::Settle`], of the late fill `ahead` steps on, should one come
    /// then ([`Op::FillAny`]): held for its fill till then.
    SettleAhead {
        ahead: u64,
        fee: f64,
        stands: bool,
    },
    Control {
        halt: bool,
    },
    Calibrate {
        fee: f64,
    },
    Config {
        taker: f64,
    },
    Checkpoint,
    Bad,
}

fn op() -> impl Strategy<Value = Op> {
    let price = 50.0f64..150.0;
    prop_oneof![
        6 => (0i64..4, any::<bool>(), 0.1f64..3.0, price.clone(), any::<bool>())
            .prop_map(|(slot, short, size, price, limit)| Op::Enter { slot, short, size, price, limit }),
        4 => (0i64..4, 0.1f64..3.0, price.clone()).prop_map(|(slot, size, price)| Op::Exit { slot, size, price }),
        2 => (0i64..4).prop_map(|slot| Op::Cancel { slot }),
        3 => (0usize..8, price.clone()).prop_map(|(pick, price)| Op::FillResting { pick, price }),
        2 => (0usize..64, 0.05f64..2.0, price.clone()).prop_map(|(pick, size, price)| Op::FillAny { pick, size, price }),
        2 => price.clone().prop_map(|price| Op::Mark { price }),
        1 => (-5.0f64..5.0).prop_map(|amount| Op::Funding { amount }),
        1 => (900.0f64..1100.0).prop_map(|wallet| Op::Balance { wallet }),
        2 => (0usize..64, 0.0f64..0.2, any::<bool>()).prop_map(|(pick, fee, stands)| Op::Settle { pick, fee, stands }),
        1 => (1u64..4, 0.0f64..0.2, any::<bool>()).prop_map(|(ahead, fee, stands)| Op::SettleAhead { ahead, fee, stands }),
        1 => any::<bool>().prop_map(|halt| Op::Control { halt }),
        1 => (0.01f64..0.2).prop_map(|fee| Op::Calibrate { fee }),
        1 => (0.0001f64..0.001).prop_map(|taker| Op::Config { taker }),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Bad),
    ]
}

/// Settlement `s<n>` of BTC fill `fill_id` stamped `ts`: at `fee`, or, `stands`, at the fill's
/// predicted fee.
fn settlement(n: u64, fill_id: &Id, fee: f64, stands: bool, ts: f64) -> KernelInput {
    let mut e = AccountEvent::new(&format!("s{n}"), AccountEventKind::FillSettled);
    e.fill_id = fill_id.clone();
    e.asset = id("BTC");
    e.fee = if stands { 0.0 } else { fee };
    e.predicted_fee_stands = stands;
    e.timestamp = ts;
    KernelInput::AccountEvent(e)
}

fn run(live: &mut Live, n: u64, op: Op) {
    let ts = 1_700_000_000.0 + n as f64;
    match op {
        Op::Enter {
            slot,
            short,
            size,
            price,
            limit,
        } => {
            let side = if short {
                TradeSide::Short
            } else {
                TradeSide::Long
            };
            let mut i = Intent::new(
                &format!("e{n}"),
                &format!("t{n}"),
                slot,
                "BTC",
                side,
                KernelCommandType::Enter,
                price,
                size,
            );
            if limit {
                i.order_type = OrderType::Limit;
                i.limit_price = price;
            }
            i.timestamp = ts;
            live.input(KernelInput::Intent(i));
        }
        Op::Exit { slot, size, price } => {
            let mut i = Intent::new(
                &format!("x{n}"),
                "",
                slot,
                "BTC",
                TradeSide::Long,
                KernelCommandType::Exit,
                price,
                size,
            );
            i.timestamp = ts;
            live.input(KernelInput::Intent(i));
        }
        Op::Cancel { slot } => {
            let mut i = Intent::new(
                &format!("c{n}"),
                "",
                slot,
                "BTC",
                TradeSide::Long,
                KernelCommandType::Cancel,
                100.0,
                0.0,
            );
            i.timestamp = ts;
            live.input(KernelInput::Intent(i));
        }
        Op::FillResting { pick, price } => {
            let ids: Vec<String> = live
                .venue
                .open_orders()
                .map(|o| o.client_order_id.to_string())
                .collect();
            if !ids.is_empty() {
                let events = live
                    .venue
                    .fill_open_order(&ids[pick % ids.len()], Some(price))
                    .unwrap();
                live.events(events);
            }
        }
        Op::FillAny { pick, size, price } => {
            if !live.sent.is_empty() {
                let order = &live.sent[live.sent.len() - 1 - pick % live.sent.len()];
                let mut fill = VenueEvent::new(
                    &format!("late{n}"),
                    KernelEventKind::Fill,
                    &order.client_order_id,
                );
                fill.price = price;
                fill.size = size.min(order.size);
                fill.timestamp = ts;
                live.input(KernelInput::VenueEvent(fill));
            }
        }
        Op::Mark { price } => {
            live.input(KernelInput::MarkPrice {
                asset: id("BTC"),
                price,
                ts,
            });
        }
        Op::Funding { amount } => {
            let mut e = AccountEvent::new(&format!("f{n}"), AccountEventKind::FundingFee);
            e.amount = amount;
            e.timestamp = ts;
            live.input(KernelInput::AccountEvent(e));
        }
        Op::Balance { wallet } => {
            let mut e = AccountEvent::new(&format!("b{n}"), AccountEventKind::AccountUpdate);
            e.wallet_balance = Some(wallet);
            e.timestamp = ts;
            live.input(KernelInput::AccountEvent(e));
        }
        Op::Settle { pick, fee, stands } => {
            if !live.fill_keys.is_empty() {
                let fill_id =
                    live.fill_keys[live.fill_keys.len() - 1 - pick % live.fill_keys.len()].clone();
                live.input(settlement(n, &fill_id, fee, stands, ts));
            }
        }
        Op::SettleAhead { ahead, fee, stands } => {
            let fill_id = id(&format!("late{}", n + ahead));
            live.input(settlement(n, &fill_id, fee, stands, ts));
        }
        Op::Control { halt } => {
            let mode = if halt {
                ControlMode::Halted
            } else {
                ControlMode::Paper
            };
            live.input(KernelInput::Control {
                mode: Some(mode),
                verbosity: None,
                debug: None,
                source: "test".into(),
                ts,
            });
        }
        Op::Calibrate { fee } => {
            live.input(KernelInput::CalibrateFee {
                price: 100.0,
                qty: 1.0,
                actual_fee: fee,
                maker: false,
            });
        }
        Op::Config { taker } => {
            live.input(KernelInput::ExchangeConfig(vec![(
                "taker_rate".into(),
                taker,
            )]));
        }
        Op::Checkpoint => live.log.checkpoint(&live.k).unwrap(),
        Op::Bad => {
            // Refused inputs change nothing and are not recorded.
            let seq = live.k.seq();
            assert!(live.input(KernelInput::SeedCapital(f64::NAN)).is_none());
            assert!(live
                .input(KernelInput::MarkPrice {
                    asset: id("BTC"),
                    price: -1.0,
                    ts
                })
                .is_none());
            assert_eq!(live.k.seq(), seq);
        }
    }
}

fn workload(dir: &Path, ops: Vec<Op>, checkpoint_every: u64, cfg: MockConfig) -> Observable {
    observable(&run_live(dir, ops, checkpoint_every, cfg, false).k)
}

/// A new kernel and log in `dir` after seed capital and `ops`; with `journal`, its outbox
/// holds the journal rows of every input (none dropped).
fn run_live(
    dir: &Path,
    ops: Vec<Op>,
    checkpoint_every: u64,
    cfg: MockConfig,
    journal: bool,
) -> Live {
    let (log, mut k) = open(dir, checkpoint_every);
    if journal {
        k.set_journal_enabled(true);
        k.outbox.capacity = usize::MAX;
    }
    let mut live = Live {
        k,
        log,
        venue: MockVenue::new(cfg).unwrap(),
        sent: Vec::new(),
        fill_keys: Vec::new(),
    };
    live.input(KernelInput::SeedCapital(1_000.0));
    for (n, op) in ops.into_iter().enumerate() {
        run(&mut live, n as u64 + 1, op);
    }
    assert_eq!(
        live.log.wal().last_seq(),
        live.k.seq(),
        "log and kernel sequences agree"
    );
    live
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn replay_equals_live(
        ops in proptest::collection::vec(op(), 1..150),
        checkpoint_every in prop_oneof![Just(0u64), 1u64..40],
        fill_rate in 0.0f64..=1.0,
        partial in 0.0f64..0.6,
        reject in 0.0f64..0.2,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = MockConfig { seed: 11, fill_rate, partial_fill_rate: partial, reject_rate: reject, ..Default::default() };
        let live = workload(dir.path(), ops, checkpoint_every, cfg);
        let (log, recovered) = open(dir.path(), checkpoint_every);
        prop_assert!(observable(&recovered) == live, "recovered state differs from the live one");
        prop_assert_eq!(log.recovery().last_seq, recovered.seq());
        drop(log);
        let (read_only, _) = replay_read_only(dir.path(), |kid| Kernel::new(kid, 4).map_err(|e| e.to_string())).unwrap();
        prop_assert!(observable(&read_only) == live, "read-only replay differs from the live state");
        prop_assert_eq!(verify(dir.path()).unwrap().last_seq, recovered.seq());
        // Every checkpoint the live kernel wrote equals the replay of the records before it.
        let checked = replay_checkpoints(dir.path());
        prop_assert!(checked.is_ok(), "{:?}", checked);
        let checked = checked.unwrap();
        let files = std::fs::read_dir(dir.path()).unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".ckpt"))
            .count();
        prop_assert_eq!((checked.from_seq, checked.matched.len() + 1), (Some(0), files));
        prop_assert_eq!(checked.replayed_records, recovered.seq());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// A kernel restarted on its log goes on as it would have without the restart: each
    /// `true` reopens the log after its op and carries on with the recovered kernel (and the
    /// same venue). Its state equals a run without restarts, and every checkpoint written
    /// after a restart equals the replay of the whole log up to it (the audit), so a later
    /// recovery that replays across the restart gets what the restarted kernel held.
    #[test]
    fn a_kernel_restarted_on_its_log_goes_on_as_without_the_restart(
        steps in proptest::collection::vec((op(), proptest::bool::weighted(0.15)), 1..120),
        checkpoint_every in prop_oneof![Just(0u64), 1u64..40],
        fill_rate in 0.0f64..=1.0,
        partial in 0.0f64..0.6,
    ) {
        let cfg = MockConfig { seed: 5, fill_rate, partial_fill_rate: partial, ..Default::default() };
        let ops: Vec<Op> = steps.iter().map(|(op, _)| op.clone()).collect();
        let straight = tempfile::tempdir().unwrap();
        let without = workload(straight.path(), ops, checkpoint_every, cfg.clone());

        let dir = tempfile::tempdir().unwrap();
        let mut live = run_live(dir.path(), Vec::new(), checkpoint_every, cfg, false);
        for (n, (op, restart)) in steps.into_iter().enumerate() {
            run(&mut live, n as u64 + 1, op);
            if restart {
                let Live { log, venue, sent, fill_keys, .. } = live;
                drop(log);
                let (log, k) = open(dir.path(), checkpoint_every);
                live = Live { k, log, venue, sent, fill_keys };
            }
        }
        prop_assert!(observable(&live.k) == without, "a restart changed what the kernel went on to do");
        live.log.checkpoint(&live.k).unwrap();
        drop(live);
        let checked = replay_checkpoints(dir.path());
        prop_assert!(checked.is_ok(), "{:?}", checked);
    }
}

#[rstest]
#[case::no_checkpoints(0)]
#[case::every_record(1)]
#[case::every_25(25)]
fn replay_starts_at_the_newest_checkpoint(#[case] every: u64) {
    let dir = tempfile::tempdir().unwrap();
    let ops: Vec<Op> = (0..60)
        .map(|i| match i % 4 {
            0 => Op::Enter {
                slot: (i / 4) % 4,
                short: i % 8 == 0,
                size: 1.0,
                price: 100.0,
                limit: false,
            },
            1 => Op::Mark {
                price: 101.0 + i as f64,
            },
            2 => Op::Exit {
                slot: (i / 4) % 4,
                size: 1.0,
                price: 102.0,
            },
            _ => Op::Funding { amount: 0.5 },
        })
        .collect();
    let live = workload(dir.path(), ops, every, MockConfig::default());
    let (log, recovered) = open(dir.path(), every);
    assert!(
        observable(&recovered) == live,
        "recovered state differs from the live one"
    );
    let report = log.recovery();
    if every == 0 {
        // Only the creation checkpoint (seq 0): the whole log is replayed.
        assert_eq!(
            (report.checkpoint_seq, report.replayed_records),
            (Some(0), recovered.seq())
        );
    } else {
        assert!(
            report.replayed_records < every,
            "replayed {} records",
            report.replayed_records
        );
    }
}

#[test]
fn a_new_log_records_the_kernel_shape_and_a_reopen_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, k) =
        KernelLog::open(dir.path(), Kernel::new("shape", 7).unwrap(), &options(0)).unwrap();
    assert!(log.is_new());
    assert_eq!(k.max_slots(), 7);
    drop(log);
    // Reopened with another fresh kernel: the log's checkpoint wins.
    let (log, k) =
        KernelLog::open(dir.path(), Kernel::new("shape", 3).unwrap(), &options(0)).unwrap();
    assert!(!log.is_new());
    // ...but it holds no input yet: a constructor's seed capital still applies.
    assert!(log.held_no_input());
    assert_eq!(k.max_slots(), 7);
}

#[test]
fn borrowed_inputs_encode_exactly_like_kernel_inputs() {
    use dita_kernel::wal::kernel_log::{decode_input, encode_input, InputRef};
    let mut intent = Intent::new(
        "i",
        "t",
        1,
        "BTC",
        TradeSide::Short,
        KernelCommandType::Enter,
        99.5,
        2.0,
    );
    intent
        .metadata
        .insert("k".into(), MetaValue::Str("v".into()));
    let mut event = VenueEvent::new("e", KernelEventKind::Fill, &id("c-1"));
    event.fill_id = id("f-1");
    event.fee = Some(0.25);
    let mut account = AccountEvent::new("a", AccountEventKind::AccountUpdate);
    account.wallet_balance = Some(1234.5);
    let mut stands = AccountEvent::new("s", AccountEventKind::FillSettled);
    (stands.fill_id, stands.predicted_fee_stands) = (id("f-1"), true);
    let encode_ref = |input: InputRef<'_>| bincode::serialize(&input).unwrap();
    let mut buf = Vec::new();
    for (by_ref, owned) in [
        (
            encode_ref(InputRef::Intent(&intent)),
            KernelInput::Intent(intent.clone()),
        ),
        (
            encode_ref(InputRef::VenueEvent(&event)),
            KernelInput::VenueEvent(event.clone()),
        ),
        (
            encode_ref(InputRef::AccountEvent(&account)),
            KernelInput::AccountEvent(account.clone()),
        ),
        (
            encode_ref(InputRef::AccountEvent(&stands)),
            KernelInput::AccountEvent(stands.clone()),
        ),
    ] {
        encode_input(&owned, &mut buf);
        assert_eq!(by_ref, buf);
        assert_eq!(decode_input(&by_ref).unwrap(), owned);
    }
}

/// Journal rows as comparable values: (table, seq, sub, the row's values printed).
fn rows_of(tables: [Vec<dita_kernel::journal::RowBuf>; 6]) -> Vec<(usize, u64, u32, String)> {
    let mut out = Vec::new();
    for (t, segments) in tables.iter().enumerate() {
        for rows in segments {
            for i in 0..rows.len() {
                let mut values = Vec::new();
                rows.visit(t, i, &mut |v| values.push(format!("{v:?}")));
                let (seq, sub) = rows.key(i);
                out.push((t, seq, sub, values.join("|")));
            }
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The rows derived again from the log for any span of records are the rows the kernel
    /// made live for those records: from the start of the log, from a checkpoint, and from
    /// before the oldest checkpoint still kept, in chunks of any size.
    #[test]
    fn journal_rows_from_the_log_are_the_rows_made_live(
        ops in proptest::collection::vec(op(), 1..120),
        checkpoint_every in prop_oneof![Just(0u64), 1u64..30],
        span in (0.0f64..1.0, 0.0f64..1.0),
        chunk_rows in 1usize..50,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = MockConfig { seed: 3, partial_fill_rate: 0.3, ..Default::default() };
        let mut live = run_live(dir.path(), ops, checkpoint_every, cfg, true);
        let last = live.k.seq();
        let made_live = rows_of(live.k.outbox.take_rows(usize::MAX));
        drop(live);
        let a = 1 + (span.0 * last as f64) as u64;
        let b = 1 + (span.1 * last as f64) as u64;
        let (from, to) = (a.min(b).min(last), a.max(b).min(last));
        let mut chunks = Vec::new();
        let report = journal_rows_read_only(
            dir.path(),
            from,
            to,
            |kid| Kernel::new(kid, 4).map_err(|e| e.to_string()),
            chunk_rows,
            ReplayRows::AsJournaled,
            |tables| {
                chunks.extend(rows_of(tables));
                Ok(())
            },
        )
        .unwrap();
        prop_assert!(report.last_seq >= to);
        chunks.sort();
        let expected: Vec<_> = made_live.into_iter().filter(|r| (from..=to).contains(&r.1)).collect();
        prop_assert_eq!(chunks, expected);
    }
}

/// Closes `log` and recovers the log in `dir` from its checkpoints and records: the kernel.
fn reopened(dir: &Path, log: KernelLog) -> Kernel {
    drop(log);
    open(dir, 0).1
}

/// `(file name, format version, behaviour version)` of each segment, oldest first.
fn segment_headers(dir: &Path) -> Vec<(String, u16, u16)> {
    let mut found: Vec<(String, u16, u16)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
            (name, at(8), at(10))
        })
        .collect();
    found.sort();
    found
}

/// Applies `input` live and records it, as the bindings do; its outcome.
fn record(log: &mut KernelLog, k: &mut Kernel, input: KernelInput) -> KernelOutcome {
    let out = k.apply(&input).unwrap();
    log.record(k, &input).unwrap();
    out
}

/// An ENTER of 1 BTCUSDT long on slot 0 (trade t1, intent e1) at time 1.
fn enter_t1() -> Intent {
    let mut enter = Intent::new(
        "e1",
        "t1",
        0,
        "BTCUSDT",
        TradeSide::Long,
        KernelCommandType::Enter,
        100.0,
        1.0,
    );
    enter.timestamp = 1.0;
    enter
}

/// [`enter_t1`] applied and recorded; its order.
fn enter_recorded(log: &mut KernelLog, k: &mut Kernel) -> VenueOrder {
    record(log, k, KernelInput::Intent(enter_t1()))
        .submit
        .unwrap()
}

/// A CANCEL of [`enter_t1`]'s trade applied and recorded (taken).
fn cancel_recorded(log: &mut KernelLog, k: &mut Kernel) {
    let mut cancel = Intent::new(
        "c1",
        "t1",
        0,
        "BTCUSDT",
        TradeSide::Long,
        KernelCommandType::Cancel,
        100.0,
        0.0,
    );
    cancel.timestamp = 2.0;
    assert!(record(log, k, KernelInput::Intent(cancel)).accepted);
}

/// A RATE_LIMITED answer for order `coid` applied and recorded.
fn throttled_recorded(log: &mut KernelLog, k: &mut Kernel, coid: &Id) {
    let mut throttled = VenueEvent::new("r1", KernelEventKind::RateLimited, coid);
    throttled.retry_after = 1.0;
    record(log, k, KernelInput::VenueEvent(throttled));
}

/// A FILL of `size` at 100 for client order id `client_id` ("": the event names none), with
/// the venue's running total after it `total` (0: none given).
fn fill_at_100(event_id: &str, client_id: &str, size: f64, total: f64) -> VenueEvent {
    let mut f = VenueEvent::new(event_id, KernelEventKind::Fill, &id(client_id));
    (f.price, f.size, f.filled_size) = (100.0, size, total);
    f
}

#[test]
fn a_fill_refused_for_its_asset_is_refused_again_on_replay() {
    // A fill whose asset contradicts its order is refused; the refusal is logged all the same
    // (it advanced seq), and replay refuses it again.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let order = enter_recorded(&mut log, &mut k);
    let mut fill = fill_at_100("f1", &order.client_order_id, 1.0, 0.0);
    fill.asset = id("ETHUSDT");
    let refused = record(&mut log, &mut k, KernelInput::VenueEvent(fill));
    assert_eq!(refused.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
    assert_eq!(now.slots()[0].size, 0.0);
    // Every segment says the behaviour version its records were judged by.
    let headers = segment_headers(dir.path());
    assert!(
        headers.iter().all(|(_, _, b)| *b == BEHAVIOUR_VERSION),
        "{headers:?}"
    );
}

/// A mark price, the smallest input that changes the kernel.
fn mark(price: f64, ts: f64) -> KernelInput {
    KernelInput::MarkPrice {
        asset: "BTCUSDT".into(),
        price,
        ts,
    }
}

/// The log options of a build one behaviour version newer than this one.
fn newer_build() -> dita_kernel::wal::WalOptions {
    dita_kernel::wal::WalOptions::new("replay")
        .with_behaviour(BEHAVIOUR_VERSION + 1)
        .with_fsync(FsyncPolicy::None)
        .with_segment_bytes(4096)
}

/// Opening `dir` is refused as a log of that newer build, naming its version and `what` (a
/// record or checkpoint, with its seq); the error's text.
fn refused_as_newer(dir: &Path, what: &str) -> String {
    let err = KernelLog::open(dir, Kernel::new("replay", 4).unwrap(), &options(0))
        .err()
        .expect("refused");
    let text = err.to_string();
    let named = format!("behaviour version {}", BEHAVIOUR_VERSION + 1);
    assert!(text.contains(what) && text.contains(&named), "{text}");
    text
}

#[test]
fn a_record_of_a_newer_behaviour_version_is_refused() {
    // Rolled back past the build that wrote it, a log must not replay its records under
    // another behaviour (to a state the log never had): it is refused, naming the versions.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    record(&mut log, &mut k, mark(101.0, 2.0));
    drop(log);
    set_segment_header(
        dir.path(),
        dita_kernel::wal::FORMAT_VERSION,
        BEHAVIOUR_VERSION + 1,
    );
    refused_as_newer(dir.path(), "record 1");
}

#[test]
fn a_checkpoint_of_a_newer_behaviour_version_is_refused_with_no_record_after_it() {
    // Rolled back past the build that wrote it, a log whose newer records all lie behind its
    // newest checkpoint (one taken at shutdown, say) replays none of them: the check on
    // records never runs, and this build would take input on a state it does not know. It is
    // refused like a record of a newer version, naming the versions, and nothing on disk
    // changes.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let first = mark(101.0, 2.0);
    record(&mut log, &mut k, first);
    drop(log);
    let (mut wal, _) = dita_kernel::wal::Wal::open(dir.path(), newer_build(), |_| Ok(())).unwrap();
    let second = mark(102.0, 3.0);
    k.apply(&second).unwrap();
    let mut payload = Vec::new();
    dita_kernel::wal::kernel_log::encode_input(&second, &mut payload);
    assert_eq!(wal.append(3.0, &payload).unwrap(), 2);
    wal.checkpoint(2, &dita_kernel::wal::kernel_log::encode_kernel(&k))
        .unwrap();
    drop(wal);
    let before = segment_headers(dir.path());
    refused_as_newer(dir.path(), "checkpoint 2");
    assert_eq!(
        segment_headers(dir.path()),
        before,
        "no segment of this build's started"
    );
}

#[test]
fn a_checkpoint_of_this_build_opens_after_a_newer_build_only_reopened_its_empty_segment() {
    // A checkpoint written right after a rotation points at the start of the segment it
    // began, which holds no record yet. A newer build that opens the log and takes no input
    // (a deploy rolled back at once) replaces that empty segment's header with its own
    // behaviour version (same name): every record and every checkpoint is still this build's,
    // yet the checkpoint's position now lies in a segment that says a newer version. Rolled
    // back, this build must open its own log, not refuse it as a newer build's checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let empty_tail = |dir: &Path| {
        let newest = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wal"))
            .max()
            .unwrap();
        let bytes = std::fs::read(&newest).unwrap();
        let id_len = u16::from_le_bytes([bytes[12], bytes[13]]) as usize;
        bytes.len() == 14 + id_len + 8 + 32 + 4 // the header alone
    };
    let mut i = 0;
    loop {
        i += 1;
        record(&mut log, &mut k, mark(100.0 + (i % 7) as f64, i as f64));
        log.checkpoint(&k).unwrap();
        if empty_tail(dir.path()) && i > 1 {
            break; // the checkpoint points at the segment the rotation began
        }
        assert!(i < 10_000, "never rotated");
    }
    let live = observable(&k);
    drop(log);
    // A newer build opens the log and closes it, with no input.
    let (wal, _) = dita_kernel::wal::Wal::open(dir.path(), newer_build(), |_| Ok(())).unwrap();
    drop(wal);
    assert_eq!(
        segment_headers(dir.path()).last().unwrap().2,
        BEHAVIOUR_VERSION + 1,
        "the newer build's header replaced the empty segment's"
    );
    let (read, _) = replay_read_only(dir.path(), |id| {
        Kernel::new(id, 4).map_err(|e| e.to_string())
    })
    .unwrap_or_else(|e| panic!("`dita wal replay` refused this build's own log: {e}"));
    assert_eq!(observable(&read), live);
    let (log, then) = KernelLog::open(dir.path(), Kernel::new("replay", 4).unwrap(), &options(0))
        .unwrap_or_else(|e| panic!("this build's own log was refused: {e}"));
    assert_eq!(log.recovery().checkpoint_seq, Some(i));
    assert_eq!(observable(&then), live);
}

#[test]
fn a_checkpoint_a_newer_build_wrote_at_its_segments_start_is_refused() {
    // The segment's header does not vouch for a checkpoint at its start (see above), so a
    // checkpoint names its writer's behaviour version itself: one a newer build wrote as soon
    // as it opened the log, before any input of its own, is refused as that build's.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    record(&mut log, &mut k, mark(101.0, 2.0));
    drop(log);
    let (mut wal, _) = dita_kernel::wal::Wal::open(dir.path(), newer_build(), |_| Ok(())).unwrap();
    wal.checkpoint(1, &dita_kernel::wal::kernel_log::encode_kernel(&k))
        .unwrap();
    drop(wal);
    refused_as_newer(dir.path(), "checkpoint 1");
}

#[test]
fn the_audit_replay_refuses_a_later_checkpoint_of_a_newer_behaviour_version() {
    // `dita wal verify` compares each later checkpoint with the replay up to it; one a newer
    // build wrote is no state this build reads, so it is refused as recovery refuses it,
    // naming the versions.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    record(&mut log, &mut k, mark(101.0, 2.0));
    log.checkpoint(&k).unwrap();
    record(&mut log, &mut k, mark(102.0, 3.0));
    drop(log);
    let (mut wal, _) = dita_kernel::wal::Wal::open(dir.path(), newer_build(), |_| Ok(())).unwrap();
    wal.checkpoint(2, &dita_kernel::wal::kernel_log::encode_kernel(&k))
        .unwrap();
    drop(wal);
    let err = replay_checkpoints(dir.path()).expect_err("a newer build's checkpoint passed");
    let named = format!("behaviour version {}", BEHAVIOUR_VERSION + 1);
    let text = err.to_string();
    assert!(
        text.contains("checkpoint 2") && text.contains(&named),
        "{text}"
    );
    refused_as_newer(dir.path(), "checkpoint 2");
}

#[test]
fn a_segment_of_an_older_format_is_not_appended_to_even_of_the_same_behaviour_version() {
    // A segment in format 1 (the oldest read) holding records of this behaviour version is
    // read, but this build's records go to a new segment, in its own format.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    record(&mut log, &mut k, mark(101.0, 2.0));
    drop(log);
    set_segment_header(dir.path(), 1, BEHAVIOUR_VERSION);
    let (mut log, mut k) = open(dir.path(), 0);
    record(&mut log, &mut k, mark(102.0, 2.0));
    drop(log);
    let headers = segment_headers(dir.path());
    assert_eq!(headers.first().unwrap().1, 1, "{headers:?}");
    assert_eq!(
        headers.last().unwrap().1,
        dita_kernel::wal::FORMAT_VERSION,
        "{headers:?}"
    );
    let (_, again) = open(dir.path(), 0);
    assert_eq!(again.slots()[0].mark_price, 0.0); // no position: marks touch no slot
    assert_eq!(again.seq(), k.seq());
}

#[test]
fn a_fill_after_its_orders_cancel_replays_as_it_ran() {
    // A fill the venue sends after acknowledging the cancel of its order is applied (the
    // order is kept for its late fills), live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    let ended = record(
        &mut log,
        &mut k,
        KernelInput::VenueEvent(VenueEvent::new("c1", KernelEventKind::CancelAck, &coid)),
    );
    assert_eq!(ended.state, TradeStage::Idle);
    let fill = fill_at_100("f1", &coid, 1.0, 0.0);
    let late = record(&mut log, &mut k, KernelInput::VenueEvent(fill));
    assert!(late.accepted, "{late:?}");
    assert_eq!(
        (late.state, k.slots()[0].size),
        (TradeStage::PositionOpen, 1.0)
    );
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
}

#[test]
fn an_ack_after_a_part_fill_replays_as_it_ran() {
    // An ack the venue sends after part of its order filled teaches the order's venue id,
    // and the rest, reported by that id alone, books, live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    let part = fill_at_100("f1", &coid, 0.4, 0.4);
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(part)).accepted);
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &coid);
    ack.venue_order_id = "V1".into();
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(ack)).accepted);
    let mut rest = fill_at_100("f2", "", 0.6, 1.0);
    rest.venue_order_id = "V1".into();
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(rest)).accepted);
    assert_eq!(k.slots()[0].size, 1.0);
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
    assert_eq!(now.slots()[0].fsm_state, TradeStage::PositionOpen);
}

#[test]
fn a_blank_event_id_refused_live_is_refused_again_on_replay() {
    // The kernel refuses an intent, venue event or account event whose id is only whitespace
    // or starts with a NUL; the refusal is logged all the same (it advanced seq). Replay must
    // refuse it again, or a fill the live kernel never booked is booked on recovery.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let order = enter_recorded(&mut log, &mut k);
    for event_id in [" ", "\0f"] {
        let mut fill = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
        (fill.price, fill.size, fill.filled_size) = (100.0, 1.0, 1.0);
        let out = record(&mut log, &mut k, KernelInput::VenueEvent(fill));
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
        let mut funding = AccountEvent::new(event_id, AccountEventKind::FundingFee);
        (funding.asset, funding.amount) = ("BTCUSDT".into(), -5.0);
        let out = record(&mut log, &mut k, KernelInput::AccountEvent(funding));
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    }
    // An intent refused so is logged as well: replayed taken, it would open a slot.
    let mut blank = enter_t1();
    (blank.intent_id, blank.trade_id, blank.slot_id) = ("e2".into(), " ".into(), 1);
    let out = record(&mut log, &mut k, KernelInput::Intent(blank));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    assert_eq!(k.slots()[0].size, 0.0);
    assert_eq!(k.slots()[1].fsm_state, TradeStage::Idle);
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(
        observable(&now),
        live,
        "replayed as the live kernel judged it"
    );
}

#[test]
fn a_number_beyond_the_bounds_refused_live_is_refused_again_on_replay() {
    // The 1e15 bound and finite times are checked for every input; a refused input is logged
    // all the same. Replay checks them too, or a fill at 1e16 that the live kernel refused is
    // booked on recovery.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let order = enter_recorded(&mut log, &mut k);
    let mut fill = VenueEvent::new("f-huge", KernelEventKind::Fill, &order.client_order_id);
    (fill.price, fill.size, fill.filled_size) = (1e16, 1.0, 1.0);
    let out = record(&mut log, &mut k, KernelInput::VenueEvent(fill));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    let mut late = VenueEvent::new("f-nan", KernelEventKind::Fill, &order.client_order_id);
    (late.price, late.size, late.filled_size) = (100.0, 1.0, 1.0);
    late.timestamp = f64::NAN;
    let out = record(&mut log, &mut k, KernelInput::VenueEvent(late));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    let mut funding = AccountEvent::new("fund-huge", AccountEventKind::FundingFee);
    (funding.asset, funding.amount) = ("BTCUSDT".into(), -2e15);
    let out = record(&mut log, &mut k, KernelInput::AccountEvent(funding));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    assert_eq!(k.slots()[0].size, 0.0);
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(
        observable(&now),
        live,
        "replayed as the live kernel judged it"
    );
}

#[test]
fn a_partly_new_reports_fee_replays_as_it_ran() {
    // A fill report overlapping one booked before books only its new part, and is charged
    // the fee of the part it books, live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    let fill = |event_id: &str, size: f64, fee: f64| {
        let mut f = fill_at_100(event_id, &coid, size, size);
        f.fee = Some(fee);
        KernelInput::VenueEvent(f)
    };
    assert!(record(&mut log, &mut k, fill("f1", 0.4, 0.04)).accepted);
    assert!(record(&mut log, &mut k, fill("f2", 1.0, 0.1)).accepted);
    assert_eq!(k.slots()[0].size, 1.0);
    let part = 0.04 + 0.1 * 0.6;
    assert!(
        (k.slots()[0].fees_paid - part).abs() < 1e-12,
        "the second report charged the part it books"
    );
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
}

#[test]
fn an_override_refused_or_taken_for_none_replays_as_it_ran() {
    // Text in `metadata["override"]` reading as a negative is refused, and only whitespace is
    // no override, so the regime refuses an entry against it, live and on replay.
    for (text, code) in [
        ("false", KernelDiagnosticCode::InvalidIntent),
        (" ", KernelDiagnosticCode::RiskRejected),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut k) = open(dir.path(), 0);
        let bull = k
            .risk_updates(&[(
                "regime".into(),
                dita_kernel::risk::ConfigValue::Text("BULL".into()),
            )])
            .unwrap();
        record(&mut log, &mut k, KernelInput::RiskLimits(bull));
        let mut short = enter_t1();
        short.side = TradeSide::Short;
        short
            .metadata
            .insert("override".into(), MetaValue::Str(text.into()));
        let out = record(&mut log, &mut k, KernelInput::Intent(short));
        assert_eq!(out.diagnostic_code, code, "{text:?}");
        let live = observable(&k);
        let now = reopened(dir.path(), log);
        assert_eq!(observable(&now), live, "{text:?}");
        assert_eq!(now.slots()[0].fsm_state, TradeStage::Idle, "{text:?}");
    }
}

#[test]
fn a_filled_positions_commitment_replays_as_it_ran() {
    // An entry's fills count towards the notional caps at their entry price (110), not the
    // entry's reference (100), live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    let mut f = VenueEvent::new("f1", KernelEventKind::Fill, &coid);
    (f.price, f.size, f.filled_size) = (110.0, 1.0, 1.0);
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(f)).accepted);
    assert_eq!(k.total_committed_notional(), 110.0);
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
}

#[test]
fn order_ids_after_loaded_slots_replay_as_they_ran() {
    // Loading a slot whose working order is `replay-5` numbers the next order `replay-6`, so
    // no id is issued twice, live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let mut donor = Kernel::new("replay", 4).unwrap();
    let enter = enter_t1();
    donor.process_intent(&enter);
    let mut slots = donor.slots().to_vec();
    slots[0]
        .active_entry_order
        .as_mut()
        .unwrap()
        .client_order_id = "replay-5".into();
    record(&mut log, &mut k, KernelInput::replace_slots(slots));
    let mut next = enter.clone();
    (next.intent_id, next.trade_id, next.slot_id) = ("e2".into(), "t2".into(), 1);
    let sent = record(&mut log, &mut k, KernelInput::Intent(next))
        .submit
        .unwrap();
    assert_eq!(sent.client_order_id, "replay-6");
    let now = reopened(dir.path(), log);
    let on_slot_1 = now.slots()[1]
        .active_entry_order
        .as_ref()
        .map(|o| o.client_order_id.to_string());
    assert_eq!(on_slot_1.as_deref(), Some("replay-6"));
}

/// `action` of `size` (for an EXIT, 0 takes the next leg) on slot 0, trade t1 of BTCUSDT
/// long with one exit leg, applied and recorded, and its order filled in full; its size.
fn filled_recorded(
    log: &mut KernelLog,
    k: &mut Kernel,
    n: u64,
    action: KernelCommandType,
    size: f64,
) -> f64 {
    let mut intent = Intent::new(
        &format!("i{n}"),
        "t1",
        0,
        "BTCUSDT",
        TradeSide::Long,
        action,
        100.0,
        size,
    );
    intent.timestamp = n as f64;
    let out = record(log, k, KernelInput::Intent(intent));
    let order = out.submit.expect("an order");
    let fill = fill_at_100(&format!("f{n}"), &order.client_order_id, order.size, 0.0);
    assert!(record(log, k, KernelInput::VenueEvent(fill)).accepted);
    order.size
}

#[test]
fn an_exit_leg_index_at_the_number_of_legs_replays_as_it_ran() {
    // Exits of an explicit size can complete more exits than the trade has legs; the index
    // stops at the number of legs, so the slot the kernel shows loads again, and legs set
    // later read it: after 3 exits of a one-leg trade, with 4 legs the next exit is leg 2 (a
    // quarter), live and on replay.
    use KernelCommandType::{Enter, Exit};
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    filled_recorded(&mut log, &mut k, 1, Enter, 3.0);
    for n in 2..5 {
        filled_recorded(&mut log, &mut k, n, Exit, 0.5);
    }
    assert_eq!(k.slots()[0].active_leg_index, 1, "at most the one leg");
    k.clone()
        .replace_slots(k.slots().to_vec())
        .expect("the kernel's own slots load");
    record(
        &mut log,
        &mut k,
        KernelInput::SlotExitLegs {
            slot_id: 0,
            ratios: vec![0.25; 4],
        },
    );
    let leg = filled_recorded(&mut log, &mut k, 5, Exit, 0.0);
    assert_eq!(leg, 0.75, "leg 2 of 4: a quarter of the initial 3");
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
    assert_eq!(now.slots()[0].active_leg_index, 2);
}

#[test]
fn an_exit_filled_in_pieces_replays_as_it_ran() {
    // The pieces of an exit of a position of 123456789 add up to it only within float error;
    // the exit closes the slot all the same, live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let mut enter = enter_t1();
    enter.target_size = 123_456_789.0;
    let order = record(&mut log, &mut k, KernelInput::Intent(enter))
        .submit
        .unwrap();
    let fill = |order: &VenueOrder, n: u32, size: f64, filled: f64| {
        let mut f = fill_at_100(&format!("f{n}"), &order.client_order_id, size, filled);
        f.fill_id = id(&format!("F{n}"));
        KernelInput::VenueEvent(f)
    };
    let size = order.size;
    assert!(record(&mut log, &mut k, fill(&order, 1, size, size)).accepted);
    let mut exit = Intent::new(
        "x1",
        "t1",
        0,
        "BTCUSDT",
        TradeSide::Long,
        KernelCommandType::Exit,
        100.0,
        0.0,
    );
    exit.timestamp = 2.0;
    let order = record(&mut log, &mut k, KernelInput::Intent(exit))
        .submit
        .unwrap();
    let (mut filled, mut n) = (0.0, 2);
    while order.size - filled > 1e-9 * order.size {
        let qty = (12_345_678.9_f64).min(order.size - filled);
        filled += qty;
        assert!(record(&mut log, &mut k, fill(&order, n, qty, filled)).accepted);
        n += 1;
    }
    assert_eq!(k.slots()[0].fsm_state, TradeStage::Closed);
    assert_eq!(k.slots()[0].size, 0.0);
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
}

#[test]
fn a_throttled_order_asked_to_cancel_replays_as_it_ran() {
    // A rate limit before the ack of an order asked to cancel keeps the order for its fills
    // (the throttled request may have been the cancel), so its fill is booked, live and on
    // replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    cancel_recorded(&mut log, &mut k);
    throttled_recorded(&mut log, &mut k, &coid);
    let fill = fill_at_100("f1", &coid, 1.0, 1.0);
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(fill)).accepted);
    assert_eq!(k.slots()[0].size, 1.0, "the fill is booked");
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
}

#[test]
fn a_fill_resent_without_its_fill_id_replays_as_it_ran() {
    // A fill booked with its fill id, then one without a running total (the order is no
    // longer followed by its reports' intervals), then the first resent without its id: it
    // is known by its running total, live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    let fill = |event_id: &str, fill_id: &str, size: f64, filled: f64| {
        let mut f = fill_at_100(event_id, &coid, size, filled);
        f.fill_id = id(fill_id);
        KernelInput::VenueEvent(f)
    };
    assert!(record(&mut log, &mut k, fill("f1", "a", 0.2, 0.2)).accepted);
    assert!(record(&mut log, &mut k, fill("f2", "b", 0.3, 0.0)).accepted);
    let again = record(&mut log, &mut k, fill("f1-resent", "", 0.2, 0.2));
    assert_eq!(again.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert!((k.slots()[0].size - 0.5).abs() < 1e-12, "booked once");
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
}

/// Removes every file in `dir` but the log's segments: its checkpoints and its lock.
fn keep_only_the_records(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e != "wal") {
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[test]
fn an_order_ended_owing_a_stated_fill_replays_as_it_ran() {
    // A fill of 0.2 stating a running total of 0.5, then the order canceled without a
    // figure: the slot waits for the 0.3 on its way, live, from a checkpoint and from the
    // records alone.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    let fill = fill_at_100("f1", &coid, 0.2, 0.5);
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(fill)).accepted);
    cancel_recorded(&mut log, &mut k);
    let ack = VenueEvent::new("c1-ack", KernelEventKind::CancelAck, &coid);
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(ack)).accepted);
    assert!((k.awaited_fill_qty(0) - 0.3).abs() < 1e-12);
    log.checkpoint(&k).unwrap();
    let live = observable(&k);
    let through_checkpoint = reopened(dir.path(), log);
    assert_eq!(observable(&through_checkpoint), live);
    assert!((through_checkpoint.awaited_fill_qty(0) - 0.3).abs() < 1e-12);
    keep_only_the_records(dir.path());
    let now = open(dir.path(), 0).1;
    assert_eq!(observable(&now), live);
    assert!((now.awaited_fill_qty(0) - 0.3).abs() < 1e-12);
}

#[test]
fn a_late_ack_of_a_kept_order_replays_as_it_ran() {
    // A cancel throttled before the ack keeps the order for its fills; the venue's ack then
    // names its venue id, and its fill names the order by that id alone: the id is learned
    // from the ack and the fill booked, live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    cancel_recorded(&mut log, &mut k);
    throttled_recorded(&mut log, &mut k, &coid);
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &coid);
    ack.venue_order_id = id("V9");
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(ack)).accepted);
    let mut fill = fill_at_100("f1", "", 1.0, 1.0);
    fill.venue_order_id = id("V9");
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(fill)).accepted);
    assert_eq!(k.slots()[0].size, 1.0);
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
}

#[test]
fn an_order_in_doubt_replays_as_it_ran() {
    // An entry rate limited before its ack, with a cancel asked, may still work at the venue:
    // its slot takes no new trade until its status is known, live, from a checkpoint and
    // from the records alone.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    cancel_recorded(&mut log, &mut k);
    throttled_recorded(&mut log, &mut k, &coid);
    let mut again = enter_t1();
    (again.intent_id, again.trade_id, again.timestamp) = (id("e2"), id("t2"), 3.0);
    let refused = record(&mut log, &mut k, KernelInput::Intent(again));
    assert_eq!(refused.diagnostic_code, KernelDiagnosticCode::SlotBusy);
    assert_eq!(k.orders_in_doubt().len(), 1);
    log.checkpoint(&k).unwrap();
    let live = observable(&k);
    let through_checkpoint = reopened(dir.path(), log);
    assert_eq!(observable(&through_checkpoint), live);
    assert_eq!(
        through_checkpoint.orders_in_doubt()[0].client_order_id,
        coid
    );
    assert_ne!(through_checkpoint.free_slot(), Some(0));
    keep_only_the_records(dir.path());
    let now = open(dir.path(), 0).1;
    assert_eq!(observable(&now), live);
    assert_eq!(now.orders_in_doubt()[0].client_order_id, coid);
}

#[test]
fn an_order_acknowledged_after_its_submit_was_throttled_replays_as_it_ran() {
    // An entry answered RATE_LIMITED with no cancel asked ends, kept; the venue's ack of it
    // after all puts it in doubt, and its slot takes no new trade, live, from a checkpoint and
    // from the records alone.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    throttled_recorded(&mut log, &mut k, &coid);
    assert!(k.orders_in_doubt().is_empty());
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &coid);
    ack.venue_order_id = id("V7");
    let taken = record(&mut log, &mut k, KernelInput::VenueEvent(ack));
    assert_eq!(taken.severity, KernelSeverity::Critical);
    let mut part = fill_at_100("f1", "", 0.4, 0.4);
    (part.venue_order_id, part.remaining_size) = (id("V7"), 0.6);
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(part)).accepted);
    assert_eq!(k.orders_in_doubt().len(), 1);
    log.checkpoint(&k).unwrap();
    let live = observable(&k);
    let through_checkpoint = reopened(dir.path(), log);
    assert_eq!(observable(&through_checkpoint), live);
    let doubted = through_checkpoint.orders_in_doubt();
    assert_eq!(
        (&doubted[0].client_order_id, doubted[0].filled_size),
        (&coid, 0.4)
    );
    assert_ne!(through_checkpoint.free_slot(), Some(0));
    keep_only_the_records(dir.path());
    let now = open(dir.path(), 0).1;
    assert_eq!(observable(&now), live);
    assert_eq!(now.orders_in_doubt()[0].client_order_id, coid);
}

#[test]
fn a_fill_resent_with_an_id_after_its_id_less_report_replays_as_it_ran() {
    // A fill booked without a running total stops following the order by its reports'
    // intervals; a fill then reported without an id (0.3, total 0.5) and resent with one is
    // known by its total, live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    let mut first = fill_at_100("f1", &coid, 0.2, 0.0);
    first.fill_id = id("F1");
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(first)).accepted);
    let id_less = fill_at_100("f2", &coid, 0.3, 0.5);
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(id_less)).accepted);
    let mut resent = fill_at_100("f2-resent", &coid, 0.3, 0.5);
    resent.fill_id = id("F2");
    let out = record(&mut log, &mut k, KernelInput::VenueEvent(resent));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert!((k.slots()[0].size - 0.5).abs() < 1e-12);
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
}

#[test]
fn a_status_of_an_order_that_filled_replays_as_it_ran() {
    // An order filled completely, then the venue's status report stating its total (no fill
    // of its own) naming its slot: it books nothing (DUPLICATE_EVENT, INFO), and the
    // position stands, live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    let fill = fill_at_100("f1", &coid, 1.0, 1.0);
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(fill)).accepted);
    let mut status = fill_at_100("s1", &coid, 0.0, 1.0);
    status.slot_id = 0;
    let out = record(&mut log, &mut k, KernelInput::VenueEvent(status));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(out.severity, KernelSeverity::Info);
    // Another total than the order's size is no status of it: still loud.
    let mut more = fill_at_100("s2", &coid, 0.0, 1.5);
    more.slot_id = 0;
    let loud = record(&mut log, &mut k, KernelInput::VenueEvent(more));
    assert_eq!(loud.severity, KernelSeverity::Critical);
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
    assert_eq!(now.slots()[0].size, 1.0);
}

#[test]
fn the_venues_end_of_an_order_in_doubt_replays_as_it_ran() {
    // An entry in doubt (rate limited before its ack, a cancel asked), then the venue's own
    // REJECT of it: the doubt is over and the slot free, live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    cancel_recorded(&mut log, &mut k);
    throttled_recorded(&mut log, &mut k, &coid);
    assert_eq!(k.orders_in_doubt().len(), 1);
    let reject = VenueEvent::new("j1", KernelEventKind::Reject, &coid);
    assert!(record(&mut log, &mut k, KernelInput::VenueEvent(reject)).accepted);
    assert!(k.orders_in_doubt().is_empty());
    assert_eq!(k.free_slot(), Some(0));
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
}

#[test]
fn a_rate_limit_stating_a_fill_replays_as_it_ran() {
    // A rate limit stating 0.4 filled on an entry asked to cancel: the venue holds the order,
    // so it keeps working and its later fills book, live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    cancel_recorded(&mut log, &mut k);
    let mut throttled = VenueEvent::new("r1", KernelEventKind::RateLimited, &coid);
    (throttled.retry_after, throttled.filled_size) = (1.0, 0.4);
    let out = record(&mut log, &mut k, KernelInput::VenueEvent(throttled));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::RateLimited);
    assert!(k.slots()[0].active_entry_order.is_some(), "it works on");
    for (event_id, size, total) in [("f1", 0.4, 0.4), ("f2", 0.3, 0.7)] {
        let fill = fill_at_100(event_id, &coid, size, total);
        assert!(record(&mut log, &mut k, KernelInput::VenueEvent(fill)).accepted);
    }
    assert!((k.slots()[0].size - 0.7).abs() < 1e-12);
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
}

#[test]
fn an_entry_in_doubt_under_the_caps_and_its_cancel_replay_as_they_ran() {
    // An entry in doubt (rate limited before its ack, a cancel asked) under a total cap of
    // 150 counts towards it, so an entry of 100 beside it is refused, and a CANCEL asks the
    // venue again, live and on replay.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let cap = k
        .risk_updates(&[(
            "max_notional_total".into(),
            dita_kernel::risk::ConfigValue::Num(150.0),
        )])
        .unwrap();
    record(&mut log, &mut k, KernelInput::RiskLimits(cap));
    let coid = enter_recorded(&mut log, &mut k).client_order_id;
    cancel_recorded(&mut log, &mut k);
    throttled_recorded(&mut log, &mut k, &coid);
    let mut beside = enter_t1();
    (beside.intent_id, beside.trade_id, beside.slot_id) = (id("e2"), id("t2"), 1);
    let out = record(&mut log, &mut k, KernelInput::Intent(beside));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::RiskRejected);
    let mut again = enter_t1();
    (again.intent_id, again.action, again.target_size) = (id("c2"), KernelCommandType::Cancel, 0.0);
    let out = record(&mut log, &mut k, KernelInput::Intent(again));
    assert!(out.accepted && out.cancels.len() == 1, "{out:?}");
    let live = observable(&k);
    let now = reopened(dir.path(), log);
    assert_eq!(observable(&now), live);
    assert!((now.total_committed_notional() - 100.0).abs() < 1e-9);
}
