//! What a listing may tell its source about the contacts it wants: conditions that every
//! contact an audience filter can match satisfies (derived in
//! [`crate::audience::pushdown`]). A source may list only the contacts that meet them, or
//! ignore them and list everyone: the filter still decides on each listed contact, so the
//! query only saves work and never changes an audience.

/// Conditions that all hold for every contact the filter can match (their conjunction).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ContactQuery {
    pub conditions: Vec<Condition>,
}

impl ContactQuery {
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }
}

/// `field` is a text equal to one of `any_of` (never empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Condition {
    pub field: QueryField,
    pub any_of: Vec<String>,
}

/// Which value of a contact a condition is on, as the filter names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QueryField {
    /// `contact.<key>`: the native field of that name when the contact has one, else its
    /// custom data key of that name (the render scope's rule, see [`super::scope`]).
    Contact(String),
    /// `contact.data.<key>`: the custom data key only.
    Custom(String),
}
