-- The messages table rebuilt, for two reasons.
--
-- A message's rowid is its position in the log of all messages (group and
-- 1:1 pending entries are derived from it, migrations 0011 and 0012), but
-- it was an implicit rowid, which `VACUUM` may renumber. It is now `pos`,
-- an INTEGER PRIMARY KEY, which `VACUUM` keeps; `rowid` still names it.
--
-- The idempotency index led with the sender, so every send wrote into its
-- sender's part of the index: a commit of many senders' messages dirtied a
-- page per sender there, besides the page per conversation in
-- messages_by_pair. It now leads with the key and holds only rows that
-- have one. The SDK's keys begin with the time they were made, so new keys
-- land together at the index's end. The sender's own index
-- (messages_by_sender: erasure, ON DELETE SET NULL, a user's counts) is
-- the old messages_by_pair with its columns swapped, covering group
-- messages too; the 1:1 reads use it as they used messages_by_pair.
--
-- SQLite cannot drop a table constraint, hence the copy (its documented
-- twelve steps), in the migration's one transaction. Foreign keys must be
-- off: with them on, dropping the old table would first delete its rows,
-- and with them every inbox row and receipt (ON DELETE CASCADE). The
-- store migrates on a connection of its own with foreign keys off (a
-- pragma that cannot change inside a transaction); the guard below fails
-- the migration, and so rolls it back, on any connection with them on.
CREATE TEMP TABLE migration_guard (foreign_keys INTEGER CHECK (foreign_keys = 0));
INSERT INTO migration_guard SELECT foreign_keys FROM pragma_foreign_keys;
DROP TABLE migration_guard;

CREATE TABLE messages_rebuilt (
    pos               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    sender_id         TEXT REFERENCES users (id) ON DELETE SET NULL,
    recipient_user_id TEXT,
    group_id          TEXT,
    text              BLOB,
    payload           BLOB,
    sent_at           INTEGER NOT NULL,
    recalled_at       INTEGER,
    idempotency_key   TEXT,
    CHECK ((recipient_user_id IS NULL) <> (group_id IS NULL))
);

INSERT INTO messages_rebuilt
    (pos, id, sender_id, recipient_user_id, group_id, text, payload, sent_at,
     recalled_at, idempotency_key)
SELECT rowid, id, sender_id, recipient_user_id, group_id, text, payload, sent_at,
       recalled_at, idempotency_key
FROM messages;

DROP TABLE messages;

ALTER TABLE messages_rebuilt RENAME TO messages;

-- The idempotency lookup, and what makes a repeated key a conflict.
CREATE UNIQUE INDEX messages_by_key ON messages (idempotency_key, sender_id)
    WHERE idempotency_key IS NOT NULL;

-- A sender's messages; within one 1:1 conversation's direction, in
-- position order (the position is the index's tail).
CREATE INDEX messages_by_sender ON messages (sender_id, recipient_user_id);

CREATE INDEX messages_by_group ON messages (group_id, sent_at)
    WHERE group_id IS NOT NULL;

CREATE INDEX messages_by_group_pos ON messages (group_id) WHERE group_id IS NOT NULL;
