//! The file source's index: where each contact's and session's JSON value lies in the data
//! file, found by one streaming pass over it at start, plus what lookups need (each
//! workspace's contacts sorted by id, which is also the listing order, and their emails).
//! Nothing of a record but its id, its email and its byte range is kept.
//!
//! The pass runs serde visitors over `serde_json`'s reader-based deserializer, which takes
//! its input a byte at a time through [`Tap`]: the bytes the deserializer has taken when a
//! value starts and when it ends bound that value. Its memory is a read buffer plus the
//! index, whatever the file's size. Which bytes the deserializer has taken at those points
//! is `serde_json`'s behaviour rather than its contract, so every read of a range is parsed
//! strictly (`super::decode`): a range that is not exactly one value fails loudly.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

/// Where one record's JSON value lies in the data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub len: u32,
}

/// One indexed record: its id and where its value lies.
#[derive(Debug)]
pub struct Entry {
    pub id: Box<str>,
    pub span: Span,
}

/// One workspace's records.
#[derive(Debug, Default)]
pub struct WorkspaceIndex {
    /// Sorted by id: lookups search it, and a listing pages through it in this order (a
    /// cursor is a position in it).
    pub contacts: Vec<Entry>,
    /// Each lower-cased email with its contact's position in `contacts`, sorted by email.
    emails: Vec<(Box<str>, u32)>,
    /// Sorted by id.
    sessions: Vec<Entry>,
}

impl WorkspaceIndex {
    /// The position in `contacts` of the contact with this id.
    pub fn contact(&self, id: &str) -> Option<usize> {
        self.contacts.binary_search_by(|e| (*e.id).cmp(id)).ok()
    }

    /// The position in `contacts` of the contact with this (lower-cased) email.
    pub fn contact_by_email(&self, email: &str) -> Option<usize> {
        self.emails
            .binary_search_by(|(e, _)| (**e).cmp(email))
            .ok()
            .map(|at| self.emails[at].1 as usize)
    }

    pub fn session(&self, id: &str) -> Option<&Entry> {
        self.sessions
            .binary_search_by(|e| (*e.id).cmp(id))
            .ok()
            .map(|at| &self.sessions[at])
    }

    /// The index of one workspace's records, in file order as scanned; a later record of
    /// the same id replaces an earlier one (as a JSON object's later key does).
    fn build(contacts: Vec<Scanned>, sessions: Vec<Scanned>) -> Self {
        let contacts = by_id(contacts);
        let mut emails = Vec::new();
        let mut contacts: Vec<Entry> = contacts
            .into_iter()
            .enumerate()
            .map(|(at, scanned)| {
                if let Some(email) = scanned.email {
                    emails.push((email, at as u32));
                }
                Entry {
                    id: scanned.id,
                    span: scanned.span,
                }
            })
            .collect();
        // Collected in place, the vector keeps the larger scanned records' capacity.
        contacts.shrink_to_fit();
        // Two contacts of one email: the first by id answers for it, every time.
        emails.sort_by(|a, b| a.0.cmp(&b.0));
        emails.dedup_by(|later, earlier| later.0 == earlier.0);
        emails.shrink_to_fit();
        let mut sessions: Vec<Entry> = by_id(sessions)
            .into_iter()
            .map(|scanned| Entry {
                id: scanned.id,
                span: scanned.span,
            })
            .collect();
        sessions.shrink_to_fit();
        WorkspaceIndex {
            contacts,
            emails,
            sessions,
        }
    }
}

/// Sorted by id, the last of each id in file order kept.
fn by_id(mut scanned: Vec<Scanned>) -> Vec<Scanned> {
    scanned.reverse();
    scanned.sort_by(|a, b| a.id.cmp(&b.id));
    scanned.dedup_by(|later, earlier| later.id == earlier.id);
    scanned
}

/// The whole file's index: each workspace's records.
#[derive(Debug, Default)]
pub struct Index {
    pub workspaces: HashMap<Box<str>, WorkspaceIndex>,
}

impl Index {
    /// Indexes the data file that `reader` reads from its start (buffer it: it is read a
    /// byte at a time). Fails on anything the file source cannot serve, with
    /// `serde_json`'s message (line and column).
    pub fn scan(reader: impl Read) -> Result<Self, serde_json::Error> {
        let taken = Cell::new(0);
        let tap = Tap {
            inner: reader,
            taken: &taken,
        };
        let mut deserializer = serde_json::Deserializer::from_reader(tap);
        let workspaces = deserializer.deserialize_map(FileVisitor { taken: &taken })?;
        deserializer.end()?;
        Ok(Index { workspaces })
    }
}

/// A reader that counts the bytes taken from it.
struct Tap<'a, R> {
    inner: R,
    taken: &'a Cell<u64>,
}

impl<R: Read> Read for Tap<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken.set(self.taken.get() + n as u64);
        Ok(n)
    }
}

/// A record as the scan finds it.
struct Scanned {
    id: Box<str>,
    span: Span,
    /// A contact's lower-cased `profile.email`, when it is text.
    email: Option<Box<str>>,
}

/// `{"workspaces": {...}}`; other keys are ignored.
struct FileVisitor<'a> {
    taken: &'a Cell<u64>,
}

impl<'de> Visitor<'de> for FileVisitor<'_> {
    type Value = HashMap<Box<str>, WorkspaceIndex>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with `workspaces`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut workspaces = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "workspaces" {
                if workspaces.is_some() {
                    return Err(de::Error::duplicate_field("workspaces"));
                }
                workspaces = Some(map.next_value_seed(Workspaces { taken: self.taken })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        workspaces.ok_or_else(|| de::Error::missing_field("workspaces"))
    }
}

/// `{"<workspace>": {...}, ...}`: a workspace named twice is the last one.
struct Workspaces<'a> {
    taken: &'a Cell<u64>,
}

impl<'de> DeserializeSeed<'de> for Workspaces<'_> {
    type Value = HashMap<Box<str>, WorkspaceIndex>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Workspaces<'_> {
    type Value = HashMap<Box<str>, WorkspaceIndex>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of workspaces by id")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut workspaces = HashMap::new();
        while let Some(name) = map.next_key::<String>()? {
            let workspace = map.next_value_seed(Workspace { taken: self.taken })?;
            workspaces.insert(name.into_boxed_str(), workspace);
        }
        Ok(workspaces)
    }
}

/// `{"contacts": {...}, "sessions": {...}}`, both optional; other keys are ignored.
struct Workspace<'a> {
    taken: &'a Cell<u64>,
}

impl<'de> DeserializeSeed<'de> for Workspace<'_> {
    type Value = WorkspaceIndex;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Workspace<'_> {
    type Value = WorkspaceIndex;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a workspace: an object with `contacts` and `sessions`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut contacts, mut sessions) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            let (slot, kind, name) = match key.as_str() {
                "contacts" => (&mut contacts, Kind::Contact, "contacts"),
                "sessions" => (&mut sessions, Kind::Session, "sessions"),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(de::Error::duplicate_field(name));
            }
            *slot = Some(map.next_value_seed(Records {
                taken: self.taken,
                kind,
            })?);
        }
        Ok(WorkspaceIndex::build(
            contacts.unwrap_or_default(),
            sessions.unwrap_or_default(),
        ))
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Contact,
    Session,
}

/// `{"<id>": {...}, ...}`: each value's span (and a contact's email).
struct Records<'a> {
    taken: &'a Cell<u64>,
    kind: Kind,
}

impl<'de> DeserializeSeed<'de> for Records<'_> {
    type Value = Vec<Scanned>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Records<'_> {
    type Value = Vec<Scanned>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of records by id")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::new();
        while let Some(id) = map.next_key::<String>()? {
            let (span, email) = map.next_value_seed(Record {
                taken: self.taken,
                kind: self.kind,
            })?;
            records.push(Scanned {
                id: id.into_boxed_str(),
                span,
                email,
            });
        }
        Ok(records)
    }
}

/// One record's value: an object (`profile` and `data` for a contact, `meta` for a
/// session, each optional), its span measured around it.
struct Record<'a> {
    taken: &'a Cell<u64>,
    kind: Kind,
}

impl<'de> DeserializeSeed<'de> for Record<'_> {
    type Value = (Span, Option<Box<str>>);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        // The key's colon is taken; the value (and the blanks before it) is not, and the
        // deserializer takes an object's closing brace without looking past it.
        let start = self.taken.get();
        let email = deserializer.deserialize_map(RecordVisitor { kind: self.kind })?;
        let len = self.taken.get() - start;
        let len =
            u32::try_from(len).map_err(|_| de::Error::custom("a record of more than 4 GiB"))?;
        Ok((Span { offset: start, len }, email))
    }
}

struct RecordVisitor {
    kind: Kind,
}

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Option<Box<str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.kind {
            Kind::Contact => f.write_str("a contact: an object with `profile` and `data`"),
            Kind::Session => f.write_str("a session: an object with `meta`"),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut email = None;
        let mut seen = (false, false);
        while let Some(key) = map.next_key::<String>()? {
            let (seen, name) = match (self.kind, key.as_str()) {
                (Kind::Contact, "profile") => (&mut seen.0, "profile"),
                (Kind::Contact, "data") => (&mut seen.1, "data"),
                (Kind::Session, "meta") => (&mut seen.0, "meta"),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if std::mem::replace(seen, true) {
                return Err(de::Error::duplicate_field(name));
            }
            if name == "profile" {
                email = map.next_value_seed(EmailOf)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(email)
    }
}

/// A profile's `email`, lower-cased, when the profile is an object and its email is text;
/// any other value is skipped (the record then has no email, as [`super::decode`] finds).
struct EmailOf;

impl<'de> DeserializeSeed<'de> for EmailOf {
    type Value = Option<Box<str>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EmailOf {
    type Value = Option<Box<str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut email = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "email" {
                // A key given twice is its last value, as in a `serde_json` object.
                email = map
                    .next_value::<Json>()?
                    .as_str()
                    .map(|text| text.to_lowercase().into_boxed_str());
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(email)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}
