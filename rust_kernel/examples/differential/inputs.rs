//! The random sequence: one small function per kind of input, mostly valid (so trades open,
//! fill and close) with a good share of misbehaviour: bad numbers, odd ids, duplicates,
//! answers for orders that ended or never were, configuration the kernel must refuse.

use dita_kernel::risk::ConfigValue;
use dita_kernel::*;

use crate::rng::Rng;
use crate::values::{id_or_odd, number, odd_id, opt_number, BAD_NUMBERS};
use crate::venue::Venue;

/// One call of the kernel's public input methods, with its arguments.
pub enum Input {
    Intent(Intent),
    Venue(VenueEvent),
    Account(AccountEvent),
    Mark {
        asset: String,
        price: f64,
        ts: f64,
    },
    Edge {
        asset: String,
        edge_bps: f64,
        ts: f64,
    },
    Control {
        mode: Option<ControlMode>,
        verbosity: Option<Verbosity>,
        debug: Option<bool>,
        source: String,
        ts: f64,
    },
    ExchangeConfig(Vec<(String, f64)>),
    SeedCapital(f64),
    MarketLimits {
        asset: String,
        fields: Vec<(String, f64)>,
    },
    RiskLimits(Vec<(String, ConfigValue)>),
    SlotMetadata {
        slot_id: i64,
        metadata: Metadata,
    },
    SlotExitLegs {
        slot_id: i64,
        ratios: Vec<f64>,
    },
    ReplaceSlots(Vec<TradeSlot>),
    CalibrateFee {
        price: f64,
        qty: f64,
        actual_fee: f64,
        maker: bool,
    },
}

/// The assets traded, one with a multi-byte name, and where their prices start.
pub const ASSETS: [&str; 4] = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "ÄÖÜ-PERP"];
const START_PRICES: [f64; 4] = [100.0, 20.0, 1.5, 7.0];

/// The kinds of input and how often each comes, per thousand.
const KINDS: [(Kind, u32); 18] = [
    (Kind::Enter, 150),
    (Kind::Exit, 90),
    (Kind::Cancel, 35),
    (Kind::VenueAnswer, 330),
    (Kind::VenueAgain, 45),
    (Kind::VenueUnknown, 15),
    (Kind::Account, 90),
    (Kind::Mark, 70),
    (Kind::Edge, 15),
    (Kind::Control, 25),
    (Kind::ExchangeConfig, 15),
    (Kind::SeedCapital, 8),
    (Kind::MarketLimits, 15),
    (Kind::RiskLimits, 20),
    (Kind::SlotMetadata, 10),
    (Kind::SlotExitLegs, 12),
    (Kind::ReplaceSlots, 8),
    (Kind::CalibrateFee, 12),
];

#[derive(Clone, Copy)]
enum Kind {
    Enter,
    Exit,
    Cancel,
    VenueAnswer,
    VenueAgain,
    VenueUnknown,
    Account,
    Mark,
    Edge,
    Control,
    ExchangeConfig,
    SeedCapital,
    MarketLimits,
    RiskLimits,
    SlotMetadata,
    SlotExitLegs,
    ReplaceSlots,
    CalibrateFee,
}

pub struct Generator {
    pub rng: Rng,
    pub venue: Venue,
    now: f64,
    prices: [f64; 4],
    n: u64,
    /// Ids of intents sent, for duplicates.
    intent_ids: Vec<String>,
    account_events: Vec<AccountEvent>,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng::new(seed),
            venue: Venue::default(),
            now: 1_700_000_000.0,
            prices: START_PRICES,
            n: 0,
            intent_ids: Vec::new(),
            account_events: Vec::new(),
        }
    }

    fn next(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    /// The next input, given what the kernel shows now.
    pub fn input(&mut self, k: &Kernel, step: usize) -> Input {
        self.now += self.rng.range(0.0, 3.0);
        for p in &mut self.prices {
            *p *= 1.0 + self.rng.range(-0.004, 0.004);
        }
        if step == 0 {
            let capital = number(&mut self.rng, 10_000.0, 0.1);
            return Input::SeedCapital(capital);
        }
        let weights: Vec<u32> = KINDS.iter().map(|(_, w)| *w).collect();
        let kind = KINDS[self.rng.weighted(&weights)].0;
        match kind {
            Kind::Enter => Input::Intent(self.enter(k)),
            Kind::Exit => Input::Intent(self.exit(k)),
            Kind::Cancel => Input::Intent(self.cancel(k)),
            Kind::VenueAnswer => match self.venue.answer(&mut self.rng, self.now) {
                Some(ev) => Input::Venue(ev),
                None if self.rng.chance(0.5) => Input::Intent(self.exit(k)),
                None => Input::Intent(self.enter(k)),
            },
            Kind::VenueAgain => match self.venue.again(&mut self.rng) {
                Some(ev) => Input::Venue(ev),
                None => Input::Venue(self.venue.unknown(&mut self.rng, self.now)),
            },
            Kind::VenueUnknown => Input::Venue(self.venue.unknown(&mut self.rng, self.now)),
            Kind::Account => Input::Account(self.account_event()),
            Kind::Mark => self.mark(),
            Kind::Edge => self.edge(),
            Kind::Control => self.control(),
            Kind::ExchangeConfig => Input::ExchangeConfig(self.exchange_config()),
            Kind::SeedCapital => Input::SeedCapital(self.seed_capital()),
            Kind::MarketLimits => self.market_limits(),
            Kind::RiskLimits => Input::RiskLimits(self.risk_limits()),
            Kind::SlotMetadata => self.slot_metadata(k),
            Kind::SlotExitLegs => self.slot_exit_legs(k),
            Kind::ReplaceSlots => Input::ReplaceSlots(self.replace_slots(k)),
            Kind::CalibrateFee => self.calibrate_fee(),
        }
    }

    /// A time stamp: mostly now, sometimes earlier, zero, in milliseconds or bad.
    fn stamp(&mut self) -> f64 {
        match self.rng.weighted(&[90, 4, 2, 1, 3]) {
            0 => self.now,
            1 => self.now - self.rng.range(0.0, 600.0),
            2 => 0.0,
            3 => self.now * 1000.0,
            _ => *self.rng.pick(&BAD_NUMBERS),
        }
    }

    fn asset(&mut self) -> (String, f64) {
        let i = self.rng.below(ASSETS.len());
        let n = self.next();
        let asset = id_or_odd(&mut self.rng, ASSETS[i].to_string(), n, 0.04);
        (asset, self.prices[i])
    }

    fn slot_any(&mut self, k: &Kernel) -> i64 {
        match self.rng.weighted(&[95, 5]) {
            0 => self.rng.below(k.max_slots()) as i64,
            _ => *self
                .rng
                .pick(&[-1, k.max_slots() as i64, 1_000_000, i64::MIN]),
        }
    }

    /// A slot `wanted` picks (most of the time, when there is one), else any.
    fn slot_where(&mut self, k: &Kernel, wanted: impl Fn(&TradeSlot) -> bool) -> i64 {
        let fitting: Vec<usize> = k
            .slots()
            .iter()
            .filter(|s| wanted(s))
            .map(|s| s.slot_id)
            .collect();
        if !fitting.is_empty() && self.rng.chance(0.85) {
            *self.rng.pick(&fitting) as i64
        } else {
            self.slot_any(k)
        }
    }

    fn intent_id(&mut self) -> String {
        let n = self.next();
        let id = match self.rng.weighted(&[93, 3, 4]) {
            1 if !self.intent_ids.is_empty() => self.rng.pick(&self.intent_ids).clone(),
            2 => odd_id(&mut self.rng, n),
            _ => format!("in{n}"),
        };
        self.intent_ids.push(id.clone());
        id
    }

    /// The trade a slot holds, mostly, or another.
    fn trade_of(&mut self, k: &Kernel, slot: i64) -> String {
        let held = usize::try_from(slot)
            .ok()
            .and_then(|i| k.slot(i))
            .map(|s| s.trade_id.to_string())
            .unwrap_or_default();
        let n = self.next();
        match self.rng.weighted(&[90, 5, 5]) {
            0 => held,
            1 => String::new(),
            _ => format!("tr{n}"),
        }
    }

    fn metadata(&mut self) -> Metadata {
        let mut m = Metadata::new();
        if self.rng.chance(0.9) {
            let run = self.rng.pick(&["run-7", "", "run-é"]).to_string();
            m.insert("source_run".into(), MetaValue::Str(run));
        }
        if self.rng.chance(0.1) {
            let v = match self.rng.below(4) {
                0 => MetaValue::Bool(true),
                1 => MetaValue::Str("false".into()),
                2 => MetaValue::Int(1),
                _ => MetaValue::Null,
            };
            m.insert("override".into(), v);
        }
        m
    }

    fn order_type(&mut self, intent: &mut Intent) {
        if self.rng.chance(0.4) {
            intent.order_type = OrderType::Limit;
            let price = intent.reference_price * self.rng.range(0.99, 1.01);
            intent.limit_price = number(&mut self.rng, price, 0.04);
        } else if self.rng.chance(0.03) {
            intent.limit_price = intent.reference_price;
        }
    }

    fn enter(&mut self, k: &Kernel) -> Intent {
        let slot = match k.free_slot() {
            Some(free) if self.rng.chance(0.75) => free as i64,
            _ => self.slot_any(k),
        };
        let intent_id = self.intent_id();
        let n = self.next();
        let trade = id_or_odd(&mut self.rng, format!("tr{n}"), n, 0.04);
        let (asset, price) = self.asset();
        let side =
            [TradeSide::Long, TradeSide::Short, TradeSide::Flat][self.rng.weighted(&[48, 48, 4])];
        let size = match self.rng.weighted(&[94, 3, 3]) {
            0 => self.rng.range(0.05, 3.0),
            1 => 1e-10,
            _ => *self.rng.pick(&BAD_NUMBERS),
        };
        let reference = number(&mut self.rng, price, 0.03);
        let mut intent = Intent::new(
            &intent_id,
            &trade,
            slot,
            &asset,
            side,
            KernelCommandType::Enter,
            reference,
            size,
        );
        if self.rng.chance(0.4) {
            let leverage = self.rng.range(1.0, 10.0);
            intent.leverage = number(&mut self.rng, leverage, 0.05);
        }
        intent.exit_leg_ratios = self.legs();
        self.order_type(&mut intent);
        intent.reason = self.rng.pick(&["", "signal", "é"]).to_string();
        intent.metadata = self.metadata();
        intent.timestamp = self.stamp();
        intent
    }

    /// Exit leg ratios: mostly one to three legs summing to one, some the kernel refuses.
    fn legs(&mut self) -> Vec<f64> {
        match self.rng.weighted(&[60, 18, 10, 12]) {
            0 => vec![1.0],
            1 => vec![0.5, 0.5],
            2 => vec![0.25, 0.25, 0.5],
            _ => match self.rng.below(6) {
                0 => vec![],
                1 => vec![0.5],
                2 => vec![0.7, 0.7],
                3 => vec![f64::NAN],
                4 => vec![-0.5, 1.5],
                _ => vec![1.0 / 65.0; 65],
            },
        }
    }

    fn exit(&mut self, k: &Kernel) -> Intent {
        let slot = self.slot_where(k, |s| s.size > 0.0);
        let held = usize::try_from(slot).ok().and_then(|i| k.slot(i));
        let (size, asset, side) = held.map_or((1.0, String::new(), TradeSide::Long), |s| {
            (s.size, s.asset.to_string(), s.side)
        });
        let price = ASSETS
            .iter()
            .position(|a| *a == asset)
            .map_or(10.0, |i| self.prices[i]);
        let intent_id = self.intent_id();
        let trade = self.trade_of(k, slot);
        let asset = match self.rng.weighted(&[60, 35, 5]) {
            0 => String::new(),
            1 => asset,
            _ => "ETHUSDT".into(),
        };
        let target = match self.rng.weighted(&[50, 30, 10, 10]) {
            0 => 0.0,
            1 => size * self.rng.range(0.1, 1.0),
            2 => size * 1.5,
            _ => *self.rng.pick(&BAD_NUMBERS),
        };
        let reference = number(&mut self.rng, price, 0.03);
        let mut intent = Intent::new(
            &intent_id,
            &trade,
            slot,
            &asset,
            side,
            KernelCommandType::Exit,
            reference,
            target,
        );
        self.order_type(&mut intent);
        intent.reason = self.rng.pick(&["", "take_profit", "stop"]).to_string();
        intent.metadata = self.metadata();
        intent.timestamp = self.stamp();
        intent
    }

    fn cancel(&mut self, k: &Kernel) -> Intent {
        let slot = self.slot_where(k, |s| s.active_order().is_some());
        let intent_id = self.intent_id();
        let trade = self.trade_of(k, slot);
        let mut intent = Intent::new(
            &intent_id,
            &trade,
            slot,
            "",
            TradeSide::Long,
            KernelCommandType::Cancel,
            0.0,
            0.0,
        );
        intent.timestamp = self.stamp();
        intent
    }

    fn account_event(&mut self) -> AccountEvent {
        if !self.account_events.is_empty() && self.rng.chance(0.1) {
            return self.rng.pick(&self.account_events).clone();
        }
        let n = self.next();
        let event_id = id_or_odd(&mut self.rng, format!("ac{n}"), n, 0.03);
        let kind = *self.rng.pick(AccountEventKind::ALL);
        let mut ev = AccountEvent::new(&event_id, kind);
        ev.timestamp = self.stamp();
        match kind {
            AccountEventKind::FillSettled => self.settlement(&mut ev, n),
            AccountEventKind::AccountUpdate => self.balances(&mut ev),
            AccountEventKind::FundingFee => {
                ev.asset = id(&self.asset().0);
                let amount = self.rng.range(-3.0, 3.0);
                ev.amount = number(&mut self.rng, amount, 0.04);
                if self.rng.chance(0.03) {
                    ev.fee = 0.5;
                }
            }
        }
        self.account_events.push(ev.clone());
        ev
    }

    /// A FILL_SETTLED: of a fill the kernel took, mostly, or of one not reported yet (which
    /// the next fills then carry), or of none.
    fn settlement(&mut self, ev: &mut AccountEvent, n: u64) {
        let fills = &self.venue.fills;
        match self.rng.weighted(&[75, 12, 8, 5]) {
            0 if !fills.is_empty() => {
                let f = &fills[self.rng.below(fills.len())];
                ev.fill_id = id(&f.key);
                ev.asset = if self.rng.chance(0.8) {
                    f.asset.clone()
                } else {
                    id("")
                };
                let rate = self.rng.range(0.0001, 0.0008);
                ev.fee = number(&mut self.rng, f.notional * rate, 0.04);
            }
            1 => {
                let key = format!("fl-early{n}");
                self.venue.settled_early.push(key.clone());
                ev.fill_id = id(&key);
                ev.asset = id(ASSETS[self.rng.below(3)]);
                ev.fee = self.rng.range(0.0, 0.1);
            }
            2 => ev.fill_id = id(&format!("fl-none{n}")),
            _ => ev.fill_id = id(""),
        }
        if self.rng.chance(0.03) {
            ev.amount = 1.0;
        }
    }

    fn balances(&mut self, ev: &mut AccountEvent) {
        let wallet = self.rng.range(9_000.0, 11_000.0);
        let some = |rng: &mut Rng, x: f64| if rng.chance(0.7) { Some(x) } else { None };
        let figures = [
            some(&mut self.rng, wallet),
            some(&mut self.rng, wallet * 0.8),
            some(&mut self.rng, wallet * 0.1),
            some(&mut self.rng, wallet * 0.02),
        ];
        ev.wallet_balance = opt_number(&mut self.rng, figures[0], 0.04);
        ev.available_margin = opt_number(&mut self.rng, figures[1], 0.03);
        ev.used_margin = opt_number(&mut self.rng, figures[2], 0.03);
        ev.maint_margin = opt_number(&mut self.rng, figures[3], 0.03);
        if self.rng.chance(0.03) {
            ev.amount = 2.0;
        }
    }

    fn mark(&mut self) -> Input {
        let (asset, price) = self.asset();
        let price = number(&mut self.rng, price, 0.05);
        let ts = self.stamp();
        Input::Mark { asset, price, ts }
    }

    fn edge(&mut self) -> Input {
        let (asset, _) = self.asset();
        let edge_bps = self.rng.range(-5.0, 20.0);
        let edge_bps = number(&mut self.rng, edge_bps, 0.05);
        let ts = self.stamp();
        Input::Edge {
            asset,
            edge_bps,
            ts,
        }
    }

    fn control(&mut self) -> Input {
        let mode = self.rng.chance(0.7).then(|| {
            [
                ControlMode::Live,
                ControlMode::Paper,
                ControlMode::Shadow,
                ControlMode::ReduceOnly,
                ControlMode::Halted,
            ][self.rng.weighted(&[25, 35, 10, 15, 15])]
        });
        let verbosity = self.rng.chance(0.3).then(|| *self.rng.pick(Verbosity::ALL));
        let debug = match self.rng.weighted(&[75, 20, 5]) {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        };
        let n = self.next();
        let source = id_or_odd(&mut self.rng, "ops".into(), n, 0.2);
        let ts = self.stamp();
        Input::Control {
            mode,
            verbosity,
            debug,
            source,
            ts,
        }
    }

    fn exchange_config(&mut self) -> Vec<(String, f64)> {
        let mut fields = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            let (field, value) = match self.rng.below(7) {
                0 => ("taker_rate", self.rng.range(0.0002, 0.001)),
                1 => ("maker_rate", self.rng.range(-0.0002, 0.0004)),
                2 => ("lot_step", *self.rng.pick(&[0.0, 0.001, 0.01, 1e-16])),
                3 => ("tick_size", *self.rng.pick(&[0.0, 0.01, 0.1, 0.5])),
                4 => ("min_notional", *self.rng.pick(&[0.0, 5.0, 10.0])),
                5 => (
                    "funding_interval_secs",
                    *self.rng.pick(&[28_800.0, 3_600.0]),
                ),
                _ => ("taker_fee", 0.001),
            };
            let value = number(&mut self.rng, value, 0.08);
            fields.push((field.to_string(), value));
        }
        fields
    }

    fn seed_capital(&mut self) -> f64 {
        let capital = self.rng.range(1_000.0, 50_000.0);
        number(&mut self.rng, capital, 0.2)
    }

    fn market_limits(&mut self) -> Input {
        let (asset, _) = self.asset();
        let mut fields = Vec::new();
        for _ in 0..self.rng.below(4) {
            let (field, value) = match self.rng.below(5) {
                0 => ("lot_step", *self.rng.pick(&[0.0, 0.001, 0.01, 0.1])),
                1 => ("tick_size", *self.rng.pick(&[0.0, 0.01, 0.05])),
                2 => ("min_qty", *self.rng.pick(&[0.0, 0.01, 0.5])),
                3 => ("min_notional", *self.rng.pick(&[0.0, 1.0, 5.0])),
                _ => ("max_qty", 1.0),
            };
            let value = number(&mut self.rng, value, 0.06);
            fields.push((field.to_string(), value));
        }
        Input::MarketLimits { asset, fields }
    }

    fn risk_limits(&mut self) -> Vec<(String, ConfigValue)> {
        let mut updates = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            let on = self.rng.chance(0.7);
            let num = |rng: &mut Rng, lo: f64, hi: f64| {
                if on {
                    let v = rng.range(lo, hi);
                    ConfigValue::Num(number(rng, v, 0.08))
                } else {
                    ConfigValue::Off
                }
            };
            let (field, value) = match self.rng.below(8) {
                0 => ("max_leverage", num(&mut self.rng, 1.0, 20.0)),
                1 => ("max_notional_per_asset", num(&mut self.rng, 50.0, 2_000.0)),
                2 => ("max_notional_total", num(&mut self.rng, 100.0, 5_000.0)),
                3 => ("max_order_rate", num(&mut self.rng, 0.5, 20.0)),
                4 => {
                    let regime = *self
                        .rng
                        .pick(&["NEUTRAL", "BULL", "BEAR", "bear", "sideways"]);
                    ("regime", ConfigValue::Text(regime.into()))
                }
                5 => ("edge_freeze_threshold_bps", num(&mut self.rng, -2.0, 5.0)),
                6 => (
                    "require_source_run_in_live",
                    ConfigValue::Flag(self.rng.chance(0.5)),
                ),
                _ => ("max_drawdown", ConfigValue::Num(1.0)),
            };
            updates.push((field.to_string(), value));
        }
        updates
    }

    fn slot_metadata(&mut self, k: &Kernel) -> Input {
        let slot_id = self.slot_any(k);
        let mut metadata = Metadata::new();
        for _ in 0..self.rng.below(3) {
            let n = self.next();
            let value = match self.rng.below(5) {
                0 => MetaValue::Null,
                1 => MetaValue::Bool(true),
                2 => MetaValue::Int(-(n as i64)),
                3 => MetaValue::Float(number(&mut self.rng, 0.5, 0.2)),
                _ => MetaValue::Str(odd_id(&mut self.rng, n)),
            };
            metadata.insert(format!("key{}", self.rng.below(4)), value);
        }
        Input::SlotMetadata { slot_id, metadata }
    }

    fn slot_exit_legs(&mut self, k: &Kernel) -> Input {
        let slot_id = self.slot_any(k);
        let ratios = self.legs();
        Input::SlotExitLegs { slot_id, ratios }
    }

    /// The kernel's own slots, as a saved state: as they are, or with one reset, re-marked or
    /// broken, or too few or too many.
    fn replace_slots(&mut self, k: &Kernel) -> Vec<TradeSlot> {
        let mut slots = k.slots().to_vec();
        let i = self.rng.below(slots.len());
        match self.rng.weighted(&[30, 20, 15, 10, 10, 15]) {
            0 => {}
            1 => slots[i] = TradeSlot::new(i),
            2 => slots[i].mark_price = self.rng.range(1.0, 100.0),
            3 => {
                if self.rng.chance(0.5) {
                    slots.pop();
                } else {
                    slots.push(TradeSlot::new(slots.len()));
                }
            }
            4 => match self.rng.below(3) {
                0 => slots[i].size = f64::NAN,
                1 => slots[i].entry_price = -1.0,
                _ => slots[i].active_leg_index = 7,
            },
            _ => {
                slots[i]
                    .metadata
                    .insert("restored".into(), MetaValue::Bool(true));
            }
        }
        slots
    }

    fn calibrate_fee(&mut self) -> Input {
        let (price, qty, rate) = (
            self.rng.range(1.0, 100.0),
            self.rng.range(0.01, 3.0),
            self.rng.range(-0.0002, 0.002),
        );
        let actual_fee = number(&mut self.rng, price * qty * rate, 0.05);
        let price = number(&mut self.rng, price, 0.05);
        let qty = number(&mut self.rng, qty, 0.05);
        let maker = self.rng.chance(0.4);
        Input::CalibrateFee {
            price,
            qty,
            actual_fee,
            maker,
        }
    }
}
