use super::*;

fn enter(n: u32, slot: i64) -> Intent {
    let mut e = Intent::new(
        &format!("i{n}"),
        &format!("t{n}"),
        slot,
        "BTC",
        TradeSide::Long,
        KernelCommandType::Enter,
        100.0,
        1.0,
    );
    e.order_type = OrderType::Limit;
    e.limit_price = 100.0;
    e
}

#[test]
fn open_by_asset_gives_its_assets_prints_as_asset_print_makes_them() {
    let mut open = OpenByAsset::default();
    let (btc, eth) = (id("BTCUSDT"), id("ETHUSDT"));
    let print = |a: &Id| Some(asset_print(a));
    // A set made, found by its slot's place, found by the index for another slot, and
    // an asset without one.
    assert_eq!(open.update(0, &btc, true), (true, print(&btc)));
    assert_eq!(open.update(0, &btc, false), (true, print(&btc)));
    assert_eq!(open.update(1, &btc, true), (true, print(&btc)));
    assert_eq!(open.update(2, &eth, false), (false, None));
    assert_eq!(open.update(2, &eth, true), (true, print(&eth)));
    // A slot whose asset changed (its place forgotten, as an ENTER does) is not told its
    // old asset's print.
    open.forget(0);
    assert_eq!(open.remembered(0), None);
    assert_eq!(open.update(0, &eth, true), (true, print(&eth)));
    assert_eq!(open.remembered(0), Some(&eth));
    let empty = id("");
    assert_eq!(open.update(3, &empty, true), (true, Some(None)));
    open.clear();
    assert_eq!(open.update(0, &eth, false), (false, None));
    assert_eq!(open.update(0, &btc, true), (true, print(&btc)));
}

#[test]
fn units_truncate_sizes_alike_on_both_sides_of_the_fast_cast() {
    assert_eq!(units(0.1), 100_000_000_000_000);
    assert_eq!(units(-0.1), -100_000_000_000_000);
    assert_eq!(units(f64::NAN), 0);
    // The largest size (1e15) is 1e30 units, as the float says it: far within i128.
    assert_eq!(units(1e15), 1e30 as i128);
    // Across 9,000 (the i64 cast's end) the sums stay monotonic and exact.
    let below = units(8_999.999_999);
    let at = units(9_000.0);
    let above = units(9_000.000_001);
    assert!(below < at && at < above, "{below} {at} {above}");
    assert_eq!(at, 9_000 * 10i128.pow(15));
    assert_eq!(units(-9_000.0), -at);
}

#[test]
fn request_and_submit_writes_what_the_two_transitions_write() {
    // request_and_submit (send_order's two transitions written together) against
    // request_then_submit (the two `transition` calls): the same answer and the same
    // kernel (slot, free set, dirty marks), for every stage, request, position and a
    // time before and after the slot's last; ids inline and shared. Where a move is not
    // in the table it changes nothing. The submit's details are the order's in `submit`.
    let long = "a-trade-id-longer-than-twenty-three-bytes";
    let mut together = 0;
    for stage in TradeStage::ALL {
        for request in [Trigger::Enter, Trigger::Exit] {
            for holds_position in [false, true] {
                for (ts, trade, intent_id, dirty) in [
                    (5.0, "t1", "i1", false),
                    (0.5, long, long, true),
                    (5.0, long, "i2", true),
                ] {
                    let mut k = Kernel::new("pair", 2).unwrap();
                    k.dirty.enabled = true;
                    k.dirty.flags = vec![false; 2];
                    if dirty {
                        k.dirty.slot(1);
                    }
                    k.slots[1].fsm_state = *stage;
                    k.slots[1].last_event_time = 1.0;
                    k.slots[1].trade_id = id(trade);
                    if !fsm::is_free(*stage) {
                        k.free.remove(1);
                    }
                    let mut intent = enter(1, 1);
                    intent.intent_id = id(intent_id);
                    intent.timestamp = ts;
                    let ctx = Ctx { holds_position };
                    let mut out = KernelOutcome::ok(1, id(trade), *stage, 7);
                    out.transitions.push(KernelTransition {
                        timestamp: 0.0,
                        trade_id: id(trade),
                        slot_id: 1,
                        prev_state: *stage,
                        next_state: *stage,
                        trigger: "EARLIER",
                        intent_id: id(""),
                        event_id: id("e0"),
                        details: TransitionDetails::Empty,
                    });
                    // The order sent, as new_order leaves it: its id shared or inline.
                    let client = if dirty { long } else { "pair-1" };
                    out.submit = Some(VenueOrder::sample(id(client), id(""), id(trade), id("BTC")));
                    let (mut k2, mut out2) = (k.clone(), out.clone());
                    if k.request_and_submit(&mut out, 1, request, ctx, &intent) {
                        together += 1;
                    } else {
                        assert_eq!(out, out2);
                        assert_eq!(format!("{k:?}"), format!("{k2:?}"));
                        k.request_then_submit(&mut out, 1, request, ctx, &intent);
                    }
                    k2.request_then_submit(&mut out2, 1, request, ctx, &intent);
                    let case = format!("{stage:?} {request:?} {holds_position} {ts} {trade}");
                    assert_eq!(out, out2, "{case}");
                    assert_eq!(format!("{k:?}"), format!("{k2:?}"), "{case}");
                    assert_eq!(k.dirty.drain(), k2.dirty.drain(), "{case}");
                }
            }
        }
    }
    // An ENTER from a free slot and an EXIT from an open one at least.
    assert!(together >= 6, "{together}");
}

#[test]
fn a_sent_order_counts_as_a_recount_of_its_slot_does() {
    // set_working_to moves the counts by the order it replaces and the one it puts: the
    // same sums as the slot counted again (side_counts_difference recounts every slot).
    let mut k = Kernel::new("sent", 2).unwrap();
    let entry = k.process_intent(&enter(1, 0)).submit.unwrap();
    assert_eq!(k.side_counts_difference(), None);
    let mut fill = VenueEvent::new("f1", KernelEventKind::Fill, &entry.client_order_id);
    fill.price = 100.0;
    fill.size = 0.25;
    assert!(k.on_venue_event(&fill).accepted);
    assert_eq!(k.side_counts_difference(), None);
    // A working entry a quarter filled replaced by a sell and by a buy of other sizes,
    // then a working exit put beside it.
    for (side, size, is_entry) in [
        (OrderSide::Sell, 2.0, true),
        (OrderSide::Buy, 0.5, true),
        (OrderSide::Sell, 0.25, false),
    ] {
        let mut order = k.slots[0].active_entry_order.clone().unwrap();
        order.side = side;
        order.size = size;
        order.filled_size = 0.1;
        order.is_entry = is_entry;
        k.set_working_to(0, &order);
        assert_eq!(
            k.side_counts_difference(),
            None,
            "{side:?} {size} {is_entry}"
        );
    }
    let before = k.sides.counted(0);
    k.set_working_to(0, &k.slots[0].active_exit_order.clone().unwrap());
    assert_eq!(
        k.sides.counted(0),
        before,
        "the same order again moves nothing"
    );
    assert_eq!(k.side_counts_difference(), None);
}

#[test]
fn the_caps_look_at_the_kept_orders_only_while_an_entry_may_still_fill() {
    // An entry cancelled without the venue's figure may still fill (a fill racing the cancel):
    // the caps count what is left of it until it is settled, and then look at no kept order
    // again, where a flag set for good had every capped ENTER walk them for the rest of the run.
    let mut k = Kernel::new("owed", 2).unwrap();
    let first = k.process_intent(&enter(1, 0)).submit.unwrap();
    let ack = VenueEvent::new("a1", KernelEventKind::CancelAck, &first.client_order_id);
    assert!(k.on_venue_event(&ack).accepted);
    assert!(k.ended.get((0, true, false)).is_some(), "the entry is kept");
    assert_eq!((k.ended.capped_entries, k.ended.owed_count), (1, 0));
    assert_eq!(k.total_committed_notional(), 100.0);
    // An entry the venue ends stating a fill it has not sent: that fill is owed.
    let second = k.process_intent(&enter(2, 1)).submit.unwrap();
    let mut end = VenueEvent::new("a2", KernelEventKind::CancelAck, &second.client_order_id);
    end.filled_size = 1.0;
    assert!(k.on_venue_event(&end).accepted);
    assert_eq!((k.ended.capped_entries, k.ended.owed_count), (2, 1));
    assert!(!k.ended.quiet_on(&id("BTC")));
    // Counted by asset: another asset's exits do not look at it.
    assert!(k.ended.quiet_on(&id("ETH")));
    assert_eq!(k.total_committed_notional(), 200.0);
    // Once both fills come, each is a position, and nothing else may fill.
    for (n, order) in [&first, &second].into_iter().enumerate() {
        let mut fill = VenueEvent::new(
            &format!("f{n}"),
            KernelEventKind::Fill,
            &order.client_order_id,
        );
        fill.price = 100.0;
        fill.size = 1.0;
        assert!(k.on_venue_event(&fill).accepted);
        assert_eq!(k.total_committed_notional(), 200.0);
    }
    assert_eq!((k.ended.capped_entries, k.ended.owed_count), (0, 0));
    assert!(k.ended.quiet_on(&id("BTC")));
    assert_eq!(k.side_counts_difference(), None);
}

fn filled_by(venue_client_id: Option<&str>, venue_id: Option<&str>) -> (Kernel, Id) {
    let mut k = Kernel::new("fp", 1).unwrap();
    let order = k.process_intent(&enter(1, 0)).submit.unwrap();
    let c = order.client_order_id.clone();
    let v = venue_id.map_or_else(|| c.clone(), id);
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &c);
    ack.venue_order_id = v.clone();
    assert!(k.on_venue_event(&ack).accepted);
    let mut fill = VenueEvent::new("f1", KernelEventKind::Fill, &c);
    fill.venue_client_id = venue_client_id.map_or_else(|| c.clone(), id);
    fill.venue_order_id = v;
    (fill.price, fill.size, fill.filled_size) = (100.0, 1.0, 1.0);
    assert!(k.on_venue_event(&fill).accepted);
    assert!(
        k.slots[0].active_entry_order.is_none(),
        "the entry is filled"
    );
    (k, c)
}

/// The client id's fingerprint made once for a fill (`client_fp`) is the order's: its
/// completed keys and its memory as finished name the order's client id, whatever id the
/// report gave, and a venue naming the order by its client id leaves that id remembered.
#[test]
fn a_filled_orders_client_id_is_remembered_whichever_id_the_fill_named() {
    for (venue_client_id, venue_id) in [
        (None, None),
        (None, Some("V-1")),
        (Some(""), Some("V-1")),
        (Some("another-1"), Some("V-1")),
    ] {
        let (k, c) = filled_by(venue_client_id, venue_id);
        let case = format!("{venue_client_id:?} {venue_id:?}");
        assert!(k.finished_orders.contains(&fingerprint(&c)), "{case}");
        assert!(
            k.slots[0].seen_fills.contains(completed_key(&c, 1.0)),
            "{case}"
        );
        // The venue id's own fingerprint, the client id when the venue names the order by it.
        let v = venue_id.unwrap_or(c.as_str());
        assert!(k.finished_orders.contains(&venue_fingerprint(v)), "{case}");
        if let Some(v) = venue_id {
            assert!(!k.finished_orders.contains(&fingerprint(v)), "{case}");
        }
        if let Some(other) = venue_client_id.filter(|o| *o != c.as_str()) {
            assert!(!k.finished_orders.contains(&fingerprint(other)), "{case}");
        }
        // One entry for the client id, one for the venue id.
        assert_eq!(k.finished_orders.len(), 2, "{case}");
        // And the order is no longer found by its client id (removed where the fill's
        // lookup found it, when the fill named it so).
        assert!(!k.by_client_id.contains_key(&c), "{case}");
        assert_eq!(k.by_client_id.len(), 0, "{case}");
    }
}

/// `OrderIndex::get_placed` (an id's place compared as an `Id`) answers as `get`, with
/// the place whose id has the same text, found by comparing texts: ids in the table, in
/// the map (no digits, a place taken by another id), shared ids past 23 bytes, and ids
/// removed, their place's old id left there.
#[test]
fn order_index_get_placed_answers_as_get_and_held() {
    let long = "k-a-kernel-id-past-inline-7";
    let held_ids = ["k-001", "k-002", "x-001", "k-abc", "k-1", long, "k-999"];
    let mut index = OrderIndex::default();
    for (sid, text) in held_ids.iter().enumerate() {
        index.insert(id(text), sid);
    }
    let freed = id("k-002");
    index.remove(&freed);
    let long_freed = "k-another-one-past-inline-123";
    index.insert(id(long_freed), 9);
    index.remove(&id(long_freed));
    let probes = held_ids.iter().copied().chain([
        "k-003",
        "",
        "1",
        "k-0001",
        "k-abd",
        long_freed,
        "k-a-kernel-id-past-inline-8",
    ]);
    for text in probes {
        let probe = id(text);
        let placed = index.get_placed(&probe);
        assert_eq!(
            placed.map(|(sid, _)| sid),
            index.get(&probe).copied(),
            "{text}"
        );
        let by_text = OrderIndex::place(text.as_bytes()).filter(|&p| {
            index
                .table
                .get(p)
                .is_some_and(|(c, s)| *s != FREE && c.as_str() == text)
        });
        assert_eq!(placed.and_then(|(_, p)| p), by_text, "{text}");
        assert_eq!(index.held(&probe), by_text, "{text}");
    }
    assert_eq!(index.get_placed(&freed), None);
    assert_eq!(index.get_placed(&id("k-001")), Some((0, Some(1))));
    assert_eq!(index.get_placed(&id("x-001")), Some((2, None)));
}

/// `SlotUnits::counts_any` (what `count_off` asks) is `!= SlotUnits::default()`: each
/// sum alone, signs, the sums' extremes, and sums ORing to bits of both halves.
#[test]
fn counts_any_is_any_sum_not_zero() {
    let values = [
        0,
        1,
        -1,
        i128::MAX,
        i128::MIN,
        1 << 64,
        -(1 << 64),
        1e30 as i128,
    ];
    for net in values {
        for w0 in values {
            for w1 in values {
                let u = SlotUnits {
                    net,
                    working: [w0, w1],
                };
                assert_eq!(u.counts_any(), u != SlotUnits::default(), "{u:?}");
            }
        }
    }
}

/// The numbers an event's checks let through at one look (`event_numbers_in_bounds`) are ones
/// the field-by-field checks (`in_bounds`) pass, and every such number but -0.0 in a
/// non-negative field takes the one look: any other goes to the checks.
/// The numbers the one-look checks (`intent_numbers_in_bounds`, `event_numbers_in_bounds`) are tried
/// on in each field: zeros of both signs, the smallest, plain, the bound and one past it,
/// huge, infinities, NaNs of both signs and negatives.
const SPECIAL_NUMBERS: [f64; 16] = [
    0.0,
    -0.0,
    5e-324,
    1.0,
    100.0,
    1.7e9,
    MAX_MAGNITUDE,
    f64::from_bits(MAX_MAGNITUDE.to_bits() + 1),
    1e300,
    f64::MAX,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    -f64::NAN,
    -1.0,
    -5e-324,
];

#[test]
fn plain_event_numbers_are_ones_the_checks_pass() {
    let checked = |e: &VenueEvent| {
        in_bounds(e.price, true)
            && !is_subnormal(e.price)
            && in_bounds(e.size, true)
            && in_bounds(e.filled_size, true)
            && in_bounds(e.remaining_size, true)
            && in_bounds(e.retry_after, true)
            && timestamp_flaw(e.timestamp).is_none()
            && in_bounds(e.fee.unwrap_or(0.0), false)
    };
    // A fee may be negative (a rebate): its bound's negatives too.
    let beyond = f64::from_bits(MAX_MAGNITUDE.to_bits() + 1);
    let last_second = f64::from_bits(LAST_DATETIME_SECOND.to_bits() + 1);
    let values: Vec<f64> = SPECIAL_NUMBERS
        .into_iter()
        .chain([-MAX_MAGNITUDE, -beyond, LAST_DATETIME_SECOND, last_second])
        .collect();
    let mut base = VenueEvent::new("e1", KernelEventKind::Fill, &id("c-1"));
    base.price = 100.0;
    base.size = 1.0;
    base.timestamp = 1.7e9;
    assert!(event_numbers_in_bounds(&base) && checked(&base));
    for field in 0..8 {
        for &v in &values {
            let mut e = base.clone();
            match field {
                0 => e.price = v,
                1 => e.size = v,
                2 => e.filled_size = v,
                3 => e.remaining_size = v,
                4 => e.retry_after = v,
                5 => e.timestamp = v,
                6 => e.fee = Some(v),
                _ => {
                    e.fee = Some(1.0);
                    e.price = v;
                }
            }
            let (plain, passes) = (event_numbers_in_bounds(&e), checked(&e));
            assert!(!plain || passes, "field {field} = {v:e}");
            let negative_zero = v == 0.0 && v.is_sign_negative() && field != 6;
            assert_eq!(plain, passes && !negative_zero, "field {field} = {v:e}");
        }
    }
}

/// The numbers an intent's checks let through at one look (`intent_numbers_in_bounds`) are ones the
/// field-by-field checks pass: any number those refuse goes to them.
#[test]
fn plain_numbers_are_ones_the_checks_pass() {
    let fields = [
        "reference_price",
        "target_size",
        "leverage",
        "limit_price",
        "timestamp",
    ];
    let checked = |i: &Intent| {
        let numbers = [
            i.reference_price,
            i.target_size,
            i.leverage,
            i.limit_price,
            i.timestamp,
        ];
        fields.iter().zip(numbers).all(|(f, v)| {
            v.is_finite()
                && v >= 0.0
                && !too_large(f, v)
                && !(f.ends_with("_price") && is_subnormal(v))
                && !(*f == "timestamp" && timestamp_flaw(v).is_some())
        })
    };
    let past_last_second = f64::from_bits(LAST_DATETIME_SECOND.to_bits() + 1);
    let values = SPECIAL_NUMBERS
        .into_iter()
        .chain([LAST_DATETIME_SECOND, past_last_second]);
    for (k, field) in fields.iter().enumerate() {
        for v in values.clone() {
            let mut i = enter(1, 0);
            i.timestamp = 1.7e9;
            match k {
                0 => i.reference_price = v,
                1 => i.target_size = v,
                2 => i.leverage = v,
                3 => i.limit_price = v,
                _ => i.timestamp = v,
            }
            let plain = intent_numbers_in_bounds(&i);
            assert!(!plain || checked(&i), "{field} = {v:e}");
            // The usual numbers take the one look; a subnormal price goes to the checks.
            let subnormal_price = k != 1 && k != 2 && k != 4 && is_subnormal(v);
            let usual = if k == 4 {
                v.to_bits() <= LAST_DATETIME_SECOND.to_bits()
            } else {
                v.to_bits() <= MAX_MAGNITUDE.to_bits() && !subnormal_price
            };
            assert_eq!(plain, usual, "{field} = {v:e}");
        }
    }
}

/// One leg is checked at once (`validate_leg_ratios`'s first case): the same answer as
/// the walk of the legs and their sum, which any other count of legs takes.
#[test]
fn one_leg_checked_as_the_walk_checks_it() {
    let walked = |r: f64| {
        if !r.is_finite() || r <= 0.0 || r > 1.0 {
            return Err("every leg must be a fraction in (0, 1]");
        }
        if r > 1.0 + 1e-9 {
            return Err("legs must not add up to more than 1");
        }
        Ok(())
    };
    let cases = [
        1.0,
        0.5,
        f64::MIN_POSITIVE,
        5e-324,
        1.0 - f64::EPSILON,
        1.0 + f64::EPSILON,
        1.0 + 1e-10,
        0.0,
        -0.0,
        -0.5,
        2.0,
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
    ];
    for r in cases {
        assert_eq!(validate_leg_ratios(&[r]), walked(r), "{r}");
    }
    // Two legs still walk: a bad one, and a sum above 1.
    assert!(validate_leg_ratios(&[0.5, f64::NAN]).is_err());
    assert_eq!(
        validate_leg_ratios(&[0.6, 0.6]),
        Err("legs must not add up to more than 1")
    );
    assert_eq!(validate_leg_ratios(&[0.5, 0.5]), Ok(()));
}

/// A kernel whose fill `T1` (of BTC) was settled at `fee`, and what makes a settlement of `T1`
/// (its event id, its fee).
fn settled_at(fee: f64) -> (Kernel, impl Fn(&str, f64) -> AccountEvent) {
    let mut k = Kernel::new("settled", 1).unwrap();
    let rates = vec![("taker_rate".into(), 0.0005), ("maker_rate".into(), 0.0002)];
    k.apply(&KernelInput::ExchangeConfig(rates)).unwrap();
    let order = k.process_intent(&enter(1, 0)).submit.unwrap();
    let mut fill = VenueEvent::new("f1", KernelEventKind::Fill, &order.client_order_id);
    fill.fill_id = id("T1");
    (fill.price, fill.size, fill.filled_size, fill.timestamp) = (100.0, 1.0, 1.0, 1_000.0);
    assert!(k.on_venue_event(&fill).accepted);
    let settlement = |event_id: &str, fee: f64| {
        let mut e = AccountEvent::new(event_id, AccountEventKind::FillSettled);
        (e.fill_id, e.asset, e.fee, e.timestamp) = (id("T1"), id("BTC"), fee, 1_001.0);
        e
    };
    assert!(k.on_account_event(&settlement("s1", fee)).accepted);
    (k, settlement)
}

/// A settlement of a settled fill at the fee it was settled at is a resend (-0.0 is 0.0); at
/// another fee it is held for a self-trade's other side, unless the fill was settled before a
/// checkpoint of version 38 or earlier, which kept no fees: then any fee is a resend.
#[test]
fn a_settled_fills_settlement_again_is_a_resend_at_its_fee_or_one_not_known() {
    let refused = |k: &mut Kernel, e: &AccountEvent| {
        let out = k.on_account_event(e);
        !out.accepted && out.diagnostic_code == KernelDiagnosticCode::UnknownOrder
    };
    let (mut k, settlement) = settled_at(0.0);
    assert!(refused(&mut k, &settlement("s2", -0.0)));
    assert!(
        !refused(&mut k, &settlement("s3", 0.07)),
        "held for the other side"
    );
    let (k, settlement) = settled_at(0.06);
    let mut migrated = decode_version(&encode_before_39(&k), 38).unwrap();
    assert!(refused(&mut migrated, &settlement("s2", 0.07)));
    assert!(refused(&mut migrated, &settlement("s3", 0.06)));
    assert!(migrated.early_settlements.held.is_empty());
}

#[test]
fn a_control_change_if_mode_applies_only_while_the_kernel_runs_the_mode_read() {
    let mut k = Kernel::new("k", 1).unwrap();
    k.set_journal_enabled(true);
    let _ = k.outbox.drain_tables(usize::MAX);
    // Read LIVE, set while it still runs: applied as a plain change, its journal row written.
    k.update_control(Some(ControlMode::Live), None, None, "operator", 1.0);
    let applied = k.update_control_if_mode(
        ControlMode::Live,
        Some(ControlMode::ReduceOnly),
        None,
        None,
        "dead-man",
        2.0,
    );
    assert!(applied);
    assert_eq!(k.control.mode, ControlMode::ReduceOnly);
    assert_eq!(
        (k.control.source.as_str(), k.control.updated_seq),
        ("dead-man", k.seq())
    );
    assert_eq!(
        k.outbox.drain_tables(usize::MAX)[crate::journal::CONTROL_CHANGES].len(),
        2
    );
    // The operator halts after another reader read REDUCE_ONLY: its change does not apply.
    k.update_control(Some(ControlMode::Halted), None, None, "operator", 3.0);
    let _ = k.outbox.drain_tables(usize::MAX);
    k.dirty.control = false;
    let (control, seq) = (k.control.clone(), k.seq());
    let applied = k.update_control_if_mode(
        ControlMode::ReduceOnly,
        Some(ControlMode::ReduceOnly),
        Some(Verbosity::Debug),
        None,
        "dead-man",
        4.0,
    );
    assert!(!applied);
    assert_eq!(k.control, control);
    assert_eq!(
        (k.control.mode_set_at, k.control.mode_set_by.as_str()),
        (3.0, "operator")
    );
    assert_eq!(k.seq(), seq);
    assert!(!k.dirty.control);
    assert!(k.outbox.is_empty());
}

#[test]
fn skipped_order_ids_are_never_issued_and_a_skip_never_moves_the_counter_back() {
    let mut k = Kernel::new("k", 3).unwrap();
    k.set_seed_capital(1e6).unwrap();
    let sent = |k: &mut Kernel, n: u32, slot: i64| {
        let order = k.process_intent(&enter(n, slot)).submit.expect("an order");
        order.client_order_id.to_string()
    };
    assert_eq!(sent(&mut k, 1, 0), "k-1");
    let seq = k.seq();
    k.apply(&KernelInput::OrderIdsSkipped { through: 50 })
        .unwrap();
    assert_eq!(k.seq(), seq + 1, "the skip is an input of its own");
    assert_eq!(sent(&mut k, 2, 1), "k-51");
    k.apply(&KernelInput::OrderIdsSkipped { through: 10 })
        .unwrap();
    assert_eq!(sent(&mut k, 3, 2), "k-52");
}
