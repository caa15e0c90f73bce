//! The order-rate window: the submit times of the last second, which the `max_order_rate`
//! check counts.

use super::MAX_ORDER_RATE;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Submit timestamps within the last second, for the order-rate rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RateWindow {
    stamps: VecDeque<f64>,
    /// Whether the stamps are known to be in order (none later than the next): `count` then
    /// drops the old ones off the front rather than walk them all. Not in a checkpoint:
    /// false once loaded, until a count looks.
    #[serde(skip)]
    ordered: bool,
}

/// The window's stamps, whatever it knows of their order.
impl PartialEq for RateWindow {
    fn eq(&self, other: &Self) -> bool {
        self.stamps == other.stamps
    }
}

impl RateWindow {
    /// How many submits happened within a second of `now`, before or after it. No stamp is
    /// rewritten: one far ahead (another process's clock) counts only once `now` is within
    /// a second of it. The stamps a second or more before both `now` and the latest stamp
    /// less than a second after it leave, so a count taken ahead of the orders keeps the
    /// latest order's second.
    pub fn count(&mut self, now: f64) -> usize {
        if self.ordered && self.stamps.back().is_none_or(|&t| t - now < 1.0) {
            // In order, none a second or more ahead: the old ones are in front.
            let newest = self.stamps.back().map_or(now, |&t| t.min(now));
            self.drop_old(newest);
            // Those kept for the newest's second but a second before `now` are in front.
            let behind = match self.stamps.front() {
                Some(&t) if now - t >= 1.0 => self.stamps.partition_point(|&t| now - t >= 1.0),
                _ => 0,
            };
            return self.stamps.len() - behind;
        }
        let newest = self
            .stamps
            .iter()
            .filter(|&&t| t - now < 1.0)
            .fold(f64::NEG_INFINITY, |m, &t| m.max(t));
        let keep_from = now.min(newest);
        self.stamps.retain(|&t| keep_from - t < 1.0);
        self.ordered = self.in_order();
        self.stamps
            .iter()
            .filter(|&&t| now - t < 1.0 && t - now < 1.0)
            .count()
    }

    /// Whether no stamp is later than the next.
    fn in_order(&self) -> bool {
        let (a, b) = self.stamps.as_slices();
        a.is_sorted() && b.is_sorted() && a.last().zip(b.first()).is_none_or(|(x, y)| x <= y)
    }

    /// Drops the stamps in front a second or more before `now`.
    fn drop_old(&mut self, now: f64) {
        while let Some(&t) = self.stamps.front() {
            if now - t >= 1.0 {
                self.stamps.pop_front();
            } else {
                break;
            }
        }
    }

    pub fn record(&mut self, now: f64) {
        if self.stamps.back().is_some_and(|&t| t > now) {
            self.ordered = false;
        }
        self.stamps.push_back(now);
        // The window never needs more than the highest rate taken; keep memory bounded.
        if self.stamps.len() > MAX_ORDER_RATE as usize {
            if self.ordered {
                self.stamps.pop_front();
            } else {
                self.drop_farthest(now);
            }
        }
    }

    /// For a window full out of order: drops the stamp farthest from `now`, one a second or
    /// more away if any, rather than the first recorded. A stamp far ahead kept while the first
    /// recorded, within the second, left would hold the count at `now` below the most the
    /// window holds, and a rate of 100,000 would never bind.
    fn drop_farthest(&mut self, now: f64) {
        let away = |t: f64| (now - t).abs();
        let far = (0..self.stamps.len())
            .max_by(|&i, &j| away(self.stamps[i]).total_cmp(&away(self.stamps[j])));
        let far = far.filter(|&i| away(self.stamps[i]) >= 1.0).unwrap_or(0);
        self.stamps.remove(far);
        self.ordered = self.in_order();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_window_slides() {
        let mut w = RateWindow::default();
        for i in 0..5 {
            w.record(10.0 + i as f64 * 0.1);
        }
        assert_eq!(w.count(10.45), 5);
        assert_eq!(w.count(11.25), 2);
        assert_eq!(w.count(20.0), 0);
    }

    #[test]
    fn a_stamp_ahead_of_the_clock_counts_once_the_clock_is_within_a_second_of_it() {
        let mut w = RateWindow::default();
        w.record(3_610.0); // stamped an hour ahead
        w.record(10.0);
        assert_eq!(w.count(10.5), 1);
        assert_eq!(w.count(3_609.2), 1);
        assert_eq!(w.count(3_610.9), 1);
        assert_eq!(w.count(3_611.0), 0);
    }

    #[test]
    fn a_count_behind_the_stamps_keeps_them_where_they_were() {
        // Stamps less than a second ahead of `now` stay (another process's clock).
        let run = || {
            let mut w = RateWindow::default();
            for _ in 0..5 {
                w.record(10.0);
            }
            (w.count(9.5), w.count(10.5))
        };
        assert_eq!(run(), (5, 5));
    }

    #[test]
    fn a_count_rewrites_no_stamp() {
        let mut w = RateWindow::default();
        for _ in 0..5 {
            w.record(10.0);
        }
        // Two seconds behind: none within a second of it, and none moved.
        assert_eq!(w.count(8.0), 0);
        assert_eq!(w.count(10.2), 5);
        // Half a second ahead of 9.5.
        assert_eq!(w.count(9.5), 5);
        // More than a second after them: none counted, and none dropped, the newest
        // order's second.
        assert_eq!(w.count(11.5), 0);
        w.record(11.5);
        assert_eq!(w.count(10.2), 5);
        assert_eq!(w.count(11.0), 1);
    }

    #[test]
    fn what_remains_a_clock_ahead_with_an_order_in_the_window_drops_the_others() {
        // The window cannot tell clocks apart (docs/concepts/risk.md): the second intent of a clock
        // 1.5 s ahead drops the five at 10.0, and the clock behind gets the rate again.
        let mut w = RateWindow::default();
        for _ in 0..5 {
            w.record(10.0);
        }
        assert_eq!(w.count(11.5), 0);
        w.record(11.5);
        assert_eq!(w.count(10.2), 5);
        assert_eq!(w.count(11.6), 1);
        assert_eq!(w.count(10.2), 0);
    }

    #[test]
    fn unordered_stamps_count_within_a_second_either_way() {
        let mut w = RateWindow::default();
        for t in [10.0, 3_610.0, 10.5, 9.4, 10.9] {
            w.record(t);
        }
        assert_eq!(w.count(10.3), 4); // 10.0, 10.5, 9.4 and 10.9, not 3,610
        assert_eq!(w.count(9.95), 4); // 10.9 is 0.95 after
        assert_eq!(w.count(10.5), 3); // 9.4 is 1.1 before: dropped
        assert_eq!(w.count(10.3), 3);
        // More than a second after every order but 3,610: the latest order's second stays.
        assert_eq!(w.count(12.0), 0);
        w.record(12.0);
        // 10.0 is 0.95 before, 12.0 1.05 after.
        assert_eq!(w.count(10.95), 3);
        // Far ahead: what is a second before it and before 3,610 leaves.
        assert_eq!(w.count(3_609.5), 1);
        assert_eq!(w.count(10.95), 0);
        w.record(3_610.5);
        assert_eq!(w.count(3_611.2), 1);
        assert_eq!(w.stamps, [3_610.0, 3_610.5]);
        assert!(w.ordered);
    }

    #[test]
    fn a_full_window_drops_the_stamp_farthest_from_the_order() {
        // A stamp an hour ahead, recorded after the first order: dropping the first recorded
        // would hold 99,999 within the second, and a rate of 100,000 would never bind.
        let mut w = RateWindow::default();
        w.record(5.0);
        w.record(3_610.0);
        for _ in 1..MAX_ORDER_RATE as usize {
            w.record(5.0); // the last one past the most the window holds
        }
        assert_eq!(w.count(5.0) as f64, MAX_ORDER_RATE);
        assert_eq!(w.count(3_610.0), 0);
        // In order, the first recorded is the farthest.
        w.record(5.5);
        assert_eq!(w.count(5.5) as f64, MAX_ORDER_RATE);
        assert_eq!(w.stamps.back(), Some(&5.5));
    }

    /// The window's count by its definition: every stamp within a second of `now` either way,
    /// those a second or more before both `now` and the latest stamp less than a second after
    /// it dropped.
    fn model_count(stamps: &mut Vec<f64>, now: f64) -> usize {
        let newest = stamps
            .iter()
            .filter(|&&t| t - now < 1.0)
            .fold(f64::NEG_INFINITY, |m, &t| m.max(t));
        stamps.retain(|&t| now.min(newest) - t < 1.0);
        stamps
            .iter()
            .filter(|&&t| now - t < 1.0 && t - now < 1.0)
            .count()
    }

    #[test]
    fn the_window_counts_as_every_stamp_were_looked_at() {
        counts_as_every_stamp_were_looked_at(&mut model_count);
    }

    fn counts_as_every_stamp_were_looked_at(
        model_count: &mut dyn FnMut(&mut Vec<f64>, f64) -> usize,
    ) {
        // Times that mostly go on, at times an hour ahead for one intent, late, or stepped
        // back; some orders recorded with no count (no rate limit then); a checkpoint at times.
        let mut w = RateWindow::default();
        let mut model = Vec::new();
        let (mut now, mut seed) = (1_000.0_f64, 7_u64);
        for i in 0..20_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let r = (seed >> 33) % 100;
            let at = match r {
                0 => now + 3_600.0,
                4 => now + 1.5,     // another process's clock, ahead
                2 | 3 => now - 0.5, // a stamp late, counted (2) or not (3)
                1 => {
                    now -= 2.5;
                    now
                }
                _ => {
                    now += (r as f64) * 1e-3;
                    now
                }
            };
            if r % 7 != 3 {
                assert_eq!(
                    w.count(at),
                    model_count(&mut model, at),
                    "order {i} at {at}"
                );
            }
            w.record(at);
            model.push(at);
            if i % 1_000 == 999 {
                w = bincode::deserialize(&bincode::serialize(&w).unwrap()).unwrap();
            }
        }
    }
}
