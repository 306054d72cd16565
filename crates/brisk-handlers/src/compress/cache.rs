//! The bounded cache of compressed bodies (least recently used out first).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use brisk_http::Coding;

use super::codec::Params;

/// What a cached body is named by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BodyKey {
    /// A `'static` body: its address and length.
    Static { addr: usize, len: usize },
    /// A body the handler named with [`CacheKey`](super::CacheKey).
    Explicit(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) body: BodyKey,
    pub(crate) coding: Coding,
    pub(crate) params: Params,
}

/// What the cache remembers for a key: the encoded body, or that encoding
/// did not make it smaller (so it is sent as it is).
#[derive(Clone, Debug)]
pub(crate) enum Cached {
    Encoded(Arc<[u8]>),
    NotSmaller,
}

impl Cached {
    fn cost(&self) -> usize {
        // The bytes, plus a rough per-entry overhead so that many tiny
        // entries are bounded too.
        64 + match self {
            Cached::Encoded(b) => b.len(),
            Cached::NotSmaller => 0,
        }
    }
}

pub(crate) struct Cache {
    limit: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// INVARIANT: every entry's tick is a key of `order` naming it back.
    map: HashMap<Key, (Cached, u64)>,
    order: BTreeMap<u64, Key>,
    bytes: usize,
    tick: u64,
    hits: u64,
    misses: u64,
}

/// Counters of a compressed-body cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Bodies served from the cache.
    pub hits: u64,
    /// Bodies compressed and added.
    pub misses: u64,
    /// Entries held.
    pub entries: usize,
    /// Bytes held (compressed bodies plus 64 bytes per entry).
    pub bytes: usize,
}

impl Cache {
    pub(crate) fn new(limit: usize) -> Cache {
        Cache {
            limit,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry for `key`, marked as just used.
    pub(crate) fn get(&self, key: &Key) -> Option<Cached> {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.tick += 1;
        let tick = inner.tick;
        let Some((value, old)) = inner.map.get_mut(key) else {
            inner.misses += 1;
            return None;
        };
        inner.order.remove(old);
        *old = tick;
        inner.order.insert(tick, *key);
        inner.hits += 1;
        Some(value.clone())
    }

    /// Adds an entry, evicting the least recently used ones to stay within
    /// the limit; an entry larger than the whole limit is not kept.
    pub(crate) fn insert(&self, key: Key, value: Cached) {
        let cost = value.cost();
        if cost > self.limit {
            return;
        }
        let mut g = self.lock();
        let inner = &mut *g;
        if let Some((old, tick)) = inner.map.remove(&key) {
            inner.order.remove(&tick);
            inner.bytes -= old.cost();
        }
        while inner.bytes + cost > self.limit {
            let Some((_, victim)) = inner.order.pop_first() else {
                break;
            };
            if let Some((v, _)) = inner.map.remove(&victim) {
                inner.bytes -= v.cost();
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.order.insert(tick, key);
        inner.map.insert(key, (value, tick));
        inner.bytes += cost;
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let g = self.lock();
        CacheStats {
            hits: g.hits,
            misses: g.misses,
            entries: g.map.len(),
            bytes: g.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::Level;

    fn key(n: u64) -> Key {
        Key {
            body: BodyKey::Explicit(n),
            coding: Coding::Gzip,
            params: Level::Default.params(),
        }
    }

    fn body(len: usize) -> Cached {
        Cached::Encoded(vec![7u8; len].into())
    }

    #[test]
    fn evicts_least_recently_used_within_the_byte_limit() {
        let c = Cache::new(3 * (64 + 100));
        c.insert(key(1), body(100));
        c.insert(key(2), body(100));
        c.insert(key(3), body(100));
        assert!(c.get(&key(1)).is_some()); // 2 is now the oldest
        c.insert(key(4), body(100));
        assert!(c.get(&key(2)).is_none());
        assert!(c.get(&key(1)).is_some());
        assert!(c.get(&key(3)).is_some());
        assert!(c.get(&key(4)).is_some());
        let s = c.stats();
        assert_eq!((s.entries, s.bytes), (3, 3 * 164));
    }

    #[test]
    fn an_entry_larger_than_the_limit_is_not_kept() {
        let c = Cache::new(1000);
        c.insert(key(1), body(10));
        c.insert(key(2), body(5000));
        assert!(c.get(&key(2)).is_none());
        assert!(c.get(&key(1)).is_some());
    }

    #[test]
    fn replacing_an_entry_accounts_its_bytes_once() {
        let c = Cache::new(10_000);
        c.insert(key(1), body(100));
        c.insert(key(1), body(200));
        c.insert(key(1), Cached::NotSmaller);
        assert_eq!(c.stats().bytes, 64);
        assert!(matches!(c.get(&key(1)), Some(Cached::NotSmaller)));
    }
}
