-- Recurrence and cooldown lookups, re-indexed so that writing stays cheap as the store grows.
--
-- The first indexes began with the author or account, so every new case landed at a random
-- place in a large tree: once the indexes outgrew the page cache, each insert read and rewrote
-- cold pages. Recurrence only looks back a few days, so its indexes now begin with the week
-- (received_at / 604800): new cases land in this week's part of the tree, which stays cached,
-- and a lookup probes the few weeks its window spans.
--
-- Cooldown only cares about replies we posted, so its indexes hold only those rows; a backlog
-- import, which never posts, does not touch them at all.
DROP INDEX cases_author_history;
DROP INDEX cases_account_history;

CREATE INDEX cases_author_recent  ON cases (received_at / 604800, author, category, received_at) WHERE author IS NOT NULL;
-- `author` at the end lets a lookup skip cases the author branch already counted, inside the index.
CREATE INDEX cases_account_recent ON cases (received_at / 604800, account, category, received_at, author) WHERE account IS NOT NULL;

CREATE INDEX cases_author_replies  ON cases (author, category, received_at, recurrence_escalation)
    WHERE author IS NOT NULL AND reply_status IN ('sent', 'pending');
CREATE INDEX cases_account_replies ON cases (account, category, received_at, recurrence_escalation)
    WHERE account IS NOT NULL AND reply_status IN ('sent', 'pending');
