//! A change announced while a workspace is being loaded: the load read the store before the
//! change, the announcement comes before the load ends, and the workspace must not then
//! serve the version it read. A real race on a real SQLite store, made to happen every time
//! by stopping the load right after its read (`catalog::load_pause`, the only place a test
//! reaches into the catalogue).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::{Announced, Catalog, NewShortcut, ShortcutKey, Visibility};
use crate::error::Error;
use crate::ids::{Bang, WorkspaceId};
use crate::template::{Engine, RenderLimits};

fn new_shortcut(bang: &str, body: &str) -> NewShortcut {
    NewShortcut {
        workspace_id: WorkspaceId::parse("acme").unwrap(),
        bang: bang.into(),
        title: format!("The {bang} reply"),
        body: body.into(),
        tags: vec![],
        disabled: false,
        variants: BTreeMap::new(),
        inputs: vec![],
        snippet: false,
        visibility: Visibility::Workspace,
        owner: String::new(),
        team_ids: vec![],
        folder: String::new(),
        position: 0,
        attachments: vec![],
    }
}

fn by_bang(bang: &str) -> ShortcutKey {
    ShortcutKey::Bang(Bang::parse(bang).unwrap())
}

#[tokio::test]
async fn changes_announced_during_a_load_are_served_once_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("loading.db").display().to_string();
    let store = crate::store::open(&spec, Default::default()).await.unwrap();
    let engine = Arc::new(Engine::new(RenderLimits::default()));
    let catalog = Catalog::open(store.clone(), engine, Default::default())
        .await
        .unwrap();
    let acme = WorkspaceId::parse("acme").unwrap();
    let kept = catalog
        .create(new_shortcut("hello", "Version one"))
        .await
        .unwrap();
    let gone = catalog
        .create(new_shortcut("bye", "Soon deleted"))
        .await
        .unwrap();
    // Unloaded, as after an eviction: the next use reads the store again.
    assert!(catalog.unload("acme"));

    let (read, resume) = catalog.pause_next_load();
    let load = catalog.workspace("acme");
    let meanwhile = async {
        let read = read.await.expect("the load reads the store");
        // The load holds the versions from before the changes below.
        let mut read_versions = read.clone();
        read_versions.sort();
        let mut before = vec![(kept.shortcut.id.clone(), 1), (gone.shortcut.id.clone(), 1)];
        before.sort();
        assert_eq!(read_versions, before);

        // Another replica changes both, and its announcements arrive now.
        let mut changed = kept.shortcut.clone();
        changed.body = "Version two".into();
        changed.version = 2;
        store.update(&changed, 1).await.unwrap();
        store.delete("acme", &gone.shortcut.id, None).await.unwrap();
        let announced = catalog
            .apply_announced("acme", &kept.shortcut.id, Some(2))
            .await
            .unwrap();
        assert_eq!(announced, Announced::Noted);
        let announced = catalog
            .apply_announced("acme", &gone.shortcut.id, None)
            .await
            .unwrap();
        assert_eq!(announced, Announced::Noted);
        resume.send(()).unwrap();
    };
    let (loaded, ()) = tokio::join!(load, meanwhile);
    let _pin = loaded.unwrap();

    let served = catalog.get(&acme, &by_bang("hello")).unwrap();
    assert_eq!(served.shortcut.version, 2);
    assert_eq!(served.shortcut.body, "Version two");
    assert!(matches!(
        catalog.get(&acme, &by_bang("bye")),
        Err(Error::ShortcutNotFound { .. })
    ));
    // The search index follows memory: the deleted one is not offered.
    let hits = catalog
        .search()
        .search(&acme, &Default::default())
        .unwrap()
        .into_iter()
        .map(|hit| hit.entry.shortcut.bang.clone())
        .collect::<Vec<_>>();
    assert_eq!(hits, vec!["hello".to_owned()]);
}
