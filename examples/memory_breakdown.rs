//! Where the memory of a shortcut goes: live heap bytes per shortcut of each part the
//! catalogue holds, counted by a wrapper around the system allocator (exact bytes asked
//! for, not resident pages: the allocator's own overhead is what `bench/memory.sh`'s
//! resident figure adds).
//!
//! `cargo run --release --example memory_breakdown [N]` (N = 20,000 by default). The
//! shortcuts are those `shortcuts-bench --create-shortcuts` writes through the API (the
//! ~330-character benchmark body with 5 placeholders, a title, two tags), each prepared
//! (validated) and applied as `CreateShortcut` does, minus the store write.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use shortcuts::catalog::search::SearchIndex;
use shortcuts::catalog::{NewShortcut, Visibility};
use shortcuts::ids::WorkspaceId;

/// The body of `bench/src/bin/shortcuts-bench.rs` (`BENCH_TEMPLATE`).
const BODY: &str = "Hi <<contact.first_name | fallback(\"there\")>>,\n\nthanks for reaching out about your <<contact.plan>> plan. {% if session.order_id %}I can see order <<session.order_id>> in our system and it is being prepared for shipping right now.{% else %}Could you send me your order number?{% endif %} We will write to <<contact.email>> as soon as anything changes.\n\nBest,\n<<agent.first_name>>";

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let spec = dir.path().join("m.db").display().to_string();
    let config = <shortcuts::config::Config as clap::Parser>::parse_from([
        "shortcuts",
        "--seed-demo",
        "false",
        "--store",
        &spec,
    ]);
    let app = shortcuts::server::App::build(&config)
        .await
        .expect("the app");
    let catalog = app.catalog.clone();
    let engine = catalog.engine().clone();
    let workspace = WorkspaceId::parse("bench-catalog").expect("a workspace id");
    let per = |bytes: isize| bytes / n as isize;
    let report =
        |what: &str, bytes: isize| println!("{:>8} bytes per shortcut  {what}", per(bytes));

    // Workspaces are loaded on first use: one shortcut written through the store loads this
    // one and keeps it in memory, so that the entries applied below land in it.
    catalog
        .create(new_shortcut(&workspace, n))
        .await
        .expect("the first shortcut");
    let _in_use = catalog
        .workspace(workspace.as_str())
        .await
        .expect("the workspace loads");

    let before = live();
    let compiled: Vec<_> = (0..n)
        .map(|_| engine.compile(BODY).expect("the body compiles"))
        .collect();
    report(
        "a compiled body (engine.compile: plain program, traced source, placeholders)",
        live() - before,
    );
    let estimated: usize = compiled.iter().map(|c| c.estimated_bytes()).sum();
    report(
        "  its estimate (CompiledTemplate::estimated_bytes, both forms counted)",
        estimated as isize,
    );
    drop(compiled);

    let start = live();
    let news: Vec<NewShortcut> = (0..n).map(|i| new_shortcut(&workspace, i)).collect();
    let entries: Vec<_> = news
        .into_iter()
        .map(|new| catalog.prepare(new).expect("valid"))
        .collect();
    let inline = std::mem::size_of::<shortcuts::catalog::Entry>();
    let applied: Vec<_> = entries.into_iter().map(|e| catalog.apply(e)).collect();
    // Less this example's own Vec of the applied entries.
    let held = live() - start - (n * std::mem::size_of::<usize>()) as isize;

    let before = live();
    let index = SearchIndex::default();
    for entry in &applied {
        index.upsert(entry);
    }
    let search = live() - before;
    report(
        "the search index (a second index of the same entries)",
        search,
    );
    report(
        &format!(
            "the record (Entry: {inline} bytes inline, in an Arc, and its Shortcut's texts) and the catalogue's maps (by id, by bang)"
        ),
        held - search,
    );
    report("held in all (record, maps, search index)", held);
    drop(index);

    let before = live();
    for entry in &applied {
        catalog.template_for(entry, "en").expect("compiles");
    }
    let (count, bytes) = catalog.compiled_templates().usage();
    report(
        "compiled-template cache after one render of each (bounded by --compiled-templates-bytes)",
        live() - before,
    );
    println!("         cache: {count} compiled bodies, {bytes} estimated bytes");
    println!("{:>8} bytes live in all", live());
}

/// The `i`th shortcut `shortcuts-bench --create-shortcuts` writes.
fn new_shortcut(workspace: &WorkspaceId, i: usize) -> NewShortcut {
    NewShortcut {
        workspace_id: workspace.clone(),
        bang: format!("reply-{i}"),
        title: format!("Canned reply number {i} about orders and billing"),
        body: BODY.into(),
        tags: vec!["bench".into(), format!("group-{}", i % 40)],
        disabled: false,
        variants: Default::default(),
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
