//! The differential check's harness: drives a fresh kernel through a random but realistic
//! sequence of inputs per seed, through the public input methods only, and writes every
//! answer, every journal row, the keys the projection is told changed and the final state
//! as canonical text lines (`canon`). Built against two versions of the crate, it must
//! print the same lines for the same seed.
//!
//!     differential --from N --count M --len L   a line per seed: seed, digest, inputs,
//!                                               inputs taken, journal rows
//!     differential --dump SEED --len L          that seed's lines
//!
//! `make differential` builds it in the current tree and in a base commit's and compares.

mod canon;
mod inputs;
mod rng;
mod values;
mod venue;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use canon::{Line, Lines};
use dita_kernel::risk::ConfigValue;
use dita_kernel::*;
use inputs::{Generator, Input, ASSETS};

/// Kernel ids whose client order ids (`<kernel_id>-<n>`) grow across 22 to 25 bytes as the
/// orders are counted, one short, one long and one multi-byte.
const KERNEL_IDS: [&str; 6] = [
    "k-diff",
    "k",
    "kernel-nineteen-byt",
    "kernel-twenty-bytes-",
    "kernel-twenty-one-byt",
    "κ-diff",
];

/// The whole state is written every this many inputs, and at the end.
const SNAPSHOT_EVERY: usize = 100;

/// What a sequence amounted to, for the driver's summary.
#[derive(Default)]
struct Tally {
    inputs: usize,
    taken: usize,
    rows: usize,
}

/// The message of the last panic, without its place in the source (which moves between the
/// two builds).
static PANIC: Mutex<String> = Mutex::new(String::new());

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .map(|i| args.get(i + 1).and_then(|v| v.parse::<u64>().ok()))
            .map(|v| v.unwrap_or_else(|| panic!("{name} takes a number")))
    };
    let len = arg("--len").unwrap_or(300) as usize;
    std::panic::set_hook(Box::new(|info| {
        eprintln!("kernel panicked: {info}");
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = message;
    }));
    if let Some(seed) = arg("--dump") {
        run(seed, len, true);
        return;
    }
    let from = arg("--from").unwrap_or(0);
    let count = arg("--count").unwrap_or(1);
    for seed in from..from + count {
        let (digest, t) = run(seed, len, false);
        println!("seed {seed} {digest} {} {} {}", t.inputs, t.taken, t.rows);
    }
}

/// Runs sequence `seed` of `len` inputs; returns the digest of its lines.
fn run(seed: u64, len: usize, dump: bool) -> (String, Tally) {
    let mut lines = Lines::new(dump);
    let mut tally = Tally::default();
    let mut gen = Generator::new(seed);
    let kernel_id = KERNEL_IDS[gen.rng.below(KERNEL_IDS.len())];
    let slots = 1 + gen.rng.below(8);
    lines.push(&format!("K kernel_id={kernel_id:?} slots={slots}"));
    let mut k = Kernel::new(kernel_id, slots).expect("a valid kernel id and slot count");
    k.set_journal_enabled(true);
    k.set_projection_enabled(true);
    for step in 0..len {
        let input = gen.input(&k, step);
        let applied = catch_unwind(AssertUnwindSafe(|| {
            apply(&mut k, &input, &mut gen, &mut lines, step, &mut tally)
        }));
        if applied.is_err() {
            let message = PANIC.lock().unwrap_or_else(|e| e.into_inner()).clone();
            eprintln!("seed {seed} input {step} panicked");
            lines.push(&format!("PANIC {message:?}"));
            return (lines.digest(), tally);
        }
        gen.venue.sync(&k);
        tally.rows += canon::journal_rows(&mut lines, &mut k);
        canon::projection_keys(&mut lines, &mut k);
        canon::counters(&mut lines, &k);
        if (step + 1) % SNAPSHOT_EVERY == 0 && step + 1 < len {
            canon::snapshot(&mut lines, &k, &ASSETS);
        }
    }
    canon::snapshot(&mut lines, &k, &ASSETS);
    (lines.digest(), tally)
}

/// Writes input `n`, hands it to the kernel, writes the answer and lets the generator's
/// venue learn from it.
fn apply(
    k: &mut Kernel,
    input: &Input,
    gen: &mut Generator,
    lines: &mut Lines,
    n: usize,
    tally: &mut Tally,
) {
    tally.inputs += 1;
    let tag = |name: &str| Line::new(&format!("I{n} {name}"));
    let taken = match input {
        Input::Intent(intent) => {
            canon::intent(lines, n, intent);
            outcome(lines, gen, k.process_intent(intent))
        }
        Input::Venue(ev) => {
            canon::venue_event(lines, &format!("I{n} venue_event"), ev);
            let out = k.on_venue_event(ev);
            gen.venue.sent(ev, out.accepted);
            outcome(lines, gen, out)
        }
        Input::Account(ev) => {
            canon::account_event(lines, n, ev);
            outcome(lines, gen, k.on_account_event(ev))
        }
        Input::Mark { asset, price, ts } => {
            tag("mark_price")
                .text("asset", asset)
                .num("price", *price)
                .num("ts", *ts)
                .done(lines);
            result(lines, k.mark_price(asset, *price, *ts), |n| n.to_string())
        }
        Input::Edge {
            asset,
            edge_bps,
            ts,
        } => {
            tag("edge_update")
                .text("asset", asset)
                .num("edge_bps", *edge_bps)
                .num("ts", *ts)
                .done(lines);
            match k.on_edge_update(asset, *edge_bps, *ts) {
                Ok(out) => outcome(lines, gen, out),
                Err(e) => result::<()>(lines, Err(e), |_| String::new()),
            }
        }
        Input::Control {
            mode,
            verbosity,
            debug,
            source,
            ts,
        } => {
            tag("update_control")
                .int("mode", mode.map_or("None", |m| m.name()))
                .int("verbosity", verbosity.map_or("None", |v| v.name()))
                .int("debug", format!("{debug:?}"))
                .text("source", source)
                .num("ts", *ts)
                .done(lines);
            k.update_control(*mode, *verbosity, *debug, source, *ts);
            true
        }
        Input::ExchangeConfig(fields) => {
            fields_line(tag("exchange_config"), fields, lines);
            result(lines, k.set_exchange_config(fields), |_| String::new())
        }
        Input::SeedCapital(capital) => {
            tag("seed_capital").num("capital", *capital).done(lines);
            result(lines, k.set_seed_capital(*capital), |_| String::new())
        }
        Input::MarketLimits { asset, fields } => {
            let mut line = tag("market_limits");
            line.text("asset", asset);
            fields_line(line, fields, lines);
            result(lines, k.set_market_limits(asset, fields), |_| String::new())
        }
        Input::RiskLimits(updates) => {
            let mut line = tag("risk_limits");
            for (field, value) in updates {
                match value {
                    ConfigValue::Num(x) => line.num(field, *x),
                    ConfigValue::Text(t) => line.text(field, t),
                    ConfigValue::Flag(b) => line.flag(field, *b),
                    ConfigValue::Off => line.int(field, "None"),
                };
            }
            line.done(lines);
            // As the bindings do: the updates checked against the limits in force, then set.
            match k.risk_updates(updates) {
                Ok(limits) => {
                    k.set_risk_limits(limits);
                    result(lines, Ok(()), |_| String::new())
                }
                Err(e) => result::<()>(lines, Err(e), |_| String::new()),
            }
        }
        Input::SlotMetadata { slot_id, metadata } => {
            tag("slot_metadata")
                .int("slot_id", slot_id)
                .metadata("metadata", metadata)
                .done(lines);
            let r = k.set_slot_metadata(*slot_id, metadata.clone());
            result(lines, r, |_| String::new())
        }
        Input::SlotExitLegs { slot_id, ratios } => {
            tag("slot_exit_legs")
                .int("slot_id", slot_id)
                .nums("ratios", ratios)
                .done(lines);
            result(lines, k.set_slot_exit_legs(*slot_id, ratios), |_| {
                String::new()
            })
        }
        Input::ReplaceSlots(slots) => {
            tag("replace_slots").int("count", slots.len()).done(lines);
            for s in slots {
                canon::slot(lines, s);
            }
            result(lines, k.replace_slots(slots.clone()), |_| String::new())
        }
        Input::CalibrateFee {
            price,
            qty,
            actual_fee,
            maker,
        } => {
            tag("calibrate_fee")
                .num("price", *price)
                .num("qty", *qty)
                .num("actual_fee", *actual_fee)
                .flag("maker", *maker)
                .done(lines);
            let r = k.calibrate_fee(*price, *qty, *actual_fee, *maker);
            result(lines, r, canon::calibration)
        }
    };
    tally.taken += usize::from(taken);
}

/// Writes an outcome and lets the venue learn the orders it hands out; whether it was taken.
fn outcome(lines: &mut Lines, gen: &mut Generator, out: KernelOutcome) -> bool {
    canon::outcome(lines, &out);
    gen.venue.learn(&out);
    out.accepted
}

/// Writes a `Result` answer; whether it was Ok.
fn result<T>(lines: &mut Lines, r: KernelResult<T>, ok: impl Fn(&T) -> String) -> bool {
    canon::result(lines, &r, ok);
    r.is_ok()
}

fn fields_line(mut line: Line, fields: &[(String, f64)], lines: &mut Lines) {
    for (field, value) in fields {
        line.num(field, *value);
    }
    line.done(lines);
}
