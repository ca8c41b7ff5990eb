-- Every message triage sees becomes a case. Text is stored with secrets already masked.
CREATE TABLE cases (
    id                    INTEGER PRIMARY KEY,
    source                TEXT    NOT NULL CHECK (source IN ('discord', 'ticket', 'import', 'cli')),
    -- The source's own id; re-delivery of the same id never creates a second case.
    source_id             TEXT    NOT NULL,
    guild_id              TEXT,
    channel_id            TEXT,
    thread_id             TEXT,
    -- Helpdesk name or other free-form origin.
    origin                TEXT,
    author                TEXT,
    account               TEXT,
    -- Unix seconds.
    received_at           INTEGER NOT NULL,
    language              TEXT    NOT NULL,
    category              TEXT    NOT NULL,
    confidence            REAL    NOT NULL,
    rules                 TEXT    NOT NULL DEFAULT '[]',
    findings              TEXT    NOT NULL DEFAULT '[]',
    secrets_found         INTEGER NOT NULL DEFAULT 0,
    escalate_to_sponsor   INTEGER NOT NULL DEFAULT 0,
    recurring             INTEGER NOT NULL DEFAULT 0,
    recurrence_escalation INTEGER NOT NULL DEFAULT 0,
    -- What the bot said or would have said.
    reply_text            TEXT,
    reply_status          TEXT    NOT NULL CHECK (reply_status IN ('pending', 'sent', 'failed', 'suppressed')),
    suppressed_reason     TEXT,
    -- The platform's id of our reply (a Discord message id), for feedback by reaction.
    reply_ref             TEXT,
    text                  TEXT    NOT NULL,
    UNIQUE (source, source_id)
);

-- Covering indexes for the recurrence and cooldown lookups, so they never touch the table.
CREATE INDEX cases_author_history  ON cases (author, category, received_at, reply_status, recurrence_escalation) WHERE author IS NOT NULL;
CREATE INDEX cases_account_history ON cases (account, category, received_at, reply_status, recurrence_escalation) WHERE account IS NOT NULL;
CREATE INDEX cases_received_at     ON cases (received_at);
CREATE INDEX cases_reply_ref       ON cases (reply_ref) WHERE reply_ref IS NOT NULL;

-- Was the reply helpful? One vote per person per case; a new vote replaces the old one.
CREATE TABLE feedback (
    id         INTEGER PRIMARY KEY,
    case_id    INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    helpful    INTEGER NOT NULL CHECK (helpful IN (0, 1)),
    voter      TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (case_id, voter)
);
