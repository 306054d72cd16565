//! The provided-buffer ring of one io_uring loop: a fixed set of equal
//! buffers the kernel picks from when a multishot receive completes.
//!
//! A receive completion names the buffer it filled (its id, in the CQE
//! flags) and how many bytes it holds. Until the loop gives the id back
//! ([`BufRing::recycle`]) the kernel does not write that buffer again, so
//! the bytes may be read through the pointer [`BufRing::slice_ptr`] returns.
//! The loop gives every buffer back within the turn that received it (a
//! connection that cannot take the bytes yet gets a copy), so an idle
//! connection never holds one.

use std::io;

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

/// One registered buffer ring (`IORING_REGISTER_PBUF_RING`) with its
/// buffers, both in anonymous private mappings owned by this value.
pub(crate) struct BufRing {
    /// The ring of `entries` descriptors (page aligned, as the kernel
    /// requires).
    ring: *mut BufRingEntry,
    ring_len: usize,
    /// `entries * size` bytes of buffers.
    bufs: *mut u8,
    bufs_len: usize,
    entries: u16,
    size: u32,
    /// The next descriptor to fill (the kernel reads up to `tail`).
    tail: u16,
    bgid: u16,
}

// SAFETY: the mappings are owned by this value alone (no other Rust value
// points into them except the short-lived slices the loop hands out while it
// owns the loop state); moving the owner to another thread moves nothing the
// kernel cares about.
unsafe impl Send for BufRing {}

/// Maps `len` bytes of zeroed, private, anonymous memory.
fn map(len: usize) -> io::Result<*mut u8> {
    // SAFETY: an anonymous private mapping with no address hint creates new
    // memory and touches no existing mapping.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

impl BufRing {
    /// Maps `entries` buffers of `size` bytes (`entries` a power of two, at
    /// most 32768) and registers them with `ring` as buffer group `bgid`.
    pub(crate) fn new(ring: &IoUring, entries: u16, size: u32, bgid: u16) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 32768 || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a buffer ring needs a power-of-two count (at most 32768) of non-empty buffers",
            ));
        }
        let ring_len = usize::from(entries) * std::mem::size_of::<BufRingEntry>();
        let bufs_len = usize::from(entries) * size as usize;
        let ring_ptr = map(ring_len)?;
        let bufs = match map(bufs_len) {
            Ok(b) => b,
            Err(e) => {
                // SAFETY: `ring_ptr` was mapped above with `ring_len` bytes
                // and nothing refers to it yet.
                unsafe { libc::munmap(ring_ptr.cast(), ring_len) };
                return Err(e);
            }
        };
        let mut me = BufRing {
            ring: ring_ptr.cast(),
            ring_len,
            bufs,
            bufs_len,
            entries,
            size,
            tail: 0,
            bgid,
        };
        // SAFETY: the ring memory is a fresh page-aligned mapping of
        // `entries` descriptors that lives until `Drop`, which runs after the
        // io_uring instance that uses it is dropped or unregistered (see
        // `Drop`); its tail starts at 0 as the kernel expects (zeroed pages).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(me.ring as u64, entries, bgid, 0)?
        };
        for bid in 0..entries {
            me.push(bid);
        }
        me.publish();
        Ok(me)
    }

    /// The buffer group id receives name.
    pub(crate) fn bgid(&self) -> u16 {
        self.bgid
    }

    /// The size of every buffer.
    pub(crate) fn buf_size(&self) -> u32 {
        self.size
    }

    /// The start of buffer `bid` (which the caller got from a completion
    /// and has not recycled yet); `None` for an id out of range.
    pub(crate) fn slice_ptr(&self, bid: u16) -> Option<*const u8> {
        (bid < self.entries).then(|| {
            // SAFETY: `bid < entries`, so the offset stays inside the
            // `bufs_len`-byte mapping.
            unsafe { self.bufs.add(usize::from(bid) * self.size as usize) as *const u8 }
        })
    }

    /// Gives buffer `bid` back to the kernel.
    pub(crate) fn recycle(&mut self, bid: u16) {
        if bid < self.entries {
            self.push(bid);
            self.publish();
        }
    }

    /// Writes descriptor `tail` for buffer `bid` (not yet visible).
    fn push(&mut self, bid: u16) {
        let mask = self.entries - 1;
        let at = usize::from(self.tail & mask);
        // SAFETY: `at < entries`: inside the ring mapping. The kernel only
        // reads descriptors between its head and the published tail, and
        // this one is past the published tail until `publish`.
        let e = unsafe { &mut *self.ring.add(at) };
        // SAFETY: `bid < entries`, inside the buffers' mapping.
        let addr = unsafe { self.bufs.add(usize::from(bid) * self.size as usize) };
        e.set_addr(addr as u64);
        e.set_len(self.size);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the descriptors written so far visible to the kernel.
    fn publish(&self) {
        // SAFETY: `ring` is the ring's first descriptor, initialised (zeroed
        // pages, then descriptors); the tail field is a u16 the kernel reads
        // and never writes, so an atomic release store through it orders
        // the descriptor writes before the new tail.
        unsafe {
            let tail = BufRingEntry::tail(self.ring) as *const std::sync::atomic::AtomicU16;
            (*tail).store(self.tail, std::sync::atomic::Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // The io_uring instance is dropped before this value (field order in
        // the loop state), which unregisters the ring; the mappings can go.
        // SAFETY: both regions were mapped in `new` with these lengths and
        // nothing refers to them any more.
        unsafe {
            libc::munmap(self.ring.cast(), self.ring_len);
            libc::munmap(self.bufs.cast(), self.bufs_len);
        }
    }
}
