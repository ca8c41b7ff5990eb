-- The case browser: full-text search over the masked text, and the lists reviewers filter.
--
-- The index holds only what `cases.text` holds: text with every secret already masked, so a
-- search for a pasted token's original text finds nothing. It is an external-content index
-- (the text is not stored twice). The category is indexed beside it, so that words and a
-- category are found together in the index rather than by reading every case with the words.
--
-- New cases are indexed by the transaction that stores them, in one INSERT ... SELECT of every
-- case past `cases_fts_done.last_id` (see `store/browse.rs`): three times cheaper than a
-- trigger per row on a bulk import. Edits, which replace a stored text, go through a trigger.
CREATE VIRTUAL TABLE cases_fts USING fts5(text, category, content = 'cases', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO cases_fts (cases_fts) VALUES ('rebuild');
CREATE TABLE cases_fts_done (last_id INTEGER NOT NULL);
INSERT INTO cases_fts_done (last_id) SELECT COALESCE(MAX(id), 0) FROM cases;

CREATE TRIGGER cases_fts_update AFTER UPDATE OF text, category ON cases
WHEN old.id <= (SELECT last_id FROM cases_fts_done) BEGIN
    INSERT INTO cases_fts (cases_fts, rowid, text, category) VALUES ('delete', old.id, old.text, old.category);
    INSERT INTO cases_fts (rowid, text, category) VALUES (new.id, new.text, new.category);
END;
CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases
WHEN old.id <= (SELECT last_id FROM cases_fts_done) BEGIN
    INSERT INTO cases_fts (cases_fts, rowid, text, category) VALUES ('delete', old.id, old.text, old.category);
END;

-- The browser's filters are answered from an index newest first, so that a page costs the same
-- on a million cases as on a hundred: by category, by reply status, by the reason a reply was
-- held back, and the recurring cases of a category.
CREATE INDEX cases_by_category  ON cases (category, id);
CREATE INDEX cases_by_status    ON cases (reply_status, id);
CREATE INDEX cases_by_reason    ON cases (suppressed_reason, id) WHERE suppressed_reason IS NOT NULL;
CREATE INDEX cases_recurring    ON cases (category, id) WHERE recurring = 1;
