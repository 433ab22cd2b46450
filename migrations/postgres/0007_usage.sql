-- Usage of stored shortcuts (issue 17): renders rolled up per UTC day (day = days since
-- 1970-01-01) by the background writer, which adds its counts with an upsert. Two
-- narrow tables rather than one row per render, so that GetUsage and the ranking refresh
-- read at most one row per shortcut (or agent) per day whatever the render rate.
CREATE TABLE IF NOT EXISTS usage_shortcut_days (
    workspace_id     TEXT NOT NULL,
    day              BIGINT NOT NULL,
    shortcut_id      TEXT NOT NULL,
    shortcut_version BIGINT NOT NULL,
    uses             BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day, shortcut_id, shortcut_version)
);
-- A shortcut's last day of use (GetUsage's unused_since).
CREATE INDEX IF NOT EXISTS usage_shortcut_days_by_shortcut
    ON usage_shortcut_days (workspace_id, shortcut_id, day);
-- Retention and the ranking refresh read by day across workspaces.
CREATE INDEX IF NOT EXISTS usage_shortcut_days_by_day ON usage_shortcut_days (day);

CREATE TABLE IF NOT EXISTS usage_agent_days (
    workspace_id TEXT NOT NULL,
    day          BIGINT NOT NULL,
    agent_id     TEXT NOT NULL,
    uses         BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day, agent_id)
);
CREATE INDEX IF NOT EXISTS usage_agent_days_by_day ON usage_agent_days (day);
