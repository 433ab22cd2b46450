//! The resume token of an audience batch: where its scan stood after a result (the source's
//! cursor of a page and how many of that page were done), bound to the workspace and the
//! filter it was issued for. Opaque to clients (base64url of a small JSON object), checked
//! when it comes back.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where a scan stands: the page that starts at `cursor`, of which `skip` contacts are done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "c")]
    pub cursor: String,
    #[serde(rename = "s")]
    pub skip: u32,
}

/// A position, with what it is valid for and the number of results sent before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeToken {
    #[serde(rename = "v")]
    version: u8,
    /// Hash of the workspace and the filter's text: a token only resumes its own audience.
    #[serde(rename = "a")]
    audience: u64,
    #[serde(flatten)]
    pub position: Position,
    /// Results (matched contacts) sent before this point: the next one's index.
    #[serde(rename = "i")]
    pub sent: u32,
}

/// Longest token accepted, in characters.
const MAX_TOKEN_CHARS: usize = 2048;

impl ResumeToken {
    pub fn new(workspace_id: &str, filter: &str, position: Position, sent: u32) -> Self {
        ResumeToken {
            version: 1,
            audience: audience_hash(workspace_id, filter),
            position,
            sent,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a token from a request; it must have been issued for this workspace and filter.
    pub fn decode(text: &str, workspace_id: &str, filter: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(
                "resume_token",
                "is not a resume token of this service (pass one from a BatchRenderResult unchanged)",
            )
        };
        if text.len() > MAX_TOKEN_CHARS {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let token: ResumeToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if token.version != 1 {
            return Err(invalid());
        }
        if token.audience != audience_hash(workspace_id, filter) {
            return Err(Error::invalid(
                "resume_token",
                "was issued for another workspace or audience filter",
            ));
        }
        Ok(token)
    }
}

/// FNV-1a: stable across builds and releases, unlike the standard library's hasher.
fn audience_hash(workspace_id: &str, filter: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in workspace_id.bytes().chain([0]).chain(filter.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_for_its_own_audience_only() {
        let position = Position {
            cursor: "7".into(),
            skip: 3,
        };
        let token = ResumeToken::new("ws", "contact.plan == 'pro'", position.clone(), 12);
        let text = token.encode();
        let back = ResumeToken::decode(&text, "ws", "contact.plan == 'pro'").unwrap();
        assert_eq!(back.position, position);
        assert_eq!(back.sent, 12);
        let other = ResumeToken::decode(&text, "ws", "contact.plan == 'free'").unwrap_err();
        assert!(other.to_string().contains("another"), "{other}");
        let garbage = ResumeToken::decode("not a token!", "ws", "x").unwrap_err();
        assert!(garbage.to_string().starts_with("resume_token"), "{garbage}");
    }
}
