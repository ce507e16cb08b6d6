-- Oriole's initial schema.
--
-- Ids are UUID text, times are Unix milliseconds. Personal columns are BLOBs
-- written only through the field vault (src/personal.rs): users.phone,
-- users.email, devices.device_model, devices.os_version, devices.ip,
-- messages.text, messages.payload.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    phone         BLOB,
    email         BLOB,
    created_at    INTEGER NOT NULL
);

-- One row per login; a token resolves only while revoked_at is NULL.
CREATE TABLE devices (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    device_model BLOB,
    os_version   BLOB,
    ip           BLOB,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    revoked_at   INTEGER
);

CREATE INDEX devices_by_user ON devices (user_id, first_seen);

-- A message is stored once and referenced from every inbox holding it.
-- recipient_user_id and group_id carry no foreign key: a message outlives
-- its group and keeps naming its conversation after an account is gone
-- (the username join then finds nothing).
CREATE TABLE messages (
    id                TEXT PRIMARY KEY NOT NULL,
    sender_id         TEXT REFERENCES users (id) ON DELETE SET NULL,
    recipient_user_id TEXT,
    group_id          TEXT,
    text              BLOB,
    payload           BLOB,
    sent_at           INTEGER NOT NULL,
    recalled_at       INTEGER,
    idempotency_key   TEXT,
    CHECK ((recipient_user_id IS NULL) <> (group_id IS NULL)),
    -- Also the index behind the idempotency lookup and ON DELETE SET NULL.
    UNIQUE (sender_id, idempotency_key)
);

CREATE INDEX messages_by_group ON messages (group_id, sent_at)
    WHERE group_id IS NOT NULL;

-- The newest seq of each user's inbox, bumped in the writing transaction.
CREATE TABLE inbox_heads (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    head    INTEGER NOT NULL
) WITHOUT ROWID;

-- actor_id has no foreign key: a gone actor reads as a NULL username.
CREATE TABLE inbox (
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('message', 'recall', 'receipt')),
    message_id   TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    actor_id     TEXT,
    receipt_kind TEXT CHECK (receipt_kind IN ('delivered', 'read')),
    at           INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;

-- Recall (who holds the message), inbox_has_message and duplicate sends.
-- Covering (with the key's seq): without it SQLite prefers scanning the
-- user's whole inbox by primary key.
CREATE INDEX inbox_by_message ON inbox (message_id, user_id, kind);

CREATE TABLE receipts (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('delivered', 'read')),
    at         INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id, kind)
) WITHOUT ROWID;

CREATE INDEX receipts_by_user ON receipts (user_id);

CREATE TABLE groups (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    history_visible INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);

-- pos keeps insertion order among members who joined at the same instant
-- (the initial members of a group, owner first).
CREATE TABLE group_members (
    pos       INTEGER PRIMARY KEY,
    group_id  TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at INTEGER NOT NULL,
    UNIQUE (group_id, user_id)
);

CREATE INDEX group_members_by_user ON group_members (user_id);
