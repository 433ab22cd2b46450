//! The starter shortcut library in `templates/`, embedded in the binary and loaded into the
//! `demo` workspace on the first start of an empty store.

use include_dir::{Dir, include_dir};
use serde::Deserialize;

use crate::catalog::{Catalog, NewShortcut};
use crate::error::{Error, Result};
use crate::ids::WorkspaceId;
use crate::workspace::NewWorkspace;

static TEMPLATES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The workspace the starter library and the demo data belong to.
pub const DEMO_WORKSPACE: &str = "demo";
const SEEDED_MARKER: &str = "demo_seeded";

/// One `templates/*.toml` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StarterShortcut {
    pub bang: String,
    pub title: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub body: String,
    /// What it asks the agent for (`[[inputs]]` tables: name, label, type, …).
    #[serde(default)]
    pub inputs: Vec<crate::catalog::ShortcutInput>,
}

/// Every starter shortcut, in file-name order.
pub fn starter_library() -> Result<Vec<StarterShortcut>> {
    let mut files: Vec<_> = TEMPLATES
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort_by_key(|f| f.path());
    files
        .into_iter()
        .map(|file| {
            let text = file.contents_utf8().unwrap_or_default();
            toml::from_str(text)
                .map_err(|e| Error::Internal(format!("templates/{}: {e}", file.path().display())))
        })
        .collect()
}

/// The demo workspace's id, checked.
pub fn demo_workspace() -> WorkspaceId {
    WorkspaceId::parse(DEMO_WORKSPACE).expect("the demo workspace id is valid")
}

/// The demo workspace's record: a shop in Paris that answers in English by default.
pub const DEMO_DISPLAY_NAME: &str = "Demo Shop";
pub const DEMO_LOCALE: &str = "en";
pub const DEMO_TIME_ZONE: &str = "Europe/Paris";

/// Gives `demo` its workspace record unless it has one (also on stores seeded before
/// workspace records existed).
async fn seed_demo_workspace(catalog: &Catalog) -> Result<()> {
    let records = catalog.workspace_records();
    let demo = demo_workspace();
    if records.get(&demo).is_ok() {
        return Ok(());
    }
    let new = NewWorkspace {
        id: demo,
        display_name: DEMO_DISPLAY_NAME.to_string(),
        default_locale: DEMO_LOCALE.to_string(),
        time_zone: DEMO_TIME_ZONE.to_string(),
    };
    match records.create(new).await {
        // Another replica starting at the same time created it first.
        Ok(_) | Err(Error::WorkspaceExists { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Loads the starter library into `demo` once per store. Returns how many were created.
pub async fn seed_demo(catalog: &Catalog) -> Result<usize> {
    seed_demo_workspace(catalog).await?;
    if catalog.store().has_marker(SEEDED_MARKER).await? {
        return Ok(0);
    }
    let library = starter_library()?;
    check_fits_body_limit(&library, catalog.engine().limits().max_template_bytes)?;
    let mut created = 0;
    let mut raced = false;
    for starter in library {
        let new = NewShortcut {
            workspace_id: demo_workspace(),
            bang: starter.bang,
            title: starter.title,
            body: starter.body,
            tags: starter.tags,
            disabled: false,
            variants: Default::default(),
            inputs: starter.inputs,
            snippet: false,
            visibility: Default::default(),
            owner: String::new(),
            team_ids: vec![],
            folder: String::new(),
            position: 0,
            attachments: vec![],
        };
        match catalog.create(new).await {
            Ok(_) => created += 1,
            // A previous start seeded part of the library before stopping, or another
            // replica is seeding the same store right now.
            Err(Error::BangTaken { .. }) => raced = true,
            Err(err) => return Err(err),
        }
    }
    catalog.store().set_marker(SEEDED_MARKER).await?;
    if raced {
        // What the other writer created reaches memory through its announcement a moment
        // later; loading it now means this replica starts serving with the whole library.
        catalog.reload().await?;
    }
    Ok(created)
}

/// Refuses, before anything is written, a body limit some starter shortcut exceeds: the
/// operator learns which flag to change, and the library is never half seeded.
fn check_fits_body_limit(library: &[StarterShortcut], max_body_bytes: usize) -> Result<()> {
    let Some(largest) = library.iter().max_by_key(|starter| starter.body.len()) else {
        return Ok(());
    };
    if largest.body.len() <= max_body_bytes {
        return Ok(());
    }
    Err(Error::StarterTooLarge {
        bang: largest.bang.clone(),
        bytes: largest.body.len(),
        limit: max_body_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Engine, RenderLimits};

    #[test]
    fn every_starter_template_compiles_and_uses_data() {
        let engine = Engine::new(RenderLimits::default());
        let library = starter_library().unwrap();
        assert!(
            library.len() >= 12,
            "only {} starter shortcuts",
            library.len()
        );
        for starter in &library {
            crate::catalog::validate::bang("bang", &starter.bang).unwrap();
            let compiled = engine
                .compile(&starter.body)
                .unwrap_or_else(|e| panic!("!{}: {e:?}", starter.bang));
            assert!(
                compiled
                    .placeholders()
                    .iter()
                    .any(|p| p.starts_with("contact.") || p.starts_with("session.")),
                "!{} uses no contact or session data",
                starter.bang
            );
        }
    }
}
