//! One workspace's inverted index: folded words -> shortcuts, with prefix lookup.
//!
//! Each shortcut gets a small document number; the shortcuts having a word are a roaring
//! bitmap of those numbers, kept for the title alone and for every field (bang, title,
//! tags, literal body text). Words sit in a sorted map, so the words starting with what
//! the agent typed are one range of it: a keystroke touches the words it could match and
//! never a shortcut's body.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::fold;
use super::preview::BodyText;
use super::usage::RecentUses;
use crate::catalog::Entry;

/// A shortcut as the index holds it.
#[derive(Debug)]
pub struct Doc {
    pub entry: Arc<Entry>,
    /// The folded bang, for exact and prefix matches of the whole query.
    pub folded_bang: String,
    pub body: BodyText,
    pub uses: Arc<RecentUses>,
}

/// The shortcuts having one word.
#[derive(Debug, Default)]
struct Postings {
    in_title: RoaringBitmap,
    anywhere: RoaringBitmap,
}

#[derive(Debug, Default)]
pub struct WorkspaceIndex {
    docs: Vec<Option<Doc>>,
    free: Vec<u32>,
    by_id: HashMap<String, u32>,
    words: BTreeMap<Box<str>, Postings>,
    /// (folded bang, doc): several bangs can fold alike (`cafe`, `café`).
    bangs: BTreeSet<(Box<str>, u32)>,
    by_tag: HashMap<String, RoaringBitmap>,
    all: RoaringBitmap,
    enabled: RoaringBitmap,
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
    pub fn insert(&mut self, entry: Arc<Entry>, uses: Arc<RecentUses>) {
        self.remove(&entry.shortcut.id);
        let number = self.free.pop().unwrap_or(self.docs.len() as u32);
        let doc = Doc {
            folded_bang: fold::fold(&entry.shortcut.bang),
            body: BodyText::new(&entry.shortcut.body),
            entry,
            uses,
        };
        let (title_words, all_words) = doc_words(&doc);
        for word in all_words {
            let postings = self.words.entry(word.into_boxed_str()).or_default();
            postings.anywhere.insert(number);
        }
        for word in title_words {
            if let Some(postings) = self.words.get_mut(word.as_str()) {
                postings.in_title.insert(number);
            }
        }
        self.bangs
            .insert((doc.folded_bang.clone().into_boxed_str(), number));
        for tag in &doc.entry.shortcut.tags {
            self.by_tag.entry(tag.clone()).or_default().insert(number);
        }
        self.all.insert(number);
        if !doc.entry.shortcut.disabled {
            self.enabled.insert(number);
        }
        self.by_id.insert(doc.entry.shortcut.id.clone(), number);
        match self.docs.get_mut(number as usize) {
            Some(slot) => *slot = Some(doc),
            None => self.docs.push(Some(doc)),
        }
    }

    /// Drops a shortcut from the index; false if it was not there.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(number) = self.by_id.remove(id) else {
            return false;
        };
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
        self.bangs
            .remove(&(doc.folded_bang.into_boxed_str(), number));
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
        self.free.push(number);
        true
    }

    /// The shortcuts a search may return: enabled ones (or all), carrying every tag.
    pub fn eligible(&self, tags: &[String], include_disabled: bool) -> RoaringBitmap {
        let mut docs = if include_disabled {
            self.all.clone()
        } else {
            self.enabled.clone()
        };
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
        let mut docs = RoaringBitmap::new();
        let range = self
            .words
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(word, _)| word.starts_with(prefix));
        for (_, postings) in range {
            docs |= match field {
                Field::Title => &postings.in_title,
                Field::Anywhere => &postings.anywhere,
            };
        }
        docs
    }

    fn bangs_from<'a>(&'a self, folded: &str) -> impl Iterator<Item = &'a (Box<str>, u32)> {
        let from: (Box<str>, u32) = (folded.into(), 0);
        self.bangs.range(from..)
    }
}

/// The distinct folded words of a shortcut's title, and of all its fields.
fn doc_words(doc: &Doc) -> (HashSet<String>, HashSet<String>) {
    let shortcut = &doc.entry.shortcut;
    let title: HashSet<String> = fold::words(&shortcut.title).map(|w| w.folded).collect();
    let mut all = title.clone();
    all.extend(fold::words(&shortcut.bang).map(|w| w.folded));
    for tag in &shortcut.tags {
        all.extend(fold::words(tag).map(|w| w.folded));
    }
    all.extend(doc.body.words().map(|w| w.folded));
    (title, all)
}
