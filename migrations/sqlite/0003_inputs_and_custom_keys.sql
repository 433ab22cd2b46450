-- The inputs a shortcut asks the agent for (issue 15): a JSON array of
-- {name, label, type, required, choices, default_value, help}.
ALTER TABLE shortcuts ADD COLUMN inputs TEXT NOT NULL DEFAULT '[]';

-- The custom keys a workspace's contact and session data has shown, learned from fetched
-- data for the "did you mean" of write-time warnings and DescribeContext.
CREATE TABLE IF NOT EXISTS custom_keys (
    workspace_id TEXT NOT NULL,
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    PRIMARY KEY (workspace_id, scope, key)
);

-- A snippet is included by other shortcuts (`{% include "bang" %}`) and not offered in the
-- typeahead.
ALTER TABLE shortcuts ADD COLUMN snippet INTEGER NOT NULL DEFAULT 0;
