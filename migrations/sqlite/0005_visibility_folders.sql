-- Who sees a shortcut (issue 17): 'workspace', 'team' (the agents of team_ids, a JSON array
-- of strings, and the owner) or 'personal' (the owner, an agent id, alone).
ALTER TABLE shortcuts ADD COLUMN visibility TEXT NOT NULL DEFAULT 'workspace';
ALTER TABLE shortcuts ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE shortcuts ADD COLUMN team_ids TEXT NOT NULL DEFAULT '[]';

-- Folders (issue 17): a '/'-separated path ('' for none) and the order within it.
ALTER TABLE shortcuts ADD COLUMN folder TEXT NOT NULL DEFAULT '';
ALTER TABLE shortcuts ADD COLUMN folder_position INTEGER NOT NULL DEFAULT 0;
