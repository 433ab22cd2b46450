-- Usage read per week (issue 17, GetUsage over a year): one row per (workspace, day,
-- shortcut) instead of one per version (the version only told which was rendered last),
-- a per-week rollup per shortcut written by the same transaction as the days, and each
-- shortcut's last day of use, so that no GetUsage reads every day of a year.

-- The days without the version in the key: the highest version seen is kept. SQLite
-- cannot change a primary key in place: a new table, filled grouped, renamed.
CREATE TABLE usage_shortcut_days_v2 (
    workspace_id TEXT NOT NULL,
    day          INTEGER NOT NULL,
    shortcut_id  TEXT NOT NULL,
    uses         INTEGER NOT NULL,
    last_version INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, day, shortcut_id)
) WITHOUT ROWID;
INSERT INTO usage_shortcut_days_v2 (workspace_id, day, shortcut_id, uses, last_version)
    SELECT workspace_id, day, shortcut_id, SUM(uses), MAX(shortcut_version)
    FROM usage_shortcut_days GROUP BY workspace_id, day, shortcut_id;
DROP TABLE usage_shortcut_days;
ALTER TABLE usage_shortcut_days_v2 RENAME TO usage_shortcut_days;
-- Retention and the ranking refresh read by day across workspaces.
CREATE INDEX usage_shortcut_days_by_day ON usage_shortcut_days (day);

-- Weeks start on Monday (`usage::week_of`): day 0, 1970-01-01, was a Thursday.
CREATE TABLE usage_shortcut_weeks (
    workspace_id TEXT NOT NULL,
    week         INTEGER NOT NULL,
    shortcut_id  TEXT NOT NULL,
    uses         INTEGER NOT NULL,
    last_version INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, week, shortcut_id)
) WITHOUT ROWID;
INSERT INTO usage_shortcut_weeks (workspace_id, week, shortcut_id, uses, last_version)
    SELECT workspace_id, day - ((day + 3) % 7), shortcut_id, SUM(uses), MAX(last_version)
    FROM usage_shortcut_days GROUP BY workspace_id, day - ((day + 3) % 7), shortcut_id;
CREATE INDEX usage_shortcut_weeks_by_week ON usage_shortcut_weeks (week);

-- Each shortcut's last day of use (GetUsage's unused_since): one row per shortcut.
CREATE TABLE usage_shortcut_last (
    workspace_id TEXT NOT NULL,
    shortcut_id  TEXT NOT NULL,
    day          INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, shortcut_id)
) WITHOUT ROWID;
INSERT INTO usage_shortcut_last (workspace_id, shortcut_id, day)
    SELECT workspace_id, shortcut_id, MAX(day) FROM usage_shortcut_days
    GROUP BY workspace_id, shortcut_id;
CREATE INDEX usage_shortcut_last_by_day ON usage_shortcut_last (day);
