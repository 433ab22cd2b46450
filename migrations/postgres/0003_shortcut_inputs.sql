-- The inputs a shortcut asks the agent for (issue 15): a JSON array of
-- {name, label, type, required, choices, default_value, help}.
ALTER TABLE shortcuts ADD COLUMN inputs TEXT NOT NULL DEFAULT '[]';
