//! Who may see a shortcut: its [`Visibility`], the [`Viewer`] a call is made for, and the
//! rules for the fields that say it (owner, team ids).
//!
//! A shortcut a viewer may not see is, for that viewer, a shortcut that does not exist:
//! every read path filters with [`Viewer::may_see`] (or the search index's bitmaps built
//! from the same fields), and lookups answer NOT_FOUND exactly as for a missing id.

use crate::error::{Error, Result};
pub use crate::ids::{MAX_PARTY_ID_CHARS, MAX_TEAM_IDS, party_id};

/// Who sees a shortcut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    /// Every caller of the workspace.
    #[default]
    Workspace,
    /// The agents of one of its teams, and its owner.
    Team,
    /// Its owner alone.
    Personal,
}

impl Visibility {
    /// The stored form (a column of the shortcuts table).
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Workspace => "workspace",
            Visibility::Team => "team",
            Visibility::Personal => "personal",
        }
    }

    /// Reads the stored form; `None` for anything else.
    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "workspace" => Some(Visibility::Workspace),
            "team" => Some(Visibility::Team),
            "personal" => Some(Visibility::Personal),
            _ => None,
        }
    }
}

/// Whom a call shows shortcuts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// Admins and the no-auth mode: every shortcut.
    Everyone,
    /// An agent (or a caller naming none: `id` is `None`, and it sees only workspace
    /// shortcuts).
    Agent {
        id: Option<String>,
        teams: Vec<String>,
    },
}

/// A forgotten viewer shows the least: workspace shortcuts only.
impl Default for Viewer {
    fn default() -> Self {
        Viewer::anonymous()
    }
}

impl Viewer {
    /// A caller naming no agent: workspace shortcuts only.
    pub fn anonymous() -> Self {
        Viewer::Agent {
            id: None,
            teams: Vec::new(),
        }
    }

    /// The agent this viewer is, when its credentials or its service named one.
    pub fn agent_id(&self) -> Option<&str> {
        match self {
            Viewer::Everyone => None,
            Viewer::Agent { id, .. } => id.as_deref(),
        }
    }

    /// Whether this viewer may see a shortcut.
    pub fn sees(&self, shortcut: &super::Shortcut) -> bool {
        self.may_see(shortcut.visibility, &shortcut.owner, &shortcut.team_ids)
    }

    /// Whether this viewer may see a shortcut with these fields.
    pub fn may_see(&self, visibility: Visibility, owner: &str, team_ids: &[String]) -> bool {
        match self {
            Viewer::Everyone => true,
            Viewer::Agent { id, teams } => {
                let is_owner = id.as_deref().is_some_and(|id| id == owner);
                match visibility {
                    Visibility::Workspace => true,
                    Visibility::Team => is_owner || team_ids.iter().any(|t| teams.contains(t)),
                    Visibility::Personal => is_owner,
                }
            }
        }
    }
}

/// A list of team ids: each valid, at most [`MAX_TEAM_IDS`], duplicates dropped.
pub fn team_ids(field: &str, values: &[String]) -> Result<Vec<String>> {
    if values.len() > MAX_TEAM_IDS {
        return Err(Error::invalid(
            field,
            format!(
                "has {} team ids; at most {MAX_TEAM_IDS} are allowed",
                values.len()
            ),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let id = party_id(&format!("{field}[{i}]"), value)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The visibility fields of a shortcut, checked together: PERSONAL needs an owner, TEAM at
/// least one team id. Returns the owner and team ids as stored.
pub fn check(
    visibility: Visibility,
    owner: &str,
    teams: &[String],
) -> Result<(String, Vec<String>)> {
    let owner = if owner.is_empty() {
        String::new()
    } else {
        party_id("owner", owner)?
    };
    let teams = team_ids("team_ids", teams)?;
    match visibility {
        Visibility::Personal if owner.is_empty() => Err(Error::invalid(
            "owner",
            "is required for a PERSONAL shortcut: name the agent it belongs to",
        )),
        Visibility::Team if teams.is_empty() => Err(Error::invalid(
            "team_ids",
            "needs at least one team id for a TEAM shortcut",
        )),
        _ => Ok((owner, teams)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, teams: &[&str]) -> Viewer {
        Viewer::Agent {
            id: Some(id.into()),
            teams: teams.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn who_sees_what() {
        let teams = vec!["billing".to_string()];
        let ann = agent("ann", &["billing"]);
        let bob = agent("bob", &["sales"]);
        assert!(ann.may_see(Visibility::Team, "zed", &teams));
        assert!(!bob.may_see(Visibility::Team, "zed", &teams));
        assert!(bob.may_see(Visibility::Team, "bob", &teams), "the owner");
        assert!(ann.may_see(Visibility::Personal, "ann", &[]));
        assert!(!bob.may_see(Visibility::Personal, "ann", &[]));
        assert!(!Viewer::anonymous().may_see(Visibility::Personal, "", &[]));
        assert!(!Viewer::anonymous().may_see(Visibility::Team, "", &teams));
        assert!(Viewer::anonymous().may_see(Visibility::Workspace, "ann", &[]));
        assert!(Viewer::Everyone.may_see(Visibility::Personal, "ann", &[]));
        assert!(!Viewer::default().may_see(Visibility::Personal, "", &[]));
    }

    #[test]
    fn fields_are_checked_together_and_named() {
        let err = check(Visibility::Personal, "", &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("owner"), "{err}");
        let err = check(Visibility::Team, "ann", &[]).unwrap_err().to_string();
        assert!(err.starts_with("team_ids"), "{err}");
        let many: Vec<String> = (0..=MAX_TEAM_IDS).map(|i| format!("t{i}")).collect();
        let err = check(Visibility::Team, "", &many).unwrap_err().to_string();
        assert!(err.starts_with("team_ids"), "{err}");
        let err = check(Visibility::Team, "", &["ok".into(), " x".into()])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("team_ids[1]"), "{err}");
        let long = "a".repeat(MAX_PARTY_ID_CHARS + 1);
        let err = check(Visibility::Personal, &long, &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("owner"), "{err}");
        assert_eq!(
            check(Visibility::Team, "", &["t".into(), "t".into()]).unwrap(),
            (String::new(), vec!["t".to_string()])
        );
    }
}
