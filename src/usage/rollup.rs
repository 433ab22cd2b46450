//! Renders counted per UTC day before they are written: one row per (workspace, day,
//! shortcut) and one per (workspace, day, agent), however many renders they hold. The
//! store derives its per-week and last-used rows from the days (`crate::store::usage`).

use std::collections::HashMap;

use super::day_of_millis;

/// One render of a stored shortcut, as the render path queues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub workspace_id: String,
    pub shortcut_id: String,
    pub shortcut_version: u64,
    pub agent_id: String,
    /// Milliseconds since the Unix epoch.
    pub at_millis: i64,
}

/// A shortcut's renders in a period, and the highest version rendered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub uses: u64,
    pub last_version: u64,
}

impl Count {
    /// Adds another count of the same shortcut and period.
    pub fn add(&mut self, other: Count) {
        self.uses += other.uses;
        self.last_version = self.last_version.max(other.last_version);
    }
}

/// Counts waiting to be written, keyed as the store's rows are.
#[derive(Debug, Default, Clone)]
pub struct Rollup {
    /// (workspace, day, shortcut) -> uses and the highest version rendered.
    pub shortcuts: HashMap<(String, i64, String), Count>,
    /// (workspace, day, agent) -> uses.
    pub agents: HashMap<(String, i64, String), u64>,
    /// Renders counted in it.
    pub uses: u64,
}

impl Rollup {
    pub fn add(&mut self, one: Use) {
        self.add_many(one, 1);
    }

    /// Counts `count` renders alike (the bulk fill of the benchmark adds many at once).
    pub fn add_many(&mut self, one: Use, count: u64) {
        let day = day_of_millis(one.at_millis);
        *self
            .agents
            .entry((one.workspace_id.clone(), day, one.agent_id))
            .or_default() += count;
        self.shortcuts
            .entry((one.workspace_id, day, one.shortcut_id))
            .or_default()
            .add(Count {
                uses: count,
                last_version: one.shortcut_version,
            });
        self.uses += count;
    }

    /// Adds another rollup's counts (a batch that could not be written, kept for later).
    pub fn merge(&mut self, other: Rollup) {
        for (key, count) in other.shortcuts {
            self.shortcuts.entry(key).or_default().add(count);
        }
        for (key, uses) in other.agents {
            *self.agents.entry(key).or_default() += uses;
        }
        self.uses += other.uses;
    }

    /// Rows it will write: what bounds its memory.
    pub fn rows(&self) -> usize {
        self.shortcuts.len() + self.agents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uses == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(shortcut: &str, agent: &str, at_millis: i64) -> Use {
        Use {
            workspace_id: "w".into(),
            shortcut_id: shortcut.into(),
            shortcut_version: 1,
            agent_id: agent.into(),
            at_millis,
        }
    }

    #[test]
    fn renders_alike_on_a_day_share_a_row() {
        let day = 86_400_000;
        let mut rollup = Rollup::default();
        rollup.add(render("a", "ann", day + 1));
        rollup.add(render("a", "bob", day + 2));
        rollup.add(render("a", "ann", 2 * day + 1));
        assert_eq!(rollup.uses, 3);
        let count = |uses, last_version| Count { uses, last_version };
        assert_eq!(rollup.shortcuts[&("w".into(), 1, "a".into())], count(2, 1));
        assert_eq!(rollup.shortcuts[&("w".into(), 2, "a".into())], count(1, 1));
        assert_eq!(rollup.agents[&("w".into(), 1, "ann".into())], 1);
        assert_eq!(rollup.rows(), 5);
        // A later version of the same shortcut shares the day's row, which keeps the highest.
        let mut kept = Rollup::default();
        kept.add(Use {
            shortcut_version: 3,
            ..render("a", "ann", day)
        });
        kept.merge(rollup);
        assert_eq!(kept.uses, 4);
        assert_eq!(kept.shortcuts[&("w".into(), 1, "a".into())], count(3, 3));
    }
}
