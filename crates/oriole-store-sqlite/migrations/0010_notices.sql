-- Notices to users (issue 7, legal disclosures): held until due (the end
-- of a legal deferral, or at once) and until one of the user's devices got
-- it. The body (what the user is told: the authority, the scope) is sealed
-- under the user's data key; deleting the account deletes the rows.
CREATE TABLE user_notices (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body         BLOB NOT NULL,
    due_at       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    -- The notice task handled it (pushed, or the user was offline).
    announced_at INTEGER,
    -- A device of the user got it.
    delivered_at INTEGER
) WITHOUT ROWID;

CREATE INDEX user_notices_unannounced ON user_notices (due_at) WHERE announced_at IS NULL;
CREATE INDEX user_notices_undelivered ON user_notices (user_id, due_at) WHERE delivered_at IS NULL;
