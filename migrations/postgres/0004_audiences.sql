-- Saved audiences (issue 16): a named filter over contact data per workspace. The name is
-- unique in the workspace regardless of case (name_key is its lower-cased form). Replicas
-- read them from here on every use, so no change announcement is needed.
CREATE TABLE IF NOT EXISTS audiences (
    workspace_id TEXT NOT NULL,
    name_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    filter       TEXT NOT NULL,
    description  TEXT NOT NULL,
    version      BIGINT NOT NULL,
    create_time  BIGINT NOT NULL,
    update_time  BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name_key)
);
