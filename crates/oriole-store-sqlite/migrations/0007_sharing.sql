-- Third-party sharing (privacy promise P13): the recipient registry,
-- per-user consent per recipient with its history, the outbox of webhooks
-- (dead letters included) and the sharing ledger. Ids are UUID text, times
-- Unix milliseconds.

-- The registry is public (GET /v1/privacy/third-parties) except the
-- signing secret and the pseudonym key, sealed with the field vault under
-- the gateway's reserved key owner.
CREATE TABLE sharing_recipients (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    contact       TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    categories    TEXT NOT NULL,
    legal_basis   TEXT NOT NULL,
    retention     TEXT NOT NULL,
    url           TEXT NOT NULL,
    secret        BLOB NOT NULL,
    pseudonym_key BLOB NOT NULL,
    bot_user_id   TEXT UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL
);

-- The current consent of each user for each recipient; `pseudonym` is the
-- keyed per-recipient pseudonym (a callback names the user by it).
CREATE TABLE sharing_grants (
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient_id TEXT NOT NULL REFERENCES sharing_recipients (id) ON DELETE CASCADE,
    pseudonym    TEXT NOT NULL,
    granted_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, recipient_id),
    UNIQUE (recipient_id, pseudonym)
) WITHOUT ROWID;

-- Every grant and revocation, never updated.
CREATE TABLE sharing_consent_history (
    id           INTEGER PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient_id TEXT NOT NULL REFERENCES sharing_recipients (id) ON DELETE CASCADE,
    granted      INTEGER NOT NULL,
    at           INTEGER NOT NULL
);

CREATE INDEX sharing_consent_history_by_user ON sharing_consent_history (user_id, id);

-- Webhooks to deliver; `id` is the idempotency key. `user_id` has no
-- foreign key: an account's erasure requests outlive it (with NULL). The
-- body is sealed: under the user's data key for a message, under the
-- gateway's for an erasure request. `dead_at` set: the dead-letter store.
CREATE TABLE sharing_outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    recipient_id    TEXT NOT NULL REFERENCES sharing_recipients (id) ON DELETE CASCADE,
    user_id         TEXT,
    kind            TEXT NOT NULL,
    categories      TEXT NOT NULL,
    body            BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    dead_at         INTEGER
);

CREATE INDEX sharing_outbox_due ON sharing_outbox (next_attempt_at) WHERE dead_at IS NULL;
CREATE INDEX sharing_outbox_by_user ON sharing_outbox (user_id, recipient_id);

-- What was delivered about whom: the user's sharing ledger.
CREATE TABLE sharing_ledger (
    delivery_id  TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient_id TEXT NOT NULL REFERENCES sharing_recipients (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    categories   TEXT NOT NULL,
    delivered_at INTEGER NOT NULL
);

CREATE INDEX sharing_ledger_by_user ON sharing_ledger (user_id, delivered_at);
