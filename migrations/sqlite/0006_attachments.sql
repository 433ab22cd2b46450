-- The files a shortcut's reply is sent with (issue 17): a JSON array of
-- {name, url, mime_type, size_bytes}; `name` and `url` are templates.
ALTER TABLE shortcuts ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
