//! Server-side typeahead latency: SearchShortcuts' work (query parsing, index lookup,
//! ranking, highlights, previews) on a workspace of 20,000 realistic shortcuts, one query
//! per keystroke as an agent types bangs, titles and several words.
//!
//!     cargo bench --bench search
//!
//! Each query is measured twice in the same run: as an admin (every shortcut: the search as it
//! was before issue 17) and as an agent who sees few of them (90% of the shortcuts are
//! personal to 200 other agents, 5% shared with one of 20 teams, 5% workspace-wide), so that
//! the cost of visibility filtering is a ratio of the same run.
//!
//! Under `cargo test` it runs once on a small catalogue as a smoke test. For digging:
//! `SEARCH_BENCH_SLOWEST=1` also lists the 15 queries slowest at their best of 5 runs, and
//! `SEARCH_BENCH_ONLY='!'` measures one query alone (e.g. under `perf record`).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Gen, fixture, full_run, summarize};
use shortcuts::catalog::search::{SearchIndex, SearchQuery};
use shortcuts::catalog::{Entry, Shortcut, Viewer, Visibility};
use shortcuts::template::{Engine, RenderLimits};

const WORKSPACE: &str = "bench";

fn main() {
    let full = full_run();
    let shortcuts = if full { 20_000 } else { 300 };
    let typed_targets = if full { 400 } else { 20 };

    let engine = Engine::new(RenderLimits::default());
    let index = SearchIndex::default();
    let mut g = Gen::new(42);
    let started = Instant::now();
    let mut fixtures = Vec::with_capacity(shortcuts);
    // Agent 7 sees its own personal shortcuts (those with i % 200 == 7), team 1's (i % 20
    // == 1) and the workspace's (i % 20 == 0): about 10.5% of them.
    let agent = Viewer::Agent {
        id: Some("agent-7".into()),
        teams: vec!["team-1".into()],
    };
    let mut visible = 0usize;
    for i in 0..shortcuts {
        let f = fixture(&mut g, i);
        engine.compile(&f.body).expect("generated bodies compile");
        let now = std::time::SystemTime::now();
        let entry = Arc::new(Entry::new(
            Shortcut {
                id: format!("id-{i}"),
                workspace_id: WORKSPACE.into(),
                bang: f.bang.clone(),
                title: f.title.clone(),
                body: f.body.clone(),
                tags: f.tags.clone(),
                disabled: i.is_multiple_of(50),
                version: 1,
                create_time: now,
                update_time: now,
                variants: Default::default(),
                inputs: vec![],
                snippet: false,
                visibility: match i % 20 {
                    0 => Visibility::Workspace,
                    1 => Visibility::Team,
                    _ => Visibility::Personal,
                },
                owner: format!("agent-{}", i % 200),
                team_ids: vec![format!("team-{}", i % 20)],
                folder: String::new(),
                position: 0,
                attachments: vec![],
            },
            vec![],
            vec![],
        ));
        index.upsert(&entry);
        if agent.sees(&entry.shortcut) {
            visible += 1;
        }
        // Some shortcuts are used a lot, most a little or never.
        for _ in 0..g.below(4).pow(3) {
            index.record_use(WORKSPACE, &entry.shortcut.id);
        }
        fixtures.push(f);
    }
    let indexed = started.elapsed();

    // Keystroke by keystroke: `!r`, `!re`, `!ref`, … for bangs; title words; two-word
    // queries typed in full; and the bare `!` that opens the typeahead.
    let mut queries: Vec<String> = vec!["!".into()];
    for _ in 0..typed_targets {
        let f = &fixtures[g.below(fixtures.len())];
        let typed = match g.below(3) {
            0 => format!("!{}", f.bang),
            1 => f.title.to_lowercase(),
            _ => format!("{} {}", g.word(), g.any_word()),
        };
        let chars: Vec<char> = typed.chars().collect();
        for end in 1..=chars.len().min(14) {
            queries.push(chars[..end].iter().collect());
        }
    }

    if let Ok(only) = std::env::var("SEARCH_BENCH_ONLY") {
        queries.retain(|q| *q == only);
    }

    // One warm-up pass, then the measured passes.
    let workspace = shortcuts::ids::WorkspaceId::parse(WORKSPACE).expect("workspace id");
    let run_as = |query: &str, viewer: &Viewer| {
        let q = SearchQuery {
            text: query.into(),
            viewer: viewer.clone(),
            ..Default::default()
        };
        index.search(&workspace, &q).expect("search")
    };
    let run = |query: &str| run_as(query, &Viewer::Everyone);
    for q in &queries {
        std::hint::black_box(run(q));
        std::hint::black_box(run_as(q, &agent));
    }
    let passes = if full { 5 } else { 1 };
    let mut timings: Vec<Duration> = Vec::with_capacity(queries.len() * passes);
    let mut agent_timings: Vec<Duration> = Vec::with_capacity(queries.len() * passes);
    let mut worst = (Duration::ZERO, String::new());
    let (mut found, mut agent_found) = (0usize, 0usize);
    for _ in 0..passes {
        for q in &queries {
            let t = Instant::now();
            let hits = std::hint::black_box(run(q));
            let took = t.elapsed();
            found += hits.len();
            if took > worst.0 {
                worst = (took, q.clone());
            }
            timings.push(took);
            // The same query right after, as the agent: the same machine noise for both.
            let t = Instant::now();
            let hits = std::hint::black_box(run_as(q, &agent));
            agent_timings.push(t.elapsed());
            agent_found += hits.len();
        }
    }
    assert!(found > 0, "the queries found nothing");
    assert!(
        agent_found > 0 && agent_found < found,
        "the agent should see some, not all"
    );
    if std::env::var_os("SEARCH_BENCH_SLOWEST").is_some() {
        // The queries slowest at their best (noise removed): what to optimise.
        let mut best: Vec<(Duration, &String)> = queries
            .iter()
            .map(|q| {
                let fastest = (0..5)
                    .map(|_| {
                        let t = Instant::now();
                        std::hint::black_box(run(q));
                        t.elapsed()
                    })
                    .min()
                    .unwrap_or_default();
                (fastest, q)
            })
            .collect();
        best.sort();
        for (took, q) in best.iter().rev().take(15) {
            println!("  {took:>10.1?}  {q:?}");
        }
    }
    let s = summarize(timings);
    println!(
        "search: {shortcuts} shortcuts indexed in {:.2?}; {} keystroke queries: p50 {:.1?}, p99 {:.1?}, max {:.1?} (slowest: {:?})",
        indexed, s.count, s.p50, s.p99, s.max, worst.1
    );
    let a = summarize(agent_timings);
    println!(
        "search as an agent seeing {visible} of the {shortcuts} shortcuts: p50 {:.1?}, p99 {:.1?}, max {:.1?}; p99 ratio agent/admin {:.2}",
        a.p50,
        a.p99,
        a.max,
        a.p99.as_secs_f64() / s.p99.as_secs_f64()
    );
}
