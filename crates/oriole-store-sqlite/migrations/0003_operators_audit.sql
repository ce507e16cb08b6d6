-- Staff access control and the tamper-evident audit log (issue 4).
--
-- The audit log is append-only and hash-chained: each row's hash covers its
-- fields and the previous row's hash (see oriole-audit and docs/audit.md),
-- so a row edited, deleted or inserted by whoever holds this file breaks
-- the chain from there on. It holds pseudonymous ids (u:<uuid>, op:<uuid>)
-- and codes only, never a name, contact detail or message text, and it is
-- kept after an account is deleted.

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY NOT NULL,
    time       INTEGER NOT NULL,
    -- 'user', 'operator' or 'system'; role and id as the entry holds them.
    actor_kind TEXT NOT NULL,
    actor_role TEXT,
    actor_id   TEXT,
    action     TEXT NOT NULL,
    subject    TEXT,
    -- The canonical JSON of the details, exactly as hashed.
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);

-- A user's own access log, and the report, look entries up by subject.
CREATE INDEX audit_log_by_subject ON audit_log (subject, seq);

-- Signed checkpoints: the server's signature over (count, head hash, time).
CREATE TABLE audit_checkpoints (
    count     INTEGER PRIMARY KEY NOT NULL,
    head_hash TEXT NOT NULL,
    time      INTEGER NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- Operator (staff) accounts: separate from users, with their own sessions.
-- The name is staff personal data (declared in the inventory); the role
-- decides what the operator may do (oriole_core::staff::Permission).
CREATE TABLE operators (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- One row per operator login; only the token's SHA-256 is kept.
CREATE TABLE operator_sessions (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

-- Two-person rule for message content: an operator's request, approved by
-- another privacy officer for a limited time.
CREATE TABLE content_access_grants (
    id              TEXT PRIMARY KEY NOT NULL,
    requester_id    TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    subject_user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason          TEXT NOT NULL,
    ticket          TEXT NOT NULL,
    requested_at    INTEGER NOT NULL,
    approved_by     TEXT REFERENCES operators (id) ON DELETE SET NULL,
    approved_at     INTEGER,
    expires_at      INTEGER
);

CREATE INDEX content_access_grants_by_pair
    ON content_access_grants (requester_id, subject_user_id);
