//! Which workspaces' shortcuts are in memory: the catalogue loads a workspace when it is
//! first used and drops the ones not used for a while, or the least recently used ones when
//! the estimated bytes of all exceed the budget (`--catalog-bytes`), so that a replica
//! serves any workspace of a large store while holding only the active ones.
//!
//! This module owns the bookkeeping (settings, the one-load-at-a-time gate per workspace,
//! the byte estimate, the pins that keep a workspace in memory while a call reads it); the
//! catalogue owns the maps themselves and does the loading (see `Catalog::workspace`).
//!
//! Own LRU rather than moka: a loaded workspace changes size in place with every write
//! and change-feed event (moka weighs an entry once, at insertion), a workspace a call is
//! reading must not be dropped under it (moka has no pinning), and the reads stay the
//! synchronous lookups they were.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Shortcut;

/// Default memory budget of the loaded workspaces (estimated), in bytes.
pub const DEFAULT_CATALOG_BYTES: u64 = 256 * 1024 * 1024;
/// Default time a workspace stays loaded without being used.
pub const DEFAULT_CATALOG_IDLE: Duration = Duration::from_secs(600);

/// Bounds of the loaded workspaces.
#[derive(Debug, Clone, Copy)]
pub struct ResidencySettings {
    /// Estimated bytes of all loaded workspaces above which the least recently used are
    /// dropped (a workspace in use is kept even when it alone exceeds it).
    pub budget_bytes: u64,
    /// A workspace not used for this long is dropped.
    pub idle: Duration,
}

impl Default for ResidencySettings {
    fn default() -> Self {
        Self {
            budget_bytes: DEFAULT_CATALOG_BYTES,
            idle: DEFAULT_CATALOG_IDLE,
        }
    }
}

/// Keeps a loaded workspace in memory while held: a call takes one before reading the
/// workspace and drops it when answered. Empty for a workspace with nothing to hold (no
/// record and no shortcuts: nothing is kept in memory for it).
#[derive(Debug, Default)]
pub struct Loaded {
    _pin: Option<Arc<()>>,
}

impl Loaded {
    pub(super) fn pinned(pin: Arc<()>) -> Self {
        Self { _pin: Some(pin) }
    }
}

/// What a loaded workspace carries for residency.
#[derive(Debug)]
pub(super) struct Residence {
    /// Estimated bytes of its entries.
    pub bytes: u64,
    /// When a call last used it (milliseconds since the catalogue opened).
    pub last_used: AtomicU64,
    /// Cloned by each [`Loaded`]: more than one holder means in use.
    pub pin: Arc<()>,
    pub state: LoadState,
}

impl Residence {
    pub fn loading(now: u64) -> Self {
        Self {
            bytes: WORKSPACE_BYTES,
            last_used: AtomicU64::new(now),
            pin: Arc::new(()),
            state: LoadState::Loading {
                pending: Vec::new(),
                resync: false,
            },
        }
    }

    pub fn in_use(&self) -> bool {
        Arc::strong_count(&self.pin) > 1
    }
}

/// Whether a workspace's entries are complete.
#[derive(Debug)]
pub(super) enum LoadState {
    /// Being read from the store: changes announced meanwhile are noted and fetched once
    /// the read is in (the read may predate them).
    Loading {
        /// Shortcut ids announced as changed or deleted.
        pending: Vec<String>,
        /// Announcements may have been missed: read the whole workspace again.
        resync: bool,
    },
    Ready,
}

/// The residency bookkeeping shared by all workspaces.
#[derive(Debug)]
pub(super) struct Residency {
    pub settings: ResidencySettings,
    opened: Instant,
    /// Estimated bytes of every loaded workspace.
    pub bytes: AtomicU64,
    /// One load at a time per workspace: concurrent first uses wait for it.
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Residency {
    pub fn new(settings: ResidencySettings) -> Self {
        Self {
            settings,
            opened: Instant::now(),
            bytes: AtomicU64::new(0),
            gates: Mutex::default(),
        }
    }

    /// Now, as `last_used` counts.
    pub fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    /// The gate of a workspace's load.
    pub fn gate(&self, workspace_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.gates
            .lock()
            .expect("gates lock poisoned")
            .entry(workspace_id.to_owned())
            .or_default()
            .clone()
    }

    /// Drops a gate nobody else waits on (those waiting hold a clone and find the
    /// workspace loaded when their turn comes).
    pub fn release(&self, workspace_id: &str, gate: Arc<tokio::sync::Mutex<()>>) {
        let mut gates = self.gates.lock().expect("gates lock poisoned");
        // Ours and the map's: nobody waits.
        if Arc::strong_count(&gate) <= 2 {
            gates.remove(workspace_id);
        }
    }

    pub fn add_bytes(&self, delta: i64) {
        if delta >= 0 {
            self.bytes.fetch_add(delta as u64, Ordering::Relaxed);
        } else {
            self.bytes
                .fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
    }

    pub fn over_budget(&self) -> bool {
        self.bytes.load(Ordering::Relaxed) > self.settings.budget_bytes
    }
}

/// Fixed cost of a loaded workspace (its maps and bookkeeping), in the estimate.
pub(super) const WORKSPACE_BYTES: u64 = 512;

/// Estimated memory of one entry: its texts, the catalogue's maps and the search index's
/// words, which grow with the texts. Compiled bodies are not an entry's: they live in the
/// compiled-template cache, under its own budget (`--compiled-templates-bytes`). For the
/// benchmark shortcut (~330-character body) this gives ~1.9 KB, against ~1.7 KB of heap
/// counted by `examples/memory_breakdown.rs` and ~1.9 KB resident (`bench/memory.sh`).
pub(super) fn entry_bytes(shortcut: &Shortcut) -> u64 {
    let texts = shortcut.body.len()
        + shortcut.variants.values().map(String::len).sum::<usize>()
        + shortcut
            .attachments
            .iter()
            .map(|a| a.name.len() + a.url.len())
            .sum::<usize>();
    let labels = shortcut.title.len()
        + shortcut.bang.len()
        + shortcut.folder.len()
        + shortcut.tags.iter().map(String::len).sum::<usize>();
    (700 + 3 * texts + 3 * labels) as u64
}
