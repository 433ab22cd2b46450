CREATE TABLE IF NOT EXISTS shortcuts (
    id           TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL,
    bang         TEXT NOT NULL,
    bang_key     TEXT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    tags         TEXT NOT NULL,
    disabled     INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    create_time  INTEGER NOT NULL,
    update_time  INTEGER NOT NULL,
    UNIQUE (workspace_id, bang_key)
);

CREATE TABLE IF NOT EXISTS markers (
    name TEXT PRIMARY KEY NOT NULL,
    set_time INTEGER NOT NULL
);
