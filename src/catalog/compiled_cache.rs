//! The compiled forms of stored shortcuts' bodies, kept in a cache bounded by bytes
//! (`--compiled-templates-bytes`) rather than one per shortcut for ever.
//!
//! A compiled body takes ~14 KB (minijinja's instructions and their span records, ~28 KB
//! once its traced form was needed) against ~300 bytes of source, and most shortcuts of a
//! large catalogue are rarely rendered: an [`Entry`](super::Entry) keeps only the source,
//! and the first render compiles it into this cache. Writes still compile to validate, and
//! drop the result.
//!
//! Keys are an entry's serial number (every [`Entry`](super::Entry) built gets a new one:
//! a new version, or an includer rebuilt after its snippet changed) and the body's index
//! (0 the default body, 1… the variants in tag order), so that a render can never be given
//! a compiled form older than the entry it holds. Forms of replaced entries are dropped
//! when the entry is, or age out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use moka::sync::Cache;

use crate::template::CompiledTemplate;

/// Default bound of the cache: ~2,500 compiled bodies of the typical size (both forms).
pub const DEFAULT_BYTES: u64 = 64 * 1024 * 1024;

/// An entry's serial number and the index of one of its bodies.
pub(crate) type Key = (u64, u32);

static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// A serial number no other entry of this process has.
pub(crate) fn next_serial() -> u64 {
    NEXT_SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// Compiled bodies by (entry serial, body index), weighed by their estimated size.
pub struct CompiledCache {
    cache: Cache<Key, Arc<CompiledTemplate>>,
}

impl CompiledCache {
    /// A cache holding at most about `max_bytes` of compiled bodies.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_: &Key, template: &Arc<CompiledTemplate>| {
                    u32::try_from(template.estimated_bytes()).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }

    /// The compiled body under `key`, compiling it with `compile` when it is not held.
    /// Concurrent misses may compile twice; both give the same program.
    pub(crate) fn get_or_compile<E>(
        &self,
        key: Key,
        compile: impl FnOnce() -> Result<CompiledTemplate, E>,
    ) -> Result<Arc<CompiledTemplate>, E> {
        if let Some(found) = self.cache.get(&key) {
            return Ok(found);
        }
        let compiled = Arc::new(compile()?);
        self.cache.insert(key, compiled.clone());
        Ok(compiled)
    }

    /// Drops the compiled bodies of an entry that was replaced or removed.
    pub(crate) fn forget(&self, serial: u64, bodies: usize) {
        for body in 0..bodies {
            self.cache.invalidate(&(serial, body as u32));
        }
    }

    /// How many compiled bodies it holds and their estimated bytes (after pending
    /// evictions are applied).
    pub fn usage(&self) -> (u64, u64) {
        self.cache.run_pending_tasks();
        (self.cache.entry_count(), self.cache.weighted_size())
    }
}

impl std::fmt::Debug for CompiledCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledCache")
            .field("entries", &self.cache.entry_count())
            .field("bytes", &self.cache.weighted_size())
            .finish()
    }
}
