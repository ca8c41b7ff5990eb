-- The right category for a case, as a person set it. Kept apart from the classifier's output,
-- which is never rewritten; the latest correction of a case is the one that counts.
CREATE TABLE corrections (
    id           INTEGER PRIMARY KEY,
    case_id      INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    category     TEXT    NOT NULL,
    corrected_by TEXT    NOT NULL,
    -- Where it was made: discord, dashboard, api.
    source       TEXT    NOT NULL,
    -- Unix seconds.
    created_at   INTEGER NOT NULL
);

CREATE INDEX corrections_case ON corrections (case_id, created_at);
