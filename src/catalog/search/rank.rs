//! Which shortcuts a query finds and in which order.
//!
//! Tiers, best first: the query is the bang; the bang starts with the query; every query
//! word starts a word of the title; every query word starts a word anywhere (bang, title,
//! tags, body). Within a tier: used more recently first, then by bang. A tier is only
//! computed when the better ones left room under the limit.

use std::cmp::Ordering;

use roaring::RoaringBitmap;

use super::MatchKind;
use super::fold;
use super::workspace::{Doc, Field, WorkspaceIndex};
use crate::error::{Error, Result};

/// Most distinct words a query may have. (Its length in characters is bounded at the API
/// boundary: `crate::limits::RequestLimits::max_search_query_chars`.)
pub const MAX_QUERY_WORDS: usize = 16;
/// Past this many ties per wanted place, ties are taken in bang order rather than selected.
const DENSE_TIES: usize = 32;

/// A query, folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedQuery {
    /// The whole query without its leading `!`, trimmed: compared with bangs.
    pub whole: String,
    /// Its distinct words, each of which has to start a word of a shortcut.
    pub words: Vec<String>,
}

impl ParsedQuery {
    pub fn parse(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix('!').unwrap_or(trimmed).trim();
        let mut words: Vec<String> = Vec::new();
        for word in fold::words(bare) {
            if !words.contains(&word.folded) {
                words.push(word.folded);
            }
        }
        if words.len() > MAX_QUERY_WORDS {
            return Err(Error::invalid(
                "query",
                format!("has more than {MAX_QUERY_WORDS} words"),
            ));
        }
        Ok(Self {
            whole: fold::fold(bare),
            words,
        })
    }
}

/// The best `limit` shortcuts among `eligible` for `query`, with the tier each matched in.
pub fn rank(
    index: &WorkspaceIndex,
    query: &ParsedQuery,
    eligible: &RoaringBitmap,
    limit: usize,
) -> Vec<(u32, MatchKind)> {
    let mut ranking = Ranking {
        index,
        limit,
        ranked: Vec::with_capacity(limit),
        seen: RoaringBitmap::new(),
    };
    if query.whole.is_empty() {
        ranking.add_tier(eligible.clone(), MatchKind::Any);
        return ranking.ranked;
    }
    ranking.add_tier(
        index.bang_equal(&query.whole) & eligible,
        MatchKind::ExactBang,
    );
    if ranking.is_full() {
        return ranking.ranked;
    }
    ranking.add_tier(
        index.bang_prefixed(&query.whole) & eligible,
        MatchKind::BangPrefix,
    );
    if ranking.is_full() || query.words.is_empty() {
        return ranking.ranked;
    }
    let in_title = all_words(index, &query.words, Field::Title, eligible);
    ranking.add_tier(in_title, MatchKind::Title);
    if ranking.is_full() {
        return ranking.ranked;
    }
    let anywhere = all_words(index, &query.words, Field::Anywhere, eligible);
    ranking.add_tier(anywhere, MatchKind::Text);
    ranking.ranked
}

/// The eligible shortcuts in which every word starts a word of `field`.
fn all_words(
    index: &WorkspaceIndex,
    words: &[String],
    field: Field,
    eligible: &RoaringBitmap,
) -> RoaringBitmap {
    let mut docs = eligible.clone();
    for word in words {
        if docs.is_empty() {
            break;
        }
        docs &= index.word_prefixed(word, field);
    }
    docs
}

struct Ranking<'a> {
    index: &'a WorkspaceIndex,
    limit: usize,
    ranked: Vec<(u32, MatchKind)>,
    /// Every shortcut of the tiers added so far, ranked or not: a lower tier skips them.
    seen: RoaringBitmap,
}

impl Ranking<'_> {
    fn is_full(&self) -> bool {
        self.ranked.len() >= self.limit
    }

    fn add_tier(&mut self, mut docs: RoaringBitmap, kind: MatchKind) {
        docs -= &self.seen;
        if docs.is_empty() {
            return;
        }
        let room = self.limit.saturating_sub(self.ranked.len());
        let mut keyed: Vec<(f64, u32)> = docs.iter().map(|n| (self.index.rank_key(n), n)).collect();
        let chosen = if keyed.len() <= room {
            keyed
        } else {
            self.best_of(&mut keyed, room)
        };
        let mut tier: Vec<(f64, &Doc, u32)> = chosen
            .into_iter()
            .filter_map(|(key, n)| self.index.doc(n).map(|doc| (key, doc, n)))
            .collect();
        tier.sort_unstable_by(by_use_then_bang);
        self.ranked
            .extend(tier.into_iter().map(|(_, _, n)| (n, kind)));
        self.seen |= docs;
    }

    /// The `room` best of a large tier. Selecting compares use counts only; among the
    /// shortcuts tied at the cut (often many never used) a second selection compares bangs.
    fn best_of(&self, keyed: &mut [(f64, u32)], room: usize) -> Vec<(f64, u32)> {
        if room == 0 {
            return Vec::new();
        }
        keyed.select_nth_unstable_by(room - 1, |a, b| b.0.total_cmp(&a.0));
        let cut = keyed[room - 1].0;
        let mut chosen: Vec<(f64, u32)> = keyed
            .iter()
            .filter(|(key, _)| key.total_cmp(&cut) == Ordering::Greater)
            .copied()
            .collect();
        let mut tied: Vec<(f64, &Doc, u32)> = keyed
            .iter()
            .filter(|(key, _)| key.total_cmp(&cut) == Ordering::Equal)
            .filter_map(|(key, n)| self.index.doc(*n).map(|doc| (*key, doc, *n)))
            .collect();
        let wanted = room - chosen.len();
        if tied.len() > wanted * DENSE_TIES {
            // Many ties (an empty query, a short prefix): walk the sorted bangs from the
            // first tied one, which meets the next tied ones soon.
            let first = tied
                .iter()
                .map(|(_, doc, _)| doc.folded_bang())
                .min()
                .unwrap_or_default();
            let tied: RoaringBitmap = tied.iter().map(|(_, _, n)| *n).collect();
            chosen.extend(
                self.index
                    .bang_order_from(first)
                    .filter(|n| tied.contains(*n))
                    .take(wanted)
                    .map(|n| (cut, n)),
            );
            return chosen;
        }
        if tied.len() > wanted && wanted > 0 {
            tied.select_nth_unstable_by(wanted - 1, by_use_then_bang);
        }
        tied.truncate(wanted);
        chosen.extend(tied.into_iter().map(|(key, _, n)| (key, n)));
        chosen
    }
}

fn by_use_then_bang(a: &(f64, &Doc, u32), b: &(f64, &Doc, u32)) -> Ordering {
    b.0.total_cmp(&a.0)
        .then_with(|| a.1.folded_bang().cmp(b.1.folded_bang()))
        .then_with(|| a.1.entry.shortcut.bang.cmp(&b.1.entry.shortcut.bang))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_fold_and_drop_the_bang() {
        let q = ParsedQuery::parse("  !Café  Crème café ").unwrap();
        assert_eq!(q.whole, "cafe  creme cafe");
        assert_eq!(q.words, ["cafe", "creme"]);
        let q = ParsedQuery::parse("!").unwrap();
        assert!(q.whole.is_empty() && q.words.is_empty());
        let q = ParsedQuery::parse("order-st").unwrap();
        assert_eq!(q.whole, "order-st");
        assert_eq!(q.words, ["order", "st"]);
    }

    #[test]
    fn queries_of_too_many_words_name_the_field() {
        let many = (0..=MAX_QUERY_WORDS)
            .map(|i| format!("w{i} "))
            .collect::<String>();
        let err = ParsedQuery::parse(&many).unwrap_err().to_string();
        assert!(err.starts_with("query: "), "{err}");
    }
}
