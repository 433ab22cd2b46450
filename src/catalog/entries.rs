//! One workspace's entries in memory, found by id and by bang, each entry held once.
//!
//! The id map is a hash table of the entries themselves, looked up through the id each
//! entry carries, and the bang map holds the entries rather than their ids: a copy of the
//! 36-byte id per map (a `String` and its allocation, ~70 bytes each) was a tenth of what
//! a shortcut cost in memory (issue 20).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::ops::Bound;
use std::sync::Arc;

use hashbrown::HashTable;

use super::Entry;

#[derive(Default)]
pub(super) struct Entries {
    by_id: HashTable<Arc<Entry>>,
    /// Bang key (case-folded) -> entry, ordered for listing.
    by_bang: BTreeMap<Box<str>, Arc<Entry>>,
    hasher: RandomState,
    /// How many include snippets: a write looks for the includers of what it changed only
    /// when there are some (a pass over a workspace of 200,000 cost ~15 ms a write).
    includers: usize,
}

impl Entries {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether any entry includes a snippet.
    pub fn has_includers(&self) -> bool {
        self.includers > 0
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Entry>> {
        self.by_id
            .find(self.hasher.hash_one(id), |e| e.shortcut.id == id)
    }

    /// The entry whose case-folded bang is `key`.
    pub fn by_bang(&self, key: &str) -> Option<&Arc<Entry>> {
        self.by_bang.get(key)
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.by_id.iter()
    }

    /// The entries in bang order, after the bang key `after` if given.
    pub fn in_bang_order(&self, after: Option<&str>) -> impl Iterator<Item = &Arc<Entry>> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.by_bang
            .range::<str, _>((from, Bound::Unbounded))
            .map(|(_, entry)| entry)
    }

    /// Puts an entry in place of the one with its id; returns that one.
    pub fn insert(&mut self, entry: Arc<Entry>) -> Option<Arc<Entry>> {
        let old = self.remove(&entry.shortcut.id);
        self.includers += usize::from(!entry.includes.is_empty());
        self.by_bang
            .insert(entry.shortcut.bang_key().into_boxed_str(), entry.clone());
        let hasher = &self.hasher;
        self.by_id
            .insert_unique(hasher.hash_one(entry.shortcut.id.as_str()), entry, |e| {
                hasher.hash_one(e.shortcut.id.as_str())
            });
        old
    }

    pub fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
        let (old, _) = self
            .by_id
            .find_entry(self.hasher.hash_one(id), |e| e.shortcut.id == id)
            .ok()?
            .remove();
        self.includers -= usize::from(!old.includes.is_empty());
        let key = old.shortcut.bang_key();
        // Another shortcut may hold the bang by now (renamed on another replica, its
        // change applied first): only this one's own mapping goes.
        if self
            .by_bang
            .get(key.as_str())
            .is_some_and(|e| e.shortcut.id == id)
        {
            self.by_bang.remove(key.as_str());
        }
        Some(old)
    }
}
