//! The open-file cache: request path → [`Entry`], in shards with a clock
//! (second-chance) eviction each, bounded in entries (and so in open
//! descriptors) and in key bytes.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use brisk_http::date::{HTTP_DATE_LEN, format_http_date};

const SHARDS: usize = 8;
/// Paths longer than this are not cached (they bound the key bytes).
pub(crate) const MAX_KEY: usize = 1024;

/// Identity of a file's contents as the metadata tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileId {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) len: u64,
    /// Modification time, ns since the epoch (0 before it).
    pub(crate) mtime_ns: u128,
}

impl FileId {
    pub(crate) fn of(meta: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        let ns = u128::try_from(meta.mtime()).unwrap_or(0) * 1_000_000_000
            + u128::try_from(meta.mtime_nsec()).unwrap_or(0);
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: ns,
        }
    }

    pub(crate) fn mtime_secs(&self) -> u64 {
        u64::try_from(self.mtime_ns / 1_000_000_000).unwrap_or(u64::MAX)
    }
}

/// One representation: a file, open, with its validators formatted.
pub(crate) struct Rep {
    pub(crate) file: Arc<File>,
    pub(crate) id: FileId,
    /// `"INODE-SIZE-MTIME"`, hex, quotes included.
    pub(crate) etag: Box<[u8]>,
    pub(crate) last_modified: [u8; HTTP_DATE_LEN],
}

impl Rep {
    pub(crate) fn new(file: File, meta: &std::fs::Metadata) -> Rep {
        let id = FileId::of(meta);
        Rep {
            file: Arc::new(file),
            id,
            etag: format!("\"{:x}-{:x}-{:x}\"", id.ino, id.len, id.mtime_ns)
                .into_bytes()
                .into_boxed_slice(),
            last_modified: format_http_date(id.mtime_secs()),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.id.len
    }
}

/// A cached file: itself, its precompressed siblings, its content type.
pub(crate) struct Entry {
    pub(crate) rep: Rep,
    /// `.br`, `.zst`, `.gz`, in [`super::respond::SIBLINGS`]' order.
    pub(crate) siblings: [Option<Rep>; 3],
    pub(crate) content_type: &'static str,
    /// When the path was last opened to check the file (ms since the
    /// cache's epoch).
    pub(crate) checked_ms: AtomicU64,
}

struct Slot {
    key: Box<[u8]>,
    entry: Arc<Entry>,
    referenced: bool,
}

#[derive(Default)]
struct Shard {
    index: HashMap<Box<[u8]>, usize>,
    slots: Vec<Slot>,
    hand: usize,
}

pub(crate) struct Cache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    epoch: Instant,
}

impl Cache {
    /// A cache of at most `entries` entries (0: none).
    pub(crate) fn new(entries: usize) -> Cache {
        Cache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: entries.div_ceil(SHARDS),
            epoch: Instant::now(),
        }
    }

    /// ms since the cache's epoch at `t`.
    pub(crate) fn ms(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn enabled(&self) -> bool {
        self.per_shard > 0
    }

    fn shard(&self, key: &[u8]) -> std::sync::MutexGuard<'_, Shard> {
        // FNV-1a picks the shard; the map inside hashes on its own.
        let h = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        self.shards[(h as usize) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<Arc<Entry>> {
        if !self.enabled() {
            return None;
        }
        let mut s = self.shard(key);
        let i = *s.index.get(key)?;
        let slot = &mut s.slots[i];
        slot.referenced = true;
        Some(slot.entry.clone())
    }

    pub(crate) fn insert(&self, key: &[u8], entry: Arc<Entry>) {
        if !self.enabled() || key.len() > MAX_KEY {
            return;
        }
        let cap = self.per_shard;
        let mut guard = self.shard(key);
        let s = &mut *guard;
        if let Some(&i) = s.index.get(key) {
            s.slots[i].entry = entry;
            return;
        }
        let key: Box<[u8]> = key.into();
        if s.slots.len() < cap {
            s.index.insert(key.clone(), s.slots.len());
            s.slots.push(Slot {
                key,
                entry,
                referenced: false,
            });
            return;
        }
        // Clock: skip (and clear) referenced slots, evict the first that
        // was not used since the hand last passed.
        loop {
            let h = s.hand % s.slots.len();
            s.hand = h + 1;
            let slot = &mut s.slots[h];
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            s.index.remove(&slot.key);
            s.index.insert(key.clone(), h);
            *slot = Slot {
                key,
                entry,
                referenced: false,
            };
            return;
        }
    }

    pub(crate) fn remove(&self, key: &[u8]) {
        if !self.enabled() {
            return;
        }
        let mut guard = self.shard(key);
        let s = &mut *guard;
        let Some(i) = s.index.remove(key) else { return };
        s.slots.swap_remove(i);
        if let Some(moved) = s.slots.get(i) {
            s.index.insert(moved.key.clone(), i);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).slots.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Arc<Entry> {
        let f = File::open("/dev/null").unwrap();
        let meta = f.metadata().unwrap();
        Arc::new(Entry {
            rep: Rep::new(f, &meta),
            siblings: [None, None, None],
            content_type: "text/plain",
            checked_ms: AtomicU64::new(0),
        })
    }

    #[test]
    fn bounded_and_second_chance() {
        let c = Cache::new(16);
        let e = entry();
        for i in 0..1000 {
            c.insert(format!("/f{i}").as_bytes(), e.clone());
            assert!(c.len() <= 16);
        }
        assert_eq!(c.len(), 16);
        // A used entry survives the next round of evictions.
        let keep = (0..1000)
            .map(|i| format!("/f{i}"))
            .find(|k| c.get(k.as_bytes()).is_some())
            .unwrap();
        for i in 1000..1001 {
            c.insert(format!("/f{i}").as_bytes(), e.clone());
        }
        assert!(c.get(keep.as_bytes()).is_some());
        c.remove(keep.as_bytes());
        assert!(c.get(keep.as_bytes()).is_none());
        // Removing keeps the index right for the moved slot.
        let all: Vec<String> = (0..1001)
            .map(|i| format!("/f{i}"))
            .filter(|k| c.get(k.as_bytes()).is_some())
            .collect();
        for k in &all {
            c.remove(k.as_bytes());
        }
        assert_eq!(c.len(), 0);
        assert!(c.get(b"/long").is_none());
        c.insert(&[b'a'; MAX_KEY + 1], e.clone());
        assert_eq!(c.len(), 0);
        let off = Cache::new(0);
        off.insert(b"/a", e);
        assert!(off.get(b"/a").is_none());
    }
}
