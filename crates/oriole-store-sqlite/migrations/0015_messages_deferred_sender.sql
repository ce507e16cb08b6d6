-- The messages table rebuilt once more, with its sender's foreign key
-- DEFERRABLE INITIALLY DEFERRED: checked at COMMIT, not row by row.
--
-- Why: a statement that writes many rows inside a transaction and may
-- abort part-way gets a statement journal, a copy of every page it first
-- touches, so that it can be undone alone. The batch's multi-row message
-- insert needs no such undo (a batch that fails is rolled back whole and
-- redone append by append), and `INSERT OR FAIL` drops it for the unique,
-- NOT NULL and CHECK constraints. But SQLite also asks for one for every
-- immediate foreign key a statement checks (`fkLookupParent` calls
-- `sqlite3MayAbort` for any key not declared DEFERRABLE; `PRAGMA
-- defer_foreign_keys` does not change that), so the key itself must be
-- declared deferred. A message whose sender is gone now fails its
-- transaction's COMMIT instead of its insert; the writer checks that the
-- sender exists where it needs the failure pinned on one append.
--
-- The rest is migration 0013's table as 0014 left it, with its indexes;
-- the same twelve steps, with the same guard: foreign keys must be off.
CREATE TEMP TABLE migration_guard (foreign_keys INTEGER CHECK (foreign_keys = 0));
INSERT INTO migration_guard SELECT foreign_keys FROM pragma_foreign_keys;
DROP TABLE migration_guard;

CREATE TABLE messages_rebuilt (
    pos               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    sender_id         TEXT REFERENCES users (id) ON DELETE SET NULL
                      DEFERRABLE INITIALLY DEFERRED,
    recipient_user_id TEXT,
    group_id          TEXT,
    text              BLOB,
    payload           BLOB,
    sent_at           INTEGER NOT NULL,
    recalled_at       INTEGER,
    idempotency_key   TEXT,
    pair              INTEGER,
    CHECK ((recipient_user_id IS NULL) <> (group_id IS NULL))
);

INSERT INTO messages_rebuilt
    (pos, id, sender_id, recipient_user_id, group_id, text, payload, sent_at,
     recalled_at, idempotency_key, pair)
SELECT pos, id, sender_id, recipient_user_id, group_id, text, payload, sent_at,
       recalled_at, idempotency_key, pair
FROM messages;

DROP TABLE messages;

ALTER TABLE messages_rebuilt RENAME TO messages;

CREATE UNIQUE INDEX messages_by_key ON messages (idempotency_key, sender_id)
    WHERE idempotency_key IS NOT NULL;

CREATE INDEX messages_by_group ON messages (group_id, sent_at)
    WHERE group_id IS NOT NULL;

CREATE INDEX messages_by_group_pos ON messages (group_id) WHERE group_id IS NOT NULL;

CREATE INDEX messages_by_direct_pair ON messages (pair) WHERE pair IS NOT NULL;

CREATE INDEX messages_by_group_sender ON messages (sender_id) WHERE group_id IS NOT NULL;
