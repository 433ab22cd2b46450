CREATE TABLE IF NOT EXISTS shortcuts (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    bang         TEXT NOT NULL,
    bang_key     TEXT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    tags         TEXT NOT NULL,
    disabled     BOOLEAN NOT NULL,
    version      BIGINT NOT NULL,
    create_time  BIGINT NOT NULL,
    update_time  BIGINT NOT NULL,
    UNIQUE (workspace_id, bang_key)
);

CREATE TABLE IF NOT EXISTS markers (
    name     TEXT PRIMARY KEY,
    set_time BIGINT NOT NULL
);

-- Every change to a shortcut, whoever makes it, is announced to the replicas listening on
-- this schema's channel. The payload stays small (bodies can exceed NOTIFY's 8000 bytes):
-- replicas fetch the row itself.
CREATE OR REPLACE FUNCTION shortcuts_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('shortcuts_' || TG_TABLE_SCHEMA, json_build_object(
            'op', 'delete', 'workspace_id', OLD.workspace_id, 'id', OLD.id, 'version', OLD.version)::text);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('shortcuts_' || TG_TABLE_SCHEMA, json_build_object(
        'op', 'upsert', 'workspace_id', NEW.workspace_id, 'id', NEW.id, 'version', NEW.version)::text);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER shortcuts_notify
    AFTER INSERT OR UPDATE OR DELETE ON shortcuts
    FOR EACH ROW EXECUTE FUNCTION shortcuts_notify();
