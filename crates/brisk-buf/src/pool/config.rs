//! `PoolConfig`: the knobs of a `BufferPool`, and their validation.

use core::fmt;

use crate::pool::class::{self, MAX_CLASS_SIZE, MIN_CLASS_SIZE};

/// Settings of a [`BufferPool`](crate::BufferPool).
///
/// Start from [`PoolConfig::default()`] and change what you need:
///
/// ```
/// use brisk_buf::{BufferPool, PoolConfig};
///
/// let pool = BufferPool::try_with_config(PoolConfig {
///     calibrate_after: 10_000,
///     thread_cache_bytes: 256 * 1024,
///     ..PoolConfig::default()
/// })
/// .unwrap();
/// assert_eq!(pool.default_size(), 4096);
/// ```
///
/// Memory bound: the pool never holds more than
/// `shared_max_bytes + thread_cache_bytes × (threads that used the pool)`
/// bytes of buffer capacity (plus 24 bytes of bookkeeping per pooled buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Number of puts between two calibrations (default 42 000, as in
    /// fasthttp's bytebufferpool). Threads report their puts in batches of up
    /// to 64, so with several threads a calibration may see up to
    /// 64 × threads more puts than this. Must be at least 1.
    pub calibrate_after: usize,
    /// Capacity of the buffers [`get`](crate::BufferPool::get) hands out
    /// until the first calibration (default 4096), rounded up to a size
    /// class. Must be between 1 and 32 MiB.
    pub initial_default_size: usize,
    /// Largest capacity kept by [`put`](crate::BufferPool::put) until the
    /// first calibration (default 1 MiB), rounded up to a size class. Must be
    /// between `initial_default_size` and 32 MiB.
    pub initial_max_size: usize,
    /// Most buffers a thread keeps in its own cache per size class
    /// (default 32); more spill to the shared overflow in batches of half
    /// this. 0 disables the per-thread caches. At most 4096.
    pub thread_cache_buffers: usize,
    /// Most bytes of capacity a thread keeps in its own cache, over all size
    /// classes (default 1 MiB). 0 disables the per-thread caches.
    pub thread_cache_bytes: usize,
    /// Most bytes of capacity kept in the overflow shared by all threads
    /// (default 32 MiB). Buffers that fit neither a thread cache nor the
    /// overflow are freed. 0 disables the overflow.
    pub shared_max_bytes: usize,
}

/// Why a [`PoolConfig`] was rejected by
/// [`BufferPool::try_with_config`](crate::BufferPool::try_with_config).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolConfigError {
    /// `calibrate_after` was 0.
    CalibrateAfterZero,
    /// `initial_default_size` was 0 or over 32 MiB.
    DefaultSizeOutOfRange {
        /// The rejected value.
        size: usize,
    },
    /// `initial_max_size` was below `initial_default_size` or over 32 MiB.
    MaxSizeOutOfRange {
        /// The rejected value.
        size: usize,
        /// The configured `initial_default_size`.
        default_size: usize,
    },
    /// `thread_cache_buffers` was over 4096.
    TooManyThreadCacheBuffers {
        /// The rejected value.
        buffers: usize,
    },
}

/// A validated, normalized configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Resolved {
    pub(crate) calibrate_after: u64,
    /// A thread reports its put counts after this many puts.
    pub(crate) flush_every: u32,
    pub(crate) default_class: usize,
    pub(crate) max_class: usize,
    pub(crate) thread_cache_buffers: usize,
    pub(crate) thread_cache_bytes: usize,
    pub(crate) shared_max_bytes: usize,
}

/// Upper bound of [`PoolConfig::thread_cache_buffers`].
pub(crate) const MAX_THREAD_CACHE_BUFFERS: usize = 4096;

/// Largest batch a thread reports its put counts in.
const MAX_FLUSH_EVERY: usize = 64;

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            calibrate_after: 42_000,
            initial_default_size: 4096,
            initial_max_size: 1 << 20,
            thread_cache_buffers: 32,
            thread_cache_bytes: 1 << 20,
            shared_max_bytes: 32 << 20,
        }
    }
}

impl PoolConfig {
    /// Checks every field against the ranges documented on it.
    pub fn validate(&self) -> Result<(), PoolConfigError> {
        if self.calibrate_after == 0 {
            return Err(PoolConfigError::CalibrateAfterZero);
        }
        if self.initial_default_size == 0 || self.initial_default_size > MAX_CLASS_SIZE {
            return Err(PoolConfigError::DefaultSizeOutOfRange {
                size: self.initial_default_size,
            });
        }
        if self.initial_max_size < self.initial_default_size
            || self.initial_max_size > MAX_CLASS_SIZE
        {
            return Err(PoolConfigError::MaxSizeOutOfRange {
                size: self.initial_max_size,
                default_size: self.initial_default_size,
            });
        }
        if self.thread_cache_buffers > MAX_THREAD_CACHE_BUFFERS {
            return Err(PoolConfigError::TooManyThreadCacheBuffers {
                buffers: self.thread_cache_buffers,
            });
        }
        Ok(())
    }

    /// Normalizes the fields, clamping each into its documented range.
    pub(crate) fn resolve(&self) -> Resolved {
        let calibrate_after = self.calibrate_after.max(1);
        let default_size = self
            .initial_default_size
            .clamp(MIN_CLASS_SIZE, MAX_CLASS_SIZE);
        let max_size = self.initial_max_size.clamp(default_size, MAX_CLASS_SIZE);
        let class_of = |n| class::class_ceil(n).unwrap_or(class::CLASSES - 1);
        Resolved {
            calibrate_after: calibrate_after as u64,
            flush_every: calibrate_after.min(MAX_FLUSH_EVERY) as u32,
            default_class: class_of(default_size),
            max_class: class_of(max_size),
            thread_cache_buffers: self.thread_cache_buffers.min(MAX_THREAD_CACHE_BUFFERS),
            thread_cache_bytes: self.thread_cache_bytes,
            shared_max_bytes: self.shared_max_bytes,
        }
    }
}

impl fmt::Display for PoolConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PoolConfigError::CalibrateAfterZero => f.write_str(
                "calibrate_after is 0: set it to at least 1 (the number of puts between calibrations)",
            ),
            PoolConfigError::DefaultSizeOutOfRange { size } => write!(
                f,
                "initial_default_size is {size} bytes: set it between 1 and {MAX_CLASS_SIZE} bytes"
            ),
            PoolConfigError::MaxSizeOutOfRange { size, default_size } => write!(
                f,
                "initial_max_size is {size} bytes: set it between initial_default_size \
                 ({default_size} bytes) and {MAX_CLASS_SIZE} bytes"
            ),
            PoolConfigError::TooManyThreadCacheBuffers { buffers } => write!(
                f,
                "thread_cache_buffers is {buffers}: set it to at most {MAX_THREAD_CACHE_BUFFERS}"
            ),
        }
    }
}

impl std::error::Error for PoolConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        let cfg = PoolConfig::default();
        assert_eq!(cfg.validate(), Ok(()));
        let r = cfg.resolve();
        assert_eq!(r.calibrate_after, 42_000);
        assert_eq!(r.flush_every, 64);
        assert_eq!(class::class_size(r.default_class), 4096);
        assert_eq!(class::class_size(r.max_class), 1 << 20);
    }

    #[test]
    fn invalid_fields_are_named_and_clamped() {
        let base = PoolConfig::default();
        let cases = [
            (
                PoolConfig {
                    calibrate_after: 0,
                    ..base.clone()
                },
                PoolConfigError::CalibrateAfterZero,
                "calibrate_after is 0",
            ),
            (
                PoolConfig {
                    initial_default_size: 0,
                    ..base.clone()
                },
                PoolConfigError::DefaultSizeOutOfRange { size: 0 },
                "initial_default_size is 0 bytes",
            ),
            (
                PoolConfig {
                    initial_default_size: MAX_CLASS_SIZE + 1,
                    ..base.clone()
                },
                PoolConfigError::DefaultSizeOutOfRange {
                    size: MAX_CLASS_SIZE + 1,
                },
                "between 1 and 33554432 bytes",
            ),
            (
                PoolConfig {
                    initial_max_size: 100,
                    ..base.clone()
                },
                PoolConfigError::MaxSizeOutOfRange {
                    size: 100,
                    default_size: 4096,
                },
                "initial_max_size is 100 bytes",
            ),
            (
                PoolConfig {
                    thread_cache_buffers: 5000,
                    ..base.clone()
                },
                PoolConfigError::TooManyThreadCacheBuffers { buffers: 5000 },
                "at most 4096",
            ),
        ];
        for (cfg, err, text) in cases {
            assert_eq!(cfg.validate(), Err(err.clone()));
            assert!(err.to_string().contains(text), "{err}");
            // Clamping always yields a usable configuration.
            let r = cfg.resolve();
            assert!(r.calibrate_after >= 1);
            assert!(r.flush_every >= 1);
            assert!(r.default_class <= r.max_class);
            assert!(r.max_class < class::CLASSES);
            assert!(r.thread_cache_buffers <= MAX_THREAD_CACHE_BUFFERS);
        }
    }

    #[test]
    fn sizes_round_up_to_classes() {
        let r = PoolConfig {
            calibrate_after: 10,
            initial_default_size: 100,
            initial_max_size: 5000,
            ..PoolConfig::default()
        }
        .resolve();
        assert_eq!(r.flush_every, 10);
        assert_eq!(class::class_size(r.default_class), 128);
        assert_eq!(class::class_size(r.max_class), 8192);
    }
}
