//! A hashed timer wheel with lazy re-arming, one per event loop.
//!
//! Each connection slot has at most one live entry. Moving a deadline later
//! (what every request does) touches only the slot's `deadline` field; when
//! the entry fires early it is re-filed at the slot's current deadline. So a
//! busy connection costs no wheel operation per request, and no timer is
//! ever allocated per connection (bucket vectors keep their capacity).

/// Milliseconds per wheel tick.
pub(crate) const TICK_MS: u64 = 8;
/// Buckets in the wheel (a power of two); the wheel spans about 32 s, later
/// deadlines simply go round more than once.
const BUCKETS: usize = 4096;
/// Entries a drained bucket keeps room for; a burst's larger buckets give
/// their memory back when they fire.
const BUCKET_KEEP: usize = 64;

/// A wheel entry: which slot, which incarnation of it, which arming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) idx: u32,
    pub(crate) generation: u32,
    pub(crate) seq: u32,
}

/// Timer bookkeeping kept in each connection slot.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimerMeta {
    /// Absolute deadline in ms since the server's epoch; 0 = none.
    pub(crate) deadline: u64,
    /// Sequence number of the live entry (older entries are stale).
    pub(crate) seq: u32,
    /// Tick at which the live entry fires; `None` when no entry is live.
    pub(crate) tick: Option<u64>,
}

pub(crate) struct Wheel {
    buckets: Vec<Vec<Entry>>,
    /// One bit per bucket, set while the bucket holds entries, so the next
    /// due bucket is found a word (64 buckets) at a time.
    occupied: Vec<u64>,
    /// Every bucket before this tick has been fired.
    cur: u64,
    len: usize,
}

impl Wheel {
    pub(crate) fn new(now_ms: u64) -> Wheel {
        Wheel {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            occupied: vec![0; BUCKETS / 64],
            cur: now_ms / TICK_MS,
            len: 0,
        }
    }

    /// Sets `meta`'s deadline (0 clears it) and files an entry if the live
    /// one would fire too late or there is none.
    #[inline]
    pub(crate) fn arm(&mut self, meta: &mut TimerMeta, idx: u32, generation: u32, deadline: u64) {
        meta.deadline = deadline;
        if deadline == 0 {
            return;
        }
        let tick = deadline.div_ceil(TICK_MS).max(self.cur);
        if meta.tick.is_some_and(|t| t <= tick) {
            return; // fires earlier, then re-files itself lazily
        }
        self.file(meta, idx, generation, tick);
    }

    /// Files a new entry for `meta` at `tick` (out of line: a busy
    /// connection's deadline only moves later, which needs none).
    #[inline(never)]
    fn file(&mut self, meta: &mut TimerMeta, idx: u32, generation: u32, tick: u64) {
        meta.seq = meta.seq.wrapping_add(1);
        meta.tick = Some(tick);
        let b = (tick as usize) & (BUCKETS - 1);
        self.buckets[b].push(Entry {
            idx,
            generation,
            seq: meta.seq,
        });
        self.occupied[b / 64] |= 1 << (b % 64);
        self.len += 1;
    }

    /// Moves every entry due at or before `now_ms` into `out`.
    pub(crate) fn advance(&mut self, now_ms: u64, out: &mut Vec<Entry>) {
        let target = now_ms / TICK_MS;
        let mut steps = 0;
        while self.cur <= target && steps < BUCKETS && self.len > 0 {
            let i = (self.cur as usize) & (BUCKETS - 1);
            let b = &mut self.buckets[i];
            self.len -= b.len();
            out.append(b);
            if b.capacity() > BUCKET_KEEP {
                b.shrink_to(BUCKET_KEEP);
            }
            self.occupied[i / 64] &= !(1 << (i % 64));
            self.cur += 1;
            steps += 1;
        }
        if self.cur <= target {
            self.cur = target + 1;
        }
    }

    /// Milliseconds until the next non-empty bucket is due, if any.
    pub(crate) fn next_timeout(&self, now_ms: u64) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        // Scan the occupancy bitmap from `cur`, wrapping once round the
        // wheel: at most BUCKETS / 64 + 1 words.
        let start = (self.cur as usize) & (BUCKETS - 1);
        let words = BUCKETS / 64;
        let mut word = start / 64;
        let mut bits = self.occupied[word] & (!0u64 << (start % 64));
        for _ in 0..=words {
            if bits != 0 {
                let b = word * 64 + bits.trailing_zeros() as usize;
                let ahead = (b + BUCKETS - start) & (BUCKETS - 1);
                let t = self.cur + ahead as u64;
                return Some((t * TICK_MS).saturating_sub(now_ms));
            }
            word = (word + 1) % words;
            bits = self.occupied[word];
        }
        None
    }

    /// Decides what a fired entry means for its slot: `true` when the slot's
    /// deadline has passed (the caller acts on it). Stale entries and entries
    /// that fired early (re-filed here) return `false`.
    pub(crate) fn fire(&mut self, e: Entry, meta: &mut TimerMeta, now_ms: u64) -> bool {
        if meta.seq != e.seq || meta.tick.is_none() {
            return false;
        }
        meta.tick = None;
        if meta.deadline == 0 {
            return false;
        }
        if meta.deadline <= now_ms {
            meta.deadline = 0;
            return true;
        }
        let d = meta.deadline;
        self.arm(meta, e.idx, e.generation, d);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(w: &mut Wheel, metas: &mut [TimerMeta], now: u64) -> Vec<u32> {
        let mut due = Vec::new();
        w.advance(now, &mut due);
        let mut fired = Vec::new();
        for e in due {
            if w.fire(e, &mut metas[e.idx as usize], now) {
                fired.push(e.idx);
            }
        }
        fired
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let mut w = Wheel::new(1000);
        let mut m = [TimerMeta::default(); 2];
        w.arm(&mut m[0], 0, 0, 1100);
        w.arm(&mut m[1], 1, 0, 1500);
        assert!(run(&mut w, &mut m, 1050).is_empty());
        assert_eq!(run(&mut w, &mut m, 1104), vec![0]);
        assert!(run(&mut w, &mut m, 1400).is_empty());
        assert_eq!(run(&mut w, &mut m, 1600), vec![1]);
        assert_eq!(w.next_timeout(1600), None);
    }

    #[test]
    fn moving_later_is_lazy_and_earlier_refiles() {
        let mut w = Wheel::new(0);
        let mut m = [TimerMeta::default(); 1];
        w.arm(&mut m[0], 0, 0, 100);
        w.arm(&mut m[0], 0, 0, 300); // later: no new entry
        assert_eq!(w.len, 1);
        assert!(run(&mut w, &mut m, 120).is_empty()); // re-filed at 300
        assert_eq!(run(&mut w, &mut m, 310), vec![0]);
        w.arm(&mut m[0], 0, 0, 1000);
        w.arm(&mut m[0], 0, 0, 50 + 310); // earlier: new entry, old one stale
        assert_eq!(run(&mut w, &mut m, 370), vec![0]);
        assert!(run(&mut w, &mut m, 2000).is_empty());
    }

    #[test]
    fn cleared_deadline_never_fires_and_far_deadlines_wrap() {
        let mut w = Wheel::new(0);
        let mut m = [TimerMeta::default(); 1];
        w.arm(&mut m[0], 0, 0, 100);
        w.arm(&mut m[0], 0, 0, 0);
        assert!(run(&mut w, &mut m, 200).is_empty());
        let far = (BUCKETS as u64) * TICK_MS * 3 + 5;
        w.arm(&mut m[0], 0, 0, far);
        let mut now = 200;
        while now < far - TICK_MS {
            assert!(run(&mut w, &mut m, now).is_empty(), "fired early at {now}");
            now += 1000;
        }
        assert_eq!(run(&mut w, &mut m, far + TICK_MS), vec![0]);
    }

    #[test]
    fn next_timeout_points_at_first_bucket() {
        let mut w = Wheel::new(0);
        let mut m = [TimerMeta::default(); 1];
        w.arm(&mut m[0], 0, 0, 80);
        let t = w.next_timeout(0).unwrap();
        assert!((80..80 + TICK_MS).contains(&t), "{t}");
    }

    /// The bitmap scan agrees with a bucket-by-bucket scan, across the wrap
    /// of the wheel and as buckets are drained.
    #[test]
    fn next_timeout_matches_a_linear_scan() {
        fn linear(w: &Wheel, now: u64) -> Option<u64> {
            if w.len == 0 {
                return None;
            }
            (0..BUCKETS as u64)
                .map(|i| w.cur + i)
                .find(|&t| !w.buckets[(t as usize) & (BUCKETS - 1)].is_empty())
                .map(|t| (t * TICK_MS).saturating_sub(now))
        }
        let mut w = Wheel::new(1_000_000);
        let mut metas = vec![TimerMeta::default(); 64];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut now = 1_000_000;
        for round in 0..2000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % 64) as usize;
            let d = now + 1 + (x >> 8) % 60_000;
            w.arm(&mut metas[i], i as u32, 0, d);
            if round % 7 == 0 {
                now += (x >> 20) % 5_000;
                run(&mut w, &mut metas, now);
            }
            assert_eq!(w.next_timeout(now), linear(&w, now), "round {round}");
        }
    }
}
