//! The outbox: each table's rows queued in segments, numbered within their input, bounded
//! by a capacity past which the oldest inputs are dropped and counted, and taken by a
//! drain in whole inputs.

use super::*;

/// Rows an outbox holds at most unless told otherwise.
pub const DEFAULT_JOURNAL_CAPACITY: usize = 1_000_000;

/// How many of a table's first segments (in seq order) hold only rows below `cut`.
fn wholly_below(segments: &[RowBuf], cut: u64) -> usize {
    segments.partition_point(|s| s.last_seq().is_some_and(|last| last < cut))
}

/// Rows waiting for a journal. Each table (in `TABLES` order) is a queue of segments, oldest
/// first, its rows in seq order, and its rows are written into the last one. A segment is a
/// [`RowBuf`] of fixed size ([`SEGMENT_BYTES`]) and is never regrown: once it has less than
/// `ROW_ROOM` (1 KiB) left, or its row starts are used up, the next row starts a new
/// segment from the pool. Rows never span segments; a row longer than the room left (long
/// strings or details) grows its segment, which then takes no more rows. A take hands out
/// whole segments; rows dropped for capacity are passed over, and a segment they empty goes
/// back to the pool, so an outbox nobody drains holds its capacity's rows plus at most the
/// passed-over front of one segment per table.
#[derive(Clone, Debug)]
pub struct Outbox {
    /// Whether rows are recorded: a journal is attached and the control plane lets it write.
    pub enabled: bool,
    /// Which rows are recorded (see [`Outbox::wants`]).
    pub verbosity: Verbosity,
    /// Rows held at most; beyond it the oldest row is dropped and counted.
    pub capacity: usize,
    /// Every segment holds rows: one emptied goes back to the pool.
    pub(super) tables: [Vec<RowBuf>; 6],
    /// Rows held, over all tables.
    pub(super) len: usize,
    /// Rows dropped for capacity since the outbox was made.
    pub dropped: u64,
    /// The oldest input whose rows were dropped since [`Outbox::restart`]: a journal must
    /// not vouch for rows from there on.
    pub first_dropped_seq: Option<u64>,
    /// Inputs up to here are being derived again from the write-ahead log (see
    /// [`Outbox::clear_drop_mark`]): dropping their rows now loses nothing, so it is not marked.
    pub(super) covered_through: u64,
    /// Rows recorded since the outbox was made, the dropped ones included and the discarded
    /// ones ([`Outbox::discard_from`]) not.
    pub queued_total: u64,
    /// The input whose rows are being recorded.
    pub(super) current_seq: u64,
    /// Per table, the `sub` of the next row of `current_seq`.
    pub(super) next_sub: [u32; 6],
    /// Where new segments come from and where a drainer gives taken ones back.
    pub pool: &'static SegmentPool,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            enabled: false,
            verbosity: Verbosity::Normal,
            capacity: DEFAULT_JOURNAL_CAPACITY,
            tables: Default::default(),
            len: 0,
            dropped: 0,
            first_dropped_seq: None,
            covered_through: 0,
            queued_total: 0,
            current_seq: 0,
            next_sub: [0; 6],
            pool: &SEGMENT_POOL,
        }
    }
}

impl Outbox {
    /// Whether rows of `level` are recorded.
    #[inline]
    pub fn wants(&self, level: Verbosity) -> bool {
        self.enabled && self.verbosity >= level
    }

    /// A writer for a new row of `table` for input `seq`, made in the caller (always
    /// inlined), so it stays in registers; `begin`, out of line, hands over the buffer.
    #[inline(always)]
    pub(super) fn row(&mut self, table: usize, seq: u64) -> RowWriter<'_> {
        RowWriter::new(self.begin(table, seq))
    }

    /// Starts a row of `table` for input `seq`: numbers it within the input, makes room.
    fn begin(&mut self, table: usize, seq: u64) -> &mut Vec<u8> {
        if seq != self.current_seq {
            self.current_seq = seq;
            self.next_sub = [0; 6];
        }
        let sub = self.next_sub[table];
        self.next_sub[table] += 1;
        if self.len >= self.capacity {
            self.drop_oldest();
        }
        self.queued_total += 1;
        self.len += 1;
        let segments = &mut self.tables[table];
        if !segments.last_mut().is_some_and(|s| s.start_row(seq, sub)) {
            self.open_segment(table, seq, sub);
        }
        let segment = self.tables[table].last_mut().expect("the row's segment");
        &mut segment.bytes
    }

    /// Starts the row in a new segment, once a segment's worth of rows: kept out of line so
    /// `begin` stays small.
    #[cold]
    #[inline(never)]
    fn open_segment(&mut self, table: usize, seq: u64, sub: u32) {
        let mut segment = self.pool.take();
        assert!(segment.start_row(seq, sub), "a new segment has room");
        self.tables[table].push(segment);
    }

    /// Rows waiting, over all tables.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops every row of the oldest input held, so that what is left (and what a journal
    /// later finds missing) always starts on a whole input; never the input being recorded.
    /// Only when the outbox is full: kept out of line so `begin` stays small.
    #[cold]
    #[inline(never)]
    fn drop_oldest(&mut self) {
        let Some(oldest) = self.first_seq().filter(|&seq| seq != self.current_seq) else {
            return;
        };
        if oldest > self.covered_through {
            self.first_dropped_seq.get_or_insert(oldest);
        }
        for segments in &mut self.tables {
            // An input's rows may run over into the next segments.
            while let Some(front) = segments.first_mut() {
                // Every row held is of `oldest` or later.
                let n = front.count_below(oldest + 1);
                front.discard_front(n);
                self.len -= n;
                self.dropped += n as u64;
                if !front.is_empty() {
                    break;
                }
                // A few hundred segments at most to move, once per segment's worth of rows.
                self.pool.give([segments.remove(0)]);
            }
        }
    }

    /// Forgets every row held and every drop counted since the last restart: for a journal
    /// that derives the rows up to now from the write-ahead log instead. The segments go
    /// back to the pool.
    pub fn restart(&mut self) {
        for segments in self.take_rows(usize::MAX) {
            self.pool.give(segments);
        }
        self.first_dropped_seq = None;
    }

    /// Forgets the mark of dropped inputs for a journal that derives the rows of every input
    /// up to `through` from the write-ahead log, rows still held included: dropping those
    /// later is not marked either. Drops of later inputs are still marked.
    pub fn clear_drop_mark(&mut self, through: u64) {
        self.first_dropped_seq = None;
        self.covered_through = self.covered_through.max(through);
    }

    /// Forgets the rows of inputs from `seq` on, the newest held: those of an input the
    /// kernel applied but could not log, which must not reach a journal (a restart does not
    /// know them, and gives their seq to another input). Returns how many rows went.
    pub fn discard_from(&mut self, seq: u64) -> usize {
        let mut gone = 0;
        for segments in &mut self.tables {
            while let Some(last) = segments.last_mut() {
                let keep = last.count_below(seq);
                gone += last.len() - keep;
                last.truncate_rows(keep);
                if !last.is_empty() {
                    break;
                }
                self.pool.give(segments.pop());
            }
        }
        self.len -= gone;
        self.queued_total -= gone as u64;
        gone
    }

    /// The seq of the oldest row held (rows dropped for capacity are not held).
    pub fn first_seq(&self) -> Option<u64> {
        self.tables
            .iter()
            .filter_map(|segments| segments.first())
            .map(|s| s.seq(0))
            .min()
    }

    /// How many rows of `table` have a seq below `cut`; `before[i]` is the number of rows
    /// in the table's segments before segment `i` (and, last, all of them).
    fn count_below(&self, table: usize, cut: u64, before: &[usize]) -> usize {
        let segments = &self.tables[table];
        let whole = wholly_below(segments, cut);
        before[whole] + segments.get(whole).map_or(0, |s| s.count_below(cut))
    }

    /// Takes the oldest rows, per table in `TABLES` order: every row below some seq, and at
    /// most `max_rows` of them unless the oldest seq alone has more (it is never split, so a
    /// drain always ends on a whole input: whoever stores drains in order knows every row
    /// below the last seq it stored is stored). Concatenated into one buffer per table; the
    /// segments go back to the pool.
    pub fn drain_tables(&mut self, max_rows: usize) -> [RowBuf; 6] {
        let pool = self.pool;
        self.take_rows(max_rows).map(|segments| pool.join(segments))
    }

    /// The rows [`Outbox::drain_tables`] takes, as each table's segments in order, to be given
    /// back to [`Outbox::pool`] once read. Taking everything hands out every segment, so the
    /// kernel copies nothing. A partial take hands out the segments below the cut and copies
    /// the rows below it out of the one the cut falls in: a copy of at most a segment, however
    /// many rows are taken.
    pub fn take_rows(&mut self, max_rows: usize) -> [Vec<RowBuf>; 6] {
        self.take_rows_through(max_rows, None)
    }

    /// [`Outbox::take_rows`] of the rows of inputs up to seq `through` (all with `None`): the
    /// rows of later inputs wait, whole, for a later take. A kernel with a write-ahead log
    /// journals only what the log holds, so a journal is never ahead of what a restart
    /// recovers (its rows past the log's end would take the keys of the inputs after it).
    pub fn take_rows_through(&mut self, max_rows: usize, through: Option<u64>) -> [Vec<RowBuf>; 6] {
        let last = self
            .tables
            .iter()
            .filter_map(|segments| segments.last().and_then(RowBuf::last_seq))
            .max();
        let held_back = matches!((through, last), (Some(t), Some(l)) if l > t);
        if self.len <= max_rows && !held_back {
            self.len = 0;
            // Into new lists, allocated here: the strategy thread's next segments go into the
            // outbox's own.
            return self.tables.each_mut().map(|s| s.split_off(0));
        }
        let first = self.first_seq();
        let (Some(first), Some(last)) = (first, last) else {
            return Default::default();
        };
        let last = through.map_or(last, |t| last.min(t));
        if last < first {
            return Default::default(); // the oldest input is not in the log yet
        }
        let cut = self.cut(first, last, max_rows);
        let taken = std::array::from_fn(|t| self.take_below(t, cut));
        self.len -= taken.iter().flatten().map(RowBuf::len).sum::<usize>();
        taken
    }

    /// The highest seq in `first + 1..=last + 1` with at most `max_rows` rows below it, or
    /// `first + 1` (the oldest input whole) when even that one has more.
    fn cut(&self, first: u64, last: u64, max_rows: usize) -> u64 {
        // Rows before each segment, counted once: each step of the search below is then a
        // search among the segments and in one of them, not a sum over a backlog's hundreds.
        let before = self.tables.each_ref().map(|segments| {
            let mut at = Vec::with_capacity(segments.len() + 1);
            at.push(0);
            for s in segments {
                at.push(at[at.len() - 1] + s.len());
            }
            at
        });
        let below = |cut: u64| {
            (0..6)
                .map(|t| self.count_below(t, cut, &before[t]))
                .sum::<usize>()
        };
        let (mut lo, mut hi) = (first + 1, last + 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if below(mid) <= max_rows {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }

    /// The rows of `table` below `cut`: the segments wholly below it, and a copy of the rows
    /// below it in the segment it falls in, which keeps the rest.
    fn take_below(&mut self, table: usize, cut: u64) -> Vec<RowBuf> {
        let segments = &mut self.tables[table];
        let whole = wholly_below(segments, cut);
        let mut taken: Vec<RowBuf> = segments.drain(..whole).collect();
        if let Some(front) = segments.first_mut() {
            let n = front.count_below(cut);
            if n > 0 {
                let mut part = self.pool.take();
                part.extend_from(front, 0, n);
                front.discard_front(n);
                taken.push(part);
            }
        }
        taken
    }
}
