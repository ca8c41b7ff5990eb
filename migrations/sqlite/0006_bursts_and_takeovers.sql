-- Discord bursts and human takeovers.
--
-- A person who sends "hi" / "my key gives 401" / "the new one" within seconds asks one question:
-- each message stays its own case, and the earlier ones name the message that was answered for
-- the whole burst. They are not counted again by recurrence: a burst is one question, however
-- many messages it took.
ALTER TABLE cases ADD COLUMN burst_of TEXT;

-- A staff member or helper replied within `yield_to_humans` of our answer: who, and when.
ALTER TABLE cases ADD COLUMN taken_over_by TEXT;
ALTER TABLE cases ADD COLUMN taken_over_at INTEGER;

-- The recurrence indexes leave burst members out, as the lookups do.
DROP INDEX cases_author_recent;
DROP INDEX cases_account_recent;
CREATE INDEX cases_author_recent  ON cases (received_at / 604800, author, category, received_at)
    WHERE author IS NOT NULL AND burst_of IS NULL;
CREATE INDEX cases_account_recent ON cases (received_at / 604800, account, category, received_at, author)
    WHERE account IS NOT NULL AND burst_of IS NULL;
