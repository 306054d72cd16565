//! A loop's connection slots: indices handed out lowest first, and memory
//! given back after a burst.
//!
//! Events and timers name a connection by (slot index, generation); a
//! closed slot's generation moves on, so stale names miss. The slab hands
//! out the lowest free index, so after a burst of connections new ones
//! fill the front while the burst's drain from the back; [`Slab::trim`]
//! drops the free tail and its capacity as it empties. Slots created again at a trimmed index start past
//! every generation the trimmed slots had, so no stale name can match them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::event_loop::TcpConn;
use crate::timer::TimerMeta;

/// Slots a loop keeps whatever happens (trimming below this gains nothing).
const KEEP: usize = 256;

/// A slot of connection type `C` (the epoll loop's by default; the
/// io_uring loop has its own).
pub(crate) struct Slot<C = TcpConn> {
    pub(crate) generation: u32,
    pub(crate) conn: Option<Box<C>>,
    /// Checked out: a thread is driving the connection.
    pub(crate) out: bool,
    /// An event arrived while checked out.
    pub(crate) missed: bool,
    pub(crate) timer: TimerMeta,
}

impl<C> Slot<C> {
    fn new(generation: u32) -> Slot<C> {
        Slot {
            generation,
            conn: None,
            out: false,
            missed: false,
            timer: TimerMeta::default(),
        }
    }

    fn in_use(&self) -> bool {
        self.conn.is_some() || self.out
    }
}

pub(crate) struct Slab<C = TcpConn> {
    pub(crate) slots: Vec<Slot<C>>,
    /// Free indices, lowest first.
    free: BinaryHeap<Reverse<u32>>,
    /// Slots in use (allocated and not yet freed).
    live: usize,
    /// Generation of a slot created at an index that was trimmed before:
    /// past every generation any trimmed slot had.
    gen_floor: u32,
}

impl<C> Slab<C> {
    pub(crate) fn new() -> Slab<C> {
        Slab {
            slots: Vec::new(),
            free: BinaryHeap::new(),
            live: 0,
            gen_floor: 0,
        }
    }

    /// Slots in use.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Takes the lowest free slot (or a new one): its index. The slot is
    /// empty; its generation is the connection's.
    pub(crate) fn alloc(&mut self) -> u32 {
        self.live += 1;
        while let Some(Reverse(i)) = self.free.pop() {
            // Entries for slots trimmed away are skipped.
            if (i as usize) < self.slots.len() {
                return i;
            }
        }
        self.slots.push(Slot::new(self.gen_floor));
        (self.slots.len() - 1) as u32
    }

    /// Gives back a slot that [`alloc`](Self::alloc) returned but that was
    /// never used (its generation did not change).
    pub(crate) fn unalloc(&mut self, idx: u32) {
        self.live -= 1;
        self.free.push(Reverse(idx));
    }

    /// Frees a slot whose connection closed: a new generation, so stale
    /// events and timers miss it. Its timer's sequence carries over.
    pub(crate) fn free(&mut self, idx: u32) {
        let slot = &mut self.slots[idx as usize];
        debug_assert!(slot.conn.is_none());
        slot.generation = slot.generation.wrapping_add(1);
        slot.timer = TimerMeta {
            seq: slot.timer.seq,
            ..TimerMeta::default()
        };
        self.live -= 1;
        self.free.push(Reverse(idx));
    }

    /// Gives back the memory of a burst: drops the free slots at the end
    /// (keeping [`KEEP`]), shrinks the capacity once it is more than twice
    /// what is left, and drops the free list's entries for dropped slots.
    /// Costs one look at the last slot when there is nothing to drop. Call
    /// it where no index into the slab is being iterated (the loop calls it
    /// before polling).
    pub(crate) fn trim(&mut self) {
        let before = self.slots.len();
        while self.slots.len() > KEEP && self.slots.last().is_some_and(|s| !s.in_use()) {
            if let Some(s) = self.slots.pop() {
                self.gen_floor = self.gen_floor.max(s.generation.wrapping_add(1));
            }
        }
        let len = self.slots.len();
        if len == before {
            return;
        }
        if self.slots.capacity() > 2 * len.max(KEEP) {
            self.slots.shrink_to(len + len / 4);
        }
        if self.free.len() > 2 * len.max(KEEP) {
            self.free.retain(|&Reverse(i)| (i as usize) < len);
            self.free.shrink_to_fit();
        }
    }

    /// Capacity held, in slots (for tests).
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.slots.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_index_first() {
        let mut s = Slab::<()>::new();
        let ids: Vec<u32> = (0..5).map(|_| s.alloc()).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4]);
        s.free(3);
        s.free(1);
        assert_eq!(s.alloc(), 1);
        assert_eq!(s.alloc(), 3);
        assert_eq!(s.alloc(), 5);
        assert_eq!(s.slots[1].generation, 1, "a freed slot moves on");
        assert_eq!(s.live(), 6);
    }

    /// Takes a slot and marks it in use (a checked-out connection: tests
    /// make no sockets).
    fn take(s: &mut Slab<()>) -> u32 {
        let i = s.alloc();
        s.slots[i as usize].out = true;
        i
    }

    fn give(s: &mut Slab<()>, i: u32) {
        s.slots[i as usize].out = false;
        s.free(i);
    }

    /// After a burst, the slab's memory goes back once the connections
    /// close, and a slot made again at a trimmed index has a generation no
    /// earlier slot at that index had.
    #[test]
    fn a_burst_is_given_back() {
        let mut s = Slab::<()>::new();
        let n = 100_000;
        for _ in 0..n {
            take(&mut s);
        }
        // A few stay open, scattered; the rest close in random order.
        let stay = [7u32, 100, 5_000];
        let mut order: Vec<u32> = (0..n as u32).filter(|i| !stay.contains(i)).collect();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in (1..order.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let old_gen_at_9000 = s.slots[9_000].generation;
        for i in order {
            give(&mut s, i);
            s.trim();
        }
        assert_eq!(s.live(), stay.len());
        assert!(s.slots.len() <= 5_001, "slots left: {}", s.slots.len());
        assert!(s.capacity() <= 6_300, "capacity left: {}", s.capacity());
        // New connections fill the holes first...
        let i = take(&mut s);
        assert_eq!(i, 0);
        // ...and past the trimmed tail a slot is new, with a new generation.
        while (s.slots.len() as u32) <= 9_000 {
            take(&mut s);
        }
        assert!(s.slots[9_000].generation > old_gen_at_9000 + 1);
        // Once the last ones close, the slab is down to KEEP.
        let all: Vec<u32> = (0..s.slots.len() as u32).collect();
        for i in all {
            give(&mut s, i);
        }
        s.trim();
        assert_eq!(s.slots.len(), KEEP);
        assert!(s.capacity() <= 2 * KEEP);
        assert!(s.free.len() <= 2 * KEEP);
    }
}
