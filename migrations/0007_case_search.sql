-- The case browser: full-text search over the masked text, and the lists reviewers filter.
--
-- The index holds only what `cases.text` holds: text with every secret already masked, so a
-- search for a pasted token's original text finds nothing. It is an external-content index
-- (the text is not stored twice), kept in step by triggers.
CREATE VIRTUAL TABLE cases_fts USING fts5(text, content = 'cases', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO cases_fts (cases_fts) VALUES ('rebuild');

CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN
    INSERT INTO cases_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN
    INSERT INTO cases_fts (cases_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER cases_fts_update AFTER UPDATE OF text ON cases BEGIN
    INSERT INTO cases_fts (cases_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO cases_fts (rowid, text) VALUES (new.id, new.text);
END;

-- A rare outcome (failed, a suppression reason) or a category is found without reading every
-- case: newest first within each.
CREATE INDEX cases_by_category ON cases (category, id);
CREATE INDEX cases_by_outcome  ON cases (reply_status, suppressed_reason, id);
