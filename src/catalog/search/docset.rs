//! The shortcuts having one word, held as small as the word is rare.
//!
//! Most words of a catalogue are rare (names, numbers, products, a shortcut's own bang):
//! a roaring bitmap of one document took two allocations of 160 and 64 bytes, and a rare
//! title word has two of them (its title and its every-field postings), ~450 bytes of a
//! shortcut's memory. A short sorted list costs 4 bytes a document; a word shared by more
//! than [`FEW`] shortcuts becomes a bitmap, as before.

use roaring::RoaringBitmap;

/// Up to this many documents are kept as a sorted list.
const FEW: usize = 8;

#[derive(Debug, Clone)]
pub enum DocSet {
    /// Sorted, without duplicates; empty allocates nothing.
    Few(Box<[u32]>),
    Many(RoaringBitmap),
}

impl Default for DocSet {
    fn default() -> Self {
        DocSet::Few(Box::default())
    }
}

impl DocSet {
    pub fn insert(&mut self, number: u32) {
        match self {
            DocSet::Few(few) => {
                let Err(at) = few.binary_search(&number) else {
                    return;
                };
                if few.len() < FEW {
                    let mut grown = Vec::with_capacity(few.len() + 1);
                    grown.extend_from_slice(&few[..at]);
                    grown.push(number);
                    grown.extend_from_slice(&few[at..]);
                    *few = grown.into_boxed_slice();
                } else {
                    let mut many: RoaringBitmap = few.iter().copied().collect();
                    many.insert(number);
                    *self = DocSet::Many(many);
                }
            }
            DocSet::Many(many) => {
                many.insert(number);
            }
        }
    }

    pub fn remove(&mut self, number: u32) {
        match self {
            DocSet::Few(few) => {
                if let Ok(at) = few.binary_search(&number) {
                    let mut shrunk = few.to_vec();
                    shrunk.remove(at);
                    *few = shrunk.into_boxed_slice();
                }
            }
            DocSet::Many(many) => {
                many.remove(number);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            DocSet::Few(few) => few.is_empty(),
            DocSet::Many(many) => many.is_empty(),
        }
    }

    /// Adds these documents to `union`.
    pub fn add_to(&self, union: &mut RoaringBitmap) {
        match self {
            DocSet::Few(few) => union.extend(few.iter().copied()),
            DocSet::Many(many) => *union |= many,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_same_documents_as_a_bitmap_whatever_its_form() {
        let mut set = DocSet::default();
        let mut expected = RoaringBitmap::new();
        // Grows past FEW (becoming a bitmap), with repeats and removals on the way.
        for (i, number) in [5, 3, 9, 3, 1, 7, 2, 8, 4, 6, 11, 0]
            .into_iter()
            .enumerate()
        {
            set.insert(number);
            expected.insert(number);
            if i == 4 {
                set.remove(9);
                expected.remove(9);
                set.remove(42);
            }
            let mut got = RoaringBitmap::new();
            set.add_to(&mut got);
            assert_eq!(got, expected, "after inserting {number}");
            assert_eq!(matches!(set, DocSet::Few(_)), expected.len() <= FEW as u64);
        }
        for number in expected.clone() {
            set.remove(number);
        }
        assert!(set.is_empty());
    }
}
