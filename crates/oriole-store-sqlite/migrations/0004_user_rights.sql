-- The data subject's rights (PRIVACY.md P8-P12): a display name the user may
-- correct, the history of corrections, the export rate limit, and the
-- quarantine of deleted accounts' usernames.

-- Sealed under the owner's data key, like phone and email.
ALTER TABLE users ADD COLUMN display_name BLOB;

-- Which profile field a user corrected and when. The values are not kept:
-- the history says what changed, the profile holds the current value.
CREATE TABLE profile_corrections (
    id      INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    field   TEXT NOT NULL CHECK (field IN ('display_name', 'phone', 'email')),
    cleared INTEGER NOT NULL,
    at      INTEGER NOT NULL
);

CREATE INDEX profile_corrections_by_user ON profile_corrections (user_id, id);

-- When each user last started an export (the export rate limit).
CREATE TABLE data_exports (
    user_id    TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    started_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Usernames of deleted accounts that may not be registered again before
-- `until`, kept as a keyed blind index (not the name itself) so the table
-- says nothing about who was deleted.
CREATE TABLE username_quarantine (
    username_bidx TEXT PRIMARY KEY NOT NULL,
    until         INTEGER NOT NULL
) WITHOUT ROWID;

-- The receipts a user gave, paged by message for the export.
CREATE INDEX receipts_given ON receipts (user_id, message_id, kind);

-- Data-subject requests opened by support for a user (PRIVACY.md P12): what
-- was asked, under which ticket, how the requester's identity was checked,
-- by whom (operator pseudonym), and the deadline. `user_id` goes NULL when
-- the account is deleted; `subject` (the audit pseudonym) stays, so the
-- record of a completed deletion request survives it.
CREATE TABLE data_requests (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT REFERENCES users (id) ON DELETE SET NULL,
    subject        TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('export', 'delete', 'correct')),
    ticket         TEXT NOT NULL,
    identity_check TEXT NOT NULL,
    opened_by      TEXT NOT NULL,
    opened_at      INTEGER NOT NULL,
    due_at         INTEGER NOT NULL,
    completed_at   INTEGER,
    completed_by   TEXT
);

CREATE INDEX data_requests_by_user ON data_requests (user_id);
CREATE INDEX data_requests_open ON data_requests (completed_at, due_at);
