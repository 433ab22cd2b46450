//! The bottom of the crate: checked ids (workspace, shortcut, bang, contact, session) and the
//! small kinds and bounds several layers share (which scope, where its data came from, how
//! large a template may be, what a stored timestamp looks like).
//!
//! It imports nothing from the crate but [`crate::error`], so every other module may use it
//! without creating a cycle (`tests/layers.rs` enforces this). Each rule lives here once;
//! the error messages name the request field, as every validation error does.

use std::fmt;
use std::time::SystemTime;

use crate::error::{Error, Result};

/// The default limit on a template body (and each localised variant), in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The default limit on the localised variants of one shortcut.
pub const MAX_VARIANTS: usize = 32;

pub const MAX_WORKSPACE_ID_CHARS: usize = 128;
/// Server-assigned ids (shortcuts).
pub const MAX_ID_CHARS: usize = 128;
pub const MAX_BANG_CHARS: usize = 64;
/// Contact and session ids belong to the CRM, so they are only bounded, not shaped.
pub const MAX_RECORD_ID_CHARS: usize = 256;
/// An agent or team id (a shortcut's owner and teams, a caller's) is at most this long.
pub const MAX_PARTY_ID_CHARS: usize = 128;
/// At most this many team ids on a shortcut or a caller.
pub const MAX_TEAM_IDS: usize = 32;

/// A workspace id: 1–128 characters of letters, digits, `-`, `_`, `.`.
pub fn workspace_id(value: &str) -> Result<&str> {
    identifier("workspace_id", value, MAX_WORKSPACE_ID_CHARS, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
    })
}

/// A server-assigned id as a caller sends it back.
pub fn shortcut_id<'a>(field: &str, value: &'a str) -> Result<&'a str> {
    identifier(field, value, MAX_ID_CHARS, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
    })
}

fn identifier<'a>(
    field: &str,
    value: &'a str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<&'a str> {
    if value.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if value.len() > max {
        return Err(Error::invalid(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if let Some(c) = value.chars().find(|c| !allowed(*c)) {
        return Err(Error::invalid(
            field,
            format!("contains {c:?}; use letters, digits, '-', '_'"),
        ));
    }
    Ok(value)
}

/// A bang with its optional leading `!` removed: letters, digits, `-`, `_`, 1–64 characters.
pub fn bang<'a>(field: &str, value: &'a str) -> Result<&'a str> {
    let bare = value.strip_prefix('!').unwrap_or(value);
    if bare.is_empty() {
        return Err(Error::invalid(
            field,
            "is required (e.g. \"refund\" or \"!refund\")",
        ));
    }
    let chars = bare.chars().count();
    if chars > MAX_BANG_CHARS {
        return Err(Error::invalid(
            field,
            format!("is {chars} characters long; the limit is {MAX_BANG_CHARS}"),
        ));
    }
    if let Some(c) = bare
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_')))
    {
        return Err(Error::invalid(
            field,
            format!("contains {c:?}; a bang may only use letters, digits, '-' and '_'"),
        ));
    }
    Ok(bare)
}

/// A contact or session id (`<kind>_id`): at most 256 characters, no control characters.
/// Empty is allowed here: an empty id means "no such scope" to a render.
pub fn record_id(kind: ScopeKind, id: &str) -> Result<&str> {
    // Ids are nearly always printable ASCII, checked a byte at a time; decoding characters
    // (for control characters beyond ASCII) only when there is more.
    let printable_ascii = id.bytes().all(|b| (b' '..b'\x7f').contains(&b));
    let has_control = !printable_ascii && id.chars().any(char::is_control);
    let too_long = id.len() > MAX_RECORD_ID_CHARS && id.chars().count() > MAX_RECORD_ID_CHARS;
    if too_long || has_control {
        return Err(Error::invalid(
            format!("{}_id", kind.name()),
            "must be at most 256 characters without control characters",
        ));
    }
    Ok(id)
}

/// Declares a checked id: a string that passed its rule once and need not be checked again.
macro_rules! checked_id {
    ($(#[$doc:meta])* $name:ident, |$value:ident| $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Box<str>);

        impl $name {
            pub fn parse($value: &str) -> Result<Self> {
                let checked: &str = $check?;
                Ok(Self(checked.into()))
            }

            /// As [`Self::parse`], naming `field` in the refusal.
            pub fn parse_as(field: &str, $value: &str) -> Result<Self> {
                Self::parse($value).map_err(|e| e.for_field(field))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(value: &str) -> Result<Self> {
                Self::parse(value)
            }
        }
    };
}

checked_id!(
    /// A workspace id that passed [`workspace_id`].
    WorkspaceId,
    |value| workspace_id(value)
);
checked_id!(
    /// A shortcut id (field `id`) that passed [`shortcut_id`].
    ShortcutId,
    |value| shortcut_id("id", value)
);
checked_id!(
    /// A bang (field `bang`) without its leading `!`, that passed [`bang`].
    Bang,
    |value| bang("bang", value)
);
checked_id!(
    /// A contact id (field `contact_id`) that passed [`record_id`].
    ContactId,
    |value| record_id(ScopeKind::Contact, value)
);
checked_id!(
    /// A session id (field `session_id`) that passed [`record_id`].
    SessionId,
    |value| record_id(ScopeKind::Session, value)
);

/// A checked contact or session id; the type says which kind of record it names. Empty
/// means "no such scope" to a render.
pub trait ScopeId: std::ops::Deref<Target = str> + Send + Sync {
    const KIND: ScopeKind;
}

impl ScopeId for ContactId {
    const KIND: ScopeKind = ScopeKind::Contact;
}

impl ScopeId for SessionId {
    const KIND: ScopeKind = ScopeKind::Session;
}

/// Which kind of record a lookup is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    Contact,
    Session,
}

impl ScopeKind {
    /// Every kind, in declaration order (`kind as usize` indexes it).
    pub const ALL: [ScopeKind; 2] = [ScopeKind::Contact, ScopeKind::Session];

    pub fn name(self) -> &'static str {
        match self {
            ScopeKind::Contact => "contact",
            ScopeKind::Session => "session",
        }
    }
}

/// Where a scope's data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Upstream,
    Stale,
    Absent,
}

impl Origin {
    /// Every origin, in declaration order (`origin as usize` indexes it).
    pub const ALL: [Origin; 4] = [
        Origin::Cache,
        Origin::Upstream,
        Origin::Stale,
        Origin::Absent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Origin::Cache => "cache",
            Origin::Upstream => "upstream",
            Origin::Stale => "stale",
            Origin::Absent => "absent",
        }
    }
}

/// An agent or team id: printable, trimmed, non-empty, bounded.
pub fn party_id(field: &str, value: &str) -> Result<String> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.trim() != value {
        return Err(Error::invalid(
            field,
            "must not start or end with white space",
        ));
    }
    if value.chars().nth(MAX_PARTY_ID_CHARS).is_some() {
        return Err(Error::invalid(
            field,
            format!("is longer than {MAX_PARTY_ID_CHARS} characters"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            format!("contains the control character U+{:04X}", c as u32),
        ));
    }
    Ok(value.to_string())
}

/// The current time at the precision the stores keep (milliseconds), so that a record read
/// back equals the one written.
pub fn now() -> SystemTime {
    let since_epoch = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(since_epoch.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bangs() {
        assert_eq!(bang("bang", "!refund").unwrap(), "refund");
        assert_eq!(bang("bang", "Order_status-2").unwrap(), "Order_status-2");
        for bad in ["", "!", "with space", "a/b", &"x".repeat(65)] {
            let err = bang("bang", bad).unwrap_err().to_string();
            assert!(err.starts_with("bang: "), "{err}");
        }
        assert_eq!(Bang::parse("!refund").unwrap().as_str(), "refund");
    }

    #[test]
    fn record_ids_are_refused_over_256_characters_or_with_control_characters() {
        for ok in [
            "jane.doe@example.com",
            "élodie+ñ@exämple.fr",
            "名前",
            &"x".repeat(256),
            &"é".repeat(256),
        ] {
            assert!(record_id(ScopeKind::Contact, ok).is_ok(), "{ok:?}");
        }
        // C0 controls, DEL, and C1 controls (two bytes in UTF-8) among other non-ASCII text.
        for bad in [
            "jane\0",
            "a\tb",
            "del\x7f",
            "é\u{85}",
            "\u{9f}",
            &"x".repeat(257),
            &"é".repeat(257),
        ] {
            let err = record_id(ScopeKind::Session, bad).unwrap_err();
            assert!(err.to_string().contains("session_id"), "{bad:?}: {err}");
            assert!(SessionId::parse(bad).is_err());
        }
    }

    #[test]
    fn checked_ids_keep_the_field_names_of_their_rules() {
        let err = WorkspaceId::parse("a b").unwrap_err().to_string();
        assert!(err.starts_with("workspace_id: "), "{err}");
        let err = ShortcutId::parse("").unwrap_err().to_string();
        assert!(err.starts_with("id: "), "{err}");
        let err = ContactId::parse("x\0").unwrap_err().to_string();
        assert!(err.starts_with("contact_id: "), "{err}");
        assert_eq!(&*WorkspaceId::parse("acme.eu").unwrap(), "acme.eu");
    }
}
