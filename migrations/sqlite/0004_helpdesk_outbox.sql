-- Replies to helpdesk tickets, posted by a worker through the helpdesk's REST API. A row is
-- written in the same transaction as its case, so an acknowledged webhook always has its reply
-- on the way, across restarts.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    case_id         INTEGER NOT NULL UNIQUE REFERENCES cases (id) ON DELETE CASCADE,
    helpdesk        TEXT    NOT NULL CHECK (helpdesk IN ('zendesk', 'freshdesk', 'zammad')),
    -- The helpdesk's own ticket id.
    ticket_id       TEXT    NOT NULL,
    public          INTEGER NOT NULL CHECK (public IN (0, 1)),
    -- The reply as HTML, masked like everything stored.
    body            TEXT    NOT NULL,
    tags            TEXT    NOT NULL DEFAULT '[]',
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    -- How far the delivery got: 0 nothing, 1 the comment is posted (tags still to add).
    step            INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Unix milliseconds.
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    done_at         INTEGER,
    -- The helpdesk's id of the posted comment, note or article.
    remote_id       TEXT,
    last_error      TEXT
);

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_failed ON outbox (done_at) WHERE state = 'failed';

-- Whether a ticket was answered already, for later comments of the same ticket.
CREATE INDEX cases_thread ON cases (thread_id, category) WHERE thread_id IS NOT NULL;
