-- Localised bodies of a shortcut: a JSON object of language tag -> template body.
ALTER TABLE shortcuts ADD COLUMN variants TEXT NOT NULL DEFAULT '{}';

-- The service's own record of a workspace: display name, default locale, time zone.
CREATE TABLE IF NOT EXISTS workspaces (
    id             TEXT PRIMARY KEY,
    display_name   TEXT NOT NULL,
    default_locale TEXT NOT NULL,
    time_zone      TEXT NOT NULL,
    version        BIGINT NOT NULL,
    create_time    BIGINT NOT NULL,
    update_time    BIGINT NOT NULL
);

-- Workspace records are announced on the same channel as shortcuts.
CREATE OR REPLACE FUNCTION workspaces_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('shortcuts_' || TG_TABLE_SCHEMA, json_build_object(
        'op', 'workspace', 'workspace_id', NEW.id, 'id', NEW.id, 'version', NEW.version)::text);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER workspaces_notify
    AFTER INSERT OR UPDATE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION workspaces_notify();
