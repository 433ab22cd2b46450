//! One workspace's inverted index: folded words -> shortcuts, with prefix lookup.
//!
//! Each shortcut gets a small document number; the shortcuts having a word are a roaring
//! bitmap of those numbers, kept for the title alone and for every field (bang, title,
//! tags, literal body text). Words sit in a sorted map, so the words starting with what
//! the agent typed are one range of it: a keystroke touches the words it could match and
//! never a shortcut's body.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use roaring::RoaringBitmap;

use super::docset::DocSet;
use super::fold;
use super::preview::BodyText;
use super::usage::RecentUses;
use crate::catalog::{Entry, Viewer, Visibility};

/// A shortcut as the index holds it. The body's preview text is not kept: it is made
/// again from the shortcut for the few hits a search returns (a copy per shortcut was
/// ~450 bytes of a catalogue's memory for ~1 µs per hit).
#[derive(Debug)]
pub struct Doc {
    pub entry: Arc<Entry>,
    /// The folded bang when folding changes it (most bangs are folded already, and a copy
    /// of each was ~50 bytes of a catalogue's memory per shortcut).
    folded_bang: Option<Box<str>>,
}

impl Doc {
    fn new(entry: Arc<Entry>) -> Self {
        let folded = fold::fold(&entry.shortcut.bang);
        Self {
            folded_bang: (folded != entry.shortcut.bang).then(|| folded.into_boxed_str()),
            entry,
        }
    }

    /// The folded bang, for exact and prefix matches of the whole query.
    pub fn folded_bang(&self) -> &str {
        self.folded_bang
            .as_deref()
            .unwrap_or(&self.entry.shortcut.bang)
    }

    /// The default body prepared for previews.
    pub fn body(&self) -> BodyText {
        BodyText::new(&self.entry.shortcut.body)
    }

    /// The localised variants' bodies, for the preview of a match found only in one.
    pub fn variants(&self) -> impl Iterator<Item = BodyText> + '_ {
        self.entry
            .shortcut
            .variants
            .values()
            .map(|v| BodyText::new(v))
    }
}

/// A prefix shared by more words than this has its union cached: typing `1` must not
/// unite the postings of every order number in the workspace on each keystroke.
const CACHE_PREFIXES_OVER_WORDS: usize = 32;
/// At most this many prefixes are cached per workspace (each holds two bitmaps).
const MAX_CACHED_PREFIXES: usize = 4096;

/// The shortcuts having one word.
#[derive(Debug, Default)]
struct Postings {
    in_title: DocSet,
    anywhere: DocSet,
}

/// The shortcuts having any of several words (those starting with a prefix).
#[derive(Debug, Default, Clone)]
struct Union {
    in_title: RoaringBitmap,
    anywhere: RoaringBitmap,
}

#[derive(Debug, Default)]
pub struct WorkspaceIndex {
    docs: Vec<Option<Doc>>,
    free: Vec<u32>,
    /// Document numbers, found by the id of their document (not a copy of it).
    by_id: HashTable<u32>,
    hasher: RandomState,
    words: BTreeMap<Box<str>, Postings>,
    /// (folded bang, doc): several bangs can fold alike (`cafe`, `café`).
    bangs: BTreeSet<(Box<str>, u32)>,
    by_tag: HashMap<String, RoaringBitmap>,
    all: RoaringBitmap,
    enabled: RoaringBitmap,
    /// Who may see what (see [`crate::catalog::visibility`]): workspace shortcuts, and the
    /// others by owner and by team.
    shared: RoaringBitmap,
    by_owner: HashMap<String, RoaringBitmap>,
    by_team: HashMap<String, RoaringBitmap>,
    /// Recent uses by document number, side by side so that ranking a large tier reads
    /// them in a sweep rather than chasing a pointer per shortcut.
    uses: Vec<RecentUses>,
    /// Unions of the postings of every word starting with a popular prefix. Kept exact on
    /// every insert and removal (under the index's write lock); filled by searches.
    prefix_unions: RwLock<HashMap<Box<str>, Arc<Union>>>,
}

/// Which postings a prefix lookup unites.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    Title,
    Anywhere,
}

impl WorkspaceIndex {
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn doc(&self, number: u32) -> Option<&Doc> {
        self.docs.get(number as usize)?.as_ref()
    }

    /// Indexes a shortcut, replacing what was indexed under its id.
    pub fn insert(&mut self, entry: Arc<Entry>) {
        // A new version keeps the count of the one it replaces.
        let uses = self
            .number_of(&entry.shortcut.id)
            .map(|n| self.uses[n as usize].take())
            .unwrap_or_default();
        self.remove(&entry.shortcut.id);
        let number = self.free.pop().unwrap_or(self.docs.len() as u32);
        if self.uses.len() <= number as usize {
            self.uses
                .resize_with(number as usize + 1, RecentUses::default);
        }
        self.uses[number as usize] = uses;
        let doc = Doc::new(entry);
        let (title_words, all_words) = doc_words(&doc);
        for word in &all_words {
            // Most words are there already: a key is allocated only for a new one.
            match self.words.get_mut(word.as_str()) {
                Some(postings) => postings.anywhere.insert(number),
                None => self
                    .words
                    .entry(word.as_str().into())
                    .or_default()
                    .anywhere
                    .insert(number),
            }
        }
        for word in &title_words {
            if let Some(postings) = self.words.get_mut(word.as_str()) {
                postings.in_title.insert(number);
            }
        }
        let cached = self.prefix_unions.get_mut().expect("prefix cache poisoned");
        if !cached.is_empty() {
            for word in &all_words {
                for (end, _) in word.char_indices().skip(1).chain([(word.len(), ' ')]) {
                    if let Some(union) = cached.get_mut(&word[..end]) {
                        let union = Arc::make_mut(union);
                        union.anywhere.insert(number);
                        if title_words.binary_search(word).is_ok() {
                            union.in_title.insert(number);
                        }
                    }
                }
            }
        }
        self.bangs.insert((doc.folded_bang().into(), number));
        for tag in &doc.entry.shortcut.tags {
            self.by_tag.entry(tag.clone()).or_default().insert(number);
        }
        self.all.insert(number);
        if !doc.entry.shortcut.disabled {
            self.enabled.insert(number);
        }
        let shortcut = &doc.entry.shortcut;
        match shortcut.visibility {
            Visibility::Workspace => {
                self.shared.insert(number);
            }
            Visibility::Team => {
                for team in &shortcut.team_ids {
                    self.by_team.entry(team.clone()).or_default().insert(number);
                }
            }
            Visibility::Personal => {}
        }
        if shortcut.visibility != Visibility::Workspace && !shortcut.owner.is_empty() {
            self.by_owner
                .entry(shortcut.owner.clone())
                .or_default()
                .insert(number);
        }
        let hash = self.hasher.hash_one(doc.entry.shortcut.id.as_str());
        match self.docs.get_mut(number as usize) {
            Some(slot) => *slot = Some(doc),
            None => self.docs.push(Some(doc)),
        }
        let (docs, hasher) = (&self.docs, &self.hasher);
        self.by_id
            .insert_unique(hash, number, |n| hasher.hash_one(id_of(docs, *n)));
    }

    /// The document number of a shortcut id.
    fn number_of(&self, id: &str) -> Option<u32> {
        self.by_id
            .find(self.hasher.hash_one(id), |n| id_of(&self.docs, *n) == id)
            .copied()
    }

    /// Drops a shortcut from the index; false if it was not there.
    pub fn remove(&mut self, id: &str) -> bool {
        let docs = &self.docs;
        let Ok(found) = self
            .by_id
            .find_entry(self.hasher.hash_one(id), |n| id_of(docs, *n) == id)
        else {
            return false;
        };
        let (number, _) = found.remove();
        let Some(doc) = self.docs.get_mut(number as usize).and_then(Option::take) else {
            return false;
        };
        let (_, all_words) = doc_words(&doc);
        for word in all_words {
            if let Some(postings) = self.words.get_mut(word.as_str()) {
                postings.anywhere.remove(number);
                postings.in_title.remove(number);
                if postings.anywhere.is_empty() {
                    self.words.remove(word.as_str());
                }
            }
        }
        self.bangs.remove(&(doc.folded_bang().into(), number));
        for tag in &doc.entry.shortcut.tags {
            if let Some(docs) = self.by_tag.get_mut(tag) {
                docs.remove(number);
                if docs.is_empty() {
                    self.by_tag.remove(tag);
                }
            }
        }
        self.all.remove(number);
        self.enabled.remove(number);
        self.shared.remove(number);
        let shortcut = &doc.entry.shortcut;
        for team in &shortcut.team_ids {
            remove_from(&mut self.by_team, team, number);
        }
        remove_from(&mut self.by_owner, &shortcut.owner, number);
        self.uses[number as usize].take();
        for union in self
            .prefix_unions
            .get_mut()
            .expect("prefix cache poisoned")
            .values_mut()
        {
            let union = Arc::make_mut(union);
            union.anywhere.remove(number);
            union.in_title.remove(number);
        }
        self.free.push(number);
        true
    }

    /// Counts one use of a shortcut; unknown ids are ignored.
    pub fn record_use(&self, id: &str) {
        if let Some(number) = self.number_of(id) {
            self.uses[number as usize].record();
        }
    }

    /// Sets every shortcut's usage count to the rank key `key_of` gives its id.
    pub fn set_uses(&self, key_of: impl Fn(&str) -> f64) {
        for number in &self.by_id {
            self.uses[*number as usize].set_rank_key(key_of(id_of(&self.docs, *number)));
        }
    }

    /// Orders shortcuts by recent use (see [`RecentUses::rank_key`]).
    pub fn rank_key(&self, number: u32) -> f64 {
        self.uses
            .get(number as usize)
            .map_or(f64::NEG_INFINITY, RecentUses::rank_key)
    }

    /// The shortcuts a search may return: enabled ones (or all) that `viewer` may see,
    /// carrying every tag.
    pub fn eligible(
        &self,
        tags: &[String],
        include_disabled: bool,
        viewer: &Viewer,
    ) -> RoaringBitmap {
        let mut docs = if include_disabled {
            self.all.clone()
        } else {
            self.enabled.clone()
        };
        if let Viewer::Agent { id, teams } = viewer {
            let mut visible = self.shared.clone();
            if let Some(owned) = id.as_ref().and_then(|id| self.by_owner.get(id)) {
                visible |= owned;
            }
            for team in teams {
                if let Some(shared_with) = self.by_team.get(team) {
                    visible |= shared_with;
                }
            }
            docs &= visible;
        }
        for tag in tags {
            match self.by_tag.get(tag) {
                Some(tagged) => docs &= tagged,
                None => return RoaringBitmap::new(),
            }
        }
        docs
    }

    /// The shortcuts whose folded bang is exactly `folded`.
    pub fn bang_equal(&self, folded: &str) -> RoaringBitmap {
        self.bangs_from(folded)
            .take_while(|(bang, _)| &**bang == folded)
            .map(|(_, n)| *n)
            .collect()
    }

    /// The shortcuts whose folded bang starts with `folded`.
    pub fn bang_prefixed(&self, folded: &str) -> RoaringBitmap {
        self.bangs_from(folded)
            .take_while(|(bang, _)| bang.starts_with(folded))
            .map(|(_, n)| *n)
            .collect()
    }

    /// The shortcuts having, in `field`, a word that starts with `prefix`.
    pub fn word_prefixed(&self, prefix: &str, field: Field) -> RoaringBitmap {
        let pick = |union: &Union| match field {
            Field::Title => union.in_title.clone(),
            Field::Anywhere => union.anywhere.clone(),
        };
        let popular = self
            .words_prefixed(prefix)
            .nth(CACHE_PREFIXES_OVER_WORDS)
            .is_some();
        if !popular {
            return pick(&self.unite(prefix));
        }
        let cache = &self.prefix_unions;
        if let Some(union) = cache.read().expect("prefix cache poisoned").get(prefix) {
            return pick(union);
        }
        let union = Arc::new(self.unite(prefix));
        let mut cached = cache.write().expect("prefix cache poisoned");
        if cached.len() < MAX_CACHED_PREFIXES {
            cached.insert(prefix.into(), union.clone());
        }
        pick(&union)
    }

    fn words_prefixed<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Postings> {
        self.words
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(word, _)| word.starts_with(prefix))
            .map(|(_, postings)| postings)
    }

    fn unite(&self, prefix: &str) -> Union {
        let mut union = Union::default();
        for postings in self.words_prefixed(prefix) {
            postings.in_title.add_to(&mut union.in_title);
            postings.anywhere.add_to(&mut union.anywhere);
        }
        union
    }

    /// Shortcut numbers in alphabetical order of their folded bangs, from `folded` on.
    pub fn bang_order_from<'a>(&'a self, folded: &str) -> impl Iterator<Item = u32> + use<'a> {
        self.bangs_from(folded).map(|(_, n)| *n)
    }

    fn bangs_from<'a>(
        &'a self,
        folded: &str,
    ) -> impl Iterator<Item = &'a (Box<str>, u32)> + use<'a> {
        let from: (Box<str>, u32) = (folded.into(), 0);
        self.bangs.range(from..)
    }
}

/// The shortcut id of a document number the id table holds (so one that is indexed).
fn id_of(docs: &[Option<Doc>], number: u32) -> &str {
    docs.get(number as usize)
        .and_then(Option::as_ref)
        .map_or("", |doc| doc.entry.shortcut.id.as_str())
}

/// Drops `number` from the bitmap under `key`, and the bitmap once empty.
fn remove_from(map: &mut HashMap<String, RoaringBitmap>, key: &str, number: u32) {
    if let Some(docs) = map.get_mut(key) {
        docs.remove(number);
        if docs.is_empty() {
            map.remove(key);
        }
    }
}

/// The distinct folded words of a shortcut's title, and of all its fields.
/// (Sorted and deduplicated rather than hashed: indexing a workspace of 500 spent more in
/// hashing these words than in indexing them.)
fn doc_words(doc: &Doc) -> (Vec<String>, Vec<String>) {
    let shortcut = &doc.entry.shortcut;
    let mut title: Vec<String> = fold::words(&shortcut.title).map(|w| w.folded).collect();
    title.sort_unstable();
    title.dedup();
    let mut all = title.clone();
    all.extend(fold::words(&shortcut.bang).map(|w| w.folded));
    for tag in &shortcut.tags {
        all.extend(fold::words(tag).map(|w| w.folded));
    }
    all.extend(doc.body().words().map(|w| w.folded));
    // Localised variants are searched too: a French keystroke finds the French words.
    for variant in doc.variants() {
        all.extend(variant.words().map(|w| w.folded));
    }
    all.sort_unstable();
    all.dedup();
    (title, all)
}
