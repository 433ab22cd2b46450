//! A pause a test puts in the next workspace load, right after its read of the store, so
//! that changes can be announced at the moment a real race would announce them (the test
//! itself is `store::loading_tests`: it needs a real store, a layer above this one).

use tokio::sync::oneshot;

use super::Catalog;

/// Where a stopped load tells what it read (id and version), and what lets it go on.
pub(super) struct Pause {
    read: oneshot::Sender<Vec<(String, u64)>>,
    resume: oneshot::Receiver<()>,
}

/// Called by a load right after its read of the store: stops it if a test asked to.
pub(super) async fn pause(catalog: &Catalog, workspace_id: &str) {
    let pause = catalog
        .pause_after_read
        .lock()
        .expect("pause lock poisoned")
        .take();
    if let Some(Pause { read, resume }) = pause {
        let held = catalog
            .workspaces
            .read()
            .expect("catalog lock poisoned")
            .get(workspace_id)
            .map(|ws| {
                ws.entries
                    .iter()
                    .map(|e| (e.shortcut.id.clone(), e.shortcut.version))
                    .collect()
            })
            .unwrap_or_default();
        let _ = read.send(held);
        let _ = resume.await;
    }
}

impl Catalog {
    /// Stops the next load after its read; returns what it read and the switch that
    /// resumes it.
    pub(crate) fn pause_next_load(
        &self,
    ) -> (oneshot::Receiver<Vec<(String, u64)>>, oneshot::Sender<()>) {
        let (read_tx, read_rx) = oneshot::channel();
        let (resume_tx, resume_rx) = oneshot::channel();
        *self.pause_after_read.lock().expect("pause lock poisoned") = Some(Pause {
            read: read_tx,
            resume: resume_rx,
        });
        (read_rx, resume_tx)
    }

    /// Drops a workspace from memory, as an eviction would; false if it was not loaded.
    pub(crate) fn unload(&self, workspace_id: &str) -> bool {
        self.drop_workspace(workspace_id, |_| true)
    }
}
