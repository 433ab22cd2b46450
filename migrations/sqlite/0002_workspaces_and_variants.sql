-- Localised bodies of a shortcut: a JSON object of language tag -> template body.
ALTER TABLE shortcuts ADD COLUMN variants TEXT NOT NULL DEFAULT '{}';

-- The service's own record of a workspace: display name, default locale, time zone.
CREATE TABLE IF NOT EXISTS workspaces (
    id             TEXT PRIMARY KEY NOT NULL,
    display_name   TEXT NOT NULL,
    default_locale TEXT NOT NULL,
    time_zone      TEXT NOT NULL,
    version        INTEGER NOT NULL,
    create_time    INTEGER NOT NULL,
    update_time    INTEGER NOT NULL
);
