//! A data source read from one JSON file (or the embedded demo file): zero set-up.
//!
//! The file holds, per workspace, contacts (`profile` in Crisp's people-profile shape plus
//! custom `data`) and sessions (`meta` in Crisp's conversation-meta shape). A contact can
//! also be found by its email, as Crisp allows.
//!
//! Memory follows what is cached, not the file: at start one streaming pass (`index`)
//! notes where each record's JSON value lies; a fetch reads those bytes back (a positioned
//! read on a blocking thread) and parses just that record, and the data cache in front of
//! every source keeps what is used. The file stays open. A file changed in place after
//! start (its size or modification time differ) fails fetches with a message saying to
//! restart, rather than serving bytes that may now belong to another record; a file
//! replaced by a new one (a rename over it) goes unnoticed: the open file is the old one.

mod index;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value as Json;

use self::index::{Index, Span, WorkspaceIndex};
use super::source::{ContactPage, DataSource, ListedContact, SourceError};
use super::{ContactQuery, Record, ScopeKind, crisp_shape};
use crate::error::Error;

/// The demo data shipped with the service.
pub const DEMO_DATA: &str = include_str!("../../../data/demo.json");

/// The read buffer of the start-up scan: all the memory it needs beside the index.
const SCAN_BUFFER: usize = 64 * 1024;

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContactShape {
    profile: Json,
    data: Json,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SessionShape {
    meta: Json,
}

#[derive(Debug)]
pub struct FileSource {
    index: Index,
    bytes: Bytes,
}

/// Where the indexed records' bytes are.
#[derive(Debug, Clone)]
enum Bytes {
    /// The embedded demo data.
    Memory(&'static [u8]),
    File(Arc<DataFile>),
}

/// The open data file, and what it looked like when it was indexed.
#[derive(Debug)]
struct DataFile {
    file: File,
    path: PathBuf,
    stamp: Stamp,
}

/// A file's size and modification time: a file edited in place changes one or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(file: &File) -> std::io::Result<Self> {
        let metadata = file.metadata()?;
        Ok(Stamp {
            len: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

impl FileSource {
    pub fn from_path(path: &Path) -> Result<Self, Error> {
        let cannot_read = |e: std::io::Error| {
            Error::invalid("data_file", format!("cannot read {}: {e}", path.display()))
        };
        let file = File::open(path).map_err(cannot_read)?;
        let stamp = Stamp::of(&file).map_err(cannot_read)?;
        let index = Index::scan(std::io::BufReader::with_capacity(SCAN_BUFFER, &file))
            .map_err(|e| not_a_data_file(Some(path), e))?;
        if Stamp::of(&file).map_err(cannot_read)? != stamp {
            return Err(Error::invalid(
                "data_file",
                format!(
                    "{} changed while it was being read; try again",
                    path.display()
                ),
            ));
        }
        Ok(FileSource {
            index,
            bytes: Bytes::File(Arc::new(DataFile {
                file,
                path: path.to_owned(),
                stamp,
            })),
        })
    }

    pub fn demo() -> Self {
        Self::from_static(DEMO_DATA.as_bytes()).expect("the embedded demo data is valid")
    }

    /// A source over data held in memory for the life of the process (the demo data).
    pub fn from_static(data: &'static [u8]) -> Result<Self, Error> {
        Ok(FileSource {
            index: Index::scan(data).map_err(|e| not_a_data_file(None, e))?,
            bytes: Bytes::Memory(data),
        })
    }

    fn workspace(&self, workspace_id: &str) -> Option<&WorkspaceIndex> {
        self.index.workspaces.get(workspace_id)
    }
}

fn not_a_data_file(path: Option<&Path>, error: serde_json::Error) -> Error {
    let message = format!("not a data file: {error}");
    Error::invalid(
        "data_file",
        match path {
            Some(path) => format!("{}: {message}", path.display()),
            None => message,
        },
    )
}

/// One record a fetch or a listing reads: its kind, where it lies, and the email it must
/// have when it was found by its email.
struct Wanted {
    kind: ScopeKind,
    span: Span,
    email: Option<String>,
}

impl Bytes {
    /// Reads and parses these records, off the async threads when they come from disk.
    async fn records(&self, wanted: Vec<Wanted>) -> Result<Vec<Record>, SourceError> {
        match self {
            Bytes::Memory(data) => wanted
                .iter()
                .map(|want| {
                    let bytes = usize::try_from(want.span.offset)
                        .ok()
                        .and_then(|start| data.get(start..start + want.span.len as usize))
                        .ok_or_else(|| SourceError::Fatal("a record beyond the data".into()))?;
                    decode(want, bytes).map_err(SourceError::Fatal)
                })
                .collect(),
            Bytes::File(file) => {
                let file = file.clone();
                tokio::task::spawn_blocking(move || file.records(&wanted))
                    .await
                    .map_err(|e| SourceError::Fatal(format!("reading the data file: {e}")))?
            }
        }
    }
}

impl DataFile {
    /// Reads these records from the file, if it is still the one indexed at start.
    fn records(&self, wanted: &[Wanted]) -> Result<Vec<Record>, SourceError> {
        let path = self.path.display();
        let unreadable = |e: std::io::Error| SourceError::Fatal(format!("cannot read {path}: {e}"));
        let changed = |why: &str| {
            SourceError::Fatal(format!(
                "the data file {path} changed after the server started ({why}); restart the server to read it again"
            ))
        };
        if Stamp::of(&self.file).map_err(unreadable)? != self.stamp {
            return Err(changed("its size or modification time differ"));
        }
        let mut buffer = Vec::new();
        wanted
            .iter()
            .map(|want| {
                buffer.resize(want.span.len as usize, 0);
                self.file
                    .read_exact_at(&mut buffer, want.span.offset)
                    .map_err(unreadable)?;
                decode(want, &buffer).map_err(|why| changed(&why))
            })
            .collect()
    }
}

/// Parses one record's bytes, which must be exactly its JSON value (and, for a contact
/// found by its email, have that email).
fn decode(want: &Wanted, bytes: &[u8]) -> Result<Record, String> {
    let not_the_record = |e: serde_json::Error| format!("the bytes indexed are not a record: {e}");
    let record = match want.kind {
        ScopeKind::Contact => {
            let shape: ContactShape = serde_json::from_slice(bytes).map_err(not_the_record)?;
            crisp_shape::contact(&shape.profile, &shape.data)
        }
        ScopeKind::Session => {
            let shape: SessionShape = serde_json::from_slice(bytes).map_err(not_the_record)?;
            crisp_shape::session(&shape.meta)
        }
    };
    if let Some(email) = &want.email {
        let found = record.native.get("email").and_then(Json::as_str);
        if found.map(str::to_lowercase).as_deref() != Some(email) {
            return Err(format!("the contact indexed for {email} has another email"));
        }
    }
    Ok(record)
}

#[async_trait]
impl DataSource for FileSource {
    fn name(&self) -> &str {
        "file"
    }

    async fn fetch(
        &self,
        kind: ScopeKind,
        workspace_id: &str,
        id: &str,
        _timeout: Duration,
    ) -> Result<Record, SourceError> {
        let workspace = self.workspace(workspace_id).ok_or(SourceError::NotFound)?;
        let wanted = match kind {
            ScopeKind::Contact => {
                // By id; else by email, as given (emails are kept lower-cased) or, when it
                // looks like one, lower-cased.
                let (at, email) = match workspace.contact(id) {
                    Some(at) => (at, None),
                    None => match workspace.contact_by_email(id) {
                        Some(at) => (at, Some(id.to_owned())),
                        None if id.contains('@') => {
                            let email = id.to_lowercase();
                            let at = workspace
                                .contact_by_email(&email)
                                .ok_or(SourceError::NotFound)?;
                            (at, Some(email))
                        }
                        None => return Err(SourceError::NotFound),
                    },
                };
                Wanted {
                    kind,
                    span: workspace.contacts[at].span,
                    email,
                }
            }
            ScopeKind::Session => Wanted {
                kind,
                span: workspace.session(id).ok_or(SourceError::NotFound)?.span,
                email: None,
            },
        };
        let mut records = self.bytes.records(vec![wanted]).await?;
        records.pop().ok_or(SourceError::NotFound)
    }

    async fn list_contacts(
        &self,
        workspace_id: &str,
        cursor: &str,
        page_size: u32,
        _query: &ContactQuery,
        _timeout: Duration,
    ) -> Result<ContactPage, SourceError> {
        let start: usize = if cursor.is_empty() {
            0
        } else {
            cursor
                .parse()
                .map_err(|_| SourceError::Fatal(format!("not a file cursor: {cursor:?}")))?
        };
        let all = self
            .workspace(workspace_id)
            .map(|workspace| workspace.contacts.as_slice())
            .unwrap_or_default();
        let page = all.get(start..).unwrap_or_default();
        let page = &page[..page.len().min(page_size.max(1) as usize)];
        let end = start + page.len();
        let wanted = page
            .iter()
            .map(|entry| Wanted {
                kind: ScopeKind::Contact,
                span: entry.span,
                email: None,
            })
            .collect();
        let records = self.bytes.records(wanted).await?;
        Ok(ContactPage {
            contacts: page
                .iter()
                .zip(records)
                .map(|(entry, record)| ListedContact {
                    id: entry.id.to_string(),
                    record: Arc::new(record),
                    complete: true,
                })
                .collect(),
            next: (end < all.len()).then(|| end.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(5);

    async fn contact(
        source: &FileSource,
        workspace: &str,
        id: &str,
    ) -> Result<Record, SourceError> {
        source.fetch(ScopeKind::Contact, workspace, id, LONG).await
    }

    /// Every listed id of `workspace`, page by page.
    async fn listed(source: &FileSource, workspace: &str, page_size: u32) -> Vec<String> {
        let (mut ids, mut cursor) = (Vec::new(), String::new());
        loop {
            let query = ContactQuery::default();
            let page = source
                .list_contacts(workspace, &cursor, page_size, &query, LONG)
                .await
                .unwrap();
            ids.extend(page.contacts.into_iter().map(|c| c.id));
            match page.next {
                Some(next) => cursor = next,
                None => return ids,
            }
        }
    }

    /// What the source served before it indexed its file: the whole file parsed at once.
    fn parsed_whole(text: &str) -> Vec<(String, String, Record, Option<Record>)> {
        let file: Json = serde_json::from_str(text).unwrap();
        let mut records = Vec::new();
        for (workspace, ws) in file["workspaces"].as_object().unwrap() {
            for (id, contact) in ws["contacts"].as_object().into_iter().flatten() {
                let record = crisp_shape::contact(&contact["profile"], &contact["data"]);
                records.push((workspace.clone(), id.clone(), record, None));
            }
            for (id, session) in ws["sessions"].as_object().into_iter().flatten() {
                let record = crisp_shape::session(&session["meta"]);
                records.push((
                    workspace.clone(),
                    id.clone(),
                    Record::default(),
                    Some(record),
                ));
            }
        }
        records
    }

    #[tokio::test]
    async fn the_demo_data_reads_back_as_parsed_whole() {
        let source = FileSource::demo();
        let records = parsed_whole(DEMO_DATA);
        assert!(records.len() > 5, "the demo has contacts and sessions");
        for (workspace, id, contact_record, session) in records {
            match session {
                Some(session) => {
                    let got = source
                        .fetch(ScopeKind::Session, &workspace, &id, LONG)
                        .await;
                    assert_eq!(got.unwrap(), session, "session {id}");
                }
                None => {
                    let got = contact(&source, &workspace, &id).await.unwrap();
                    assert_eq!(got, contact_record, "contact {id}");
                    if let Some(email) = got.native.get("email").and_then(Json::as_str) {
                        let by_email = contact(&source, &workspace, &email.to_uppercase()).await;
                        assert_eq!(by_email.unwrap(), got, "contact {id} by {email}");
                    }
                }
            }
        }
        let ids = listed(&source, "demo", 2).await;
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "listed by id");
        assert_eq!(ids.len(), 5);
        assert_eq!(
            contact(&source, "demo", "nobody").await,
            Err(SourceError::NotFound)
        );
        assert_eq!(
            contact(&source, "elsewhere", &ids[0]).await,
            Err(SourceError::NotFound)
        );
    }

    /// Compact JSON, escapes, values of every kind at the end of a record, a repeated id
    /// (the last counts, as in a JSON object) and keys the source does not know.
    const ODD: &str = concat!(
        r#"{"version":2,"workspaces":{"w":{"contacts":{"#,
        r#""b":{"profile":{"email":"B@Example.com","people_id":"b"},"data":{"n":1e3}},"#,
        r#""\u0061":{"data":{"list":[1,[2,{"x":"}"}]]},"profile":{"email":7}},"#,
        r#""c" : { "profile" : null , "data" : { "t" : true } } ,"#,
        r#""b":{"profile":{"email":"b2@example.com"},"data":{"n":-0.5}}"#,
        r#"},"other":[1,2],"sessions":{"s":{"meta":{"email":"x@y.z","data":{"k":"v\"}"}}}}},"#,
        r#""v":{}},"trailer":{"a":[]}}"#,
        "\n"
    );

    #[tokio::test]
    async fn odd_but_valid_files_read_back_as_parsed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.json");
        std::fs::write(&path, ODD).unwrap();
        let source = FileSource::from_path(&path).unwrap();
        let b = contact(&source, "w", "b").await.unwrap();
        assert_eq!(b.custom["n"], -0.5, "the last of a repeated id");
        assert_eq!(contact(&source, "w", "B2@EXAMPLE.COM").await.unwrap(), b);
        assert_eq!(
            contact(&source, "w", "b@example.com").await,
            Err(SourceError::NotFound),
            "the replaced contact's email went with it"
        );
        let a = contact(&source, "w", "a").await.unwrap();
        assert_eq!(a.custom["list"], serde_json::json!([1, [2, {"x": "}"}]]));
        let c = contact(&source, "w", "c").await.unwrap();
        assert_eq!(c.custom["t"], true);
        let s = source.fetch(ScopeKind::Session, "w", "s", LONG).await;
        assert_eq!(s.unwrap().custom["k"], "v\"}");
        assert_eq!(listed(&source, "w", 1).await, ["a", "b", "c"]);
        assert!(listed(&source, "v", 10).await.is_empty());
        // The same, in memory.
        let memory = FileSource::from_static(ODD.as_bytes()).unwrap();
        assert_eq!(contact(&memory, "w", "b").await.unwrap(), b);
        assert_eq!(contact(&memory, "w", "a").await.unwrap(), a);
    }

    #[test]
    fn files_the_source_cannot_serve_are_refused_at_start() {
        for (text, expected) in [
            (r#"{"contacts": {}}"#, "missing field `workspaces`"),
            (
                r#"{"workspaces": {"w": {"contacts": {"a": 1}}}}"#,
                "a contact: an object",
            ),
            (
                r#"{"workspaces": {"w": {"sessions": {"s": []}}}}"#,
                "a session: an object",
            ),
            (
                r#"{"workspaces": {"w": {"contacts": {"a": {"data": 1, "data": 2}}}}}"#,
                "duplicate field `data`",
            ),
            (r#"{"workspaces": {}} x"#, "trailing characters"),
            (r#"{"workspaces": {"w": {"contacts": {"a": {}"#, "EOF"),
        ] {
            let error = FileSource::from_static(text.as_bytes()).unwrap_err();
            assert!(error.to_string().contains(expected), "{text}: {error}");
        }
    }

    #[tokio::test]
    async fn a_file_changed_after_start_fails_fetches_instead_of_serving_another_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.json");
        let file = |first: &str| {
            format!(
                r#"{{"workspaces":{{"w":{{"contacts":{{"a":{{"data":{{"name":"{first}"}}}},"b":{{"data":{{"name":"Bea"}}}}}}}}}}}}"#
            )
        };
        std::fs::write(&path, file("Al")).unwrap();
        let source = FileSource::from_path(&path).unwrap();
        assert_eq!(
            contact(&source, "w", "b").await.unwrap().custom["name"],
            "Bea"
        );
        // Rewritten in place (the same file): "b" no longer lies where it did.
        std::fs::write(&path, file("Alexandra")).unwrap();
        let Err(SourceError::Fatal(message)) = contact(&source, "w", "b").await else {
            panic!("a changed file must fail the fetch");
        };
        assert!(
            message.contains("changed after the server started"),
            "{message}"
        );
        assert!(message.contains("restart the server"), "{message}");
        let query = ContactQuery::default();
        let listing = source.list_contacts("w", "", 10, &query, LONG).await;
        assert!(matches!(listing, Err(SourceError::Fatal(_))), "{listing:?}");
    }
}
