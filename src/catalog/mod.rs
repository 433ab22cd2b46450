//! Shortcuts: the model, validation, and the in-memory catalog that serves every read.
//!
//! Writes go to the [`ShortcutStore`] first and then into memory, so a write is durable
//! before it is visible; reads (and renders) never touch the store. Each entry holds its
//! template already compiled. A workspace's shortcuts are read from the store when it is
//! first used ([`Catalog::workspace`]) and dropped when idle or over the memory budget
//! (see [`resident`]), so the start does not depend on the size of the store.

pub mod attachments;
pub mod audiences;
pub mod compiled_cache;
pub mod consistency;
mod entries;
pub mod folders;
pub mod inputs;
pub mod keys;
pub mod model;
pub mod paths;
pub mod resident;
pub mod search;
pub mod store;
pub mod usage_report;
pub mod validate;
pub mod visibility;

#[cfg(test)]
mod load_pause;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};
use crate::ids::{ShortcutId, WorkspaceId};
use crate::template::{CompiledTemplate, Engine, TemplateDiagnostic, TemplateWarning, Validation};
use crate::workspace::Workspaces;
pub use model::{
    Attachment, InputType, NewShortcut, Shortcut, ShortcutChanges, ShortcutInput, ShortcutKey,
    bang_key,
};
pub use resident::{Loaded, ResidencySettings};
pub use search::SearchIndex;
pub use store::{ShortcutStore, ShortcutWrite, Store};
pub use visibility::{Viewer, Visibility};

/// A shortcut as memory holds it: its text, not its compiled bodies, which are compiled
/// on first render into a bounded cache (see [`compiled_cache`] and
/// [`Catalog::template_for`]).
#[derive(Debug)]
pub struct Entry {
    pub shortcut: Shortcut,
    /// The snippets its bodies include, directly or not (lower-cased bangs): when one
    /// changes, this entry is built again (a new serial, so a new compiled form).
    pub includes: Vec<String>,
    /// The compiled name and URL of each of the shortcut's attachments, in order.
    pub attachments: Vec<attachments::CompiledAttachment>,
    /// Names this entry's compiled bodies in the cache: no other entry has it.
    serial: u64,
}

impl Entry {
    /// An entry for a shortcut whose bodies were checked (or are trusted, having been
    /// checked when written), with the snippets they include.
    pub fn new(
        shortcut: Shortcut,
        includes: Vec<String>,
        attachments: Vec<attachments::CompiledAttachment>,
    ) -> Self {
        Self {
            shortcut,
            includes,
            attachments,
            serial: compiled_cache::next_serial(),
        }
    }

    /// The body for a locale: the exact tag, then ever shorter prefixes (`fr-CA` -> `fr`),
    /// then the default body. Returns the body's index (0 the default body, then the
    /// variants in tag order), its source and the variant's tag, empty for the default body.
    pub fn body_for(&self, locale: &str) -> (u32, &str, &str) {
        let mut tag = locale;
        while !tag.is_empty() {
            if let Some((index, (key, body))) = self
                .shortcut
                .variants
                .iter()
                .enumerate()
                .find(|(_, (key, _))| key.eq_ignore_ascii_case(tag))
            {
                return (index as u32 + 1, body.as_str(), key.as_str());
            }
            tag = tag.rfind('-').map_or("", |i| &tag[..i]);
        }
        (0, self.shortcut.body.as_str(), "")
    }

    /// How many bodies it has (the default one and the variants).
    fn bodies(&self) -> usize {
        1 + self.shortcut.variants.len()
    }
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page {
    pub shortcuts: Vec<Arc<Entry>>,
    pub next_page_token: String,
}

/// Which shortcuts a listing returns.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub page_size: i32,
    pub page_token: String,
    pub tags: Vec<String>,
    pub include_disabled: bool,
    /// Whom the listing is for: it holds only what they may see.
    pub viewer: Viewer,
    /// Only this folder (and, if asked, its sub-folders), ordered by position then bang.
    /// Empty: every folder, ordered by bang.
    pub folder: String,
    pub include_subfolders: bool,
}

pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;

/// One loaded (or loading) workspace.
struct Workspace {
    entries: entries::Entries,
    residence: resident::Residence,
}

impl Workspace {
    fn loading(now: u64) -> Self {
        Self {
            entries: entries::Entries::default(),
            residence: resident::Residence::loading(now),
        }
    }

    fn ready(&self) -> bool {
        matches!(self.residence.state, resident::LoadState::Ready)
    }
}

/// What became of a change another replica announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// The workspace is not loaded here: nothing to do (it is read afresh when used).
    NotLoaded,
    /// The workspace is being loaded: the change is fetched once the load is in.
    Noted,
    /// Memory already held it (our own write, coming back).
    AlreadyHeld,
    Applied,
}

/// The shortcuts of every workspace, in memory, backed by a store.
pub struct Catalog {
    /// The whole store, for the parts that reach it through the catalog (seeding, the
    /// change feed); the catalog itself uses its [`ShortcutStore`] part.
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    /// Workspace records: kept beside the shortcuts because renders need both and both
    /// come from the same store.
    workspace_records: Arc<Workspaces>,
    /// The loaded workspaces (and those being loaded).
    workspaces: RwLock<HashMap<String, Workspace>>,
    residency: resident::Residency,
    search: SearchIndex,
    /// The custom keys learned from the workspaces' data.
    custom_keys: keys::CustomKeys,
    /// Bumped whenever memory changes, for reads waiting to see a write (see
    /// [`consistency`]).
    changes: tokio::sync::watch::Sender<u64>,
    /// The compiled bodies of the shortcuts rendered lately.
    compiled: compiled_cache::CompiledCache,
    /// Tests stop a load between its read of the store and its end, to announce changes
    /// at the moment a real race would (see `load_pause`).
    #[cfg(test)]
    pause_after_read: std::sync::Mutex<Option<load_pause::Pause>>,
}

impl Catalog {
    /// Opens the catalogue with the default residency bounds (see [`Catalog::open`]).
    pub async fn load(store: Arc<dyn Store>, engine: Arc<Engine>) -> Result<Self> {
        Self::open(store, engine, ResidencySettings::default()).await
    }

    /// Opens the catalogue on a store: the workspace records are read now, each
    /// workspace's shortcuts when it is first used (see [`Catalog::workspace`]).
    pub async fn open(
        store: Arc<dyn Store>,
        engine: Arc<Engine>,
        settings: ResidencySettings,
    ) -> Result<Self> {
        Ok(Self {
            workspace_records: Arc::new(Workspaces::load(store.clone()).await?),
            custom_keys: keys::CustomKeys::new(store.clone()),
            store,
            engine,
            workspaces: RwLock::default(),
            residency: resident::Residency::new(settings),
            search: SearchIndex::default(),
            changes: tokio::sync::watch::Sender::new(0),
            compiled: compiled_cache::CompiledCache::new(compiled_cache::DEFAULT_BYTES),
            #[cfg(test)]
            pause_after_read: std::sync::Mutex::default(),
        })
    }

    /// Makes sure a workspace's shortcuts are in memory, reading them from the store on
    /// first use (concurrent first uses wait for one read), and keeps them there while the
    /// returned handle is held. Every call that reads a workspace's shortcuts takes one
    /// first; the synchronous reads ([`Catalog::get`], [`Catalog::list`]...) then read
    /// memory. A workspace with no shortcuts is not kept: reads find it empty, as it is.
    /// Fails with `UNAVAILABLE` when the store cannot be read.
    pub async fn workspace(&self, workspace_id: &str) -> Result<Loaded> {
        self.ensure_loaded(workspace_id, false).await
    }

    /// [`Catalog::workspace`] for a write: the workspace is kept even when empty, so that
    /// what is written lands in a loaded workspace.
    async fn workspace_for_write(&self, workspace_id: &str) -> Result<Loaded> {
        self.ensure_loaded(workspace_id, true).await
    }

    /// A loaded workspace's handle, marking it used; `None` when it is not loaded.
    fn pin_ready(&self, workspace_id: &str) -> Option<Loaded> {
        let workspaces = self.workspaces.read().expect("catalog lock poisoned");
        let ws = workspaces.get(workspace_id).filter(|ws| ws.ready())?;
        ws.residence
            .last_used
            .store(self.residency.now(), std::sync::atomic::Ordering::Relaxed);
        Some(Loaded::pinned(ws.residence.pin.clone()))
    }

    async fn ensure_loaded(&self, workspace_id: &str, keep_empty: bool) -> Result<Loaded> {
        if let Some(loaded) = self.pin_ready(workspace_id) {
            return Ok(loaded);
        }
        let gate = self.residency.gate(workspace_id);
        let turn = gate.lock().await;
        let result = match self.pin_ready(workspace_id) {
            // Loaded by the call we waited for.
            Some(loaded) => Ok(loaded),
            None => self.load_workspace(workspace_id, keep_empty).await,
        };
        drop(turn);
        self.residency.release(workspace_id, gate);
        if result.is_ok() && self.residency.over_budget() {
            self.evict(false);
        }
        result
    }

    /// Reads a workspace from the store into memory (the caller holds its gate). Changes
    /// announced meanwhile are fetched before it is marked ready, so that a workspace
    /// loaded after a change never serves the older version.
    async fn load_workspace(&self, workspace_id: &str, keep_empty: bool) -> Result<Loaded> {
        let started = std::time::Instant::now();
        // A load abandoned half-way (its caller went away) left its entry: start afresh.
        self.drop_workspace(workspace_id, |_| true);
        self.workspaces
            .write()
            .expect("catalog lock poisoned")
            .insert(
                workspace_id.to_owned(),
                Workspace::loading(self.residency.now()),
            );
        self.residency.add_bytes(resident::WORKSPACE_BYTES as i64);
        // Dropped unfinished (an error, or the caller gone), the half-loaded entry goes.
        let mut abandon = AbandonLoad {
            catalog: self,
            workspace_id,
            armed: true,
        };
        let unavailable = |err: Error| {
            match err {
            Error::StoreUnavailable { cause } => Error::StoreUnavailable {
                cause: format!(
                    "cannot load the shortcuts of workspace {workspace_id:?}, retry shortly: {cause}"
                )
                .into(),
            },
            other => other,
        }
        };
        let mut read_all = true;
        loop {
            if read_all {
                let reading = std::time::Instant::now();
                let mut fill = Fill::new(self, workspace_id);
                let count = self
                    .store
                    .load_workspace(workspace_id, &mut |chunk| fill.add(chunk))
                    .await
                    .map_err(unavailable)?;
                #[cfg(test)]
                load_pause::pause(self, workspace_id).await;
                fill.finish();
                tracing::debug!(
                    workspace_id,
                    shortcuts = count,
                    took_us = reading.elapsed().as_micros() as u64,
                    "workspace read from the store"
                );
            }
            let pending = {
                let mut workspaces = self.workspaces.write().expect("catalog lock poisoned");
                let Some(ws) = workspaces.get_mut(workspace_id) else {
                    return Err(Error::Internal(format!(
                        "workspace {workspace_id:?} vanished while loading"
                    )));
                };
                let resident::LoadState::Loading { pending, resync } = &mut ws.residence.state
                else {
                    return Err(Error::Internal(format!(
                        "workspace {workspace_id:?} was marked loaded by another load"
                    )));
                };
                read_all = std::mem::take(resync);
                let pending = std::mem::take(pending);
                if !read_all && pending.is_empty() {
                    abandon.armed = false;
                    let empty = ws.entries.is_empty();
                    if empty && !keep_empty {
                        drop(workspaces);
                        self.drop_workspace(workspace_id, |_| true);
                        crate::telemetry::record_catalog_load(started.elapsed(), true);
                        return Ok(Loaded::default());
                    }
                    ws.residence.state = resident::LoadState::Ready;
                    let pin = ws.residence.pin.clone();
                    drop(workspaces);
                    // The typeahead's order from the shared counts, as for the others.
                    self.search.apply_shared_uses(workspace_id);
                    crate::telemetry::record_catalog_load(started.elapsed(), true);
                    return Ok(Loaded::pinned(pin));
                }
                pending
            };
            if !read_all {
                for id in pending {
                    self.refresh(workspace_id, &id).await.map_err(unavailable)?;
                }
            }
        }
    }

    /// Reads every loaded workspace from the store again (announcements may have been
    /// missed); those being loaded read theirs again before they are ready. Workspaces not
    /// loaded cost nothing: they are read afresh when used. Returns how many shortcuts were
    /// read.
    pub async fn reload(&self) -> Result<usize> {
        let ready: Vec<String> = {
            let mut workspaces = self.workspaces.write().expect("catalog lock poisoned");
            let mut ready = Vec::new();
            for (id, ws) in workspaces.iter_mut() {
                match &mut ws.residence.state {
                    resident::LoadState::Ready => ready.push(id.clone()),
                    resident::LoadState::Loading { resync, .. } => *resync = true,
                }
            }
            ready
        };
        let mut count = 0;
        for workspace_id in ready {
            let mut fill = Fill::new(self, &workspace_id);
            count += self
                .store
                .load_workspace(&workspace_id, &mut |chunk| fill.add(chunk))
                .await?;
            fill.finish();
        }
        Ok(count)
    }

    /// Applies a change another replica announced: a shortcut now at `version`, or deleted
    /// (`None`). Costs nothing for a workspace that is not loaded.
    pub async fn apply_announced(
        &self,
        workspace_id: &str,
        id: &str,
        version: Option<u64>,
    ) -> Result<Announced> {
        {
            let mut workspaces = self.workspaces.write().expect("catalog lock poisoned");
            let Some(ws) = workspaces.get_mut(workspace_id) else {
                return Ok(Announced::NotLoaded);
            };
            if let resident::LoadState::Loading { pending, .. } = &mut ws.residence.state {
                pending.push(id.to_owned());
                return Ok(Announced::Noted);
            }
        }
        match version {
            Some(version) => {
                // Our own writes come back too; memory already has them.
                if self.version_of(workspace_id, id) >= Some(version) {
                    return Ok(Announced::AlreadyHeld);
                }
                self.refresh(workspace_id, id).await?;
            }
            None => self.forget(workspace_id, id),
        }
        Ok(Announced::Applied)
    }

    /// Fetches one shortcut from the store into memory (or forgets it if it is gone); a
    /// workspace that is not loaded is left alone.
    pub async fn refresh(&self, workspace_id: &str, id: &str) -> Result<()> {
        match self.store.get(workspace_id, id).await? {
            Some(shortcut) => self.apply_stored(shortcut),
            None => self.forget(workspace_id, id),
        }
        Ok(())
    }

    /// Drops loaded workspaces: the idle ones (`idle_only`), or else the least recently
    /// used until the estimate is within the budget. A workspace in use is kept.
    pub fn evict(&self, idle_only: bool) {
        let now = self.residency.now();
        let idle_ms = self.residency.settings.idle.as_millis() as u64;
        let mut candidates: Vec<(u64, String, u64)> = {
            let workspaces = self.workspaces.read().expect("catalog lock poisoned");
            workspaces
                .iter()
                .filter(|(_, ws)| ws.ready() && !ws.residence.in_use())
                .map(|(id, ws)| {
                    let used = ws
                        .residence
                        .last_used
                        .load(std::sync::atomic::Ordering::Relaxed);
                    (used, id.clone(), ws.residence.bytes)
                })
                .collect()
        };
        candidates.sort_unstable();
        let mut excess = self
            .residency
            .bytes
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_sub(self.residency.settings.budget_bytes);
        for (used, workspace_id, bytes) in candidates {
            let idle = now.saturating_sub(used) >= idle_ms;
            if idle_only && !idle {
                // Sorted by last use: the rest are more recent still.
                break;
            }
            if !idle_only && excess == 0 {
                break;
            }
            // Checked again under the lock: a call may have taken it meanwhile.
            if self.drop_workspace(&workspace_id, |ws| ws.ready() && !ws.residence.in_use()) {
                excess = excess.saturating_sub(bytes);
                crate::telemetry::record_catalog_eviction(if idle { "idle" } else { "size" });
            }
        }
    }

    /// Removes a workspace from memory if `when` holds for it; whether it did.
    fn drop_workspace(&self, workspace_id: &str, when: impl Fn(&Workspace) -> bool) -> bool {
        let removed = {
            let mut workspaces = self.workspaces.write().expect("catalog lock poisoned");
            let removed = match workspaces.get(workspace_id) {
                Some(ws) if when(ws) => workspaces.remove(workspace_id),
                _ => None,
            };
            // Its index goes whole, and under this lock: a load of the workspace starting
            // next must not see its new entries unindexed by this drop.
            if removed.is_some() {
                self.search.drop_workspace(workspace_id);
            }
            removed
        };
        let Some(ws) = removed else {
            return false;
        };
        self.residency.add_bytes(-(ws.residence.bytes as i64));
        // Its compiled bodies too: they would only crowd the cache until evicted.
        for entry in ws.entries.iter() {
            self.compiled.forget(entry.serial, entry.bodies());
        }
        true
    }

    /// How many workspaces are loaded, and their estimated bytes.
    pub fn residency(&self) -> (usize, u64) {
        let loaded = self
            .workspaces
            .read()
            .expect("catalog lock poisoned")
            .values()
            .filter(|ws| ws.ready())
            .count();
        (
            loaded,
            self.residency
                .bytes
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Drops idle workspaces (and enforces the budget after writes grew the loaded ones)
    /// until the catalogue is dropped.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let every = (self.residency.settings.idle / 2)
            .clamp(Duration::from_millis(100), Duration::from_secs(60));
        let catalog = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(catalog) = catalog.upgrade() else {
                    return;
                };
                catalog.evict(true);
                if catalog.residency.over_budget() {
                    catalog.evict(false);
                }
            }
        });
    }

    fn apply_stored(&self, shortcut: Shortcut) {
        if let Some(entry) = self.build_stored(shortcut, Check::Trust) {
            self.apply(entry);
        }
    }

    /// The entry of a shortcut read from the store (`check`: [`Check::Trust`], or
    /// [`Check::TrustLater`] in a load's first pass); `None` (logged) if it cannot be built.
    fn build_stored(&self, shortcut: Shortcut, check: Check) -> Option<Entry> {
        let id = shortcut.id.clone();
        match self.build_entry(shortcut, Includes::Lenient, check) {
            Ok(entry) => Some(entry),
            // A template that compiled when written but not now (the language changed)
            // must not stop the service; it is left out and reported.
            Err(err) => {
                tracing::error!(shortcut_id = %id, error = %err, "stored template no longer compiles; skipped");
                None
            }
        }
    }

    /// Follows changes to memory (a counter that grows with each).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Wakes the reads waiting to see a write: memory changed.
    pub fn note_change(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The version memory holds of a shortcut, if any.
    pub fn version_of(&self, workspace_id: &str, id: &str) -> Option<u64> {
        let workspaces = self.workspaces.read().expect("catalog lock poisoned");
        workspaces
            .get(workspace_id)
            .and_then(|ws| ws.entries.get(id))
            .map(|e| e.shortcut.version)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The workspace records (display name, default locale, time zone).
    pub fn workspace_records(&self) -> &Arc<Workspaces> {
        &self.workspace_records
    }

    /// Builds the entry of a shortcut. With [`Check::Compile`] its body and variants are
    /// compiled with the workspace's snippets in place of its includes, and errors name the
    /// field (`body`, `variants["fr"]`) with line and column; the compiled forms are not
    /// kept (the first render compiles into the cache). With [`Check::Trust`] (a shortcut
    /// from the store, checked when written) only the includes are followed.
    fn build_entry(&self, shortcut: Shortcut, includes: Includes, check: Check) -> Result<Entry> {
        let max = self.engine.limits().max_template_bytes;
        // A stored shortcut's includes are part of its shared text, whoever reads it.
        let snippets = WorkspaceSnippets {
            catalog: self,
            workspace_id: &shortcut.workspace_id,
            includes,
            viewer: &Viewer::Everyone,
        };
        let own = Some(shortcut.bang.as_str());
        let mut all_includes: Vec<String> = Vec::new();
        let bodies = std::iter::once((None, &shortcut.body)).chain(
            shortcut
                .variants
                .iter()
                .map(|(tag, body)| (Some(tag), body)),
        );
        for (tag, body) in bodies {
            let field = tag.map(|tag| validate::variant_field(tag));
            let for_field = |err: Error| match &field {
                Some(field) => err.for_field(field.clone()),
                None => err,
            };
            validate::body(body, max).map_err(for_field)?;
            let used = match check {
                Check::Compile => {
                    self.engine
                        .compile_with(body, own, &snippets)
                        .map_err(|problems| for_field(body_error(problems)))?
                        .1
                }
                Check::Trust => self.includes_of(body, own, &snippets),
                Check::TrustLater => Vec::new(),
            };
            for name in used {
                if !all_includes.contains(&name) {
                    all_includes.push(name);
                }
            }
        }
        let attachments = attachments::compile(&self.engine, &shortcut.attachments)?;
        Ok(Entry::new(shortcut, all_includes, attachments))
    }

    /// The snippets a stored body includes, directly or not, without compiling it. A body
    /// whose includes no longer expand (a cycle or a size made by later snippet changes)
    /// is logged; its render will report why it does not compile.
    fn includes_of(
        &self,
        body: &str,
        own: Option<&str>,
        snippets: &WorkspaceSnippets,
    ) -> Vec<String> {
        let tags = crate::template::include::include_tags(body);
        if tags.is_empty() {
            return Vec::new();
        }
        let max =
            self.engine.limits().max_template_bytes * crate::template::include::EXPANSION_FACTOR;
        match crate::template::include::expand(own, body, snippets, max) {
            Ok(expanded) => expanded.includes,
            Err(problem) => {
                tracing::error!(workspace_id = %snippets.workspace_id, bang = own.unwrap_or(""), %problem, "a stored shortcut's includes do not expand");
                tags.into_iter().map(|tag| bang_key(&tag.name)).collect()
            }
        }
    }

    /// The compiled body of `entry` for a locale (see [`Entry::body_for`]) and the variant's
    /// tag: from the cache, or compiled now with the workspace's current snippets.
    pub fn template_for<'e>(
        &self,
        entry: &'e Entry,
        locale: &str,
    ) -> Result<(Arc<CompiledTemplate>, &'e str)> {
        let (index, body, tag) = entry.body_for(locale);
        let template = self.compiled.get_or_compile((entry.serial, index), || {
            let snippets = WorkspaceSnippets {
                catalog: self,
                workspace_id: &entry.shortcut.workspace_id,
                includes: Includes::Lenient,
                viewer: &Viewer::Everyone,
            };
            self.engine
                .compile_with(body, Some(&entry.shortcut.bang), &snippets)
                .map(|(compiled, _)| compiled)
                .map_err(|problems| stored_body_error(entry, tag, problems))
        })?;
        Ok((template, tag))
    }

    /// The cache of compiled bodies (its size, for the operator).
    pub fn compiled_templates(&self) -> &compiled_cache::CompiledCache {
        &self.compiled
    }

    /// Bounds the cache of compiled bodies to about `bytes` (`--compiled-templates-bytes`).
    /// Made before the first render: what the cache held is dropped.
    pub fn with_compiled_templates_bytes(mut self, bytes: u64) -> Self {
        self.compiled = compiled_cache::CompiledCache::new(bytes);
        self
    }

    /// Refuses a change that would leave includes of `snippet` with nothing to include,
    /// naming the shortcuts that include it (directly or through another snippet).
    fn refuse_if_included(&self, snippet: &Shortcut, action: &'static str) -> Result<()> {
        let key = snippet.bang_key();
        let mut includers: Vec<String> = {
            let workspaces = self.workspaces.read().expect("catalog lock poisoned");
            let Some(ws) = workspaces
                .get(&snippet.workspace_id)
                .filter(|ws| ws.entries.has_includers())
            else {
                return Ok(());
            };
            ws.entries
                .iter()
                .filter(|e| e.shortcut.id != snippet.id && e.includes.contains(&key))
                .map(|e| e.shortcut.bang.clone())
                .collect()
        };
        if includers.is_empty() {
            return Ok(());
        }
        includers.sort();
        Err(Error::SnippetInUse {
            bang: snippet.bang.clone(),
            action,
            includers,
        })
    }

    /// Compiles again, in memory, every shortcut of the workspace that includes the snippet
    /// `bang_key`, so that a snippet's change (or removal) shows in every includer.
    fn recompile_includers(&self, workspace_id: &str, bang_key: &str) {
        self.recompile_includers_of(workspace_id, |included| included == bang_key);
    }

    /// Compiles again the shortcuts that include a snippet `changed` says has changed.
    fn recompile_includers_of(&self, workspace_id: &str, changed: impl Fn(&str) -> bool) {
        let includers: Vec<Arc<Entry>> = {
            let workspaces = self.workspaces.read().expect("catalog lock poisoned");
            let Some(ws) = workspaces
                .get(workspace_id)
                .filter(|ws| ws.entries.has_includers())
            else {
                return;
            };
            ws.entries
                .iter()
                .filter(|e| e.includes.iter().any(|i| changed(i)))
                .cloned()
                .collect()
        };
        for includer in includers {
            match self.build_entry(includer.shortcut.clone(), Includes::Lenient, Check::Compile) {
                Ok(entry) => drop(self.replace(entry)),
                Err(err) => {
                    tracing::error!(shortcut_id = %includer.shortcut.id, error = %err, "a shortcut no longer compiles after a snippet changed; kept as it was")
                }
            }
        }
    }

    /// The custom keys learned from the workspaces' contact and session data.
    pub fn custom_keys(&self) -> &keys::CustomKeys {
        &self.custom_keys
    }

    /// The typeahead index, kept in step with memory by `apply` and `forget`.
    pub fn search(&self) -> &SearchIndex {
        &self.search
    }

    /// Compiles a body, turning template errors into an `INVALID_ARGUMENT` on `body` that
    /// lists each problem with its line and column.
    pub fn compile(&self, body: &str) -> Result<CompiledTemplate> {
        validate::body(body, self.engine.limits().max_template_bytes)?;
        self.engine.compile(body).map_err(body_error)
    }

    /// Compiles an inline body (RenderTemplate, BatchRender) with the workspace's snippets.
    pub fn compile_inline(
        &self,
        workspace_id: &WorkspaceId,
        body: &str,
    ) -> Result<CompiledTemplate> {
        self.compile_inline_as(workspace_id, body, &Viewer::Everyone)
    }

    /// [`Catalog::compile_inline`] for `viewer`: a snippet it may not see is, to its inline
    /// template, a snippet that does not exist.
    pub fn compile_inline_as(
        &self,
        workspace_id: &WorkspaceId,
        body: &str,
        viewer: &Viewer,
    ) -> Result<CompiledTemplate> {
        validate::body(body, self.engine.limits().max_template_bytes)?;
        let snippets = WorkspaceSnippets {
            catalog: self,
            workspace_id: workspace_id.as_str(),
            includes: Includes::Strict,
            viewer,
        };
        self.engine
            .compile_with(body, None, &snippets)
            .map(|(compiled, _)| compiled)
            .map_err(body_error)
    }

    /// Checks a body that is to be saved with `inputs` (already checked): its errors, the
    /// placeholders it reads, and every warning, the inputs' included.
    pub fn validate(
        &self,
        workspace_id: &WorkspaceId,
        body: &str,
        inputs: &[ShortcutInput],
        known: &paths::KnownPaths,
        viewer: &Viewer,
    ) -> Result<Validation> {
        validate::body(body, self.engine.limits().max_template_bytes)?;
        let snippets = WorkspaceSnippets {
            catalog: self,
            workspace_id: workspace_id.as_str(),
            includes: Includes::Strict,
            viewer,
        };
        let mut validation = self.engine.validate_with(body, None, &snippets);
        let mut warnings = paths::unknown("body", &validation, known);
        warnings.extend(inputs::undeclared("body", &validation, inputs));
        warnings.extend(inputs::unused(&[&validation], inputs));
        validation.warnings.extend(warnings);
        sort_warnings(&mut validation.warnings);
        Ok(validation)
    }

    /// What ValidateTemplate would warn about in a saved shortcut: its body, each variant,
    /// and its inputs. Write time only: it parses the texts again.
    pub fn warnings(&self, shortcut: &Shortcut, known: &paths::KnownPaths) -> Vec<TemplateWarning> {
        let texts: Vec<(String, &str)> =
            std::iter::once(("body".to_string(), shortcut.body.as_str()))
                .chain(
                    shortcut
                        .variants
                        .iter()
                        .map(|(tag, body)| (validate::variant_field(tag), body.as_str())),
                )
                .collect();
        let validations: Vec<Validation> = texts
            .iter()
            .map(|(_, text)| {
                let snippets = WorkspaceSnippets {
                    catalog: self,
                    workspace_id: &shortcut.workspace_id,
                    includes: Includes::Lenient,
                    viewer: &Viewer::Everyone,
                };
                self.engine
                    .validate_with(text, Some(&shortcut.bang), &snippets)
            })
            .collect();
        let mut out = Vec::new();
        for ((field, _), validation) in texts.iter().zip(&validations) {
            let start = out.len();
            out.extend(validation.warnings.iter().cloned().map(|mut w| {
                w.field = field.clone();
                w
            }));
            out.extend(paths::unknown(field, validation, known));
            out.extend(inputs::undeclared(field, validation, &shortcut.inputs));
            sort_warnings(&mut out[start..]);
        }
        // Attachments: their names and URLs are templates too (without includes).
        let mut attachment_validations = Vec::new();
        for (i, a) in shortcut.attachments.iter().enumerate() {
            for (part, text) in [("name", &a.name), ("url", &a.url)] {
                let field = attachments::field(i, part);
                let validation = self.engine.validate(text);
                let start = out.len();
                out.extend(validation.warnings.iter().cloned().map(|mut w| {
                    w.field = field.clone();
                    w
                }));
                out.extend(paths::unknown(&field, &validation, known));
                out.extend(inputs::undeclared(&field, &validation, &shortcut.inputs));
                sort_warnings(&mut out[start..]);
                attachment_validations.push(validation);
            }
        }
        let all: Vec<&Validation> = validations.iter().chain(&attachment_validations).collect();
        out.extend(inputs::unused(&all, &shortcut.inputs));
        out
    }

    pub async fn create(&self, new: NewShortcut) -> Result<Arc<Entry>> {
        let _loaded = self.workspace_for_write(new.workspace_id.as_str()).await?;
        let entry = self.prepare(new)?;
        self.store.insert(&entry.shortcut).await?;
        Ok(self.apply(entry))
    }

    /// Validates and compiles a new shortcut without writing it.
    pub fn prepare(&self, new: NewShortcut) -> Result<Entry> {
        let workspace_id = new.workspace_id.to_string();
        let bang = validate::bang("bang", &new.bang)?.to_string();
        let title = validate::title(&new.title)?;
        let tags = validate::tags(&new.tags)?;
        let variants = validate::variants(&new.variants, &self.engine.limits())?;
        let inputs = inputs::check(&new.inputs)?;
        let (owner, team_ids) = visibility::check(new.visibility, &new.owner, &new.team_ids)?;
        let folder = folders::path("folder", &new.folder)?;
        let attachments = attachments::check(&new.attachments, &self.engine.limits())?;
        let now = model::now();
        let shortcut = Shortcut {
            id: uuid::Uuid::now_v7().simple().to_string(),
            workspace_id,
            bang,
            title,
            body: new.body,
            tags,
            disabled: new.disabled,
            variants,
            inputs,
            snippet: new.snippet,
            visibility: new.visibility,
            owner,
            team_ids,
            folder,
            position: new.position,
            attachments,
            version: 1,
            create_time: now,
            update_time: now,
        };
        self.build_entry(shortcut, Includes::Strict, Check::Compile)
    }

    /// Validates and compiles the new content of an existing shortcut without writing it:
    /// the shortcut keeps its id and everything `change` leaves alone, at the next version.
    pub fn prepare_replacement(&self, current: &Shortcut, change: NewShortcut) -> Result<Entry> {
        let mut shortcut = current.clone();
        shortcut.title = validate::title(&change.title)?;
        shortcut.tags = validate::tags(&change.tags)?;
        shortcut.inputs = inputs::check(&change.inputs)?;
        shortcut.body = change.body;
        shortcut.disabled = change.disabled;
        // An import naming no folder leaves the shortcut where it was filed.
        if !change.folder.is_empty() {
            shortcut.folder = folders::path("folder", &change.folder)?;
        }
        shortcut.version = current.version + 1;
        shortcut.update_time = model::now();
        self.build_entry(shortcut, Includes::Strict, Check::Compile)
    }

    /// Compiles a prepared shortcut again, for a second attempt at writing it (an entry
    /// holds compiled templates and is not cloned).
    pub fn recompile(&self, shortcut: Shortcut) -> Result<Entry> {
        self.build_entry(shortcut, Includes::Strict, Check::Compile)
    }

    /// Writes prepared shortcuts, new ones and replacements (at the version before theirs),
    /// in one store transaction: all of them or none.
    pub async fn write_many(&self, entries: Vec<Entry>) -> Result<Vec<Arc<Entry>>> {
        let mut _loaded = Vec::new();
        let mut workspaces: Vec<&str> = entries
            .iter()
            .map(|e| e.shortcut.workspace_id.as_str())
            .collect();
        workspaces.sort_unstable();
        workspaces.dedup();
        for workspace_id in workspaces {
            _loaded.push(self.workspace_for_write(workspace_id).await?);
        }
        let writes: Vec<ShortcutWrite> = entries
            .iter()
            .map(|e| match e.shortcut.version {
                1 => ShortcutWrite::Insert(e.shortcut.clone()),
                next => ShortcutWrite::Update {
                    shortcut: e.shortcut.clone(),
                    expected_version: next - 1,
                },
            })
            .collect();
        self.store.write_many(&writes).await?;
        Ok(self.apply_many(entries))
    }

    pub async fn update(
        &self,
        workspace_id: &WorkspaceId,
        id: &ShortcutId,
        expected_version: u64,
        changes: ShortcutChanges,
    ) -> Result<Arc<Entry>> {
        if expected_version == 0 {
            return Err(Error::invalid(
                "version",
                "is required: send the version you last read, so that concurrent edits are not lost",
            ));
        }
        let _loaded = self.workspace_for_write(workspace_id.as_str()).await?;
        let key = ShortcutKey::Id(id.clone());
        // Unchanged fields are copied from the version the caller saw. If memory holds
        // another version (or none: another replica wrote it a moment ago), read the store,
        // so that a partial update never writes back stale content.
        let current = match self.get(workspace_id, &key) {
            Ok(entry) if entry.shortcut.version == expected_version => entry,
            _ => {
                self.refresh(workspace_id, id).await?;
                self.get(workspace_id, &key)?
            }
        };
        let mut shortcut = current.shortcut.clone();
        if let Some(bang) = &changes.bang {
            shortcut.bang = validate::bang("bang", bang)?.to_string();
        }
        if let Some(title) = &changes.title {
            shortcut.title = validate::title(title)?;
        }
        if let Some(tags) = &changes.tags {
            shortcut.tags = validate::tags(tags)?;
        }
        if let Some(disabled) = changes.disabled {
            shortcut.disabled = disabled;
        }
        if let Some(body) = changes.body {
            shortcut.body = body;
        }
        if let Some(variants) = &changes.variants {
            shortcut.variants = validate::variants(variants, &self.engine.limits())?;
        }
        if let Some(new_inputs) = &changes.inputs {
            shortcut.inputs = inputs::check(new_inputs)?;
        }
        if let Some(snippet) = changes.snippet {
            shortcut.snippet = snippet;
        }
        if let Some(visibility) = changes.visibility {
            shortcut.visibility = visibility;
        }
        if let Some(owner) = changes.owner {
            shortcut.owner = owner;
        }
        if let Some(team_ids) = changes.team_ids {
            shortcut.team_ids = team_ids;
        }
        (shortcut.owner, shortcut.team_ids) =
            visibility::check(shortcut.visibility, &shortcut.owner, &shortcut.team_ids)?;
        if let Some(folder) = &changes.folder {
            shortcut.folder = folders::path("folder", folder)?;
        }
        if let Some(position) = changes.position {
            shortcut.position = position;
        }
        if let Some(new_attachments) = &changes.attachments {
            shortcut.attachments = attachments::check(new_attachments, &self.engine.limits())?;
        }
        let old = &current.shortcut;
        if old.snippet && !shortcut.snippet {
            self.refuse_if_included(old, "un-mark")?;
        } else if old.snippet && old.bang_key() != shortcut.bang_key() {
            self.refuse_if_included(old, "rename")?;
        }
        let entry = self.build_entry(shortcut, Includes::Strict, Check::Compile)?;
        let mut shortcut = entry.shortcut.clone();
        shortcut.version = expected_version + 1;
        shortcut.update_time = model::now();
        self.store.update(&shortcut, expected_version).await?;
        Ok(self.apply(Entry { shortcut, ..entry }))
    }

    pub async fn delete(
        &self,
        workspace_id: &WorkspaceId,
        id: &ShortcutId,
        expected_version: Option<u64>,
    ) -> Result<()> {
        let _loaded = self.workspace_for_write(workspace_id.as_str()).await?;
        // Checked against memory: a replica that has not yet seen a new includer lets the
        // delete through, and that include then renders as nothing (and is logged).
        if let Ok(current) = self.get(workspace_id, &ShortcutKey::Id(id.clone()))
            && current.shortcut.snippet
        {
            self.refuse_if_included(&current.shortcut, "delete")?;
        }
        self.store
            .delete(workspace_id, id, expected_version)
            .await?;
        self.forget(workspace_id, id);
        Ok(())
    }

    /// Looks a shortcut up in memory for `viewer`: one it may not see is not found, with the
    /// very error of a missing one.
    pub fn get_as(
        &self,
        workspace_id: &WorkspaceId,
        key: &ShortcutKey,
        viewer: &Viewer,
    ) -> Result<Arc<Entry>> {
        let entry = self.get(workspace_id, key)?;
        if viewer.sees(&entry.shortcut) {
            return Ok(entry);
        }
        Err(not_found(workspace_id, key))
    }

    /// Looks a shortcut up in memory.
    pub fn get(&self, workspace_id: &WorkspaceId, key: &ShortcutKey) -> Result<Arc<Entry>> {
        let workspaces = self.workspaces.read().expect("catalog lock poisoned");
        let found = workspaces
            .get(workspace_id.as_str())
            .and_then(|ws| match key {
                ShortcutKey::Id(id) => ws.entries.get(id.as_str()).cloned(),
                ShortcutKey::Bang(bang) => ws.entries.by_bang(&bang_key(bang)).cloned(),
            });
        found.ok_or_else(|| not_found(workspace_id, key))
    }

    /// The folder tree of the shortcuts `viewer` may see, with their counts.
    pub fn folder_tree(
        &self,
        workspace_id: &WorkspaceId,
        viewer: &Viewer,
        include_disabled: bool,
    ) -> folders::FolderTree {
        let workspaces = self.workspaces.read().expect("catalog lock poisoned");
        let Some(ws) = workspaces.get(workspace_id.as_str()) else {
            return folders::FolderTree::default();
        };
        folders::tree(
            ws.entries
                .iter()
                .map(|e| &e.shortcut)
                .filter(|s| (include_disabled || !s.disabled) && viewer.sees(s))
                .map(|s| s.folder.as_str()),
        )
    }

    pub fn list(&self, workspace_id: &WorkspaceId, query: &ListQuery) -> Result<Page> {
        let page_size = match query.page_size {
            n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
            0 => DEFAULT_PAGE_SIZE,
            n => (n as usize).min(MAX_PAGE_SIZE),
        };
        let tags = validate::tags(&query.tags)?;
        let folder = folders::path("folder", &query.folder)?;
        let in_folder = (!folder.is_empty()).then_some(folders::FolderFilter {
            folder,
            include_subfolders: query.include_subfolders,
        });
        let after = decode_page_token(&query.page_token, in_folder.is_some())?;
        let keep = |s: &Shortcut| {
            (query.include_disabled || !s.disabled)
                && tags.iter().all(|t| s.tags.contains(t))
                && in_folder.as_ref().is_none_or(|f| f.matches(&s.folder))
                && query.viewer.sees(s)
        };
        let workspaces = self.workspaces.read().expect("catalog lock poisoned");
        let Some(ws) = workspaces.get(workspace_id.as_str()) else {
            return Ok(Page {
                shortcuts: vec![],
                next_page_token: String::new(),
            });
        };
        // One more than a page is gathered: if it is there, another page follows.
        let mut shortcuts: Vec<Arc<Entry>> = match &after {
            PageCursor::Bang(after) => ws
                .entries
                .in_bang_order(after.as_deref())
                .filter(|e| keep(&e.shortcut))
                .take(page_size + 1)
                .cloned()
                .collect(),
            PageCursor::Position(after) => {
                let mut found: Vec<(i32, String, &Arc<Entry>)> = ws
                    .entries
                    .iter()
                    .filter(|e| keep(&e.shortcut))
                    .map(|e| (e.shortcut.position, e.shortcut.bang_key(), e))
                    .filter(|(position, key, _)| {
                        after.as_ref().is_none_or(|(p, k)| (position, key) > (p, k))
                    })
                    .collect();
                let wanted = (page_size + 1).min(found.len());
                if wanted > 0 && wanted < found.len() {
                    found.select_nth_unstable_by(wanted - 1, |a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
                    found.truncate(wanted);
                }
                found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
                found.into_iter().map(|(_, _, e)| e.clone()).collect()
            }
        };
        let mut next_page_token = String::new();
        if shortcuts.len() > page_size {
            shortcuts.truncate(page_size);
            // The token resumes after the last one returned.
            if let Some(last) = shortcuts.last() {
                next_page_token = match after {
                    PageCursor::Bang(_) => encode_page_token(&last.shortcut.bang_key()),
                    PageCursor::Position(_) => {
                        encode_position_token(last.shortcut.position, &last.shortcut.bang_key())
                    }
                };
            }
        }
        Ok(Page {
            shortcuts,
            next_page_token,
        })
    }

    /// Puts an entry into memory unless memory already holds a newer version of it, and
    /// compiles again the shortcuts that include it (under its old or new bang). Returns
    /// what memory holds afterwards.
    pub fn apply(&self, entry: Entry) -> Arc<Entry> {
        let workspace_id = entry.shortcut.workspace_id.clone();
        let old_key = self.bang_key_in_memory(&entry.shortcut);
        let applied = self.replace(entry);
        self.recompile_includers(&workspace_id, &applied.shortcut.bang_key());
        if let Some(old) = old_key
            && old != applied.shortcut.bang_key()
        {
            self.recompile_includers(&workspace_id, &old);
        }
        applied
    }

    /// The bang key memory holds for this shortcut's id (its bang before a write).
    fn bang_key_in_memory(&self, shortcut: &Shortcut) -> Option<String> {
        self.workspaces
            .read()
            .expect("catalog lock poisoned")
            .get(&shortcut.workspace_id)
            .and_then(|ws| ws.entries.get(&shortcut.id))
            .map(|e| e.shortcut.bang_key())
    }

    /// [`Catalog::apply`] for many entries, with one pass over the workspaces for the
    /// includers of all of them (one pass per entry would cost the square of an import).
    fn apply_many(&self, entries: Vec<Entry>) -> Vec<Arc<Entry>> {
        let mut changed: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
        let applied: Vec<Arc<Entry>> = entries
            .into_iter()
            .map(|entry| {
                let workspace_id = entry.shortcut.workspace_id.clone();
                let old_key = self.bang_key_in_memory(&entry.shortcut);
                let applied = self.replace(entry);
                let keys = changed.entry(workspace_id).or_default();
                keys.insert(applied.shortcut.bang_key());
                keys.extend(old_key);
                applied
            })
            .collect();
        for (workspace_id, keys) in changed {
            self.recompile_includers_of(&workspace_id, |included| keys.contains(included));
        }
        applied
    }

    /// [`Catalog::apply`] without compiling the includers again.
    fn replace(&self, entry: Entry) -> Arc<Entry> {
        let mut applied = self.replace_many(vec![entry]);
        applied.pop().expect("one entry in, one out")
    }

    /// [`Catalog::replace`] for many entries, under one lock of memory and one of the
    /// search index (a workspace's load puts hundreds at once). Returns what memory holds
    /// afterwards for each.
    fn replace_many(&self, entries: Vec<Entry>) -> Vec<Arc<Entry>> {
        let mut workspaces = self.workspaces.write().expect("catalog lock poisoned");
        let mut indexed = Vec::with_capacity(entries.len());
        let applied: Vec<Arc<Entry>> = entries
            .into_iter()
            .map(|entry| {
                let entry = Arc::new(entry);
                // Not loaded (evicted meanwhile): it is read afresh, with this, when next used.
                let Some(ws) = workspaces.get_mut(&entry.shortcut.workspace_id) else {
                    return entry;
                };
                let mut grown = resident::entry_bytes(&entry.shortcut) as i64;
                if let Some(existing) = ws.entries.get(&entry.shortcut.id) {
                    if existing.shortcut.version > entry.shortcut.version {
                        return existing.clone();
                    }
                    grown -= resident::entry_bytes(&existing.shortcut) as i64;
                }
                if let Some(old) = ws.entries.insert(entry.clone()) {
                    self.compiled.forget(old.serial, old.bodies());
                }
                ws.residence.bytes = ws.residence.bytes.saturating_add_signed(grown);
                self.residency.add_bytes(grown);
                indexed.push(entry.clone());
                entry
            })
            .collect();
        self.search.upsert_many(&indexed);
        drop(workspaces);
        if !indexed.is_empty() {
            self.note_change();
        }
        applied
    }

    /// Drops a shortcut from memory.
    pub fn forget(&self, workspace_id: &str, id: &str) {
        let mut workspaces = self.workspaces.write().expect("catalog lock poisoned");
        if let Some(ws) = workspaces.get_mut(workspace_id)
            && let Some(old) = ws.entries.remove(id)
        {
            let shrunk = resident::entry_bytes(&old.shortcut);
            ws.residence.bytes = ws.residence.bytes.saturating_sub(shrunk);
            self.residency.add_bytes(-(shrunk as i64));
            let key = old.shortcut.bang_key();
            self.search.remove(workspace_id, id);
            self.compiled.forget(old.serial, old.bodies());
            drop(workspaces);
            self.note_change();
            self.recompile_includers(workspace_id, &key);
        }
    }

    /// The id and bang of every shortcut of a workspace that is sent as a reply (snippets
    /// are pieces of replies), in bang order.
    pub fn replies(&self, workspace_id: &WorkspaceId) -> Vec<(String, String)> {
        let workspaces = self.workspaces.read().expect("catalog lock poisoned");
        let Some(ws) = workspaces.get(workspace_id.as_str()) else {
            return Vec::new();
        };
        ws.entries
            .in_bang_order(None)
            .filter(|entry| !entry.shortcut.snippet)
            .map(|entry| (entry.shortcut.id.clone(), entry.shortcut.bang.clone()))
            .collect()
    }

    /// Number of shortcuts per loaded workspace.
    pub fn sizes(&self) -> Vec<(String, usize)> {
        let workspaces = self.workspaces.read().expect("catalog lock poisoned");
        workspaces
            .iter()
            .map(|(k, v)| (k.clone(), v.entries.len()))
            .collect()
    }
}

/// Builds a workspace's memory from its stored shortcuts as the store hands them over, then
/// forgets those the store no longer has.
struct Fill<'a> {
    catalog: &'a Catalog,
    workspace_id: &'a str,
    present: std::collections::HashSet<String>,
    /// Those that include snippets: built again once every snippet is in memory.
    includers: Vec<String>,
}

impl<'a> Fill<'a> {
    fn new(catalog: &'a Catalog, workspace_id: &'a str) -> Self {
        Self {
            catalog,
            workspace_id,
            present: Default::default(),
            includers: Vec::new(),
        }
    }

    fn add(&mut self, stored: Vec<Shortcut>) {
        let mut entries = Vec::with_capacity(stored.len());
        for shortcut in stored {
            let includes = std::iter::once(&shortcut.body)
                .chain(shortcut.variants.values())
                .any(|body| !crate::template::include::include_tags(body).is_empty());
            if includes {
                self.includers.push(shortcut.id.clone());
            }
            self.present.insert(shortcut.id.clone());
            // Into memory without `apply`'s pass over the workspace for includers, which
            // made a load quadratic in its size: every includer is built again in `finish`.
            entries.extend(self.catalog.build_stored(shortcut, Check::TrustLater));
        }
        self.catalog.replace_many(entries);
    }

    fn finish(self) {
        let catalog = self.catalog;
        for id in self.includers {
            let current = {
                let workspaces = catalog.workspaces.read().expect("catalog lock poisoned");
                workspaces
                    .get(self.workspace_id)
                    .and_then(|w| w.entries.get(&id))
                    .map(|e| e.shortcut.clone())
            };
            if let Some(shortcut) = current
                && let Ok(entry) = catalog.build_entry(shortcut, Includes::Lenient, Check::Trust)
            {
                catalog.replace(entry);
            }
        }
        let gone: Vec<String> = {
            let workspaces = catalog.workspaces.read().expect("catalog lock poisoned");
            workspaces
                .get(self.workspace_id)
                .map(|w| {
                    w.entries
                        .iter()
                        .map(|e| &e.shortcut.id)
                        .filter(|id| !self.present.contains(*id))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        };
        for id in gone {
            catalog.forget(self.workspace_id, &id);
        }
    }
}

/// Removes a workspace's half-loaded entry unless disarmed: a load that fails, or whose
/// caller goes away before it ends, leaves nothing behind.
struct AbandonLoad<'a> {
    catalog: &'a Catalog,
    workspace_id: &'a str,
    armed: bool,
}

impl Drop for AbandonLoad<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.catalog
                .drop_workspace(self.workspace_id, |ws| !ws.ready());
            crate::telemetry::record_catalog_load(std::time::Duration::ZERO, false);
        }
    }
}

/// A text's warnings in order of position; those about no position (inputs) last.
fn sort_warnings(warnings: &mut [TemplateWarning]) {
    warnings.sort_by_key(|w| (w.line == 0, w.line, w.column));
}

/// How an include of a missing snippet is treated: refused when a shortcut is written,
/// replaced by nothing (and logged) when memory is rebuilt from the store, where a snippet
/// may have been deleted or renamed since its includers were written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Includes {
    Strict,
    Lenient,
}

/// Whether building an entry compiles its bodies (a write, or includers after a snippet
/// changed) or trusts them (loaded from the store: they compiled when written, and the
/// first render compiles them anyway).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Compile,
    Trust,
    /// As `Trust`, without following the includes: a load's first pass, when the snippets
    /// may not be in memory yet (they would be reported missing). The load builds its
    /// includers again with `Trust` once every shortcut is in.
    TrustLater,
}

/// The snippets of one workspace, as `include` sees them.
struct WorkspaceSnippets<'a> {
    catalog: &'a Catalog,
    workspace_id: &'a str,
    includes: Includes,
    /// Whose inline template is compiled: a snippet it may not see is missing to it.
    viewer: &'a Viewer,
}

impl crate::template::include::Snippets for WorkspaceSnippets<'_> {
    fn body(&self, name: &str) -> std::result::Result<String, String> {
        let found = {
            let workspaces = self
                .catalog
                .workspaces
                .read()
                .expect("catalog lock poisoned");
            workspaces
                .get(self.workspace_id)
                .and_then(|ws| ws.entries.by_bang(&bang_key(name)))
                .filter(|e| self.viewer.sees(&e.shortcut))
                .map(|e| (e.shortcut.snippet, e.shortcut.body.clone()))
        };
        let problem = match found {
            Some((true, body)) => return Ok(body),
            Some((false, _)) => {
                format!("!{name} is not a snippet: mark it `snippet` to include it")
            }
            None => format!("there is no snippet !{name} in this workspace"),
        };
        match self.includes {
            Includes::Strict => Err(problem),
            Includes::Lenient => {
                tracing::warn!(workspace_id = %self.workspace_id, "{problem}; the include renders as nothing");
                Ok(String::new())
            }
        }
    }
}

/// A stored body that no longer compiles (the template language changed, or a snippet it
/// includes did): the render fails with the first problem, and every problem is logged.
fn stored_body_error(entry: &Entry, tag: &str, problems: Vec<TemplateDiagnostic>) -> Error {
    let field = if tag.is_empty() {
        "body".to_string()
    } else {
        validate::variant_field(tag)
    };
    tracing::error!(workspace_id = %entry.shortcut.workspace_id, shortcut_id = %entry.shortcut.id, %field, ?problems, "a stored template no longer compiles");
    let (line, message) = problems
        .first()
        .map(|p| {
            (
                p.line as usize,
                format!("{} no longer compiles: {}", field, p.message),
            )
        })
        .unwrap_or((0, format!("{field} no longer compiles")));
    Error::TemplateFailed { line, message }
}

fn body_error(problems: Vec<TemplateDiagnostic>) -> Error {
    Error::InvalidTemplate {
        field: "body".into(),
        problems,
    }
}

/// Where a listing page starts: after a bang (every folder, by bang), or after a position
/// and bang (one folder, by position then bang).
enum PageCursor {
    Bang(Option<String>),
    Position(Option<(i32, String)>),
}

fn not_found(workspace_id: &WorkspaceId, key: &ShortcutKey) -> Error {
    let label = match key {
        ShortcutKey::Id(id) => format!("id {}", crate::error::quote(id)),
        ShortcutKey::Bang(bang) => format!("bang {}", crate::error::quote(&format!("!{bang}"))),
    };
    Error::ShortcutNotFound {
        workspace: workspace_id.to_string(),
        key: label,
    }
}

fn encode_page_token(after_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{after_key}"))
}

fn encode_position_token(position: i32, after_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v2:{position}:{after_key}"))
}

/// Reads a page token of the kind the listing makes: by position within a folder when
/// `in_folder`, by bang otherwise (a token of the other kind is refused).
fn decode_page_token(token: &str, in_folder: bool) -> Result<PageCursor> {
    if token.is_empty() {
        return Ok(if in_folder {
            PageCursor::Position(None)
        } else {
            PageCursor::Bang(None)
        });
    }
    let bad = || {
        Error::invalid(
            "page_token",
            "is not a token returned by ListShortcuts for this listing",
        )
    };
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    if in_folder {
        let (position, key) = text
            .strip_prefix("v2:")
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(bad)?;
        let position: i32 = position.parse().map_err(|_| bad())?;
        Ok(PageCursor::Position(Some((position, key.to_string()))))
    } else {
        text.strip_prefix("v1:")
            .map(|k| PageCursor::Bang(Some(k.to_string())))
            .ok_or_else(bad)
    }
}
