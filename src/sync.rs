//! Keeps a replica's in-memory catalogue and data cache in step with changes made through
//! other replicas, as announced by a shared store. It coordinates `catalog` and `data`, so
//! it sits above both.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::catalog::store::StoreEvent;
use crate::catalog::{Announced, Catalog};
use crate::data::DataService;

/// Applies announcements until the feed ends.
pub async fn follow(
    catalog: Arc<Catalog>,
    data: Arc<DataService>,
    mut feed: mpsc::Receiver<StoreEvent>,
) {
    while let Some(event) = feed.recv().await {
        match event {
            StoreEvent::Upserted {
                workspace_id,
                id,
                version,
            } => match catalog
                .apply_announced(&workspace_id, &id, Some(version))
                .await
            {
                Ok(Announced::Applied) => {
                    tracing::info!(workspace = %workspace_id, shortcut_id = %id, version, "applied a change from another replica")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(workspace = %workspace_id, shortcut_id = %id, error = %e, "could not fetch a changed shortcut; resynchronising");
                    resync(&catalog).await;
                }
            },
            StoreEvent::Deleted { workspace_id, id } => {
                // A delete needs no read: it cannot fail.
                if let Ok(Announced::Applied) =
                    catalog.apply_announced(&workspace_id, &id, None).await
                {
                    tracing::info!(workspace = %workspace_id, shortcut_id = %id, "applied a delete from another replica");
                }
            }
            StoreEvent::DataInvalidated {
                kind,
                workspace_id,
                id,
            } => match async {
                let workspace_id = crate::ids::WorkspaceId::parse(&workspace_id)?;
                data.invalidate_here(kind, &workspace_id, &id).await
            }
            .await
            {
                Ok(()) => {
                    tracing::info!(scope = kind.name(), workspace = %workspace_id, id = %id, "applied an invalidation from another replica")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring an unusable invalidation announcement")
                }
            },
            StoreEvent::WorkspaceChanged { workspace_id } => {
                match catalog.workspace_records().reload().await {
                    Ok(()) => {
                        catalog.note_change();
                        tracing::info!(workspace = %workspace_id, "applied a workspace change from another replica")
                    }
                    Err(e) => {
                        tracing::warn!(workspace = %workspace_id, error = %e, "could not reload workspace records; resynchronising");
                        resync(&catalog).await;
                    }
                }
            }
            StoreEvent::Resync => resync(&catalog).await,
        }
    }
}

/// Reloads the loaded workspaces and the workspace records, retrying until the store answers: until then the replica keeps
/// serving what it has, which is the best it knows.
async fn resync(catalog: &Catalog) {
    let mut delay = Duration::from_millis(100);
    loop {
        let reloaded = match catalog.workspace_records().reload().await {
            Ok(()) => catalog.reload().await,
            Err(e) => Err(e),
        };
        match reloaded {
            Ok(count) => {
                tracing::info!(shortcuts = count, "catalogue resynchronised with the store");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "catalogue resync failed");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
